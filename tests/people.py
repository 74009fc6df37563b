"""People for tests: real matrix-nio clients that play humans on a :class:`LocalSynapse`.

A :class:`Person` logs in, then syncs in a background task for as long as it lives, keeping
every timeline event it has seen (decrypted when it can), so a test can wait for what a bot
says without polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlencode

import nio

from devtools.homeserver import LocalSynapse

log = logging.getLogger(__name__)
T = TypeVar("T")

SYNC_FILTER = {"room": {"timeline": {"limit": 100}}}
REPLY_TYPES = (nio.RoomMessageText, nio.RoomMessageNotice)


class NewUser(Protocol):
    """The ``new_user`` fixture: registers a fresh user, returns (user_id, password)."""

    async def __call__(
        self, hs: LocalSynapse | None = None, prefix: str = "mentor"
    ) -> tuple[str, str]: ...


class MakePerson(Protocol):
    """The ``person`` fixture: registers a fresh user and logs a :class:`Person` in."""

    async def __call__(
        self, hs: LocalSynapse | None = None, *, encryption: bool = False, name: str = "mentor"
    ) -> Person: ...


def in_reply_to(event: nio.Event) -> str | None:
    """The event id an event replies to (``m.relates_to.m.in_reply_to``), if any."""
    relates = event.source.get("content", {}).get("m.relates_to")
    reply = relates.get("m.in_reply_to") if isinstance(relates, dict) else None
    return reply.get("event_id") if isinstance(reply, dict) else None


def describe(event: nio.Event) -> str:
    """One line about an event for error messages."""
    what = getattr(event, "body", None) or event.source.get("type", type(event).__name__)
    return f"{event.sender}: {what!r}"


class Person:
    """A human played by a matrix-nio ``AsyncClient`` that keeps syncing in the background."""

    def __init__(
        self,
        hs: LocalSynapse,
        user_id: str,
        password: str,
        *,
        encryption: bool = False,
        name: str = "person",
    ) -> None:
        self.hs, self.user_id, self.password, self.name = hs, user_id, password, name
        self.encryption = encryption
        self._store = Path(tempfile.mkdtemp(prefix=f"{name}-store-")) if encryption else None
        config = nio.AsyncClientConfig(
            encryption_enabled=encryption,
            store_sync_tokens=True,
            max_limit_exceeded=None,
            max_timeouts=None,
            max_timeout_retry_wait_time=0.5,  # come back quickly after a homeserver restart
        )
        self.client = nio.AsyncClient(
            hs.url, user_id, store_path=str(self._store or ""), config=config
        )
        self.events: list[tuple[str, nio.Event]] = []  # (room_id, event) in arrival order
        self.syncs = 0
        self.sync_error: object | None = None  # the last failure of the sync loop, if any
        self._changed = asyncio.Condition()
        self._crypto = asyncio.Lock()  # E2EE chores and encrypted sends must not interleave
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Person({self.user_id!r}, encryption={self.encryption})"

    @classmethod
    async def login(
        cls,
        hs: LocalSynapse,
        user_id: str,
        password: str,
        *,
        encryption: bool = False,
        name: str = "person",
    ) -> Person:
        """Log in, start syncing and return once the first sync is done."""
        person = cls(hs, user_id, password, encryption=encryption, name=name)
        try:
            response = await person.client.login(password, device_name=name)
            person._check(response, nio.LoginResponse, "login")
            person._task = asyncio.create_task(person._sync_forever(), name=f"sync {user_id}")
            await person._wait(lambda: person.syncs or None, 60, lambda: "a first sync")
        except BaseException:
            await person.close()
            raise
        return person

    async def close(self) -> None:
        """Stop syncing, close the client and remove its store; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.close()
        if self._store is not None:
            shutil.rmtree(self._store, ignore_errors=True)

    # -- the sync loop --------------------------------------------------------------------

    async def _sync_forever(self) -> None:
        while True:
            try:
                await self._sync_once(first=self.syncs == 0)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep syncing whatever happens; tests see sync_error
                log.warning("%s: sync failed: %r", self.user_id, error)
                self.sync_error = error
                await asyncio.sleep(0.2)

    async def _sync_once(self, *, first: bool) -> None:
        response = await self.client.sync(
            timeout=0 if first else 10_000, sync_filter=SYNC_FILTER, full_state=first or None
        )
        if isinstance(response, nio.SyncError):
            self.sync_error = response
            await asyncio.sleep(0.2)
            return
        for room_id, room in response.rooms.join.items():
            self.events.extend((room_id, event) for event in room.timeline.events)
        if self.encryption and (first or not self._crypto.locked()):
            async with self._crypto:
                await self._e2ee_chores()
        self.syncs += 1
        async with self._changed:
            self._changed.notify_all()

    async def _e2ee_chores(self) -> None:
        client = self.client
        await client.send_to_device_messages()
        with contextlib.suppress(nio.LocalProtocolError):  # nothing left to do
            if client.should_upload_keys:
                await client.keys_upload()
            if client.should_query_keys:
                await client.keys_query()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())

    # -- waiting ---------------------------------------------------------------------------

    async def _wait(
        self, check: Callable[[], T | None], timeout: float, what: Callable[[], str]
    ) -> T:
        """Return check()'s first non-None result, re-checking after every sync."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                while (result := check()) is None:
                    await self._changed.wait()
                return result
        except TimeoutError:
            problem = f"; last sync error: {self.sync_error!r}" if self.sync_error else ""
            raise TimeoutError(
                f"{self.user_id} did not see {what()} within {timeout} s{problem}"
            ) from None

    def recent(self, room_id: str | None = None, count: int = 8) -> list[str]:
        """The last few events seen (in one room, or in all), one line each."""
        events = [(r, e) for r, e in self.events if room_id in (None, r)][-count:]
        return [describe(e) if room_id else f"{r} {describe(e)}" for r, e in events]

    def timeline(self, room_id: str) -> list[nio.Event]:
        """All events seen so far in a room, in arrival order."""
        return [event for rid, event in self.events if rid == room_id]

    async def wait_for_event(
        self,
        predicate: Callable[[nio.Event], bool],
        timeout: float = 30,
        *,
        room_id: str | None = None,
    ) -> nio.Event:
        """The first event (already seen or still to come) matching predicate, in room_id
        if given. A predicate raising AttributeError or KeyError (``lambda e: e.body == ...``
        on a member event) counts as no match."""
        seen = 0

        def matches(event: nio.Event) -> bool:
            try:
                return bool(predicate(event))
            except (AttributeError, KeyError):
                return False

        def check() -> nio.Event | None:
            nonlocal seen
            for rid, event in self.events[seen:]:
                if room_id in (None, rid) and matches(event):
                    return event
            seen = len(self.events)
            return None

        where = f" in {room_id}" if room_id else ""
        return await self._wait(
            check, timeout, lambda: f"a matching event{where}; last seen: {self.recent(room_id)}"
        )

    async def wait_for_reply(self, room_id: str, event_id: str, timeout: float = 30) -> nio.Event:
        """The first m.text/m.notice in room_id that replies to event_id."""
        return await self.wait_for_event(
            lambda e: isinstance(e, REPLY_TYPES) and in_reply_to(e) == event_id,
            timeout,
            room_id=room_id,
        )

    def replies_to(self, room_id: str, event_id: str) -> list[nio.Event]:
        """All m.text/m.notice replies to event_id seen so far."""
        return [
            e
            for e in self.timeline(room_id)
            if isinstance(e, REPLY_TYPES) and in_reply_to(e) == event_id
        ]

    async def wait_joined(self, room_id: str, user_id: str, timeout: float = 20) -> None:
        """Wait until this person's sync shows user_id joined to room_id."""

        def check() -> bool | None:
            room = self.client.rooms.get(room_id)
            user = room.users.get(user_id) if room else None
            return True if user is not None and not user.invited else None

        await self._wait(check, timeout, lambda: f"{user_id} joined to {room_id}")

    async def wait_for_invite(self, room_id: str | None = None, timeout: float = 20) -> str:
        """Wait for an invite (to room_id, or to any room) and return the room id."""

        def check() -> str | None:
            rooms = self.client.invited_rooms
            if room_id is None:
                return next(iter(rooms), None)
            return room_id if room_id in rooms else None

        return await self._wait(check, timeout, lambda: f"an invite to {room_id or 'a room'}")

    # -- acting ----------------------------------------------------------------------------

    def _check(self, response: Any, expected: type[T], what: str) -> T:
        if not isinstance(response, expected):
            raise RuntimeError(f"{self.user_id}: {what} failed: {response}")
        return response

    async def create_room(
        self,
        *,
        invite: Sequence[str] = (),
        encrypted: bool = False,
        name: str | None = None,
        public: bool = False,
        power_levels: dict[str, Any] | None = None,
    ) -> str:
        """Create a room and wait until this person's sync knows it; return its id."""
        encryption = {"algorithm": "m.megolm.v1.aes-sha2"}
        response = await self.client.room_create(
            visibility=nio.RoomVisibility.public if public else nio.RoomVisibility.private,
            preset=nio.RoomPreset.public_chat if public else nio.RoomPreset.private_chat,
            name=name,
            invite=list(invite),
            initial_state=[{"type": "m.room.encryption", "state_key": "", "content": encryption}]
            if encrypted
            else [],
            power_level_override=power_levels,
        )
        room_id = self._check(response, nio.RoomCreateResponse, "create_room").room_id
        await self.wait_joined(room_id, self.user_id)
        if encrypted:  # nio must know before the first send, or it would send in clear
            await self._wait(
                lambda: self.client.rooms[room_id].encrypted or None,
                20,
                lambda: f"encryption of {room_id}",
            )
        return room_id

    async def join(self, room_id: str, *, via: Sequence[str] = ()) -> None:
        """Join a room (via: server names to join through, for rooms it was not invited to)."""
        path = f"/_matrix/client/v3/join/{quote(room_id, safe='')}"
        if via:
            path += "?" + urlencode([("server_name", server) for server in via])
        response = await self.client._send(nio.JoinResponse, "POST", path, "{}")
        self._check(response, nio.JoinResponse, f"join {room_id}")
        await self.wait_joined(room_id, self.user_id)

    async def invite(self, room_id: str, user_id: str) -> None:
        """Invite user_id to room_id."""
        response = await self.client.room_invite(room_id, user_id)
        self._check(response, nio.RoomInviteResponse, f"invite {user_id}")

    async def send(
        self,
        room_id: str,
        body: str,
        *,
        thread_root: str | None = None,
        msgtype: str = "m.text",
        formatted_body: str | None = None,
    ) -> str:
        """Send a message (in a thread when thread_root is given); return its event id."""
        content: dict[str, Any] = {"msgtype": msgtype, "body": body}
        if formatted_body is not None:
            content |= {"format": "org.matrix.custom.html", "formatted_body": formatted_body}
        if thread_root is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread_root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": thread_root},
            }
        await self._wait(
            lambda: True if room_id in self.client.rooms else None,
            20,
            lambda: f"room {room_id} in its sync",
        )
        async with self._crypto if self.encryption else contextlib.nullcontext():
            response = await self.client.room_send(
                room_id, "m.room.message", content, ignore_unverified_devices=True
            )
        return self._check(response, nio.RoomSendResponse, "send").event_id

    async def ask(
        self, room_id: str, body: str, timeout: float = 30, thread_root: str | None = None
    ) -> nio.Event:
        """Send a message and wait for the first reply to it."""
        event_id = await self.send(room_id, body, thread_root=thread_root)
        return await self.wait_for_reply(room_id, event_id, timeout)

    async def set_power_level(self, room_id: str, user_id: str, level: int | None) -> None:
        """Give user_id a power level in the room, as a room admin does in Element; None takes
        them out of the `users` list (back to the room's default)."""
        path = f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/state/m.room.power_levels/"
        current = await self.client.room_get_state_event(room_id, "m.room.power_levels")
        content = dict(self._check(current, nio.RoomGetStateEventResponse, "power levels").content)
        users = {**content.get("users", {}), user_id: level}
        content["users"] = {user: value for user, value in users.items() if value is not None}
        response = await self.client._send(
            nio.RoomPutStateResponse, "PUT", path, json.dumps(content), (room_id,)
        )
        self._check(response, nio.RoomPutStateResponse, "set power level")

    async def upgrade_room(self, room_id: str, *, invite: Sequence[str] = ()) -> str:
        """Upgrade the room to the server's default version and, as Element offers, invite
        the old room's members to the new one; returns the new room id."""
        path = f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/upgrade"
        transport = await self.client.send(
            "POST",
            path,
            json.dumps({"new_version": "12"}),
            headers={"Authorization": f"Bearer {self.client.access_token}"},
        )
        body = await transport.json()
        if "replacement_room" not in body:
            raise RuntimeError(f"{self.user_id}: upgrade failed: {body}")
        new_room = body["replacement_room"]
        for user_id in invite:
            await self.invite(new_room, user_id)
        return new_room

    async def send_with_late_key(self, room_id: str, body: str, recipient: str) -> LateKey:
        """Send an encrypted message under a fresh Megolm session whose key nobody has yet,
        as when a sender's client is slow to share it; `LateKey.deliver()` hands the key to
        `recipient`'s devices afterwards. Needs an Olm session with them (send once before)."""
        olm = self.client.olm
        assert olm is not None, "only for people with encryption"
        olm.create_outbound_group_session(room_id)
        session = olm.outbound_group_sessions[room_id]
        key = {
            "algorithm": "m.megolm.v1.aes-sha2",
            "room_id": room_id,
            "session_id": session.id,
            "session_key": session.session_key,  # from message index 0: opens what follows
        }
        session.shared = True  # encrypt with it without telling anyone the key
        event_id = await self.send(room_id, body)
        olm.create_outbound_group_session(room_id)  # later messages: a session shared as usual
        return LateKey(self, event_id, recipient, key)


