"""Responsiveness under load: the `!ping` round trip of our bot while it does heavy work.

    .venv/bin/python bench/responsiveness.py                            # 1,000 mentors, 10,000
    .venv/bin/python bench/responsiveness.py --mentors 200 --entries 2000   # a quick run

One local Synapse (relaxed rate limits, everyone exempted) holds a space and a directory room
of `--entries` organisations, and `--mentors` registered mentors; both are built once and
kept in bench/results/cache/ (`bench/directory_room.py`). Our bot runs as `main.py run` in a
child process (encryption off), a fresh account and database each run, a member of the
space; beside it the bare matrix-nio echo bot of `ping_roundtrip.py`. One client pings both
alternately (`!ping` → the reply seen in its /sync), in four phases:

- (a) **idle**: `--pings` rounds before the load phases and as many after them;
- (b) **check-in round**: a Meta-Mentor's network gets `--mentors` joined members (written
  into the bot's store, as `checkin_round.py` does) and `!checkin now`; pings until every
  delivery is marked sent;
- (c) **mirror copy**: the directory room is added to the space (`m.space.child`), so the
  bot's mirror joins it and copies every entry (`Mirror.follow`); pings until the bot's
  database holds them all and the room is followed;
- (d) **mirror drop**: the room is taken out of the space; pings until the bot's database
  holds none of its entries.

(c) and (d) run `--cycles` times. Goal: p95 of (b), (c) and (d) at most 1.2 × p95 of (a),
for our bot. The echo bot's figures show what the homeserver's own load costs. Prints a
table, writes bench/results/responsiveness.json, exits 0 (a measurement, not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.checkin_round import NETWORK, Meta, add_members  # noqa: E402
from bench.common import Child, load_average, save, scratch_folder, start_ours, summarize  # noqa: E402
from bench.directory_room import Publisher, directory_homeserver, login, user_id  # noqa: E402
from bench.ping_roundtrip import Sender, start_baseline  # noqa: E402
from core.storage import open_store  # noqa: E402
from devtools.homeserver import LocalSynapse  # noqa: E402
from federation.rooms import KEY_SPACE  # noqa: E402

GOAL = 1.2
PHASE_TIMEOUT = 3600.0
POLL = 0.05  # seconds between looks into the bot's database
BOTS = ("ours", "baseline")  # the baseline: the bare echo bot of ping_roundtrip.py


def count(database: Path, sql: str, *params: Any) -> int:
    """A count from our bot's database, read from outside its process (WAL)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return int(db.execute(sql, params).fetchone()[0])


async def until(check: Callable[[], bool], what: str) -> float:
    """Seconds until `check()` holds."""
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > PHASE_TIMEOUT:
            raise TimeoutError(what)
        await asyncio.sleep(POLL)
    return time.perf_counter() - started


class Pinger:
    """Pings both bots alternately; the round trips by bot and phase."""

    def __init__(self, sender: Sender, rooms: dict[str, str], children: list[Child]) -> None:
        self.sender, self.rooms, self.children = sender, rooms, children
        self.samples: dict[str, dict[str, list[float]]] = {}

    async def rounds(self, phase: str, rounds: int) -> None:
        for _ in range(rounds):
            await self._round(phase)

    async def during(self, phase: str, work: Awaitable[float]) -> float:
        """Ping until `work` is done (at least one round); returns what `work` returned."""
        task = asyncio.ensure_future(work)
        try:
            await self._round(phase)
            while not task.done():
                await self._round(phase)
            return task.result()
        finally:
            task.cancel()

    async def _round(self, phase: str) -> None:
        for child in self.children:
            child.check_alive()
        for name in BOTS:
            elapsed = await self.sender.ping(self.rooms[name])
            self.samples.setdefault(phase, {b: [] for b in BOTS})[name].append(elapsed)


async def join_space(hs: LocalSynapse, user: str, password: str, space: str) -> None:
    """Make the bot's account a member of the space before the bot starts."""
    client = nio.AsyncClient(hs.url, user)
    try:
        await client.login(password)
        joined = await client.join(space)
        if not isinstance(joined, nio.JoinResponse):
            raise RuntimeError(f"{user} joining the space: {joined}")
    finally:
        await client.close()


