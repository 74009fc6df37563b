"""The directory in the instance's SQLite file: local records, mirrored listings, search.

Three layers (see the module docstring of `directory.hsds` for the record itself):

- `directory_local`: this instance's own organisations, contacts included, the source of
  what it publishes. `dirty` marks what still has to be published; a removal leaves a
  tombstone (record NULL) until the empty state event that removes it is published.
- `directory_listings`: records as published in directory rooms (ours and other networks'),
  one per (room, state key), with provenance. Never contacts.
- `directory_shown`: organisations as shown, one per dedupe key (website host+path, else
  name + city), so one organisation listed by two networks is one search result with all
  its sources. The record shown merges the group's listings (see `merge`): every list
  (services, locations, phones, schedules, programs, …) united, each single value from the
  most complete listing that has it. A group of one listing shows that listing's record
  (`record` NULL); a merged one stores the merged record and its sources' order. The shown
  record's text is indexed in `directory_fts` (FTS5, `unicode61 remove_diacritics 2`), its
  names again in `directory_names` (for the name tier of a broad query), and its filter
  values in `directory_facets` (facet, value, shown), kept in step with the listings in the
  same transaction. The services, service-at-locations and taxonomy terms inside each shown
  record are indexed for the API in `directory_entities`, kept by triggers on
  `directory_shown`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

import sqlite_utils

from core.storage import Migrations, Store
from core.text import PREFIX_LONG, PREFIX_SHORT, german_variant, search_stem
from directory.hsds import (
    REFERENCES,
    Address,
    Entity,
    Language,
    Location,
    Organization,
    Phone,
    Program,
    RecordError,
    Service,
    ServiceArea,
    ServiceAtLocation,
    fold,
    from_dict,
    published_record,
    scalar_fields,
    to_dict,
    to_published,
)

directory_migrations = Migrations("directory")

# bm25 weights of the FTS columns, in their order: a match in the name counts most.
# `facets` holds one opaque token per filter value, so text and filters meet in one MATCH.
FTS_COLUMNS = (
    "name",
    "alternate_name",
    "description",
    "services",
    "service_text",
    "places",
    "variants",
    "facets",
)
FTS_WEIGHTS = (10.0, 6.0, 1.0, 4.0, 1.5, 3.0, 3.0, 0.0)
# The name tier of a broad query (see RANK_LIMIT) is looked up in `directory_names`, which
# holds only these columns of `directory_fts`: its doclists are a fraction of the size.
NAME_COLUMNS = ("name", "alternate_name", "facets")
# Every text query is ranked by bm25, which reads each match it ranks. A query with more than
# RANK_LIMIT matches (a common word) is ranked in tiers, organisations with every word of the
# query in their name first; a tier with more than RANK_LIMIT matches is ranked in windows of
# RANK_LIMIT matches, the newest window first, so no query ranks more than RANK_LIMIT rows.
RANK_LIMIT = 500
COUNT_LIMIT = 10_000  # totals above this are reported as "more than COUNT_LIMIT"
SORT_LIMIT = 500  # filters matching more are listed by walking the name index
_RANKS = {
    table: f"bm25({table}, "
    + ", ".join(str(FTS_WEIGHTS[FTS_COLUMNS.index(c)]) for c in columns)
    + ")"
    for table, columns in (("directory_fts", FTS_COLUMNS), ("directory_names", NAME_COLUMNS))
}
_FTS_OPTIONS = (
    f"tokenize = 'unicode61 remove_diacritics 2', prefix = '{PREFIX_SHORT} {PREFIX_LONG}'"
)
MAX_PER_PAGE = 100


@directory_migrations.step
def _schema(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE directory_local (id TEXT PRIMARY KEY, record TEXT, revision INTEGER NOT NULL,"
        " dirty INTEGER NOT NULL, published_event_id TEXT, updated_at REAL NOT NULL)"
    )
    db.execute("CREATE INDEX directory_local_dirty ON directory_local (dirty) WHERE dirty = 1")
    db.execute(
        "CREATE TABLE directory_listings (room_id TEXT NOT NULL, org_id TEXT NOT NULL,"
        " record TEXT NOT NULL, dedupe_key TEXT NOT NULL, network TEXT NOT NULL,"
        " homeserver TEXT NOT NULL, event_id TEXT NOT NULL, sender TEXT NOT NULL,"
        " origin_ts INTEGER NOT NULL, mirrored_at REAL NOT NULL, PRIMARY KEY (room_id, org_id))"
    )
    db.execute("CREATE INDEX directory_listings_key ON directory_listings (dedupe_key)")
    db.execute("CREATE INDEX directory_listings_org ON directory_listings (org_id)")
    db.execute("CREATE INDEX directory_listings_network ON directory_listings (network)")
    db.execute(
        "CREATE TABLE directory_shown (rowid INTEGER PRIMARY KEY, dedupe_key TEXT NOT NULL UNIQUE,"
        " id TEXT NOT NULL, room_id TEXT NOT NULL, sort_name TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX directory_shown_sort ON directory_shown (sort_name, rowid)")
    db.execute("CREATE INDEX directory_shown_id ON directory_shown (id)")
    db.execute(
        "CREATE TABLE directory_facets (facet TEXT NOT NULL, value TEXT NOT NULL,"
        " shown INTEGER NOT NULL, PRIMARY KEY (facet, value, shown)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX directory_facets_shown ON directory_facets (shown)")
    db.execute(
        f"CREATE VIRTUAL TABLE directory_fts USING fts5({', '.join(FTS_COLUMNS)}, {_FTS_OPTIONS})"
    )


@directory_migrations.step
def _merged_records(db: sqlite_utils.Database) -> None:
    """The shown record of a group of listings is their merge (NULL: the one listing's)."""
    db.execute("ALTER TABLE directory_shown ADD COLUMN record TEXT")
    db.execute("ALTER TABLE directory_shown ADD COLUMN sources TEXT")
    groups = db.execute(
        "SELECT dedupe_key FROM directory_listings GROUP BY dedupe_key HAVING count(*) > 1"
    ).fetchall()
    for (key,) in groups:  # `directory_names` comes in a later step
        _reshow(db, key, {"directory_fts": FTS_COLUMNS})


# The services, service-at-locations, taxonomy terms and taxonomies inside each shown record,
# for the HSDS API: kept by triggers on directory_shown, read with json_extract(record, path)
# from the record shown (the merged one of a group, else its one listing's).
_ENTITIES = (
    "INSERT INTO directory_entities (kind, shown, position, path, item_id)"
    " SELECT CASE WHEN t.path = '$.services' THEN 'service'"
    " WHEN t.key = 'taxonomy_term' THEN 'taxonomy_term'"
    " WHEN t.key = 'taxonomy_detail' THEN 'taxonomy' ELSE 'service_at_location' END,"
    " {shown}, t.id, t.fullkey, json_extract(t.value, '$.id')"
    " FROM directory_listings l, json_tree(coalesce({record}, l.record)) t"
    " WHERE l.room_id = {room} AND l.org_id = {org} AND t.type = 'object'"
    " AND (t.path = '$.services' OR t.key IN ('taxonomy_term', 'taxonomy_detail')"
    " OR t.path LIKE '$.services[%].service_at_locations'"
    " OR t.path LIKE '$.services[%].\"service_at_locations\"')"  # SQLite may quote keys
)


@directory_migrations.step
def _entities(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE directory_entities (kind TEXT NOT NULL, shown INTEGER NOT NULL,"
        " position INTEGER NOT NULL, path TEXT NOT NULL, item_id TEXT,"
        " PRIMARY KEY (kind, shown, position)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX directory_entities_id ON directory_entities (kind, item_id)")
    # The same order as the table, without the paths: a page far down is reached faster.
    db.execute(
        "CREATE INDEX directory_entities_order ON directory_entities (kind, shown, position)"
    )
    fill = _ENTITIES.format(
        shown="NEW.rowid", record="NEW.record", room="NEW.room_id", org="NEW.id"
    )
    forget = "DELETE FROM directory_entities WHERE shown = OLD.rowid"
    db.execute(
        f"CREATE TRIGGER directory_entities_in AFTER INSERT ON directory_shown BEGIN {fill}; END"
    )
    db.execute(
        "CREATE TRIGGER directory_entities_up AFTER UPDATE ON directory_shown"
        f" BEGIN {forget}; {fill}; END"
    )
    db.execute(
        f"CREATE TRIGGER directory_entities_out AFTER DELETE ON directory_shown BEGIN {forget}; END"
    )
    for rowid, record, room_id, org_id in db.execute(
        "SELECT rowid, record, room_id, id FROM directory_shown"
    ).fetchall():
        db.execute(
            _ENTITIES.format(shown=":shown", record=":record", room=":room", org=":org"),
            {"shown": rowid, "record": record, "room": room_id, "org": org_id},
        )


@directory_migrations.step
def _names(db: sqlite_utils.Database) -> None:
    """The name columns of `directory_fts` in a table of their own, for the name tier."""
    columns = ", ".join(NAME_COLUMNS)
    db.execute(f"CREATE VIRTUAL TABLE directory_names USING fts5({columns}, {_FTS_OPTIONS})")
    db.execute(
        f"INSERT INTO directory_names (rowid, {columns}) SELECT rowid, {columns} FROM directory_fts"
    )


@directory_migrations.step
def _entities_forgotten_by_key(db: sqlite_utils.Database) -> None:
    """A shown organisation's entities are forgotten through the table's key (kind, shown):
    `WHERE shown = ?` alone scanned the whole table for each row updated or deleted (a room
    of 10,000 entries took minutes to drop)."""
    fill = _ENTITIES.format(
        shown="NEW.rowid", record="NEW.record", room="NEW.room_id", org="NEW.id"
    )
    kinds = "'service', 'service_at_location', 'taxonomy_term', 'taxonomy'"
    forget = f"DELETE FROM directory_entities WHERE kind IN ({kinds}) AND shown = OLD.rowid"
    db.execute("DROP TRIGGER directory_entities_up")
    db.execute("DROP TRIGGER directory_entities_out")
    db.execute(
        "CREATE TRIGGER directory_entities_up AFTER UPDATE ON directory_shown"
        f" BEGIN {forget}; {fill}; END"
    )
    db.execute(
        f"CREATE TRIGGER directory_entities_out AFTER DELETE ON directory_shown BEGIN {forget}; END"
    )


class Change(StrEnum):
    """What a write did."""

    added = "added"
    updated = "updated"
    unchanged = "unchanged"
    removed = "removed"
    absent = "absent"  # a removal of something that was not there


@dataclass(frozen=True)
class Provenance:
    """Where a listing came from: the directory room's network and the state event."""

    network: str
    homeserver: str
    room_id: str
    event_id: str
    sender: str
    origin_ts: int  # milliseconds, as in the event


@dataclass(frozen=True)
class Source:
    """One listing behind a shown organisation; public (the sender is not included)."""

    org_id: str
    network: str
    homeserver: str
    room_id: str
    event_id: str
    origin_ts: int


@dataclass(frozen=True)
class ShownOrganization:
    """An organisation as shown: its listings merged (see `merge`), and every listing, the
    one whose values lead first."""

    id: str
    organization: Organization
    sources: tuple[Source, ...]

    def as_json(self) -> dict[str, Any]:
        """HSDS-shaped, with `sources`; no contacts and no personal data."""
        return to_dict(self.organization, contacts=False) | {
            "id": self.id,
            "sources": [vars(source) for source in self.sources],
        }


@dataclass(frozen=True)
class SearchPage:
    """One page of results, ranked by relevance (by name without text, see `search`)."""

    total: int
    items: list[ShownOrganization]
    page: int = 1
    per_page: int = 10
    exact_total: bool = True  # False: more than `total` (COUNT_LIMIT) organisations match


@dataclass(frozen=True)
class Pending:
    """A local change still to publish: `content` is the state event content, {} = remove."""

    org_id: str
    content: dict[str, Any]
    revision: int


@dataclass(frozen=True)
class SaveCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class _Tier:
    """The matches of one FTS query: `match` in `table`, less those of `without` in
    `directory_names` (the name tier, when this is the rest of a broad query)."""

    match: str
    table: str = "directory_fts"
    without: str | None = None

    def where(self) -> tuple[str, list[str]]:
        """The WHERE clause selecting these matches in `table`, and its parameters."""
        where = f"{self.table} MATCH ?"
        if self.without is None:
            return where, [self.match]
        subquery = "SELECT rowid FROM directory_names WHERE directory_names MATCH ?"
        return f"{where} AND rowid NOT IN ({subquery})", [self.match, self.without]


class Directory:
    """The directory's data in one Store; brings its schema up to date on creation."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        store.migrate(directory_migrations)

    # --- this instance's own records ---------------------------------------------------

    def save_local(self, org: Organization) -> str:
        """Add or replace one of our organisations; returns its id."""
        with self.store.transaction():
            self._save_local(*local_record(org))
        return org.id

    def save_local_many(
        self, orgs: Iterable[Organization], records: Iterable[tuple[str, str]] | None = None
    ) -> SaveCounts:
        """Add or replace several organisations, all in one transaction. `records`, when
        given, are their `local_record`s, prepared beforehand (e.g. in a worker thread)."""
        changes = {change: 0 for change in Change}
        with self.store.transaction():
            for org_id, record in records if records is not None else map(local_record, orgs):
                changes[self._save_local(org_id, record)] += 1
        return SaveCounts(changes[Change.added], changes[Change.updated], changes[Change.unchanged])

    def _save_local(self, org_id: str, record: str) -> Change:
        # Raw SQL: the revision counts up in the statement, and imports save thousands at once.
        row = self.db.execute(
            "SELECT record FROM directory_local WHERE id = ?", [org_id]
        ).fetchone()
        if row and row[0] == record:
            return Change.unchanged
        self.db.execute(
            "INSERT INTO directory_local (id, record, revision, dirty, updated_at)"
            " VALUES (?, ?, 1, 1, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record,"
            " revision = revision + 1, dirty = 1, updated_at = excluded.updated_at",
            [org_id, record, time.time()],
        )
        return Change.updated if row and row[0] is not None else Change.added

    def remove_local(self, org_id: str) -> bool:
        """Remove one of our organisations (published as an empty state event); False if absent."""
        with self.store.transaction():
            cursor = self.db.execute(
                "UPDATE directory_local SET record = NULL, revision = revision + 1, dirty = 1,"
                " updated_at = ? WHERE id = ? AND record IS NOT NULL",
                [time.time(), org_id],
            )
        return cursor.rowcount > 0

    def local(self, org_id: str) -> Organization | None:
        row = self.db.execute(
            "SELECT record FROM directory_local WHERE id = ? AND record IS NOT NULL", [org_id]
        ).fetchone()
        return from_dict(json.loads(row[0])) if row else None

    def local_all(self) -> list[Organization]:
        """Our organisations, by name."""
        rows = self.db.execute(
            "SELECT record FROM directory_local WHERE record IS NOT NULL"
        ).fetchall()
        orgs = [from_dict(json.loads(row[0])) for row in rows]
        return sorted(orgs, key=lambda org: (fold(org.name), org.id))

    def pending(self) -> list[Pending]:
        """Our changes not yet published, oldest first."""
        rows = self.db.execute(
            "SELECT id, record, revision FROM directory_local WHERE dirty = 1"
            " ORDER BY updated_at, id"
        ).fetchall()
        return [
            Pending(org_id, to_published(from_dict(json.loads(record))) if record else {}, rev)
            for org_id, record, rev in rows
        ]

    def mark_published(self, org_id: str, event_id: str, revision: int | None = None) -> bool:
        """Record that a pending change was sent as `event_id`.

        With `revision` (from `pending()`), a record changed since stays pending. Returns
        whether anything was marked.
        """
        same_revision = "" if revision is None else " AND revision = ?"
        args = [org_id] + ([] if revision is None else [revision])
        with self.store.transaction():
            removed = self.db.execute(
                f"DELETE FROM directory_local WHERE id = ? AND record IS NULL{same_revision}", args
            ).rowcount
            marked = self.db.execute(
                "UPDATE directory_local SET dirty = 0, published_event_id = ?"
                f" WHERE id = ? AND dirty = 1{same_revision}",
                [event_id, *args],
            ).rowcount
        return bool(removed or marked)

    # --- listings mirrored from directory rooms ----------------------------------------

    def apply_listing(
        self, room_id: str, state_key: str, content: Mapping[str, Any], provenance: Provenance
    ) -> Change:
        """Mirror one directory state event: upsert, or remove when `content` is empty.

        Idempotent. Content that is not a valid record raises RecordError, after removing
        any earlier listing under that state key (the room no longer states a valid one).
        """
        with self.store.transaction():
            change, error = self._apply(room_id, state_key, content, provenance)
        if error:
            raise error
        return change

    def apply_listings(
        self,
        room_id: str,
        listings: Iterable[tuple[str, Mapping[str, Any], Provenance]],
        skip: Container[str] = (),
    ) -> dict[str, RecordError]:
        """Mirror many state events of one room in one transaction (a room's first copy).

        The outcome is that of `apply_listing` for each in turn, leaving out the state keys
        in `skip` as it stands once the transaction holds the write lock (a writer on another
        connection can rely on that). Returns the state keys whose content was refused, with
        why. The records are validated before the transaction (`prepare_listings`, which a
        caller may run apart, e.g. in another thread, and pass to `write_listings`)."""
        return self.write_listings(room_id, prepare_listings(room_id, listings), skip)

    def write_listings(
        self, room_id: str, prepared: list[Prepared], skip: Container[str] = ()
    ) -> dict[str, RecordError]:
        """`apply_listings` of listings prepared by `prepare_listings`, in one transaction:
        rows are written one statement per kind, and an organisation that no other listing
        shares is shown from its validated record (see `_show_sole`)."""
        with self.store.transaction():
            items = [item for item in prepared if item.state_key not in skip]
            refused = {item.state_key: item.error for item in items if item.error}
            current: dict[str, tuple[str, str, str] | None] = dict(
                self._room_listings(room_id, [item.state_key for item in items])
            )
            writes: dict[str, Prepared | None] = {}  # state key → listing; None: removed
            touched: set[str] = set()  # dedupe keys whose shown organisation may change
            for item in items:
                before = current.get(item.state_key)
                if item.org is None:  # a removal, or refused content: the older one goes
                    if before:
                        writes[item.state_key], current[item.state_key] = None, None
                        touched.add(before[0])
                    continue
                if before and before[1:] == (item.record, item.provenance.event_id):
                    continue
                writes[item.state_key] = item
                current[item.state_key] = (item.dedupe_key, item.record, item.provenance.event_id)
                touched |= {item.dedupe_key, *(before[:1] if before else ())}
            self._write_listings(room_id, writes)
            sole = self._sole_listings(touched)
            fast = [
                item
                for item in writes.values()
                if item is not None and sole.get(item.dedupe_key) == (room_id, item.state_key)
            ]
            self._show_sole(room_id, fast)
            for key in touched - {item.dedupe_key for item in fast}:
                self._reshow(key)
        return refused

    def _room_listings(self, room_id: str, keys: list[str]) -> dict[str, tuple[str, str, str]]:
        """State key → (dedupe key, record, event id) of the room's listings among `keys`."""
        rows = _select_all(
            self.db,
            "SELECT org_id, dedupe_key, record, event_id FROM directory_listings"
            " WHERE room_id = ? AND org_id IN (SELECT value FROM json_each(?))",
            [room_id, json.dumps(keys)],
            4,
        )
        return {org_id: (dedupe, record, event_id) for org_id, dedupe, record, event_id in rows}

    def _write_listings(self, room_id: str, writes: dict[str, Prepared | None]) -> None:
        removed = [key for key, item in writes.items() if item is None]
        self._delete_listings(room_id, removed)
        now = time.time()
        _insert_all(
            self.db,
            "INSERT OR REPLACE INTO directory_listings (room_id, org_id, record, dedupe_key,"
            " network, homeserver, event_id, sender, origin_ts, mirrored_at)",
            [_listing_row(room_id, item, now) for item in writes.values() if item is not None],
        )

    def _sole_listings(self, keys: set[str]) -> dict[str, tuple[str, str]]:
        """Dedupe key → (room, state key) of its listing, for the keys that have exactly one."""
        rows = _select_all(
            self.db,
            "SELECT dedupe_key, min(room_id), min(org_id) FROM directory_listings"
            " WHERE dedupe_key IN (SELECT value FROM json_each(?))"
            " GROUP BY dedupe_key HAVING count(*) = 1",
            [json.dumps(sorted(keys))],
            3,
        )
        return {key: (room_id, org_id) for key, room_id, org_id in rows}

    def _show_sole(self, room_id: str, items: list[Prepared]) -> None:
        """Show organisations that each have one listing, just written to `room_id`, as
        `_reshow` would: the listing is what is shown, so its validated record is used as it
        is (not read back and validated again), and the rows are written in bulk."""
        if not items:
            return
        existing = dict(
            _select_all(
                self.db,
                "SELECT dedupe_key, rowid FROM directory_shown"
                " WHERE dedupe_key IN (SELECT value FROM json_each(?))",
                [json.dumps([item.dedupe_key for item in items])],
                2,
            )
        )
        _unindex_all(self.db, list(existing.values()))
        rowid = self.db.execute("SELECT coalesce(max(rowid), 0) FROM directory_shown").fetchone()[0]
        updates, inserts, fts, facets = [], [], [], []
        for item in items:
            if item.dedupe_key in existing:
                shown = existing[item.dedupe_key]
                updates.append((item.state_key, room_id, item.sort_name, shown))
            else:
                rowid = shown = rowid + 1
                inserts.append((shown, item.dedupe_key, item.state_key, room_id, item.sort_name))
            fts.append((shown, *item.text))
            facets += [(facet, value, shown) for facet, value in item.facets]
        self.db.conn.executemany(
            "UPDATE directory_shown SET id = ?, room_id = ?, sort_name = ?, record = NULL,"
            " sources = NULL WHERE rowid = ?",
            updates,
        )
        _insert_all(
            self.db,
            "INSERT INTO directory_shown (rowid, dedupe_key, id, room_id, sort_name)",
            inserts,
        )
        for table, columns in _INDEXES.items():  # each FTS table: its columns of the text
            picked = [FTS_COLUMNS.index(column) for column in columns]
            _insert_all(
                self.db,
                f"INSERT INTO {table} (rowid, {', '.join(columns)})",
                [(row[0], *(row[1 + index] for index in picked)) for row in fts],
            )
        _insert_all(self.db, "INSERT OR IGNORE INTO directory_facets (facet, value, shown)", facets)

    def _apply(
        self, room_id: str, state_key: str, content: Mapping[str, Any], provenance: Provenance
    ) -> tuple[Change, RecordError | None]:
        """Write one listing; refused content removes the older one and returns the error."""
        if provenance.room_id != room_id:
            raise ValueError(f"provenance is for {provenance.room_id}, not {room_id}")
        old = self.db.execute(
            "SELECT record, dedupe_key, event_id FROM directory_listings"
            " WHERE room_id = ? AND org_id = ?",
            [room_id, state_key],
        ).fetchone()
        if not content:
            return self._remove_listing(room_id, state_key, old), None
        try:
            org, record = published_record(content, state_key)
        except RecordError as error:
            return self._remove_listing(room_id, state_key, old), error
        if old and old[0] == record and old[2] == provenance.event_id:
            return Change.unchanged, None
        self.db.table("directory_listings").upsert(
            {
                "room_id": room_id,
                "org_id": state_key,
                "record": record,
                "dedupe_key": org.dedupe_key,
                "network": provenance.network,
                "homeserver": provenance.homeserver,
                "event_id": provenance.event_id,
                "sender": provenance.sender,
                "origin_ts": int(provenance.origin_ts),
                "mirrored_at": time.time(),
            },
            pk=("room_id", "org_id"),
        )
        if old and old[1] != org.dedupe_key:
            self._reshow(old[1])
        self._reshow(org.dedupe_key)
        return (Change.updated if old else Change.added), None

    def _remove_listing(self, room_id: str, state_key: str, old: tuple | None) -> Change:
        if old is None:
            return Change.absent
        self.db.execute(
            "DELETE FROM directory_listings WHERE room_id = ? AND org_id = ?", [room_id, state_key]
        )
        self._reshow(old[1])
        return Change.removed

    def drop_room(self, room_id: str) -> int:
        """Forget every listing of a room (it left the federation); returns how many."""
        with self.store.transaction():
            keys = [
                row[0]
                for row in self.db.execute(
                    "SELECT DISTINCT dedupe_key FROM directory_listings WHERE room_id = ?",
                    [room_id],
                )
            ]
            count = self.db.execute(
                "DELETE FROM directory_listings WHERE room_id = ?", [room_id]
            ).rowcount
            for key in keys:
                self._reshow(key)
        return count

    def drop_some(self, room_id: str, limit: int) -> int:
        """Forget up to `limit` listings of a room in one transaction; returns how many (0
        when none are left). A room dropped this way, chunk by chunk, lets the event loop
        run in between (see `Mirror.unfollow`)."""
        with self.store.transaction():
            rows = _select_all(
                self.db,
                "SELECT org_id, dedupe_key FROM directory_listings WHERE room_id = ? LIMIT ?",
                [room_id, limit],
                2,
            )
            self._delete_listings(room_id, [org_id for org_id, _ in rows])
            keys = list(dict.fromkeys(key for _, key in rows))
            listed = set(
                _select_values(
                    self.db,
                    "SELECT DISTINCT dedupe_key FROM directory_listings"
                    " WHERE dedupe_key IN (SELECT value FROM json_each(?))",
                    [json.dumps(keys)],
                )
            )
            self._unshow([key for key in keys if key not in listed])
            for key in listed:  # still listed by another network: shown from what is left
                self._reshow(key)
        return len(rows)

    def _delete_listings(self, room_id: str, keys: list[str]) -> None:
        """Delete these listings of a room in one statement (see `_select_all`)."""
        if keys:
            self.db.execute(
                "DELETE FROM directory_listings"
                " WHERE room_id = ? AND org_id IN (SELECT value FROM json_each(?))",
                [room_id, json.dumps(keys)],
            )

    def _unshow(self, keys: list[str]) -> None:
        """Forget the shown organisations of dedupe keys that no listing has any more (what
        `_reshow` does for each, in bulk)."""
        rowids = _select_values(
            self.db,
            "SELECT rowid FROM directory_shown"
            " WHERE dedupe_key IN (SELECT value FROM json_each(?))",
            [json.dumps(keys)],
        )
        _unindex_all(self.db, rowids)
        self.db.execute(
            "DELETE FROM directory_shown WHERE rowid IN (SELECT value FROM json_each(?))",
            [json.dumps(rowids)],
        )

    def room_listing_count(self, room_id: str) -> int:
        return self.db.execute(
            "SELECT count(*) FROM directory_listings WHERE room_id = ?", [room_id]
        ).fetchone()[0]

    def _reshow(self, key: str) -> None:
        _reshow(self.db, key)

    # --- reading what is shown ---------------------------------------------------------

    def get(self, org_id: str) -> ShownOrganization | None:
        """The shown organisation that has a listing with this id, with all its sources."""
        row = (
            self.db.execute("SELECT rowid FROM directory_shown WHERE id = ?", [org_id]).fetchone()
            or self.db.execute(
                "SELECT s.rowid FROM directory_listings l JOIN directory_shown s"
                " ON s.dedupe_key = l.dedupe_key WHERE l.org_id = ? LIMIT 1",
                [org_id],
            ).fetchone()
        )
        return self._load([row[0]])[0] if row else None

    def search(
        self,
        text: str | None = None,
        *,
        country: str | None = None,
        city: str | None = None,
        language: str | None = None,
        target_group: str | None = None,
        service: str | None = None,
        page: int = 1,
        per_page: int = 10,
    ) -> SearchPage:
        """Shown organisations matching all words of `text` and every given filter.

        Words are matched accent-insensitively, longer ones on their beginning (see
        `fts_terms`), and results ranked by bm25, a name match above a description match;
        a broad query in tiers and windows (see RANK_LIMIT). Without text, results are by
        name. More than COUNT_LIMIT matches are counted as COUNT_LIMIT, `exact_total=False`.
        `country`, `city`, `language` and `target_group` match whole values (case and accents
        ignored), `service` whole words of service names. Any user text is safe to pass.
        """
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"page must be ≥ 1 and per_page between 1 and {MAX_PER_PAGE}")
        facets = _filter_facets(country, city, language, target_group, service)
        terms = fts_terms(text) if text and text.strip() else None
        if facets is None or terms == []:
            return SearchPage(0, [], page, per_page)
        offset = (page - 1) * per_page
        tokens = [f'"{_facet_token(*pair)}"' for pair in facets]
        phrases = [*(terms or []), *tokens]
        if not terms:
            total, rowids = self._list_by_name(" AND ".join(phrases), per_page, offset)
            return SearchPage(total, self._load(rowids), page, per_page)
        match = " AND ".join(phrases)
        total = self._count(_Tier(match), COUNT_LIMIT + 1)
        if total <= RANK_LIMIT:
            rowids = self._fts_page(_Tier(match), per_page, offset)
        else:
            rowids = self._tiered_page(terms, tokens, per_page, offset)
        return SearchPage(
            min(total, COUNT_LIMIT),
            self._load(rowids),
            page,
            per_page,
            exact_total=total <= COUNT_LIMIT,
        )

    def _count(self, tier: _Tier, limit: int = -1) -> int:
        where, params = tier.where()
        return self.db.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {tier.table} WHERE {where} LIMIT ?)",
            [*params, limit],
        ).fetchone()[0]

    def _fts_page(
        self, tier: _Tier, limit: int, offset: int, upper: int | None = None, lower: int = 0
    ) -> list[int]:
        """A page of the matches with `lower` < rowid ≤ `upper` by bm25, then newest first."""
        where, params = tier.where()
        rows = self.db.execute(
            f"SELECT rowid FROM {tier.table} WHERE {where} AND rowid > ?"
            f"{'' if upper is None else ' AND rowid <= ?'} ORDER BY {_RANKS[tier.table]},"
            " rowid DESC LIMIT ? OFFSET ?",
            [*params, lower, *([] if upper is None else [upper]), limit, offset],
        )
        return [row[0] for row in rows]

    def _tiered_page(
        self, terms: list[str], facets: list[str], limit: int, offset: int
    ) -> list[int]:
        """A page of a broad query: organisations with every word in their name first, ranked
        by bm25 of their names, then the rest, ranked by bm25 (see `_windowed_page`)."""
        names = " AND ".join(["{name alternate_name} : (" + " AND ".join(terms) + ")", *facets])
        named = _Tier(names, "directory_names")
        named_count = self._count(named, offset + limit)
        rowids = self._windowed_page(named, limit, offset) if offset < named_count else []
        if len(rowids) < limit:  # the named tier ended on this page: named_count is exact
            rest = _Tier(" AND ".join([*terms, *facets]), without=names if named_count else None)
            rowids += self._windowed_page(rest, limit - len(rowids), max(0, offset - named_count))
        return rowids

    def _windowed_page(self, tier: _Tier, limit: int, offset: int) -> list[int]:
        """A page by bm25 of a query's matches in windows of RANK_LIMIT, newest window first."""
        window, skip = divmod(offset, RANK_LIMIT)
        upper = self._nth_newest(tier, window * RANK_LIMIT) if window else None
        if window and upper is None:
            return []
        rowids: list[int] = []
        while len(rowids) < limit:
            lower = self._nth_newest(tier, (window + 1) * RANK_LIMIT)
            rowids += self._fts_page(tier, limit - len(rowids), skip, upper, lower or 0)
            if lower is None:
                break
            window, skip, upper = window + 1, 0, lower
        return rowids

    def _nth_newest(self, tier: _Tier, n: int) -> int | None:
        """The rowid of the match at position `n` (0 = the newest), None if there are fewer."""
        where, params = tier.where()
        row = self.db.execute(
            f"SELECT rowid FROM {tier.table} WHERE {where} ORDER BY rowid DESC LIMIT 1 OFFSET ?",
            [*params, n],
        ).fetchone()
        return row[0] if row else None

    def _list_by_name(self, match: str, limit: int, offset: int) -> tuple[int, list[int]]:
        """Organisations matching the filter tokens (all if none), by name; total and page."""
        if not match:
            total = self.db.execute("SELECT count(*) FROM directory_shown").fetchone()[0]
            rows = self.db.execute(
                "SELECT rowid FROM directory_shown ORDER BY sort_name, rowid LIMIT ? OFFSET ?",
                [limit, offset],
            )
            return total, [row[0] for row in rows]
        total = self._count(_Tier(match))
        if total > SORT_LIMIT:  # walk the name index, stopping at the page
            sql = (
                "SELECT rowid FROM directory_shown INDEXED BY directory_shown_sort"
                " WHERE +rowid IN (SELECT rowid FROM directory_fts WHERE directory_fts MATCH ?)"
                " ORDER BY sort_name, rowid LIMIT ? OFFSET ?"
            )
        else:  # fetch the few and sort them
            sql = (
                "SELECT s.rowid FROM directory_fts f JOIN directory_shown s ON s.rowid = f.rowid"
                " WHERE directory_fts MATCH ? ORDER BY s.sort_name, s.rowid LIMIT ? OFFSET ?"
            )
        rows = self.db.execute(sql, [match, limit, offset])
        return total, [row[0] for row in rows]

    def stats(self) -> dict[str, Any]:
        """Shown organisations per country, listings per network, and the totals."""
        by_country = self.db.execute(
            "SELECT value, count(*) FROM directory_facets WHERE facet = 'country'"
            " GROUP BY value ORDER BY count(*) DESC, value"
        ).fetchall()
        by_network = self.db.execute(
            "SELECT network, count(*) FROM directory_listings GROUP BY network"
            " ORDER BY count(*) DESC, network"
        ).fetchall()
        return {
            "organizations": self.db.execute("SELECT count(*) FROM directory_shown").fetchone()[0],
            "listings": sum(count for _, count in by_network),
            "by_country": dict(by_country),
            "by_network": dict(by_network),
        }

    def _load(self, rowids: list[int]) -> list[ShownOrganization]:
        """Shown organisations by rowid, in that order, with their sources (in merge order)."""
        if not rowids:
            return []
        marks = ", ".join("?" * len(rowids))
        shown = {
            row[0]: row[1:]
            for row in self.db.execute(
                f"SELECT s.rowid, s.id, s.dedupe_key, coalesce(s.record, l.record), s.sources"
                f" FROM directory_shown s"
                f" JOIN directory_listings l ON l.room_id = s.room_id AND l.org_id = s.id"
                f" WHERE s.rowid IN ({marks})",
                rowids,
            )
        }
        keys = [shown[rowid][1] for rowid in rowids if rowid in shown]
        found: dict[str, dict[tuple[str, str], Source]] = {key: {} for key in keys}
        for key, *fields in self.db.execute(
            f"SELECT dedupe_key, org_id, network, homeserver, room_id, event_id, origin_ts"
            f" FROM directory_listings WHERE dedupe_key IN ({', '.join('?' * len(keys))})",
            keys,
        ):
            source = Source(*fields)
            found[key][(source.room_id, source.org_id)] = source
        return [
            ShownOrganization(org_id, from_dict(json.loads(record)), _in_order(found[key], order))
            for org_id, key, record, order in (shown[rowid] for rowid in rowids if rowid in shown)
        ]


