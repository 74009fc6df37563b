"""The federated directory across two real Synapses: how fast a mirror takes in a directory
room's entries, and how soon an organisation published on A is searchable on B.

    .venv/bin/python bench/directory_federation.py [--entries 10000] [--rounds 50]
    .venv/bin/python bench/directory_federation.py --entries 500 --rounds 10   # ~1.5 min

Two homeservers federate over TLS on loopback (`devtools.homeserver.federated_pair`); network A's
bot runs on hs1 and network B's on hs2, both in this process (encryption off, 30 s sync
long-poll); A made the European space, B joined it and A approved it: B follows A's
directory room. Then:

1. ingest, live: A's account puts `--entries` organisation state events into its directory
   room (a tenth one at a time, the rest `--concurrency` in flight) until B's directory holds
   them all. Baseline, in the same run: a bare matrix-nio client on hs2 long-polling /sync in
   that room. Also reported: the time B's event handler spent per entry (its capacity);
2. ingest, initial copy: a third instance C on hs2 follows the full room (`Mirror.follow`),
   and B unfollows and follows it again. Baseline: a bare GET of the room's /state;
3. propagation, `--rounds` each, alternating: `put_state` on A returning → B's
   `Directory.search` finds it (polled every 2 ms), against a plain `m.room.message` from a
   nio client on hs1 → seen in a nio client's /sync on hs2 (goal: ratio ≤ 1.5), and the same
   organisation event → a bare nio /sync on hs2. Where the time goes is read afterwards
   from both homeservers' databases (when each persisted each event).

Prints a table and writes bench/results/directory_federation.json; exits 0 (a measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import random
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    SYNC_TIMEOUT_MS,
    BareClient,
    load_average,
    ratios,
    save,
    summarize,
)
from bots import BOTS  # noqa: E402
from core.account import Account, Incoming  # noqa: E402
from core.app import App  # noqa: E402
from core.config import parse_config  # noqa: E402
from core.logs import TextFormatter  # noqa: E402
from core.rooms import MatrixError  # noqa: E402
from devtools.homeserver import LocalSynapse, federated_pair, free_port  # noqa: E402
from directory.bot import DirectoryBot  # noqa: E402
from directory.hsds import to_published, validate  # noqa: E402
from federation import membership  # noqa: E402
from federation.rooms import KEY_DIRECTORY_ROOM, KEY_SPACE, ORGANIZATION  # noqa: E402

GOAL = 1.5
POLL_SECONDS = 0.002  # propagation: how often B's directory is searched
COUNT_POLL_SECONDS = 0.01  # ingest: how often the stores are counted
ROUND_TIMEOUT = 30.0

log = logging.getLogger("bench")

# --- generated organisations --------------------------------------------------------------

CITIES = {
    "DE": ["Berlin", "München", "Köln", "Leipzig"],
    "BE": ["Brussels", "Gent", "Liège"],
    "NL": ["Amsterdam", "Utrecht"],
    "FR": ["Paris", "Lyon", "Lille"],
    "IT": ["Roma", "Padova"],
    "PL": ["Warszawa", "Kraków"],
    "FI": ["Helsinki", "Jyväskylä"],
    "ES": ["Madrid", "València"],
}
WORDS = (
    "mentoring refugees migrants integration volunteers job support community women youth"
    " education housing counselling buddy network training language school families health"
    " Patenschaft Beratung Begleitung accompagnement bénévoles inburgering vrijwilligers"
).split()
KINDS = ["Verein", "Foundation", "Association", "Network", "Initiative", "Collectif"]
GROUPS = ["refugees", "migrants", "women", "youth", "students", "families"]
LANGS = ["en", "de", "fr", "nl", "it", "pl", "ar", "uk"]


def make_record(rng: random.Random, org_id: str, name: str) -> dict[str, Any]:
    """One valid organisation of a realistic size (~1 kB published)."""
    country = rng.choice(list(CITIES))
    city = rng.choice(CITIES[country])
    languages = rng.sample(LANGS, rng.randint(1, 3))
    return {
        "id": org_id,
        "name": name,
        "description": " ".join(rng.choice(WORDS) for _ in range(40)).capitalize() + ".",
        "website": f"https://{org_id}.example.eu",
        "languages": languages,
        "locations": [
            {"city": city, "country": country, "postal_code": str(rng.randint(1000, 99999))}
        ],
        "services": [
            {
                "name": f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {number}",
                "description": " ".join(rng.choice(WORDS) for _ in range(15)),
                "target_groups": rng.sample(GROUPS, rng.randint(1, 2)),
                "languages": languages[:1],
            }
            for number in range(1, rng.randint(2, 4))
        ],
    }


def make_entries(count: int, tag: str, seed: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """(state key, content) of `count` valid organisations, unique ids, names and websites."""
    rng = random.Random(seed)
    entries = []
    for index in range(count):
        org_id = f"bench-{tag}-{index}"
        name = f"{rng.choice(WORDS).capitalize()} {rng.choice(KINDS)} {index}"
        org = validate(make_record(rng, org_id, name))
        entries.append((org.id, to_published(org)))
    return entries


# --- our bots, in this process ------------------------------------------------------------


class Instance:
    """One mentornet instance (App) run in this event loop, as `main.py run` would run it."""

    def __init__(
        self, hs: LocalSynapse, user_id: str, password: str, folder: Path, network: str, tick: float
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "matrix": {"homeserver": hs.url, "user_id": user_id, "password": password,
                       "encryption": False, "invites": {"allow_servers": [hs.server_name]},
                       "sync_timeout_ms": SYNC_TIMEOUT_MS, "max_backoff_seconds": 1},
            "storage": {"database": str(folder / "mentornet.db")},
            "web": {"listen": f"127.0.0.1:{free_port()}"},
            "bots": {"tick_seconds": tick},
            "directory": {"network": network},
            "logging": {"level": "WARNING"},
        }  # fmt: skip
        self.app = App(parse_config(config), BOTS)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def account(self) -> Account:
        return self.app.account

    @property
    def dir(self) -> DirectoryBot:
        return next(bot for bot in self.app.bots if isinstance(bot, DirectoryBot))

    async def start(self, timeout: float = 60) -> None:
        self._task = asyncio.create_task(self.app.run(self._stop))
        deadline = time.monotonic() + timeout
        while self.app.account.last_sync is None:
            if self._task.done():
                self._task.result()
            if time.monotonic() > deadline:
                raise TimeoutError("the bot did not finish its first sync")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(task, 30)
        except Exception:  # a failure while stopping must not hide the figures
            log.exception("stopping a bot")


class HandlerTimer:
    """Wraps an account's event handler: how long handling the room's events took, in all."""

    def __init__(self, account: Account, room_id: str) -> None:
        self.account, self.room_id = account, room_id
        self.events, self.seconds = 0, 0.0
        self._inner = account.handle

    async def _timed(self, account: Account, incoming: Incoming) -> None:
        started = time.perf_counter()
        try:
            await self._inner(account, incoming)
        finally:
            if incoming.room_id == self.room_id:
                self.events += 1
                self.seconds += time.perf_counter() - started

    def __enter__(self) -> HandlerTimer:
        self.account.handle = self._timed
        return self

    def __exit__(self, *exc: object) -> None:
        self.account.handle = self._inner

    def figures(self) -> dict[str, Any]:
        per_event = self.seconds / self.events if self.events else None
        return {
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "ms_per_entry": _r(per_event * 1000 if per_event else None, 2),
            "capacity_per_s": _r(1 / per_event if per_event else None, 0),
        }


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)
    return result


def org_filter(room_id: str) -> dict[str, Any]:
    """Only the directory room's organisation events, in the timeline and (gaps) in state."""
    return {
        "rooms": [room_id],
        "timeline": {"types": [ORGANIZATION], "limit": 1000},
        "state": {"types": [ORGANIZATION]},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    }


