"""The contract of sending: what a failed send raises, and whether trying again can help.

`Account.send` returns the event id or raises `SendError`. `transient` tells the caller
whether the same send may succeed later (the homeserver or a proxy in front of it was
unavailable, the room is not synced yet, the room key could not be shared) or never will
(the bot is not in the room any more, the homeserver refused the content).

What an account asks of its homeserver goes in one of two lanes (`Pacer`): answers to
people at once, bulk work (marked with `bulk()`: a round's questions to every member,
reminders) paced so that the homeserver stays quick to answer everyone else.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

MAX_CONTENT_BYTES = 48_000  # events are capped at 64 KiB including the envelope
# Matrix error codes that say the same request will fail again.
PERMANENT_ERRCODES = frozenset(
    {
        "M_FORBIDDEN",
        "M_NOT_FOUND",
        "M_BAD_JSON",
        "M_NOT_JSON",
        "M_TOO_LARGE",
        "M_INVALID_PARAM",
        "M_MISSING_PARAM",
        "M_UNKNOWN_TOKEN",
        "M_GUEST_ACCESS_FORBIDDEN",
    }
)


class MessagingError(Exception):
    """A file could not be read, a room could not be opened or an event not sent."""


class SendError(MessagingError):
    """An event was not sent. `transient`: the same send may succeed when tried again."""

    def __init__(self, room_id: str, reason: str, *, transient: bool) -> None:
        kind = "for now" if transient else "for good"
        super().__init__(f"not sent to {room_id} ({kind}): {reason}")
        self.room_id = room_id
        self.reason = reason
        self.transient = transient


def is_transient(http_status: int | None, errcode: str | None) -> bool:
    """Whether a homeserver's refusal can pass: rate limits, server-side errors and answers
    that are no Matrix answer at all (a proxy in front of a restarting homeserver)."""
    if errcode in PERMANENT_ERRCODES:
        return False
    return http_status is None or http_status >= 500 or http_status in (408, 429)


def fit(content: dict[str, Any]) -> dict[str, Any]:
    """Shorten a message that would exceed Matrix's event size limit, saying so."""
    if len(json.dumps(content, ensure_ascii=False).encode()) <= MAX_CONTENT_BYTES:
        return content
    body = content.get("body", "")
    keep = MAX_CONTENT_BYTES // 4  # characters; leaves room for HTML escaping and UTF-8
    cut = body[:keep] + "\n…"
    return {
        **content,
        "body": cut,
        "formatted_body": "<pre>" + html.escape(cut) + "</pre>",
    }


# --- two lanes -------------------------------------------------------------------------------

BULK_MAX = 3  # bulk requests at once, at most
BULK_START = 1.0  # bulk requests at once to begin with
SPACING_MIN, SPACING_MAX = 1.0, 3.0  # pause after a bulk request, in times its duration
PAUSE_BASIS_MAX = 0.5  # seconds: a request that took longer adds no longer a pause
SLOW = 3.0  # a request this many times slower than usual for its kind: the server is busy
SLOW_FLOOR = 0.05  # seconds; a difference below this is noise, not a busy server
DRIFT = 0.05  # the usual time may creep up by this fraction per request (a slower server)
QUIET = 0.1  # seconds bulk waits after an answer (it still has to reach the person)
MAX_YIELD = 1.0  # seconds bulk waits at most for answers in a row to stop
STUCK = 10.0  # seconds after which a bulk request on its way lets the next one go

log = logging.getLogger(__name__)
_bulk: ContextVar[bool] = ContextVar("mentornet_bulk", default=False)
_ID = re.compile(r"[!@$#+%][^/]*")


@contextmanager
def bulk() -> Iterator[None]:
    """Mark what this task (and the tasks it starts) sends inside as bulk: many messages
    nobody waits for this second. They go at the pace of `Pacer`, after every answer."""
    token = _bulk.set(True)
    try:
        yield
    finally:
        _bulk.reset(token)


def request_kind(method: str, path: str) -> str:
    """A request's kind for pacing: its method and path without ids or query."""
    return f"{method} {_ID.sub('*', path.split('?', 1)[0])}"


