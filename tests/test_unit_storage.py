"""The SQLite store: core schema, component migrations, live backups, key-value pairs."""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

import pytest

from core.storage import Migrations, StorageError, Store, core_migrations, open_store


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_open_store_creates_core_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "m.db"
    store = open_store(path)
    assert store.applied(core_migrations) == ["_kv_and_settings", "_inbox"]
    store.close()
    assert {"_sqlite_migrations", "kv", "user_settings", "inbox", "handled_events"} <= tables(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_get_and_put_round_trip(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    assert store.get("missing", "default") == "default"
    store.put("token", "s1")
    store.put("token", "s2")
    store.put("count", 3)
    store.close()
    reopened = open_store(tmp_path / "m.db")
    assert (reopened.get("token"), reopened.get("count")) == ("s2", 3)
    reopened.close()


def make_migrations(
    ran: list[str], fail_second: bool = False, third_between: bool = False
) -> Migrations:
    migrations = Migrations("directory")

    @migrations.step
    def first(db) -> None:
        ran.append("first")
        db.execute("CREATE TABLE mentors (id INTEGER PRIMARY KEY, name TEXT)")

    if third_between:  # a later version of the code declares a step between the two

        @migrations.step
        def third(db) -> None:
            ran.append("third")
            db.execute("CREATE TABLE notes (text TEXT)")

    @migrations.step
    def second(db) -> None:
        ran.append("second")
        db.execute("ALTER TABLE mentors ADD COLUMN city TEXT")
        db["mentors"].insert({"name": "Ana", "city": "Köln"})
        db.execute("CREATE TABLE tags (name TEXT)")
        if fail_second:
            raise RuntimeError("step two broke")

    return migrations


def test_migrations_apply_in_order_once(tmp_path: Path) -> None:
    ran: list[str] = []
    store = open_store(tmp_path / "m.db")
    assert store.migrate(make_migrations(ran)) == ["first", "second"]
    store.close()
    store = open_store(tmp_path / "m.db")
    assert store.migrate(make_migrations(ran)) == []
    assert ran == ["first", "second"]
    assert store.applied(make_migrations([])) == ["first", "second"]
    assert store.db.execute("SELECT name, city FROM mentors").fetchall() == [("Ana", "Köln")]
    store.close()


def test_a_failing_step_rolls_back_completely(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    with pytest.raises(RuntimeError, match="step two broke"):
        store.migrate(make_migrations([], fail_second=True))
    assert store.applied(make_migrations([])) == ["first"]
    store.close()
    assert "tags" not in tables(tmp_path / "m.db")
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert [row[1] for row in conn.execute("PRAGMA table_info(mentors)")] == ["id", "name"]
        assert conn.execute("SELECT count(*) FROM mentors").fetchone() == (0,)
    # Fixed code can then finish the job.
    store = open_store(tmp_path / "m.db")
    assert store.migrate(make_migrations([])) == ["second"]
    store.close()


def test_a_step_declared_between_applied_ones_runs_alone(tmp_path: Path) -> None:
    """Steps are known by name: one added between two applied steps (or a step moved) runs
    once, and neither applied step runs again or is taken for another."""
    store = open_store(tmp_path / "m.db")
    store.migrate(make_migrations([]))
    ran: list[str] = []
    later = make_migrations(ran, third_between=True)
    assert later.names == ["first", "third", "second"]
    assert store.migrate(later) == ["third"]
    assert ran == ["third"]
    assert store.applied(later) == ["first", "second", "third"]
    assert "notes" in tables(tmp_path / "m.db")
    store.close()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    store.migrate(make_migrations([]))
    with pytest.raises(StorageError, match=r"directory schema has steps .*\(second\)"):
        store.migrate(make_migrations([]).first(1))
    store.close()


def numbered_database(path: Path, versions: dict[str, int], steps: list[Migrations]) -> None:
    """A database as the code before named steps left it: the first `versions[component]`
    steps of each component run, and their count kept in `schema_version`."""
    store = Store(path)
    for migrations in steps:
        store.migrate(migrations.first(versions[migrations.component]))
    store.db.execute("DROP TABLE _sqlite_migrations")
    store.db.execute(
        "CREATE TABLE schema_version"
        " (component TEXT PRIMARY KEY, version INTEGER NOT NULL, applied_at REAL NOT NULL)"
    )
    for component, version in versions.items():
        store.db.execute("INSERT INTO schema_version VALUES (?, ?, 0)", [component, version])
    store.close()


def test_a_numbered_database_upgrades_without_running_a_step_again(tmp_path: Path) -> None:
    """The database of an instance that ran the numbered steps: core complete, the directory
    at its first step. Opened by this code, only the directory's second step runs, once."""
    path = tmp_path / "old.db"
    numbered_database(path, {"core": 2, "directory": 1}, [core_migrations, make_migrations([])])
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO kv VALUES ('sync_token', 's42')")
        conn.execute("INSERT INTO mentors (name) VALUES ('Ana')")
    ran: list[str] = []
    store = open_store(path)  # a core step run again would fail: its tables exist
    assert store.migrate(make_migrations(ran)) == ["second"]
    assert ran == ["second"]
    assert store.applied(core_migrations) == ["_kv_and_settings", "_inbox"]
    assert store.applied(make_migrations([])) == ["first", "second"]
    assert store.get("sync_token") == "s42"
    rows = store.db.execute("SELECT name, city FROM mentors ORDER BY id").fetchall()
    assert rows == [("Ana", None), ("Ana", "Köln")]
    store.close()
    assert "schema_version" not in tables(path)  # every component carried over
    store = open_store(path)
    assert store.migrate(make_migrations(ran)) == [] and ran == ["second"]
    store.close()


def test_a_numbered_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    numbered_database(path, {"core": 2}, [core_migrations])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99 WHERE component = 'core'")
    with pytest.raises(StorageError, match=r"core schema is at version 99.*\(2\)"):
        open_store(path)
    with sqlite3.connect(path) as conn:  # refused before anything was recorded
        assert "_sqlite_migrations" not in tables(path)
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (99,)


def test_backup_is_consistent_while_another_connection_writes(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    store.db.execute("CREATE TABLE pairs (n INTEGER, blob BLOB)")
    writer = Store(tmp_path / "m.db")
    stop = threading.Event()
    written = 0

    def write() -> None:
        nonlocal written
        while not stop.is_set():
            with writer.transaction() as db:  # always two rows together
                db.execute("INSERT INTO pairs VALUES (?, randomblob(2000))", [written])
                db.execute("INSERT INTO pairs VALUES (?, randomblob(2000))", [written])
            written += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while written < 200:
            stop.wait(0.005)
        copies = [tmp_path / f"backup{i}.db" for i in range(3)]
        for copy in copies:
            store.backup(copy)
    finally:
        stop.set()
        thread.join()
    writer.close()
    store.close()
    for copy in copies:
        with sqlite3.connect(copy) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            query = "SELECT count(*), count(DISTINCT n) FROM pairs"
            count, distinct = conn.execute(query).fetchone()
            assert count >= 400
            assert count == 2 * distinct
            steps = conn.execute("SELECT migration_set, name FROM _sqlite_migrations ORDER BY id")
            assert steps.fetchall() == [("core", "_kv_and_settings"), ("core", "_inbox")]


def test_a_write_through_the_table_api_never_changes_the_schema(tmp_path: Path) -> None:
    """Tables come from migrations only: a record with a column the table lacks is refused,
    by insert and by update alike, and the table keeps the columns it had."""
    store = open_store(tmp_path / "m.db")
    store.migrate(make_migrations([]))
    before = store.db["mentors"].columns_dict
    with pytest.raises(sqlite3.OperationalError, match="no column named town"):
        store.db.table("mentors").insert({"name": "Ana", "town": "Köln"})
    store.db.table("mentors").insert({"id": 7, "name": "Ana"})
    with pytest.raises(sqlite3.OperationalError, match="no such column: town"):
        store.db.table("mentors").update(7, {"town": "Köln"})
    assert store.db["mentors"].columns_dict == before
    row = store.db.execute("SELECT name, city FROM mentors WHERE id = 7").fetchone()
    assert row == ("Ana", None)
    store.close()


def every_component() -> list[Migrations]:
    """The schema of every component, in an order their foreign keys allow."""
    from bots.checkin.schema import migrations as checkin
    from bots.network import invitations, privacy
    from bots.network.schema import migrations as network
    from bots.resources.schema import resource_migrations
    from bots.sustain import buddies, digest, events, goals, impact, questions, selfcheck
    from core.messaging import messaging_migrations
    from directory.mirror import mirror_migrations
    from directory.store import directory_migrations

    sustain = [buddies, digest, events, goals, impact, questions, selfcheck]
    return [
        core_migrations,
        messaging_migrations,
        directory_migrations,
        mirror_migrations,
        network,
        privacy.migrations,
        invitations.migrations,
        checkin,
        resource_migrations,
        *(module.migrations for module in sustain),
    ]


def test_every_table_the_code_writes_through_the_table_api_is_made_by_a_migration(
    tmp_path: Path,
) -> None:
    """`db.table(name).insert` would create a missing table on the fly: every name the code
    passes to it must be a table some migration creates."""
    store = open_store(tmp_path / "m.db")
    for migrations in every_component():
        store.migrate(migrations)
    made = set(store.db.table_names())
    store.close()
    root = Path(__file__).parent.parent
    named = {
        name
        for folder in ("core", "directory", "federation", "bots")
        for source in (root / folder).rglob("*.py")
        for name in re.findall(r"""\.table\(\s*["'](\w+)["']""", source.read_text())
    }
    assert named and named <= made, sorted(named - made)
