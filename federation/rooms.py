"""The Matrix side of the federated directory: this instance's directory room, the European
space, the links between them, and reading a room's state. Nothing but Matrix carries the
directory: publishing is a state event, joining is a space child."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from nio import RoomCreateResponse, RoomPreset, RoomVisibility

from core.account import Account, room_creators

log = logging.getLogger(__name__)

ORGANIZATION = "org.mentornet.directory.organization"
# The space's one resource-exchange room: found among the children by this room type; every
# member network posts its public resources there as RESOURCE events (see bots/resources).
EXCHANGE_ROOM_TYPE = "org.mentornet.resource_exchange"
RESOURCE = "org.mentornet.resource"
SCHEMA_VERSION = 1
SPACE_CHILD = "m.space.child"
SPACE_PARENT = "m.space.parent"
# Below this power level nobody may publish, whatever a room's own settings say.
PUBLISHER_LEVEL = 50

KEY_DIRECTORY_ROOM = "federation:directory_room"
KEY_SPACE = "federation:space"
KEY_EXCHANGE_ROOM = "federation:exchange_room"
HIERARCHY_PAGES = 20  # of 50 children each


class FederationError(Exception):
    """A step of joining or leaving the federation cannot be done; the message says why."""


def server_of(matrix_id: str) -> str:
    return matrix_id.split(":", 1)[1]


def _power_levels(admins: list[str]) -> dict[str, Any]:
    """Only the bot (the creator) and the instance's admins may publish or change anything."""
    return {
        "users": dict.fromkeys(admins, 100),
        "events": {ORGANIZATION: 100, SPACE_PARENT: 100, SPACE_CHILD: 100},
        "events_default": 100,
        "state_default": 100,
        "invite": 100,
    }


async def create_directory_room(
    account: Account, network: str, admins: list[str], accounts: Collection[str] = ()
) -> str:
    """A public, world-readable room whose state is this network's directory. The instance's
    other accounts (a bot with its own account, `bots.accounts`) get the publishing level
    here like the creator: whoever holds it publishes for this network (`publishers`)."""
    levels = _power_levels(admins)
    levels["users"] |= {user: 100 for user in accounts if user != account.user_id}
    response = await account.client.room_create(
        visibility=RoomVisibility.private,
        preset=RoomPreset.public_chat,
        name=network,
        topic=f"Organisations listed by {network} in the mentornet European directory.",
        power_level_override=levels,
        initial_state=[
            {
                "type": "m.room.history_visibility",
                "state_key": "",
                "content": {"history_visibility": "world_readable"},
            }
        ],
    )
    if not isinstance(response, RoomCreateResponse):
        raise FederationError(f"could not create the directory room: {response}")
    account.store.put(KEY_DIRECTORY_ROOM, response.room_id)
    log.info("created the directory room", extra={"room": response.room_id})
    return response.room_id


async def create_space(account: Account, name: str, admins: list[str]) -> str:
    """A public Matrix space whose children are the member networks' directory rooms."""
    response = await account.client.room_create(
        visibility=RoomVisibility.private,
        preset=RoomPreset.public_chat,
        name=name,
        topic="The mentornet European directory of organisations supporting migrants.",
        space=True,
        power_level_override=_power_levels(admins),
    )
    if not isinstance(response, RoomCreateResponse):
        raise FederationError(f"could not create the space: {response}")
    return response.room_id


def _exchange_power_levels(admins: list[str], posters: list[str]) -> dict[str, Any]:
    """Only the accounts that publish for a member network (PUBLISHER_LEVEL, granted when a
    space admin approves the network) may post resources; everyone may send a redaction, but
    Matrix applies it only to the sender's own events unless the sender holds `redact`, which
    only admins (and the creators) do. Only they may change the room."""
    levels = _power_levels(admins)
    levels["users"] |= dict.fromkeys(posters, PUBLISHER_LEVEL)
    levels["events"] = {**levels["events"], RESOURCE: PUBLISHER_LEVEL, "m.room.redaction": 0}
    levels["redact"] = 100
    return levels


async def create_exchange_room(
    account: Account, admins: list[str], posters: Collection[str] = ()
) -> str:
    """The space's public resource-exchange room (room type EXCHANGE_ROOM_TYPE); `posters`
    (our accounts other than the creator) may post there from the start. The caller records
    it under KEY_EXCHANGE_ROOM once the space is recorded."""
    posters = [user for user in posters if user != account.user_id and user not in admins]
    response = await account.client.room_create(
        visibility=RoomVisibility.private,
        preset=RoomPreset.public_chat,
        name="mentornet resource exchange",
        topic="Public resources shared by the networks of the mentornet European directory.",
        room_type=EXCHANGE_ROOM_TYPE,
        power_level_override=_exchange_power_levels(admins, posters),
        initial_state=[
            {
                "type": "m.room.history_visibility",
                "state_key": "",
                "content": {"history_visibility": "world_readable"},
            }
        ],
    )
    if not isinstance(response, RoomCreateResponse):
        raise FederationError(f"could not create the resource exchange room: {response}")
    log.info("created the resource exchange room", extra={"room": response.room_id})
    return response.room_id


def room_type(state: list[dict[str, Any]]) -> str | None:
    """The room type its create event declares (`m.space`, EXCHANGE_ROOM_TYPE, …)."""
    for event in state:
        if event.get("type") == "m.room.create" and event.get("state_key") == "":
            kind = (event.get("content") or {}).get("type")
            return kind if isinstance(kind, str) else None
    return None


async def link_child(account: Account, space_id: str, room_id: str, via: list[str]) -> None:
    """Add a directory room to the space (needs the space's power)."""
    await account.rooms.put_state(space_id, SPACE_CHILD, room_id, {"via": via})