async def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    mentors = [f"mentor-{i:05d}" for i in range(args.mentors)]
    figures: dict[str, Any] = {"mentors": args.mentors, "entries": args.entries,
                               "load_average_at_start": load_average()}  # fmt: skip
    users = ["bench-sender", "bench-meta", *mentors]
    async with directory_homeserver(args.entries, users) as (hs, info):
        children: list[Child] = []
        sender: Sender | None = None
        meta: Meta | None = None
        publisher = Publisher(hs.url, hs.server_name, await login(hs.url, *info.publisher))
        try:
            run = secrets.token_hex(3)
            bot, bare = (
                (f"bench-bot-{run}", secrets.token_hex(12)),
                (f"bench-echo-{run}", secrets.token_hex(12)),
            )
            for name, password in (bot, bare):
                await hs.exempt_from_rate_limits(await hs.register(name, password))
            bot_id = user_id(hs, bot[0])
            await publisher.link(info.space_id, info.room_id, linked=False)  # a crashed run's
            await join_space(hs, bot_id, bot[1], info.space_id)
            database = folder / "mentornet.db"
            store = open_store(database)
            store.put(KEY_SPACE, info.space_id)  # as `!federation join` leaves it
            store.close()
            children.append(await start_ours(hs, bot_id, bot[1], folder))
            children.append(await start_baseline(hs, user_id(hs, bare[0]), bare[1], folder))

            sender = Sender(hs, user_id(hs, "bench-sender"))
            await sender.login_for_replies(info.users["bench-sender"])
            rooms = {
                "ours": await sender.room_with(bot_id, "ping ours"),
                "baseline": await sender.room_with(user_id(hs, bare[0]), "ping echo"),
            }
            await sender.sync(0)
            pinger = Pinger(sender, rooms, children)

            meta = Meta(hs, user_id(hs, "bench-meta"))
            await meta.start(info.users["bench-meta"])
            office = await meta.room_with(bot_id, "office")
            await meta.sync(0)
            _, created = await meta.ask(office, f'!network create "{NETWORK}"', 300)
            assert "is ready" in created, created
            coordination = _one(database, "SELECT room_id FROM network_rooms"
                                " WHERE purpose = 'coordination'")  # fmt: skip
            await meta.client.join(coordination)
            await meta.sync(0)

            print(f"warm-up, then (a) idle: {args.pings} rounds …", flush=True)
            await pinger.rounds("warm-up", args.warmup)
            await pinger.rounds("idle", args.pings)

            phases: dict[str, list[float]] = {"copy": [], "drop": []}
            for cycle in range(args.cycles):
                print(f"(c) mirror copy of {args.entries:,} entries, cycle {cycle + 1} …")
                await publisher.link(info.space_id, info.room_id)
                phases["copy"].append(await pinger.during("copy", _copied(
                    database, info.room_id, args.entries)))  # fmt: skip
                print(f"  {phases['copy'][-1]:.1f} s; (d) mirror drop …", flush=True)
                await publisher.link(info.space_id, info.room_id, linked=False)
                phases["drop"].append(await pinger.during("drop", _dropped(
                    database, info.room_id)))  # fmt: skip
                print(f"  {phases['drop'][-1]:.1f} s", flush=True)

            print(f"(b) check-in round to {args.mentors:,} mentors …", flush=True)
            add_members(database, [_Mentor(user_id(hs, m)) for m in mentors])
            delivered = _delivered(database, args.mentors)
            asked = meta.ask(coordination, "!checkin now", PHASE_TIMEOUT)
            phases["checkin"] = [await pinger.during("checkin", _both(asked, delivered))]
            print(f"  {phases['checkin'][0]:.1f} s", flush=True)

            print(f"(a) idle again: {args.pings} rounds …", flush=True)
            await pinger.rounds("idle", args.pings)
            figures["phase_seconds"] = {k: [round(s, 2) for s in v] for k, v in phases.items()}
            figures["samples"] = pinger.samples
        finally:
            await publisher.close()
            for client in (sender, meta):
                if client is not None:
                    await client.close()
            await asyncio.gather(*(child.stop(grace=30) for child in children))
    return figures


