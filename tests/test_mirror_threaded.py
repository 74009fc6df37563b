"""A room's first copy into a database file: validated and written in worker threads, on a
connection of its own, so the event loop (every other bot) runs on; live entries still win
over it, a failed copy leaves nothing, and the rows are those of a copy on the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.account import Incoming
from core.storage import open_store
from directory import mirror as mirror_module
from directory.mirror import Mirror, mirror_migrations
from directory.store import Directory
from federation.rooms import KEY_SPACE
from tests.test_directory_bulk import snapshot
from tests.test_mirror_unit import ROOM, SPACE, Account, entry


class Writer(Directory):
    """The copy's directory: notes the thread of each chunk, can hold one back or fail."""

    threads: list[int]
    hold_at: int | None = None
    fail_at: int | None = None
    held = threading.Event()
    go_on = threading.Event()

    def write_listings(self, room_id: str, prepared: Any, skip: Any = ()) -> Any:
        chunk = len(self.threads)
        self.threads.append(threading.get_ident())
        if chunk == self.hold_at:
            self.held.set()
            assert self.go_on.wait(10)
        if chunk == self.fail_at:
            raise RuntimeError("disk full")
        return super().write_listings(room_id, prepared, skip)


@pytest.fixture
def writer(monkeypatch: pytest.MonkeyPatch) -> type[Writer]:
    monkeypatch.setattr(mirror_module, "COPY_CHUNK", 1)
    monkeypatch.setattr(mirror_module, "Directory", Writer)
    Writer.threads, Writer.hold_at, Writer.fail_at = [], None, None
    Writer.held, Writer.go_on = threading.Event(), threading.Event()
    return Writer


def open_mirror(path: Path | str) -> Mirror:
    store = open_store(path)  # type: ignore[arg-type]
    store.migrate(mirror_migrations)
    store.put(KEY_SPACE, SPACE)
    return Mirror(store, Directory(store))


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    mirror = open_mirror(tmp_path / "mentornet.db")
    yield mirror
    mirror.store.close()


def names(mirror: Mirror) -> list[str]:
    return sorted(item.organization.name for item in mirror.directory.search(per_page=100).items)


async def test_the_event_loop_runs_during_the_copy(writer: type[Writer], mirror: Mirror) -> None:
    first, second, third = entry("Alpha"), entry("Beta"), entry("Gamma")
    account = Account([first, second, third])
    writer.hold_at = 1
    follow = asyncio.create_task(mirror.follow(account, ROOM, ["b.example"]))  # type: ignore
    assert await asyncio.to_thread(writer.held.wait, 10)  # the loop runs while it writes
    assert mirror.directory.room_listing_count(ROOM) == 1
    live = [entry("Gamma renamed", third["state_key"]), entry(None, second["state_key"])]
    for event in live:  # newer than the fetched state: arrive while the copy is under way
        await mirror.on_event(account, Incoming(ROOM, event, 0.0))  # type: ignore[arg-type]
    writer.go_on.set()

    assert await follow == 1  # only Alpha came from the copy
    assert names(mirror) == ["Alpha", "Gamma renamed"]  # the stale Beta and Gamma skipped
    assert threading.get_ident() not in writer.threads and len(writer.threads) == 3
    assert ROOM in mirror.followed() and mirror._copies == {}


async def test_a_failed_copy_leaves_nothing(writer: type[Writer], mirror: Mirror) -> None:
    account = Account([entry("Alpha"), entry("Beta"), entry("Gamma")])
    writer.fail_at = 2
    with pytest.raises(RuntimeError):
        await mirror.follow(account, ROOM, ["b.example"])  # type: ignore[arg-type]
    assert mirror.directory.room_listing_count(ROOM) == 0
    assert ROOM not in mirror.followed() and mirror._copies == {}
    assert await mirror.follow(account, ROOM, ["b.example"]) == 3  # type: ignore[arg-type]
    assert names(mirror) == ["Alpha", "Beta", "Gamma"]


async def test_a_copy_in_threads_writes_what_a_copy_on_the_loop_writes(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror_module, "COPY_CHUNK", 7)
    events = [entry(f"Verein {n}") for n in range(40)]
    events += [entry("Verein 3", "another-id")]  # the same organisation twice: merged
    broken = entry("Broken")
    broken["content"] = {"schema_version": 1, "organization": {"name": "B", "email": "no"}}
    account = Account([*events, broken])
    on_loop = open_mirror(":memory:")
    assert await mirror.follow(account, ROOM, ["b.example"]) == 41  # type: ignore[arg-type]
    assert await on_loop.follow(account, ROOM, ["b.example"]) == 41  # type: ignore[arg-type]
    assert snapshot(mirror.directory) == snapshot(on_loop.directory)
    assert len(mirror.directory.get("another-id").sources) == 2  # type: ignore[union-attr]


async def test_a_copy_cut_short_by_a_crash_is_completed_by_the_next_follow(
    writer: type[Writer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = Account([entry(f"Verein {n}") for n in range(5)])
    crashed = open_mirror(tmp_path / "crashed.db")
    writer.fail_at = 3  # the process dies after three chunks: nothing is cleaned up
    monkeypatch.setattr(crashed.directory, "drop_room", lambda room_id: 0)
    with pytest.raises(RuntimeError):
        await crashed.follow(account, ROOM, ["b.example"])  # type: ignore[arg-type]
    assert crashed.directory.room_listing_count(ROOM) == 3 and ROOM not in crashed.followed()
    crashed.store.close()

    writer.fail_at = None
    restarted = open_mirror(tmp_path / "crashed.db")
    assert await restarted.follow(account, ROOM, ["b.example"]) == 5  # type: ignore[arg-type]
    clean = open_mirror(tmp_path / "clean.db")
    assert await clean.follow(account, ROOM, ["b.example"]) == 5  # type: ignore[arg-type]
    assert snapshot(restarted.directory) == snapshot(clean.directory)
    assert ROOM in restarted.followed()