def message_filter(room_id: str, me: str) -> dict[str, Any]:
    """Only others' messages in one room."""
    return {
        "rooms": [room_id],
        "timeline": {"types": ["m.room.message"], "not_senders": [me], "limit": 50},
        "state": {"types": []},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    }


# --- progress of an ingest ----------------------------------------------------------------


class Progress:
    """How many entries one receiver held when (seconds from the first send)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []

    @property
    def count(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    @property
    def last_change(self) -> float:
        return self.samples[-1][0] if self.samples else 0.0

    def note(self, count: int, at: float) -> None:
        if count != self.count:
            self.samples.append((at, count))

    def when(self, count: int) -> float | None:
        """When the receiver first held at least `count` entries."""
        return next((at for at, held in self.samples if held >= count), None)

    def figures(self, total: int) -> dict[str, Any]:
        first, done = self.when(1), self.when(total)
        arriving = done - first if done is not None and first is not None else None
        return {
            "held": self.count,
            "missing": total - self.count,
            "first_s": _r(first),
            "half_s": _r(self.when((total + 1) // 2)),
            "all_s": _r(done),
            "rate_per_s": _r(total / done if done else None, 1),
            "rate_once_arriving_per_s": _r(total / arriving if arriving else None, 1),
        }


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


class SyncWatch:
    """The baseline: a bare client's /sync, noting organisation state keys as they arrive
    (in the timeline, or only in the `state` section when the server filled a gap)."""

    def __init__(self, client: BareClient, room_id: str) -> None:
        self.client, self.room_id = client, room_id
        self.progress = Progress()  # every entry, however it came
        self.timeline = Progress()  # only those that came as timeline events
        self.via_timeline: set[str] = set()
        self.via_state: set[str] = set()
        self.limited = 0  # syncs whose timeline was cut short

    async def run(self, start: float) -> None:
        while True:
            response = await self.client.sync(SYNC_TIMEOUT_MS)
            room = response.rooms.join.get(self.room_id)
            if room:
                self.limited += room.timeline.limited
                self.via_state |= _state_keys(room.state)
                self.via_timeline |= _state_keys(room.timeline.events)
            now = time.perf_counter() - start
            self.progress.note(len(self.via_state | self.via_timeline), now)
            self.timeline.note(len(self.via_timeline), now)


def _state_keys(events: list[Any]) -> set[str]:
    """The state keys of the organisation events among nio events."""
    sources = (event.source for event in events)
    return {s["state_key"] for s in sources if s.get("type") == ORGANIZATION and "state_key" in s}


async def count_stores(counters: list[tuple[Progress, Callable[[], int]]], start: float) -> None:
    """Count the mirrors' listings every few milliseconds."""
    while True:
        now = time.perf_counter() - start
        for progress, count in counters:
            progress.note(count(), now)
        await asyncio.sleep(COUNT_POLL_SECONDS)


