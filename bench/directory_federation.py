"""The federated directory across two real Synapses: how fast a mirror takes in a directory
room's entries, and how soon an organisation published on A is searchable on B.

    .venv/bin/python bench/directory_federation.py [--entries 10000] [--rounds 50]

Two homeservers federate over TLS on loopback (`core.homeserver.federated_pair`); network A's
bot runs on hs1 and network B's on hs2, both in this process (encryption off, 30 s sync
long-poll), A made the European space, B joined it and A approved it: B follows A's
directory room. Then:

1. ingest, live: A's account puts `--entries` organisation state events into its directory
   room, `--concurrency` requests in flight; until B's directory holds them all. Baseline, in
   the same run: a bare matrix-nio client on hs2 that long-polls /sync in that room;
2. ingest, initial copy: a third instance C on hs2 follows the full room (`Mirror.follow`),
   and B unfollows and follows it again. Baseline: a bare GET of the room's /state;
3. propagation, `--rounds` each, alternating: `put_state` on A returning → B's
   `Directory.search` finds it (polled every 2 ms), against a plain `m.room.message` from a
   nio client on hs1 → seen in a nio client's /sync on hs2. Goal: ratio ≤ 1.5.

Prints a table and writes bench/results/directory_federation.json; exits 0 (a measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import platform
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.app import App  # noqa: E402
from core.config import parse_config  # noqa: E402
from core.homeserver import LocalSynapse, federated_pair, free_port  # noqa: E402
from core.logs import TextFormatter  # noqa: E402
from core.rooms import MatrixError  # noqa: E402
from directory.bot import DirectoryBot  # noqa: E402
from directory.hsds import to_published, validate  # noqa: E402
from federation import membership  # noqa: E402
from federation.rooms import KEY_DIRECTORY_ROOM, KEY_SPACE, ORGANIZATION  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "directory_federation.json"
GOAL = 1.5
SYNC_TIMEOUT_MS = 30_000
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
        self.app = App(parse_config(config))
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def account(self) -> Any:
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


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)
    return result


# --- bare matrix-nio clients (the baselines) -----------------------------------------------


class Client:
    """A bare matrix-nio client on one homeserver, long-polling its own /sync."""

    def __init__(self, hs: LocalSynapse, user_id: str) -> None:
        self.hs = hs
        self.client = nio.AsyncClient(hs.url, user_id)
        self.filter_id: str | None = None

    async def login(self, password: str, room_filter: dict[str, Any]) -> None:
        response = await self.client.login(password)
        if not isinstance(response, nio.LoginResponse):
            raise RuntimeError(f"login: {response}")
        uploaded = await self.client.upload_filter(
            presence={"types": []}, account_data={"types": []}, room=room_filter
        )
        self.filter_id = getattr(uploaded, "filter_id", None)

    async def join(self, room_id: str, via: list[str]) -> None:
        query = "&".join(f"server_name={quote(s, safe='')}" for s in via)
        path = f"/_matrix/client/v3/join/{quote(room_id, safe='')}?{query}"
        response = await self.client.send(
            "POST", path, "{}", headers={"Authorization": f"Bearer {self.client.access_token}"}
        )
        if response.status != 200:
            raise RuntimeError(f"joining {room_id}: {response.status} {await response.text()}")

    async def sync(self, timeout: int) -> nio.SyncResponse:
        response = await self.client.sync(timeout=timeout, sync_filter=self.filter_id)
        if not isinstance(response, nio.SyncResponse):
            raise RuntimeError(f"sync: {response}")
        return response


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

    def __init__(self, client: Client, room_id: str) -> None:
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
            self.limited += bool(room and room.timeline.limited)
            for events, seen in ((room.state, self.via_state), (room.timeline.events,
                                 self.via_timeline)) if room else ():  # fmt: skip
                for event in events:
                    if event.source.get("type") == ORGANIZATION and "state_key" in event.source:
                        seen.add(event.source["state_key"])
            now = time.perf_counter() - start
            self.progress.note(len(self.via_state | self.via_timeline), now)
            self.timeline.note(len(self.via_timeline), now)


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

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.instances: list[Instance] = []
        self.clients: list[Client] = []
        self.servers: tuple[LocalSynapse, ...] = ()

    async def start(self) -> None:
        self.servers = hs1, hs2 = await federated_pair(self.folder / "synapse")
        self.hs1, self.hs2 = hs1, hs2
        self.users: dict[str, tuple[str, str]] = {}
        for name, hs in (("a", hs1), ("b", hs2), ("c", hs2), ("sender", hs1),
                         ("watcher", hs2), ("receiver", hs2)):  # fmt: skip
            password = secrets.token_hex(12)
            self.users[name] = (await hs.register(f"bench-{name}", password), password)
            await hs.exempt_from_rate_limits(self.users[name][0])
        # A needs no tick (it follows B's room from the space's live event); B's tick notices
        # the space it joined and follows A's room.
        self.a = Instance(hs1, *self.users["a"], self.folder / "a", "Network A", tick=600)
        self.b = Instance(hs2, *self.users["b"], self.folder / "b", "Network B", tick=1)
        self.instances += [self.a, self.b]
        await asyncio.gather(self.a.start(), self.b.start())
        a, b = self.a, self.b
        space = await membership.start_space(a.account, a.app.config, "Europe")
        self.space = space.space_id
        joined = await membership.join_space(b.account, b.app.config, self.space, [hs1.server_name])
        await membership.approve(a.account, joined.room_id, [hs2.server_name])
        self.room = room = a.app.store.get(KEY_DIRECTORY_ROOM)
        await until(lambda: room in b.dir.mirror.followed(), 60, "B does not follow A's room")
        await until(lambda: joined.room_id in a.dir.mirror.followed(), 60, "A does not follow B")

        self.watcher = Client(hs2, self.users["watcher"][0])
        self.sender = Client(hs1, self.users["sender"][0])
        self.receiver = Client(hs2, self.users["receiver"][0])
        self.clients += [self.watcher, self.sender, self.receiver]
        await self.watcher.login(self.users["watcher"][1], org_filter(room))
        await self.watcher.join(room, [hs1.server_name])
        await self.sender.login(self.users["sender"][1], {"rooms": []})
        receiver = self.users["receiver"][0]
        created = await self.sender.client.room_create(invite=[receiver], name="bench")
        if not isinstance(created, nio.RoomCreateResponse):
            raise RuntimeError(f"creating the message room: {created}")
        self.chat = created.room_id
        await self.receiver.login(self.users["receiver"][1], message_filter(self.chat, receiver))
        await self.receiver.join(self.chat, [hs1.server_name])

    async def stop(self) -> None:
        for client in self.clients:
            await client.client.close()
        for instance in self.instances:
            await instance.stop()
        await asyncio.gather(*(hs.stop() for hs in self.servers))


# --- the phases ---------------------------------------------------------------------------


Entries = Iterator[tuple[str, dict[str, Any]]]


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
    errors: list[str] = []
    sent: list[float] = []
    start = time.perf_counter()
    deadline = start + budget

    async def sender() -> None:
        for state_key, content in entries:
            try:
                await a.account.rooms.put_state(room, ORGANIZATION, state_key, content)
                sent.append(time.perf_counter() - start)
            except MatrixError as error:
                errors.append(str(error))
            if time.perf_counter() > deadline:
                return

    async def report() -> None:
        while True:
            await asyncio.sleep(15)
            print(
                f"  {time.perf_counter() - start:6.1f} s: sent {len(sent)}, bare /sync"
                f" {watch.progress.count}, B {mirror_b.count}, A (own room) {own_a.count}",
                flush=True,
            )

    counters = [
        (mirror_b, lambda: b.dir.directory.room_listing_count(room) - base_b),
        (own_a, lambda: a.dir.directory.room_listing_count(room) - base_a),
    ]
    tasks = [
        asyncio.create_task(watch.run(start)),
        asyncio.create_task(count_stores(counters, start)),
        asyncio.create_task(report()),
    ]
    try:
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        send_seconds = time.perf_counter() - start
        total = len(sent)
        print(f"  sent {total} in {send_seconds:.1f} s ({total / send_seconds:.1f}/s)", flush=True)
        # Wait until everyone holds everything, or nobody has moved for --stall seconds.
        receivers = [watch.progress, mirror_b, own_a]
        while any(p.count < total for p in receivers):
            now = time.perf_counter() - start
            last = max(p.samples[-1][0] if p.samples else 0 for p in receivers)
            if now - max(last, send_seconds) > args.stall:
                break
            await asyncio.sleep(0.1)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    in_timeline = len(watch.via_timeline)
    figures: dict[str, Any] = {
        "entries": total,
        "concurrency": concurrency,
        "send": {
            "seconds": round(send_seconds, 3),
            "rate_per_s": round(total / send_seconds, 1),
            "budget_s": budget,
            "errors": len(errors),
            "first_error": errors[0] if errors else None,
        },
        "bare_sync": {
            **watch.progress.figures(total),
            "via_timeline": in_timeline,
            "only_in_state_section": len(watch.via_state - watch.via_timeline),
            "limited_syncs": watch.limited,
        },
        "mirror_b": mirror_b.figures(total),
        "mirror_a_own_room": own_a.figures(total),
    }
    synced, mirrored = watch.progress.when(total), mirror_b.when(total)
    if synced and mirrored:
        figures["mirror_lag_after_sync_s"] = round(mirrored - synced, 3)
        figures["ratio_all"] = round(mirrored / synced, 3)
    # What the mirror can see: the entries that came as timeline events.
    synced, mirrored = watch.timeline.when(in_timeline), mirror_b.when(in_timeline)
    if in_timeline and synced and mirrored:
        figures["mirror_lag_after_sync_timeline_s"] = round(mirrored - synced, 3)
    return figures


async def initial_copy(rig: Rig) -> dict[str, Any]:
    """A fresh instance C follows the full room; B unfollows it and follows it again."""
    c = Instance(rig.hs2, *rig.users["c"], rig.folder / "c", "Network C", tick=600)
    try:
        return await _initial_copy(c, rig.b, rig.room, [rig.hs1.server_name], rig.space)
    finally:
        await c.account.client.close()
        c.app.store.close()


async def _initial_copy(
    c: Instance, b: Instance, room: str, via: list[str], space: str
) -> dict[str, Any]:
    account = c.account
    await account.login()
    c.app.store.put(KEY_SPACE, space)  # C counts the room only as a child of its space
    started = time.perf_counter()
    await account.rooms.join(room, via)
    join_seconds = time.perf_counter() - started
    fetches = []
    for _ in range(3):  # the transport alone: what the mirror downloads, parsed
        started = time.perf_counter()
        state = await account.rooms.state(room)
        fetches.append(time.perf_counter() - started)
    orgs = sum(1 for event in state if event["type"] == ORGANIZATION)
    state_seconds = statistics.median(fetches)

    async def timed(work: Callable[[], Awaitable[int]]) -> tuple[int, float, float]:
        with LoopLag() as lag:
            started = time.perf_counter()
            result = await work()
            return result, time.perf_counter() - started, lag.worst

    accepted_c, follow_c, lag_c = await timed(lambda: c.dir.mirror.follow(account, room, via))
    held_c = c.dir.directory.room_listing_count(room)
    started = time.perf_counter()
    dropped = b.dir.mirror.unfollow(room)
    unfollow_b = time.perf_counter() - started
    accepted_b, follow_b, lag_b = await timed(lambda: b.dir.mirror.follow(b.account, room, via))
    return {
        "entries_in_room": orgs,
        "state_bytes_approx": len(json.dumps(state)),
        "join_s": round(join_seconds, 3),
        "bare_state_get_s": round(state_seconds, 3),
        "bare_state_rate_per_s": round(orgs / state_seconds, 1),
        "follow_c": {
            "accepted": accepted_c,
            "held": held_c,
            "seconds": round(follow_c, 3),
            "rate_per_s": round(accepted_c / follow_c, 1),
            "loop_blocked_max_s": round(lag_c, 3),
        },
        "unfollow_b": {"dropped": dropped, "seconds": round(unfollow_b, 3)},
        "refollow_b": {
            "accepted": accepted_b,
            "seconds": round(follow_b, 3),
            "rate_per_s": round(accepted_b / follow_b, 1),
            "loop_blocked_max_s": round(lag_b, 3),
        },
        "ratio_follow_c_to_state_get": round(follow_c / state_seconds, 2),
    }


async def propagation(args: argparse.Namespace, rig: Rig) -> dict[str, Any]:
    """Rounds in turn: an organisation published on A → searchable on B (`directory`); a
    message from a nio client on hs1 → in a nio client's /sync on hs2 (`message`, the
    goal's baseline); an organisation published on A → in a bare nio client's /sync on hs2
    (`state_bare`: the same kind of event without our mirror)."""
    a, b, room, sender, receiver, chat = rig.a, rig.b, rig.room, rig.sender, rig.receiver, rig.chat
    rng = random.Random(7)
    await receiver.sync(0)
    await rig.watcher.sync(0)
    kinds = ("directory", "message", "state_bare")
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    calls: dict[str, list[float]] = {kind: [] for kind in kinds}

    async def publish() -> tuple[str, str, float, float]:
        token = "zq" + "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(8))
        org = validate(make_record(rng, f"prop-{token}", f"Propagation {token}"))
        started = time.perf_counter()
        event_id = await a.account.rooms.put_state(room, ORGANIZATION, org.id, to_published(org))
        return token, event_id, started, time.perf_counter()

    async def directory_round() -> tuple[float, float]:
        token, _, started, published = await publish()
        directory = b.dir.directory
        while time.perf_counter() - published < ROUND_TIMEOUT:
            if directory.search(token).total:
                return time.perf_counter() - published, published - started
            await asyncio.sleep(POLL_SECONDS)
        raise TimeoutError(f"{token} not searchable on B within {ROUND_TIMEOUT} s")

    async def seen(client: Client, room_id: str, event_id: str, since: float) -> float:
        while time.perf_counter() - since < ROUND_TIMEOUT:
            response = await client.sync(SYNC_TIMEOUT_MS)
            joined = response.rooms.join.get(room_id)
            events = [*joined.state, *joined.timeline.events] if joined else []
            if any(event.event_id == event_id for event in events):
                return time.perf_counter() - since
        raise TimeoutError(f"{event_id} not seen on hs2 within {ROUND_TIMEOUT} s")

    async def state_bare_round() -> tuple[float, float]:
        _, event_id, started, published = await publish()
        return await seen(rig.watcher, room, event_id, published), published - started

    async def message_round() -> tuple[float, float]:
        started = time.perf_counter()
        sent = await sender.client.room_send(
            chat, "m.room.message", {"msgtype": "m.text", "body": f"ping {started}"}
        )
        if not isinstance(sent, nio.RoomSendResponse):
            raise RuntimeError(f"sending a message: {sent}")
        returned = time.perf_counter()
        return await seen(receiver, chat, sent.event_id, returned), returned - started

    rounds = {"directory": directory_round, "message": message_round,
              "state_bare": state_bare_round}  # fmt: skip
    for round_ in range(args.warmup + args.rounds):
        shift = round_ % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:
            latency, call = await rounds[kind]()
            if round_ >= args.warmup:
                samples[kind].append(latency)
                calls[kind].append(call)
    figures: dict[str, Any] = {
        kind: summarize(samples[kind]) | {"send_call_p50_ms": _ms(statistics.median(calls[kind]))}
        for kind in kinds
    }
    ratios = {k: round(figures["directory"][f"{k}_ms"] / figures["message"][f"{k}_ms"], 3)
              for k in ("p50", "p95")}  # fmt: skip
    mirror_ratio = {k: round(figures["directory"][f"{k}_ms"] / figures["state_bare"][f"{k}_ms"], 3)
                    for k in ("p50", "p95")}  # fmt: skip
    return {
        **figures,
        "ratio": ratios,
        "ratio_to_bare_state": mirror_ratio,
        "goal": GOAL,
        "goal_met": max(ratios.values()) <= GOAL,
    }


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


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def summarize(samples: list[float]) -> dict[str, float | int]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "rounds": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(statistics.quantiles(ms, n=20, method="inclusive")[18], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(ms[-1], 2),
    }


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
    bare = live["bare_sync"]
    print(f"bare /sync: {bare['via_timeline']} came as timeline events,"
          f" {bare['only_in_state_section']} only in a sync's `state` section (a federation gap);"
          f" {bare['limited_syncs']} limited syncs")  # fmt: skip
    if "ratio_all" in live:
        print(f"B's mirror held all {live['mirror_lag_after_sync_s']:.2f} s after the bare"
              f" /sync (ratio of the 'all' times {live['ratio_all']:.2f})")  # fmt: skip
    else:
        print(f"B's mirror is MISSING {live['mirror_b']['missing']} of {n} entries", end="")
        lag = live.get("mirror_lag_after_sync_timeline_s")
        if lag is not None:
            print(f"; it held the {bare['via_timeline']} timeline ones {lag:.2f} s after the bare"
                  " /sync")  # fmt: skip
        else:
            print()


def report(figures: dict[str, Any]) -> None:
    live, copy, prop = figures["live"], figures["initial_copy"], figures["propagation"]
    sent = live["entries"] + figures.get("live_sequential", {}).get("entries", 0)
    if sent < figures["entries_asked"]:
        rate = live["send"]["rate_per_s"]
        print(f"\nsent {sent} of the {figures['entries_asked']} entries asked within the send"
              f" budgets; at {rate:.1f}/s all would take"
              f" {figures['entries_asked'] / rate / 60:.0f} min")  # fmt: skip
    if "live_sequential" in figures:
        _live_table("1a. live ingest, sequential", figures["live_sequential"])
    _live_table("1a. live ingest, concurrent", live)
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
    if figures.get("publish"):
        p = figures["publish"]
        rate = _f(p["rate_per_s"], ".1f")
        print(f"\nDirectoryBot.publish() of {p['records']} local records: {p['seconds']:.1f} s"
              f" ({rate}/s, one request at a time)")  # fmt: skip
    print(f"\n2. propagation A → B, {prop['directory']['rounds']} rounds each, alternating\n")
    print(f"{'path':<42}{'p50 ms':>8}{'p95 ms':>8}{'mean ms':>9}{'max ms':>8}{'send ms':>9}")
    for label, key in (("organisation: put_state → B's search", "directory"),
                       ("m.room.message: room_send → hs2 /sync", "message"),
                       ("organisation: put_state → hs2 bare /sync", "state_bare")):  # fmt: skip
        f = prop[key]
        print(f"{label:<42}{f['p50_ms']:>8.1f}{f['p95_ms']:>8.1f}{f['mean_ms']:>9.1f}"
              f"{f['max_ms']:>8.1f}{f['send_call_p50_ms']:>9.1f}")  # fmt: skip
    ratio = prop["ratio"]
    print(f"(from the send call returning; 'send ms' is the call itself, p50)\n"
          f"ratio organisation/message: p50 {ratio['p50']:.2f}, p95 {ratio['p95']:.2f};"
          f" goal ≤ {GOAL}: {'met' if prop['goal_met'] else 'NOT met'}")  # fmt: skip
    bare = prop["ratio_to_bare_state"]
    print(f"organisation searchable on B / the same kind of event in a bare /sync on hs2:"
          f" p50 {bare['p50']:.2f}, p95 {bare['p95']:.2f}")  # fmt: skip


def save(figures: dict[str, Any], args: argparse.Namespace) -> None:
    data = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": {k: v for k, v in vars(args).items() if k != "keep"},
        "python": platform.python_version(),
        "matrix-nio": version("matrix-nio"),
        "matrix-synapse": version("matrix-synapse"),
        **figures,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")


# --- the run -----------------------------------------------------------------------------


async def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    began = time.perf_counter()
    rig = Rig(folder)
    try:
        await rig.start()
        print(f"set up in {time.perf_counter() - began:.1f} s; live ingest…", flush=True)
        figures: dict[str, Any] = {"entries_asked": args.entries}
        entries = iter(make_entries(args.entries, secrets.token_hex(3)))
        if args.sequential_budget > 0:  # one at a time, as DirectoryBot.publish() sends
            first = list(itertools.islice(entries, max(1, args.entries // 10)))
            figures["live_sequential"] = await live_ingest(
                args, rig, iter(first), 1, args.sequential_budget
            )
            print("live ingest, concurrent…", flush=True)
        figures["live"] = await live_ingest(args, rig, entries, args.concurrency, args.send_budget)
        print("initial copy…", flush=True)
        figures["initial_copy"] = await initial_copy(rig)
        print("propagation…", flush=True)
        figures["propagation"] = await propagation(args, rig)
        if args.publish_sample:
            figures["publish"] = await publish_sample(args, rig.a)
        figures["wall_seconds"] = round(time.perf_counter() - began, 1)
        return figures
    finally:
        await rig.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000, help="state events A sends")
    parser.add_argument("--concurrency", type=int, default=12, help="sends in flight")
    parser.add_argument(
        "--sequential-budget",
        type=float,
        default=60,
        help="seconds of sending one at a time first (at most a tenth of --entries; 0: skip)",
    )
    parser.add_argument(
        "--send-budget",
        type=float,
        default=300,
        help="stop sending after this many seconds (a full run stays < 10 min)",
    )
    parser.add_argument(
        "--stall",
        type=float,
        default=30,
        help="stop waiting once no receiver got anything for this long",
    )
    parser.add_argument("--rounds", type=int, default=50, help="propagation rounds per path")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured rounds per path")
    parser.add_argument(
        "--publish-sample",
        type=int,
        default=100,
        help="records published by DirectoryBot.publish() (0: skip)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
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
    save(figures, args)
    return 0  # a measurement, not a test: the goal is reported, not enforced


if __name__ == "__main__":
    sys.exit(main())
