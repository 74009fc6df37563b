"""What the benchmarks share: a bare matrix-nio client (the baselines are made of them),
percentiles, the machine's load, and the results file in bench/results/ (git-ignored)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nio

from core.homeserver import LocalSynapse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SYNC_TIMEOUT_MS = 30_000


class BareClient:
    """A bare matrix-nio client on one homeserver, long-polling its own /sync with a filter."""

    def __init__(self, hs: LocalSynapse, user_id: str) -> None:
        self.hs, self.user_id = hs, user_id
        self.client = nio.AsyncClient(hs.url, user_id)
        self.filter_id: str | None = None

    async def login(self, password: str, room_filter: dict[str, Any]) -> None:
        """Log in and upload a filter: no presence, no account data, `room_filter` for rooms."""
        response = await self.client.login(password)
        if not isinstance(response, nio.LoginResponse):
            raise RuntimeError(f"{self.client.user_id} login: {response}")
        uploaded = await self.client.upload_filter(
            presence={"types": []}, account_data={"types": []}, room=room_filter
        )
        if not isinstance(uploaded, nio.UploadFilterResponse):
            raise RuntimeError(f"{self.user_id} filter: {uploaded}")
        self.filter_id = uploaded.filter_id

    async def join(self, room_id: str, via: list[str]) -> None:
        """Join a room, over federation through `via` when it is remote."""
        query = "&".join(f"server_name={quote(s, safe='')}" for s in via)
        path = f"/_matrix/client/v3/join/{quote(room_id, safe='')}?{query}"
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        response = await self.client.send("POST", path, "{}", headers=headers)
        if response.status != 200:
            raise RuntimeError(f"joining {room_id}: {response.status} {await response.text()}")

    async def sync(self, timeout: int) -> nio.SyncResponse:
        response = await self.client.sync(timeout=timeout, sync_filter=self.filter_id)
        if not isinstance(response, nio.SyncResponse):
            raise RuntimeError(f"{self.client.user_id} sync: {response}")
        return response

    async def close(self) -> None:
        await self.client.close()


def summarize(samples: list[float]) -> dict[str, float | int]:
    """Rounds and p50/p95/mean/max in milliseconds of samples in seconds."""
    ms = sorted(s * 1000 for s in samples)
    return {
        "rounds": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(statistics.quantiles(ms, n=20, method="inclusive")[18], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(ms[-1], 2),
    }


def ratios(ours: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float]:
    """p50 and p95 of `ours` over those of `baseline` (both from `summarize`)."""
    return {k: round(ours[f"{k}_ms"] / baseline[f"{k}_ms"], 3) for k in ("p50", "p95")}


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages (others' work inflates wall times)."""
    return [round(load, 2) for load in os.getloadavg()]


def save(name: str, figures: dict[str, Any]) -> Path:
    """Write bench/results/`name`.json: the figures with when, on what and under what load."""
    data = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "load_average_at_end": load_average(),
        "python": platform.python_version(),
        "matrix-nio": version("matrix-nio"),
        "matrix-synapse": version("matrix-synapse"),
        **figures,
    }
    path = RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"written to {path.relative_to(ROOT)}")
    return path
