"""Sustaining a network, through a real homeserver: goals, buddies, questions, meetings, the
weekly digest, the self-check and impact figures, with a Meta-Mentor, new and experienced
mentors and an outsider as matrix-nio clients and a fake clock for what is scheduled.

The tests share one network (building it is the slow part) and run in the order written:
the digest and impact tests at the end report what the earlier ones did."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import nio
import pytest

from core.dates import day_text
from devtools.homeserver import LocalSynapse
from tests.network_helpers import (
    database_rows,
    download_file,
    invited_rooms,
    mentions,
    react,
    state,
)
from tests.people import Person
from tests.sustain_helpers import Community, build, close, notice_in, say

COORDINATOR_COMMANDS = [  # (command, arguments)
    ("goal add", "Train ten mentors"),
    ("goal update", "1 50"),
    ("buddies", ""),
    ("event add", "Plenary 2030-01-14 18:00"),
    ("event cancel", "1"),
    ("event timezone", "Europe/Berlin"),
    ("events feed renew", ""),
    ("questions escalate", "24"),
    ("digest", ""),
    ("selfcheck", ""),
    ("selfcheck report", ""),
    ("impact", ""),
    ("impact export", ""),
]
PAIR_ROOM = "Sustain Net – Buddies"


@pytest.fixture(scope="module")
async def c(synapse: LocalSynapse, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator:
    community = await build(synapse, tmp_path_factory.mktemp("sustain"))
    yield community
    await close(community)


async def test_coordinator_commands_are_refused_to_mentors_and_outsiders(c: Community) -> None:
    chat = await c.dm("nora")
    for name, arguments in COORDINATOR_COMMANDS:
        refused = await c.nora.ask(chat, f"!{name} {arguments}")
        assert refused.body == (
            f"Only a coordinator or Meta-Mentor (power level 50 or more) may run `!{name}`"
            " in Sustain Net; your power level there is 0."
        ), refused.body

    own = await c.bot.room_with(c.outsider)
    for command in ("goal add Hello", "impact", "buddies", "selfcheck"):
        refused = await c.outsider.ask(own, f'!{command} network:"Sustain Net"')
        assert "Only a coordinator or Meta-Mentor" in refused.body, refused.body
    for command in ("goals", "events", "questions"):
        refused = await c.outsider.ask(own, f'!{command} network:"Sustain Net"')
        assert refused.body == f"Only members of Sustain Net may use `!{command}`."
    nowhere = await c.outsider.ask(own, "!ask Can I join?")
    assert "not part of a mentoring network" in nowhere.body
    assert c.rows("SELECT COUNT(*) FROM goals") == [(0,)]


NETWORK_OFFICE_COMMANDS = [
    "network invite",
    "network onboard",
    "network role",
    "network rules set",
    "network agreement set",
    "network members",
]
MEMBER_COMMANDS = ["goals", "ask", "buddy request", "events", "questions", "me", "network agree"]


def listed(body: str, name: str) -> bool:
    """Whether `!help` lists the command `name` (as its usage in backticks)."""
    return re.search(r"`!" + re.escape(name) + r"[ `]", body) is not None


def announced(someone: Person, room_id: str) -> list[str]:
    """The bodies of the notices the person has seen in the room, in order."""
    return [
        event.body
        for room, event in someone.events
        if room == room_id and isinstance(event, nio.RoomMessageNotice)
    ]


SUSTAIN_BOTS = ("goal", "buddy", "ask", "event", "calendar", "digest", "selfcheck", "impact")


async def full_help(person: Person, room: str) -> str:
    """What `!help` lists, overview and each bot's list, for the sustaining bots and more."""
    bodies = [(await person.ask(room, "!help")).body]
    for bot in (*SUSTAIN_BOTS, "me", "network"):
        bodies.append((await person.ask(room, f"!help {bot}")).body)
    assert len(bodies[0].splitlines()) <= 16, bodies[0]  # the overview stays short
    return "\n".join(bodies)


