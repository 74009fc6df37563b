"""The contract of sending: what a failed send raises, and whether trying again can help.

`Account.send` returns the event id or raises `SendError`. `transient` tells the caller
whether the same send may succeed later (the homeserver or a proxy in front of it was
unavailable, the room is not synced yet, the room key could not be shared) or never will
(the bot is not in the room any more, the homeserver refused the content).
"""

from __future__ import annotations

import html
import json
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