class LoopLag:
    """The longest the event loop went without running a 10 ms ticker (i.e. was blocked)."""

    def __init__(self) -> None:
        self._worst = 0.0
        self._last = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            self._last = time.perf_counter()
            await asyncio.sleep(0.01)
            self._worst = max(self._worst, time.perf_counter() - self._last - 0.01)

    @property
    def worst(self) -> float:
        """So far, including a stretch that is still going on."""
        return max(self._worst, time.perf_counter() - self._last - 0.01)

    def __enter__(self) -> LoopLag:
        self._last = time.perf_counter()
        self._task = asyncio.create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()


# --- the set-up ----------------------------------------------------------------------------


class Rig:
    """Two federating Synapses; bots A (hs1) and B (hs2) in the European space, B following
    A's directory room; bare clients: `watcher` (hs2, in A's directory room), `sender` (hs1)
    and `receiver` (hs2) sharing the room `chat`."""

    USERS = (("a", 0), ("b", 1), ("c", 1), ("sender", 0), ("watcher", 1), ("receiver", 1))

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.instances: list[Instance] = []
        self.clients: list[BareClient] = []
        self.servers: tuple[LocalSynapse, ...] = ()
        self.users: dict[str, tuple[str, str]] = {}

    async def start(self) -> None:
        self.servers = self.hs1, self.hs2 = await federated_pair(self.folder / "synapse")
        for name, server in self.USERS:
            hs, password = self.servers[server], secrets.token_hex(12)
            self.users[name] = (await hs.register(f"bench-{name}", password), password)
            await hs.exempt_from_rate_limits(self.users[name][0])
        await self._start_bots()
        await self._start_clients()

    async def _start_bots(self) -> None:
        """A makes the space, B joins it and A approves B's room; each follows the other's.
        A needs no tick (it follows B's room from the space's live event); B's tick notices
        the space it joined and follows A's room."""
        hs1, hs2 = self.hs1, self.hs2
        self.a = a = Instance(hs1, *self.users["a"], self.folder / "a", "Network A", tick=600)
        self.b = b = Instance(hs2, *self.users["b"], self.folder / "b", "Network B", tick=1)
        self.instances += [a, b]
        await asyncio.gather(a.start(), b.start())
        space = await membership.start_space(a.account, a.app.config, "Europe")
        self.space = space.space_id
        joined = await membership.join_space(b.account, b.app.config, self.space, [hs1.server_name])
        await membership.approve(a.account, joined.room_id, [hs2.server_name])
        self.room = room = a.app.store.get(KEY_DIRECTORY_ROOM)
        await until(lambda: room in b.dir.mirror.followed(), 60, "B does not follow A's room")
        await until(lambda: joined.room_id in a.dir.mirror.followed(), 60, "A does not follow B")

    async def _start_clients(self) -> None:
        self.watcher = BareClient(self.hs2, self.users["watcher"][0])
        self.sender = BareClient(self.hs1, self.users["sender"][0])
        self.receiver = BareClient(self.hs2, self.users["receiver"][0])
        self.clients += [self.watcher, self.sender, self.receiver]
        await self.watcher.login(self.users["watcher"][1], org_filter(self.room))
        await self.watcher.join(self.room, [self.hs1.server_name])
        await self.sender.login(self.users["sender"][1], {"rooms": []})
        receiver = self.users["receiver"][0]
        created = await self.sender.client.room_create(invite=[receiver], name="bench")
        if not isinstance(created, nio.RoomCreateResponse):
            raise RuntimeError(f"creating the message room: {created}")
        self.chat = created.room_id
        await self.receiver.login(self.users["receiver"][1], message_filter(self.chat, receiver))
        await self.receiver.join(self.chat, [self.hs1.server_name])

    async def stop(self) -> None:
        for client in self.clients:
            await client.close()
        for instance in self.instances:
            await instance.stop()
        await asyncio.gather(*(hs.stop() for hs in self.servers))


# --- 1a. live ingest ----------------------------------------------------------------------


Entries = Iterator[tuple[str, dict[str, Any]]]


