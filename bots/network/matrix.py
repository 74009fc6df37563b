"""What the network bot does on the homeserver: create a network's space and rooms, invite,
kick, set power levels and pins. Client-server calls nio has no method for go through
`Account.raw`, with rate limits honoured here."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bots.network.schema import ANNOUNCEMENTS, CHECKINS, COORDINATION, GENERAL, SPACE
from core.account import CLASSIC_ROOM_VERSIONS, Account
from core.rooms import MatrixError, Rooms

log = logging.getLogger(__name__)

# Mentors' talk is private: these rooms are end-to-end encrypted. Announcements and resources
# stay readable for people who join later (an encrypted room's history before someone joined
# is unreadable to them without key backup), and they hold no personal talk.
ENCRYPTED = {GENERAL, CHECKINS, COORDINATION}
# Rooms where only coordinators post; members may still react (✅ to accept the agreement).
BROADCAST = {SPACE, ANNOUNCEMENTS}
SUGGESTED = {ANNOUNCEMENTS, GENERAL}


MatrixCallError = MatrixError  # the name this bot's modules use


@dataclass
class RoomPlan:
    purpose: str
    name: str
    topic: str


class Homeserver(Rooms):
    """Room operations for one account, plus creating a network's rooms."""

    def __init__(self, account: Account) -> None:
        super().__init__(account)
        self._room_version: str | None = None

    @property
    def server_name(self) -> str:
        return self.account.user_id.split(":", 1)[1]

    # --- rooms -----------------------------------------------------------------------------

    async def room_version(self) -> str:
        """The version new rooms get (the homeserver's default)."""
        if self._room_version is None:
            try:
                caps = await self.call("GET", "/_matrix/client/v3/capabilities")
                versions = caps.get("capabilities", {}).get("m.room_versions", {})
                self._room_version = str(versions.get("default", "12"))
            except MatrixCallError:
                self._room_version = "12"
        return self._room_version

    async def create_network(
        self, creator: str, space: RoomPlan, rooms: list[RoomPlan]
    ) -> dict[str, str]:
        """Create the space and its rooms, linked both ways; returns room ids by purpose.
        On failure, leaves what was created and raises MatrixCallError."""
        version = await self.room_version()
        classic = version in CLASSIC_ROOM_VERSIONS
        restricted = not (version.isdigit() and int(version) < 8)
        created: dict[str, str] = {}
        try:
            created[SPACE] = await self._create(space, creator, classic, None, restricted)
            for order, plan in enumerate(rooms, start=1):
                room_id = await self._create(plan, creator, classic, created[SPACE], restricted)
                created[plan.purpose] = room_id
                child: dict[str, Any] = {"via": [self.server_name], "order": f"{order:02d}"}
                if plan.purpose in SUGGESTED:
                    child["suggested"] = True
                await self.put_state(created[SPACE], "m.space.child", room_id, child)
        except MatrixCallError:
            for room_id in created.values():
                await self.leave(room_id)
            raise
        return created

    async def _create(
        self, plan: RoomPlan, creator: str, classic: bool, space: str | None, restricted: bool
    ) -> str:
        state: list[dict[str, Any]] = [
            _state("m.room.history_visibility", {"history_visibility": "shared"}),
            _state("m.room.guest_access", {"guest_access": "forbidden"}),
        ]
        if space and restricted and plan.purpose != COORDINATION:
            allow = [{"type": "m.room_membership", "room_id": space}]
            state.append(_state("m.room.join_rules", {"join_rule": "restricted", "allow": allow}))
        else:
            state.append(_state("m.room.join_rules", {"join_rule": "invite"}))
        if plan.purpose in ENCRYPTED:
            state.append(_state("m.room.encryption", {"algorithm": "m.megolm.v1.aes-sha2"}))
        if space:
            parent = {"via": [self.server_name], "canonical": True}
            state.append(_state("m.space.parent", parent, space))
        body: dict[str, Any] = {
            "name": plan.name,
            "topic": plan.topic,
            "preset": "private_chat",
            "visibility": "private",
            "invite": [creator],
            "initial_state": state,
            "power_level_content_override": power_levels(
                plan.purpose, creator, self.account.user_id, classic
            ),
        }
        if plan.purpose == SPACE:
            body["creation_content"] = {"type": "m.space"}
        result = await self.call("POST", "/_matrix/client/v3/createRoom", body)
        return str(result["room_id"])


def _state(event_type: str, content: dict[str, Any], state_key: str = "") -> dict[str, Any]:
    return {"type": event_type, "state_key": state_key, "content": content}


def power_levels(purpose: str, creator: str, bot: str, classic: bool) -> dict[str, Any]:
    """The power levels of a new network room: the creator is Meta-Mentor (100), coordinators
    (50) moderate, invite and pin; everyone else 0. Since room version 12 the bot, as the
    room's creator, outranks every level and must not be listed."""
    users = {creator: 100}
    if classic:
        users[bot] = 100
    events = {
        "m.room.name": 50,
        "m.room.topic": 50,
        "m.room.avatar": 50,
        "m.room.canonical_alias": 50,
        "m.room.pinned_events": 50,
        "m.space.child": 50,
        "m.space.parent": 100,
        "m.room.power_levels": 100,
        "m.room.history_visibility": 100,
        "m.room.join_rules": 100,
        "m.room.encryption": 100,
        "m.room.server_acl": 100,
        "m.room.tombstone": 100,
    }
    events_default = 0
    if purpose in BROADCAST:
        events_default = 50
        events |= {"m.reaction": 0, "m.room.redaction": 0}
    return {
        "users": users,
        "users_default": 0,
        "events": events,
        "events_default": events_default,
        "state_default": 50,
        "invite": 50,
        "kick": 50,
        "ban": 50,
        "redact": 50,
        "notifications": {"room": 50},
    }
