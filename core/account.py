"""One Matrix account the bots speak through: login, the sync loop, sending, invites and room
upgrades; the durable inbox and its per-room workers (core.inbox) and the encryption chores
(core.crypto) hang off it. Bots never touch matrix-nio directly for these chores."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientError
from nio import (
    AsyncClient,
    AsyncClientConfig,
    LocalProtocolError,
    LoginResponse,
    MegolmEvent,
    PowerLevelsEvent,
    RoomMessagesResponse,
    RoomSendResponse,
    SendRetryError,
    SyncError,
    SyncResponse,
    WhoamiResponse,
)
from nio.api import MessageDirection
from nio.events.room_events import PowerLevels

from core.canonical import canonical_problem
from core.config import AccountConfig
from core.crypto import Crypto, source_of
from core.inbox import Inbox, Incoming
from core.rooms import MatrixError, Rooms
from core.sending import Pacer, SendError, fit, is_transient, request_kind
from core.storage import Store

log = logging.getLogger(__name__)

TIMELINE_LIMIT = 50
BACKFILL_PAGES = 20
PRUNE_EVERY = 3600  # seconds between two prunings of handled ids and parked events
PRUNE_CHUNK = 5000  # rows deleted in one go
# Since room version 12 (MSC4289) a room's creators outrank every power level and are not
# listed in m.room.power_levels; in earlier versions they are ordinary users with a level.
CLASSIC_ROOM_VERSIONS = {str(version) for version in range(1, 12)}
CREATOR_LEVEL = 2**53 - 1
LEVEL_READS = 8  # power-levels reads of one sync at a time (the first sync names every room)
# How long syncs leave bulky state out for a room joined by `join_fetching_state` while no
# sync has shown the join yet (then they carry it again).
LEAN_JOIN_SECONDS = 60.0


class AccountError(Exception):
    """The account cannot log in; the message says why."""


class RoomLevels(PowerLevels):
    """A room's power levels as the account holds them: set whole from the room's resolved
    state (`Account._refresh_levels`); matrix-nio's merging of a sync's events is ignored."""

    def update(self, new_levels: Any) -> None:
        return None


Wants = Callable[["Account", Incoming], bool]
Handle = Callable[["Account", Incoming], Awaitable[None]]
Hook = Callable[["Account", str, str], Awaitable[None]]


class Account:
    """A logged-in Matrix account and everything needed to keep it in sync."""

    def __init__(
        self,
        name: str,
        config: AccountConfig,
        store: Store,
        *,
        crypto_store: str | None,
        sync_timeout_ms: int = 30_000,
        max_backoff: float = 30,
        keep_handled_seconds: float = 2 * 86_400,
        invite_allowed: Callable[[str], bool],
        wants: Wants,
        handle: Handle,
        on_room_upgraded: Hook,
        on_direct_invite: Hook | None = None,
        bulky_state_types: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.config = config
        self.store = store
        self.sync_timeout_ms = sync_timeout_ms
        self.invite_allowed = invite_allowed
        self.wants = wants
        self.handle = handle
        self.on_room_upgraded = on_room_upgraded
        self.on_direct_invite = on_direct_invite
        self.bulky_state_types = bulky_state_types
        self.max_backoff = max_backoff
        self.encrypted = crypto_store is not None
        client_config = AsyncClientConfig(
            encryption_enabled=self.encrypted,
            store_sync_tokens=False,
            max_limit_exceeded=None,  # honour every M_LIMIT_EXCEEDED with its retry_after_ms
            max_timeouts=None,  # a homeserver that went away is retried, with back-off
            backoff_factor=0.5,
            max_timeout_retry_wait_time=max_backoff,
        )
        if crypto_store:
            os.makedirs(crypto_store, exist_ok=True)
        self.client = AsyncClient(
            config.homeserver, config.user_id, store_path=crypto_store or "", config=client_config
        )
        self.last_sync: float | None = None
        self.rooms = Rooms(self)
        self.pacer = Pacer()  # answers first; bulk work paced (core.sending)
        self.inbox = Inbox(
            name, store, lambda item: handle(self, item), keep_handled_seconds=keep_handled_seconds
        )
        self.crypto = Crypto(name, self.client, store, lambda item: wants(self, item))
        self._filter_id: str | None = None
        self._full_state_filter_id: str | None = None  # also that of lean syncs (`_sync`)
        self._lean_joins: dict[str, float] = {}  # room → until when its join makes syncs lean
        self._lean_refused = False  # the last lean sync had a gap: the next one is not lean
        self._sync_call: asyncio.Future[Any] | None = None  # the /sync under way, with its filter
        self._sync_call_lean = False
        self._stopping = False
        self._creators: dict[str, frozenset[str]] = {}
        self._levels_due: set[str] = set()  # rooms whose levels could not be read: again
        self._pruned_at: float | None = None

    @property
    def user_id(self) -> str:
        return self.config.user_id

    def _key(self, what: str) -> str:
        return f"account:{self.config.user_id}:{what}"

    # --- login -----------------------------------------------------------------------------

    async def login(self) -> None:
        """Reuse the stored access token and device; log in with the password only when needed."""
        token = self.config.access_token or self.store.get(self._key("access_token"))
        device_id = self.store.get(self._key("device_id"))
        if token:
            self.client.access_token = token
            whoami = await self.client.whoami()
            if isinstance(whoami, WhoamiResponse) and whoami.user_id == self.user_id:
                device_id = whoami.device_id or device_id
                if not device_id:
                    raise AccountError(f"{self.user_id}: the access token has no device id")
                self.client.restore_login(self.user_id, device_id, token)
                self._remember(token, device_id)
                log.info("restored login", extra={"user": self.user_id, "device": device_id})
                return
            if self.config.access_token or not self.config.password:
                raise AccountError(f"{self.user_id}: the access token was refused ({whoami})")
        await self._password_login(device_id)

    async def _password_login(self, device_id: str | None) -> None:
        self.client.device_id = device_id  # the same device again, when we had one
        response = await self.client.login(self.config.password, self.config.device_name)
        if not isinstance(response, LoginResponse):
            raise AccountError(f"{self.user_id}: login failed: {response.message}")
        self._remember(response.access_token, response.device_id)
        log.info("logged in", extra={"user": self.user_id, "device": response.device_id})

    def _remember(self, token: str, device_id: str) -> None:
        with self.store.transaction():
            self.store.put(self._key("access_token"), token)
            self.store.put(self._key("device_id"), device_id)

    @property
    def sync_token(self) -> str | None:
        return self.store.get(self._key("sync_token"))

    # --- the sync loop ---------------------------------------------------------------------

    async def run(self) -> None:
        """Sync until stopped; what the bots must handle is stored before the token advances.
        What waited in the inbox is handled once the first sync has loaded the rooms (nio keeps
        no room state across restarts: a reply sent before would find no room)."""
        await self._upload_filter()
        token = self.sync_token
        first_start = token is None
        if token is not None and self.bulky_state_types:
            await self._catch_up_bulky_state(token)
        full_state = True  # nio keeps no room state across restarts: fetch it once
        while not self._stopping:
            since = self.sync_token
            lean = bool(since) and not full_state and self._lean()
            response = await self._sync(since, full_state, lean)
            if response is None:  # restarted leaner, or lean with a gap: again (`_lean_sync`)
                continue
            if isinstance(response, SyncError):
                await self._sync_failed(response)
                continue
            if full_state:  # the rooms are known now; what waited goes first, in its order
                for item in self.inbox.stored():
                    self.inbox.enqueue(item)
            full_state = False
            self.last_sync = time.monotonic()
            await self._process(response, since, skip_timeline=first_start)
            first_start = False
            await self.crypto.chores()
            await self._prune_when_due()

    async def _sync(self, since: str | None, full_state: bool, lean: bool) -> Any:
        """One /sync; None when `join_fetching_state` cancelled it to sync leaner, or when a
        lean one was not taken (`_lean_sync`)."""
        self._sync_call = asyncio.ensure_future(
            self._lean_sync(since or "")
            if lean
            else self.client.sync(
                timeout=self.sync_timeout_ms if since else 0,
                sync_filter=self._full_state_filter_id if full_state else self._filter_id,
                since=since,
                full_state=full_state,
            )
        )
        self._sync_call_lean = full_state or lean
        try:
            return await self._sync_call
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._sync_call.cancelled() and not (current and current.cancelling()):
                return None
            raise
        finally:
            self._sync_call = None

    async def _lean_sync(self, since: str) -> SyncResponse | SyncError | None:
        """A /sync without bulky state (`join_fetching_state`), which nio takes in only once
        it is kept: one with a gap in another room (`_lean_gap`) is dropped unseen (None),
        and the next sync, not lean, fetches it all again from the same token. Had nio seen
        it, it would have stored its keys and decrypted its events, and then skipped the
        second answer as one it had (the same `next_batch`)."""
        query = urlencode(
            {"since": since, "timeout": self.sync_timeout_ms, "filter": self._full_state_filter_id}
        )
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        try:
            transport = await self.client.send(
                "GET", f"/_matrix/client/v3/sync?{query}", None, headers,
                timeout=self.sync_timeout_ms / 1000 + 15,
            )  # fmt: skip
            response = await self.client.create_matrix_response(SyncResponse, transport)
        except (ClientError, TimeoutError, ValueError) as error:
            return SyncError(str(error) or type(error).__name__)
        if isinstance(response, SyncResponse) and self._lean_gap(response):
            self._lean_refused = True
            return None
        self._lean_refused = False
        await self.client.receive_response(response)
        return response

    async def join_fetching_state(self, room_id: str, via: list[str]) -> str:
        """Join a room whose bulky state the caller fetches itself (a directory room, whose
        first copy reads /state). After a join, a sync's `state` section holds the room's
        whole state, history that `_process` drops; for 10,000 entries that is 17 MB which
        nio would parse on the event loop. So until a sync shows the join (at most
        LEAN_JOIN_SECONDS), syncs leave bulky state out, and one already waiting is restarted.
        A room we are in already is joined as any other (no sync will show a join)."""
        room = self.client.rooms.get(room_id)
        if room is not None and self.user_id in room.users:
            return await self.rooms.join(room_id, via)
        self._lean_joins[room_id] = time.monotonic() + LEAN_JOIN_SECONDS
        if self._sync_call is not None and not self._sync_call_lean:
            self._sync_call.cancel()
        try:
            return await self.rooms.join(room_id, via)
        except BaseException:  # a join that timed out here may still complete on the server
            self._lean_joins[room_id] = time.monotonic() + LEAN_JOIN_SECONDS
            raise

    def _lean(self) -> bool:
        """Whether the next sync leaves bulky state out (`join_fetching_state`)."""
        now = time.monotonic()
        self._lean_joins = {room: until for room, until in self._lean_joins.items() if until > now}
        if self._lean_refused:  # the last lean sync was not taken: this one is not lean
            self._lean_refused = False
            return False
        return bool(self._lean_joins)

    def _lean_gap(self, response: SyncResponse) -> bool:
        """Whether a lean sync left out bulky state that counts: a room's timeline has a gap,
        whose bulky state only the `state` section carries (see `_process`), and it is not
        the gap before our join (history)."""
        return any(
            room.timeline.limited and not self._joins(list(room.timeline.events))
            for room in response.rooms.join.values()
        )

    async def _upload_filter(self) -> None:
        """Two filters: bulky state types are left out of the one full-state sync (a room's
        thousands of entries), but not of incremental syncs, whose `state` section then holds
        what reached the homeserver outside the timeline (a federation gap); except while a
        directory room is being joined (`join_fetching_state`)."""
        self._filter_id = await self._filter({"lazy_load_members": False})
        self._full_state_filter_id = await self._filter(
            {"lazy_load_members": False, "not_types": list(self.bulky_state_types)}
        )

    async def _catch_up_bulky_state(self, since: str) -> None:
        """After a restart: the bulky state that changed while we were down. The full-state
        sync that follows leaves bulky types out of its `state` section, so what reached the
        homeserver outside the timeline would be lost; this sync holds only bulky types and
        does not move the token (nio does not see it: no to-device events are consumed)."""
        bulky = list(self.bulky_state_types)
        rooms = {"timeline": {"types": bulky, "limit": TIMELINE_LIMIT},
                 "state": {"types": bulky}, "ephemeral": {"types": []},
                 "account_data": {"types": []}}  # fmt: skip
        query = urlencode({"since": since, "timeout": 0, "filter": json.dumps({"room": rooms})})
        try:
            response = await self.raw("GET", f"/_matrix/client/v3/sync?{query}")
        except (ClientError, TimeoutError, ValueError) as error:
            log.warning("no catch-up of bulky state", extra={"error": str(error)})
            return
        now, fresh = time.monotonic(), []
        for room_id, room in (response.get("rooms") or {}).get("join", {}).items():
            events = [*room.get("state", {}).get("events", []),
                      *room.get("timeline", {}).get("events", [])]  # fmt: skip
            items = [Incoming(room_id, event, now) for event in events if "event_id" in event]
            fresh += [item for item in items if self.wants(self, item)]
        self.inbox.store_batch(
            fresh, self._key("sync_token"), since
        )  # handled with the rest of the inbox after the first sync

    async def _filter(self, state: dict[str, Any]) -> str | None:
        response = await self.client.upload_filter(
            presence={"types": []}, room={"timeline": {"limit": TIMELINE_LIMIT}, "state": state}
        )
        return getattr(response, "filter_id", None)

    async def _sync_failed(self, error: SyncError) -> None:
        if error.status_code == "M_UNKNOWN_TOKEN" and self.config.password:
            log.warning("access token no longer valid, logging in again")
            await self._password_login(self.store.get(self._key("device_id")))
            return
        log.warning("sync failed, retrying", extra={"error": error.message})
        await asyncio.sleep(min(5.0, self.client.config.max_timeout_retry_wait_time))

    async def _process(
        self, response: SyncResponse, since: str | None, skip_timeline: bool
    ) -> None:
        await self._handle_invites(response)
        for room_id in response.rooms.leave:  # left or kicked: nio would still list us in it
            self._levels_due.discard(room_id)
            room = self.client.rooms.get(room_id)
            if room is not None:
                room.remove_member(self.user_id)
        fresh: list[Incoming] = []
        levels: dict[str, PowerLevels] = {}
        now = time.monotonic()
        for room_id, room in response.rooms.join.items():
            live = list(room.timeline.events)
            earlier = []
            gap = room.timeline.limited and since and not skip_timeline
            if gap and not self._joins(live) and not self._only_bulky(live):
                earlier = await self._backfill(room_id, room.timeline.prev_batch, since)
            for event in [*room.state, *earlier, *live]:
                self._note_creators(room_id, event)
                await self._follow_tombstone(room_id, event)
            changes = [e for e in [*earlier, *room.state, *live] if isinstance(e, PowerLevelsEvent)]
            if changes:
                levels[room_id] = changes[-1].power_levels
            joins = self._joins(earlier + live)
            if joins:
                self._lean_joins.pop(room_id, None)  # the join is seen: syncs carry all again
            # Bulky state that reached the homeserver outside the timeline (a federation gap)
            # is in the `state` section: the state at the start of `live`. After a join, that
            # section is the room's whole state: history, not for us.
            bulky = self.bulky_state_types
            gap = [] if joins else [e for e in room.state if source_of(e).get("type") in bulky]
            timeline = earlier + gap + live
            timeline = timeline[self._joins(timeline)[-1] + 1 :] if joins else timeline
            if skip_timeline:  # history is not for us, but tracked state must not have gaps
                timeline = [e for e in timeline if source_of(e).get("type") in bulky]
            fresh += self._wanted(room_id, timeline, now)
        await self._refresh_levels(levels)
        decrypted, unparked = self.crypto.retry(response.to_device_events, now)
        fresh += decrypted
        self.inbox.store_batch(
            fresh,
            self._key("sync_token"),
            response.next_batch,
            also=lambda db: self.crypto.unpark(db, unparked),
        )
        for item in fresh:
            self.inbox.enqueue(item)

    def _wanted(self, room_id: str, timeline: list[Any], now: float) -> list[Incoming]:
        """The timeline events some bot must act on; undecryptable ones are parked."""
        wanted = []
        for event in timeline:
            if isinstance(event, MegolmEvent):
                self.crypto.park(room_id, event)
                continue
            item = Incoming(room_id, source_of(event), now)
            if "event_id" in item.event and self.wants(self, item):
                wanted.append(item)
        return wanted

    async def _backfill(self, room_id: str, prev_batch: str | None, since: str | None) -> list[Any]:
        """Events a limited sync left out between the stored token and the timeline's start."""
        events: list[Any] = []
        start = prev_batch
        for _ in range(BACKFILL_PAGES):
            page = await self.client.room_messages(
                room_id, start=start, end=since, direction=MessageDirection.back, limit=100
            )
            if not isinstance(page, RoomMessagesResponse) or not page.chunk:
                break
            events.extend(page.chunk)
            if self._joins(page.chunk):  # nothing from before we joined
                break
            if not page.end or page.end == start:
                break
            start = page.end
        log.info("backfilled a limited timeline", extra={"room": room_id, "events": len(events)})
        return list(reversed(events))

    def _only_bulky(self, events: list[Any]) -> bool:
        """Whether a timeline is all bulky state (a directory room filling up). Its gap's state
        comes in the sync's `state` section; /messages would first make the homeserver pull
        the gap over federation, holding up the sync loop for tens of seconds."""
        kinds = {source_of(event).get("type") for event in events}
        return bool(kinds) and kinds <= set(self.bulky_state_types)

    def _joins(self, events: list[Any]) -> list[int]:
        """Positions of our own joins to a room: what precedes one is history, not for us."""
        positions = []
        for index, event in enumerate(events):
            source = source_of(event)
            if source.get("type") == "m.room.member" and source.get("state_key") == self.user_id:
                before = ((source.get("unsigned") or {}).get("prev_content") or {}).get(
                    "membership"
                )
                if (source.get("content") or {}).get("membership") == "join" and before != "join":
                    positions.append(index)
        return positions

    def _note_creators(self, room_id: str, event: Any) -> None:
        source = source_of(event)
        if source.get("type") == "m.room.create" and source.get("state_key") == "":
            self._creators[room_id] = room_creators(source)

    async def _refresh_levels(self, synced: dict[str, PowerLevels]) -> None:
        """Set the levels of the rooms a sync changed them in (`synced`: the last levels it
        carried for each) from the homeserver's current state, which is the rooms' resolved
        state; the sync's own events are not. Its `state` section is the state at the start
        of its timeline: when the timeline starts with an event built on an older fork (a
        member of another server who left before our server's change reached theirs), that
        section brings back the levels of that fork, although state resolution kept ours.
        And a change on a fork that resolution rejects still shows in the timeline. A room
        whose levels cannot be read keeps the sync's and is read again after the next sync."""
        due = set(synced) | {room for room in self._levels_due if room in self.client.rooms}
        if not due:
            return
        limit = asyncio.Semaphore(LEVEL_READS)
        rooms = sorted(due)
        read = await asyncio.gather(*(self._read_levels(room, limit) for room in rooms))
        self._levels_due.clear()
        for room_id, levels in zip(rooms, read, strict=True):
            room = self.client.rooms.get(room_id)
            if levels is None:
                self._levels_due.add(room_id)
                levels = synced.get(room_id)
            if room is not None and levels is not None:
                room.power_levels = RoomLevels(levels.defaults, dict(levels.users), levels.events)

    async def _read_levels(self, room_id: str, limit: asyncio.Semaphore) -> PowerLevels | None:
        """The room's current power levels on the homeserver; None if they cannot be read."""
        async with limit:
            try:
                content = await self.rooms.get_state(room_id, "m.room.power_levels")
            except MatrixError as error:
                log.warning("power levels not read", extra={"room": room_id, "error": str(error)})
                return None
        event = PowerLevelsEvent.from_dict(
            {"type": "m.room.power_levels", "state_key": "", "event_id": "$current",
             "sender": self.user_id, "origin_server_ts": 0, "content": content}
        )  # fmt: skip
        return event.power_levels if isinstance(event, PowerLevelsEvent) else None

    # --- sending ---------------------------------------------------------------------------

    async def send(
        self,
        room_id: str,
        content: dict[str, Any],
        *,
        txn: str | None = None,
        event_type: str = "m.room.message",
        attempts: int = 1,
    ) -> str:
        """Send an event and return its id; `txn` makes a repeated send (after a crash) land
        only once. Raises `SendError`; a transient failure is tried up to `attempts` times in
        all, with back-off (under the same transaction id, so it never lands twice). Content
        no homeserver accepts (a decimal number) is refused before it is sent."""
        problem = canonical_problem(content)
        if problem:
            log.error("cannot send", extra={"room": room_id, "error": problem})
            raise SendError(room_id, problem, transient=False)
        content = fit(content)
        seed = txn if txn is not None else uuid.uuid4().hex
        txn_id = "mn" + hashlib.sha256(seed.encode()).hexdigest()[:30]
        for attempt in range(1, attempts + 1):
            try:
                return await self._send_once(room_id, event_type, content, txn_id)
            except SendError as error:
                if not error.transient or attempt == attempts or self._stopping:
                    log.error("send failed", extra={"room": room_id, "error": error.reason})
                    raise
                delay = min(2.0 ** (attempt - 1), self.max_backoff)
                log.warning(
                    "send failed, trying again",
                    extra={"room": room_id, "error": error.reason, "in_s": delay},
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _send_once(
        self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str
    ) -> str:
        try:
            async with self.pacer.request("send"):
                response = await self.client.room_send(
                    room_id, event_type, content, tx_id=txn_id, ignore_unverified_devices=True
                )
        except LocalProtocolError as error:  # a room nio does not know: not yet, or not ours
            raise SendError(room_id, str(error), transient=self.last_sync is None) from None
        except (SendRetryError, ClientError, OSError, TimeoutError) as error:
            raise SendError(room_id, str(error) or type(error).__name__, transient=True) from None
        if isinstance(response, RoomSendResponse):
            return response.event_id
        transport = getattr(response, "transport_response", None)
        status = getattr(transport, "status", None)
        errcode = getattr(response, "status_code", None)
        message = f"{getattr(response, 'message', response)} ({errcode or status})"
        raise SendError(room_id, message, transient=is_transient(status, errcode))

    async def raw(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        parse_in_thread: bool = False,
    ) -> Any:
        """A client-server API call nio has no method for. With `parse_in_thread`, the answer
        is parsed in a worker thread, a list one item at a time (`_loads_in_pieces`): for a
        big answer, such as a directory room's whole state (10,000 entries, 17 MB)."""
        async with self.pacer.request(request_kind(method, path)):
            transport = await self.client.send(
                method,
                path,
                json.dumps(body or {}),
                headers={
                    "Authorization": f"Bearer {self.client.access_token}",
                    "Content-Type": "application/json",
                },
            )
            if not parse_in_thread:
                return await transport.json()
            data = await transport.read()
        return await asyncio.to_thread(_loads_in_pieces, data)

    async def fetch_event(self, room_id: str, event_id: str) -> dict[str, Any] | None:
        """One event of a room, decrypted when it can be; None when it cannot be read."""
        response = await self.client.room_get_event(room_id, event_id)
        event = getattr(response, "event", None)
        if event is None:
            return None
        if isinstance(event, MegolmEvent):
            try:
                event = self.client.decrypt_event(event)
            except Exception:
                return None
        return source_of(event)

    async def recent_events(self, room_id: str, limit: int) -> list[dict[str, Any]]:
        """The room's latest events, newest first, decrypted where they can be."""
        page = await self.client.room_messages(room_id, limit=limit)
        if not isinstance(page, RoomMessagesResponse):
            return []
        return [source_of(event) for event in page.chunk if not isinstance(event, MegolmEvent)]

    def creators(self, room_id: str) -> frozenset[str]:
        """The room's privileged creators (room version 12+), as its create event says."""
        return self._creators.get(room_id, frozenset())

    async def power_level(self, room_id: str, user_id: str) -> int:
        """The user's power level in the room, from the room's own state."""
        if user_id in self._creators.get(room_id, ()):
            return CREATOR_LEVEL
        room = self.client.rooms.get(room_id)
        if room is not None:  # nio holds the state of every joined room (full_state at start)
            return room.power_levels.get_user_level(user_id)
        content = await self.rooms.get_state(room_id, "m.room.power_levels")
        users = content.get("users") or {}
        return int(users.get(user_id, content.get("users_default", 0)))

    # --- invites and upgrades --------------------------------------------------------------

    async def _handle_invites(self, response: SyncResponse) -> None:
        for room_id, info in response.rooms.invite.items():
            invite = next(
                (e for e in info.invite_state if getattr(e, "state_key", None) == self.user_id),
                None,
            )
            inviter = getattr(invite, "sender", None)
            predecessor = self.store.get(self._key(f"upgrade:{room_id}"))
            if predecessor:  # the successor of an upgraded room, invite-only: join it now
                await self._join_successor(predecessor, room_id, [])
            elif inviter and self.invite_allowed(inviter):
                joined = await self._join(room_id, [])
                direct = (getattr(invite, "content", None) or {}).get("is_direct") is True
                if joined and direct and self.on_direct_invite is not None:
                    await self._adopt(room_id, inviter)
            else:
                log.info("declining invite", extra={"room": room_id, "inviter": inviter})
                reason = "mentornet only joins rooms when invited by its network's members."
                await self.rooms.leave(room_id, reason=reason)

    async def _adopt(self, room_id: str, inviter: str) -> None:
        """A direct chat someone opened with us: the bots' messages to them go there."""
        assert self.on_direct_invite is not None
        try:
            await self.on_direct_invite(self, room_id, inviter)
        except Exception:  # the sync goes on; the chat is found again when it is needed
            log.exception("could not adopt a direct chat", extra={"room": room_id})

    async def _join(self, room_id: str, via: list[str]) -> bool:
        try:
            await self.rooms.join(room_id, via)
        except MatrixError as error:
            log.warning("could not join", extra={"room": room_id, "error": str(error)})
            return False
        log.info("joined", extra={"room": room_id})
        return True

    async def _follow_tombstone(self, room_id: str, event: Any) -> None:
        source = source_of(event)
        if source.get("type") != "m.room.tombstone" or source.get("state_key") != "":
            return
        new_room = (source.get("content") or {}).get("replacement_room")
        if (
            not new_room
            or new_room in self.client.rooms
            or self.store.get(self._key(f"upgrade:{new_room}"))
        ):
            return
        # The homeserver only accepts a tombstone from someone with the power to send it,
        # so the sender's authority is already proven by the event being in the room's state.
        log.info("room upgraded", extra={"room": room_id, "new_room": new_room})
        self.store.put(self._key(f"upgrade:{new_room}"), room_id)
        await self._join_successor(room_id, new_room, [source["sender"].split(":", 1)[1]])

    async def _join_successor(self, old_room: str, new_room: str, via: list[str]) -> None:
        """Join the room that replaced `old_room`; if it is invite-only, the invite will do."""
        if await self._join(new_room, via):
            self.store.delete(self._key(f"upgrade:{new_room}"))
            await self.on_room_upgraded(self, old_room, new_room)

    # --- pruning and shutdown --------------------------------------------------------------

    async def _prune_when_due(self) -> None:
        if self._pruned_at is None or time.monotonic() - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = time.monotonic()
            await self.prune(time.time())

    async def prune(self, now: float) -> None:
        """Forget what no-replay no longer needs: old handled ids, parked events whose key
        never came. In chunks, so that the event loop keeps running."""
        handled = parked = 0
        while chunk := self.inbox.prune(now, PRUNE_CHUNK):
            handled += chunk
            await asyncio.sleep(0)
        while chunk := self.crypto.prune(now, PRUNE_CHUNK):
            parked += chunk
            await asyncio.sleep(0)
        if handled or parked:
            log.info("pruned", extra={"handled_ids": handled, "parked_events": parked})

    async def stop_handling(self, grace: float = 10) -> None:
        """Let running handlers finish (briefly); unhandled events stay in the inbox."""
        self._stopping = True
        await self.inbox.stop(grace)

    async def stop(self, grace: float = 10) -> None:
        """Stop handling (see `stop_handling`), then close the client."""
        await self.stop_handling(grace)
        await self.client.close()


def room_creators(create_event: dict[str, Any]) -> frozenset[str]:
    """The users a room's `m.room.create` event makes privileged creators (room v12+)."""
    content = create_event.get("content") or {}
    if content.get("room_version", "1") in CLASSIC_ROOM_VERSIONS:
        return frozenset()
    return frozenset({create_event["sender"], *content.get("additional_creators", [])})


_DECODER = json.JSONDecoder()
_BLANK = re.compile(r"[ \t\n\r]*")


def _loads_in_pieces(data: bytes) -> Any:
    """`json.loads`, but a top-level list is parsed one item at a time. json.loads holds the
    GIL until it is done (~0.5 s for 17 MB), so the event loop would stop even while a
    worker thread parses; between two items the loop gets its turn."""
    text = data.decode()
    index = _BLANK.match(text).end()  # type: ignore[union-attr]
    if not text.startswith("[", index):
        return json.loads(text)
    items: list[Any] = []
    index = _BLANK.match(text, index + 1).end()  # type: ignore[union-attr]
    if text.startswith("]", index):
        return json.loads(text)  # [] (and any trailing junk refused as json.loads does)
    while True:
        item, index = _DECODER.raw_decode(text, index)
        items.append(item)
        index = _BLANK.match(text, index).end()  # type: ignore[union-attr]
        if text.startswith("]", index) and not text[index + 1 :].strip(" \t\n\r"):
            return items
        if not text.startswith(",", index):
            raise json.JSONDecodeError("Expecting ',' delimiter or end of list", text, index)
        index = _BLANK.match(text, index + 1).end()  # type: ignore[union-attr]