@dataclass
class Sending:
    """A's puts of one live ingest: when each returned (seconds from the start), errors."""

    start: float
    deadline: float
    sent: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def send_all(self, a: Instance, room: str, entries: Entries) -> None:
        """Put entries one after the other until none are left or the budget is spent."""
        for state_key, content in entries:
            try:
                await a.account.rooms.put_state(room, ORGANIZATION, state_key, content)
                self.sent.append(time.perf_counter() - self.start)
            except MatrixError as error:
                self.errors.append(str(error))
            if time.perf_counter() > self.deadline:
                return

    def figures(self, seconds: float, budget: float) -> dict[str, Any]:
        return {
            "seconds": round(seconds, 3),
            "rate_per_s": round(len(self.sent) / seconds, 1),
            "budget_s": budget,
            "errors": len(self.errors),
            "first_error": self.errors[0] if self.errors else None,
        }


async def live_ingest(
    args: argparse.Namespace, rig: Rig, entries: Entries, concurrency: int, budget: float
) -> dict[str, Any]:
    """A puts entries, `concurrency` requests in flight, for at most `budget` seconds; B's
    mirror and the bare client take them in. Counts are of this phase's entries only."""
    a, b, room = rig.a, rig.b, rig.room
    await rig.watcher.sync(0)  # from now on
    watch = SyncWatch(rig.watcher, room)
    mirror_b, own_a = Progress(), Progress()
    base_b = b.dir.directory.room_listing_count(room)
    base_a = a.dir.directory.room_listing_count(room)
    counters = [
        (mirror_b, lambda: b.dir.directory.room_listing_count(room) - base_b),
        (own_a, lambda: a.dir.directory.room_listing_count(room) - base_a),
    ]
    start = time.perf_counter()
    sending = Sending(start, start + budget)
    tasks = [
        asyncio.create_task(watch.run(start)),
        asyncio.create_task(count_stores(counters, start)),
        asyncio.create_task(_progress_lines(start, sending, watch, mirror_b, own_a)),
    ]
    try:
        with HandlerTimer(b.account, room) as handler_b:
            await asyncio.gather(*(sending.send_all(a, room, entries) for _ in range(concurrency)))
            send_seconds = time.perf_counter() - start
            total = len(sending.sent)
            print(f"  sent {total} in {send_seconds:.1f} s ({total / send_seconds:.1f}/s)")
            receivers = [watch.progress, mirror_b, own_a]
            await _until_received(receivers, total, send_seconds, args.stall, start)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    figures = {
        "entries": total,
        "concurrency": concurrency,
        "send": sending.figures(send_seconds, budget),
        "bare_sync": {
            **watch.progress.figures(total),
            "via_timeline": len(watch.via_timeline),
            "only_in_state_section": len(watch.via_state - watch.via_timeline),
            "limited_syncs": watch.limited,
        },
        "mirror_b": mirror_b.figures(total),
        "mirror_a_own_room": own_a.figures(total),
        "handler_b": handler_b.figures(),
    }
    return figures | _lags(watch, mirror_b, total)


async def _until_received(
    receivers: list[Progress], total: int, sent_at: float, stall: float, start: float
) -> None:
    """Until every receiver holds `total`, or none moved for `stall` seconds since the end of
    the sending."""
    while any(p.count < total for p in receivers):
        last = max(sent_at, *(p.last_change for p in receivers))
        if time.perf_counter() - start - last > stall:
            return
        await asyncio.sleep(0.1)


async def _progress_lines(
    start: float, sending: Sending, watch: SyncWatch, mirror_b: Progress, own_a: Progress
) -> None:
    """A line every 15 s, so a long run shows it is alive."""
    while True:
        await asyncio.sleep(15)
        print(
            f"  {time.perf_counter() - start:6.1f} s: sent {len(sending.sent)}, bare /sync"
            f" {watch.progress.count}, B {mirror_b.count}, A (own room) {own_a.count}",
            flush=True,
        )


def _lags(watch: SyncWatch, mirror_b: Progress, total: int) -> dict[str, float]:
    """How much later than the bare /sync B's mirror held everything (or, if it missed some,
    the entries that came as timeline events)."""
    synced, mirrored = watch.progress.when(total), mirror_b.when(total)
    if synced and mirrored:
        return {
            "mirror_lag_after_sync_s": round(mirrored - synced, 3),
            "ratio_all": round(mirrored / synced, 3),
        }
    in_timeline = len(watch.via_timeline)
    synced, mirrored = watch.timeline.when(in_timeline), mirror_b.when(in_timeline)
    if in_timeline and synced and mirrored:
        return {"mirror_lag_after_sync_timeline_s": round(mirrored - synced, 3)}
    return {}


# --- 1b. initial copy ---------------------------------------------------------------------


async def initial_copy(rig: Rig) -> dict[str, Any]:
    """A fresh instance C follows the full room; B unfollows it and follows it again."""
    c = Instance(rig.hs2, *rig.users["c"], rig.folder / "c", "Network C", tick=600)
    try:
        return await _initial_copy(c, rig.b, rig.room, [rig.hs1.server_name], rig.space)
    finally:
        await c.account.client.close()
        c.app.store.close()


