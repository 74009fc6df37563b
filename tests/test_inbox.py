"""The durable inbox and sending: commands waiting at a crash are answered once after the
restart, a reply that fails for a reason that passes is sent again, each bot's periodic work
runs on its own, and pruning old handled ids keeps commands from being answered twice."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from typing import Any

from core.app import App
from core.commands import Bot
from tests.bots import RunningBot
from tests.people import Person
from tests.proxy import Proxy


def inbox_size(bot: RunningBot) -> int:
    with sqlite3.connect(bot.folder / "mentornet.db") as db:
        return db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0]


async def until(condition: Any, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not met within {timeout} s: {what}"
        await asyncio.sleep(0.05)


async def test_commands_waiting_at_a_crash_are_answered_once_after_it(
    mentornet, person, synapse
) -> None:
    async with Proxy(synapse.url) as proxy:
        bot = await mentornet(start=False, matrix={"homeserver": proxy.url})
        await bot.spawn()  # `main.py run`, end-to-end encryption on, as in production
        mentor: Person = await person()
        room = await bot.room_with(mentor)
        proxy.hold_room = room  # the homeserver is slow to take the bot's answers
        commands = [await mentor.send(room, "!ping") for _ in range(5)]
        await until(lambda: proxy.held >= 1 and inbox_size(bot) == 5, what="all in the inbox")

        await bot.terminate(signal.SIGKILL)  # killed while the first answer was on its way
        proxy.hold_room = None
        proxy.release.set()  # that answer still reaches the homeserver
        await bot.spawn()

        for command in commands:
            await mentor.wait_for_reply(room, command, timeout=60)
        await until(lambda: inbox_size(bot) == 0, what="the inbox emptied")
        await asyncio.sleep(1)
        assert [len(mentor.replies_to(room, c)) for c in commands] == [1] * 5
        await bot.terminate()


async def test_a_reply_refused_for_a_while_is_sent_again(mentornet, person, synapse) -> None:
    async with Proxy(synapse.url) as proxy:
        bot = await mentornet(matrix={"homeserver": proxy.url})
        mentor: Person = await person()
        room = await bot.room_with(mentor)
        proxy.refuse_sends = 3  # 502 Bad Gateway: the homeserver behind it is restarting
        command = await mentor.send(room, "!ping")
        answer = await mentor.wait_for_reply(room, command, timeout=60)
        assert "Pong" in answer.body
        assert proxy.refused == 3
        await asyncio.sleep(1)
        assert len(mentor.replies_to(room, command)) == 1


class Ticker(Bot):
    """A bot whose periodic work takes as long as `slow` says (forever until set)."""

    def __init__(self, name: str, slow: bool) -> None:
        self.name = name
        self.slow = slow
        self.ticks = 0
        self.finished = asyncio.Event()

    async def tick(self, now: Any) -> None:
        self.ticks += 1
        if self.slow:
            await self.finished.wait()  # e.g. a round going out to 1,000 mentors


async def test_a_slow_bot_delays_no_other_bots_periodic_work(mentornet) -> None:
    from bots import BOTS

    bot = await mentornet(start=False, bots={"tick_seconds": 0.2})
    slow, quick = Ticker("slowpoke", True), Ticker("quick", False)
    app = App(bot.config, bots=[*BOTS, lambda _: slow, lambda _: quick])
    stop = asyncio.Event()
    running = asyncio.create_task(app.run(stop))
    try:
        await until(lambda: slow.ticks == 1 and quick.ticks >= 3, what="the quick bot ticked")
        assert slow.ticks == 1  # its work never overlaps itself
        slow.finished.set()
        await until(lambda: slow.ticks >= 2, what="the slow bot's next tick")
    finally:
        stop.set()
        await running


async def test_pruning_keeps_commands_from_being_answered_twice(mentornet, person) -> None:
    bot = await mentornet()
    mentor: Person = await person()
    room = await bot.room_with(mentor)
    answered = [await mentor.send(room, "!ping") for _ in range(3)]
    for command in answered:
        await mentor.wait_for_reply(room, command)
    await bot.stop()
    month = time.time() - 30 * 86_400
    with sqlite3.connect(bot.folder / "mentornet.db") as db:  # a long life's leftovers
        db.executemany(
            "INSERT INTO handled_events (event_id, handled_at) VALUES (?, ?)",
            [(f"$old{n}", month) for n in range(1000)],
        )
        db.execute(
            "INSERT INTO undecrypted (event_id, account, room_id, session_id, event,"
            " received_at) VALUES ('$parked', 'default', ?, 'nokey', '{}', ?)",
            [room, month],
        )
    db.close()

    # The catch-up after a restart reads from the stored token again; nothing is answered twice.
    await bot.start()
    await bot.stop()
    await bot.start()
    fresh = await mentor.ask(room, "!ping")
    assert "Pong" in fresh.body
    with sqlite3.connect(bot.folder / "mentornet.db") as db:
        handled = {row[0] for row in db.execute("SELECT event_id FROM handled_events")}
        parked = db.execute("SELECT COUNT(*) FROM undecrypted").fetchone()[0]
    db.close()
    assert set(answered) <= handled
    assert not any(event_id.startswith("$old") for event_id in handled)
    assert parked == 0
    await asyncio.sleep(1)
    assert [len(mentor.replies_to(room, c)) for c in answered] == [1, 1, 1]


class Listener(Bot):
    """A bot that wants every plain message; `broken` ones fail on each."""

    def __init__(self, name: str, broken: bool) -> None:
        self.name = name
        self.broken = broken
        self.seen: list[str] = []

    def wants(self, incoming: Any) -> bool:
        return incoming.content.get("body") == "hello"

    async def on_event(self, ctx: Any) -> None:
        if self.broken:
            raise RuntimeError("a bug in one bot")
        self.seen.append(ctx.event_id)


async def test_one_bots_failing_handler_hides_the_event_from_no_other(mentornet, person) -> None:
    from bots import BOTS

    broken, listening = Listener("broken", True), Listener("listening", False)
    bot = await mentornet(start=False)
    bot.bots = [*BOTS, lambda _: broken, lambda _: listening]
    await bot.start()
    mentor: Person = await person()
    room = await bot.room_with(mentor)
    sent = await mentor.send(room, "hello")
    await until(lambda: listening.seen == [sent], what="the event reached the bot after it")
