"""The public catalogue: our public resources and those other networks posted to the exchange
room, searchable together. The same link from two networks is one result with both origins.
Nothing personal is kept here: a network, a homeserver, an event, never who shared it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bots.resources.search import (
    SEARCH_LIMIT,
    Page,
    check_paging,
    match_expression,
    tag_filter,
)
from core.storage import Store

_WEIGHTS = "10.0, 5.0, 1.0, 2.0"  # title, tags, body, network


@dataclass(frozen=True)
class Row:
    """One catalogue entry: ours (`local_id`) or mirrored from the exchange (`event_id`)."""

    sender: str
    homeserver: str
    network: str
    dedupe_key: str
    title: str
    description: str = ""
    url: str | None = None
    mxc: str | None = None
    tags: tuple[str, ...] = ()
    language: str | None = None
    mimetype: str | None = None
    filename: str | None = None
    origin_ts: int = 0
    room_id: str | None = None
    event_id: str | None = None
    local_id: int | None = None


@dataclass(frozen=True)
class Origin:
    """Where a public resource comes from."""

    network: str
    homeserver: str
    room_id: str | None
    event_id: str | None
    origin_ts: int

    def as_json(self) -> dict[str, Any]:
        published = datetime.fromtimestamp(self.origin_ts / 1000, UTC)
        return {
            "network": self.network,
            "homeserver": self.homeserver,
            "room_id": self.room_id,
            "event_id": self.event_id,
            "published_at": published.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }


@dataclass(frozen=True)
class PublicResource:
    """A public resource as shown: its best-matching entry, and every origin."""

    key: str
    title: str
    description: str
    url: str | None
    mxc: str | None
    tags: tuple[str, ...]
    language: str | None
    mimetype: str | None
    filename: str | None
    origins: tuple[Origin, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """Plain JSON for the API: no sender, nothing personal."""
        link = {"url": self.url} if self.url else {"mxc": self.mxc, "mimetype": self.mimetype}
        return {
            "title": self.title,
            "description": self.description,
            **link,
            "tags": list(self.tags),
            "language": self.language,
            "sources": [origin.as_json() for origin in self.origins],
        }


_COLUMNS = (
    "sender, homeserver, network, dedupe_key, title, description, url, mxc, tags, language,"
    " mimetype, filename, origin_ts, room_id, event_id, local_id"
)


def write_row(db: Any, row: Row) -> int:
    """Insert or replace the entry with this `local_id` (else `event_id`), with its tags and
    text; call inside a transaction."""
    where, key = (
        ("local_id", row.local_id) if row.local_id is not None else ("event_id", row.event_id)
    )
    found = db.execute(f"SELECT id FROM resource_public WHERE {where} = ?", [key]).fetchone()
    values = [getattr(row, name.strip()) for name in _COLUMNS.split(",")]
    values[8] = json.dumps(list(row.tags), ensure_ascii=False)
    if found:
        item = found[0]
        _unindex(db, item)
        assignments = ", ".join(f"{name.strip()} = ?" for name in _COLUMNS.split(","))
        db.execute(f"UPDATE resource_public SET {assignments} WHERE id = ?", [*values, item])
    else:
        marks = ", ".join("?" * len(values))
        item = db.execute(
            f"INSERT INTO resource_public ({_COLUMNS}) VALUES ({marks})", values
        ).lastrowid
    db.conn.executemany(
        "INSERT OR IGNORE INTO resource_public_tags (tag, item) VALUES (?, ?)",
        [(tag, item) for tag in row.tags],
    )
    body = " ".join(part for part in (row.description, row.filename or "") if part)
    db.execute(
        "INSERT INTO resource_public_fts (rowid, title, tags, body, network)"
        " VALUES (?, ?, ?, ?, ?)",
        [item, row.title, " ".join(row.tags), body, row.network],
    )
    return int(item)


def delete_rows(db: Any, where: str, args: Sequence[Any]) -> int:
    """Remove the entries matching `where` (SQL on resource_public) with their tags and text."""
    items = [r[0] for r in db.execute(f"SELECT id FROM resource_public WHERE {where}", args)]
    for item in items:
        _unindex(db, item)
        db.execute("DELETE FROM resource_public WHERE id = ?", [item])
    return len(items)


def _unindex(db: Any, item: int) -> None:
    db.execute("DELETE FROM resource_public_fts WHERE rowid = ?", [item])
    db.execute("DELETE FROM resource_public_tags WHERE item = ?", [item])


class Catalogue:
    """The public catalogue in one Store (its schema comes with `resource_migrations`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    # --- the mirror of the exchange room ----------------------------------------------------

    def mirror(self, row: Row) -> bool:
        """Keep a posted resource; False if this event is already here (idempotent)."""
        with self.store.transaction() as db:
            known = db.execute(
                "SELECT 1 FROM resource_public WHERE event_id = ?", [row.event_id]
            ).fetchone()
            if known:
                return False
            write_row(db, row)
        return True

    def poster(self, event_id: str) -> str | None:
        """Who posted a mirrored entry (None if it is not here)."""
        found = self.db.execute(
            "SELECT sender FROM resource_public WHERE event_id = ? AND local_id IS NULL",
            [event_id],
        ).fetchone()
        return found[0] if found else None

    def drop(self, event_id: str) -> bool:
        """Forget a mirrored entry whose event was redacted."""
        with self.store.transaction() as db:
            return delete_rows(db, "event_id = ? AND local_id IS NULL", [event_id]) > 0

    def drop_room(self, room_id: str) -> int:
        """Forget everything mirrored from a room we left (our own entries stay)."""
        with self.store.transaction() as db:
            return delete_rows(db, "room_id = ? AND local_id IS NULL", [room_id])

    # --- search -----------------------------------------------------------------------------

    def search(
        self,
        text: str | None = None,
        *,
        tags: Sequence[str] = (),
        language: str | None = None,
        page: int = 1,
        per_page: int = 10,
    ) -> Page[PublicResource]:
        """Public resources matching every word and filter: ranked by bm25 (then newest), or
        newest first without text; one result per link, with all its origins."""
        check_paging(page, per_page)
        filters, args = tag_filter("p.id", "resource_public_tags", "item", tags)
        if language:
            filters, args = filters + " AND p.language = ?", [*args, language]
        if text and text.strip():
            match = match_expression(text)
            if match is None:
                return Page(0, [], page, per_page)
            rows = self.db.execute(
                "SELECT p.id, p.dedupe_key FROM resource_public_fts f"
                " JOIN resource_public p ON p.id = f.rowid WHERE resource_public_fts MATCH ?"
                f"{filters} ORDER BY bm25(resource_public_fts, {_WEIGHTS}), p.origin_ts DESC"
                " LIMIT ?",
                [match, *args, SEARCH_LIMIT],
            ).fetchall()
        else:
            rows = self.db.execute(
                f"SELECT p.id, p.dedupe_key FROM resource_public p WHERE 1 = 1{filters}"
                " ORDER BY p.origin_ts DESC, p.id DESC LIMIT ?",
                [*args, SEARCH_LIMIT],
            ).fetchall()
        best: dict[str, int] = {}
        for item, key in rows:
            best.setdefault(key, item)
        chosen = list(best.items())[(page - 1) * per_page : page * per_page]
        return Page(len(best), [self._load(key, item) for key, item in chosen], page, per_page)

    def _load(self, key: str, item: int) -> PublicResource:
        rows = self.db.execute(
            "SELECT id, network, homeserver, room_id, event_id, origin_ts, title, description,"
            " url, mxc, tags, language, mimetype, filename FROM resource_public"
            " WHERE dedupe_key = ? ORDER BY origin_ts, id",
            [key],
        ).fetchall()
        shown = next(row for row in rows if row[0] == item)
        return PublicResource(
            key=key,
            title=shown[6],
            description=shown[7],
            url=shown[8],
            mxc=shown[9],
            tags=tuple(json.loads(shown[10])),
            language=shown[11],
            mimetype=shown[12],
            filename=shown[13],
            origins=tuple(Origin(*row[1:6]) for row in rows),
        )

    def count(self) -> int:
        return self.db.execute("SELECT count(DISTINCT dedupe_key) FROM resource_public").fetchone()[
            0
        ]
