"""The network's resource library (tables: see `bots.resources.schema`): sharing, duplicates,
tags, votes, search, removal, and what is still to post to or redact from the exchange."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bots.resources.catalogue import Row, delete_rows, write_row
from bots.resources.schema import resource_migrations
from bots.resources.search import SEARCH_LIMIT, Page, check_paging, match_expression, ranked
from bots.resources.search import tag_filter as _tag_filter
from core.storage import Store

_WEIGHTS = "10.0, 5.0, 1.0"  # title, tags, body
_FIELDS = (
    "id, url, mxc, file IS NOT NULL, mimetype, filename, size, title, description, language,"
    " public, room_id, event_id, private_room, created_at"
)


@dataclass(frozen=True)
class Shared:
    """One act of sharing a link (`url`, `dedupe_key`) or a file (`mxc`)."""

    sharer: str
    room_id: str
    event_id: str
    title: str
    dedupe_key: str
    description: str = ""
    url: str | None = None
    mxc: str | None = None
    file: dict[str, Any] | None = None  # an encrypted file's key info: never leaves us
    mimetype: str | None = None
    filename: str | None = None
    size: int | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()
    public: bool = False
    private_room: str | None = None  # the encrypted room it was shared in


@dataclass(frozen=True)
class Resource:
    """A resource of the library, with its tags, sharers and 👍 count."""

    id: int
    url: str | None
    mxc: str | None
    encrypted: bool
    mimetype: str | None
    filename: str | None
    size: int | None
    title: str
    description: str
    language: str | None
    public: bool
    room_id: str
    event_id: str
    private_room: str | None
    created_at: float
    tags: tuple[str, ...] = ()
    sharers: tuple[str, ...] = ()
    votes: int = 0


def shared_count(store: Store, room_ids: Sequence[str], since: float, until: float) -> int:
    """How many resources were first shared in these rooms in the period."""
    marks = ", ".join("?" * len(room_ids))
    row = store.db.execute(
        f"SELECT COUNT(*) FROM resources WHERE created_at >= ? AND created_at < ?"
        f" AND room_id IN ({marks})",
        [since, until, *room_ids],
    ).fetchone()
    return int(row[0])


class Library:
    """The library in one Store; `network` and `poster` describe our public entries."""

    def __init__(self, store: Store, network: str, poster: str) -> None:
        self.store = store
        self.db = store.db
        self.network = network
        self.poster = poster
        store.migrate(resource_migrations)

    # --- sharing ----------------------------------------------------------------------------

    def share(self, shared: Shared, now: float | None = None) -> tuple[Resource, bool]:
        """Add a resource, or credit one more sharer of the same link (tags are merged, a
        public request makes it public); returns it and whether it is new."""
        now = time.time() if now is None else now
        with self.store.transaction() as db:
            found = db.execute(
                "SELECT id FROM resources WHERE dedupe_key = ?", [shared.dedupe_key]
            ).fetchone()
            resource_id = (
                self._merge(db, found[0], shared) if found else self._insert(db, shared, now)
            )
            sharer = {
                "resource_id": resource_id,
                "user_id": shared.sharer,
                "room_id": shared.room_id,
                "event_id": shared.event_id,
                "shared_at": now,
            }
            db.table("resource_sharers").insert(sharer, ignore=True)
            self._refresh(db, resource_id)
        resource = self.get(resource_id)
        assert resource is not None
        return resource, not found

    def _insert(self, db: Any, shared: Shared, now: float) -> int:
        file = json.dumps(shared.file) if shared.file else None
        resource = {
            "dedupe_key": shared.dedupe_key,
            "url": shared.url,
            "mxc": shared.mxc,
            "file": file,
            "mimetype": shared.mimetype,
            "filename": shared.filename,
            "size": shared.size,
            "title": shared.title,
            "description": shared.description,
            "language": shared.language,
            "public": int(shared.public),
            "room_id": shared.room_id,
            "event_id": shared.event_id,
            "private_room": None if shared.public else shared.private_room,
            "created_at": now,
            "dirty": int(shared.public),
        }
        resource_id = db.table("resources").insert(resource).last_pk
        self._add_tags(db, resource_id, shared.tags)
        return int(resource_id)

    def _merge(self, db: Any, resource_id: int, shared: Shared) -> int:
        """A second share of the same link: keep the first title; fill what was missing."""
        before = self._signature(db, resource_id)
        db.execute(
            "UPDATE resources SET description = CASE description WHEN '' THEN ? ELSE description"
            " END, language = coalesce(language, ?), public = max(public, ?),"
            " private_room = CASE WHEN ? IS NULL OR ? THEN NULL ELSE private_room END"
            " WHERE id = ?",
            [
                shared.description, shared.language, int(shared.public),
                shared.private_room, int(shared.public), resource_id,
            ],
        )  # fmt: skip
        self._add_tags(db, resource_id, shared.tags)
        if self._signature(db, resource_id) != before:
            self._changed(db, resource_id)
        return resource_id

    def _add_tags(self, db: Any, resource_id: int, tags: Sequence[str]) -> None:
        db.conn.executemany(
            "INSERT OR IGNORE INTO resource_tags (resource_id, tag) VALUES (?, ?)",
            [(resource_id, tag) for tag in tags],
        )

    def _signature(self, db: Any, resource_id: int) -> tuple[Any, ...]:
        row = db.execute(
            "SELECT description, language, public, (SELECT group_concat(tag) FROM"
            " (SELECT tag FROM resource_tags WHERE resource_id = ? ORDER BY tag))"
            " FROM resources WHERE id = ?",
            [resource_id, resource_id],
        ).fetchone()
        return tuple(row)

    def _changed(self, db: Any, resource_id: int) -> None:
        """Mark a change: a public resource is posted again."""
        db.execute(
            "UPDATE resources SET revision = revision + 1, dirty = public WHERE id = ?",
            [resource_id],
        )

    def _refresh(self, db: Any, resource_id: int) -> None:
        """Bring its search text and its public catalogue entry up to date."""
        resource = self._read(db, resource_id)
        db.execute("DELETE FROM resource_fts WHERE rowid = ?", [resource_id])
        delete_rows(db, "local_id = ?", [resource_id])
        if resource is None:
            return
        body = " ".join(p for p in (resource.description, resource.filename or "") if p)
        db.execute(
            "INSERT INTO resource_fts (rowid, title, tags, body) VALUES (?, ?, ?, ?)",
            [resource_id, resource.title, " ".join(resource.tags), body],
        )
        if resource.public:
            write_row(db, self._public_row(db, resource))

    def _public_row(self, db: Any, resource: Resource) -> Row:
        posted = db.execute(
            "SELECT exchange_event_id, dedupe_key FROM resources WHERE id = ?", [resource.id]
        ).fetchone()
        return Row(
            sender=self.poster,
            homeserver=self.poster.split(":", 1)[1],
            network=self.network,
            dedupe_key=posted[1],
            title=resource.title,
            description=resource.description,
            url=resource.url,
            mxc=resource.mxc,
            tags=resource.tags,
            language=resource.language,
            mimetype=resource.mimetype,
            filename=resource.filename,
            origin_ts=int(resource.created_at * 1000),
            event_id=posted[0],
            local_id=resource.id,
        )

    # --- reading ----------------------------------------------------------------------------

    def get(self, resource_id: int) -> Resource | None:
        return self._read(self.db, resource_id)

    def visible(self, resource_id: int, room_id: str) -> Resource | None:
        """The resource, unless it was shared in another encrypted room."""
        resource = self.get(resource_id)
        if resource is None or resource.private_room not in (None, room_id):
            return None
        return resource

    def _read(self, db: Any, resource_id: int) -> Resource | None:
        row = db.execute(f"SELECT {_FIELDS} FROM resources WHERE id = ?", [resource_id]).fetchone()
        if row is None:
            return None
        tags = [r[0] for r in db.execute(
            "SELECT tag FROM resource_tags WHERE resource_id = ? ORDER BY tag", [resource_id]
        )]  # fmt: skip
        sharers = [r[0] for r in db.execute(
            "SELECT user_id FROM resource_sharers WHERE resource_id = ? ORDER BY shared_at",
            [resource_id],
        )]  # fmt: skip
        votes = db.execute(
            "SELECT count(*) FROM resource_votes WHERE resource_id = ?", [resource_id]
        ).fetchone()[0]
        fields: list[Any] = list(row)
        fields[3], fields[10] = bool(fields[3]), bool(fields[10])
        # the row holds the columns before tags, sharers and votes
        return Resource(*fields, tags=tuple(tags), sharers=tuple(sharers), votes=votes)  # type: ignore[misc]

    def search(
        self,
        text: str | None,
        *,
        room_id: str,
        tags: Sequence[str] = (),
        language: str | None = None,
        page: int = 1,
        per_page: int = 10,
    ) -> Page[Resource]:
        """Resources shown in `room_id` that match every word and filter: by relevance then
        👍 (see `search.ranked`); without text, newest first."""
        check_paging(page, per_page)
        filters, args = self._filters(room_id, tags, language)
        if text and text.strip():
            match = match_expression(text)
            if match is None:
                return Page(0, [], page, per_page)
            rows = self.db.execute(
                f"SELECT r.id, bm25(resource_fts, {_WEIGHTS}), (SELECT count(*) FROM"
                " resource_votes v WHERE v.resource_id = r.id), r.created_at FROM resource_fts"
                " JOIN resources r ON r.id = resource_fts.rowid WHERE resource_fts MATCH ?"
                f"{filters} ORDER BY 2 LIMIT ?",
                [match, *args, SEARCH_LIMIT],
            ).fetchall()
            ids = ranked(rows)
        else:
            ids = [row[0] for row in self.db.execute(
                f"SELECT r.id FROM resources r WHERE 1 = 1{filters}"
                " ORDER BY r.created_at DESC, r.id DESC LIMIT ?",
                [*args, SEARCH_LIMIT],
            )]  # fmt: skip
        chosen = ids[(page - 1) * per_page : page * per_page]
        items = [resource for i in chosen if (resource := self.get(i)) is not None]
        return Page(len(ids), items, page, per_page)

    def _filters(
        self, room_id: str, tags: Sequence[str], language: str | None
    ) -> tuple[str, list[Any]]:
        sql, args = _tag_filter("r.id", "resource_tags", "resource_id", tags)
        sql = " AND (r.private_room IS NULL OR r.private_room = ?)" + sql
        args = [room_id, *args]
        if language:
            sql, args = sql + " AND r.language = ?", [*args, language]
        return sql, args

    def tag_counts(self, room_id: str) -> list[tuple[str, int]]:
        """Tags of the resources shown in `room_id`, the most used first."""
        return [tuple(row) for row in self.db.execute(
            "SELECT t.tag, count(*) FROM resource_tags t JOIN resources r ON r.id = t.resource_id"
            " WHERE r.private_room IS NULL OR r.private_room = ? GROUP BY t.tag"
            " ORDER BY count(*) DESC, t.tag",
            [room_id],
        )]  # fmt: skip

    # --- changing ---------------------------------------------------------------------------

    def set_public(self, resource_id: int, public: bool) -> None:
        """Make a resource public (posted to the exchange) or withdraw it."""
        with self.store.transaction() as db:
            if not public:
                self._withdraw(db, resource_id)
            db.execute(
                "UPDATE resources SET public = ?, private_room = CASE WHEN ? THEN NULL ELSE"
                " private_room END WHERE id = ?",
                [int(public), int(public), resource_id],
            )
            self._changed(db, resource_id)
            self._refresh(db, resource_id)

    def remove(self, resource_id: int) -> bool:
        """Delete a resource (its exchange event is queued for redaction); False if absent."""
        with self.store.transaction() as db:
            self._withdraw(db, resource_id)
            gone = db.execute("DELETE FROM resources WHERE id = ?", [resource_id]).rowcount
            self._refresh(db, resource_id)
        return gone > 0

    def _withdraw(self, db: Any, resource_id: int) -> None:
        db.execute(
            "INSERT OR IGNORE INTO resource_withdrawals (event_id, room_id)"
            " SELECT exchange_event_id, exchange_room FROM resources"
            " WHERE id = ? AND exchange_event_id IS NOT NULL",
            [resource_id],
        )
        db.execute(
            "UPDATE resources SET exchange_event_id = NULL, exchange_room = NULL, dirty = 0"
            " WHERE id = ?",
            [resource_id],
        )

    def by_event(self, event_id: str) -> int | None:
        """The resource first shared by this event (a file message)."""
        row = self.db.execute(
            "SELECT id FROM resources WHERE event_id = ? AND mxc IS NOT NULL", [event_id]
        ).fetchone()
        return row[0] if row else None