class _Mentor:
    def __init__(self, user: str) -> None:
        self.user_id = user


def _one(database: Path, sql: str) -> Any:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return db.execute(sql).fetchone()[0]


async def _copied(database: Path, room: str, entries: int) -> float:
    return await until(lambda: count(database, "SELECT count(*) FROM directory_listings"
                                     " WHERE room_id = ?", room) >= entries
                       and count(database, "SELECT count(*) FROM followed_rooms"
                                 " WHERE room_id = ?", room) == 1, "the copy")  # fmt: skip


async def _dropped(database: Path, room: str) -> float:
    return await until(lambda: count(database, "SELECT count(*) FROM directory_listings"
                                     " WHERE room_id = ?", room) == 0
                       and count(database, "SELECT count(*) FROM followed_rooms"
                                 " WHERE room_id = ?", room) == 0, "the drop")  # fmt: skip


async def _delivered(database: Path, mentors: int) -> float:
    return await until(lambda: count(database, "SELECT count(*) FROM checkin_deliveries"
                                     " WHERE state = 'sent'") >= mentors, "the round")  # fmt: skip


async def _both(reply: Awaitable[Any], work: Awaitable[float]) -> float:
    """Seconds of `work`, once the bot's reply has been seen as well."""
    _, seconds = await asyncio.gather(reply, work)
    return seconds


def _summary(samples: list[float]) -> dict[str, float | int]:
    """`summarize`, also for a phase so short that it saw a single round."""
    return summarize(samples if len(samples) > 1 else samples * 2) | {"rounds": len(samples)}


def report(figures: dict[str, Any]) -> None:
    samples = figures.pop("samples")
    table = {phase: {bot: _summary(values) for bot, values in by_bot.items() if values}
             for phase, by_bot in samples.items() if phase != "warm-up"}  # fmt: skip
    idle = table["idle"]
    print(f"\n!ping round trip, {figures['mentors']:,} mentors, {figures['entries']:,} entries\n")
    print(f"{'phase':<10}{'bot':<10}{'rounds':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
          f"{'p95/idle':>10}{'ours/echo':>11}")  # fmt: skip
    ratios: dict[str, float] = {}
    for phase in ("idle", "checkin", "copy", "drop"):
        for bot, f in table.get(phase, {}).items():
            ratio = f["p95_ms"] / idle[bot]["p95_ms"]
            if bot == "ours" and phase != "idle":
                ratios[phase] = round(ratio, 2)
            versus = f["p95_ms"] / table[phase]["baseline"]["p95_ms"] if bot == "ours" else None
            print(f"{phase:<10}{bot:<10}{f['rounds']:>7}{f['p50_ms']:>9.1f}{f['p95_ms']:>9.1f}"
                  f"{f['max_ms']:>9.1f}{ratio:>10.2f}"
                  f"{f'{versus:.2f}' if versus else '':>11}")  # fmt: skip
    met = all(r <= GOAL for r in ratios.values())
    figures |= {"table": table, "ratios_p95": ratios, "goal": GOAL, "goal_met": met}
    print(f"\nphase durations (s): {figures['phase_seconds']}")
    print(f"our bot, p95 over idle: {ratios}; goal ≤ {GOAL}: {'met' if met else 'NOT met'}")
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--mentors", type=int, default=1_000, help="mentors the check-in round goes to")
    add("--entries", type=int, default=10_000, help="entries of the directory room")
    add("--pings", type=int, default=50, help="idle rounds, before and after the load")
    add("--warmup", type=int, default=5, help="unmeasured rounds first")
    add("--cycles", type=int, default=2, help="copies and drops of the directory room")
    add("--keep", action="store_true", help="keep the bot's data and logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with scratch_folder("bench-responsive-", args.keep) as folder:
        figures = asyncio.run(measure(args, folder))
    report(figures)
    save("responsiveness", {"args": {k: v for k, v in vars(args).items() if k != "keep"}}
         | figures)  # fmt: skip
    return 0  # a measurement, not a test: the goal is reported, not enforced


if __name__ == "__main__":
    sys.exit(main())
