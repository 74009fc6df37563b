"""What the library keeps about people: 👍 votes on the bot's announcements, the rooms whose
uploads are catalogued, and a person's shares; shown by `!me` and erased by `!me forget`."""

from __future__ import annotations

import time
from typing import Any

from bots.network.common import iso
from bots.resources.store import Library


class Ledger:
    """Votes, file rooms and personal data, next to a Library in the same Store."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.db = library.db
        self.store = library.store

    # --- announcements and votes ------------------------------------------------------------

    def announce(self, event_id: str, resource_id: int) -> None:
        announcement = {"event_id": event_id, "resource_id": resource_id}
        self.db.table("resource_announcements").insert(announcement, ignore=True)

    def announced(self, event_id: str) -> int | None:
        row = self.db.execute(
            "SELECT resource_id FROM resource_announcements WHERE event_id = ?", [event_id]
        ).fetchone()
        return row[0] if row else None

    def vote(self, resource_id: int, user_id: str, reaction_id: str) -> bool:
        """Count one 👍 per person; False if they had already given one."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO resource_votes (resource_id, user_id, event_id, voted_at)"
            " VALUES (?, ?, ?, ?)",
            [resource_id, user_id, reaction_id, time.time()],
        )
        return cursor.rowcount > 0

    def voter(self, reaction_id: str) -> str | None:
        """Who gave the 👍 with this reaction event (None if it is no counted vote)."""
        row = self.db.execute(
            "SELECT user_id FROM resource_votes WHERE event_id = ?", [reaction_id]
        ).fetchone()
        return row[0] if row else None

    def unvote(self, reaction_id: str) -> bool:
        """A redacted 👍 no longer counts."""
        cursor = self.db.execute("DELETE FROM resource_votes WHERE event_id = ?", [reaction_id])
        return cursor.rowcount > 0

    # --- rooms whose uploads are catalogued -------------------------------------------------

    def set_file_room(self, room_id: str, user_id: str, on: bool) -> None:
        if on:
            self.db.table("resource_file_rooms").upsert(
                {"room_id": room_id, "enabled_by": user_id, "enabled_at": time.time()},
                pk="room_id",
            )
        else:
            self.db.table("resource_file_rooms").delete_where("room_id = ?", [room_id])

    def is_file_room(self, room_id: str) -> bool:
        return bool(
            self.db.execute(
                "SELECT 1 FROM resource_file_rooms WHERE room_id = ?", [room_id]
            ).fetchone()
        )

    def move_room(self, old_room: str, new_room: str) -> None:
        """A room was upgraded: what was tied to it follows it."""
        with self.store.transaction() as db:
            db.execute(
                "UPDATE resources SET private_room = ? WHERE private_room = ?", [new_room, old_room]
            )
            db.execute(
                "UPDATE OR IGNORE resource_file_rooms SET room_id = ? WHERE room_id = ?",
                [new_room, old_room],
            )

    # --- personal data ----------------------------------------------------------------------

    def personal_data(self, user_id: str) -> dict[str, Any]:
        """What `!me` shows and exports, one readable line an item (like the other bots)."""
        shared = [
            {"resource": f"#{rid} {title}", "shared_at": iso(at), "room": room}
            for rid, title, room, at in self.db.execute(
                "SELECT r.id, r.title, s.room_id, s.shared_at FROM resource_sharers s"
                " JOIN resources r ON r.id = s.resource_id WHERE s.user_id = ?"
                " ORDER BY s.shared_at",
                [user_id],
            )
        ]
        liked = [f"#{rid} {title}" for rid, title in self.db.execute(
            "SELECT r.id, r.title FROM resource_votes v JOIN resources r ON r.id = v.resource_id"
            " WHERE v.user_id = ? ORDER BY v.voted_at",
            [user_id],
        )]  # fmt: skip
        rooms = [row[0] for row in self.db.execute(
            "SELECT room_id FROM resource_file_rooms WHERE enabled_by = ?", [user_id]
        )]  # fmt: skip
        data: dict[str, Any] = {}
        if shared:
            data["resources_shared"] = shared
        if liked:
            data["resources_liked"] = liked
        if rooms:
            data["file_rooms_enabled"] = rooms
        return data

    def forget(self, user_id: str) -> list[int]:
        """Erase the person: their votes and credits; what only they shared is removed (and
        withdrawn from the exchange); what others shared too now points at the next sharer's
        message, not at theirs. Returns the removed resources."""
        only_theirs = [row[0] for row in self.db.execute(
            "SELECT resource_id FROM resource_sharers WHERE user_id = ? AND resource_id NOT IN"
            " (SELECT resource_id FROM resource_sharers WHERE user_id != ?)",
            [user_id, user_id],
        )]  # fmt: skip
        for resource_id in only_theirs:
            self.library.remove(resource_id)
        with self.store.transaction() as db:
            db.execute(
                "UPDATE resources SET (room_id, event_id) = (SELECT s.room_id, s.event_id"
                " FROM resource_sharers s WHERE s.resource_id = resources.id AND s.user_id != ?"
                " ORDER BY s.shared_at LIMIT 1) WHERE event_id IN (SELECT event_id FROM"
                " resource_sharers WHERE user_id = ?)",
                [user_id, user_id],
            )
            db.table("resource_sharers").delete_where("user_id = ?", [user_id])
            db.table("resource_votes").delete_where("user_id = ?", [user_id])
            db.execute(
                "UPDATE resource_file_rooms SET enabled_by = NULL WHERE enabled_by = ?", [user_id]
            )
        return only_theirs