async def _timed(work: Callable[[], Awaitable[int]]) -> tuple[int, float, float]:
    """What `work` returned, how long it took and the longest it blocked the event loop."""
    with LoopLag() as lag:
        started = time.perf_counter()
        result = await work()
        return result, time.perf_counter() - started, lag.worst


async def _bare_state(account: Account, room: str) -> tuple[list[dict[str, Any]], float]:
    """The room's /state, and the median of 3 downloads (the transport alone, parsed)."""
    fetches = []
    for _ in range(3):
        started = time.perf_counter()
        state = await account.rooms.state(room)
        fetches.append(time.perf_counter() - started)
    return state, statistics.median(fetches)


async def _initial_copy(
    c: Instance, b: Instance, room: str, via: list[str], space: str
) -> dict[str, Any]:
    account = c.account
    await account.login()
    c.app.store.put(KEY_SPACE, space)  # C counts the room only as a child of its space
    started = time.perf_counter()
    await account.rooms.join(room, via)
    join_seconds = time.perf_counter() - started
    state, state_seconds = await _bare_state(account, room)
    orgs = sum(1 for event in state if event["type"] == ORGANIZATION)
    accepted_c, follow_c, lag_c = await _timed(lambda: c.dir.mirror.follow(account, room, via))
    held_c = c.dir.directory.room_listing_count(room)
    started = time.perf_counter()
    dropped = await b.dir.mirror.unfollow(room)
    unfollow_b = time.perf_counter() - started
    accepted_b, follow_b, lag_b = await _timed(lambda: b.dir.mirror.follow(b.account, room, via))
    return {
        "entries_in_room": orgs,
        "state_bytes_approx": len(json.dumps(state)),
        "join_s": round(join_seconds, 3),
        "bare_state_get_s": round(state_seconds, 3),
        "bare_state_rate_per_s": round(orgs / state_seconds, 1),
        "follow_c": _follow_figures(accepted_c, follow_c, lag_c) | {"held": held_c},
        "unfollow_b": {"dropped": dropped, "seconds": round(unfollow_b, 3)},
        "refollow_b": _follow_figures(accepted_b, follow_b, lag_b),
        "ratio_follow_c_to_state_get": round(follow_c / state_seconds, 2),
    }


def _follow_figures(accepted: int, seconds: float, lag: float) -> dict[str, Any]:
    return {
        "accepted": accepted,
        "seconds": round(seconds, 3),
        "rate_per_s": round(accepted / seconds, 1),
        "loop_blocked_max_s": round(lag, 3),
    }


# --- 2. propagation -------------------------------------------------------------------------


KINDS = ("directory", "message", "state_bare")


@dataclass
class Round:
    """One measured round: from the send call returning to seen; the call itself; the event,
    and when (wall clock) it was seen."""

    kind: str
    latency: float
    call: float
    event_id: str
    seen_at: float

    @property
    def timed_out(self) -> bool:
        """Not seen within ROUND_TIMEOUT: counted as that long, and reported."""
        return self.latency >= ROUND_TIMEOUT


