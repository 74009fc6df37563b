"""The durable inbox of one account: the events its bots must act on are stored together
with the sync token, then handled once each, in order per room (one worker per room),
across restarts and crashes. Handled event ids are kept as long as a replay could bring an
event back."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from core.sending import SendError
from core.storage import Store

log = logging.getLogger(__name__)


@dataclass
class Incoming:
    """An event from a room, as the bots see it (decrypted where it was encrypted)."""

    room_id: str
    event: dict[str, Any]
    received: float  # time.monotonic() when the sync delivered it

    @property
    def event_id(self) -> str:
        return self.event["event_id"]

    @property
    def sender(self) -> str:
        return self.event["sender"]

    @property
    def content(self) -> dict[str, Any]:
        return self.event.get("content") or {}


class Inbox:
    """Stored events to handle, and the per-room workers that handle them."""

    def __init__(
        self,
        account: str,
        store: Store,
        handle: Callable[[Incoming], Awaitable[None]],
        *,
        keep_handled_seconds: float,
    ) -> None:
        self.account = account
        self.store = store
        self.handle = handle
        self.keep_handled_seconds = keep_handled_seconds
        self.stopping = False
        self._queues: dict[str, deque[Incoming]] = {}
        self.workers: dict[str, asyncio.Task[None]] = {}

    def store_batch(
        self,
        fresh: list[Incoming],
        token_key: str,
        next_batch: str,
        also: Callable[[Database], None] | None = None,
    ) -> None:
        """Save the new sync token and the events to handle in one transaction; `also` writes
        what must commit together with them (parked events that were decrypted go)."""
        with self.store.transaction() as db:
            if also is not None:
                also(db)
            for item in fresh:
                db.execute(
                    "INSERT OR IGNORE INTO inbox (event_id, account, room_id, event, received_at)"
                    " SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS"
                    " (SELECT 1 FROM handled_events WHERE event_id = ?)",
                    [item.event_id, self.account, item.room_id, json.dumps(item.event),
                     time.time(), item.event_id],
                )  # fmt: skip
            self.store.put(token_key, next_batch)

    def stored(self) -> list[Incoming]:
        """What waits in the inbox, in the order it arrived."""
        rows = self.store.db.execute(
            "SELECT room_id, event FROM inbox WHERE account = ? ORDER BY received_at, rowid",
            [self.account],
        ).fetchall()
        now = time.monotonic()
        return [Incoming(room_id, json.loads(event), now) for room_id, event in rows]

    def enqueue(self, item: Incoming) -> None:
        self._queues.setdefault(item.room_id, deque()).append(item)
        if item.room_id not in self.workers:
            self.workers[item.room_id] = asyncio.create_task(self._drain(item.room_id))

    async def _drain(self, room_id: str) -> None:
        queue = self._queues[room_id]
        try:
            while queue and not self.stopping:
                item = queue[0]
                if self._claim(item):
                    try:
                        await self.handle(item)
                    except SendError as error:
                        if error.transient and self.stopping:
                            break  # stays in the inbox: handled again after the restart
                        _unanswered(item, error)
                    except Exception:
                        log.exception("handler failed", extra={"event": item.event_id})
                    self._done(item)
                queue.popleft()
        finally:
            del self.workers[room_id]
            if not queue:
                self._queues.pop(room_id, None)

    def _claim(self, item: Incoming) -> bool:
        """False when the event was already handled (it may arrive twice around a restart)."""
        row = self.store.db.execute(
            "SELECT 1 FROM handled_events WHERE event_id = ?", [item.event_id]
        ).fetchone()
        return row is None

    def _done(self, item: Incoming) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM inbox WHERE event_id = ?", [item.event_id])
            db.execute(
                "INSERT OR IGNORE INTO handled_events (event_id, handled_at) VALUES (?, ?)",
                [item.event_id, time.time()],
            )

    def prune(self, now: float, limit: int) -> int:
        """Forget handled ids no replay can bring back. An event reaches us twice only around
        the stored sync token (the catch-up and the sync after a restart start from it; the
        inbox and the token are saved together), and a command older than the command age
        limit is refused anyway; `keep_handled_seconds` covers that limit with a margin."""
        cutoff = now - self.keep_handled_seconds
        return self.store.db.execute(
            "DELETE FROM handled_events WHERE rowid IN"
            " (SELECT rowid FROM handled_events WHERE handled_at < ? LIMIT ?)",
            [cutoff, limit],
        ).rowcount

    async def stop(self, grace: float) -> None:
        """Let running handlers finish (briefly); what is left stays in the inbox."""
        self.stopping = True
        workers = list(self.workers.values())
        if workers:
            await asyncio.wait(workers, timeout=grace)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)  # unwound before the close


def _unanswered(item: Incoming, error: SendError) -> None:
    """The last word on a command whose answer could not be sent: the command, in the log."""
    log.error(
        "command left unanswered",
        extra={
            "event": item.event_id,
            "room": item.room_id,
            "sender": item.sender,
            "command": str(item.content.get("body", ""))[:200],
            "error": str(error),
        },
    )
