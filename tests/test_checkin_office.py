"""The network office's side: questions in two languages, who may do what, statistics with
a chart, the CSV export, and a member's own data (`!me`, `!me forget`)."""

from __future__ import annotations

import csv
import io

import nio

from main import main
from tests.checkin_helpers import answer, known_as, listed, make_team, poll_in, polls, until, vote
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
    missing = await meta.ask(team.office, "!checkin question remove 7")
    assert "There is no question 7; the check-in has 3 questions." in missing.body
    # The readable schedule rules, and switching the schedule off again.
    fortnight = await meta.ask(team.office, "!checkin schedule every 2 weeks on thu 18:30")
    assert "every 2 weeks on Thursday at 18:30" in fortnight.body, fortnight.body
    monthly = await meta.ask(team.office, "!checkin schedule monthly on 1 10:00 tz:Europe/Berlin")
    assert "monthly on day 1 at 10:00" in monthly.body and "Next round: Mon 1 Jul 2030" in (
        monthly.body
    ), monthly.body
    off = await meta.ask(team.office, "!checkin schedule off")
    assert "Scheduled check-ins in Hamburg Mentors are off" in off.body
    assert team.rows("SELECT rule, next_slot FROM checkin_settings") == [(None, None)]
    shown = await meta.ask(team.office, "!checkin schedule")
    assert "has no check-in schedule (time zone Europe/Berlin)" in shown.body, shown.body
    # Silent members are named after 2 rounds; the office's own help words.
    settings = await meta.ask(
        team.office, '!checkin settings silent:2 helpwords:"stuck,feststecke"'
    )
    assert "silent for 2 rounds in a row" in settings.body
    assert "at once: stuck, feststecke" in settings.body

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
    assert f"{known_as(anna)}: mood 3 → 1" in stats.body
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

    # Round 3: Anna is stuck (an office help word, no "help" in it); Ben is silent again.
    team.clock.advance(days=7)
    await meta.ask(team.office, "!checkin now")
    await until(lambda: len(polls(anna, chat[anna.user_id])) == 3, what="the third poll")
    await anna.send(chat[anna.user_id], "I am stuck with the job centre forms")
    stuck = await notice_in(meta, team.office, "asks for help")
    assert known_as(anna) in stuck.body and "job centre forms" in stuck.body
    await meta.ask(team.office, "!checkin close")
    third = await notice_in(meta, team.office, "**Silent for 2 rounds or more**")
    assert f"{known_as(ben)} (2)" in third.body and f"{known_as(anna)} (" not in third.body
    second_summaries = [e for e in meta.timeline(team.office) if "Silent for" in getattr(
        e, "body", "")]  # fmt: skip
    assert len(second_summaries) == 1  # round 2 (Ben silent once) named nobody

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


OFFICE_COMMANDS = [
    "checkin schedule",
    "checkin settings",
    "checkin questions",
    "checkin question add",
    "checkin question remove",
    "checkin now",
    "checkin close",
    "checkin status",
    "checkin stats",
    "checkin export",
]
MENTOR_COMMANDS = ["checkin", "checkin skip", "checkin pause", "checkin resume", "checkin tz"]


async def test_help_lists_the_office_commands_to_the_office_only(mentornet, person) -> None:
    team = await make_team(mentornet, person, names=("anna",), german=())
    anna, meta = team.mentors[0], team.meta
    await anna.join(team.net.rooms["general"])
    for room in (team.chats[anna.user_id], team.net.rooms["general"]):
        overview = (await anna.ask(room, "!help")).body
        body = (await anna.ask(room, "!help checkin")).body
        assert [name for name in MENTOR_COMMANDS if not listed(body, name)] == [], body
        assert [name for name in OFFICE_COMMANDS if listed(body + overview, name)] == [], body
    body = (await meta.ask(team.office, "!help checkin")).body
    assert [name for name in OFFICE_COMMANDS if not listed(body, name)] == [], body
    # The declaration is what refuses: the same text as before.
    refused = await anna.ask(team.net.rooms["general"], "!checkin now")
    assert "Only a coordinator or Meta-Mentor (power level 50 or more)" in refused.body
    assert "`!checkin now`" in refused.body, refused.body
    assert team.rows("SELECT COUNT(*) FROM checkin_rounds") == [(0,)]
    details = (await anna.ask(team.chats[anna.user_id], "!help checkin now")).body
    assert "Only a coordinator or Meta-Mentor (power level 50 or more) may use it." in details
    assert "`!checkin now`" in details, details  # its example
