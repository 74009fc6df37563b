"""The network office's side: questions in two languages, who may do what, statistics with
a chart, the CSV export, and a member's own data (`!me`, `!me forget`)."""

from __future__ import annotations

import csv
import io

import nio

from main import main
from tests.checkin_helpers import answer, make_team, poll_in, polls, until, vote
from tests.network_helpers import notice_in
from tests.people import download_file


async def test_questions_stats_chart_export_and_personal_data(mentornet, person) -> None:
    team = await make_team(mentornet, person, names=("anna", "ben"), german=("ben",))
    anna, ben = team.mentors
    meta, chat = team.meta, team.chats

    listed = await meta.ask(team.office, "!checkin questions")
    assert (
        "1. How are you doing" in listed.body and "3. Anything you need help with?" in listed.body
    )
    added = await meta.ask(
        team.office,
        '!checkin question add "How many meetings did you have?"'
        ' de:"Wie viele Treffen hattest du?"',
    )
    assert "now has 4 questions" in added.body
    removed = await meta.ask(team.office, "!checkin question remove 2")
    assert "Removed question 2: “What went well since the last check-in?”" in removed.body
    for command in ("!checkin now", "!checkin export", "!checkin stats", "!checkin status"):
        refused = await anna.ask(chat[anna.user_id], command)
        assert "Only a coordinator or Meta-Mentor" in refused.body, command

    # Round 1: Anna answers in plain messages, Ben (German) the custom question by reply.
    await meta.ask(team.office, "!checkin now")
    await poll_in(anna, chat[anna.user_id])
    await anna.send(chat[anna.user_id], "3")  # no poll in her client, no reply: still counted
    await until(lambda: team.answer(anna, 1) == (3, None, 0, 0), what="Anna's plain mood")
    custom = await notice_in(ben, chat[ben.user_id], "Wie viele Treffen hattest du?")
    await answer(ben, chat[ben.user_id], custom.event_id, "Zwei Treffen")
    await until(lambda: team.answer(ben, 3), what="Ben's answer")
    await meta.ask(team.office, "!checkin close")

    # Round 2, a week later: Anna's mood drops, Ben stays silent.
    team.clock.advance(days=7)
    await meta.ask(team.office, "!checkin now")
    await until(lambda: len(polls(anna, chat[anna.user_id])) == 2, what="the second poll")
    second = polls(anna, chat[anna.user_id])[-1]
    await vote(anna, chat[anna.user_id], second.event_id, 1)
    await notice_in(meta, team.office, "rated their mood **1/5**")
    await meta.ask(team.office, "!checkin close")

    stats = await meta.ask(team.office, "!checkin stats weeks:4")
    assert "last 4 weeks:** 2 rounds" in stats.body
    assert "1 of 2 answered (50 %), mood 1.0" in stats.body
    assert f"{anna.user_id}: mood 3 → 1" in stats.body
    image = await meta.wait_for_event(
        lambda e: e.source["content"].get("msgtype") == "m.image", room_id=team.office
    )
    info = image.source["content"]["info"]
    assert info["mimetype"] == "image/png" and info["w"] > 600 and info["h"] > 300
    png = await download_file(meta, image)
    assert png.startswith(b"\x89PNG") and int.from_bytes(png[16:20], "big") == info["w"]

    exported = await meta.ask(team.office, "!checkin export")
    assert "sent the CSV with 3 answers to our direct chat" in exported.body
    dm = team.rows("SELECT room_id FROM direct_rooms WHERE user_id = ?", meta.user_id)[0][0]
    await meta.join(dm)
    file = await meta.wait_for_event(
        lambda e: e.source["content"].get("msgtype") == "m.file", room_id=dm
    )
    rows = list(csv.DictReader(io.StringIO((await download_file(meta, file)).decode("utf-8-sig"))))
    assert len(rows) == 3
    assert {(r["user_id"], r["question"], r["answer"] or r["mood"]) for r in rows} >= {
        (ben.user_id, "How many meetings did you have?", "Zwei Treffen"),
        (anna.user_id, "How are you doing with your mentoring right now? (1 = struggling, "
         "5 = great)", "1"),
    }  # fmt: skip
    assert not [e for e in meta.timeline(team.office) if isinstance(e, nio.RoomMessageFile)]

    # The instance's admin exports the same answers from the command line.
    out = team.bot.folder / "answers.csv"
    config = str(team.bot.write_config())
    assert main(["checkins", "export", str(out), "--network", "Nowhere", "--config", config]) == 1
    assert main(["checkins", "export", str(out), "--config", config]) == 0
    lines = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert sorted(lines, key=str) == sorted(rows, key=str)

    # Anna's own data, and erasing it.
    mine = await anna.ask(chat[anna.user_id], "!me")
    assert "checkin" in mine.body and "mood" in mine.body
    await anna.ask(chat[anna.user_id], "!me forget")
    await anna.ask(chat[anna.user_id], "!me forget confirm")
    await until(
        lambda: not team.rows(
            "SELECT 1 FROM checkin_answers WHERE user_id = ? UNION ALL"
            " SELECT 1 FROM checkin_deliveries WHERE user_id = ? UNION ALL"
            " SELECT 1 FROM checkin_prompts WHERE user_id = ?",
            anna.user_id, anna.user_id, anna.user_id,
        ),
        what="Anna's check-in data erased",
    )  # fmt: skip