def _in_order(sources: dict[tuple[str, str], Source], order: str | None) -> tuple[Source, ...]:
    """A group's sources in the order stored with its merged record (of one: just it)."""
    if order is None:
        return tuple(sources.values())
    keys = [tuple(pair) for pair in json.loads(order)]
    return tuple(sources[key] for key in keys if key in sources)


# --- the shown organisation of a group of listings -----------------------------------------


def _reshow(
    db: sqlite_utils.Database, key: str, indexes: Mapping[str, tuple[str, ...]] | None = None
) -> None:
    """Bring the shown organisation of one dedupe key, its text and facets up to date (in
    `indexes`, by default every FTS table)."""
    listings = [
        (room_id, org_id, from_dict(json.loads(record)), origin_ts)
        for room_id, org_id, record, origin_ts in db.execute(
            "SELECT room_id, org_id, record, origin_ts FROM directory_listings"
            " WHERE dedupe_key = ?",
            [key],
        )
    ]
    row = db.execute("SELECT rowid FROM directory_shown WHERE dedupe_key = ?", [key]).fetchone()
    if row:
        _unindex(db, row[0], indexes or _INDEXES)
    if not listings:
        if row:
            db.execute("DELETE FROM directory_shown WHERE rowid = ?", [row[0]])
        return
    listings.sort(key=_merge_order)
    room_id, org_id = listings[0][:2]
    org = merge([listing[2] for listing in listings])
    merged = len(listings) > 1
    values = [
        key,
        org_id,
        room_id,
        fold(org.name),
        _dumps(to_dict(org, contacts=False)) if merged else None,
        json.dumps([listing[:2] for listing in listings]) if merged else None,
    ]
    if row:
        shown = row[0]
        db.execute(
            "UPDATE directory_shown SET id = ?, room_id = ?, sort_name = ?, record = ?,"
            " sources = ? WHERE rowid = ?",
            [*values[1:], shown],
        )
    else:
        shown = db.execute(
            "INSERT INTO directory_shown (dedupe_key, id, room_id, sort_name, record, sources)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            values,
        ).lastrowid
    _index(db, shown, org, indexes or _INDEXES)


