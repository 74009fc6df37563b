"""The SQLite store: core schema, component migrations, live backups, key-value pairs."""

from __future__ import annotations

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
    assert store.version("core") == core_migrations.latest >= 2
    store.close()
    assert {"schema_version", "kv", "user_settings", "inbox", "handled_events"} <= tables(path)
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


def make_migrations(ran: list[str], fail_second: bool = False) -> Migrations:
    migrations = Migrations("directory")

    @migrations.step
    def first(db) -> None:
        ran.append("first")
        db.execute("CREATE TABLE mentors (id INTEGER PRIMARY KEY, name TEXT)")

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
    assert store.migrate(make_migrations(ran)) == 2
    store.close()
    store = open_store(tmp_path / "m.db")
    assert store.migrate(make_migrations(ran)) == 2
    assert ran == ["first", "second"]
    assert store.version("directory") == 2
    assert store.db.execute("SELECT name, city FROM mentors").fetchall() == [("Ana", "Köln")]
    store.close()


def test_a_failing_step_rolls_back_completely(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    with pytest.raises(RuntimeError, match="step two broke"):
        store.migrate(make_migrations([], fail_second=True))
    assert store.version("directory") == 1
    store.close()
    assert "tags" not in tables(tmp_path / "m.db")
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert [row[1] for row in conn.execute("PRAGMA table_info(mentors)")] == ["id", "name"]
        assert conn.execute("SELECT count(*) FROM mentors").fetchone() == (0,)
    # Fixed code can then finish the job.
    store = open_store(tmp_path / "m.db")
    assert store.migrate(make_migrations([])) == 2
    store.close()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    store.migrate(make_migrations([]))
    older = Migrations("directory")
    older.step(lambda db: None)
    with pytest.raises(StorageError, match=r"directory schema is at version 2.*\(1\)"):
        store.migrate(older)
    store.db.execute("UPDATE schema_version SET version = 99 WHERE component = 'core'")
    store.close()
    with pytest.raises(StorageError, match="core schema"):
        open_store(tmp_path / "m.db")


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
            versions = dict(conn.execute("SELECT component, version FROM schema_version"))
            assert versions == {"core": core_migrations.latest}
