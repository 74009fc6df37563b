"""Helpers for the network bot's tests: a network set up the way a Meta-Mentor does it,
files sent like Element sends them, direct chats with the bot, room state read back."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nio

from tests.bots import RunningBot
from tests.people import Person, download_file, react, reply_to  # noqa: F401 (re-exported)
from tests.people import upload_file as send_file  # noqa: F401 (re-exported)

# Room names of a network in English, as the bot creates them (by purpose).
SUFFIXES = {
    "announcements": " – Announcements",
    "general": " – General",
    "resources": " – Resources",
    "checkins": " – Check-ins",
    "coordination": " – Coordination (network office)",
}


@dataclass
class Net:
    """A network as its Meta-Mentor sees it."""

    name: str
    bot: RunningBot
    meta: Person
    office: str  # the Meta-Mentor's own room with the bot, where the network was created
    rooms: dict[str, str]  # purpose -> room id, "space" included

    @property
    def space(self) -> str:
        return self.rooms["space"]

    @property
    def announcements(self) -> str:
        return self.rooms["announcements"]


async def invited_rooms(person: Person, names: dict[str, str], timeout: float = 30) -> dict:
    """Wait for invites to rooms with these names; returns {key: room id}."""

    def check() -> dict[str, str] | None:
        found = {}
        for room_id, room in person.client.invited_rooms.items():
            for key, name in names.items():
                if room.name == name:
                    found[key] = room_id
        return found if len(found) == len(names) else None

    return await person._wait(check, timeout, lambda: f"invites to {sorted(names.values())}")


def network_names(name: str) -> dict[str, str]:
    return {"space": name, **{purpose: name + suffix for purpose, suffix in SUFFIXES.items()}}


async def join_all(person: Person, room_ids: list[str]) -> None:
    for room_id in room_ids:
        await person.join(room_id)


async def create_network(
    bot: RunningBot, meta: Person, name: str = "Hamburg Mentors", *, join: tuple[str, ...] = ()
) -> Net:
    """The Meta-Mentor creates a network from a room with the bot and joins the space and
    the rooms named in `join` ("all" for every room)."""
    office = await bot.room_with(meta)
    answer = await meta.ask(office, f'!network create "{name}"')
    assert "is ready" in answer.body, answer.body
    rooms = await invited_rooms(meta, network_names(name))
    wanted = list(rooms) if join == ("all",) else ["space", *join]
    await join_all(meta, [rooms[purpose] for purpose in wanted])
    return Net(name, bot, meta, office, rooms)


async def member_joins(net: Net, someone: Person, purposes: tuple[str, ...] = ()) -> None:
    """An invited member accepts the invites to the space and the named rooms."""
    names = network_names(net.name)
    await invited_rooms(someone, {p: names[p] for p in ("space", *purposes)})
    await join_all(someone, [net.rooms[p] for p in ("space", *purposes)])


async def direct_chat(someone: Person, bot_user: str, timeout: float = 30) -> str:
    """Wait for the bot's direct-chat invite (an unnamed room), join it, return its id."""

    def check() -> str | None:
        for room_id, room in someone.client.invited_rooms.items():
            if room.inviter == bot_user and room.name is None:
                return room_id
        for room_id, room in someone.client.rooms.items():
            if set(room.users) == {someone.user_id, bot_user} and room.name is None:
                return room_id
        return None

    room_id = await someone._wait(check, timeout, lambda: f"a direct chat from {bot_user}")
    if room_id in someone.client.invited_rooms:
        await someone.join(room_id)
    return room_id


async def notice_in(
    someone: Person, room_id: str, text: str, timeout: float = 30
) -> nio.RoomMessageNotice:
    """The first notice in the room whose body contains `text`."""
    return await someone.wait_for_event(
        lambda e: isinstance(e, nio.RoomMessageNotice) and text in e.body,
        timeout,
        room_id=room_id,
    )


async def state(someone: Person, room_id: str, event_type: str, key: str = "") -> dict:
    """A state event's content as the person's client reads it (as Element would)."""
    response = await someone.client.room_get_state_event(room_id, event_type, key)
    if isinstance(response, nio.RoomGetStateEventError):
        return {}
    return dict(response.content)


async def power_levels(someone: Person, room_id: str) -> dict[str, int]:
    return dict((await state(someone, room_id, "m.room.power_levels")).get("users", {}))


async def wait_for_level(
    someone: Person, room_id: str, user_id: str, level: int | None, timeout: float = 10
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (current := (await power_levels(someone, room_id)).get(user_id)) != level:
        assert asyncio.get_running_loop().time() < deadline, f"{user_id} at {current}"
        await asyncio.sleep(0.1)


def database_rows(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table of the bot's SQLite file."""
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {table: db.execute(f'SELECT * FROM "{table}"').fetchall() for table in tables}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def mentions(rows: dict[str, list[tuple]], needle: str) -> dict[str, list[tuple]]:
    """The rows, by table, in which `needle` appears anywhere (in text or blobs)."""
    found = {}
    for table, content in rows.items():
        hits = [row for row in content if needle in json.dumps(row, default=_text)]
        if hits:
            found[table] = hits
    return found