_INDEXES = {"directory_fts": FTS_COLUMNS, "directory_names": NAME_COLUMNS}


def _index(
    db: sqlite_utils.Database, shown: int, org: Organization, indexes: Mapping[str, tuple[str, ...]]
) -> None:
    """Index a shown organisation's text (in each FTS table of `indexes`) and filter values."""
    facets = _facets(org)
    text = dict(zip(FTS_COLUMNS, _fts_text(org, facets), strict=True))
    for table, columns in indexes.items():
        db.execute(
            f"INSERT INTO {table} (rowid, {', '.join(columns)})"
            f" VALUES (?, {', '.join('?' * len(columns))})",
            [shown, *(text[column] for column in columns)],
        )
    db.conn.executemany(
        "INSERT OR IGNORE INTO directory_facets (facet, value, shown) VALUES (?, ?, ?)",
        [(facet, value, shown) for facet, value in facets],
    )


def _unindex(db: sqlite_utils.Database, shown: int, indexes: Mapping[str, Any]) -> None:
    """Forget what `_index` indexed for a shown organisation."""
    for table in indexes:
        db.execute(f"DELETE FROM {table} WHERE rowid = ?", [shown])
    db.execute("DELETE FROM directory_facets WHERE shown = ?", [shown])


def _unindex_all(db: sqlite_utils.Database, rowids: list[int]) -> None:
    """Forget the indexed text and filter values of these shown organisations, one statement
    a table (see `_select_all`)."""
    if not rowids:
        return
    listed = json.dumps(rowids)
    for table in _INDEXES:
        db.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT value FROM json_each(?))", [listed])
    db.execute(
        "DELETE FROM directory_facets WHERE shown IN (SELECT value FROM json_each(?))", [listed]
    )