async def test_help_lists_only_what_the_asker_may_run(c: Community) -> None:
    coordinator_only = [name for name, _ in COORDINATOR_COMMANDS] + NETWORK_OFFICE_COMMANDS
    for room in (await c.dm("nora"), c.net.rooms["general"]):
        body = await full_help(c.nora, room)
        assert all(listed(body, name) for name in MEMBER_COMMANDS), body
        assert [name for name in coordinator_only if listed(body, name)] == [], body
    own = await c.bot.room_with(c.outsider)  # the outsider created that room: level 100 there
    body = await full_help(c.outsider, own)
    assert [name for name in coordinator_only if listed(body, name)] == [], body

    for room in (c.net.office, c.net.rooms["general"]):
        body = await full_help(c.meta, room)
        assert [name for name in coordinator_only if not listed(body, name)] == [], body
    details = (await c.nora.ask(await c.dm("nora"), "!help goal add")).body
    assert "Only a coordinator or Meta-Mentor (power level 50 or more) may use it." in details
    assert "You may not use it here." in details and "`!goal add " in details, details


async def test_shared_goals_with_progress_announced_when_reached(c: Community) -> None:
    office, chat = c.net.office, await c.dm("nora")
    due_day = (c.clock.now() + timedelta(days=200)).date()
    added = await c.meta.ask(office, f'!goal add "Train ten new mentors" due:{due_day}')
    due = f"{due_day:%a} {due_day.day} {due_day:%b %Y}"  # the date as people read it
    assert added.body.startswith(f"Goal **#1** added: Train ten new mentors (due: {due}).")
    await c.meta.ask(office, "!goal add Open a second network in Leipzig")

    update = await c.meta.ask(office, '!goal update 1 60 "six trained, four to go"')
    assert update.body == ("Goal #1 of Sustain Net (Train ten new mentors) is now at **60%**.")
    milestone = await notice_in(c.meta, c.net.announcements, "Past 50%")
    assert milestone.body.startswith("📈 **Past 50%:** Train ten new mentors (#1) is now at 60%.")
    await c.meta.ask(office, "!goal update 1 55")  # no milestone passed again: no news
    await c.meta.ask(office, "!goal update 1 60")
    shown = await c.nora.ask(chat, "!goals")
    assert "**#1** Train ten new mentors — ▰▰▰▰▰▰▱▱▱▱ 60% · due " + due in shown.body
    html = shown.source["content"]["formatted_body"]
    assert "60% · due " + due in html, html  # the joined part keeps its space in HTML too
    assert "“six trained, four to go”" in shown.body
    assert "**#2** Open a second network in Leipzig — ▱▱▱▱▱▱▱▱▱▱ 0%" in shown.body

    await c.meta.ask(office, "!goal update 1 80")
    await notice_in(c.meta, c.net.announcements, "Past 75%")
    await c.meta.ask(office, "!goal update 1 100 all ten trained")
    post = await notice_in(c.meta, c.net.announcements, "Goal reached:")
    assert post.body.startswith("🎉 **Goal reached:** Train ten new mentors (#1).")
    assert "all ten trained" in post.body
    news = [body for body in announced(c.meta, c.net.announcements) if "Train ten" in body]
    assert len(news) == 3, news  # 50 %, 75 %, reached: a milestone is told once
    shown = await c.nora.ask(chat, "!goals")
    assert "100% · reached on" in shown.body
    missing = await c.meta.ask(office, "!goal update 7 10")
    assert missing.body == "Sustain Net has no goal #7."
    bad = await c.meta.ask(office, "!goal update 1 120")
    assert "give a number from 0 to 100" in bad.body


