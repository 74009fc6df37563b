"""Parked encrypted events: one whose key arrives leaves the parking place in the same
transaction that puts it into the inbox, so a crash between the two loses no command. A real
matrix-nio client decrypts a real Megolm event; no homeserver is needed for that."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import nio
import pytest
from nio.crypto import InboundGroupSession, OutboundGroupSession

from core.crypto import Crypto
from core.inbox import Inbox, Incoming
from core.storage import open_store

ROOM, SENDER_KEY, TOKEN = "!room:example.org", "curve-of-the-sender", "account:bot:sync_token"


async def parked_command(tmp_path: Path) -> tuple[Crypto, Inbox, nio.AsyncClient, Any]:
    """A bot's crypto and inbox, an encrypted `!ping` parked for want of its key, and the
    to-device event that brings the key (the key itself is given to the client's store)."""
    store = open_store(tmp_path / "mentornet.db")
    client = nio.AsyncClient(
        "http://127.0.0.1:9", "@bot:example.org", store_path=str(tmp_path),
        config=nio.AsyncClientConfig(encryption_enabled=True),
    )  # fmt: skip
    client.restore_login("@bot:example.org", "BOTDEVICE", "token")
    crypto = Crypto("default", client, store, lambda item: True)
    inbox = Inbox("default", store, _never, keep_handled_seconds=60)
    outbound = OutboundGroupSession()
    outbound.shared = True
    session_key = outbound.session_key  # as shared, before the first message
    plaintext = {"type": "m.room.message", "room_id": ROOM,
                 "content": {"msgtype": "m.text", "body": "!ping"}}  # fmt: skip
    encrypted = {
        "type": "m.room.encrypted", "event_id": "$command", "sender": "@mentor:example.org",
        "origin_server_ts": 1, "room_id": ROOM,
        "content": {"algorithm": "m.megolm.v1.aes-sha2", "sender_key": SENDER_KEY,
                    "ciphertext": outbound.encrypt(json.dumps(plaintext)),
                    "session_id": outbound.id, "device_id": "MENTORDEVICE"},
    }  # fmt: skip
    event = nio.Event.parse_event(encrypted)
    assert isinstance(event, nio.MegolmEvent)
    crypto.park(ROOM, event)
    assert client.olm is not None
    session = InboundGroupSession(session_key, "ed-of-the-sender", SENDER_KEY, ROOM)
    client.olm.inbound_group_store.add(session)
    key = nio.RoomKeyEvent(
        {}, "@mentor:example.org", SENDER_KEY, ROOM, outbound.id, "m.megolm.v1.aes-sha2"
    )
    return crypto, inbox, client, key


async def _never(item: Incoming) -> None:
    raise AssertionError("nothing is handled here")


def rows(crypto: Crypto, table: str) -> list[str]:
    return [r[0] for r in crypto.store.db.execute(f"SELECT event_id FROM {table}").fetchall()]


async def test_a_decrypted_command_moves_from_parked_to_the_inbox_at_once(tmp_path) -> None:
    crypto, inbox, client, key = await parked_command(tmp_path)
    decrypted, unparked = crypto.retry([key], now=0)
    assert [item.content["body"] for item in decrypted] == ["!ping"]
    # A crash here, before the inbox has it: the command is still parked, retried later.
    assert rows(crypto, "undecrypted") == ["$command"]
    assert rows(crypto, "inbox") == []

    inbox.store_batch(decrypted, TOKEN, "s2", also=lambda db: crypto.unpark(db, unparked))
    assert rows(crypto, "undecrypted") == []
    assert rows(crypto, "inbox") == ["$command"]
    await client.close()


async def test_a_failed_store_leaves_the_decrypted_command_parked(tmp_path) -> None:
    crypto, inbox, client, key = await parked_command(tmp_path)
    decrypted, unparked = crypto.retry([key], now=0)
    bad_token: Any = object()  # the inbox's transaction fails half way
    with pytest.raises(sqlite3.Error):
        inbox.store_batch(decrypted, TOKEN, bad_token, also=lambda db: crypto.unpark(db, unparked))
    assert rows(crypto, "undecrypted") == ["$command"]  # nothing lost: still parked
    assert rows(crypto, "inbox") == []
    await client.close()