def _merge_order(listing: tuple[str, str, Organization, int]) -> tuple[int, int, str, str]:
    """Most complete listing first, then the newest, then by room and id (the same order on
    every instance, so every instance shows the same record)."""
    room_id, org_id, org, origin_ts = listing
    return (-completeness(org), -origin_ts, room_id, org_id)


def completeness(org: Organization) -> int:
    """How many values a record gives: each filled field, list item and nested value, not
    counting what the model fills in itself (ids, links between ids, a service's status, a
    location's type) or the old name of a field beside the new one (`fees`)."""
    return _count_values(to_dict(org, contacts=False))


_UNCOUNTED = frozenset({"id", "status", "location_type", *REFERENCES})


def _count_values(value: Any) -> int:
    if isinstance(value, dict):
        return sum(
            _count_values(item)
            for key, item in value.items()
            if key not in _UNCOUNTED
            and not (key == "fees" and item == value.get("fees_description"))
        )
    if isinstance(value, list):
        return sum(_count_values(item) for item in value)
    return 1


def merge(orgs: list[Organization]) -> Organization:
    """One organisation from its listings, most complete first (see `_merge_order`).

    Every list is united: services by name, locations (with their addresses) by place (else
    coordinates, else name or link), addresses by their lines, phones by their digits,
    languages by code, programs and service areas by name, and schedules, cost options,
    funding, required documents, accessibility and identifiers by what they say (their
    values but ids); each group merged the same way. A service's places
    (service-at-locations) are united by location; a service or place that names a location
    or program united with another names the one kept. Every single value (name,
    description, website, a service's fees, a location's coordinates, …) comes from the
    first listing that has one; the id is the first listing's.
    """
    if len(orgs) == 1:
        return orgs[0]
    places = _groups([x for o in orgs for x in o.locations], _place_key)
    programs = _groups([x for o in orgs for x in o.programs], _named_key)
    kept_places, kept_programs = _kept(places), _kept(programs)
    services = [_relinked(s, kept_places, kept_programs) for o in orgs for s in o.services]
    return orgs[0].model_copy(
        update={
            **_scalars(orgs, Organization),
            "languages": _unique(code for org in orgs for code in org.languages),
            "services": _united(services, _service_key, _service),
            "locations": tuple(_place(group) if group[1:] else group[0] for group in places),
            "phones": _united([p for o in orgs for p in o.phones], _phone_key, _phone),
            "programs": tuple(_merged(group) if group[1:] else group[0] for group in programs),
            **_by_content(orgs, "funding", "organization_identifiers"),
            "contacts": (),
        }
    )


