"""Cold join: the first copy of a big directory room by `Mirror.follow`, against a bare GET
of the room's /state, in the same run.

    .venv/bin/python bench/cold_join.py                   # 10,000 entries, 3 rounds
    .venv/bin/python bench/cold_join.py --entries 2000    # a quick check

One local Synapse holds a space and a directory room of `--entries` organisations (~1 kB
each, as `bench/directory_federation.py` generates them), built once and kept in
bench/results/cache/ (`bench/directory_room.py`; `--fresh` rebuilds it). A fresh mentornet
instance (`App`, encryption off, in this process, its sync loop not running) has joined the
room; each round then times, alternately:

- **bare**: GET /state of the room through the instance's own client (the transport and the
  JSON parsing, nothing else);
- **follow**: `Mirror.follow` into an empty database: the same GET, then every entry checked
  and written (chunks of `COPY_CHUNK`, validated in one worker thread while the chunk before
  is written in another, the event loop running on). Also: the longest stretch the event
  loop was blocked (a 10 ms ticker).

Goal: follow ≤ 1.5 × bare (medians). Prints a table, writes bench/results/cold_join.json and
exits 0 (a measurement, not a test). `--profile` runs the last follow under cProfile.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import load_average, save, scratch_folder  # noqa: E402
from bench.directory_federation import Instance, LoopLag  # noqa: E402
from bench.directory_room import directory_homeserver, user_id  # noqa: E402
from core.app import share_the_interpreter  # noqa: E402
from core.rooms import room_path  # noqa: E402
from directory.mirror import COPY_CHUNK  # noqa: E402
from federation.rooms import KEY_SPACE, ORGANIZATION  # noqa: E402

GOAL = 1.5
FOLLOWER = "bench-c"


async def bare_get(instance: Instance, room: str) -> tuple[float, int]:
    """Seconds for one GET /state through the instance's client, and its entries."""
    started = time.perf_counter()
    events = await instance.account.raw("GET", room_path(room, "state"))  # parsed at once
    seconds = time.perf_counter() - started
    if not isinstance(events, list):  # an error: {"errcode": …}
        raise RuntimeError(f"GET /state of {room} failed: {events}")
    return seconds, sum(1 for event in events if event["type"] == ORGANIZATION)


async def follow(
    instance: Instance, room: str, via: list[str], profile: cProfile.Profile | None
) -> dict[str, Any]:
    """One first copy into the instance's (empty) database: seconds, accepted, loop blocked."""
    with LoopLag() as lag:
        if profile:
            profile.enable()
        started, cpu = time.perf_counter(), time.process_time()
        accepted = await instance.dir.mirror.follow(instance.account, room, via)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if profile:
            profile.disable()
        worst = lag.worst
    held = instance.dir.directory.room_listing_count(room)
    return {"seconds": seconds, "cpu_s": cpu, "accepted": accepted, "held": held,
            "loop_blocked_max_s": worst}  # fmt: skip


async def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"entries_asked": args.entries, "copy_chunk": COPY_CHUNK,
                               "load_average_at_start": load_average()}  # fmt: skip
    share_the_interpreter()  # as the bot does when it starts
    async with directory_homeserver(args.entries, [FOLLOWER], args.fresh) as (hs, info):
        via = [hs.server_name]
        rounds: list[dict[str, Any]] = []
        profile = cProfile.Profile() if args.profile else None
        for index in range(args.rounds):
            instance = Instance(hs, user_id(hs, FOLLOWER), info.users[FOLLOWER],
                                folder / f"c{index}", "Network C", tick=600)  # fmt: skip
            try:
                await instance.account.login()
                instance.app.store.put(KEY_SPACE, info.space_id)
                await instance.account.rooms.join(info.room_id, via)
                bare, entries = await bare_get(instance, info.room_id)
                last = profile if index == args.rounds - 1 else None
                copied = await follow(instance, info.room_id, via, last)
                rounds.append({"bare_s": bare, "entries": entries, **copied})
                print(f"  round {index + 1}: bare GET {bare:.2f} s, follow"
                      f" {copied['seconds']:.2f} s", flush=True)  # fmt: skip
            finally:
                await instance.account.client.close()
                instance.app.store.close()
    figures["rounds"] = rounds
    if profile:
        stream = io.StringIO()
        pstats.Stats(profile, stream=stream).sort_stats(args.profile_sort).print_stats(30)
        print(stream.getvalue())
    return figures


def report(figures: dict[str, Any]) -> None:
    rounds = figures["rounds"]

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    bare, copy = median("bare_s"), median("seconds")
    ratio = copy / bare
    entries = rounds[0]["entries"]
    figures |= {"bare_median_s": round(bare, 3), "follow_median_s": round(copy, 3),
                "follow_cpu_median_s": round(median("cpu_s"), 3),
                "loop_blocked_max_s": round(max(r["loop_blocked_max_s"] for r in rounds), 3),
                "ratio": round(ratio, 2), "goal": GOAL, "goal_met": ratio <= GOAL}  # fmt: skip
    print(f"\ncold join of a directory room of {entries:,} entries, {len(rounds)} rounds\n")
    print(f"{'':<28}{'median s':>10}{'per s':>10}{'min s':>9}{'max s':>9}")
    for name, key in (("bare GET /state", "bare_s"), ("Mirror.follow", "seconds")):
        values = [r[key] for r in rounds]
        print(f"{name:<28}{statistics.median(values):>10.3f}"
              f"{entries / statistics.median(values):>10.0f}{min(values):>9.3f}"
              f"{max(values):>9.3f}")  # fmt: skip
    held = {r["held"] for r in rounds}
    print(
        f"\nfollow/bare: {ratio:.2f} (goal ≤ {GOAL}: {'met' if ratio <= GOAL else 'NOT met'});"
        f" CPU of the follow {figures['follow_cpu_median_s']:.2f} s; event loop blocked at"
        f" most {figures['loop_blocked_max_s'] * 1000:.0f} ms; entries held {held}"
    )
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000, help="entries in the room")
    parser.add_argument("--rounds", type=int, default=3, help="follows (each on a fresh db)")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached room")
    parser.add_argument("--profile", action="store_true", help="cProfile the last follow")
    parser.add_argument("--profile-sort", default="cumulative", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the instances' data")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with scratch_folder("bench-coldjoin-", args.keep) as folder:
        figures = asyncio.run(measure(args, folder))
    report(figures)
    save("cold_join", {"args": {k: v for k, v in vars(args).items() if k != "keep"}} | figures)
    return 0  # a measurement, not a test: the goal is reported, not enforced


if __name__ == "__main__":
    sys.exit(main())
