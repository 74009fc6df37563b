"""Mirroring the European directory: follow the space's child rooms, copy their organisation
state events into the local database with provenance, drop a room's entries when it stops
counting. Changes reach us only through Matrix federation, as room state."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from core.account import Account, Incoming
from core.rooms import MatrixError
from core.storage import Migrations, Store
from directory.store import Directory, Prepared, Provenance, prepare_listings
from federation.rooms import (
    EXCHANGE_ROOM_TYPE,
    KEY_DIRECTORY_ROOM,
    KEY_EXCHANGE_ROOM,
    KEY_SPACE,
    ORGANIZATION,
    SPACE_CHILD,
    SPACE_PARENT,
    RoomState,
    linked,
    room_state,
    room_type,
    server_of,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

mirror_migrations = Migrations("federation")

# A room's first copy writes COPY_CHUNK entries per transaction. Into a database file, each
# chunk is validated in one worker thread while the chunk before is written in another, on a
# connection of its own (see `Mirror._copy`): the event loop keeps running, and another writer
# waits at most for one chunk's transaction (~25 ms). Into a database in memory (one
# connection), the chunks are written on the event loop, which runs between them. The pause
# is a real sleep, not sleep(0): after sleep(0) the copy is queued before the I/O and timers
# that fell due during the chunk, so they would wait for a second chunk.
COPY_CHUNK = 200
COPY_PAUSE = 0.001  # seconds
# Dropping a room (unfollow) deletes DROP_CHUNK entries per transaction, pausing between them
# (one transaction took 3.6 s for 30,000 entries), from a file in a worker thread: ~100 µs an
# entry, so another writer (an answer's inbox write) waits ~2.5 ms at most. With 100 a
# transaction, SQLite's busy waits (1, 2, 5, 10 ms…) added ~20 ms to answers during a drop.
DROP_CHUNK = 25


@mirror_migrations.step
def _followed_rooms(db: Any) -> None:
    db.execute(
        "CREATE TABLE followed_rooms (room_id TEXT PRIMARY KEY, space_id TEXT,"
        " network TEXT, via TEXT NOT NULL DEFAULT '', followed_at REAL NOT NULL)"
    )


@mirror_migrations.step
def _dropping_rooms(db: Any) -> None:
    """Rooms unfollowed whose entries are still being dropped (finished at the next start)."""
    db.execute("CREATE TABLE dropping_rooms (room_id TEXT PRIMARY KEY, since REAL NOT NULL)")


class Mirror:
    """Keeps the local copy of every directory room of the space."""

    def __init__(self, store: Store, directory: Directory) -> None:
        self.store = store
        self.directory = directory
        # Rooms being copied by `follow` → for each copy under way, the state keys that live
        # events have written since it began (see `_copy`).
        self._copies: dict[str, list[set[str]]] = {}
        self._drop_locks: dict[str, asyncio.Lock] = {}  # one drop of a room at a time

    @property
    def space_id(self) -> str | None:
        return self.store.get(KEY_SPACE)

    def followed(self) -> set[str]:
        return {row[0] for row in self.store.db.execute("SELECT room_id FROM followed_rooms")}

    def is_exchange(self, room_id: str) -> bool:
        """Whether the child is the space's resource-exchange room: not a directory room."""
        return room_id == self.store.get(KEY_EXCHANGE_ROOM)

    # --- live events -----------------------------------------------------------------------

    def wants(self, incoming: Incoming) -> bool:
        kind, room = incoming.event.get("type"), incoming.room_id
        if "state_key" not in incoming.event:
            return False
        if kind == SPACE_CHILD:
            return room == self.space_id
        if kind not in (ORGANIZATION, SPACE_PARENT):
            return False
        return room in self._copies or room in self.followed()  # also while the first copy runs

    async def on_event(self, account: Account, incoming: Incoming) -> None:
        event = incoming.event
        kind = event["type"]
        if kind == SPACE_CHILD:
            await self._child_changed(account, event["state_key"], event.get("content") or {})
        elif kind == SPACE_PARENT and event["state_key"] == self.space_id:
            if not linked(event.get("content")):  # the room left the space
                await self.unfollow(incoming.room_id)
        elif kind == ORGANIZATION:
            state = await self._live_state(account, incoming.room_id)
            if incoming.room_id in self._copies or incoming.room_id in self.followed():
                self._apply(incoming.room_id, event, state)  # not if a first copy failed

    async def _child_changed(self, account: Account, room_id: str, content: dict[str, Any]) -> None:
        if self.is_exchange(room_id):
            return
        if content.get("via"):
            await self.follow(account, room_id, list(content["via"]))
        else:
            await self.unfollow(room_id)
            if room_id != self.store.get(KEY_DIRECTORY_ROOM):
                await account.rooms.leave(room_id)

    async def _live_state(self, account: Account, room_id: str) -> RoomState:
        """The room's state as the sync keeps it (nio), fetched only when nio has none."""
        room = account.client.rooms.get(room_id)
        if room is None:
            return room_state(room_id, await account.rooms.state(room_id))
        levels = room.power_levels
        content = {
            "users": levels.users,
            "users_default": levels.defaults.users_default,
            "events": levels.events,
            "state_default": levels.defaults.state_default,
        }
        return RoomState(room.name or room_id, content, account.creators(room_id), set())

    # --- following rooms -------------------------------------------------------------------

    async def sync_space(self, account: Account) -> None:
        """Follow every child of the space that links back to it; forget the others."""
        space = self.space_id
        if not space:
            return
        children = {
            event["state_key"]: event["content"].get("via") or []
            for event in await account.rooms.state(space)
            if event["type"] == SPACE_CHILD
            and event.get("content", {}).get("via")
            and not self.is_exchange(event["state_key"])
        }
        for room_id in self.followed() - set(children):
            await self.unfollow(room_id)
        for room_id, via in children.items():
            if room_id not in self.followed():
                try:
                    await self.follow(account, room_id, via)
                except MatrixError as error:
                    log.warning(
                        "cannot follow a directory room",
                        extra={"room": room_id, "error": str(error)},
                    )

    async def follow(self, account: Account, room_id: str, via: list[str]) -> int:
        """Join a directory room and copy all its entries; returns how many were accepted.

        A room counts only while the link is two-way: the space lists it as a child and the
        room names the space as its parent. Our own directory room always counts. The copy
        is written in chunks, the event loop running in between (see `_copy`); the room is
        recorded as followed once all of it is in, and a copy that fails leaves nothing of a
        room that was not followed before."""
        await self._drop(room_id)  # first the rest of an earlier drop of it, if any
        own = room_id == self.store.get(KEY_DIRECTORY_ROOM)
        was_followed = room_id in self.followed()
        live: set[str] = set()
        self._copies.setdefault(room_id, []).append(live)  # from before the fetch: see `_copy`
        try:
            if not own:
                await account.join_fetching_state(room_id, via)
            events = await account.rooms.state(room_id)
            if room_type(events) == EXCHANGE_ROOM_TYPE:  # found by its type: remember, skip
                if not self.store.get(KEY_EXCHANGE_ROOM):
                    self.store.put(KEY_EXCHANGE_ROOM, room_id)
                log.info("not following the resource exchange room", extra={"room": room_id})
                return 0
            state = room_state(room_id, events)
            if not own and self.space_id not in state.parents:
                log.info(
                    "not following a room that does not claim the space", extra={"room": room_id}
                )
                return 0
            try:
                accepted = await self._copy(room_id, events, state, live)
            except BaseException:
                if not was_followed:  # do not leave half a room that does not count
                    self.directory.drop_room(room_id)
                raise
            self.store.db.table("followed_rooms").upsert(
                {
                    "room_id": room_id,
                    "space_id": self.space_id,
                    "network": state.name,
                    "via": ",".join(via),
                    "followed_at": time.time(),
                },
                pk="room_id",
            )
        finally:
            copies = self._copies[room_id]
            copies.remove(live)
            if not copies:
                del self._copies[room_id]
        log.info("following a directory room", extra={"room": room_id, "entries": accepted})
        return accepted

    async def _copy(
        self, room_id: str, events: list[dict[str, Any]], state: RoomState, live: set[str]
    ) -> int:
        """Write the room's entries from a fetch of its whole state, COPY_CHUNK per
        transaction, the event loop running on; returns how many were accepted.

        While the loop runs, the room's worker may apply live entries (`on_event`); each one
        it writes is added to `live` (registered before the state was fetched), and the copy
        skips those state keys. Why that and not a comparison of `origin_server_ts`: the
        timestamps come from the senders' servers, whose clocks need not agree, and state
        resolution does not order state by them. Live events, however, arrive in the room's
        order, and any change after one arrives live as well, so the live path converges on
        the room's current state by itself; the fetched copy is a snapshot that can only be
        as new as, or older than, what live events wrote since it was requested. A key left
        to the live path is therefore never stale for long, while a snapshot written over a
        live entry could stay stale for good. Removals and refused content are covered too,
        as they are recorded by key and not by what is stored. Each chunk is filtered once
        its transaction holds the database's write lock: a live entry is added to `live`
        before it is written, so it is either seen by the filter or written after the chunk.

        Into a database file, the chunks are checked and validated in a worker thread
        (`_prepare`, the next chunk while this one is written) and written in another, on a
        connection of their own: SQLite releases the GIL, so validating and writing overlap,
        and the other bots' events are handled during a big copy (the state itself was parsed
        in a worker thread too: `Rooms.state`). In memory, on the event loop."""
        entries = [e for e in events if e["type"] == ORGANIZATION]
        chunks = [entries[at : at + COPY_CHUNK] for at in range(0, len(entries), COPY_CHUNK)]
        prepare = functools.partial(self._prepare, room_id, state)
        if str(self.store.path) == ":memory:":
            return await self._copy_here(room_id, prepare, chunks, live)
        with self._own_connection() as writer, ThreadPoolExecutor(2, "mirror-copy") as threads:
            return await _copy_in_threads(threads, writer, room_id, prepare, chunks, live)

    @contextlib.contextmanager
    def _own_connection(self) -> Iterator[Directory]:
        """The directory on a connection of its own (for a worker thread), closed after."""
        store = Store(self.store.path)
        try:
            yield Directory(store)
        finally:
            store.close()

    def _prepare(
        self, room_id: str, state: RoomState, events: list[dict[str, Any]]
    ) -> list[Prepared]:
        """The entries of a chunk of the room's state whose senders may publish, validated
        (`prepare_listings`); touches no database, so it runs in the copy's worker thread."""
        listings = [
            (e["state_key"], e.get("content") or {}, _provenance(room_id, e, state))
            for e in events
            if self._allowed(room_id, e, state)
        ]
        return prepare_listings(room_id, listings)

    async def _copy_here(
        self,
        room_id: str,
        prepare: Callable[[list[dict[str, Any]]], list[Prepared]],
        chunks: list[list[dict[str, Any]]],
        live: set[str],
    ) -> int:
        """The copy on the event loop, one transaction per chunk, the loop running between."""
        accepted = 0
        for index, chunk in enumerate(chunks):
            if index:
                await asyncio.sleep(COPY_PAUSE)  # let the other bots run between transactions
            prepared = [item for item in prepare(chunk) if item.state_key not in live]
            refused = self.directory.write_listings(room_id, prepared)  # one transaction
            accepted += len(prepared) - len(refused)
        return accepted

    async def unfollow(self, room_id: str) -> int:
        """Stop counting a room: its entries go, DROP_CHUNK per transaction with the event
        loop running in between. The room is marked as being dropped in the same transaction
        that stops following it, so a drop cut short by a stop or crash is finished at the
        next start (`finish_drops`). Our own directory room always counts (we search our own
        directory in or out of a space): it is never unfollowed."""
        if room_id == self.store.get(KEY_DIRECTORY_ROOM):
            return 0
        with self.store.transaction() as db:
            db.table("followed_rooms").delete_where("room_id = ?", [room_id])
            db.table("dropping_rooms").insert(
                {"room_id": room_id, "since": time.time()}, ignore=True
            )
        dropped = await self._drop(room_id)
        log.info("unfollowed a directory room", extra={"room": room_id, "entries": dropped})
        return dropped

    async def finish_drops(self) -> int:
        """Finish dropping the rooms a stop or crash interrupted; returns how many entries."""
        rooms = [row[0] for row in self.store.db.execute("SELECT room_id FROM dropping_rooms")]
        return sum([await self._drop(room_id) for room_id in rooms])

    async def _drop(self, room_id: str) -> int:
        """Drop a room marked in `dropping_rooms` chunk by chunk, then unmark it."""
        async with self._drop_locks.setdefault(room_id, asyncio.Lock()):
            marked = self.store.db.execute(
                "SELECT 1 FROM dropping_rooms WHERE room_id = ?", [room_id]
            ).fetchone()
            dropped = await self._drop_entries(room_id) if marked else 0
            self.store.db.execute("DELETE FROM dropping_rooms WHERE room_id = ?", [room_id])
        return dropped

    async def _drop_entries(self, room_id: str) -> int:
        """Delete a room's entries, DROP_CHUNK per transaction, pausing between them; from a
        database file in a worker thread, on a connection of its own (as `_copy` writes)."""
        in_memory = str(self.store.path) == ":memory:"
        loop = asyncio.get_running_loop()
        dropped = 0
        with contextlib.ExitStack() as stack:
            writer = self.directory if in_memory else stack.enter_context(self._own_connection())
            while True:
                if in_memory:
                    count = writer.drop_some(room_id, DROP_CHUNK)
                else:
                    work = loop.run_in_executor(None, writer.drop_some, room_id, DROP_CHUNK)
                    count = await _finished(work)
                if not count:
                    break
                dropped += count
                await asyncio.sleep(COPY_PAUSE)  # let other writers in between transactions
        return dropped

    # --- entries ---------------------------------------------------------------------------

    def _allowed(self, room_id: str, event: dict[str, Any], state: RoomState) -> bool:
        """Whether the entry's sender may publish in the room; logs the ones ignored."""
        if state.may_publish(event["sender"]):
            return True
        log.warning(
            "ignored an entry from someone without the power to publish",
            extra={"room": room_id, "sender": event["sender"], "event": event.get("event_id")},
        )
        return False

    def _apply(self, room_id: str, event: dict[str, Any], state: RoomState) -> bool:
        """Store one live entry if its sender may publish; False when ignored."""
        if not self._allowed(room_id, event, state):
            return False
        provenance = _provenance(room_id, event, state)
        for live in self._copies.get(room_id, ()):  # a copy under way must not write over it
            live.add(event["state_key"])
        try:
            self.directory.apply_listing(
                room_id, event["state_key"], event.get("content") or {}, provenance
            )
        except ValueError as error:  # a record that does not validate: skip it, keep the rest
            log.warning("ignored an invalid entry", extra={"room": room_id, "error": str(error)})
            return False
        return True


