"""Our bot, run for tests: in this process (fast, restartable) or as `main.py run` in a child
process (for signals and the command line), always against a real homeserver."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import yaml

from bots import BOTS
from core.app import App, BotFactory
from core.clock import Clock
from core.config import Config, parse_config
from devtools.homeserver import LocalSynapse, free_port
from tests.people import Person

ROOT = Path(__file__).resolve().parent.parent


class MakeBot(Protocol):
    """The `mentornet` fixture."""

    async def __call__(
        self,
        hs: LocalSynapse | None = None,
        *,
        start: bool = True,
        clock: Clock | None = None,
        **settings: Any,
    ) -> RunningBot: ...


class RunningBot:
    """A mentornet instance with its own account, database and web port."""

    def __init__(
        self,
        hs: LocalSynapse,
        user_id: str,
        password: str,
        folder: Path,
        clock: Clock | None = None,
        **settings: Any,
    ) -> None:
        self.hs, self.user_id, self.password, self.folder = hs, user_id, password, folder
        self.web_port = free_port()
        self.data = _merge(
            {
                "matrix": {
                    "homeserver": hs.url,
                    "user_id": user_id,
                    "password": password,
                    "invites": {"allow_servers": [hs.server_name]},
                    "sync_timeout_ms": 2_000,
                    "max_backoff_seconds": 1,
                },
                "storage": {"database": str(folder / "mentornet.db")},
                "web": {"listen": f"127.0.0.1:{self.web_port}"},
                "logging": {"level": "INFO"},
            },
            settings,
        )
        self.clock = clock
        self.bots: list[BotFactory] = list(BOTS)  # every bot of the product
        self.app: App | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.process: asyncio.subprocess.Process | None = None

    @property
    def config(self) -> Config:
        return parse_config(self.data)

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/healthz"

    # --- in this process -------------------------------------------------------------------

    async def start(self, timeout: float = 30) -> App:
        """Start in this process; returns once the first sync is done."""
        self.app = App(self.config, self.bots, clock=self.clock)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.app.run(self._stop))
        app = self.app
        await _until(lambda: app.account.last_sync is not None or self._task.done(), timeout)
        if self._task.done():
            self._task.result()
        return app

    async def stop(self) -> None:
        """Stop as SIGTERM would."""
        if self._task is not None:
            self._stop.set()
            await self._task
            self._task = None

    # --- as a child process ----------------------------------------------------------------

    def write_config(self) -> Path:
        path = self.folder / "mentornet.yaml"
        path.write_text(yaml.safe_dump(self.data))
        return path

    async def spawn(self, timeout: float = 60) -> None:
        """Run `main.py run --config …` and wait until /healthz says the sync is alive."""
        config = self.write_config()
        log = open(self.folder / "bot.log", "ab")  # noqa: SIM115 (closed once passed on)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "main.py"), "run", "--config", str(config),
            cwd=ROOT, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"bot exited {self.process.returncode}: {self.log_tail()}")
            if await self.health() == 200:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"bot not healthy after {timeout}s: {self.log_tail()}")

    async def terminate(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send a signal and wait for the process to end; returns its exit code."""
        assert self.process is not None
        self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        self.process = None
        return code

    def log_tail(self, lines: int = 30) -> str:
        path = self.folder / "bot.log"
        return "\n".join(path.read_text().splitlines()[-lines:]) if path.exists() else ""

    async def health(self) -> int | None:
        try:
            async with aiohttp.ClientSession() as session, session.get(self.health_url) as response:
                return response.status
        except aiohttp.ClientError:
            return None

    # --- rooms -----------------------------------------------------------------------------

    async def room_with(self, someone: Person, invite: Sequence[str] = (), **room: Any) -> str:
        """`someone` creates a room, invites the bot (and `invite`), waits until it has joined."""
        room_id = await someone.create_room(invite=[self.user_id, *invite], **room)
        await someone.wait_joined(room_id, self.user_id, timeout=30)
        return room_id


async def _until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = (
            _merge(merged[key], value) if isinstance(value, dict) and key in merged else value
        )
    return merged