async def test_buddies_match_language_then_region_then_load(c: Community) -> None:
    chat = await c.dm("nora")
    matched = await c.nora.ask(chat, '!buddy request "first job interviews"')
    assert "You have a buddy in Sustain Net!" in matched.body
    room = (await invited_rooms(c.nora, {"pair": PAIR_ROOM}))["pair"]
    await c.nora.join(room)
    hello = await notice_in(c.nora, room, "Welcome, buddies")
    # Berta and Carla speak German like Nora, Anton lives in Hamburg like her: language
    # first; Berta and Carla tie, and Berta has been in the network longer.
    assert "Nora (new mentor) and Berta (experienced mentor)" in hello.body  # roster names
    assert c.nora.user_id not in hello.body and c.berta.user_id not in hello.body
    pill = f'<a href="https://matrix.to/#/{c.berta.user_id}">Berta</a>'
    assert pill in hello.source["content"]["formatted_body"]
    assert set(hello.source["content"]["m.mentions"]["user_ids"]) == {
        c.nora.user_id,
        c.berta.user_id,
    }  # both are meant
    assert "you both speak German" in hello.body and "both in" not in hello.body
    assert "Berta accompanies 0 other new mentors" in hello.body
    assert "topic: first job interviews" in hello.body
    assert (await state(c.nora, room, "m.room.encryption"))["algorithm"] == "m.megolm.v1.aes-sha2"
    invited = await state(c.nora, room, "m.room.member", c.berta.user_id)
    assert invited["membership"] == "invite"

    nils_room = await c.bot.room_with(c.nils)
    await c.nils.ask(nils_room, "!buddy request")  # Berta has a buddy now: Carla
    listed = await c.meta.ask(c.net.office, "!buddies")
    assert "**Buddy pairs of Sustain Net:** 2 active, 0 ended." in listed.body
    assert "Nora ↔ Berta, since " in listed.body and "Nils ↔ Carla, since " in listed.body
    assert "same region" not in listed.body  # none of them share one: left out, no "—"
    assert listed.source["content"]["m.mentions"] == {"user_ids": [c.meta.user_id]}

    again = await c.nora.ask(chat, "!buddy request")
    assert "You already have a buddy" in again.body
    experienced = await c.berta.ask(await c.dm("berta"), "!buddy request")
    assert experienced.body.startswith("Buddies are for new mentors")

    ended = await c.nora.ask(chat, "!buddy end")
    assert "Your buddy pair in Sustain Net is ended" in ended.body
    await notice_in(c.nora, room, "Nora ended this buddy pair")
    await c.nora.ask(chat, "!buddy request lang:en")  # English: only Anton speaks it
    second = (await invited_rooms(c.nora, {"pair": PAIR_ROOM}))["pair"]
    await c.nora.join(second)
    hello = await notice_in(c.nora, second, "Welcome, buddies")
    assert "Anton (experienced mentor)" in hello.body and "you both speak English" in hello.body
    assert "you are both in Hamburg" in hello.body
    listed = await c.meta.ask(c.net.office, "!buddies")
    assert "2 active, 1 ended" in listed.body