T = TypeVar("T")
E = TypeVar("E", bound=Entity)


def _unique(values: Iterable[T]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(values))


def _scalars(items: Sequence[Entity], model: type[Entity]) -> dict[str, Any]:
    """Each single-valued field of `model` from the first item that has a value for it."""
    return {
        field: next((v for item in items if (v := getattr(item, field)) not in (None, "")), None)
        for field in scalar_fields(model)
    }


def _groups(items: list[E], key: Callable[[E], str]) -> list[list[E]]:
    """Items grouped by `key`, in first-seen order."""
    groups: dict[str, list[E]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.values())


def _united(items: list[E], key: Callable[[E], str], combine: Callable[[list[E]], E]) -> tuple:
    """Items grouped by `key` (in first-seen order), each group combined into one."""
    return tuple(combine(group) if group[1:] else group[0] for group in _groups(items, key))


def _merged(items: list[E], **united: Any) -> E:
    """The first item with each single value from the first item that has one."""
    return items[0].model_copy(update={**_scalars(items, type(items[0])), **united})


def _service_key(service: Service) -> str:
    return fold(service.name)


def _service(services: list[Service]) -> Service:
    links = [link for s in services for link in s.service_at_locations]
    return _merged(
        services,
        target_groups=_unique(g for s in services for g in s.target_groups),
        languages=_united([x for s in services for x in s.languages], _language_key, _merged),
        service_at_locations=_united(links, _link_key, _link),
        phones=_united([p for s in services for p in s.phones], _phone_key, _phone),
        service_areas=_united([a for s in services for a in s.service_areas], _named_key, _merged),
        **_by_content(services, "schedules", "cost_options", "funding", "required_documents"),
    )