class LateKey:
    """A Megolm room key held back by :meth:`Person.send_with_late_key`."""

    def __init__(self, sender: Person, event_id: str, recipient: str, key: dict[str, Any]) -> None:
        self.sender, self.event_id, self.recipient, self.key = sender, event_id, recipient, key

    async def deliver(self) -> None:
        """Send the key to every device of the recipient, Olm-encrypted (`m.room_key`)."""
        olm = self.sender.client.olm
        assert olm is not None
        for device in olm.device_store.active_user_devices(self.recipient):
            session = olm.session_store.get(device.curve25519)
            assert session is not None, f"no Olm session with {device.id} yet"
            payload = olm._olm_encrypt(session, device, "m.room_key", self.key)
            message = nio.ToDeviceMessage("m.room.encrypted", self.recipient, device.id, payload)
            response = await self.sender.client.to_device(message)
            self.sender._check(response, nio.ToDeviceResponse, "deliver room key")


async def upload_file(
    someone: Person,
    room_id: str,
    data: bytes,
    filename: str,
    mimetype: str,
    caption: str | None = None,
) -> str:
    """Post a file as Element does (`m.file`, encrypted in an encrypted room); returns its
    event id. A `caption` becomes the body, the file name stays in `filename`."""
    room = someone.client.rooms.get(room_id)
    encrypt = bool(room and room.encrypted)
    response, keys = await someone.client.upload(
        io.BytesIO(data),
        content_type=mimetype,
        filename=filename,
        encrypt=encrypt,
        filesize=len(data),
    )
    upload = someone._check(response, nio.UploadResponse, "upload")
    content: dict[str, Any] = {
        "msgtype": "m.file",
        "body": caption or filename,
        "filename": filename,
        "info": {"mimetype": mimetype, "size": len(data)},
    }
    if encrypt:
        content["file"] = {**(keys or {}), "url": upload.content_uri}
    else:
        content["url"] = upload.content_uri
    async with someone._crypto if someone.encryption else contextlib.nullcontext():
        sent = await someone.client.room_send(
            room_id, "m.room.message", content, ignore_unverified_devices=True
        )
    return someone._check(sent, nio.RoomSendResponse, "send file").event_id