class Propagation:
    """Rounds of three paths from hs1 to hs2 (see `run`)."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.rng = random.Random(7)

    async def run(self, rounds: int, warmup: int) -> list[Round]:
        """Rounds in turn: an organisation published on A → searchable on B (`directory`); a
        message from a nio client on hs1 → in a nio client's /sync on hs2 (`message`, the
        goal's baseline); an organisation published on A → in a bare nio client's /sync on
        hs2 (`state_bare`: the same kind of event without our mirror)."""
        await self.rig.receiver.sync(0)
        await self.rig.watcher.sync(0)
        paths = {"directory": self.directory, "message": self.message,
                 "state_bare": self.state_bare}  # fmt: skip
        measured = []
        for index in range(warmup + rounds):
            shift = index % len(KINDS)
            for kind in KINDS[shift:] + KINDS[:shift]:
                result = await paths[kind]()
                if index >= warmup:
                    measured.append(result)
        return measured

    async def _publish(self) -> tuple[str, str, float, float]:
        """Put a new organisation with a unique word in its name on A."""
        token = "zq" + "".join(self.rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(8))
        org = validate(make_record(self.rng, f"prop-{token}", f"Propagation {token}"))
        started = time.perf_counter()
        event_id = await self.rig.a.account.rooms.put_state(
            self.rig.room, ORGANIZATION, org.id, to_published(org)
        )
        return token, event_id, started, time.perf_counter()

    async def directory(self) -> Round:
        token, event_id, started, published = await self._publish()
        directory = self.rig.b.dir.directory
        while time.perf_counter() - published < ROUND_TIMEOUT:
            if directory.search(token).total:
                latency = time.perf_counter() - published
                return Round("directory", latency, published - started, event_id, time.time())
            await asyncio.sleep(POLL_SECONDS)
        log.warning("not searchable on B in time", extra={"token": token})
        return Round("directory", ROUND_TIMEOUT, published - started, event_id, time.time())

    async def state_bare(self) -> Round:
        _, event_id, started, published = await self._publish()
        latency = await _seen(self.rig.watcher, self.rig.room, event_id, published)
        return Round("state_bare", latency, published - started, event_id, time.time())

    async def message(self) -> Round:
        started = time.perf_counter()
        content = {"msgtype": "m.text", "body": f"ping {started}"}
        sent = await self.rig.sender.client.room_send(self.rig.chat, "m.room.message", content)
        if not isinstance(sent, nio.RoomSendResponse):
            raise RuntimeError(f"sending a message: {sent}")
        returned = time.perf_counter()
        latency = await _seen(self.rig.receiver, self.rig.chat, sent.event_id, returned)
        return Round("message", latency, returned - started, sent.event_id, time.time())


async def _seen(client: BareClient, room_id: str, event_id: str, since: float) -> float:
    """Seconds from `since` to the /sync of `client` that holds the event."""
    while time.perf_counter() - since < ROUND_TIMEOUT:
        response = await client.sync(SYNC_TIMEOUT_MS)
        joined = response.rooms.join.get(room_id)
        events = [*joined.state, *joined.timeline.events] if joined else []
        if any(event.event_id == event_id for event in events):
            return time.perf_counter() - since
    log.warning("not seen on hs2 in time", extra={"event": event_id})
    return ROUND_TIMEOUT


def propagation_figures(measured: list[Round]) -> dict[str, Any]:
    """p50/p95/… per path, the call's p50, and the ratios to the plain message and to the
    bare /sync of the same kind of event."""
    figures: dict[str, Any] = {}
    for kind in KINDS:
        rounds = [r for r in measured if r.kind == kind]
        call_ms = round(statistics.median(r.call for r in rounds) * 1000, 2)
        figures[kind] = summarize([r.latency for r in rounds]) | {
            "send_call_p50_ms": call_ms,
            "timeouts": sum(r.timed_out for r in rounds),
        }
    ratio = ratios(figures["directory"], figures["message"])
    return {
        **figures,
        "ratio": ratio,
        "ratio_to_bare_state": ratios(figures["directory"], figures["state_bare"]),
        "goal": GOAL,
        "goal_met": max(ratio.values()) <= GOAL,
    }


STEPS = ("created_to_persisted_hs1", "persisted_hs1_to_hs2", "persisted_hs2_to_seen")


def where_time_goes(measured: list[Round], hs1_db: Path, hs2_db: Path) -> dict[str, Any]:
    """Per path, the p50 in ms of: the event's origin_server_ts → persisted on hs1 →
    persisted on hs2 → seen by the receiver (read from both Synapses' `events` tables, once
    they stopped; milliseconds of one machine's clock)."""
    ids = [r.event_id for r in measured]
    hs1 = _persisted(hs1_db, ids)
    hs2 = _persisted(hs2_db, ids)
    steps: dict[str, dict[str, list[float]]] = {}
    for r in measured:
        if r.event_id not in hs1 or r.event_id not in hs2:
            continue
        origin, on_hs1 = hs1[r.event_id]
        on_hs2 = hs2[r.event_id][1]
        times = (on_hs1 - origin, on_hs2 - on_hs1, r.seen_at * 1000 - on_hs2)
        kind = steps.setdefault(r.kind, {step: [] for step in STEPS})
        for step, value in zip(STEPS, times, strict=True):
            kind[step].append(value)
    return {
        kind: {step: round(statistics.median(values), 1) for step, values in parts.items()}
        for kind, parts in steps.items()
    }


def _persisted(db: Path, event_ids: list[str]) -> dict[str, tuple[int, int]]:
    """origin_server_ts and received_ts (when this server persisted it) of each event."""
    marks = ", ".join("?" * len(event_ids))
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            f"SELECT event_id, origin_server_ts, received_ts FROM events"
            f" WHERE event_id IN ({marks})",
            event_ids,
        ).fetchall()
    return {event_id: (origin, received) for event_id, origin, received in rows}


# --- 3. DirectoryBot.publish ----------------------------------------------------------------


async def publish_sample(args: argparse.Namespace, a: Instance) -> dict[str, Any]:
    """`DirectoryBot.publish()` (what `!dir add`/`!dir import` call) on `--publish-sample`
    local records: one state event after the other."""
    entries = make_entries(args.publish_sample, "pub-" + secrets.token_hex(3), seed=3)
    orgs = [validate(content["organization"]) for _, content in entries]
    a.dir.directory.save_local_many(orgs)
    started = time.perf_counter()
    sent = await a.dir.publish()
    seconds = time.perf_counter() - started
    return {"records": len(orgs), "published": sent, "seconds": round(seconds, 3),
            "rate_per_s": round(sent / seconds, 1) if sent else None}  # fmt: skip


# --- figures -------------------------------------------------------------------------------


