"""The European space's resource-exchange room, seen from this instance: find it among the
space's children by its room type and join it, read its history once (backwards, so that our
homeserver fetches what was posted before it joined), mirror what other networks post, post
our public resources and redact what we withdraw (only what is marked public crosses to
other networks; Matrix federation carries it, nothing else).

A resource is one timeline event of type `org.mentornet.resource` whose content is plain
JSON (`posted_content`). Trust comes from the room's power levels, as for the directory
rooms: posting takes PUBLISHER_LEVEL, which a space admin grants to the accounts that
publish for a network when approving it (`federation.membership.approve`); a mirror keeps a
post only if its sender holds that level (`may_post`), whatever network the post names. Only
the poster's own redaction removes it from the mirrors, or one by someone holding the room's
redact power.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from nio import RoomRedactResponse

from bots.resources.catalogue import Catalogue, Row
from bots.resources.links import SCHEMA_VERSION, read_posted
from bots.resources.outbox import Outbox
from bots.resources.store import Resource
from core.account import Account
from core.config import Config
from core.rooms import MatrixError, room_path
from core.sending import SendError
from core.storage import Store
from federation.rooms import (
    KEY_EXCHANGE_ROOM,
    KEY_SPACE,
    RESOURCE,
    SPACE_CHILD,
    find_exchange_room,
    resource_level,
    room_state,
    server_of,
    user_level,
)

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0  # between attempts to find or join the exchange room
PUBLISH_WAIT = 5.0  # how long a share waits for its post before it answers
HISTORY_TRIES = 5  # reads of the room's history that stop short of its start, before we accept
_FILTER = quote(json.dumps({"types": [RESOURCE, "m.room.create"]}))


def posted_content(resource: Resource, network: str) -> dict[str, Any]:
    """What other networks get: the resource, never who shared it nor any file key."""
    content: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "title": resource.title,
        "description": resource.description,
        "tags": list(resource.tags),
        "language": resource.language,
        "network": network,
    }
    if resource.url:
        content["url"] = resource.url
    else:
        content |= {"mxc": resource.mxc, "mimetype": resource.mimetype}
        content["filename"] = resource.filename
    return content


def redacted_id(event: dict[str, Any]) -> str | None:
    """The event a redaction removes (in `content` since room version 11, else top level)."""
    target = (event.get("content") or {}).get("redacts") or event.get("redacts")
    return target if isinstance(target, str) else None


class Exchange:
    """Keeps this instance in step with the exchange room of the space it belongs to."""

    def __init__(
        self,
        store: Store,
        config: Config,
        outbox: Outbox,
        catalogue: Catalogue,
        account: Callable[[], Account],
    ) -> None:
        self.store, self.config = store, config
        self.outbox, self.catalogue = outbox, catalogue
        self._account = account
        self._lock = asyncio.Lock()
        self._retry_at = 0.0
        self._history_tries = 0
        self._approved: bool | None = None  # whether the room let us post, when we last tried
        self._runs: set[asyncio.Task[None]] = set()

    @property
    def account(self) -> Account:
        return self._account()

    @property
    def space(self) -> str | None:
        return self.store.get(KEY_SPACE) or self.config.directory.space

    @property
    def room_id(self) -> str | None:
        return self.store.get(KEY_EXCHANGE_ROOM)

    def ready(self, room_id: str) -> bool:
        """Whether we joined the room and read its history."""
        return bool(self.store.get(_backfilled(room_id)))

    # --- keeping up with the space ----------------------------------------------------------

    async def tick(self) -> None:
        """Find, join and read the exchange room; post and redact; leave it with the space."""
        async with self._lock:
            space, room = self.space, self.room_id
            try:
                if room and not space:
                    await self._leave(room)
                elif space and time.monotonic() >= self._retry_at:
                    await self._catch_up(space, room)
                await self._flush()
            except MatrixError as error:
                self._retry_at = time.monotonic() + RETRY_SECONDS
                log.warning("resource exchange: will retry", extra={"error": str(error)})

    async def publish_now(self, wait: float = PUBLISH_WAIT) -> None:
        """Find, join and read the exchange room if need be, then post what is pending, at
        once rather than at the next tick; returns when done, or after `wait` seconds while
        it goes on in the background (the history of a large room takes longer)."""
        run = asyncio.create_task(self._run_tick())
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(run), wait)

    async def _run_tick(self) -> None:
        try:
            await self.tick()
        except Exception:
            log.exception("resource exchange failed")

    async def stop(self) -> None:
        """Cancel what `publish_now` left running (the next start does it again)."""
        for run in list(self._runs):
            run.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)

    def waiting(self) -> bool:
        """Whether public resources wait to be posted (a change of the room's power levels
        may let them go)."""
        return self.outbox.waiting()

    def public_status(self, resource_id: int) -> str:
        """Where a public resource stands: `posted` to the exchange room, or what it waits
        for: `space` (we are in no European space), `joining` (the exchange room is not
        joined and read yet), `approval` (the room does not let us post yet) or `retry` (the
        homeserver did not take it yet)."""
        room = self.room_id
        if self.outbox.is_posted(resource_id):
            return "posted"
        if not self.space:
            return "space"
        if not room or not self.ready(room):
            return "joining"
        return "approval" if self._approved is False else "retry"

    async def flush(self) -> None:
        """Post what is pending and redact what was withdrawn, now."""
        async with self._lock:
            try:
                await self._flush()
            except MatrixError as error:
                log.warning("resource exchange: will retry", extra={"error": str(error)})

    async def _catch_up(self, space: str, room: str | None) -> None:
        via: list[str] = []
        if room is None:
            found = await find_exchange_room(self.account, space)
            if found is None:
                self._retry_at = time.monotonic() + RETRY_SECONDS
                return
            room, via = found
            self.store.put(KEY_EXCHANGE_ROOM, room)
        if not self.ready(room):
            if not via:  # the hierarchy names them to anyone; the space's state only to members
                found = await find_exchange_room(self.account, space)
                via = found[1] if found and found[0] == room else []
            if not via:
                child = await self.account.rooms.get_state(space, SPACE_CHILD, room)
                via = list(child.get("via") or [])
            await self.account.rooms.join(room, via)
            count = await self._backfill(room)
            self.store.put(_backfilled(room), 1)
            log.info("joined the resource exchange", extra={"room": room, "resources": count})

    async def _backfill(self, room_id: str) -> int:
        """Mirror what was posted before we joined: the room's history read backwards, from
        now to its start (`/messages?dir=b`). Paging backwards is what makes a homeserver
        that has only just joined fetch the older events from the other servers; it holds
        none of them before. Each page's token is kept, so a restart goes on where it
        stopped; mirroring is idempotent (by event id), so a page read twice changes nothing.
        A read that stops short of the room's creation (the other servers did not answer)
        is taken up again later, a few times. Posts are judged by the room's power levels
        as they are now (read once for the whole history)."""
        progress = _progress(room_id)
        token, count, start = self.store.get(progress), 0, False
        allowed = await may_post(self.account, room_id)
        base = room_path(room_id, "messages") + "?dir=b&limit=100&filter=" + _FILTER
        while True:
            page = await self.account.rooms.call(
                "GET", base + (f"&from={quote(token)}" if token else "")
            )
            chunk = page.get("chunk") or []
            start = start or any(event.get("type") == "m.room.create" for event in chunk)
            count += sum(self.mirror(room_id, event, allowed) for event in chunk)
            end = page.get("end")
            if not end or end == token:  # no further back
                break
            token = end
            self.store.put(progress, token)
        if not start:
            self._history_tries += 1
            if self._history_tries < HISTORY_TRIES:
                raise MatrixError("M_INCOMPLETE", "the room's older history did not arrive yet")
            log.warning("resource exchange: older history missing", extra={"room": room_id})
        self._history_tries = 0
        self.store.delete(progress)
        return count

    async def _leave(self, room_id: str) -> None:
        """The instance left the space: redact our posts, leave, forget the others'."""
        self.outbox.unpost_all()
        await self._redact_withdrawals()
        if self.outbox.withdrawals():
            return  # not all redacted yet: try again
        await self.account.rooms.leave(room_id)
        self.catalogue.drop_room(room_id)
        for key in (KEY_EXCHANGE_ROOM, _backfilled(room_id), _progress(room_id)):
            self.store.delete(key)
        log.info("left the resource exchange", extra={"room": room_id})

    # --- posting and redacting --------------------------------------------------------------

    async def _flush(self) -> None:
        room = self.room_id
        if room and self.space and self.ready(room):
            await self._post(room)
        await self._redact_withdrawals()

    async def _post(self, room_id: str) -> None:
        to_post = self.outbox.to_post()
        if not to_post:
            return
        self._approved = (await may_post(self.account, room_id))(self.account.user_id)
        if not self._approved:
            return  # not approved (yet): the homeserver would refuse; again when it changes
        for resource, revision in to_post:
            if resource.encrypted:  # never: its key would have to travel with it
                continue
            try:
                event_id = await self.account.send(
                    room_id,
                    posted_content(resource, self.config.directory.network),
                    txn=f"resource:{resource.id}:{revision}",
                    event_type=RESOURCE,
                )
            except SendError as error:  # the same transaction is tried again at the next tick
                log.warning("resource not posted yet", extra={"error": str(error)})
                return
            self.outbox.posted(resource.id, revision, event_id, room_id)

    async def _redact_withdrawals(self) -> None:
        for event_id, room_id in self.outbox.withdrawals():
            response = await self.account.client.room_redact(
                room_id, event_id, reason="withdrawn by its network", tx_id=_txn(event_id)
            )
            final = getattr(response, "status_code", None) in ("M_NOT_FOUND", "M_FORBIDDEN")
            if isinstance(response, RoomRedactResponse) or final:
                self.outbox.withdrawn(event_id)
            else:
                log.warning("could not redact", extra={"event": event_id, "error": str(response)})

    # --- what other networks post -----------------------------------------------------------

    async def receive(self, room_id: str, event: dict[str, Any]) -> bool:
        """A live post: kept if its sender may post by the room's power levels as our
        homeserver holds them when the post reaches us."""
        return self.mirror(room_id, event, await may_post(self.account, room_id))

    def mirror(self, room_id: str, event: dict[str, Any], allowed: Callable[[str], bool]) -> bool:
        """Keep one posted resource; False if unusable, from someone who may not post
        (`allowed` says who may), or already here."""
        item = read_posted(event.get("content") or {})
        if item is None or not isinstance(event.get("sender"), str):
            if event.get("content"):
                log.info("ignored an unusable resource", extra={"event": event.get("event_id")})
            return False
        sender = event["sender"]
        if not allowed(sender):
            log.debug(
                "ignored a resource from someone without the power to post",
                extra={"event": event.get("event_id"), "sender": sender},
            )
            return False
        row = Row(
            sender=sender,
            homeserver=server_of(sender),
            network=item["network"],
            dedupe_key=item["key"],
            title=item["title"],
            description=item["description"],
            url=item.get("url"),
            mxc=item.get("mxc"),
            tags=tuple(item["tags"]),
            language=item["language"],
            mimetype=item.get("mimetype"),
            filename=item.get("filename"),
            origin_ts=int(event.get("origin_server_ts") or 0),
            room_id=room_id,
            event_id=event["event_id"],
        )
        return self.catalogue.mirror(row)

    async def redacted(self, room_id: str, event: dict[str, Any]) -> bool:
        """Drop a resource whose poster (or a holder of the redact power) redacted it."""
        target = redacted_id(event)
        poster = self.catalogue.poster(target) if target else None
        if target is None or poster is None:
            return False
        if event["sender"] != poster and not await may_redact(
            self.account, room_id, event["sender"]
        ):
            log.warning(
                "ignored a redaction of someone else's resource",
                extra={"event": target, "sender": event["sender"]},
            )
            return False
        return self.catalogue.drop(target)