async def _copy_in_threads(
    threads: ThreadPoolExecutor,
    writer: Directory,
    room_id: str,
    prepare: Callable[[list[dict[str, Any]]], list[Prepared]],
    chunks: list[list[dict[str, Any]]],
    live: set[str],
) -> int:
    """Prepare each chunk of state events in one thread while the one before is written in
    the other (`writer`, a connection of its own); live entries are left out under the
    write lock."""
    loop = asyncio.get_running_loop()
    accepted = 0
    ahead = loop.run_in_executor(threads, prepare, chunks[0]) if chunks else None
    try:
        for index in range(len(chunks)):
            prepared = await _finished(ahead)  # type: ignore[arg-type]
            ahead = None
            if index + 1 < len(chunks):
                ahead = loop.run_in_executor(threads, prepare, chunks[index + 1])
            write = loop.run_in_executor(threads, writer.write_listings, room_id, prepared, live)
            refused = await _finished(write)
            accepted += sum(1 for item in prepared if item.state_key not in live) - len(refused)
    finally:
        if ahead is not None:
            with contextlib.suppress(BaseException):
                await _finished(ahead)
    return accepted


async def _finished(future: asyncio.Future[T]) -> T:
    """The result of work in a thread; when cancelled, waits for the work to end first (it
    uses a connection that is closed afterwards)."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await future
        raise


def _provenance(room_id: str, event: dict[str, Any], state: RoomState) -> Provenance:
    return Provenance(
        network=state.name,
        homeserver=server_of(event["sender"]),
        room_id=room_id,
        event_id=event.get("event_id", ""),
        sender=event["sender"],
        origin_ts=event.get("origin_server_ts", 0),
    )