def _link_key(link: ServiceAtLocation) -> str:
    return f"@{link.location_id}" if link.location_id else f"#{link.id}"


def _link(links: list[ServiceAtLocation]) -> ServiceAtLocation:
    return _merged(
        links,
        phones=_united([p for x in links for p in x.phones], _phone_key, _phone),
        **_by_content(links, "schedules"),
    )


def _kept(groups: list[list[E]]) -> dict[str, str]:
    """The id of each item united with an earlier one → the id of the one kept."""
    return {x.id: group[0].id for group in groups for x in group[1:] if x.id and group[0].id}


def _relinked(service: Service, places: dict[str, str], programs: dict[str, str]) -> Service:
    """The service naming the location and program kept where its own were united."""
    links = service.service_at_locations
    if service.program_id not in programs and not any(x.location_id in places for x in links):
        return service
    return service.model_copy(
        update={
            "program_id": programs.get(service.program_id or "", service.program_id),
            "service_at_locations": tuple(
                link.model_copy(update={"location_id": places[link.location_id]})
                if link.location_id in places
                else link
                for link in links
            ),
        }
    )


def _named_key(item: Program | ServiceArea) -> str:
    """A program or service area by its name, else by what it says."""
    return "#" + fold(item.name) if item.name else _content_key(item)