async def test_unanswered_questions_go_to_the_meta_mentor(c: Community) -> None:
    chat, general = await c.dm("nora"), c.net.rooms["general"]
    posted = await c.nora.ask(chat, "!ask How do I explain the school system to a family?")
    assert posted.body.startswith("Your question #1 is in the general room: https://matrix.to/#/")
    assert "general room: <a href" in posted.source["content"]["formatted_body"]
    assert ">open it</a>" in posted.source["content"]["formatted_body"]  # not the address
    assert "within 48 hours, the Meta-Mentor gets it" in posted.body
    question = await notice_in(c.meta, general, "Question #1")
    assert "Nora" in question.body and "school system" in question.body
    assert c.nora.user_id not in question.body
    assert question.source["content"]["m.mentions"] == {"user_ids": []}  # nobody alerted

    await c.meta.send(
        general, "Start with the Kita, then the Grundschule.", thread_root=question.event_id
    )
    answered = await notice_in(c.nora, chat, "Your question #1 has an answer")
    assert question.event_id in answered.body

    await c.nora.ask(chat, "!ask Where can mentors get legal advice?")
    second = await notice_in(c.meta, general, "Question #2")
    await c.nora.send(general, "Anyone?", thread_root=second.event_id)  # the asker: no answer
    waiting = await c.nora.ask(general, "!questions")  # handled after her thread message
    assert "**Open questions in Sustain Net:** 1" in waiting.body
    assert "#2 “Where can mentors get legal advice?”" in waiting.body

    await c.tick(hours=47)
    assert c.rows("SELECT escalated_at FROM questions WHERE number = 2") == [(None,)]
    await c.tick(hours=2)
    escalated = await notice_in(c.meta, await c.dm("meta"), "Nobody has answered question #2")
    assert "for 48 hours" in escalated.body and "Nora" in escalated.body
    assert "Where can mentors get legal advice?" in escalated.body
    first = c.rows("SELECT escalated_at FROM questions WHERE number = 2")
    await c.tick(hours=1)
    assert c.rows("SELECT escalated_at FROM questions WHERE number = 2") == first  # once

    shown = await c.nora.ask(chat, "!questions")
    assert "passed to the Meta-Mentor" in shown.body
    changed = await c.meta.ask(c.net.office, "!questions escalate 24")
    assert changed.body == (
        "Unanswered questions in Sustain Net now go to the Meta-Mentor after 24 hours."
    )


async def test_meetings_with_rsvp_reminders_and_a_calendar_feed(c: Community) -> None:
    office, announcements = c.net.office, c.net.announcements
    brussels = ZoneInfo("Europe/Brussels")
    day = (c.clock.now().astimezone(brussels) + timedelta(days=3)).date()
    start = datetime.combine(day, datetime.min.time().replace(hour=18), brussels)
    added = await c.meta.ask(
        office,
        f'!event add "Plenary meeting" {day} 18:00 tz:Europe/Brussels kind:plenary'
        " https://meet.example.org/plenary",
    )
    shown_day = f"{day:%a} {day.day} {day:%b %Y}"  # the date as people read it
    assert f"“Plenary meeting” on {shown_day}, 18:00 (Europe/Brussels)" in added.body
    post = await notice_in(c.meta, announcements, "Plenary meeting")
    assert "(plenary meeting, #1)" in post.body and "https://meet.example.org/plenary" in post.body

    await react(c.nora, announcements, post.event_id, "✅")
    maybe = await react(c.anton, announcements, post.event_id, "❔")
    await react(c.carla, announcements, post.event_id, "❌")
    await react(c.carla, announcements, post.event_id, "✅")  # changed her mind
    await c.until(
        "SELECT user_id, answer FROM event_rsvps ORDER BY user_id",
        lambda rows: sorted(a for _, a in rows) == ["maybe", "yes", "yes"],
    )
    listed = await c.nora.ask(await c.dm("nora"), "!events")
    assert "✅ 2 ❔ 1 ❌ 0 · your answer: ✅" in listed.body  # a mentor sees counts
    assert "Carla" not in listed.body and "going:" not in listed.body
    names = await c.meta.ask(office, "!events")  # a coordinator sees who is going
    assert "going: Carla, Nora · maybe: Anton" in names.body, names.body
    assert c.nora.user_id not in names.body and "✅ 2" not in names.body
    assert names.source["content"]["m.mentions"] == {"user_ids": [c.meta.user_id]}
    past = await c.meta.ask(office, '!event add "Too late" 2020-01-01 10:00')
    assert "That time has already passed" in past.body

    await c.tick(seconds=start.timestamp() - 23 * 3600 - c.clock.now().timestamp())
    day_before = await notice_in(c.meta, announcements, "Tomorrow: Plenary meeting")
    assert "Going: 2, maybe: 1" in day_before.body
    mentioned = day_before.source["content"]["m.mentions"]["user_ids"]
    assert set(mentioned) == {c.nora.user_id, c.anton.user_id, c.carla.user_id}
    relation = day_before.source["content"]["m.relates_to"]["m.in_reply_to"]
    assert relation["event_id"] == post.event_id
    await c.tick(hours=22, minutes=30)
    await notice_in(c.meta, announcements, "In one hour: Plenary meeting")
    await c.anton.client.room_redact(announcements, maybe)  # takes his answer back
    await c.until(
        "SELECT answer FROM event_rsvps ORDER BY answer", lambda rows: rows == [("yes",)] * 2
    )

    changed = await c.meta.ask(office, "!event timezone Europe/Berlin")
    assert (
        changed.body
        == "New meetings of Sustain Net are in Europe/Berlin unless they say otherwise."
    )

    mooc_day = (start + timedelta(days=7)).date()
    await c.meta.ask(office, f'!event add "MOOC session" {mooc_day} 10:00 kind:mooc #general')
    listed = await c.meta.ask(office, "!events")
    mooc_shown = f"{mooc_day:%a} {mooc_day.day} {mooc_day:%b %Y}"
    assert f"#2 {mooc_shown}, 10:00 (Europe/Berlin): **MOOC session** (MOOC session)" in (
        listed.body
    )
    assert "Where: #general · no answers yet" in listed.body
    cancelled = await c.meta.ask(office, "!event cancel 2")
    assert cancelled.body.startswith("Meeting #2 “MOOC session” is cancelled")
    await notice_in(c.meta, announcements, "Cancelled:** MOOC session")

    feed = await c.meta.ask(office, "!events feed")  # the office is private: answered here
    url = re.search(r"https?://\S+", feed.body)[0]
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 200
            assert response.content_type == "text/calendar"
            calendar = (await response.text()).replace("\r\n ", "")
        async with http.get(url.replace("token=", "token=x")) as wrong:
            assert wrong.status == 404
    utc = start.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")
    assert "SUMMARY:Plenary meeting\r\nSTATUS:CONFIRMED" in calendar
    assert f"DTSTART:{utc}\r\n" in calendar
    assert "LOCATION:https://meet.example.org/plenary" in calendar
    assert "SUMMARY:MOOC session\r\nSTATUS:CANCELLED" in calendar

    renewed = await c.meta.ask(office, "!events feed renew")
    assert "has a new link; the old one no longer works" in renewed.body
    async with aiohttp.ClientSession() as http, http.get(url) as old:
        assert old.status == 404