async def unlink_child(account: Account, space_id: str, room_id: str) -> None:
    await account.rooms.put_state(space_id, SPACE_CHILD, room_id, {})


async def claim_parent(account: Account, room_id: str, space_id: str, via: list[str]) -> None:
    """Point our directory room at the space: the room's half of a two-way link."""
    content = {"via": via, "canonical": True}
    await account.rooms.put_state(room_id, SPACE_PARENT, space_id, content)


async def drop_parent(account: Account, room_id: str, space_id: str) -> None:
    await account.rooms.put_state(room_id, SPACE_PARENT, space_id, {})


def linked(content: dict[str, Any] | None) -> bool:
    """Whether an `m.space.child`/`m.space.parent` content links the rooms: a link without
    `via` counts as removed (the spec's rule; matrix-nio even fills in `canonical: false`)."""
    return bool((content or {}).get("via"))


def required_level(power_levels: dict[str, Any], event_type: str) -> int:
    """The power level a room demands for a state event of this type (at least PUBLISHER_LEVEL)."""
    events = power_levels.get("events") or {}
    return max(int(events.get(event_type, power_levels.get("state_default", 50))), PUBLISHER_LEVEL)


def user_level(power_levels: dict[str, Any], creators: frozenset[str], user_id: str) -> int:
    """A user's level from a power-levels content; room creators outrank everyone (v12)."""
    if user_id in creators:
        return 2**53 - 1
    users = power_levels.get("users") or {}
    return int(users.get(user_id, power_levels.get("users_default", 0)))


def resource_level(power_levels: dict[str, Any]) -> int:
    """The level a room demands for posting a resource (a timeline event), at least
    PUBLISHER_LEVEL whatever the room says (an exchange room made before it was raised)."""
    events = power_levels.get("events") or {}
    return max(int(events.get(RESOURCE, power_levels.get("events_default", 0))), PUBLISHER_LEVEL)


async def set_posters(
    account: Account,
    exchange_id: str,
    creators: frozenset[str],
    grant: Collection[str] = (),
    revoke: Collection[str] = (),
) -> tuple[set[str], set[str]]:
    """Give `grant` the level to post resources in the exchange room and take it from
    `revoke` (down to 0), with one power-levels event; nobody's higher level
    is lowered, and the room's `creators` are never listed (room v12). Decided on the room's
    levels as they are when the change is made, one change of the room at a time
    (`Rooms.update_state`). Needs the power to change the room's power levels. Returns
    (granted, revoked): who actually changed."""
    changed: tuple[set[str], set[str]] = (set(), set())

    def change(levels: dict[str, Any]) -> dict[str, Any] | None:
        nonlocal changed
        users = dict(levels.get("users") or {})
        needed = resource_level(levels)
        granted = {u for u in set(grant) - creators if user_level(levels, creators, u) < needed}
        keep = creators | set(grant)
        revoked = {u for u in set(revoke) - keep if 0 < int(users.get(u, 0)) <= needed}
        changed = granted, revoked
        if not granted and not revoked:
            return None
        for user in granted:
            users[user] = needed
        for user in revoked:  # 0 rather than left out: explicit for every client's copy
            users[user] = 0
        return levels | {"users": users}

    if await account.rooms.update_state(exchange_id, "m.room.power_levels", change) is not None:
        granted, revoked = changed
        log.info(
            "changed who may post resources",
            extra={"room": exchange_id, "granted": sorted(granted), "revoked": sorted(revoked)},
        )
    return changed


async def find_exchange_room(account: Account, space: str) -> tuple[str, list[str]] | None:
    """The space's exchange room and the servers to join it through, from the space
    hierarchy (which names each child's room type without joining it)."""
    vias: dict[str, list[str]] = {}
    token: str | None = None
    base = f"/_matrix/client/v1/rooms/{quote(space, safe='')}/hierarchy?max_depth=1&limit=50"
    for _ in range(HIERARCHY_PAGES):
        page = await account.rooms.call("GET", base + (f"&from={quote(token)}" if token else ""))
        rooms = page.get("rooms") or []
        for child in (
            c for r in rooms if r.get("room_id") == space for c in r.get("children_state") or []
        ):
            vias[child.get("state_key", "")] = list((child.get("content") or {}).get("via") or [])
        for room in rooms:
            if room.get("room_type") == EXCHANGE_ROOM_TYPE and room.get("room_id") != space:
                return room["room_id"], vias.get(room["room_id"], [])
        token = page.get("next_batch")
        if not token:
            return None
    return None


@dataclass
class RoomState:
    """What the directory's mirror and the resource exchange judge a room's entries by."""

    name: str
    power_levels: dict[str, Any]
    creators: frozenset[str]
    parents: set[str]

    def may_publish(self, sender: str) -> bool:
        level = user_level(self.power_levels, self.creators, sender)
        return level >= required_level(self.power_levels, ORGANIZATION)


def room_state(room_id: str, state: list[dict[str, Any]]) -> RoomState:
    """What the mirror and the exchange need to know of a room, from its full state."""
    by_type = {(e["type"], e.get("state_key")): e for e in state}
    create = by_type.get(("m.room.create", ""), {"sender": "", "content": {}})
    return RoomState(
        name=(by_type.get(("m.room.name", "")) or {}).get("content", {}).get("name") or room_id,
        power_levels=(by_type.get(("m.room.power_levels", "")) or {}).get("content") or {},
        creators=room_creators(create),
        parents={
            e["state_key"] for e in state if e["type"] == SPACE_PARENT and linked(e.get("content"))
        },
    )
