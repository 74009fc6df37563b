"""Our side of the exchange room in the database: public resources still to post, the event
each was posted as, and the posts still to redact (a removed, withdrawn or replaced one)."""

from __future__ import annotations

from bots.resources.store import Library, Resource


class Outbox:
    """What is still to post or redact, next to a Library in the same Store."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.db = library.db
        self.store = library.store

    # --- the exchange -----------------------------------------------------------------------

    def to_post(self) -> list[tuple[Resource, int]]:
        """Public resources not yet posted as they are now, with their revision."""
        rows = self.db.execute(
            "SELECT id, revision FROM resources WHERE dirty = 1 ORDER BY id"
        ).fetchall()
        return [(r, revision) for i, revision in rows if (r := self.library.get(i)) is not None]

    def waiting(self) -> bool:
        """Whether any public resource waits to be posted."""
        return (
            self.db.execute("SELECT 1 FROM resources WHERE dirty = 1 LIMIT 1").fetchone()
            is not None
        )

    def is_posted(self, resource_id: int) -> bool:
        """Whether the resource's exchange post shows it as it is now."""
        row = self.db.execute(
            "SELECT 1 FROM resources WHERE id = ? AND dirty = 0 AND exchange_event_id IS NOT NULL",
            [resource_id],
        ).fetchone()
        return row is not None

    def posted(self, resource_id: int, revision: int, event_id: str, room_id: str) -> None:
        """Record the event a resource was posted as; the one it replaces is to be redacted."""
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO resource_withdrawals (event_id, room_id)"
                " SELECT exchange_event_id, exchange_room FROM resources WHERE id = ?"
                " AND exchange_event_id IS NOT NULL AND exchange_event_id != ?",
                [resource_id, event_id],
            )
            db.execute(
                "UPDATE resources SET exchange_event_id = ?, exchange_room = ?,"
                " dirty = CASE revision WHEN ? THEN 0 ELSE dirty END WHERE id = ?",
                [event_id, room_id, revision, resource_id],
            )
            db.execute(
                "UPDATE resource_public SET event_id = ?, room_id = ? WHERE local_id = ?",
                [event_id, room_id, resource_id],
            )

    def withdrawals(self) -> list[tuple[str, str]]:
        """(event id, room id) of our exchange events still to redact."""
        return [
            tuple(r) for r in self.db.execute("SELECT event_id, room_id FROM resource_withdrawals")
        ]

    def withdrawn(self, event_id: str) -> None:
        self.db.table("resource_withdrawals").delete_where("event_id = ?", [event_id])

    def unpost_all(self) -> int:
        """We leave the exchange: redact every post; public resources wait to be posted again."""
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO resource_withdrawals (event_id, room_id)"
                " SELECT exchange_event_id, exchange_room FROM resources"
                " WHERE exchange_event_id IS NOT NULL"
            )
            db.execute(
                "UPDATE resource_public SET event_id = NULL, room_id = NULL"
                " WHERE local_id IS NOT NULL"
            )
            return db.execute(
                "UPDATE resources SET exchange_event_id = NULL, exchange_room = NULL,"
                " dirty = public WHERE exchange_event_id IS NOT NULL OR public = 1"
            ).rowcount