async def test_selfcheck_runs_and_report(c: Community) -> None:
    office, coordination = c.net.office, c.net.rooms["coordination"]
    started = await c.meta.ask(coordination, "!selfcheck")
    assert started.body == "The self-check of Sustain Net is waiting for you in our direct chat."
    chat = await c.dm("meta")
    assert chat == office  # the room of just the two of them, where the network was created
    intro = await notice_in(c.meta, chat, "Self-check of Sustain Net")
    assert "14 questions" in intro.body
    await notice_in(c.meta, chat, "1/14 · Recruitment and screening")

    await say(c.meta, chat, "very good", "Please answer with a number from 1 to 5")
    first = ["2"] * 14
    first[2] = "skip"
    first[3] = "2 we train, but not everyone"
    first[8] = first[9] = "skip"  # no answer on closure this time
    await _answer_all(c, chat, first)
    second = ["3", "3", "4", "4", "2", "2", "2", "2", "2", "2", "2", "2", "1", "1"]
    await c.meta.ask(coordination, "!selfcheck")
    done = await _answer_all(c, chat, second)
    assert "improved: Recruitment and screening, Training. Declined: Governance." in done.body

    report = await c.meta.ask(office, "!selfcheck report")
    assert "**Self-checks of Sustain Net:** 2 so far." in report.body
    assert "Training: 2.0 · 4.0 (▲ +2.0)" in report.body
    assert "Training: 2.0 · 4.0 (▲ +2.0)" in report.source["content"]["formatted_body"]
    assert "Matching (Zusammenführung)" not in report.body
    assert "Matching: 2.0 · 2.0 (=)" in report.body
    assert "Governance: 2.0 · 1.0 (▼ −1.0)" in report.body
    assert "Closure: not answered · 2.0" in report.body  # said in words, not "—"

    await c.meta.ask(coordination, "!selfcheck")
    await say(c.meta, chat, "stop", "nothing of this self-check was kept")
    assert c.rows("SELECT COUNT(*) FROM selfcheck_runs") == [(2,)]
    comments = c.rows("SELECT comment FROM selfcheck_answers WHERE comment IS NOT NULL")
    assert comments == [("we train, but not everyone",)]