def _by_content(items: list[Any], *fields: str) -> dict[str, tuple]:
    """Each list `field` of `items` united, its entries by what they say (`_content_key`)."""
    return {
        field: _united([x for item in items for x in getattr(item, field)], _content_key, _merged)
        for field in fields
    }


def _content_key(item: Entity) -> str:
    """What an entry says: its values (folded) without ids and links to other objects."""
    return _dumps(_said(item.model_dump(mode="json", exclude_none=True)))


def _said(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _said(item)
            for key, item in sorted(value.items())
            if key != "id" and key not in REFERENCES
        }
    if isinstance(value, list):
        return [_said(item) for item in value]
    return fold(value) if isinstance(value, str) else value


def _language_key(language: Language) -> str:
    return language.code or fold(language.name or "")


def _place_key(location: Location) -> str:
    parts = (location.address_1, location.postal_code, location.city, location.country)
    if any(parts):
        return "|".join(fold(part or "") for part in parts)
    if location.latitude is not None:
        return f"{location.latitude},{location.longitude}"
    return "@" + fold(location.name or location.url or location.id or "")


def _place(locations: list[Location]) -> Location:
    return _merged(
        locations,
        addresses=_united([a for x in locations for a in x.addresses], _address_key, _merged),
        languages=_united([g for x in locations for g in x.languages], _language_key, _merged),
        phones=_united([p for x in locations for p in x.phones], _phone_key, _phone),
        **_by_content(locations, "schedules", "accessibility"),
    )


def _address_key(address: Address) -> str:
    parts = (address.address_type, address.address_1, address.postal_code, address.city)
    return "|".join(fold(part or "") for part in (*parts, address.country))


def _phone_key(phone: Phone) -> str:
    return "".join(ch for ch in phone.number if ch.isdigit())


def _phone(phones: list[Phone]) -> Phone:
    return _merged(
        phones, languages=_united([g for p in phones for g in p.languages], _language_key, _merged)
    )


# --- helpers -------------------------------------------------------------------------------


class Prepared(NamedTuple):
    """A listing checked and made ready to write, outside any transaction (`prepare_listings`):
    its validated record (None for a removal or refused content) and what it is stored and
    shown as. Pure data: prepared in any thread."""

    state_key: str
    provenance: Provenance
    org: Organization | None
    error: RecordError | None
    record: str = ""  # the stored JSON
    dedupe_key: str = ""
    sort_name: str = ""
    text: tuple[str, ...] = ()  # the FTS columns' text
    facets: frozenset[tuple[str, str]] = frozenset()


def prepare_listings(
    room_id: str, listings: Iterable[tuple[str, Mapping[str, Any], Provenance]]
) -> list[Prepared]:
    """Validate listings of one room and derive their rows (see `Directory.write_listings`);
    touches no database, so it may run in any thread."""
    return [_prepare(room_id, *listing) for listing in listings]