async def reply_to(someone: Person, room_id: str, event_id: str, body: str) -> str:
    """Send `body` as a reply to `event_id` (as Element's Reply does); returns its event id."""
    content = {
        "msgtype": "m.text",
        "body": body,
        "m.relates_to": {"m.in_reply_to": {"event_id": event_id}},
    }
    async with someone._crypto if someone.encryption else contextlib.nullcontext():
        sent = await someone.client.room_send(
            room_id, "m.room.message", content, ignore_unverified_devices=True
        )
    return someone._check(sent, nio.RoomSendResponse, "reply").event_id


async def react(someone: Person, room_id: str, event_id: str, key: str = "✅") -> str:
    """Annotate an event with a reaction, as a client's emoji picker does."""
    content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
    sent = await someone.client.room_send(
        room_id, "m.reaction", content, ignore_unverified_devices=True
    )
    return someone._check(sent, nio.RoomSendResponse, "react").event_id


async def download_file(someone: Person, event: nio.Event) -> bytes:
    """The bytes of a file someone posted (decrypted when it came encrypted)."""
    content = event.source["content"]
    encrypted = content.get("file")
    url = encrypted["url"] if encrypted else content["url"]
    response = await someone.client.download(mxc=url)
    assert isinstance(response, nio.DownloadResponse), response
    if not encrypted:
        return response.body
    return nio.crypto.attachments.decrypt_attachment(
        response.body, encrypted["key"]["k"], encrypted["hashes"]["sha256"], encrypted["iv"]
    )
