"""HSDS import and the HSDS API at 100,000 organisations, each against a baseline.

    .venv/bin/python bench/hsds_api.py [--orgs 100000] [--requests 300] [--seed 1]

Import: the organisations of bench/search.py written as one HSDS JSON file, imported as
`main.py directory import` does: parse and validate (`import_records`), then store
(`save_import`, one transaction). Baseline: `json.loads` of the same bytes. Goal: 5,000
records/s or more, all of it counted.

API: the same organisations as published listings, mirrored as the bot mirrors a room
(search.py's `published_events` and `mirror`), served by the API's routes on a local aiohttp
server; `GET /api/v1/services?per_page=100&page=N` for random N, one request at a time.
Baseline: a bare aiohttp handler answering a services page of the same size, prepared in
advance. Goal: p95 of 25 ms or less (wall clock, client included).
Writes bench/results/hsds_api.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from search import mirror, organisation, percentile, published_events  # noqa: E402

from core.storage import open_store  # noqa: E402
from directory.api import api_routes  # noqa: E402
from directory.io import import_records, save_import  # noqa: E402
from directory.store import Directory  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "hsds_api.json"
GOAL_IMPORT_PER_S = 5_000
GOAL_P95_MS = 25.0
PER_PAGE = 100


def hsds_file(count: int, seed: int) -> bytes:
    """The generated organisations as one HSDS JSON file, as another tool would export it."""
    rng = random.Random(seed)
    records = [organisation(rng, index) for index in range(count)]
    return json.dumps({"organizations": records}, ensure_ascii=False).encode()


def bench_import(folder: Path, count: int, seed: int) -> dict[str, Any]:
    data = hsds_file(count, seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    json.loads(data)
    baseline, baseline_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    store = open_store(folder / "import.db")
    try:
        directory = Directory(store)
        started, cpu_started = time.perf_counter(), time.process_time()
        report = import_records(data, "orgs.json", max_bytes=len(data))
        validated = time.perf_counter() - started
        assert report.ok and not report.warnings, (report.errors[:3], report.warnings[:3])
        counts = save_import(directory, report)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        store.close()
    assert counts.added == count, counts
    return {
        "organizations": count,
        "file_mb": round(len(data) / 1e6, 1),
        "baseline_json_loads_s": round(baseline, 2),
        "baseline_json_loads_cpu_s": round(baseline_cpu, 2),
        "parse_and_validate_s": round(validated, 2),
        "store_s": round(total - validated, 2),
        "total_s": round(total, 2),
        "records_per_s": round(count / total),
        "cpu_s": round(cpu, 2),
        "records_per_cpu_s": round(count / cpu),
        "goal_records_per_s": GOAL_IMPORT_PER_S,
        "goal_met": count / total >= GOAL_IMPORT_PER_S,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def timed_gets(urls: list[str]) -> list[float]:
    """Milliseconds per request, one request at a time."""
    times = []
    async with aiohttp.ClientSession() as session:
        for url in urls:
            started = time.perf_counter()
            async with session.get(url) as response:
                assert response.status == 200, await response.text()
                await response.read()
            times.append((time.perf_counter() - started) * 1000)
    return times


async def serve(routes: list[web.RouteDef], urls: list[str], port: int) -> tuple[list, str]:
    """Milliseconds per request for `urls` against `routes`, and the first answer."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session, session.get(urls[0]) as response:
            body = await response.text()
        await timed_gets(urls[:10])  # warm up
        return await timed_gets(urls), body
    finally:
        await runner.cleanup()


def bench_api(
    folder: Path, count: int, requests: int, seed: int, db: Path | None = None
) -> dict[str, Any]:
    """With `db` (a file), the directory built there is kept and used again next time."""
    reuse = db is not None and db.exists()
    store = open_store(db or folder / "api.db")
    try:
        directory = Directory(store)
        load = 0.0
        if not reuse:
            events = published_events(count, seed)
            load = mirror(directory, events)
            del events
        services = store.db.execute(
            "SELECT count(*) FROM directory_entities WHERE kind = 'service'"
        ).fetchone()[0]
        pages = -(-services // PER_PAGE)
        rng = random.Random(seed)
        port = free_port()
        base = f"http://127.0.0.1:{port}/api/v1/services?per_page={PER_PAGE}&page="
        urls = [base + str(rng.randint(1, pages)) for _ in range(requests)]
        config = SimpleNamespace(web=SimpleNamespace(public_url=None))
        ours, body = asyncio.run(serve(api_routes(directory, config), urls, port))
    finally:
        store.close()

    async def bare(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    baseline, _ = asyncio.run(serve([web.get("/api/v1/services", bare)], urls, port))
    return {
        "listings_mirrored": count + -(-count // 20),
        "mirror_s": round(load, 1) if load else None,
        "services": services,
        "pages": pages,
        "requests": requests,
        "page_kb": round(len(body.encode()) / 1024, 1),
        "p50_ms": percentile(ours, 50),
        "p95_ms": percentile(ours, 95),
        "max_ms": round(max(ours), 2),
        "baseline_p50_ms": percentile(baseline, 50),
        "baseline_p95_ms": percentile(baseline, 95),
        "goal_p95_ms": GOAL_P95_MS,
        "goal_met": percentile(ours, 95) <= GOAL_P95_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orgs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=["import", "api"])
    parser.add_argument("--db", type=Path, help="keep the API's directory in this file")
    args = parser.parse_args()
    report: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    report |= {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if args.only in (None, "import"):
            report["import"] = bench_import(folder, args.orgs, args.seed)
            print("import:", json.dumps(report["import"]))
        if args.only in (None, "api"):
            report["api_services"] = bench_api(folder, args.orgs, args.requests, args.seed, args.db)
            print("api:", json.dumps(report["api_services"]))
    report["load_average_after"] = round(os.getloadavg()[0], 2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
