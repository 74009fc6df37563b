"""One direct chat per person: the bot uses the chat a person opened with it (as Element's
"Start chat" does) for everything meant for them alone, opens no second one while it works,
lists it in its `m.direct`, and says "in our direct chat" only when that is where it went."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import aiohttp
import nio

from core.messaging import _mark_direct
from tests.bots import RunningBot
from tests.network_helpers import (
    create_network,
    database_rows,
    invited_rooms,
    join_all,
    member_joins,
    network_names,
    notice_in,
    react,
)
from tests.people import Person
from tests.proxy import Proxy


async def open_direct_chat(
    someone: Person, bot_user: str, preset: nio.RoomPreset = nio.RoomPreset.trusted_private_chat
) -> str:
    """A direct chat with the bot as Element opens it: created by `someone`, marked direct.
    (With the `trusted_private_chat` preset, room version 12 makes the bot a creator too,
    whom nobody can kick; other clients use `private_chat`.)"""
    response = await someone.client.room_create(is_direct=True, preset=preset, invite=[bot_user])
    room_id = someone._check(response, nio.RoomCreateResponse, "open a direct chat").room_id
    await someone.wait_joined(room_id, bot_user, timeout=30)
    return room_id


async def bots_m_direct(bot: RunningBot) -> dict[str, list[str]]:
    """The bot's `m.direct` account data, as any of its clients reads it."""
    assert bot.app is not None
    path = f"/_matrix/client/v3/user/{quote(bot.user_id)}/account_data/m.direct"
    headers = {"Authorization": f"Bearer {bot.app.account.client.access_token}"}
    async with aiohttp.ClientSession() as http, http.get(bot.hs.url + path, headers=headers) as r:
        return await r.json() if r.status == 200 else {}


async def chats_with(someone: Person, bot_user: str) -> set[str]:
    """The unnamed rooms `someone` is in or invited to with the bot and nobody else: what
    their client shows as direct chats with the bot."""
    joined = await someone.client.joined_rooms()
    assert isinstance(joined, nio.JoinedRoomsResponse), joined
    current = set(joined.rooms) | set(someone.client.invited_rooms)
    rooms = {**someone.client.rooms, **someone.client.invited_rooms}
    return {
        room_id
        for room_id, room in rooms.items()
        if room_id in current and not room.is_named
        and set(room.users) == {someone.user_id, bot_user}
    }  # fmt: skip


def stored_chats(bot: RunningBot, user_id: str) -> list[str]:
    rows = database_rows(bot.folder / "mentornet.db")["direct_rooms"]
    return [row[2] for row in rows if row[1] == user_id]


