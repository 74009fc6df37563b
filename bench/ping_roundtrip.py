"""Round trip of `!ping` (send → reply seen by the sender): our bot against a bare matrix-nio
echo bot, alternately, on one local Synapse. Prints p50/p95 of both and the ratio.

    .venv/bin/python bench/ping_roundtrip.py [--rounds 200] [--warmup 10]

Each bot runs in its own child process; the measuring client long-polls its own /sync.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import nio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    SYNC_TIMEOUT_MS,
    BareClient,
    Child,
    load_average,
    ratios,
    save,
    scratch_folder,
    start_ours,
    summarize,
)
from devtools.homeserver import LocalSynapse  # noqa: E402

GOAL = 1.10
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


# --- the measuring client ----------------------------------------------------------------


class Sender(BareClient):
    """One nio client that sends `!ping` and long-polls its own /sync for the reply."""

    async def login_for_replies(self, password: str) -> None:
        """Log in with a filter that leaves out everything but others' timeline events."""
        await self.login(password, {"timeline": {"not_senders": [self.user_id], "limit": 50},
                                    "ephemeral": {"types": []},
                                    "account_data": {"types": []}})  # fmt: skip

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


def report(ours: list[float], baseline: list[float], warmup: int) -> dict[str, Any]:
    """Print the table and return the figures."""
    figures = {"ours": summarize(ours), "baseline": summarize(baseline)}
    ratio = ratios(figures["ours"], figures["baseline"])
    met = max(ratio.values()) <= GOAL
    print(f"\n!ping round trip, {warmup} warm-up rounds each, bots alternating\n")
    print(f"{'bot':<10}{'rounds':>8}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}{'max ms':>10}")
    for name, f in figures.items():
        print(f"{name:<10}{f['rounds']:>8}{f['p50_ms']:>10.2f}{f['p95_ms']:>10.2f}"
              f"{f['mean_ms']:>10.2f}{f['max_ms']:>10.2f}")  # fmt: skip
    print(f"\nratio ours/baseline: p50 {ratio['p50']:.3f}, p95 {ratio['p95']:.3f}")
    print(f"goal ≤ {GOAL:.2f}: {'met' if met else 'NOT met'}")
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")
    return {**figures, "ratio": ratio, "goal": GOAL, "goal_met": met}


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
            await sender.login_for_replies(users["sender"][1])
            rooms = {
                name: await sender.room_with(users[name][0], f"ping {name}")
                for name in ("ours", "baseline")
            }
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
                await sender.close()
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
    with scratch_folder("bench-ping-", args.keep) as folder:
        figures = asyncio.run(measure(args, folder))
    save("ping_roundtrip", {"rounds": args.rounds, "warmup": args.warmup} | figures)
    return 0  # a measurement, not a test: the goal is reported, not enforced


if __name__ == "__main__":
    sys.exit(main())