async def _answer_all(c: Community, chat: str, answers: list[str]) -> nio.RoomMessageNotice:
    for number, answer in enumerate(answers[:-1], start=2):
        await say(c.meta, chat, answer, f"**{number}/14 ·")
    return await say(c.meta, chat, answers[-1], "Self-check of Sustain Net saved")


async def test_weekly_digest_in_the_network_office(c: Community) -> None:
    coordination, chat = c.net.rooms["coordination"], await c.dm("nora")
    # The other bots of the instance: a resource shared in the network, a check-in round.
    shared = await c.nora.ask(
        c.net.rooms["general"], '!resource share https://example.org/kita "Kita guide"'
    )
    assert "Kita guide" in shared.body, shared.body
    started = await c.meta.ask(c.net.office, "!checkin now")
    assert "Check-in" in started.body or "check-in" in started.body, started.body
    poll = await c.nora.wait_for_event(
        lambda e: e.source.get("type") == "org.matrix.msc3381.poll.start", room_id=chat
    )
    await react(c.nora, chat, poll.event_id, "4️⃣")
    await c.until(
        "SELECT COUNT(DISTINCT user_id) FROM checkin_answers",
        lambda rows: rows == [(1,)],
    )
    asked = c.rows("SELECT COUNT(*) FROM checkin_deliveries WHERE sent_at IS NOT NULL")[0][0]
    await c.tick(days=8)
    digest = await notice_in(c.meta, coordination, "Weekly digest of Sustain Net")
    body = digest.body
    assert "**Members:** 6. New: " in body and "Nora" in body and c.nora.user_id not in body
    assert "Silent for" not in body  # nobody: left out, no "—"
    assert "**Questions:** 2 asked, 1 of them answered. Still open (1): #2 “Where can" in body
    assert "**Goals:** Reached: #1 Train ten new mentors. In progress: #2 Open a second" in body
    assert digest.source["content"]["m.mentions"] == {"user_ids": []}  # names, no alerts
    assert "Plenary meeting (✅ 2, ❔ 0)" in body
    assert "**Buddies:** 2 active pairs, 3 new." in body
    assert "**Resources:** 1 new." in body
    assert f"**Check-ins:** 1 of {asked} answered ({round(100 / asked)}%)." in body
    schedule = c.rows("SELECT next_at FROM digest_schedule")
    await c.tick(hours=1)
    assert c.rows("SELECT next_at FROM digest_schedule") == schedule  # once a week
    now = await c.meta.ask(coordination, "!digest")  # the last seven days, at once
    assert "Weekly digest of Sustain Net" in now.body and "**Buddies:** 2 active pairs, 0 new." in (
        now.body
    )


