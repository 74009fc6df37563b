"""What the benchmarks share: a bare matrix-nio client (the baselines are made of them), a
bot in a child process, a scratch folder, percentiles, the machine's load, and the results
file in bench/results/ (git-ignored)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import nio
import yaml

from devtools.homeserver import LocalSynapse, free_port

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

    async def room_with(self, bot: str, name: str) -> str:
        """Create a room, invite the bot and wait until it has joined."""
        created = await self.client.room_create(invite=[bot], name=name)
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
            raise RuntimeError(f"{self.client.user_id} sync: {response}")
        return response

    async def close(self) -> None:
        await self.client.close()


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

    async def stop(self, grace: float = 5) -> None:
        """SIGTERM (a clean shutdown), SIGKILL after `grace` seconds."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def start_ours(
    hs: LocalSynapse,
    user_id: str,
    password: str,
    folder: Path,
    profile: bool = False,
    sections: dict[str, Any] | None = None,
) -> Child:
    """Our bot as `main.py run --config …` (encryption off, database `folder`/mentornet.db;
    under cProfile into `folder`/ours.prof with `profile`; `sections` are added to the
    config, e.g. `{"bots": {"tick_seconds": 5}}`); ready once /healthz answers 200."""
    port = free_port()
    config = {
        "matrix": {"homeserver": hs.url, "user_id": user_id, "password": password,
                   "encryption": False, "invites": {"allow_servers": [hs.server_name]},
                   "sync_timeout_ms": SYNC_TIMEOUT_MS},
        "storage": {"database": str(folder / "mentornet.db")},
        "web": {"listen": f"127.0.0.1:{port}"},
        "logging": {"level": "INFO"},
    }  # fmt: skip
    config |= sections or {}
    path = folder / "mentornet.yaml"
    path.write_text(yaml.safe_dump(config))
    child = Child("our", folder / "ours.log")
    profiler = ["-m", "cProfile", "-o", str(folder / "ours.prof")] if profile else []
    await child.spawn(*profiler, str(ROOT / "main.py"), "run", "--config", str(path))
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


@contextlib.contextmanager
def scratch_folder(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary folder for homeserver data and logs, removed afterwards unless `keep`."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        if keep:
            print(f"data and logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


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
