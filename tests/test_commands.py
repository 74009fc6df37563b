"""Commands as a person meets them in a Matrix client: help, mistakes, permissions,
language, replies and threads, hostile and oversized input."""

from __future__ import annotations

import asyncio

from tests.people import Person, in_reply_to


def relation(event) -> dict:
    return event.source["content"].get("m.relates_to") or {}


async def test_help_lists_what_the_asker_may_run(mentornet, person) -> None:
    bot = await mentornet()
    coordinator: Person = await person(name="metamentor")
    mentor: Person = await person()
    room = await bot.room_with(coordinator, invite=[mentor.user_id])
    await mentor.join(room)

    answer = await mentor.ask(room, "!help")
    assert answer.source["content"]["msgtype"] == "m.notice"
    assert len(answer.body.splitlines()) <= 16, answer.body  # one short line per bot
    assert "Basics: `!help`, `!lang`, `!ping`" in answer.body
    assert "Directory of organisations: `!dir search`" in answer.body
    assert "Languages: English (en), Deutsch (de), Français (fr), Nederlands (nl)" in answer.body
    assert "!lang room" not in answer.body  # a coordinator command, not for a mentor

    general = await mentor.ask(room, "!help general")
    assert "`!lang [en|de|fr|nl]`" in general.body and "!lang room" not in general.body
    general = await coordinator.ask(room, "!help general")
    assert "`!lang room <en|de|fr|nl>`" in general.body

    details = await mentor.ask(room, "!help lang room")
    assert details.body.startswith("**`!lang room <en|de|fr|nl>`**"), details.body
    assert "Only a coordinator or Meta-Mentor (power level 50 or more) may use it." in details.body
    assert "You may not use it here." in details.body and "`!lang room de`" in details.body
    assert "You may not" not in (await coordinator.ask(room, "!help lang room")).body

    one = await mentor.ask(room, "!help network create")  # one command, not its bot's list
    assert one.body.startswith("**`!network create <name>"), one.body
    assert "!network info" not in one.body and '`!network create "Mentors Gent"' in one.body
    family = await mentor.ask(room, "!help dir")
    assert "`!dir search [text…]" in family.body and "`!dir stats`" in family.body
    assert "!checkin" not in family.body and "!help <command>" in family.body


async def test_mistakes_get_one_clear_line(mentornet, person) -> None:
    bot = await mentornet()
    mentor: Person = await person()
    room = await bot.room_with(mentor)

    usage = await mentor.ask(room, "!lang klingon")
    assert "klingon" in usage.body and "en, de, fr, nl" in usage.body
    assert "Usage: `!lang [en|de|fr|nl]`" in usage.body

    unknown = await mentor.ask(room, "!pnig")
    assert "Did you mean `!ping`" in unknown.body

    quote = await mentor.ask(room, '!help "unclosed')
    assert "not closed" in quote.body
    assert len(quote.body.splitlines()) == 1


async def test_coordinator_commands_follow_room_power_levels(mentornet, person, new_user) -> None:
    admin_id, _ = await new_user(prefix="admin")
    bot = await mentornet(bots={"admins": [admin_id]})
    metamentor: Person = await person(name="metamentor")
    mentor: Person = await person()
    room = await bot.room_with(metamentor, invite=[mentor.user_id])
    await mentor.join(room)

    refused = await mentor.ask(room, "!lang room de")
    assert "Only a coordinator" in refused.body and "power level in this room is 0" in refused.body

    # What Element shows and what the bot allows agree: raise the mentor to 50 in the room.
    await metamentor.set_power_level(room, mentor.user_id, 50)
    await asyncio.sleep(0.3)  # let the bot's sync see the new power levels
    accepted = await mentor.ask(room, "!lang room de")
    assert "German" in accepted.body  # in the asker's language

    # Taken out of the power levels' user list, the mentor is back at the room's default.
    await metamentor.set_power_level(room, mentor.user_id, None)
    await asyncio.sleep(0.3)
    await mentor.ask(room, "!lang en")
    assert "Only a coordinator" in (await mentor.ask(room, "!lang room en")).body

    # The room's language now applies to people who chose none.
    assert "Pong" in (await metamentor.ask(room, "!ping")).body
    assert "bearbeitet" in (await metamentor.ask(room, "!ping")).body


