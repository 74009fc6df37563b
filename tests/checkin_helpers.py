"""Helpers for the check-in tests: a network with a Meta-Mentor and mentors who joined, a
fake clock that starts on a Monday morning, and answering as Element does (poll votes,
reactions, replies, edits)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nio

from core.clock import FakeClock
from tests.bots import MakeBot, RunningBot
from tests.network_helpers import Net, create_network, direct_chat, member_joins
from tests.people import MakePerson, Person

# Monday 3 June 2030, 05:00 UTC = 07:00 in Berlin, 01:00 in New York.
START = datetime(2030, 6, 3, 5, 0, tzinfo=UTC)
POLL_START = "org.matrix.msc3381.poll.start"
POLL_END = "org.matrix.msc3381.poll.end"


@dataclass
class Team:
    """A network as the tests use it: its bot, clock, Meta-Mentor and mentors."""

    bot: RunningBot
    clock: FakeClock
    net: Net
    meta: Person
    mentors: list[Person]
    chats: dict[str, str]  # mentor -> their direct chat with the bot

    @property
    def office(self) -> str:
        return self.net.rooms["coordination"]

    def db(self) -> Any:
        assert self.bot.app is not None
        return self.bot.app.store.db

    async def tick(self, **advance: float) -> None:
        """Move the clock (e.g. hours=2) and let the bot do what has fallen due."""
        if advance:
            self.clock.advance(**advance)
        assert self.bot.app is not None
        await self.bot.app.tick()

    def rows(self, sql: str, *params: Any) -> list[tuple]:
        return self.db().execute(sql, params).fetchall()

    def answer(self, who: Person, number: int, round_id: int | None = None) -> tuple | None:
        """(mood, text, late, edits) of their answer to question `number` of the latest round
        (or of `round_id`)."""
        found = self.rows(
            "SELECT id, questions FROM checkin_rounds WHERE kind != 'missed'"
            " ORDER BY id DESC LIMIT 1"
            if round_id is None
            else "SELECT id, questions FROM checkin_rounds WHERE id = ?",
            *(() if round_id is None else (round_id,)),
        )
        if not found:
            return None
        question = json.loads(found[0][1])[number - 1]["id"]
        rows = self.rows(
            "SELECT mood, text, late, edits FROM checkin_answers"
            " WHERE round_id = ? AND user_id = ? AND question_id = ?",
            found[0][0],
            who.user_id,
            question,
        )
        return rows[0] if rows else None


async def until(condition: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
    """Poll `condition` until it returns something true."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not met within {timeout} s: {what}")
        await asyncio.sleep(0.05)
    return result


async def make_team(
    mentornet: MakeBot,
    person: MakePerson,
    names: tuple[str, ...] = ("anna", "ben", "carl"),
    german: tuple[str, ...] = ("ben",),
    **settings: Any,
) -> Team:
    """A Meta-Mentor creates a network and joins its coordination room; mentors are invited
    (in German where named), join the space and their direct chat with the bot. `settings`
    go into the bot's configuration."""
    clock = FakeClock(START)
    bot = await mentornet(clock=clock, bots={"tick_seconds": 3600}, **settings)
    meta = await person(name="meta", encryption=True)
    net = await create_network(bot, meta, join=("coordination",))
    mentors = list(await asyncio.gather(*(person(name=name, encryption=True) for name in names)))
    chats = {}
    for name, mentor in zip(names, mentors, strict=True):
        lang = " lang:de" if name in german else ""
        answer = await meta.ask(net.office, f"!network invite {mentor.user_id}{lang}")
        assert "Invited" in answer.body, answer.body
    for mentor in mentors:
        await member_joins(net, mentor)
        chats[mentor.user_id] = await direct_chat(mentor, bot.user_id)
    team = Team(bot, clock, net, meta, mentors, chats)
    await until(
        lambda: len(team.rows("SELECT 1 FROM network_members WHERE status = 'joined'"
                              " AND role LIKE 'mentor-%'")) == len(names),
        what="the mentors joined",
    )  # fmt: skip
    return team


# --- what people see -----------------------------------------------------------------------


def is_poll(event: nio.Event) -> bool:
    return event.source.get("type") == POLL_START


async def poll_in(someone: Person, room_id: str, timeout: float = 30) -> nio.Event:
    return await someone.wait_for_event(is_poll, timeout, room_id=room_id)


def notices(someone: Person, room_id: str, text: str) -> list[nio.Event]:
    return [
        e
        for e in someone.timeline(room_id)
        if isinstance(e, nio.RoomMessageNotice) and text in e.body
    ]


def polls(someone: Person, room_id: str) -> list[nio.Event]:
    return [e for e in someone.timeline(room_id) if is_poll(e)]


async def poll_end_in(
    someone: Person, room_id: str, poll_id: str, timeout: float = 30
) -> nio.Event:
    """The event that ends the poll `poll_id`."""

    def ends(event: nio.Event) -> bool:
        relation = event.source["content"].get("m.relates_to") or {}
        return event.source.get("type") == POLL_END and relation == {
            "rel_type": "m.reference",
            "event_id": poll_id,
        }

    return await someone.wait_for_event(ends, timeout, room_id=room_id)


def listed(body: str, name: str) -> bool:
    """Whether `!help` lists the command `name` (as its usage in backticks)."""
    return re.search(r"`!" + re.escape(name) + r"[ `]", body) is not None


# --- answering as a client does -------------------------------------------------------------


async def _send(someone: Person, room_id: str, event_type: str, content: dict[str, Any]) -> str:
    lock = someone._crypto if someone.encryption else contextlib.nullcontext()
    async with lock:
        sent = await someone.client.room_send(
            room_id, event_type, content, ignore_unverified_devices=True
        )
    assert isinstance(sent, nio.RoomSendResponse), sent
    return sent.event_id


async def vote(someone: Person, room_id: str, poll_id: str, mood: int, stable: bool = False) -> str:
    """A poll answer, as Element sends it (or in the stable `m.poll.response` form)."""
    relation = {"rel_type": "m.reference", "event_id": poll_id}
    if stable:
        content = {"m.relates_to": relation, "m.selections": [str(mood)]}
        return await _send(someone, room_id, "m.poll.response", content)
    content = {
        "m.relates_to": relation,
        "org.matrix.msc3381.poll.response": {"answers": [str(mood)]},
    }
    return await _send(someone, room_id, "org.matrix.msc3381.poll.response", content)


async def answer(someone: Person, room_id: str, question_id: str, body: str) -> str:
    """A reply to a question, as Element's Reply sends it."""
    content = {
        "msgtype": "m.text",
        "body": body,
        "m.relates_to": {"m.in_reply_to": {"event_id": question_id}},
    }
    return await _send(someone, room_id, "m.room.message", content)


async def edit(someone: Person, room_id: str, original: str, body: str) -> str:
    content = {
        "msgtype": "m.text",
        "body": f"* {body}",
        "m.new_content": {"msgtype": "m.text", "body": body},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    }
    return await _send(someone, room_id, "m.room.message", content)


async def react(someone: Person, room_id: str, event_id: str, key: str) -> str:
    content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
    return await _send(someone, room_id, "m.reaction", content)


def known_as(someone: Person) -> str:
    """How the bots name a person who has no name on a roster: their Matrix display name,
    which Synapse sets to the localpart at registration."""
    return someone.user_id.removeprefix("@").split(":")[0]
