"""What members do besides answering: a holiday, skipping a round, coming back early, and a
member who left their direct chat (the round opens a new one and keeps using it)."""

from __future__ import annotations

from tests.checkin_helpers import (
    POLL_END,
    answer,
    known_as,
    make_team,
    notices,
    poll_end_in,
    poll_in,
    polls,
    until,
    vote,
)
from tests.network_helpers import direct_chat, notice_in


async def test_holiday_skip_and_resume(mentornet, person) -> None:
    team = await make_team(mentornet, person, german=("anna",))
    anna, ben, carl = team.mentors
    chat = team.chats

    away = await anna.ask(chat[anna.user_id], "!checkin pause until 2030-06-05")
    assert "bis einschließlich Mi. 05.06.2030 pausiert" in away.body
    past = await anna.ask(chat[anna.user_id], "!checkin pause until 2020-01-01")
    assert "schon vorbei" in past.body
    await team.meta.ask(team.office, "!checkin settings remind:1h close:3h")
    # Carl left his direct chat with the bot: the round opens a new one (and keeps using it).
    old_chat = chat[carl.user_id]
    await carl.client.room_leave(old_chat)
    await carl.client.room_forget(old_chat)
    bot_rooms = team.bot.app.account.client.rooms
    await until(lambda: carl.user_id not in bot_rooms[old_chat].users, what="the bot saw it")
    started = await team.meta.ask(team.office, "!checkin now")
    assert "sent to 2 of 3 mentors. Not sent: 1 on holiday." in started.body
    chat[carl.user_id] = await direct_chat(carl, team.bot.user_id)
    assert chat[carl.user_id] != old_chat
    assert team.rows("SELECT room_id FROM direct_rooms WHERE user_id = ?", carl.user_id) == [
        (chat[carl.user_id],)
    ]

    skipped = await ben.ask(chat[ben.user_id], "!checkin skip")
    assert "Skipped" in skipped.body
    again = await ben.ask(chat[ben.user_id], "!checkin skip")
    assert "no open check-in" in again.body
    poll_c = await poll_in(carl, chat[carl.user_id])
    await vote(carl, chat[carl.user_id], poll_c.event_id, 4)
    await until(lambda: team.answer(carl, 1), what="Carl's vote")
    await team.tick(hours=1, minutes=5)
    status = await team.meta.ask(team.office, "!checkin status")
    assert f"skipped (1): {known_as(ben)}" in status.body
    assert f"on holiday (1): {known_as(anna)}" in status.body
    assert f"answered (1): {known_as(carl)}" in status.body
    assert not notices(ben, chat[ben.user_id], "Reminder") and not polls(anna, chat[anna.user_id])

    back = await anna.ask(chat[anna.user_id], "!checkin resume")
    assert "Willkommen zurück" in back.body and "1 offene Runde" in back.body
    poll_a = await poll_in(anna, chat[anna.user_id])
    await notice_in(anna, chat[anna.user_id], "Check-in für Hamburg Mentors")
    mine = await anna.ask(chat[anna.user_id], "!checkin")
    assert "1 Check-in wartet auf deine Antwort." in mine.body
    nothing_open = await ben.ask(chat[ben.user_id], "!checkin")
    assert "waiting" not in nothing_open.body and "0" not in nothing_open.body

    closed = await team.meta.ask(team.office, "!checkin close")
    assert "closed" in closed.body
    summary = await notice_in(team.meta, team.office, "in Hamburg Mentors: closed")
    assert "**Answered:** 1 of 2 (50 %) · 1 skipped" in summary.body.splitlines()
    assert f"**No answer:** {known_as(anna)}" in summary.body
    # The close ended each poll, in the member's language: a vote after it is no answer, a
    # reply to the poll still counts, late.
    ended = await poll_end_in(anna, chat[anna.user_id], poll_a.event_id)
    assert ended.source["content"]["body"] == "Der Check-in ist abgeschlossen."
    assert POLL_END in ended.source["content"]
    await poll_end_in(carl, chat[carl.user_id], poll_c.event_id)
    await vote(anna, chat[anna.user_id], poll_a.event_id, 2)
    await answer(anna, chat[anna.user_id], poll_a.event_id, "4")
    await until(lambda: team.answer(anna, 1) == (4, None, 1, 0), what="Anna's late reply")
    assert team.rows("SELECT state FROM checkin_deliveries WHERE user_id = ?", ben.user_id) == [
        ("skipped",)
    ]
    # The next round reuses Carl's new chat.
    await team.meta.ask(team.office, "!checkin now")
    await until(lambda: len(polls(carl, chat[carl.user_id])) == 2, what="Carl's second poll")
    assert team.rows("SELECT room_id FROM direct_rooms WHERE user_id = ?", carl.user_id) == [
        (chat[carl.user_id],)
    ]


async def test_a_round_in_which_the_only_mentor_skipped_says_so_in_words(mentornet, person) -> None:
    team = await make_team(mentornet, person, names=("ben",), german=())
    (ben,) = team.mentors
    await team.meta.ask(team.office, "!checkin now")
    await poll_in(ben, team.chats[ben.user_id])
    assert "Skipped" in (await ben.ask(team.chats[ben.user_id], "!checkin skip")).body
    await team.meta.ask(team.office, "!checkin close")
    summary = await notice_in(team.meta, team.office, "in Hamburg Mentors: closed")
    assert "**Answered:** nobody was asked · 1 skipped" in summary.body.splitlines()
    stats = await team.meta.ask(team.office, "!checkin stats weeks:1")
    assert ": nobody was asked" in stats.body and "0 of 0" not in stats.body, stats.body
    assert "%" not in stats.body, stats.body
