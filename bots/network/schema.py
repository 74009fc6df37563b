"""The network bot's tables and the queries on them.

A network is a row in `networks`; its Matrix rooms (the space included) are rows in
`network_rooms`, by purpose; its people are rows in `network_members`. Everything about a
person lives here, in the instance's own SQLite file, never in room state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.storage import Migrations, Store

migrations = Migrations("network")

# Purposes of a network's rooms, in the order they are created and listed.
SPACE = "space"
ANNOUNCEMENTS = "announcements"
GENERAL = "general"
RESOURCES = "resources"
CHECKINS = "checkins"
COORDINATION = "coordination"
ROOMS = (ANNOUNCEMENTS, GENERAL, RESOURCES, CHECKINS, COORDINATION)
MEMBER_ROOMS = (SPACE, ANNOUNCEMENTS, GENERAL, RESOURCES, CHECKINS)  # every member is invited

# Roles and the power level each has in every room of its network: permission for a network
# comes from this role there, never from the room a command is sent in.
ROLE_LEVELS = {
    "meta-mentor": 100,
    "coordinator": 50,
    "mentor-experienced": 0,
    "mentor-novice": 0,
    "organisation": 0,
}
ROLES = tuple(ROLE_LEVELS)
DEFAULT_ROLE = "mentor-novice"

PENDING, JOINED, LEFT = "pending", "joined", "left"


@migrations.step
def _networks(db: Any) -> None:
    db.execute(
        "CREATE TABLE networks (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " name_key TEXT NOT NULL UNIQUE, language TEXT NOT NULL,"
        " rules TEXT, rules_event_id TEXT,"
        " agreement TEXT, agreement_version INTEGER NOT NULL DEFAULT 0, agreement_event_id TEXT,"
        " created_by TEXT, created_at REAL NOT NULL)"
    )
    db.execute(
        "CREATE TABLE network_rooms (network_id INTEGER NOT NULL"
        " REFERENCES networks(id) ON DELETE CASCADE, purpose TEXT NOT NULL,"
        " room_id TEXT NOT NULL UNIQUE, PRIMARY KEY (network_id, purpose))"
    )
    db.execute(
        "CREATE TABLE network_members (network_id INTEGER NOT NULL"
        " REFERENCES networks(id) ON DELETE CASCADE, user_id TEXT NOT NULL,"
        " role TEXT NOT NULL, status TEXT NOT NULL, display_name TEXT, languages TEXT,"
        " region TEXT, experience TEXT, invited_by TEXT, invited_at REAL, joined_at REAL,"
        " agreed_version INTEGER, agreed_at REAL, last_active REAL,"
        " PRIMARY KEY (network_id, user_id))"
    )
    db.execute("CREATE INDEX network_members_user ON network_members (user_id)")
    # The messages showing an agreement that a ✅ reaction accepts: the one in the
    # announcements room (user_id NULL) and the copy in each member's welcome chat.
    db.execute(
        "CREATE TABLE agreement_messages (event_id TEXT PRIMARY KEY, network_id INTEGER NOT NULL"
        " REFERENCES networks(id) ON DELETE CASCADE, version INTEGER NOT NULL,"
        " room_id TEXT NOT NULL, user_id TEXT)"
    )
    db.execute("CREATE INDEX agreement_messages_user ON agreement_messages (user_id)")


@dataclass
class NetworkRow:
    id: int
    name: str
    language: str
    rules: str | None
    rules_event_id: str | None
    agreement: str | None
    agreement_version: int
    agreement_event_id: str | None
    created_by: str | None
    created_at: float
    rooms: dict[str, str] = field(default_factory=dict)  # purpose -> room id

    @property
    def space(self) -> str:
        return self.rooms[SPACE]

    def all_rooms(self) -> list[str]:
        """The space first, then the rooms in their usual order."""
        return [self.rooms[p] for p in (SPACE, *ROOMS) if p in self.rooms]

    def rooms_for(self, role: str) -> list[str]:
        """The rooms a member with this role belongs in."""
        purposes = MEMBER_ROOMS + ((COORDINATION,) if ROLE_LEVELS[role] >= 50 else ())
        return [self.rooms[p] for p in purposes if p in self.rooms]


@dataclass
class Member:
    network_id: int
    user_id: str
    role: str
    status: str
    display_name: str | None = None
    languages: str | None = None
    region: str | None = None
    experience: str | None = None
    invited_by: str | None = None
    invited_at: float | None = None
    joined_at: float | None = None
    agreed_version: int | None = None
    agreed_at: float | None = None
    last_active: float | None = None

    @property
    def level(self) -> int:
        return ROLE_LEVELS.get(self.role, 0)

    def language(self, supported: Iterable[str], default: str) -> str:
        """The first of the member's languages that the bots speak, else `default`."""
        for code in (self.languages or "").replace(";", ",").split(","):
            code = code.strip().lower()[:2]
            if code in supported:
                return code
        return default


