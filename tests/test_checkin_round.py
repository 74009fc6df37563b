"""A scheduled check-in round through a real homeserver: three mentors (one in German, one in
New York) and a Meta-Mentor; the fake clock moves, the bot's tick does what fell due."""

from __future__ import annotations

import asyncio

import nio

from bots.checkin import Checkin
from tests.checkin_helpers import (
    answer,
    edit,
    known_as,
    make_team,
    notices,
    poll_in,
    polls,
    react,
    until,
    vote,
)
from tests.network_helpers import notice_in
from tests.people import Person


async def test_a_scheduled_round_in_each_time_zone_to_its_summary(mentornet, person) -> None:
    team = await make_team(mentornet, person)
    anna, ben, carl = team.mentors
    meta: Person = team.meta
    chat = team.chats

    moved = await carl.ask(chat[carl.user_id], "!checkin tz America/New_York")
    assert "America/New_York" in moved.body and "Mon 3 Jun 2030, 01:00" in moved.body
    wrong = await carl.ask(chat[carl.user_id], "!checkin tz Mars/Olympus")
    assert "not a time zone I know" in wrong.body

    refused = await anna.ask(chat[anna.user_id], "!checkin schedule mon 09:00")
    assert "Only a coordinator or Meta-Mentor" in refused.body
    bad = await meta.ask(team.office, "!checkin schedule someday 9:00")
    assert "I cannot read “someday 9:00” as a schedule" in bad.body
    scheduled = await meta.ask(team.office, "!checkin schedule mon 09:00 tz:Europe/Berlin")
    assert "every Monday at 09:00" in scheduled.body, scheduled.body
    assert "Next round: Mon 3 Jun 2030" in scheduled.body
    assert "Mon 3 Jun 2030, 09:00 (Europe/Berlin)" in scheduled.body

    # 08:59 in Berlin: nothing yet. 09:00: Anna and Ben get it; Carl's 09:00 is 6 h later.
    await team.tick(hours=1, minutes=59)
    assert not team.rows("SELECT 1 FROM checkin_rounds")
    checkin = next(bot for bot in team.bot.app.bots if isinstance(bot, Checkin))
    async with checkin.lock:  # a round being sent by `!checkin now`: the tick does not wait
        await asyncio.wait_for(team.tick(minutes=1), 5)
    assert not team.rows("SELECT 1 FROM checkin_rounds")
    await team.tick()
    poll_a = await poll_in(anna, chat[anna.user_id])
    intro = await notice_in(anna, chat[anna.user_id], "Check-in for Hamburg Mentors")
    assert "until Wed 5 Jun 2030, 09:00 (Europe/Berlin)" in intro.body
    well = await notice_in(anna, chat[anna.user_id], "What went well")
    needs = await notice_in(anna, chat[anna.user_id], "Anything you need help with")
    poll_b = await poll_in(ben, chat[ben.user_id])
    assert "Wie geht es dir" in poll_b.source["content"]["org.matrix.msc3381.poll.start"][
        "question"]["body"]  # fmt: skip
    await notice_in(ben, chat[ben.user_id], "Check-in für Hamburg Mentors")
    status = await meta.ask(team.office, "!checkin status")
    assert f"not sent yet, their local time has not come (1): {known_as(carl)}" in status.body
    assert "not answered yet (2)" in status.body

    # Anna votes in the poll, answers by reply, edits, asks for help; then changes her vote.
    await vote(anna, chat[anna.user_id], poll_a.event_id, 4)
    first = await answer(anna, chat[anna.user_id], well.event_id, "Met my mentee twice")
    await until(lambda: team.answer(anna, 2), what="Anna's first answer")
    await edit(anna, chat[anna.user_id], first, "Met my mentee three times")
    await until(lambda: team.answer(anna, 2)[1] == "Met my mentee three times", what="the edit")
    await answer(anna, chat[anna.user_id], needs.event_id, "I need help with a housing letter")
    help_alert = await notice_in(meta, team.office, "asks for help")
    assert known_as(anna) in help_alert.body and "housing letter" in help_alert.body
    assert help_alert.source["content"]["m.mentions"]["user_ids"] == [meta.user_id]
    assert anna.user_id not in help_alert.body  # named, not by her Matrix ID
    assert (
        f'<a href="https://matrix.to/#/{anna.user_id}">{known_as(anna)}</a>'
        in (help_alert.source["content"]["formatted_body"])
    )
    await notice_in(anna, chat[anna.user_id], "passed this on to your network's Meta-Mentors")
    await notice_in(anna, chat[anna.user_id], "Thank you, that's all!")
    await vote(anna, chat[anna.user_id], poll_a.event_id, 5, stable=True)
    await until(lambda: team.answer(anna, 1) == (5, None, 0, 1), what="the changed vote")

    # Ben has no poll in his client: a 2️⃣ reaction is his answer, and a low mood.
    await react(ben, chat[ben.user_id], poll_b.event_id, "2️⃣")
    low = await notice_in(meta, team.office, "rated their mood **2/5**")
    assert known_as(ben) in low.body
    await notice_in(ben, chat[ben.user_id], "Meta-Mentor*innen deines Netzwerks")

    # 09:00 in New York: Carl's turn.
    await team.tick(hours=6)
    await poll_in(carl, chat[carl.user_id])
    intro_c = await notice_in(carl, chat[carl.user_id], "Check-in for Hamburg Mentors")
    assert "(America/New_York)" in intro_c.body

    # A day later only Carl, who has not answered, is reminded, once.
    await team.tick(hours=18)
    await team.tick(hours=6)
    await notice_in(carl, chat[carl.user_id], "Reminder: your check-in for Hamburg Mentors")
    await team.tick(hours=1)
    assert not notices(anna, chat[anna.user_id], "Reminder") and not notices(
        ben, chat[ben.user_id], "Erinnerung"
    )

    # The round closes 48 h after Carl got it; the office reads the summary.
    await team.tick(hours=23)
    summary = await notice_in(meta, team.office, "in Hamburg Mentors: closed")
    lines = summary.body.splitlines()
    assert "**Answered:** 2 of 3 (67 %)" in lines, summary.body  # no zero counts after it
    assert "**Mood:** average 3.5 (1 chose 2 and 1 chose 5)" in lines, summary.body
    assert "“Met my mentee three times”" in summary.body and "twice" not in summary.body
    assert f"**No answer:** {known_as(carl)}" in summary.body
    print(summary.body)
    assert summary.body.index(known_as(ben)) < summary.body.index(
        known_as(anna)
    )  # lowest mood first

    # Carl answers after the close: kept, marked late. Anna can no longer change hers.
    await answer(carl, chat[carl.user_id], notices(carl, chat[carl.user_id], "What went")[0]
                 .event_id, "Sorry, busy week")  # fmt: skip
    await until(lambda: team.answer(carl, 2) == (None, "Sorry, busy week", 1, 0), what="late")
    await edit(anna, chat[anna.user_id], first, "Changed after the close")
    await notice_in(anna, chat[anna.user_id], "has closed, so your answer stays")
    assert team.answer(anna, 2)[1] == "Met my mentee three times"
    status = await meta.ask(team.office, "!checkin status")
    assert f"answered late (1): {known_as(carl)}" in status.body
    assert "**every Monday at 09:00**" in status.body and "Next round: Mon 10 Jun 2030" in (
        status.body
    ), status.body  # no round is open: the schedule and the next round's date
    # Nothing was sent twice.
    for mentor in team.mentors:
        assert len(polls(mentor, chat[mentor.user_id])) == 1
    assert len([e for e in meta.timeline(team.office)
                if isinstance(e, nio.RoomMessageNotice) and "closed**" in e.body]) <= 1  # fmt: skip