async def test_impact_figures_and_csv(c: Community) -> None:
    office = c.net.office
    shown = await c.meta.ask(office, "!impact")
    body = shown.body
    assert body.startswith("📊 **Impact of Sustain Net**")
    for line in (
        "Meta-Mentors today: **1**",
        "experienced mentors today: **3**",
        "new mentors today: **2**",
        "active members today: **",
        "pairs made: **3**",
        "meetings held: **",
        "of them plenary meetings: **",
        "self-checks done: **",
        "asked: **2**",
        "passed to the Meta-Mentor: **1**",
        "**Check-ins**",
    ):
        assert line in body, line
    assert "(now)" not in body and ".." not in body  # the period is said once, in the title
    assert not re.search(r"\d{4}-\d\d", body)  # dates as people read them
    assert "coordinators" not in body and "**0**" not in body  # no zero figures
    # A period of one day is that day; what had nothing in it is one short line.
    today = c.clock.now().date()
    one_day = (await c.meta.ask(office, f"!impact since:{today.isoformat()}")).body
    assert f"**Impact of Sustain Net** ({day_text(today, 'en')})\n" in one_day, one_day
    assert "**0**" not in one_day, one_day
    assert "\nNo check-ins, questions, meetings, or self-checks yet.\n" in one_day, one_day

    request = await c.meta.send(office, "!impact export")
    file = await c.meta.wait_for_event(
        lambda e: e.source["content"].get("msgtype") == "m.file", room_id=office
    )
    assert file.source["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == request
    assert re.fullmatch(
        r"impact-sustain-net-\d{4}-\d{2}-\d{2}\.csv", file.source["content"]["body"]
    )
    rows = list(csv.DictReader(io.StringIO((await download_file(c.meta, file)).decode())))
    values = {(r["section"], r["metric"]): r["value"] for r in rows}
    assert values[("members", "mentor-experienced")] == "3"
    assert values[("questions", "answered")] == "1"
    assert values[("buddies", "paired")] == "3"
    assert values[("events", "held")] == "1" and values[("events", "held_plenary")] == "1"
    assert values[("events", "rsvp_yes")] == "2"
    assert values[("goals", "reached")] == "1"
    assert values[("selfcheck", "runs")] == "2"
    assert values[("checkins", "answered")] == "1" and int(values[("checkins", "asked")]) >= 1
    months = [r for r in rows if r["section"] == "activity" and r["period"] != "now"]
    assert months and all(re.fullmatch(r"\d{4}-\d{2}", r["period"]) for r in months)


async def test_me_shows_and_forget_erases_what_sustaining_stored(c: Community) -> None:
    chat = await c.dm("nora")
    shown = await c.nora.ask(chat, "!me")
    assert "buddy_pairs" in shown.body and "questions_asked" in shown.body
    assert "event_answers" in shown.body
    assert "This is our direct chat." in shown.body and "!" not in shown.body.split("\n")[0]
    assert not re.search(r"\d{4}-\d\d-\d\dT|![A-Za-z]+:", shown.body), shown.body

    stored = mentions(database_rows(c.database), c.nora.user_id)
    kept = {"buddy_pairs", "questions", "event_rsvps", "resource_sharers", "checkin_answers"}
    assert kept <= set(stored), sorted(stored)

    await c.nora.ask(chat, "!me forget")
    await c.nora.ask(chat, "!me forget confirm")
    await notice_in(c.nora, chat, "nothing about you is stored here any more")
    # Nothing about her is left in any table of any bot, the runtime's included.
    assert mentions(database_rows(c.database), c.nora.user_id) == {}
    assert c.rows("SELECT COUNT(*) FROM questions") == [(2,)]  # still counted, anonymously
    assert c.rows("SELECT COUNT(*) FROM buddy_pairs WHERE ended_at IS NULL") == [(1,)]


async def test_no_machinery_in_any_reply(c: Community) -> None:
    """Everything the bots wrote to these people in this module, read as a volunteer would:
    no "—" standing for an empty value, no raw ISO time, no member's Matrix ID."""
    people = [c.meta, *c.people.values()]
    notices = [
        event
        for someone in people
        for room_id in list(someone.client.rooms)
        for event in someone.timeline(room_id)
        if isinstance(event, nio.RoomMessageNotice) and event.sender == c.bot.user_id
    ]
    assert len(notices) > 40
    placeholder = re.compile(r"(^|[:(,;·]\s*|—\s*)—(?=\s*($|[.;,)·]|—))", re.MULTILINE)
    for event in notices:
        assert not placeholder.search(event.body), event.body
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d", event.body), event.body
        for someone in c.people.values():
            assert someone.user_id not in event.body, event.body
