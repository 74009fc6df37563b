"""The instance's SQLite file: WAL mode, named migrations per component, consistent backups.

Storage goes through sqlite-utils. Its `Migrations` applies each component's schema steps,
once each, in the order declared, and records them by name in `_sqlite_migrations`.
Databases from before kept a number per component in `schema_version`; `Store.migrate`
carries that number over as the names of the first steps, so nothing is run again.

Which to use: the table API (`db.table(name).upsert/insert/update/delete_where`) to write one
record by its columns: every upsert (never a hand-written `ON CONFLICT … DO UPDATE`, nor an
`INSERT OR REPLACE`, which deletes the old row first and cascades), an insert (`last_pk` is the
new id; `ignore=True` when its row may be there already), an update of one row by its key
(`update` raises `NotFoundError` for a row that is not there) and a delete by equal columns.
It never changes the schema: `alter` stays off, and every table it names is made by a step.
Raw SQL (`db.execute`) for the schema steps (a `CREATE TABLE` shows every constraint), reads
(a `SELECT` names its columns and rows at a glance, where `get` raises for a missing row),
joins, aggregates, full-text search, updates computed in SQL (`revision = revision + 1`) or
of many rows, `INSERT … SELECT`, deletes of many rows by a condition, a write whose row count
is the answer (`INSERT OR IGNORE` telling a new row from an old), an update of a row that may
have gone meanwhile, and the writes for each event (the inbox, a reaction) or for each person
of a check-in round, where the table API's reading of the schema on every call (about
0.15 ms, a few queries) would cost far more than the write itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations as _NamedMigrations

Step = Callable[[sqlite_utils.Database], None]
NUMBERED = "schema_version"  # the per-component numbers of databases from before


class StorageError(Exception):
    """The database cannot be used by this version of the code."""


class Migrations(_NamedMigrations):
    """The schema steps of one component (`core`, `directory`, …), sqlite-utils' own.

    Declare steps with `@migrations.step`; a step is known by its function's name. Steps run
    in the order declared, once each: only append, never rename, remove or change an applied
    step (a database holding a step this code does not know is refused).
    """

    def __init__(self, component: str) -> None:
        super().__init__(component)
        self.component = component

    def step(self, function: Step) -> Step:
        return self()(function)

    @property
    def names(self) -> list[str]:
        return [migration.name for migration in self._migrations]

    def first(self, count: int) -> Migrations:
        """The same component as an older version of the code knew it: its first steps."""
        older = Migrations(self.component)
        older._migrations = self._migrations[:count]
        return older


class Store:
    """One SQLite file shared by every bot of the process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """Everything inside commits together or not at all."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def applied(self, migrations: Migrations) -> list[str]:
        """The names of the component's steps this database holds, in the order applied."""
        return [migration.name for migration in migrations.applied(self.db)]

    def migrate(self, migrations: Migrations) -> list[str]:
        """Apply the steps not yet applied, one transaction each; returns their names."""
        self._carry_numbered(migrations)
        unknown = [name for name in self.applied(migrations) if name not in migrations.names]
        if unknown:
            raise StorageError(
                f"{self.path}: the {migrations.component} schema has steps this code does not"
                f" know ({', '.join(unknown)}); upgrade mentornet"
            )
        pending = [migration.name for migration in migrations.pending(self.db)]
        migrations.apply(self.db)
        return pending

    def _carry_numbered(self, migrations: Migrations) -> None:
        """A database from before: its number N for the component becomes the names of the
        first N steps, recorded as applied (not run), in one transaction."""
        if not self.db[NUMBERED].exists():
            return
        row = self.db.execute(
            f"SELECT version FROM {NUMBERED} WHERE component = ?", [migrations.component]
        ).fetchone()
        if row is None:
            return
        if row[0] > len(migrations.names):
            raise StorageError(
                f"{self.path}: the {migrations.component} schema is at version {row[0]}, "
                f"newer than this code knows ({len(migrations.names)}); upgrade mentornet"
            )
        now = str(datetime.now(UTC))  # as sqlite-utils records an applied step
        with self.transaction() as db:
            migrations.ensure_migrations_table(db)
            db.table(migrations.migrations_table).insert_all(
                {"migration_set": migrations.component, "name": name, "applied_at": now}
                for name in migrations.names[: row[0]]
            )
            db.execute(f"DELETE FROM {NUMBERED} WHERE component = ?", [migrations.component])
            if not db.execute(f"SELECT 1 FROM {NUMBERED} LIMIT 1").fetchone():
                db.execute(f"DROP TABLE {NUMBERED}")

    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def put(self, key: str, value: Any) -> None:
        self.db.table("kv").upsert({"key": key, "value": value}, pk="key")

    def delete(self, key: str) -> None:
        self.db.table("kv").delete_where("key = ?", [key])

    def backup(self, destination: Path) -> None:
        """Write a consistent copy of the whole database, even while the bots write to it."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(str(destination))
        try:
            self.db.conn.backup(target)
        finally:
            target.close()

    def close(self) -> None:
        self.db.conn.close()


core_migrations = Migrations("core")


@core_migrations.step
def _kv_and_settings(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value)")
    db.execute(
        "CREATE TABLE user_settings (user_id TEXT PRIMARY KEY, language TEXT, updated_at REAL)"
    )
    db.execute(
        "CREATE TABLE room_settings (room_id TEXT PRIMARY KEY, language TEXT, updated_at REAL)"
    )


@core_migrations.step
def _inbox(db: sqlite_utils.Database) -> None:
    # Events a bot must act on, stored with the sync token that delivered them and
    # deleted once handled, so a crash or restart neither loses nor repeats work.
    db.execute(
        "CREATE TABLE inbox (event_id TEXT PRIMARY KEY, account TEXT NOT NULL,"
        " room_id TEXT NOT NULL, event TEXT NOT NULL, received_at REAL NOT NULL)"
    )
    db.execute("CREATE TABLE handled_events (event_id TEXT PRIMARY KEY, handled_at REAL NOT NULL)")
    db.execute("CREATE INDEX handled_events_at ON handled_events (handled_at)")
    # Encrypted events waiting for their room key.
    db.execute(
        "CREATE TABLE undecrypted (event_id TEXT PRIMARY KEY, account TEXT NOT NULL,"
        " room_id TEXT NOT NULL, session_id TEXT NOT NULL, event TEXT NOT NULL,"
        " received_at REAL NOT NULL)"
    )
    db.execute("CREATE INDEX undecrypted_session ON undecrypted (session_id)")


def open_store(path: Path) -> Store:
    """Open the database and bring the core schema up to date."""
    store = Store(path)
    store.migrate(core_migrations)
    return store
