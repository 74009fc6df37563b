"""Dropping a directory room (unfollow) without a server: chunk by chunk with the event loop
running in between, and a drop cut short by a stop or crash finished at the next start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.storage import Store, open_store
from directory import mirror as mirror_module
from directory.mirror import Mirror, mirror_migrations
from directory.store import Directory
from federation.rooms import KEY_SPACE
from tests.test_mirror_unit import ROOM, SPACE, Account, entry

ENTRIES = 60


def start(path: Path) -> Mirror:
    """The mirror of an instance (re)started on the database at `path`."""
    store: Store = open_store(path)
    store.migrate(mirror_migrations)
    store.put(KEY_SPACE, SPACE)
    return Mirror(store, Directory(store))


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror_module, "DROP_CHUNK", 10)
    monkeypatch.setattr(mirror_module, "COPY_PAUSE", 0)


async def followed_room(path: Path) -> Mirror:
    mirror = start(path)
    account = Account([entry(f"Organisation {n}") for n in range(ENTRIES)])
    assert await mirror.follow(account, ROOM, ["b.example"]) == ENTRIES  # type: ignore[arg-type]
    return mirror


async def first_chunk_gone(mirror: Mirror) -> None:
    for _ in range(1_000):
        if mirror.directory.room_listing_count(ROOM) < ENTRIES:
            return
        await asyncio.sleep(0.005)  # from a database file, the drop runs in a worker thread
    raise AssertionError("the drop did not begin")


async def test_unfollow_drops_in_chunks_while_other_work_goes_on(tmp_path: Path) -> None:
    mirror = await followed_room(tmp_path / "m.db")
    seen: list[int] = []

    async def other_bot() -> None:  # what another bot of the process would do meanwhile
        while True:
            seen.append(mirror.directory.search().total)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(other_bot())
    await asyncio.sleep(0)
    assert await mirror.unfollow(ROOM) == ENTRIES
    watcher.cancel()
    assert any(0 < total < ENTRIES for total in seen)  # it ran while the room was half gone
    assert mirror.directory.search().total == 0 and ROOM not in mirror.followed()


async def test_a_drop_cut_short_is_finished_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = await followed_room(tmp_path / "m.db")
    monkeypatch.setattr(mirror_module, "COPY_PAUSE", 0.1)  # time to stop between chunks
    drop = asyncio.create_task(mirror.unfollow(ROOM))
    await first_chunk_gone(mirror)
    drop.cancel()  # the process stops half way through
    with pytest.raises(asyncio.CancelledError):
        await drop
    left = mirror.directory.room_listing_count(ROOM)
    assert 0 < left < ENTRIES and ROOM not in mirror.followed()
    mirror.store.close()

    restarted = start(tmp_path / "m.db")
    assert restarted.directory.search().total == left  # half a room that no longer counts
    assert await restarted.finish_drops() == left
    assert restarted.directory.search().total == 0
    assert await restarted.finish_drops() == 0  # nothing left to finish


async def test_following_again_finishes_the_earlier_drop_first(tmp_path: Path) -> None:
    mirror = await followed_room(tmp_path / "m.db")
    drop = asyncio.create_task(mirror.unfollow(ROOM))
    await first_chunk_gone(mirror)
    account = Account([entry(f"Organisation {n}") for n in range(ENTRIES)])
    follow = mirror.follow(account, ROOM, ["b.example"])  # type: ignore[arg-type]
    assert await follow == ENTRIES and await drop == ENTRIES
    assert mirror.directory.search().total == ENTRIES and ROOM in mirror.followed()