def _insert_all(db: sqlite_utils.Database, insert: str, rows: list[tuple[Any, ...]]) -> None:
    """`insert` (an INSERT without VALUES) of every row in one statement, the rows passed as
    one JSON array: SQLite then builds the rows, indexes, FTS entries and what triggers add
    in one step, in which Python's GIL is free for other threads (with `executemany`, each
    row takes the GIL back: a copy's writer thread would wait for its validator thread)."""
    if not rows:
        return
    columns = ", ".join(f"value ->> {index}" for index in range(len(rows[0])))
    db.execute(
        f"{insert} SELECT {columns} FROM json_each(?)",
        [json.dumps(rows, ensure_ascii=False, separators=(",", ":"))],
    )


def _select_all(
    db: sqlite_utils.Database, select: str, params: list[Any], width: int
) -> list[list[Any]]:
    """The rows of `select` (`width` columns of text, integers or NULL; a REAL would come
    back with 15 digits), fetched as one JSON array: each row fetched on its own takes
    Python's GIL back, and while another thread holds it, that costs up to the switch
    interval a row (see `core.app.share_the_interpreter`)."""
    names = ", ".join(f"c{index}" for index in range(width))
    row = db.execute(
        f"WITH r({names}) AS ({select}) SELECT json_group_array(json_array({names})) FROM r",
        params,
    ).fetchone()
    return json.loads(row[0])


def _select_values(db: sqlite_utils.Database, select: str, params: list[Any]) -> list[Any]:
    """The values of a one-column `select`, fetched as `_select_all` does."""
    return [row[0] for row in _select_all(db, select, params, 1)]


def _listing_row(room_id: str, item: Prepared, now: float) -> tuple[Any, ...]:
    """A directory_listings row, in the column order of its INSERT."""
    source = item.provenance
    stored = (source.network, source.homeserver, source.event_id, source.sender)
    return (
        room_id,
        item.state_key,
        item.record,
        item.dedupe_key,
        *stored,
        int(source.origin_ts),
        now,
    )


def _prepare(
    room_id: str, state_key: str, content: Mapping[str, Any], provenance: Provenance
) -> Prepared:
    if provenance.room_id != room_id:
        raise ValueError(f"provenance is for {provenance.room_id}, not {room_id}")
    if not content:
        return Prepared(state_key, provenance, None, None)
    try:
        org, record = published_record(content, state_key)
    except RecordError as error:
        return Prepared(state_key, provenance, None, error)
    facets = _facets(org)
    return Prepared(
        state_key,
        provenance,
        org,
        None,
        record,
        org.dedupe_key,
        fold(org.name),
        tuple(_fts_text(org, facets)),
        frozenset(facets),
    )


def local_record(org: Organization) -> tuple[str, str]:
    """(id, stored JSON) of one of our organisations; pure, safe in any thread."""
    return org.id, _dumps(to_dict(org))


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _fts_text(org: Organization, facets: set[tuple[str, str]]) -> list[str]:
    """The text of each FTS column, in FTS_COLUMNS order."""
    service_text = [
        part
        for s in org.services
        for part in (s.description, s.eligibility_description, *s.target_groups)
        if part
    ]
    places = [p for loc in org.locations for p in (loc.city, loc.postal_code) if p]
    names = [org.name, org.alternate_name or "", *(s.name for s in org.services), *places]
    text = " ".join(names)  # the German variant changes no space: the same words, in one go
    variants = set(german_variant(text).split()) - set(text.split())
    return [
        org.name,
        org.alternate_name or "",
        org.description or "",
        " \n".join(s.name for s in org.services),
        " \n".join(service_text),
        " ".join(places),
        " ".join(sorted(variants)),
        " ".join(sorted(_facet_token(facet, value) for facet, value in facets)),
    ]


def _facets(org: Organization) -> set[tuple[str, str]]:
    """The (facet, value) pairs the filters look for; text values folded, with German variants."""
    facets = {("language", code) for code in org.languages}
    facets |= {("country", loc.country) for loc in org.locations if loc.country}
    cities = [city for loc in org.locations if (city := loc.city)]
    groups = [group for service in org.services for group in service.target_groups]
    words = [word for service in org.services for word in _words(service.name)]
    for facet, values in (("city", cities), ("target_group", groups), ("service", words)):
        facets |= {(facet, folded) for value in values for folded in _folded_forms(value)}
    return facets


@functools.lru_cache(maxsize=65_536)
def _folded_forms(value: str) -> tuple[str, str]:
    """A filter value folded, and its German variant folded (values repeat: cached)."""
    return fold(value), fold(german_variant(value))


def _words(text: str) -> list[str]:
    """Folded words (runs of letters and digits), as the FTS tokenizer cuts them."""
    return re.findall(r"[^\W_]+", fold(text))


@functools.lru_cache(maxsize=65_536)
def _facet_token(facet: str, value: str) -> str:
    """One FTS token standing for a filter value (letters and digits only)."""
    return "f" + hashlib.blake2b(f"{facet}\x1f{value}".encode(), digest_size=8).hexdigest()


def _filter_facets(
    country: str | None,
    city: str | None,
    language: str | None,
    target_group: str | None,
    service: str | None,
) -> list[tuple[str, str]] | None:
    """The facets asked for; None when a filter was given that nothing can match."""
    given = [
        ("country", country.strip().upper() if country else None),
        ("city", fold(city) if city else None),
        ("language", language.strip().lower() if language else None),
        ("target_group", fold(target_group) if target_group else None),
    ]
    facets = [(facet, value) for facet, value in given if value]
    if service and service.strip():
        words = _words(service)
        if not words:
            return None
        facets += [("service", word) for word in dict.fromkeys(words)]
    return facets


def fts_terms(text: str) -> list[str]:
    """User text as FTS5 terms, all of which must match; no FTS syntax gets through.

    The text is cut into words as the tokenizer does (letters, marks, digits), each matched
    as `core.text.search_stem` says (`mentoring` finds `Mentorin`). Both prefix lengths are
    indexed.
    """
    terms = []
    for word in dict.fromkeys(_tokens(text)):
        stem, prefix = search_stem(word)
        terms.append(f'"{stem}"*' if prefix else f'"{stem}"')
    return terms


def _tokens(text: str) -> list[str]:
    """Lower-cased runs of letters, marks and digits: the words the unicode61 tokenizer sees."""
    cut = "".join(
        ch if unicodedata.category(ch)[0] in "LNM" or unicodedata.category(ch) == "Co" else " "
        for ch in unicodedata.normalize("NFC", text).lower()
    )
    return cut.split()


def match_query(
    text: str | None,
    *,
    country: str | None = None,
    city: str | None = None,
    language: str | None = None,
    target_group: str | None = None,
    service: str | None = None,
) -> str | None:
    """The FTS5 MATCH expression `Directory.search` uses for these words and filters; ""
    when nothing is asked for, None when nothing can match."""
    facets = _filter_facets(country, city, language, target_group, service)
    terms = fts_terms(text) if text and text.strip() else []
    if facets is None or (text and text.strip() and not terms):
        return None
    return " AND ".join([*terms, *(f'"{_facet_token(*pair)}"' for pair in facets)])
