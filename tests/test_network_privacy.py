"""`!me`, `!me export` and `!me forget`: a member sees what is stored about them, downloads it
as JSON, and has it erased — from the database (read directly here) and from the rooms."""

from __future__ import annotations

import json
from typing import Any

import nio

from bots import BOTS
from core.clock import FakeClock
from core.commands import Bot
from tests.checkin_helpers import known_as
from tests.network_helpers import (
    create_network,
    database_rows,
    direct_chat,
    download_file,
    member_joins,
    mentions,
    notice_in,
    power_levels,
)
from tests.people import Person


async def test_me_shows_and_exports_what_is_stored(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    anna: Person = await person(name="anna", encryption=True)
    net = await create_network(bot, meta)
    await meta.ask(
        net.office, f"!network onboard {anna.user_id}, Anna Schmidt, de, Leipzig, novice"
    )
    chat = await direct_chat(anna, bot.user_id)
    await member_joins(net, anna, ("general",))

    shown = await anna.ask(chat, "!me")  # her chat speaks her language (from the onboarding list)
    assert "Was ich über Anna Schmidt speichere" in shown.body and anna.user_id not in shown.body
    assert "Netzwerk **Hamburg Mentors**:" in shown.body
    assert "Name: Anna Schmidt" in shown.body and "Region: Leipzig" in shown.body
    assert f"eingeladen von: {known_as(meta)}" in shown.body and meta.user_id not in shown.body
    assert "Dies ist unser Direktchat." in shown.body and chat not in shown.body

    # Asked in a shared room, the answer goes to the direct chat, not to everyone.
    pointer = await anna.ask(net.rooms["general"], "!me")  # in her language there too
    assert "habe ich es dir in unserem Direktchat geschickt" in pointer.body
    assert "Leipzig" not in pointer.body

    done = await anna.ask(chat, "!me export")
    assert "Hier ist alles" in done.body
    file = await anna.wait_for_event(
        lambda e: e.source["content"].get("msgtype") == "m.file", room_id=chat
    )
    assert file.source["content"]["body"] == "mentornet-my-data.json"
    assert "file" in file.source["content"]  # encrypted, like the chat
    exported = json.loads(await download_file(anna, file))
    assert exported["user_id"] == anna.user_id
    (membership,) = exported["data"]["network"]["memberships"]
    assert membership["network"] == "Hamburg Mentors" and membership["status"] == "joined"
    assert (membership["name"], membership["languages"], membership["region"]) == (
        "Anna Schmidt",
        "de",
        "Leipzig",
    )
    assert exported["data"]["direct_chats"][0]["room_id"] == chat

    creator = await meta.ask(net.office, "!me")
    assert "You created the network **Hamburg Mentors**." in creator.body
    stranger: Person = await person(name="stranger")
    nothing = await stranger.ask(await bot.room_with(stranger), "!me")
    assert nothing.body.startswith("I store nothing about")


async def test_forget_erases_everything_and_removes_them(mentornet, person) -> None:
    clock = FakeClock()
    bot = await mentornet(clock=clock)
    meta: Person = await person(name="metamentor")
    anna: Person = await person(name="anna", encryption=True)
    net = await create_network(bot, meta, join=("announcements",))
    await meta.ask(net.announcements, "!network agreement set We help each other.")
    await meta.ask(net.office, f"!network onboard {anna.user_id}, Anna, de, Leipzig, novice")
    await meta.ask(net.office, f"!network role {anna.user_id} coordinator")
    chat = await direct_chat(anna, bot.user_id)
    await member_joins(net, anna, ("general",))
    await anna.ask(chat, "!network agree")
    await anna.ask(chat, "!lang en")
    stored = mentions(database_rows(bot.folder / "mentornet.db"), anna.user_id)
    assert {"network_members", "user_settings", "direct_rooms"} <= set(stored)

    ask = await anna.ask(chat, "!me forget")
    assert "send `!me forget confirm` within 10 minutes" in ask.body
    assert "(Hamburg Mentors)" in ask.body
    clock.advance(minutes=11)
    late = await anna.ask(chat, "!me forget confirm")
    assert "There is nothing to confirm" in late.body

    await anna.ask(chat, "!me forget")
    going = await anna.ask(chat, "!me forget confirm")
    assert "Erasing everything I store about you" in going.body
    await notice_in(anna, chat, "nothing about you is stored here any more")

    # Removed from the network's rooms, with a reason, and from their power levels.
    for room_id in (net.space, net.announcements):  # as the Meta-Mentor sees it
        kicked = await meta.wait_for_event(
            lambda e: (
                isinstance(e, nio.RoomMemberEvent)
                and e.state_key == anna.user_id
                and e.membership == "leave"
            ),
            room_id=room_id,
        )
        assert kicked.sender == bot.user_id
        assert kicked.content["reason"] == "Left the network at their own request."
    assert anna.user_id not in meta.client.rooms[net.space].users
    for room_id in net.rooms.values():
        assert anna.user_id not in await power_levels(meta, room_id)
    members = await meta.ask(net.office, "!network members")
    assert anna.user_id not in members.body and "1 (1 joined);" in members.body

    # Nothing about her is left in any table of the bot's database.
    assert mentions(database_rows(bot.folder / "mentornet.db"), anna.user_id) == {}
    await anna.wait_for_event(  # and the bot left their direct chat
        lambda e: (
            isinstance(e, nio.RoomMemberEvent)
            and e.state_key == bot.user_id
            and e.membership == "leave"
        ),
        room_id=chat,
    )

    # The only Meta-Mentor is warned before erasing themselves.
    warned = await meta.ask(net.office, "!me forget")
    assert "you are the only Meta-Mentor of Hamburg Mentors" in warned.body


class Notes(Bot):
    """A bot that keeps notes about people and cannot erase them the first time it is asked
    (its storage is busy)."""

    name = "notes"

    def __init__(self) -> None:
        self.busy = 1
        self.forgotten: list[str] = []

    async def forget_person(self, user_id: str) -> None:
        if self.busy:
            self.busy -= 1
            raise OSError("database is locked")
        self.forgotten.append(user_id)


async def test_forget_says_what_is_pending_and_finishes_when_every_bot_has(
    mentornet, person
) -> None:
    clock = FakeClock()
    bot = await mentornet(clock=clock, start=False)
    notes = Notes()
    bot.bots = [*BOTS, lambda _app: notes]
    await bot.start()
    meta: Person = await person(name="metamentor")
    anna: Person = await person(name="anna", encryption=True)
    net = await create_network(bot, meta)
    await meta.ask(net.office, f"!network onboard {anna.user_id}, Anna, en, Leipzig, novice")
    chat = await direct_chat(anna, bot.user_id)
    await member_joins(net, anna)

    await anna.ask(chat, "!me forget")
    await anna.ask(chat, "!me forget confirm")
    pending = await notice_in(anna, chat, "Not finished yet")
    assert "notes" in pending.body
    assert not finished(anna, chat)

    # The request is kept across a restart and tried again until every bot has confirmed.
    await bot.stop()
    await bot.start()
    clock.advance(minutes=2)
    await bot_tick(bot)
    await notice_in(anna, chat, "nothing about you is stored here any more")
    assert notes.forgotten == [anna.user_id]
    assert mentions(database_rows(bot.folder / "mentornet.db"), anna.user_id) == {}
    assert len(finished(anna, chat)) == 1


def finished(someone: Person, room_id: str) -> list[Any]:
    return [
        e
        for e in someone.timeline(room_id)
        if isinstance(e, nio.RoomMessageNotice) and "nothing about you is stored" in e.body
    ]


async def bot_tick(bot: Any) -> None:
    assert bot.app is not None
    await bot.app.tick()