_NETWORK_COLUMNS = (
    "id, name, language, rules, rules_event_id, agreement, agreement_version,"
    " agreement_event_id, created_by, created_at"
)
_MEMBER_COLUMNS = (
    "network_id, user_id, role, status, display_name, languages, region, experience,"
    " invited_by, invited_at, joined_at, agreed_version, agreed_at, last_active"
)


def name_key(name: str) -> str:
    return " ".join(name.casefold().split())


class NetworkStore:
    """Queries on the network tables."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def db(self) -> Any:
        return self.store.db

    # --- networks --------------------------------------------------------------------------

    def _network(self, row: tuple[Any, ...] | None) -> NetworkRow | None:
        if row is None:
            return None
        network = NetworkRow(*row)
        network.rooms = dict(
            self.db.execute(
                "SELECT purpose, room_id FROM network_rooms WHERE network_id = ?", [network.id]
            ).fetchall()
        )
        return network

    def get(self, network_id: int) -> NetworkRow | None:
        row = self.db.execute(
            f"SELECT {_NETWORK_COLUMNS} FROM networks WHERE id = ?", [network_id]
        ).fetchone()
        return self._network(row)

    def all(self) -> list[NetworkRow]:
        """Every network, oldest first."""
        ids = self.db.execute("SELECT id FROM networks ORDER BY id").fetchall()
        return [network for (nid,) in ids if (network := self.get(nid)) is not None]

    def by_name(self, name: str) -> NetworkRow | None:
        row = self.db.execute(
            f"SELECT {_NETWORK_COLUMNS} FROM networks WHERE name_key = ?", [name_key(name)]
        ).fetchone()
        return self._network(row)

    def by_room(self, room_id: str) -> NetworkRow | None:
        row = self.db.execute(
            f"SELECT {_NETWORK_COLUMNS} FROM networks WHERE id ="
            " (SELECT network_id FROM network_rooms WHERE room_id = ?)",
            [room_id],
        ).fetchone()
        return self._network(row)

    def of_member(self, user_id: str) -> list[NetworkRow]:
        """The networks in which `user_id` is a member who has not left."""
        ids = self.db.execute(
            "SELECT network_id FROM network_members WHERE user_id = ? AND status != ?"
            " ORDER BY network_id",
            [user_id, LEFT],
        ).fetchall()
        return [network for (nid,) in ids if (network := self.get(nid)) is not None]

    def room_index(self) -> dict[str, int]:
        """Every network room (and space) and its network."""
        return dict(self.db.execute("SELECT room_id, network_id FROM network_rooms").fetchall())

    def spaces(self) -> set[str]:
        rows = self.db.execute("SELECT room_id FROM network_rooms WHERE purpose = ?", [SPACE])
        return {row[0] for row in rows}

    def create(
        self, name: str, language: str, rooms: dict[str, str], created_by: str, now: float
    ) -> int:
        with self.store.transaction() as db:
            network = {
                "name": name,
                "name_key": name_key(name),
                "language": language,
                "created_by": created_by,
                "created_at": now,
            }
            network_id = db.table("networks").insert(network).last_rowid
            assert network_id is not None  # an INSERT that succeeded
            for purpose, room_id in rooms.items():
                room = {"network_id": network_id, "purpose": purpose, "room_id": room_id}
                db.table("network_rooms").insert(room)
                db.table("room_settings").upsert(
                    {"room_id": room_id, "language": language, "updated_at": now}, pk="room_id"
                )
        return network_id

    def set_rules(self, network_id: int, rules: str, event_id: str | None) -> None:
        self.db.table("networks").update(network_id, {"rules": rules, "rules_event_id": event_id})

    def set_agreement(self, network_id: int, agreement: str) -> int:
        """Store a new agreement text; returns its version number."""
        with self.store.transaction() as db:
            db.execute(
                "UPDATE networks SET agreement = ?, agreement_version = agreement_version + 1,"
                " agreement_event_id = NULL WHERE id = ?",
                [agreement, network_id],
            )
            row = db.execute(
                "SELECT agreement_version FROM networks WHERE id = ?", [network_id]
            ).fetchone()
        return int(row[0])

    def note_agreement_message(
        self,
        network_id: int,
        version: int,
        room_id: str,
        event_id: str,
        user_id: str | None = None,
    ) -> None:
        with self.store.transaction() as db:
            message = {
                "event_id": event_id,
                "network_id": network_id,
                "version": version,
                "room_id": room_id,
                "user_id": user_id,
            }
            db.table("agreement_messages").upsert(message, pk="event_id")
            if user_id is None:
                db.table("networks").update(network_id, {"agreement_event_id": event_id})

    def agreement_message(self, event_id: str) -> tuple[int, int] | None:
        """(network id, version) of an agreement message."""
        row = self.db.execute(
            "SELECT network_id, version FROM agreement_messages WHERE event_id = ?", [event_id]
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def agreement_events(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT event_id FROM agreement_messages")}

    def move_room(self, old_room: str, new_room: str) -> None:
        self.db.execute(
            "UPDATE network_rooms SET room_id = ? WHERE room_id = ?", [new_room, old_room]
        )

    # --- members ---------------------------------------------------------------------------

    def member(self, network_id: int, user_id: str) -> Member | None:
        row = self.db.execute(
            f"SELECT {_MEMBER_COLUMNS} FROM network_members WHERE network_id = ? AND user_id = ?",
            [network_id, user_id],
        ).fetchone()
        return Member(*row) if row else None

    def given_language(self, user_id: str, supported: Iterable[str]) -> str | None:
        """The language given for the person at their latest invitation to a network, if
        it is one the bots speak."""
        rows = self.db.execute(
            f"SELECT {_MEMBER_COLUMNS} FROM network_members WHERE user_id = ?"
            " AND languages IS NOT NULL ORDER BY invited_at DESC",
            [user_id],
        ).fetchall()
        for row in rows:
            language = Member(*row).language(supported, "")
            if language:
                return language
        return None

    def given_name(self, user_id: str) -> str | None:
        """The person's name on the roster of the network they were last invited to."""
        row = self.db.execute(
            "SELECT display_name FROM network_members WHERE user_id = ?"
            " AND display_name IS NOT NULL AND display_name != '' ORDER BY invited_at DESC",
            [user_id],
        ).fetchone()
        return row[0] if row else None

    def members(self, network_id: int) -> list[Member]:
        rows = self.db.execute(
            f"SELECT {_MEMBER_COLUMNS} FROM network_members WHERE network_id = ? ORDER BY user_id",
            [network_id],
        ).fetchall()
        return [Member(*row) for row in rows]

    def memberships(self, user_id: str) -> list[Member]:
        rows = self.db.execute(
            f"SELECT {_MEMBER_COLUMNS} FROM network_members WHERE user_id = ? ORDER BY network_id",
            [user_id],
        ).fetchall()
        return [Member(*row) for row in rows]

    def meta_mentors(self, network_id: int) -> list[str]:
        rows = self.db.execute(
            "SELECT user_id FROM network_members WHERE network_id = ? AND role = 'meta-mentor'"
            " AND status != ? ORDER BY user_id",
            [network_id, LEFT],
        ).fetchall()
        return [row[0] for row in rows]

    def save_member(self, member: Member) -> None:
        """Insert the member, or replace what is known about them."""
        self.db.table("network_members").upsert(member.__dict__, pk=("network_id", "user_id"))

    def remove_member(self, network_id: int, user_id: str) -> None:
        self.db.table("network_members").delete_where(
            "network_id = ? AND user_id = ?", [network_id, user_id]
        )

    def set_role(self, network_id: int, user_id: str, role: str) -> None:
        self.db.table("network_members").update((network_id, user_id), {"role": role})

    def set_status(self, network_id: int, user_id: str, status: str, when: float) -> None:
        self.db.execute(
            "UPDATE network_members SET status = ?,"
            " joined_at = CASE WHEN ? = 'joined' THEN COALESCE(joined_at, ?) ELSE joined_at END"
            " WHERE network_id = ? AND user_id = ?",
            [status, status, when, network_id, user_id],
        )

    def agree(self, network_id: int, user_id: str, version: int, when: float) -> None:
        agreed = {"agreed_version": version, "agreed_at": when}
        self.db.table("network_members").update((network_id, user_id), agreed)

    def touch(self, network_id: int, user_id: str, when: float, resolution: float = 60) -> None:
        """Note activity; skips the write when the stored time is recent enough."""
        self.db.execute(
            "UPDATE network_members SET last_active = ? WHERE network_id = ? AND user_id = ?"
            " AND (last_active IS NULL OR last_active < ?)",
            [when, network_id, user_id, when - resolution],
        )

    def forget(self, user_id: str) -> None:
        """Erase every row about `user_id`, and their name where it is kept as someone's
        inviter or a network's creator."""
        with self.store.transaction() as db:
            db.table("network_members").delete_where("user_id = ?", [user_id])
            db.table("agreement_messages").delete_where("user_id = ?", [user_id])
            db.execute(
                "UPDATE network_members SET invited_by = NULL WHERE invited_by = ?", [user_id]
            )
            db.execute("UPDATE networks SET created_by = NULL WHERE created_by = ?", [user_id])
