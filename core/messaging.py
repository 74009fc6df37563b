"""What bots send besides replies: notices, direct messages, and files (encrypted in
encrypted rooms), plus reading files people upload."""

from __future__ import annotations

import io
import logging
import time
from typing import Any

from nio import RoomCreateResponse, UploadResponse
from nio.crypto.attachments import decrypt_attachment

from core.account import Account
from core.context import Context
from core.sending import MessagingError, SendError  # noqa: F401 (re-exported)
from core.storage import Migrations
from core.text import Text

log = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024

messaging_migrations = Migrations("messaging")


@messaging_migrations.step
def _direct_rooms(db: Any) -> None:
    db.execute(
        "CREATE TABLE direct_rooms (account TEXT NOT NULL, user_id TEXT NOT NULL,"
        " room_id TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (account, user_id))"
    )


async def notice(account: Account, room_id: str, text: Text, *, txn: str | None = None) -> str:
    """Post an `m.notice` that replies to nothing (an announcement, a reminder); raises
    `SendError` when it could not be sent."""
    return await account.send(room_id, text.content("m.notice"), txn=txn)


async def direct_room(account: Account, user_id: str) -> str:
    """The bot's direct-message room with `user_id`, ready for (encrypted) messages: reused
    while they are in it, else created (encrypted when the bot can encrypt) and remembered."""
    row = account.store.db.execute(
        "SELECT room_id FROM direct_rooms WHERE account = ? AND user_id = ?",
        [account.name, user_id],
    ).fetchone()
    known = account.client.rooms.get(row[0]) if row else None
    if known is not None and user_id in known.users:
        return known.room_id
    if known is not None:  # they left it: start afresh
        await account.rooms.leave(known.room_id, forget=True)
    initial_state = []
    if account.encrypted:
        encryption = {"algorithm": "m.megolm.v1.aes-sha2"}
        initial_state.append({"type": "m.room.encryption", "state_key": "", "content": encryption})
    response = await account.client.room_create(
        is_direct=True, invite=[user_id], initial_state=initial_state
    )
    if not isinstance(response, RoomCreateResponse):
        raise MessagingError(f"could not open a direct room with {user_id}: {response}")
    account.store.db.execute(
        "INSERT INTO direct_rooms (account, user_id, room_id, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(account, user_id) DO UPDATE SET room_id = excluded.room_id",
        [account.name, user_id, response.room_id, time.time()],
    )
    # Send only once the sync shows them invited: the room key must be shared with them too.
    await account.rooms.wait_for_member(response.room_id, user_id)
    return response.room_id


async def send_file(
    account: Account,
    room_id: str,
    data: bytes,
    filename: str,
    mimetype: str,
    *,
    msgtype: str = "m.file",
    relates_to: dict[str, Any] | None = None,
    txn: str | None = None,
    extra_info: dict[str, Any] | None = None,
) -> str:
    """Upload `data` and post it as a file (or image); encrypted in encrypted rooms. Raises
    `MessagingError` (`SendError` when the post itself failed)."""
    room = account.client.rooms.get(room_id)
    encrypt = bool(room and room.encrypted and account.encrypted)
    response, keys = await account.client.upload(
        io.BytesIO(data),
        content_type=mimetype,
        filename=filename,
        encrypt=encrypt,
        filesize=len(data),
    )
    if not isinstance(response, UploadResponse):
        raise MessagingError(f"upload of {filename} failed: {response}")
    content: dict[str, Any] = {
        "msgtype": msgtype,
        "body": filename,
        "filename": filename,
        "info": {"mimetype": mimetype, "size": len(data), **(extra_info or {})},
    }
    if encrypt and keys:
        content["file"] = {**keys, "url": response.content_uri}
    else:
        content["url"] = response.content_uri
    if relates_to:
        content["m.relates_to"] = relates_to
    return await account.send(room_id, content, txn=txn)


async def attached_file(ctx: Context, *, latest: bool = False) -> dict[str, Any] | None:
    """The `m.file` content a command came with: its own (a file captioned with the command),
    the file it replies to, or, with `latest`, the asker's latest file among the room's last
    20 events. Only the asker's own files count."""
    content = ctx.incoming.content
    if content.get("msgtype") == "m.file":
        return content
    target = ((content.get("m.relates_to") or {}).get("m.in_reply_to") or {}).get("event_id")
    if target:
        events = [await ctx.account.fetch_event(ctx.room_id, target)]
    elif latest:
        events = await ctx.account.recent_events(ctx.room_id, 20)
    else:
        return None
    for event in events:
        file = (event or {}).get("content") or {}
        if (event or {}).get("sender") == ctx.sender and file.get("msgtype") == "m.file":
            return file
    return None


async def download(account: Account, content: dict[str, Any]) -> bytes:
    """The bytes of a file someone posted (`m.file`/`m.image` content), decrypted if needed."""
    encrypted = content.get("file")
    url = (encrypted or {}).get("url") or content.get("url")
    if not isinstance(url, str) or not url.startswith("mxc://"):
        raise MessagingError("the message carries no file")
    size = (content.get("info") or {}).get("size") or 0
    if size > MAX_DOWNLOAD_BYTES:
        raise MessagingError(f"the file is {size // 1_000_000} MB; at most 20 MB are read")
    response = await account.client.download(mxc=url)
    body = getattr(response, "body", None)
    if not isinstance(body, bytes):
        raise MessagingError(f"the file could not be downloaded: {response}")
    if len(body) > MAX_DOWNLOAD_BYTES:
        raise MessagingError("the file is larger than 20 MB")
    if encrypted:
        try:
            return decrypt_attachment(
                body, encrypted["key"]["k"], encrypted["hashes"]["sha256"], encrypted["iv"]
            )
        except Exception as error:
            raise MessagingError(f"the file could not be decrypted ({error})") from None
    return body