async def test_language_is_per_person_and_stored(mentornet, person) -> None:
    bot = await mentornet()
    anna: Person = await person(name="anna")
    ben: Person = await person(name="ben")
    room = await bot.room_with(anna, invite=[ben.user_id])
    await ben.join(room)

    assert "Deutsch" in (await anna.ask(room, "!lang de")).body
    assert "bearbeitet" in (await anna.ask(room, "!ping")).body
    assert "Handled in" in (await ben.ask(room, "!ping")).body
    assert "Aufruf" in (await anna.ask(room, "!lang xx")).body

    await bot.stop()
    await bot.start()
    assert "bearbeitet" in (await anna.ask(room, "!ping")).body
    assert "Deutsch" in (await anna.ask(room, "!lang")).body


async def test_reply_is_threaded_like_the_command(mentornet, person) -> None:
    bot = await mentornet()
    mentor: Person = await person()
    room = await bot.room_with(mentor)

    root = await mentor.send(room, "Questions about the MOOC go here")
    command = await mentor.send(room, "!ping", thread_root=root)
    answer = await mentor.wait_for_reply(room, command)
    assert relation(answer)["rel_type"] == "m.thread"
    assert relation(answer)["event_id"] == root
    assert in_reply_to(answer) == command

    plain = await mentor.send(room, "!ping")
    answer = await mentor.wait_for_reply(room, plain)
    assert "rel_type" not in relation(answer)
    assert answer.source["content"]["m.mentions"] == {"user_ids": [mentor.user_id]}


async def test_hostile_html_is_shown_not_run(mentornet, person) -> None:
    bot = await mentornet()
    mentor: Person = await person()
    room = await bot.room_with(mentor)
    hostile = '<script>alert(1)</script><img src=x onerror="steal()"><a href="javascript:x">y</a>'

    answer = await mentor.ask(room, f"!help {hostile}")
    html = answer.source["content"]["formatted_body"]
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert hostile in answer.body  # the plain body shows exactly what was typed

    answer = await mentor.ask(room, "!lang **bold** [link](https://evil.example)")
    assert "<strong>" not in answer.source["content"]["formatted_body"]
    assert "<a " not in answer.source["content"]["formatted_body"]


async def test_oversized_messages_are_refused_and_nothing_breaks(mentornet, person) -> None:
    bot = await mentornet()
    mentor: Person = await person()
    room = await bot.room_with(mentor)

    big = "x" * 60_000
    refused = await mentor.ask(room, f"!help {big}")
    assert "60 kB" in refused.body and "16 kB" in refused.body
    assert len(refused.source["content"]["body"]) < 500

    chatter = await mentor.send(room, "y" * 60_000)  # not a command: ignored
    answer = await mentor.ask(room, "!ping")
    assert "Pong" in answer.body
    assert mentor.replies_to(room, chatter) == []


async def test_bots_never_answer_notices_or_themselves(mentornet, person) -> None:
    bot = await mentornet()
    other_bot: Person = await person(name="otherbot")
    room = await bot.room_with(other_bot)

    notice = await other_bot.send(room, "!ping", msgtype="m.notice")
    command = await other_bot.send(room, "!ping")
    await other_bot.wait_for_reply(room, command)  # handled in order: the notice came first
    assert other_bot.replies_to(room, notice) == []
    said = [
        e
        for r, e in other_bot.events
        if r == room and e.sender == bot.user_id and e.source["type"] == "m.room.message"
    ]
    assert [e.source["content"]["msgtype"] for e in said] == ["m.notice"]  # one answer, a notice