async def test_the_chat_a_person_opened_gets_everything_meant_for_them(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    anna: Person = await person(name="anna", encryption=True)
    net = await create_network(bot, meta, join=("announcements",))
    await meta.ask(net.announcements, "!network agreement set We help each other.")

    chat = await open_direct_chat(anna, bot.user_id)
    await meta.ask(net.office, f"!network onboard {anna.user_id}, Anna, en, Leipzig, novice")

    # The welcome and the agreement arrive in her chat; her ✅ there is confirmed there.
    await notice_in(anna, chat, "Welcome to Hamburg Mentors")
    agreement = await notice_in(anna, chat, "🤝 **Agreement of Hamburg Mentors**")
    await react(anna, chat, agreement.event_id)
    await notice_in(anna, chat, "accepted version 1 of the agreement")

    # Asked in a shared room, what is personal goes to that chat, and the answer says so.
    await member_joins(net, anna, ("general",))
    pointer = await anna.ask(net.rooms["general"], "!me export")
    assert pointer.body == (
        "I sent you the file with everything I store about you in our direct chat."
    )
    await anna.wait_for_event(
        lambda e: e.source["content"].get("filename") == "mentornet-my-data.json", room_id=chat
    )
    # Asked in that chat, the answer is simply there.
    here = await anna.ask(chat, "!me export")
    assert here.body == "Here is everything I store about you."

    assert await chats_with(anna, bot.user_id) == {chat}  # never a second chat, not even an invite
    assert stored_chats(bot, anna.user_id) == [chat]
    assert (await bots_m_direct(bot)).get(anna.user_id) == [chat]

    # Erased at her request: the bot's m.direct no longer names her.
    await anna.ask(chat, "!me forget")
    await anna.ask(chat, "!me forget confirm")
    await notice_in(anna, chat, "nothing about you is stored here any more")
    await anna.wait_for_event(
        lambda e: isinstance(e, nio.RoomMemberEvent) and e.state_key == bot.user_id
        and e.membership == "leave",
        room_id=chat,
    )  # fmt: skip
    assert anna.user_id not in await bots_m_direct(bot)


async def test_the_office_works_in_the_chat_its_meta_mentor_opened(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor", encryption=True)
    chat = await open_direct_chat(meta, bot.user_id)
    created = await meta.ask(chat, '!network create "Hamburg Mentors"')
    assert "is ready" in created.body, created.body
    rooms = await invited_rooms(meta, network_names("Hamburg Mentors"))
    await join_all(meta, [rooms["space"], rooms["coordination"]])

    # The self-check asked for in that chat starts right there, with no pointer elsewhere.
    asked = await meta.send(chat, "!selfcheck")
    await notice_in(meta, chat, "Self-check of Hamburg Mentors")
    await notice_in(meta, chat, "1/14 · Recruitment and screening")
    assert not meta.replies_to(chat, asked)

    # An export asked for in the office goes to that chat.
    exported = await meta.ask(rooms["coordination"], "!checkin export")
    assert exported.body == "I sent the CSV with 0 answers to our direct chat."
    await meta.wait_for_event(
        lambda e: e.source["content"].get("msgtype") == "m.file", room_id=chat
    )
    assert await chats_with(meta, bot.user_id) == {chat}
    assert (await bots_m_direct(bot)).get(meta.user_id) == [chat]


async def test_a_chat_that_stopped_working_is_replaced_by_a_working_one(mentornet, person) -> None:
    bot = await mentornet()
    anna: Person = await person(name="anna", encryption=True)
    ben: Person = await person(name="ben")
    group = await anna.create_room(invite=[bot.user_id, ben.user_id], name="Anna's group")
    await ben.join(group)
    await anna.wait_joined(group, bot.user_id, timeout=30)
    other = await bot.room_with(anna)  # an unnamed room of just the two of them
    chat = await open_direct_chat(anna, bot.user_id, nio.RoomPreset.private_chat)
    first = await anna.ask(group, "!me")
    assert first.body == "This is personal, so I sent it to you in our direct chat."
    await notice_in(anna, chat, "What I store about")

    # She removes the bot from her chat: the other room of just the two of them takes over.
    kicked = await anna.client.room_kick(chat, bot.user_id, reason="tidying up")
    assert isinstance(kicked, nio.RoomKickResponse), kicked
    second = await anna.ask(group, "!me")
    assert second.body == "This is personal, so I sent it to you in our direct chat."
    await notice_in(anna, other, "What I store about")
    assert stored_chats(bot, anna.user_id) == [other]
    assert (await bots_m_direct(bot)).get(anna.user_id) == [other]

    # She leaves that one too: the bot opens a new chat, and says that it is waiting for her.
    await anna.client.room_leave(other)
    third = await anna.ask(group, "!me")
    assert third.body == (
        "This is personal, so I sent it to you in our direct chat."
        " You have not joined it yet: accept my invitation to it."
    )
    new = await anna.wait_for_invite()
    assert new not in (chat, other)
    await anna.join(new)
    await notice_in(anna, new, "What I store about")
    assert stored_chats(bot, anna.user_id) == [new]
    assert (await bots_m_direct(bot)).get(anna.user_id) == [new]

    # Once she is in it, it is simply our direct chat, and no further one is opened.
    fourth = await anna.ask(group, "!me")
    assert fourth.body == "This is personal, so I sent it to you in our direct chat."
    assert await chats_with(anna, bot.user_id) == {new}


async def test_many_new_chats_at_once_are_listed_with_few_writes(mentornet, synapse) -> None:
    """Chats opened at the same moment (a round to many mentors) are listed in the bot's
    `m.direct` together: every one of them, without writing the growing list once per chat."""
    async with Proxy(synapse.url) as proxy:
        bot = await mentornet(matrix={"homeserver": proxy.url})
        assert bot.app is not None
        account = bot.app.account
        chats = {f"@mentor-{n}:{synapse.server_name}": f"!chat{n}:{synapse.server_name}"
                 for n in range(20)}  # fmt: skip
        before = proxy.direct_writes
        await asyncio.gather(
            *(_mark_direct(account, user, room, listed=True) for user, room in chats.items())
        )
        assert proxy.direct_writes - before <= 2  # not 20
        listed = await bots_m_direct(bot)
        assert all(listed.get(user) == [room] for user, room in chats.items())
