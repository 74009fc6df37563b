"""Round trip of `!ping` (send → reply seen by the sender): our bot against a bare matrix-nio
echo bot, alternately, on one local Synapse. Prints p50/p95 of both and the ratio.

    .venv/bin/python bench/ping_roundtrip.py [--rounds 200] [--warmup 10]

Each bot runs in its own child process; the measuring client long-polls its own /sync.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
import nio
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.homeserver import LocalSynapse, free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "ping_roundtrip.json"
GOAL = 1.10
SYNC_TIMEOUT_MS = 30_000
ROUND_TIMEOUT = 30.0


# --- the baseline: a bare matrix-nio echo bot --------------------------------------------


async def baseline_bot(homeserver: str, user_id: str, password: str) -> None:
    """Join on invite; answer `!ping` with an `m.notice` "pong" replying to it."""
    client = nio.AsyncClient(homeserver, user_id)
    await client.login(password)

    async def on_invite(room: nio.MatrixRoom, event: nio.InviteMemberEvent) -> None:
        if event.state_key == user_id and event.membership == "invite":
            await client.join(room.room_id)

    async def on_message(room: nio.MatrixRoom, event: nio.RoomMessageText) -> None:
        if event.body == "!ping" and event.sender != user_id:
            reply = {"m.in_reply_to": {"event_id": event.event_id}}
            content = {"msgtype": "m.notice", "body": "pong", "m.relates_to": reply}
            await client.room_send(room.room_id, "m.room.message", content)

    await client.sync(timeout=0, full_state=True)  # skip history
    client.add_event_callback(on_invite, nio.InviteMemberEvent)
    client.add_event_callback(on_message, nio.RoomMessageText)
    print("ready", flush=True)
    await client.sync_forever(timeout=SYNC_TIMEOUT_MS)


# --- child processes ---------------------------------------------------------------------


class Child:
    """A bot in its own process, its output in a log file."""

    def __init__(self, name: str, log: Path) -> None:
        self.name, self.log = name, log
        self.process: asyncio.subprocess.Process | None = None

    async def spawn(self, *args: str, stdout: int | None = None) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *args, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout or log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip

    def check_alive(self) -> None:
        if self.process is None or self.process.returncode is not None:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"{self.name} bot exited; {self.log} ends:\n{tail}")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def start_baseline(hs: LocalSynapse, user_id: str, password: str, folder: Path) -> Child:
    """`ping_roundtrip.py --serve-baseline …`; ready once it prints "ready"."""
    child = Child("baseline", folder / "baseline.log")
    args = ["--serve-baseline", "--homeserver", hs.url, "--user", user_id, "--password", password]
    await child.spawn(__file__, *args, stdout=asyncio.subprocess.PIPE)
    assert child.process is not None and child.process.stdout is not None
    line = await asyncio.wait_for(child.process.stdout.readline(), 60)
    if line.strip() != b"ready":
        child.check_alive()
        raise RuntimeError(f"baseline bot said {line!r} instead of 'ready'")
    return child


async def start_ours(hs: LocalSynapse, user_id: str, password: str, folder: Path) -> Child:
    """`main.py run --config …` (encryption off); ready once /healthz answers 200."""
    port = free_port()
    config = {
        "matrix": {"homeserver": hs.url, "user_id": user_id, "password": password,
                   "encryption": False, "invites": {"allow_servers": [hs.server_name]},
                   "sync_timeout_ms": SYNC_TIMEOUT_MS},
        "storage": {"database": str(folder / "mentornet.db")},
        "web": {"listen": f"127.0.0.1:{port}"},
        "logging": {"level": "INFO"},
    }  # fmt: skip
    path = folder / "mentornet.yaml"
    path.write_text(yaml.safe_dump(config))
    child = Child("ours", folder / "ours.log")
    await child.spawn(str(ROOT / "main.py"), "run", "--config", str(path))
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            child.check_alive()
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return child
            await asyncio.sleep(0.1)
    raise TimeoutError(f"our bot not healthy after 60 s; see {child.log}")


# --- the measuring client ----------------------------------------------------------------


class Sender:
    """One nio client that sends `!ping` and long-polls its own /sync for the reply."""

    def __init__(self, hs: LocalSynapse, user_id: str) -> None:
        self.client = nio.AsyncClient(hs.url, user_id)
        self.filter_id: str | None = None

    async def login(self, password: str) -> None:
        """Log in and upload a filter that leaves out everything but others' timeline events."""
        response = await self.client.login(password)
        if not isinstance(response, nio.LoginResponse):
            raise RuntimeError(f"sender login: {response}")
        uploaded = await self.client.upload_filter(
            presence={"types": []},
            account_data={"types": []},
            room={"timeline": {"not_senders": [self.client.user_id], "limit": 50},
                  "ephemeral": {"types": []}, "account_data": {"types": []}},
        )  # fmt: skip
        self.filter_id = getattr(uploaded, "filter_id", None)

    async def room_with(self, bot: str) -> str:
        """Create a room, invite the bot and wait until it has joined."""
        created = await self.client.room_create(invite=[bot], name=f"ping {bot}")
        if not isinstance(created, nio.RoomCreateResponse):
            raise RuntimeError(f"creating a room for {bot}: {created}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            members = await self.client.joined_members(created.room_id)
            if isinstance(members, nio.JoinedMembersResponse) and any(
                m.user_id == bot for m in members.members
            ):
                return created.room_id
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{bot} did not join {created.room_id}")

    async def sync(self, timeout: int) -> nio.SyncResponse:
        response = await self.client.sync(timeout=timeout, sync_filter=self.filter_id)
        if not isinstance(response, nio.SyncResponse):
            raise RuntimeError(f"sender sync: {response}")
        return response

    async def ping(self, room_id: str) -> float:
        """Seconds from sending `!ping` to the sync that shows the bot's reply."""
        start = time.perf_counter()
        content = {"msgtype": "m.text", "body": "!ping"}
        sent = await self.client.room_send(room_id, "m.room.message", content)
        if not isinstance(sent, nio.RoomSendResponse):
            raise RuntimeError(f"sending !ping: {sent}")
        while time.perf_counter() - start < ROUND_TIMEOUT:
            response = await self.sync(SYNC_TIMEOUT_MS)
            if _has_reply(response, room_id, sent.event_id):
                return time.perf_counter() - start
        raise TimeoutError(f"no reply to {sent.event_id} in {room_id} within {ROUND_TIMEOUT} s")


def _has_reply(response: nio.SyncResponse, room_id: str, event_id: str) -> bool:
    """Whether the sync holds an `m.notice` in the room replying to `event_id`."""
    room = response.rooms.join.get(room_id)
    for event in room.timeline.events if room else []:
        content = event.source.get("content") or {}
        reply_to = (content.get("m.relates_to") or {}).get("m.in_reply_to") or {}
        if content.get("msgtype") == "m.notice" and reply_to.get("event_id") == event_id:
            return True
    return False


# --- figures -----------------------------------------------------------------------------


def summarize(samples: list[float]) -> dict[str, float | int]:
    """Rounds and p50/p95/mean/max in milliseconds."""
    ms = sorted(s * 1000 for s in samples)
    return {
        "rounds": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(statistics.quantiles(ms, n=20, method="inclusive")[18], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(ms[-1], 2),
    }


def report(ours: list[float], baseline: list[float], warmup: int) -> dict[str, Any]:
    """Print the table and return the figures."""
    figures = {"ours": summarize(ours), "baseline": summarize(baseline)}
    ratios = {k: round(figures["ours"][f"{k}_ms"] / figures["baseline"][f"{k}_ms"], 3)
              for k in ("p50", "p95")}  # fmt: skip
    met = max(ratios.values()) <= GOAL
    print(f"\n!ping round trip, {warmup} warm-up rounds each, bots alternating\n")
    print(f"{'bot':<10}{'rounds':>8}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}{'max ms':>10}")
    for name, f in figures.items():
        print(f"{name:<10}{f['rounds']:>8}{f['p50_ms']:>10.2f}{f['p95_ms']:>10.2f}"
              f"{f['mean_ms']:>10.2f}{f['max_ms']:>10.2f}")  # fmt: skip
    print(f"\nratio ours/baseline: p50 {ratios['p50']:.3f}, p95 {ratios['p95']:.3f}")
    print(f"goal ≤ {GOAL:.2f}: {'met' if met else 'NOT met'}")
    return {**figures, "ratio": ratios, "goal": GOAL, "goal_met": met}


def save(figures: dict[str, Any], args: argparse.Namespace) -> None:
    """Write the figures, with what they were measured on, as JSON."""
    data = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rounds": args.rounds,
        "warmup": args.warmup,
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
    """Start Synapse and both bots, ping them alternately, report."""
    children: list[Child] = []
    sender: Sender | None = None
    async with LocalSynapse(folder / "synapse", rate_limits="relaxed") as hs:
        try:
            users = {}
            for name in ("sender", "ours", "baseline"):
                password = secrets.token_hex(12)
                users[name] = (await hs.register(f"bench-{name}", password), password)
                await hs.exempt_from_rate_limits(users[name][0])
            children.append(await start_ours(hs, *users["ours"], folder))
            children.append(await start_baseline(hs, *users["baseline"], folder))
            sender = Sender(hs, users["sender"][0])
            await sender.login(users["sender"][1])
            rooms = {name: await sender.room_with(users[name][0]) for name in ("ours", "baseline")}
            await sender.sync(0)
            samples: dict[str, list[float]] = {"ours": [], "baseline": []}
            for round_ in range(args.warmup + args.rounds):
                for name in ("ours", "baseline"):
                    elapsed = await sender.ping(rooms[name])
                    if round_ >= args.warmup:
                        samples[name].append(elapsed)
            return report(samples["ours"], samples["baseline"], args.warmup)
        finally:
            if sender is not None:
                await sender.client.close()
            await asyncio.gather(*(child.stop() for child in children))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="measured rounds per bot")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured rounds per bot")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--homeserver", help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    parser.add_argument("--password", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_baseline:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(baseline_bot(args.homeserver, args.user, args.password))
        return 0
    folder = Path(tempfile.mkdtemp(prefix="bench-ping-"))
    try:
        figures = asyncio.run(measure(args, folder))
    finally:
        if args.keep:
            print(f"data and logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    save(figures, args)
    return 0  # a measurement, not a test: the goal is reported, not enforced


if __name__ == "__main__":
    sys.exit(main())
