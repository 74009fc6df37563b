"""Restarts: answers given while the bot is down are stored once, a delivery cut short is
completed without sending anything twice, a reminder that fell due meanwhile goes out once,
and a round that fell due while it was down runs once, late, with the skipped occurrence named
in its summary."""

from __future__ import annotations

import asyncio
import signal
import sqlite3

import nio

from tests.checkin_helpers import (
    answer,
    make_team,
    notices,
    poll_in,
    polls,
    until,
    vote,
)
from tests.network_helpers import notice_in
from tests.proxy import Proxy


def summaries(team, text: str) -> list[nio.Event]:
    return notices(team.meta, team.office, text)


async def test_restarts_lose_nothing_and_send_nothing_twice(mentornet, person) -> None:
    team = await make_team(mentornet, person, german=())
    anna, ben, carl = team.mentors
    chat = team.chats
    await team.meta.ask(team.office, "!checkin settings remind:2h close:4h")
    await team.meta.ask(team.office, "!checkin schedule mon 09:00 tz:Europe/Berlin")
    await team.tick(hours=2)  # 09:00 in Berlin
    poll_a = await poll_in(anna, chat[anna.user_id])
    await vote(anna, chat[anna.user_id], poll_a.event_id, 3)
    await until(lambda: team.answer(anna, 1), what="Anna's vote")
    well_b = (await notice_in(ben, chat[ben.user_id], "What went well")).event_id
    await poll_in(carl, chat[carl.user_id])

    # Ben's delivery is cut short as by a crash between sending his last question and storing
    # it: the question is sent again with the same transaction id, so it arrives once.
    last_b = team.rows("SELECT part, event_id FROM checkin_prompts WHERE user_id = ?"
                       " ORDER BY part DESC LIMIT 1", ben.user_id)[0]  # fmt: skip
    await team.bot.stop()
    with sqlite3.connect(team.bot.folder / "mentornet.db") as db:
        db.execute("DELETE FROM checkin_prompts WHERE event_id = ?", [last_b[1]])
        db.execute("UPDATE checkin_deliveries SET state = 'pending', sent_at = NULL"
                   " WHERE user_id = ?", [ben.user_id])  # fmt: skip
    db.close()
    await team.bot.start()
    await team.tick()
    assert team.rows("SELECT part, event_id FROM checkin_prompts WHERE event_id = ?",
                     last_b[1]) == [last_b]  # fmt: skip
    assert team.rows("SELECT state FROM checkin_deliveries WHERE user_id = ?", ben.user_id) == [
        ("sent",)
    ]

    # Down in the middle of the round: Anna changes her vote and Ben answers meanwhile.
    await team.bot.stop()
    await vote(anna, chat[anna.user_id], poll_a.event_id, 4)
    await answer(ben, chat[ben.user_id], well_b, "A good first meeting")
    team.clock.advance(hours=3)  # Carl's reminder fell due while the bot was down
    await team.bot.start()
    await until(lambda: team.answer(anna, 1) == (4, None, 0, 1), what="the changed vote")
    await until(lambda: team.answer(ben, 2), what="Ben's answer")
    await team.tick()
    await team.tick()
    await notice_in(carl, chat[carl.user_id], "Reminder: your check-in")
    await team.tick(minutes=30)
    assert len(notices(carl, chat[carl.user_id], "Reminder")) == 1
    assert not notices(anna, chat[anna.user_id], "Reminder")
    for mentor in team.mentors:
        assert len(polls(mentor, chat[mentor.user_id])) == 1
        assert len(notices(mentor, chat[mentor.user_id], "Check-in for Hamburg Mentors")) == 1
    assert len(notices(ben, chat[ben.user_id], "Anything you need help with")) == 1
    assert team.rows("SELECT edits, text FROM checkin_answers WHERE user_id = ?", ben.user_id) == [
        (0, "A good first meeting")
    ]

    # The round closes (4 h after it went out) and is summarised once, also across a restart.
    await team.tick(minutes=31)
    first = await notice_in(team.meta, team.office, "in Hamburg Mentors: closed")
    assert "**Answered:** 2 of 3 (67 %)" in first.body and "offline" not in first.body
    await team.bot.stop()
    await team.bot.start()
    await team.tick()

    # Offline over two Mondays: the first is missed, the second runs once, 6 h late.
    await team.bot.stop()
    team.clock.advance(days=14, hours=1, minutes=59)  # Monday 17 June, 15:00 in Berlin
    await team.bot.start()
    await team.tick()
    await team.tick()
    for mentor in team.mentors:
        await until(lambda m=mentor: len(polls(m, chat[m.user_id])) == 2, what="the late round")
    intro = notices(anna, chat[anna.user_id], "Check-in for Hamburg Mentors")[-1]
    assert "Mon 17 Jun 2030" in intro.body
    late_note = notices(anna, chat[anna.user_id], "should have come 6 h 0 min earlier")
    assert len(late_note) == 1
    kinds = team.rows("SELECT slot, kind, missed FROM checkin_rounds ORDER BY id")
    assert kinds == [("2030-06-03", "scheduled", 0), ("2030-06-10", "missed", 0),
                     ("2030-06-17", "scheduled", 1)]  # fmt: skip
    await team.tick(hours=4)
    late = await notice_in(team.meta, team.office, "Check-in of Mon 17 Jun 2030")
    assert "started 6 h 0 min late: I was offline" in late.body
    assert "1 earlier scheduled round fell into the same offline time" in late.body
    await team.tick(hours=1)
    assert len(summaries(team, "Check-in of Mon 3 Jun 2030")) == 1
    assert len(summaries(team, "Check-in of Mon 17 Jun 2030")) == 1
    for mentor in team.mentors:
        assert len(polls(mentor, chat[mentor.user_id])) == 2


async def test_checkin_now_killed_mid_round_finishes_it_and_says_so(
    mentornet, person, synapse
) -> None:
    async with Proxy(synapse.url) as proxy:
        team = await make_team(mentornet, person, german=(), matrix={"homeserver": proxy.url})
        anna, ben, carl = team.mentors
        chat = team.chats
        await team.bot.stop()
        await team.bot.spawn()  # `main.py run`, to be killed below
        proxy.hold_room = chat[carl.user_id]  # the homeserver is slow to take Carl's check-in
        command = await team.meta.send(team.office, "!checkin now")
        await poll_in(anna, chat[anna.user_id])
        await poll_in(ben, chat[ben.user_id])
        await until(lambda: proxy.held, what="the round on its way to Carl")

        await team.bot.terminate(signal.SIGKILL)  # while the round goes out
        proxy.hold_room = None
        proxy.release.set()  # what was on its way still arrives
        await team.bot.spawn()

        answer = await team.meta.wait_for_reply(team.office, command, timeout=60)
        assert "started: sent to 3 of 3 mentors" in answer.body, answer.body
        await poll_in(carl, chat[carl.user_id])
        await asyncio.sleep(1)  # time for anything sent twice to show
        assert len(team.meta.replies_to(team.office, command)) == 1
        for mentor in team.mentors:
            assert len(polls(mentor, chat[mentor.user_id])) == 1
            assert len(notices(mentor, chat[mentor.user_id], "Check-in for Hamburg Mentors")) == 1
        await team.bot.terminate()