class Pacer:
    """The two lanes of one account's requests to its homeserver.

    Interactive requests (everything not marked `bulk()`: answers to commands) go at once.
    Bulk requests give way to them: one starts only while no interactive request is on its
    way and QUIET seconds after the last (or after MAX_YIELD, so bulk never starves); at most
    `limit` go at once (one on its way for STUCK seconds no longer counts), and each holds its
    place for `spacing` times its own duration after it finished, leaving the homeserver
    time for others. The pace follows the homeserver: a
    bulk request slower than SLOW times the usual for its kind halves `limit` and lengthens
    `spacing`; a prompt one raises `limit` a little and shortens `spacing` (additive
    increase, multiplicative decrease, as TCP does). Nothing is dropped or reordered within
    a task: a request only waits for its turn."""

    def __init__(self) -> None:
        self.limit = BULK_START
        self.spacing = SPACING_MIN
        self.usual: dict[str, float] = {}
        self._bulk = 0  # bulk requests on their way or holding their place
        self._interactive = 0
        self._quiet_from = 0.0
        self._waiters: set[asyncio.Future[None]] = set()

    @asynccontextmanager
    async def request(self, kind: str) -> AsyncIterator[None]:
        """Around one request to the homeserver: waits for its lane's turn."""
        if not _bulk.get():
            self._interactive += 1
            try:
                yield
            finally:
                self._interactive -= 1
                self._quiet_from = time.monotonic() + QUIET
                self._wake()
            return
        await self._turn()
        self._bulk += 1
        loop = asyncio.get_running_loop()
        place = [True]  # still held; a request stuck for STUCK seconds gives it up
        stuck = loop.call_later(STUCK, self._give_up, kind, place)
        started = time.monotonic()
        took = None
        try:
            yield
            took = time.monotonic() - started
        finally:
            stuck.cancel()
            if place[0]:
                pause = 0.0
                if took is not None:
                    self._adapt(kind, took)
                    pause = min(took, PAUSE_BASIS_MAX) * self.spacing
                loop.call_later(pause, self._release, place)

    def _give_up(self, kind: str, place: list[bool]) -> None:
        """A bulk request on its way for STUCK seconds (a room the homeserver is stuck on)
        holds up the others no longer; it counts as a very slow one."""
        self._adapt(kind, STUCK)
        self._release(place)

    async def _turn(self) -> None:
        patience = time.monotonic() + MAX_YIELD
        while True:
            now = time.monotonic()
            if self._bulk < int(self.limit):
                if now >= patience:
                    return
                if self._interactive == 0:
                    if now >= self._quiet_from:
                        return
                    await self._wait(min(self._quiet_from, patience) - now)
                else:  # woken when it is back
                    await self._wait(patience - now)
            else:
                await self._wait(None)

    async def _wait(self, at_most: float | None) -> None:
        """Until something changes (a request ended, a place came free), or `at_most` s."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(future)
        try:
            await asyncio.wait([future], timeout=at_most)
        finally:
            self._waiters.discard(future)

    def _wake(self) -> None:
        for future in self._waiters:
            if not future.done():
                future.set_result(None)

    def _release(self, place: list[bool]) -> None:
        if place[0]:
            place[0] = False
            self._bulk -= 1
            self._wake()

    def _adapt(self, kind: str, took: float) -> None:
        usual = self.usual.get(kind)
        usual = took if usual is None else min(took, usual * (1 + DRIFT))
        self.usual[kind] = usual
        if took > SLOW * usual and took - usual > SLOW_FLOOR:
            self.limit = max(1.0, self.limit / 2)
            self.spacing = min(SPACING_MAX, self.spacing * 1.5)
        else:
            self.limit = min(float(BULK_MAX), self.limit + 1 / self.limit)
            self.spacing = max(SPACING_MIN, self.spacing * 0.95)
        log.debug(
            "bulk pace: %s took %.3f s; %.2f at once, spacing %.2f",
            kind, took, self.limit, self.spacing,
        )  # fmt: skip
