"""The instance's SQLite file: WAL mode, numbered migrations per component, consistent backups."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

Step = Callable[[sqlite_utils.Database], None]


class StorageError(Exception):
    """The database cannot be used by this version of the code."""


class Migrations:
    """Numbered schema steps of one component (`core`, `directory`, …), applied in order.

    Declare steps with the decorator; step N is the N-th decorated function.
    """

    def __init__(self, component: str) -> None:
        self.component = component
        self.steps: list[Step] = []

    def step(self, function: Step) -> Step:
        self.steps.append(function)
        return function

    @property
    def latest(self) -> int:
        return len(self.steps)


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
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version"
            " (component TEXT PRIMARY KEY, version INTEGER NOT NULL, applied_at REAL NOT NULL)"
        )

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

    def version(self, component: str) -> int:
        row = self.db.execute(
            "SELECT version FROM schema_version WHERE component = ?", [component]
        ).fetchone()
        return row[0] if row else 0

    def migrate(self, migrations: Migrations) -> int:
        """Apply the steps not yet applied, one transaction each; returns the new version."""
        current = self.version(migrations.component)
        if current > migrations.latest:
            raise StorageError(
                f"{self.path}: the {migrations.component} schema is at version {current}, "
                f"newer than this code knows ({migrations.latest}); upgrade mentornet"
            )
        for number in range(current + 1, migrations.latest + 1):
            with self.transaction() as db:
                migrations.steps[number - 1](db)
                db.execute(
                    "INSERT INTO schema_version (component, version, applied_at) VALUES (?, ?, ?)"
                    " ON CONFLICT(component) DO UPDATE SET version = excluded.version,"
                    " applied_at = excluded.applied_at",
                    [migrations.component, number, time.time()],
                )
        return migrations.latest

    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def put(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

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
