"""A check-in round to many mentors on one homeserver: seconds until our bot has delivered
every direct message (room + introduction + poll + questions) and seconds until it has stored
every answer, beside a bare matrix-nio client doing the same delivery work in the same run.

    .venv/bin/python bench/checkin_round.py [--mentors 1000] [--senders 8] [--keep]

Our bot runs as `main.py run` in a child process (encryption off); its peak memory is the
VmHWM of that process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import io
import os
import pstats
import secrets
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import nio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    BareClient,
    Child,
    load_average,
    scratch_folder,
    start_ours,
)
from bench.common import save as save_results  # noqa: E402
from bots.checkin.prompts import question_event  # noqa: E402
from bots.checkin.questions import DEFAULTS, Question  # noqa: E402
from bots.checkin.rounds import PARALLEL  # noqa: E402  (our bot's, for the report)
from bots.network.schema import JOINED, Member, NetworkStore  # noqa: E402
from core.i18n import Catalog  # noqa: E402
from core.storage import open_store  # noqa: E402
from core.text import Text  # noqa: E402
from devtools.homeserver import LocalSynapse  # noqa: E402

GOAL = 1.3
SYNC_TIMEOUT_MS = 30_000
PHASE_TIMEOUT = 3600.0
BASELINE_PARALLEL = 8  # mentors the bare client serves at the same time
SETUP_PARALLEL = 16  # registrations, rate-limit exemptions and joins at the same time
NETWORK = "Bench Network"


@dataclass
class User:
    user_id: str
    password: str
    token: str


# --- the homeserver, by plain HTTP ----------------------------------------------------------


class Homeserver:
    """Shared-secret registration, the admin API and a few client calls, on one session."""

    def __init__(self, hs: LocalSynapse, session: aiohttp.ClientSession) -> None:
        self.hs, self.session = hs, session

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for _ in range(20):
            async with self.session.request(
                method, self.hs.url + path, json=body, headers=headers
            ) as response:
                reply = await response.json(content_type=None)
                if response.status == 429:  # should not happen: everyone is exempted
                    await asyncio.sleep(reply.get("retry_after_ms", 500) / 1000)
                    continue
                if response.status != 200:
                    raise RuntimeError(f"{method} {path}: {response.status} {reply}")
                return reply
        raise RuntimeError(f"{method} {path}: still rate-limited")

    async def register(self, localpart: str) -> User:
        """A new user through the shared secret; the reply carries its access token."""
        path = "/_synapse/admin/v1/register"
        nonce = (await self.call("GET", path))["nonce"]
        password = secrets.token_hex(12)
        message = b"\x00".join(p.encode() for p in (nonce, localpart, password, "notadmin"))
        mac = hmac.new(self.hs.registration_secret.encode(), message, hashlib.sha1).hexdigest()
        body = {"nonce": nonce, "username": localpart, "password": password, "admin": False,
                "mac": mac}  # fmt: skip
        reply = await self.call("POST", path, body)
        return User(reply["user_id"], password, reply["access_token"])

    async def exempt(self, user_id: str) -> None:
        """messages_per_second 0 and burst_count 0: no rate limit for this user."""
        path = f"/_synapse/admin/v1/users/{quote(user_id, safe='')}/override_ratelimit"
        body = {"messages_per_second": 0, "burst_count": 0}
        await self.call("POST", path, body, await self.hs.admin_token())

    async def join(self, user: User, room_id: str) -> None:
        await self.call(
            "POST", f"/_matrix/client/v3/join/{quote(room_id, safe='')}", {}, user.token
        )

    async def send(self, user: User, room_id: str, kind: str, content: dict[str, Any]) -> str:
        txn = secrets.token_hex(8)
        path = f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/send/{kind}/{txn}"
        return (await self.call("PUT", path, content, user.token))["event_id"]


async def in_parallel(count: int, jobs: list[Any]) -> list[Any]:
    """Await the coroutines, at most `count` at a time, keeping their order."""
    gate = asyncio.Semaphore(count)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))


# --- our bot and the bare baseline ----------------------------------------------------------


def bot_contents() -> list[tuple[str, dict[str, Any]]]:
    """What our bot sends each mentor with the default questions, in English: the
    introduction, the mood poll and the free-text questions (event type, content)."""
    catalog = Catalog.load()
    questions = [Question(n, kind, key) for n, (kind, key) in enumerate(DEFAULTS, start=1)]
    intro = Text.join(
        [
            catalog.text("en", "checkin.dm.intro", network=NETWORK, date="Mon 3 Jun 2030",
                         count=len(questions), deadline="Wed 5 Jun 2030, 09:00 (UTC)"),
            catalog.text("en", "checkin.dm.commands"),
        ],
        "\n\n",
    )  # fmt: skip
    events = [("m.room.message", intro.content("m.notice"))]
    for number, question in enumerate(questions, start=1):
        events.append(question_event(catalog, question, number, len(questions), "en", "en"))
    return events


async def baseline(hs: LocalSynapse, user: User, mentors: list[User], parallel: int) -> float:
    """A bare matrix-nio client does our bot's delivery work: for every mentor, a direct room
    with an invite, then the same events; `parallel` mentors at a time. No sync, no store."""
    client = nio.AsyncClient(hs.url, user.user_id)
    client.restore_login(user.user_id, "BASELINE", user.token)
    events = bot_contents()
    gate = asyncio.Semaphore(parallel)

    async def deliver(mentor: User) -> None:
        async with gate:
            created = await client.room_create(is_direct=True, invite=[mentor.user_id])
            if not isinstance(created, nio.RoomCreateResponse):
                raise RuntimeError(f"baseline room_create: {created}")
            for kind, content in events:
                sent = await client.room_send(created.room_id, kind, content)
                if not isinstance(sent, nio.RoomSendResponse):
                    raise RuntimeError(f"baseline room_send: {sent}")

    try:
        start = time.perf_counter()
        await asyncio.gather(*(deliver(mentor) for mentor in mentors))
        return time.perf_counter() - start
    finally:
        await client.close()


# --- the Meta-Mentor ------------------------------------------------------------------------


class Meta(BareClient):
    """The Meta-Mentor: creates the network and starts the round, reading the bot's replies."""

    async def start(self, password: str) -> None:
        await self.login(password, {"timeline": {"not_senders": [self.user_id],
                                                 "limit": 50},
                                    "ephemeral": {"types": []},
                                    "account_data": {"types": []}})  # fmt: skip

    async def ask(self, room_id: str, body: str, timeout: float) -> tuple[float, str]:
        """Send a command; (seconds until the bot's reply is seen, the reply's body)."""
        start = time.perf_counter()
        content = {"msgtype": "m.text", "body": body}
        sent = await self.client.room_send(room_id, "m.room.message", content)
        if not isinstance(sent, nio.RoomSendResponse):
            raise RuntimeError(f"sending {body!r}: {sent}")
        while time.perf_counter() - start < timeout:
            response = await self.sync(SYNC_TIMEOUT_MS)
            room = response.rooms.join.get(room_id)
            for event in room.timeline.events if room else []:
                content = event.source.get("content") or {}
                reply_to = (content.get("m.relates_to") or {}).get("m.in_reply_to") or {}
                if (
                    content.get("msgtype") == "m.notice"
                    and reply_to.get("event_id") == sent.event_id
                ):
                    return time.perf_counter() - start, content.get("body", "")
        raise TimeoutError(f"no reply to {body!r} within {timeout} s")


