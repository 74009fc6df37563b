"""Peak memory of our bot with a big network and a big mirrored directory.

    .venv/bin/python bench/memory.py                          # 10,000 members, 100,000 orgs
    .venv/bin/python bench/memory.py --members 2000 --orgs 20000   # a quick check

One local Synapse; our bot runs as `main.py run` in a child process (encryption off). A
Meta-Mentor makes a network with `!network create`; this first run, on an empty database,
is the baseline. Then, with the bot stopped, its database is filled directly through the
stores: `--members` joined members of the network (`NetworkStore.save_member`) and `--orgs`
organisations mirrored from 30 networks' directory rooms (`Directory.apply_listings`, as
`bench/search.py` generates them, 5 % listed twice). The bot starts again on that database;
after start-up, after each of `!dir search`, `!network members`, `!dir stats` and after two
ticks, the bot's peak resident memory (VmHWM of its process) is read. Goal: under 150 MB.

Prints a table, writes bench/results/memory.json and exits 0 (a measurement, not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.checkin_round import Homeserver, Meta, read  # noqa: E402
from bench.common import Child, load_average, save, scratch_folder, start_ours  # noqa: E402
from bench.search import mirror, published_events  # noqa: E402
from bots.network.schema import JOINED, Member, NetworkStore  # noqa: E402
from core.storage import open_store  # noqa: E402
from devtools.homeserver import LocalSynapse  # noqa: E402
from directory.store import Directory  # noqa: E402

GOAL_MB = 150.0
NETWORK = "Bench Network"
REPLY_TIMEOUT = 300.0


def memory_mb(child: Child) -> dict[str, float]:
    """VmHWM (peak resident set) and VmRSS (resident now) of the child process, in MB."""
    assert child.process is not None
    status = Path(f"/proc/{child.process.pid}/status").read_text().splitlines()
    values = {line.split(":")[0]: line.split()[1] for line in status if line.startswith("Vm")}
    return {"peak_mb": round(int(values["VmHWM"]) / 1024, 1),
            "rss_mb": round(int(values["VmRSS"]) / 1024, 1)}  # fmt: skip


def populate(database: Path, members: int, orgs: int, server: str) -> dict[str, float]:
    """Fill the stopped bot's database: members of the network, mirrored organisations."""
    store = open_store(database)
    try:
        networks = NetworkStore(store)
        network = networks.by_name(NETWORK)
        assert network is not None, "the network was not created"
        started, now = time.perf_counter(), time.time()
        with store.transaction():
            for index in range(members):
                networks.save_member(Member(
                    network.id, f"@mentor-{index:05d}:{server}", "mentor-novice", JOINED,
                    display_name=f"Mentor {index:05d}", invited_at=now, joined_at=now,
                ))  # fmt: skip
        members_s = time.perf_counter() - started
        events = published_events(orgs, seed=1)
        orgs_s = mirror(Directory(store), events)
        return {"members_s": round(members_s, 1), "listings": len(events),
                "orgs_s": round(orgs_s, 1),
                "database_mb": round(database.stat().st_size / 2**20, 1)}  # fmt: skip
    finally:
        store.close()


async def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"members": args.members, "orgs": args.orgs,
                               "load_average_at_start": load_average()}  # fmt: skip
    child: Child | None = None
    meta: Meta | None = None
    async with (
        LocalSynapse(folder / "synapse", rate_limits="relaxed") as hs,
        aiohttp.ClientSession() as session,
    ):
        server = Homeserver(hs, session)
        try:
            bot, meta_user = [await server.register(f"bench-{n}") for n in ("bot", "meta")]
            for user in (bot, meta_user):
                await server.exempt(user.user_id)
            sections = {"bots": {"tick_seconds": args.tick}}
            child = await start_ours(hs, bot.user_id, bot.password, folder, sections=sections)
            database = folder / "mentornet.db"
            meta = Meta(hs, meta_user.user_id)
            await meta.start(meta_user.password)
            office = await meta.room_with(bot.user_id, "office")
            await meta.sync(0)
            _, created = await meta.ask(office, f'!network create "{NETWORK}"', REPLY_TIMEOUT)
            assert "is ready" in created, created
            coordination = read(database, "SELECT room_id FROM network_rooms"
                                " WHERE purpose = 'coordination'")[0][0]  # fmt: skip
            await meta.client.join(coordination)
            await meta.sync(0)
            await asyncio.sleep(2 * args.tick + 1)
            figures["baseline_empty"] = memory_mb(child)
            await child.stop(grace=30)

            print(f"filling the database: {args.members} members, {args.orgs} organisations …")
            figures["populate"] = populate(database, args.members, args.orgs, hs.server_name)
            print(f"  {figures['populate']}")

            child = await start_ours(hs, bot.user_id, bot.password, folder, sections=sections)
            steps: list[tuple[str, dict[str, float]]] = [("start-up", memory_mb(child))]
            for room, command in (
                (office, "!dir search mentoring"),
                (office, "!dir search refugees Berlin"),
                (coordination, "!network members"),
                (office, "!dir stats"),
            ):
                seconds, _ = await meta.ask(room, command, REPLY_TIMEOUT)
                steps.append((command, memory_mb(child) | {"reply_s": round(seconds, 2)}))
            await asyncio.sleep(2 * args.tick + 1)
            steps.append((f"two ticks ({args.tick:g} s)", memory_mb(child)))
            figures["steps"] = dict(steps)
        finally:
            if meta is not None:
                await meta.close()
            if child is not None:
                await child.stop(grace=30)
    return figures


def report(figures: dict[str, Any]) -> None:
    base = figures["baseline_empty"]
    print(f"\nour bot's memory, {figures['members']:,} members, {figures['orgs']:,} organisations"
          f" ({figures['populate']['listings']:,} listings)\n")  # fmt: skip
    print(f"{'step':<34}{'peak MB':>10}{'RSS MB':>10}")
    print(f"{'empty database (baseline)':<34}{base['peak_mb']:>10.1f}{base['rss_mb']:>10.1f}")
    for step, values in figures["steps"].items():
        print(f"{step:<34}{values['peak_mb']:>10.1f}{values['rss_mb']:>10.1f}")
    peak = max(values["peak_mb"] for values in figures["steps"].values())
    figures["peak_mb"], figures["goal_mb"] = peak, GOAL_MB
    figures["goal_met"] = peak < GOAL_MB
    print(
        f"\npeak {peak:.1f} MB, {peak - base['peak_mb']:+.1f} MB over the empty database;"
        f" goal < {GOAL_MB:.0f} MB: {'met' if peak < GOAL_MB else 'NOT met'}"
    )
    print(f"load average (1, 5, 15 min) at the end: {load_average()}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000, help="joined network members")
    parser.add_argument("--orgs", type=int, default=100_000, help="mirrored organisations")
    parser.add_argument("--tick", type=float, default=5, help="the bot's tick, in seconds")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with scratch_folder("bench-memory-", args.keep) as folder:
        figures = asyncio.run(measure(args, folder))
    report(figures)
    save("memory", {"args": {k: v for k, v in vars(args).items() if k != "keep"}} | figures)
    return 0  # a measurement, not a test: the goal is reported, not enforced


if __name__ == "__main__":
    sys.exit(main())