async def may_post(account: Account, room_id: str) -> Callable[[str], bool]:
    """Who may post resources in the exchange room: the directory mirror's rule for entries
    (`federation.rooms.RoomState.may_publish`) applied to RESOURCE, by the room's current
    power levels (the synced copy of a joined room, else read from the homeserver)."""
    room = account.client.rooms.get(room_id)
    if room is not None:
        defaults = room.power_levels.defaults
        levels = {"users": room.power_levels.users, "events": room.power_levels.events,
                  "users_default": defaults.users_default,
                  "events_default": defaults.events_default}  # fmt: skip
        creators = account.creators(room_id)
    else:
        state = room_state(room_id, await account.rooms.state(room_id))
        levels, creators = state.power_levels, state.creators
    needed = resource_level(levels)
    return lambda user_id: user_level(levels, creators, user_id) >= needed


async def may_redact(account: Account, room_id: str, user_id: str) -> bool:
    """Whether the room's power levels let `user_id` redact others' events."""
    room = account.client.rooms.get(room_id)
    if room is not None:
        needed = room.power_levels.defaults.redact
    else:
        levels = await account.rooms.get_state(room_id, "m.room.power_levels")
        needed = int(levels.get("redact", 50))
    return await account.power_level(room_id, user_id) >= needed


def _txn(event_id: str) -> str:
    """One transaction id per withdrawal: a redaction repeated after a crash lands once."""
    return "mnw" + hashlib.sha256(event_id.encode()).hexdigest()[:30]


def _backfilled(room_id: str) -> str:
    return f"resources:backfilled:{room_id}"


def _progress(room_id: str) -> str:
    """Where reading the room's history stopped (a `/messages` token), until it is done."""
    return f"resources:backfill_from:{room_id}"