def read(database: Path, sql: str, *params: Any) -> list[tuple]:
    """A query on our bot's database from outside its process (WAL: readers never block)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return db.execute(sql, params).fetchall()


async def wait_for(database: Path, sql: str, wanted: int, start: float) -> float:
    """Seconds from `start` until the query counts `wanted` rows."""
    deadline = time.monotonic() + PHASE_TIMEOUT
    while read(database, sql)[0][0] < wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sql!r} did not reach {wanted}")
        await asyncio.sleep(0.05)
    return time.perf_counter() - start


def add_members(database: Path, mentors: list[User]) -> int:
    """Put the mentors into the network as joined members, through the bot's own store
    (invites and joins of this many people would take longer than the round itself)."""
    store = open_store(database)
    try:
        networks = NetworkStore(store)
        network = networks.by_name(NETWORK)
        assert network is not None, "the network was not created"
        now = time.time()
        with store.transaction():
            for mentor in mentors:
                networks.save_member(Member(network.id, mentor.user_id, "mentor-novice", JOINED,
                                            invited_at=now, joined_at=now))  # fmt: skip
        return network.id
    finally:
        store.close()


def cpu_seconds(child: Child) -> float:
    """User and system CPU time the child process has used so far."""
    assert child.process is not None
    fields = Path(f"/proc/{child.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def show_profile(path: Path) -> None:
    """The functions our bot spent most time in (cumulative), from its cProfile output."""
    if not path.exists():
        print(f"no profile at {path}")
        return
    stream = io.StringIO()
    pstats.Stats(str(path), stream=stream).sort_stats("cumulative").print_stats(40)
    print(stream.getvalue())


def peak_memory_mb(child: Child) -> float | None:
    """VmHWM (peak resident set) of the child process, in MB."""
    assert child.process is not None
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{child.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


# --- the run --------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    children: list[Child] = []
    meta: Meta | None = None
    n = args.mentors
    async with (
        LocalSynapse(folder / "synapse", rate_limits="relaxed") as hs,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session,
    ):
        server = Homeserver(hs, session)
        try:
            print(f"registering {n} mentors, the bot, a Meta-Mentor and the baseline …")
            setup = time.perf_counter()
            bot, meta_user, bare = [await server.register(f"bench-{name}")
                                    for name in ("bot", "meta", "bare")]  # fmt: skip
            mentors = await in_parallel(
                SETUP_PARALLEL, [server.register(f"mentor-{i:05d}") for i in range(n)]
            )
            everyone = [bot, meta_user, bare, *mentors]
            await in_parallel(SETUP_PARALLEL, [server.exempt(u.user_id) for u in everyone])
            print(f"  done in {time.perf_counter() - setup:.1f} s")

            child = await start_ours(hs, bot.user_id, bot.password, folder, args.profile)
            database = folder / "mentornet.db"
            children.append(child)
            meta = Meta(hs, meta_user.user_id)
            await meta.start(meta_user.password)
            office = await meta.room_with(bot.user_id, "office")
            await meta.sync(0)
            _, created = await meta.ask(office, f'!network create "{NETWORK}"', 120)
            assert "is ready" in created, created
            coordination = read(database, "SELECT room_id FROM network_rooms"
                                " WHERE purpose = 'coordination'")[0][0]  # fmt: skip
            await meta.client.join(coordination)
            await meta.sync(0)
            network_id = add_members(database, mentors)
            print(f"network {network_id}: {n} mentors added through the bot's store")

            f: dict[str, Any] = {"mentors": n, "bot_parallel": PARALLEL,
                                 "baseline_parallel": BASELINE_PARALLEL}  # fmt: skip
            print(f"baseline (before): a bare matrix-nio client, {BASELINE_PARALLEL} at a time …")
            f["baseline_before_s"] = await baseline(hs, bare, mentors, BASELINE_PARALLEL)
            print(f"  {f['baseline_before_s']:.2f} s")

            print(f"our bot: !checkin now to {n} mentors ({PARALLEL} at a time) …")
            cpu = cpu_seconds(child)
            start = time.perf_counter()
            (f["reply_s"], body), f["delivery_s"] = await asyncio.gather(
                meta.ask(coordination, "!checkin now", PHASE_TIMEOUT),
                wait_for(database, "SELECT COUNT(*) FROM checkin_deliveries"
                         " WHERE state = 'sent'", n, start),
            )  # fmt: skip
            f["delivery_cpu_s"] = cpu_seconds(child) - cpu
            assert f"sent to {n} of {n}" in body, body
            f["events_sent_by_bot"] = read(database, "SELECT COUNT(*) FROM checkin_prompts")[0][0]
            print(f"  every DM delivered after {f['delivery_s']:.2f} s "
                  f"({f['events_sent_by_bot']} events, {f['delivery_cpu_s']:.1f} s CPU); "
                  f"reply seen after {f['reply_s']:.2f} s")  # fmt: skip

            print("baseline (after) …")
            f["baseline_after_s"] = await baseline(hs, bare, mentors, BASELINE_PARALLEL)
            print(f"  {f['baseline_after_s']:.2f} s")
            print(f"baseline at our bot's concurrency ({PARALLEL} at a time) …")
            f["baseline_same_parallel_s"] = await baseline(hs, bare, mentors, PARALLEL)
            print(f"  {f['baseline_same_parallel_s']:.2f} s")

            print("mentors join their direct chats (not measured) …")
            polls = {user: (room, event) for user, room, event in read(
                database, "SELECT p.user_id, p.room_id, p.event_id FROM checkin_prompts p JOIN"
                " checkin_questions q ON q.id = p.question_id WHERE q.kind = 'mood'")}  # fmt: skip
            targets = [(m, *polls[m.user_id]) for m in mentors]
            await in_parallel(SETUP_PARALLEL, [server.join(m, room) for m, room, _ in targets])

            print(f"{n} answers (poll votes), {args.senders} senders at a time …")
            queue = list(targets)

            async def sender() -> None:
                while queue:
                    mentor, room, poll = queue.pop()
                    content = {
                        "m.relates_to": {"rel_type": "m.reference", "event_id": poll},
                        "org.matrix.msc3381.poll.response": {"answers": [str(1 + len(queue) % 5)]},
                    }
                    await server.send(mentor, room, "org.matrix.msc3381.poll.response", content)

            cpu = cpu_seconds(child)
            start = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(args.senders)))
            f["answers_senders"] = args.senders
            f["answers_sent_s"] = time.perf_counter() - start
            f["answers_stored_s"] = await wait_for(
                database, "SELECT COUNT(*) FROM checkin_answers", n, start
            )
            f["ingest_cpu_s"] = cpu_seconds(child) - cpu
            print(f"  sent in {f['answers_sent_s']:.2f} s, all stored after "
                  f"{f['answers_stored_s']:.2f} s ({f['ingest_cpu_s']:.1f} s CPU)")  # fmt: skip
            f["peak_memory_mb"] = peak_memory_mb(child)
        finally:
            if meta is not None:
                await meta.close()
            await asyncio.gather(*(c.stop(grace=30) for c in children))
    if args.profile:
        show_profile(folder / "ours.prof")
    return report(f)


def report(f: dict[str, Any]) -> dict[str, Any]:
    """Print the table; return the figures, rounded, with the ratios."""
    n = f["mentors"]
    bare = (f["baseline_before_s"] + f["baseline_after_s"]) / 2
    f["ratio"] = f["delivery_s"] / bare
    f["ratio_same_parallel"] = f["delivery_s"] / f["baseline_same_parallel_s"]
    f["ingest_ratio"] = f["answers_stored_s"] / f["answers_sent_s"]
    f = {k: round(v, 3) if isinstance(v, float) else v for k, v in f.items()}
    f |= {"goal": GOAL, "goal_met": f["ratio"] <= GOAL}
    print(f"\ncheck-in round to {n} mentors ({f['events_sent_by_bot']} events from our bot), "
          "one Synapse\n")  # fmt: skip
    print(f"{'what':<50}{'seconds':>10}{'per mentor ms':>15}")
    b, p = BASELINE_PARALLEL, PARALLEL
    rows = [
        (f"our bot: every DM delivered ({p} at a time)", f["delivery_s"]),
        (f"bare nio client, same work, {b} at a time (before)", f["baseline_before_s"]),
        (f"bare nio client, same work, {b} at a time (after)", f["baseline_after_s"]),
        (f"bare nio client, same work, {p} at a time", f["baseline_same_parallel_s"]),
        (f"answers sent by mentors ({f['answers_senders']} at a time)", f["answers_sent_s"]),
        ("our bot: every answer stored", f["answers_stored_s"]),
    ]
    for name, seconds in rows:
        print(f"{name:<50}{seconds:>10.2f}{1000 * seconds / n:>15.2f}")
    met = "met" if f["goal_met"] else "NOT met"
    print(f"\nratio delivery ours/bare ({b} at a time): {f['ratio']:.3f} (goal ≤ {GOAL}: {met})")
    print(f"ratio delivery ours/bare at the same concurrency ({p}): "
          f"{f['ratio_same_parallel']:.3f}")  # fmt: skip
    print(f"ratio answers stored/sent: {f['ingest_ratio']:.3f}")
    print(f"CPU of our bot: {f['delivery_cpu_s']:.1f} s delivering, {f['ingest_cpu_s']:.1f} s "
          "storing answers")  # fmt: skip
    print(f"peak memory of our bot (VmHWM): {f['peak_memory_mb']} MB")
    print("load average: " + " ".join(f"{x:.2f}" for x in load_average()))
    return f


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentors", type=int, default=1000, help="mentors in the network")
    parser.add_argument("--senders", type=int, default=8, help="answers sent at the same time")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    parser.add_argument("--profile", action="store_true", help="run our bot under cProfile")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with scratch_folder("bench-checkin-", args.keep) as folder:
        figures = asyncio.run(measure(args, folder))
    save_results("checkin_round", figures)
    return 0  # a measurement, not a test: the goal is reported, not enforced


if __name__ == "__main__":
    sys.exit(main())