def _f(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _live_table(title: str, live: dict[str, Any]) -> None:
    n, send = live["entries"], live["send"]
    print(f"\n{title}: {n} entries, A sending {live['concurrency']} at a time\n")
    print(f"{'receiver':<28}{'held':>7}{'first s':>9}{'half s':>8}{'all s':>8}{'/s all':>8}"
          f"{'/s arriving':>12}")  # fmt: skip
    print(f"{'A sends (put_state)':<28}{n:>7}{'':>9}{'':>8}{send['seconds']:>8.1f}"
          f"{send['rate_per_s']:>8.1f}")  # fmt: skip
    rows = [("bare nio /sync on hs2", "bare_sync"), ("B's mirror (directory)", "mirror_b"),
            ("A's mirror of its own room", "mirror_a_own_room")]  # fmt: skip
    for label, key in rows:
        f = live[key]
        print(f"{label:<28}{f['held']:>7}{_f(f['first_s'], '9.2f')}{_f(f['half_s'], '8.1f')}"
              f"{_f(f['all_s'], '8.1f')}{_f(f['rate_per_s'], '8.1f')}"
              f"{_f(f['rate_once_arriving_per_s'], '12.1f')}")  # fmt: skip
    bare, handler = live["bare_sync"], live["handler_b"]
    print(f"bare /sync: {bare['via_timeline']} came as timeline events,"
          f" {bare['only_in_state_section']} only in a sync's `state` section (a federation gap);"
          f" {bare['limited_syncs']} limited syncs")  # fmt: skip
    print(f"B's handler: {handler['events']} events, {_f(handler['ms_per_entry'], '.2f')} ms"
          f" each (capacity ~{_f(handler['capacity_per_s'], '.0f')}/s)")  # fmt: skip
    if "ratio_all" in live:
        print(f"B's mirror held all {live['mirror_lag_after_sync_s']:.2f} s after the bare"
              f" /sync (ratio of the 'all' times {live['ratio_all']:.2f})")  # fmt: skip
        return
    print(f"B's mirror is MISSING {live['mirror_b']['missing']} of {n} entries", end="")
    lag = live.get("mirror_lag_after_sync_timeline_s")
    if lag is None:
        print()
    else:
        print(
            f"; it held the {bare['via_timeline']} timeline ones {lag:.2f} s after the bare /sync"
        )


def _copy_table(copy: dict[str, Any]) -> None:
    print(f"\n1b. initial copy of a room holding {copy['entries_in_room']} entries"
          f" (~{copy['state_bytes_approx'] / 1e6:.1f} MB of state)\n")  # fmt: skip
    print(f"{'what':<34}{'seconds':>9}{'entries/s':>11}{'loop blocked s':>16}")
    print(f"{'bare GET /state (median of 3)':<34}{copy['bare_state_get_s']:>9.2f}"
          f"{copy['bare_state_rate_per_s']:>11.0f}")  # fmt: skip
    for label, key in (("C: Mirror.follow (fresh db)", "follow_c"),
                       ("B: Mirror.follow after unfollow", "refollow_b")):  # fmt: skip
        f = copy[key]
        print(f"{label:<34}{f['seconds']:>9.2f}{f['rate_per_s']:>11.0f}"
              f"{f['loop_blocked_max_s']:>16.2f}")  # fmt: skip
    print(f"{'B: Mirror.unfollow (drop all)':<34}{copy['unfollow_b']['seconds']:>9.2f}")
    print(f"Mirror.follow on C / bare GET /state: {copy['ratio_follow_c_to_state_get']:.1f}x")


PATHS = (("organisation: put_state → B's search", "directory"),
         ("m.room.message: room_send → hs2 /sync", "message"),
         ("organisation: put_state → hs2 bare /sync", "state_bare"))  # fmt: skip


def _propagation_table(prop: dict[str, Any]) -> None:
    print(f"\n2. propagation A → B, {prop['directory']['rounds']} rounds each, alternating\n")
    print(f"{'path':<42}{'p50 ms':>8}{'p95 ms':>8}{'mean ms':>9}{'max ms':>8}{'send ms':>9}")
    for label, key in PATHS:
        f = prop[key]
        print(f"{label:<42}{f['p50_ms']:>8.1f}{f['p95_ms']:>8.1f}{f['mean_ms']:>9.1f}"
              f"{f['max_ms']:>8.1f}{f['send_call_p50_ms']:>9.1f}")  # fmt: skip
    timeouts = {key: prop[key]["timeouts"] for _, key in PATHS if prop[key]["timeouts"]}
    if timeouts:
        print(f"rounds not seen within {ROUND_TIMEOUT:.0f} s (counted as that long): {timeouts}")
    ratio, bare = prop["ratio"], prop["ratio_to_bare_state"]
    print(f"(from the send call returning; 'send ms' is the call itself, p50)\n"
          f"ratio organisation/message: p50 {ratio['p50']:.2f}, p95 {ratio['p95']:.2f};"
          f" goal ≤ {GOAL}: {'met' if prop['goal_met'] else 'NOT met'}")  # fmt: skip
    print(f"organisation searchable on B / the same kind of event in a bare /sync on hs2:"
          f" p50 {bare['p50']:.2f}, p95 {bare['p95']:.2f}")  # fmt: skip
    steps = prop.get("where_time_goes") or {}
    if steps:
        print(
            f"\n{'where the time goes, p50 ms':<42}{'made→hs1':>10}{'hs1→hs2':>9}{'hs2→seen':>10}"
        )
    for label, key in PATHS:
        if key in steps:
            s = steps[key]
            print(
                f"{label:<42}{s['created_to_persisted_hs1']:>10.1f}"
                f"{s['persisted_hs1_to_hs2']:>9.1f}{s['persisted_hs2_to_seen']:>10.1f}"
            )


def report(figures: dict[str, Any]) -> None:
    live = figures["live"]
    sent = live["entries"] + figures.get("live_sequential", {}).get("entries", 0)
    if sent < figures["entries_asked"]:
        print(f"\nsent {sent} of the {figures['entries_asked']} entries asked within the send"
              " budgets (--send-budget, --sequential-budget)")  # fmt: skip
    if "live_sequential" in figures:
        _live_table("1a. live ingest, sequential", figures["live_sequential"])
    _live_table("1a. live ingest, concurrent", live)
    _copy_table(figures["initial_copy"])
    if figures.get("publish"):
        p = figures["publish"]
        print(f"\nDirectoryBot.publish() of {p['records']} local records: {p['seconds']:.1f} s"
              f" ({_f(p['rate_per_s'], '.1f')}/s, one request at a time)")  # fmt: skip
    _propagation_table(figures["propagation"])
    print(f"\nload average (1, 5, 15 min): {figures['load_average_at_start']} at the start,"
          f" {load_average()} at the end; {figures['wall_seconds']:.0f} s in all")  # fmt: skip


# --- the run -----------------------------------------------------------------------------


async def ingest(args: argparse.Namespace, rig: Rig) -> dict[str, Any]:
    """Phase 1a: a tenth of the entries one at a time (as DirectoryBot.publish() sends), then
    the rest `--concurrency` at a time."""
    figures: dict[str, Any] = {}
    entries = iter(make_entries(args.entries, secrets.token_hex(3)))
    if args.sequential_budget > 0:
        first = list(itertools.islice(entries, max(1, args.entries // 10)))
        budget = args.sequential_budget
        figures["live_sequential"] = await live_ingest(args, rig, iter(first), 1, budget)
        print("live ingest, concurrent…", flush=True)
    figures["live"] = await live_ingest(args, rig, entries, args.concurrency, args.send_budget)
    return figures


async def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    began = time.perf_counter()
    figures: dict[str, Any] = {
        "entries_asked": args.entries,
        "load_average_at_start": load_average(),
    }
    rig = Rig(folder)
    try:
        await rig.start()
        print(f"set up in {time.perf_counter() - began:.1f} s; live ingest…", flush=True)
        figures |= await ingest(args, rig)
        print("initial copy…", flush=True)
        figures["initial_copy"] = await initial_copy(rig)
        if args.publish_sample:
            figures["publish"] = await publish_sample(args, rig.a)
        print("propagation…", flush=True)
        measured = await Propagation(rig).run(args.rounds, args.warmup)
        figures["propagation"] = propagation_figures(measured)
    finally:
        await rig.stop()
    databases = [hs.data_dir / "homeserver.db" for hs in rig.servers]
    figures["propagation"]["where_time_goes"] = where_time_goes(measured, *databases)
    figures["wall_seconds"] = round(time.perf_counter() - began, 1)
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--entries", type=int, default=10_000, help="state events A sends")
    add("--concurrency", type=int, default=12, help="sends in flight")
    add(
        "--sequential-budget",
        type=float,
        default=120,
        help="seconds of sending one at a time first (at most a tenth of --entries; 0: skip)",
    )
    add(
        "--send-budget",
        type=float,
        default=3600,
        help="stop sending concurrently after this many seconds",
    )
    add(
        "--stall",
        type=float,
        default=30,
        help="stop waiting once no receiver got anything for this long",
    )
    add("--rounds", type=int, default=50, help="propagation rounds per path")
    add("--warmup", type=int, default=3, help="unmeasured rounds per path")
    add(
        "--publish-sample",
        type=int,
        default=100,
        help="records published by DirectoryBot.publish() (0: skip)",
    )
    add("--keep", action="store_true", help="keep the data folder and logs")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-dirfed-"))
    handler = logging.FileHandler(folder / "bots.log")
    handler.setFormatter(TextFormatter())
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(logging.INFO)
    for noisy in ("nio", "aiohttp.access", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        figures = asyncio.run(measure(args, folder))
    finally:
        if args.keep:
            print(f"data and logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    report(figures)
    save("directory_federation", {"args": {k: v for k, v in vars(args).items() if k != "keep"}}
         | figures)  # fmt: skip
    return 0  # a measurement, not a test: the goal is reported, not enforced


if __name__ == "__main__":
    sys.exit(main())
