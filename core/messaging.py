"""How bots speak: the one way to post a notice (`notice`, on top of `Account.send`), to a
person's direct chat (`to_person`), files (encrypted in encrypted rooms); and reading files
people upload. Every send returns the event id or raises `SendError` (see `core.sending`):
a caller that can wait leaves the work for later when `transient`, else logs and moves on.
`Context.reply` (answering a command) is `notice` replying to the command."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from nio import MatrixRoom, RoomCreateResponse, UploadResponse
from nio.crypto.attachments import decrypt_attachment

from core.account import Account
from core.rooms import MatrixError
from core.sending import MessagingError, SendError
from core.storage import Migrations
from core.text import Text

if TYPE_CHECKING:
    from core.context import Context

log = logging.getLogger(__name__)

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024

messaging_migrations = Migrations("messaging")


@messaging_migrations.step
def _direct_rooms(db: Any) -> None:
    db.execute(
        "CREATE TABLE direct_rooms (account TEXT NOT NULL, user_id TEXT NOT NULL,"
        " room_id TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (account, user_id))"
    )


async def notice(
    account: Account,
    room_id: str,
    text: Text,
    *,
    txn: str | None = None,
    reply_to: str | None = None,
    thread: str | None = None,
    mentions: Sequence[str] | None = None,
    attempts: int = 1,
) -> str:
    """Post `text` as an `m.notice`, the one way bots speak: an announcement, a reminder, a
    reply (`reply_to`, in `thread` if given). `mentions`: the only people notified, whoever
    else the text names (None: as clients decide). A transient failure is tried `attempts`
    times in all. Returns the event id; raises `SendError` when it could not be sent."""
    content = text.content("m.notice")
    if reply_to:
        relation: dict[str, Any] = {"m.in_reply_to": {"event_id": reply_to}}
        if thread:
            relation |= {"rel_type": "m.thread", "event_id": thread, "is_falling_back": False}
        content["m.relates_to"] = relation
    if mentions is not None:
        content["m.mentions"] = {"user_ids": sorted(set(mentions))}
    return await account.send(room_id, content, txn=txn, attempts=attempts)


async def to_person(
    account: Account,
    user_id: str,
    text: Text,
    *,
    txn: str | None = None,
    language: str | None = None,
    mentions: Sequence[str] | None = None,
) -> str:
    """Post `text` as a notice in the direct chat with `user_id` (see `direct_chat`; opened if
    need be, `language` becoming its language if it has none). Returns the event id; raises
    `SendError` (or `MessagingError` when no chat could be opened)."""
    chat = await direct_chat(account, user_id, language)
    return await notice(account, chat.room_id, text, txn=txn, mentions=mentions)


@dataclass(frozen=True)
class DirectChat:
    """Where a bot talks with one person alone. `invited`: the person has not accepted the
    invitation to it yet, so they do not see it as a chat."""

    room_id: str
    invited: bool = False


async def direct_room(account: Account, user_id: str, language: str | None = None) -> str:
    """The room id of the direct chat with `user_id` (see `direct_chat`)."""
    return (await direct_chat(account, user_id, language)).room_id


async def direct_chat(account: Account, user_id: str, language: str | None = None) -> DirectChat:
    """The one direct chat of this account with `user_id`, ready for (encrypted) messages.

    The recorded chat while it works (the bot is in it, the person joined or invited, nobody
    else); else another working one that is marked direct (the bot's `m.direct`) or is an
    unnamed room of just the two, such as one the person opened; else a new one (encrypted
    when the bot can encrypt). The chat found is recorded and listed in the bot's `m.direct`.
    A recorded chat the person left is left and unlisted. `language` becomes the chat's
    language if it has none."""
    chat = await _direct_chat(account, user_id)
    if language:
        account.store.db.execute(
            "INSERT OR IGNORE INTO room_settings (room_id, language, updated_at) VALUES (?, ?, ?)",
            [chat.room_id, language, time.time()],
        )
    return chat


async def _direct_chat(account: Account, user_id: str) -> DirectChat:
    async with account.rooms.lock(f"direct:{user_id}"):
        recorded = _recorded(account, user_id)
        if recorded and await _works(account, recorded, user_id):
            return _chat(account, recorded, user_id)
        if account.last_sync is None:  # the rooms to choose from are not known yet
            raise SendError(recorded or user_id, "no sync yet", transient=True)
        if recorded:
            await _retire(account, recorded, user_id)
        room_id = await _find(account, user_id, besides=recorded) or await _open(account, user_id)
        _record(account, user_id, room_id)
        await _mark_direct(account, user_id, room_id, listed=True)
        return _chat(account, room_id, user_id)


async def adopt_direct_room(account: Account, room_id: str, user_id: str) -> None:
    """`user_id` invited the bot to a direct chat (`is_direct`) and the bot joined: if only
    the two are in it, it becomes their direct chat (the newest one a person opens wins).
    Runs in the sync loop: it must not wait for a sync, so it takes no lock `direct_chat`
    holds while it waits for one."""
    members = await account.rooms.members(room_id)
    if set(members) != {account.user_id, user_id}:
        return  # a group chat marked direct: not a place for what is for them alone
    _record(account, user_id, room_id)
    await _mark_direct(account, user_id, room_id, listed=True)
    log.info("adopted a direct chat", extra={"room": room_id})


async def forget_direct_chats(account: Account, user_id: str) -> list[str]:
    """Take `user_id` out of the bot's `m.direct` and leave every direct chat it listed for
    them (the person asked to be forgotten); returns the rooms left."""
    async with account.rooms.lock("m.direct"):
        content = await account.rooms.account_data("m.direct")
        rooms = content.pop(user_id, None) or []
        if rooms:
            await account.rooms.put_account_data("m.direct", content)
    left = [room_id for room_id in rooms if room_id in account.client.rooms]
    for room_id in left:
        await account.rooms.leave(room_id, forget=True)
    return left


def _recorded(account: Account, user_id: str) -> str | None:
    row = account.store.db.execute(
        "SELECT room_id FROM direct_rooms WHERE account = ? AND user_id = ?",
        [account.name, user_id],
    ).fetchone()
    return row[0] if row else None


def _record(account: Account, user_id: str, room_id: str) -> None:
    """`room_id` is the direct chat with `user_id`; one recorded again keeps its date."""
    if _recorded(account, user_id) != room_id:
        account.store.db.table("direct_rooms").upsert(
            {
                "account": account.name,
                "user_id": user_id,
                "room_id": room_id,
                "created_at": time.time(),
            },
            pk=("account", "user_id"),
        )


def _chat(account: Account, room_id: str, user_id: str) -> DirectChat:
    room = account.client.rooms.get(room_id)
    return DirectChat(room_id, invited=room is not None and user_id in room.invited_users)


def _only_us(account: Account, room: MatrixRoom, user_id: str) -> bool:
    """Whether, as the sync shows it, the person and the bot are in the room, nobody else."""
    return set(room.users) == {account.user_id, user_id}


async def _works(account: Account, room_id: str, user_id: str) -> bool:
    """Whether the bot can talk with the person alone in the room. A room the sync does not
    show (yet: just joined; or since a restart: one the bot left) is asked of the homeserver."""
    room = account.client.rooms.get(room_id)
    if room is not None:
        return _only_us(account, room, user_id)
    try:
        members = await account.rooms.members(room_id)
    except MatrixError as error:
        if error.errcode in ("M_FORBIDDEN", "M_NOT_FOUND"):
            return False
        raise SendError(room_id, str(error), transient=True) from None
    if members.get(account.user_id) != "join" or set(members) != {account.user_id, user_id}:
        return False
    return await account.rooms.wait_for_member(room_id, user_id)


async def _retire(account: Account, room_id: str, user_id: str) -> None:
    """A recorded chat that no longer works: unlisted; left when the person left it."""
    room = account.client.rooms.get(room_id)
    if room is not None and account.user_id in room.users and user_id not in room.users:
        await account.rooms.leave(room_id, forget=True)
    await _mark_direct(account, user_id, room_id, listed=False)


async def _find(account: Account, user_id: str, besides: str | None) -> str | None:
    """Another working chat with the person: marked direct first, joined before invited."""
    try:
        marked = set((await account.rooms.account_data("m.direct")).get(user_id) or [])
    except MatrixError as error:
        log.warning("could not read m.direct", extra={"error": str(error)})
        marked = set()
    found = [
        room
        for room in account.client.rooms.values()
        if room.room_id != besides
        and _only_us(account, room, user_id)
        and (room.room_id in marked or not (room.is_named or room.room_type))
    ]
    found.sort(key=lambda r: (user_id in r.invited_users, r.room_id not in marked, r.room_id))
    return found[0].room_id if found else None


async def _open(account: Account, user_id: str) -> str:
    initial_state = []
    if account.encrypted:
        encryption = {"algorithm": "m.megolm.v1.aes-sha2"}
        initial_state.append({"type": "m.room.encryption", "state_key": "", "content": encryption})
    async with account.pacer.request("createRoom"):
        response = await account.client.room_create(
            is_direct=True, invite=[user_id], initial_state=initial_state
        )
    if not isinstance(response, RoomCreateResponse):
        raise MessagingError(f"could not open a direct room with {user_id}: {response}")
    # Send only once the sync shows them invited: the room key must be shared with them too.
    await account.rooms.wait_for_member(response.room_id, user_id)
    return response.room_id


# Changes to each account's `m.direct` not written yet: (person, room) → listed or not. The
# changes that arrive while one write is under way go out together in the next, so a round
# that opens a thousand chats reads and writes the (growing) list a few times, not a thousand.
_unwritten: WeakKeyDictionary[Account, dict[tuple[str, str], bool]] = WeakKeyDictionary()


async def _mark_direct(account: Account, user_id: str, room_id: str, *, listed: bool) -> None:
    """List the room in (or take it out of) the bot's `m.direct`, so that clients show it as
    a direct chat; a failure is only logged (the chat works without)."""
    _unwritten.setdefault(account, {})[(user_id, room_id)] = listed
    try:
        async with account.rooms.lock("m.direct"):
            changes = _unwritten.pop(account, None)
            if not changes:
                return  # written by whoever held the lock before
            content = await account.rooms.account_data("m.direct")
            if _changed(content, changes):
                await account.rooms.put_account_data("m.direct", content)
    except MatrixError as error:
        log.warning("could not update m.direct", extra={"error": str(error)})


def _changed(content: dict[str, Any], changes: dict[tuple[str, str], bool]) -> bool:
    """Apply the changes to an `m.direct` content; whether anything changed."""
    changed = False
    for (user_id, room_id), listed in changes.items():
        before = list(content.get(user_id) or [])
        rooms = [r for r in before if r != room_id] + ([room_id] if listed else [])
        if rooms == before:
            continue
        changed = True
        if rooms:
            content[user_id] = rooms
        else:
            content.pop(user_id, None)
    return changed


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
    events: Sequence[dict[str, Any] | None]
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
