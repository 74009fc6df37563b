"""A community for the sustaining bots' tests: one bot with a fake clock, one network, a
Meta-Mentor, new and experienced mentors (languages and regions chosen so that the order of
the buddy criteria matters) and an outsider, each a real Matrix client."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nio

from core.clock import FakeClock
from devtools.homeserver import LocalSynapse
from tests.bots import RunningBot
from tests.network_helpers import Net, create_network, direct_chat, member_joins, notice_in
from tests.people import Person

NAME = "Sustain Net"
# (name, role word for the onboarding list, languages, region)
PEOPLE = {
    "nora": ("novice", "de", "Hamburg"),  # new mentor
    "nils": ("novice", "de", "Hamburg"),  # new mentor
    "anton": ("experienced", "en", "Hamburg"),  # same region as the novices, no shared language
    "berta": ("experienced", "de", "Berlin"),  # shared language, another region; joins first
    "carla": ("experienced", "de", "Berlin"),  # like Berta, joins after her
}
ENCRYPTED = {"nora", "berta"}  # they read the encrypted rooms in the tests


@dataclass
class Community:
    bot: RunningBot
    clock: FakeClock
    net: Net
    people: dict[str, Person]
    outsider: Person
    chats: dict[str, str] = field(default_factory=dict)  # name -> direct chat with the bot

    @property
    def meta(self) -> Person:
        return self.net.meta

    def __getattr__(self, name: str) -> Person:
        people = self.__dict__.get("people", {})
        if name in people:
            return people[name]
        raise AttributeError(name)

    @property
    def database(self) -> Path:
        return self.bot.folder / "mentornet.db"

    def rows(self, query: str, *values: Any) -> list[tuple[Any, ...]]:
        """Rows of the bot's database, read as an auditor would."""
        with sqlite3.connect(self.database) as db:
            return db.execute(query, values).fetchall()

    async def until(self, query: str, check: Callable[[list[tuple]], bool], timeout=15) -> None:
        """Wait until the bot's database satisfies `check` (events of other rooms are handled
        by other workers, so their effect is not ordered with a command's answer)."""
        deadline = time.monotonic() + timeout
        while not check(self.rows(query)):
            assert time.monotonic() < deadline, f"{query}: {self.rows(query)}"
            await asyncio.sleep(0.05)

    async def tick(self, **delta: float) -> datetime:
        """Move the clock on and let the bots do what fell due."""
        now = self.clock.advance(**delta) if delta else self.clock.now()
        assert self.bot.app is not None
        await self.bot.app.tick()
        return now

    async def dm(self, name: str) -> str:
        """The person's direct chat with the bot, joined."""
        if name not in self.chats:
            person = self.meta if name == "meta" else self.people[name]
            self.chats[name] = await direct_chat(person, self.bot.user_id)
            await person.ask(self.chats[name], "!lang en")  # the tests read English
        return self.chats[name]


def last_monday_morning() -> datetime:
    """The clock starts just after the last weekly digest slot (Monday 07:00 UTC) and not
    after now: the tests move it less than a week before the digest test, and people's
    activity (real time) falls into the first digest's period."""
    now = datetime.now(UTC)
    start = (now - timedelta(days=now.weekday())).replace(hour=7, minute=1, second=0)
    return start if start <= now else start - timedelta(days=7)


async def login(hs: LocalSynapse, name: str, encryption: bool) -> Person:
    localpart = f"{name}-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    user_id = await hs.register(localpart, password)
    return await Person.login(hs, user_id, password, encryption=encryption, name=name)


async def build(hs: LocalSynapse, folder: Path) -> Community:
    """Start the bot, create the network, onboard everyone and have them join."""
    clock = FakeClock(last_monday_morning())
    bot_user = await hs.register(f"mentornet-{secrets.token_hex(4)}", "bot-password")
    bot = RunningBot(hs, bot_user, "bot-password", folder, clock, bots={"tick_seconds": 3600})
    await bot.start()
    meta = await login(hs, "meta", encryption=True)
    outsider = await login(hs, "outsider", encryption=False)
    people = dict(
        zip(
            PEOPLE,
            await asyncio.gather(*(login(hs, n, n in ENCRYPTED) for n in PEOPLE)),
            strict=True,
        )
    )
    net = await create_network(bot, meta, NAME, join=("all",))
    lines = [
        f"{people[n].user_id}, {n.title()}, {langs}, {region}, {level}"
        for n, (level, langs, region) in PEOPLE.items()
    ]
    report = await meta.ask(net.office, "!network onboard\n" + "\n".join(lines))
    assert "5 invited" in report.body, report.body
    for name in PEOPLE:  # one after the other: Berta joins before Carla
        await member_joins(net, people[name], ("announcements", "general"))
    community = Community(bot, clock, net, people, outsider)
    await community.until(
        "SELECT COUNT(*) FROM network_members WHERE status = 'joined'", lambda r: r[0][0] == 6
    )
    await community.tick()  # the digest starts counting from here
    return community


async def close(community: Community) -> None:
    await community.bot.stop()
    people = [community.meta, community.outsider, *community.people.values()]
    await asyncio.gather(*(someone.close() for someone in people))


async def say(
    someone: Person, room_id: str, body: str, expect: str, timeout: float = 30
) -> nio.RoomMessageNotice:
    """Send a message that is not a command (an answer in a conversation with the bot) and
    wait for the first notice after it that contains `expect`."""
    start = len(someone.events)
    await someone.send(room_id, body)

    def check() -> nio.RoomMessageNotice | None:
        for rid, event in someone.events[start:]:
            if rid == room_id and isinstance(event, nio.RoomMessageNotice) and expect in event.body:
                return event
        return None

    return await someone._wait(check, timeout, lambda: f"{expect!r} in {someone.recent(room_id)}")


__all__ = ["Community", "build", "close", "notice_in", "say"]
