"""End-to-end encryption chores of one account: keys uploaded, queried and claimed after
each sync, and events that cannot be decrypted yet parked until their key arrives (found by
their session id, so a key's arrival touches only the events it can open)."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from nio import (
    AsyncClient,
    ForwardedRoomKeyEvent,
    LocalProtocolError,
    MegolmEvent,
    RoomKeyEvent,
)
from sqlite_utils import Database

from core.inbox import Incoming
from core.storage import Store

log = logging.getLogger(__name__)

UNDECRYPTED_MAX_AGE = 7 * 86_400


class Crypto:
    """Encryption chores and parked events for one account."""

    def __init__(
        self, account: str, client: AsyncClient, store: Store, wants: Callable[[Incoming], bool]
    ) -> None:
        self.account = account
        self.client = client
        self.store = store
        self.wants = wants
        self._key_requests: list[MegolmEvent] = []

    async def chores(self) -> None:
        if not self.client.olm:
            return
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        if self.client.should_query_keys:
            await self.client.keys_query()
        if self.client.should_claim_keys:
            await self.client.keys_claim(self.client.get_users_for_key_claiming())
        while self._key_requests:
            event = self._key_requests.pop()
            with contextlib.suppress(LocalProtocolError):  # already requested
                await self.client.request_room_key(event)
        await self.client.send_to_device_messages()

    def park(self, room_id: str, event: MegolmEvent) -> None:
        """Keep an event we cannot decrypt yet; ask the sender's devices for its key."""
        parked = {
            "event_id": event.event_id,
            "account": self.account,
            "room_id": room_id,
            "session_id": event.session_id,
            "event": json.dumps(event.source),
            "received_at": time.time(),
        }
        self.store.db.table("undecrypted").insert(parked, ignore=True)
        log.info("cannot decrypt yet, waiting for the key", extra={"event": event.event_id})
        self._key_requests.append(event)

    def retry(self, to_device: list[Any], now: float) -> tuple[list[Incoming], list[str]]:
        """Decrypt the parked events whose keys arrived in a sync's to-device events (found
        by session id): the ones a bot wants, and the ids of every event decrypted. They stay
        parked until `unpark` runs in the transaction that stores them in the inbox, so a
        crash in between loses none of them."""
        sessions = sorted(
            {
                e.session_id
                for e in to_device
                if isinstance(e, (RoomKeyEvent, ForwardedRoomKeyEvent))
            }
        )
        if not sessions:
            return [], []
        decrypted, unparked = [], []
        rows = self.store.db.execute(
            "SELECT event_id, room_id, event FROM undecrypted WHERE account = ?"
            f" AND session_id IN ({', '.join('?' * len(sessions))})",
            [self.account, *sessions],
        ).fetchall()
        for event_id, room_id, raw in rows:
            megolm = MegolmEvent.from_dict(json.loads(raw))
            megolm.room_id = room_id
            try:
                event = self.client.decrypt_event(megolm)
            except Exception:
                continue  # another key of the session; pruning drops it when it gets old
            unparked.append(event_id)
            item = Incoming(room_id, source_of(event), now)
            log.info("decrypted a parked event", extra={"event": event_id})
            if self.wants(item):
                decrypted.append(item)
        return decrypted, unparked

    def unpark(self, db: Database, event_ids: list[str]) -> None:
        """Forget parked events that were decrypted (inside the inbox's transaction)."""
        db.conn.executemany(
            "DELETE FROM undecrypted WHERE event_id = ?", [[event_id] for event_id in event_ids]
        )

    def prune(self, now: float, limit: int) -> int:
        """Drop (up to `limit`) parked events whose key never came."""
        return self.store.db.execute(
            "DELETE FROM undecrypted WHERE rowid IN (SELECT rowid FROM undecrypted"
            " WHERE account = ? AND received_at < ? LIMIT ?)",
            [self.account, now - UNDECRYPTED_MAX_AGE, limit],
        ).rowcount


def source_of(event: Any) -> dict[str, Any]:
    """The event as a dict; for a decrypted event, its plaintext (nio keeps m.relates_to)."""
    return dict(getattr(event, "source", None) or {})
