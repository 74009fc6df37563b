"""How our directory entries reach the directory room promptly, whoever saved them.

The running directory bot publishes every pending change when one is saved in chat, when it
starts and on each tick. A change that another process committed (`main.py directory
import`) it notices through SQLite's `PRAGMA data_version`: on one connection, that number
changes exactly when another connection has committed to the database, and reading it costs
no disk I/O, so the bot reads it every WATCH_SECONDS and publishes when it moved.

While it runs, the bot holds an exclusive lock on a file beside the database
(`<database>.publisher`); the command line tries that lock to tell whether a running bot
will publish what it saved. The system drops the lock with the process, even after a crash.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from core.storage import Store
from directory.store import Directory

log = logging.getLogger(__name__)

WATCH_SECONDS = 1.0
ACQUIRE_TRIES, ACQUIRE_PAUSE = 20, 0.05  # a second in all


def lock_path(database: Path) -> Path | None:
    """The publisher's lock file; None for a database in memory (nobody else can write it)."""
    return None if str(database) == ":memory:" else Path(f"{database}.publisher")


class PublisherLock:
    """Held by the running directory bot for as long as it runs."""

    def __init__(self, database: Path) -> None:
        self.path = lock_path(database)
        self._fd: int | None = None

    async def acquire(self) -> bool:
        """Take the lock; False if another running instance holds it. A command line that
        is checking it holds it for a moment: then try again, for up to a second, without
        holding up the event loop (the lock is only ever tried, never waited on)."""
        if self.path is None or self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        for _ in range(ACQUIRE_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                await asyncio.sleep(ACQUIRE_PAUSE)
                continue
            self._fd = fd
            return True
        os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None


def publisher_running(database: Path) -> bool:
    """Whether a running directory bot publishes from this database (holds its lock)."""
    path = lock_path(database)
    if path is None or not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the lock if we took it
    return False


def unpublished(directory: Directory) -> int:
    """How many of our changes are not published yet."""
    query = "SELECT count(*) FROM directory_local WHERE dirty = 1"
    return int(directory.db.execute(query).fetchone()[0])


def data_version(store: Store) -> int:
    """SQLite's count of commits by other connections, as this connection sees it."""
    return int(store.db.execute("PRAGMA data_version").fetchone()[0])


async def watch(
    store: Store,
    changed: Callable[[], Awaitable[None]],
    seen: int,
    every: float = WATCH_SECONDS,
) -> None:
    """Call `changed()` each time another process has committed to the database since
    `data_version` was `seen`; runs until cancelled. A failure is logged, the watch goes on."""
    while True:
        await asyncio.sleep(every)
        version = data_version(store)
        if version == seen:
            continue
        seen = version
        try:
            await changed()
        except Exception:
            log.exception("acting on a change from another process failed")
