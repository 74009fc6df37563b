"""The directory mirror without a server: a room's first copy, written in chunks while live
entries of the same room keep arriving."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from core.account import Incoming
from core.storage import open_store
from directory import mirror as mirror_module
from directory.hsds import to_published, validate
from directory.mirror import Mirror, mirror_migrations
from directory.store import Directory
from federation.rooms import KEY_SPACE, ORGANIZATION, SPACE_PARENT

ROOM, SPACE, EDITOR = "!dir:b.example", "!space:a.example", "@dir:b.example"
_events = itertools.count(1)


def entry(name: str | None, org_id: str | None = None) -> dict[str, Any]:
    """An organisation state event; `name=None` removes the entry `org_id`."""
    if name is None:
        state_key, content = org_id, {}
    else:
        org = validate({"id": org_id, "name": name} if org_id else {"name": name})
        state_key, content = org.id, to_published(org)
    return {
        "type": ORGANIZATION,
        "state_key": state_key,
        "sender": EDITOR,
        "event_id": f"$e{next(_events)}",
        "origin_server_ts": 1_000,
        "content": content,
    }


class Account:
    """A remote directory room, as the mirror reads it."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.rooms = self
        self.client = self
        self.state_of = [
            {"type": "m.room.create", "state_key": "", "sender": EDITOR, "content": {}},
            {
                "type": "m.room.power_levels",
                "state_key": "",
                "sender": EDITOR,
                "content": {"users": {EDITOR: 100}, "state_default": 50},
            },
            {"type": SPACE_PARENT, "state_key": SPACE, "content": {"via": ["a.example"]}},
            *entries,
        ]

    def get(self, room_id: str) -> None:  # client.rooms.get: nio knows nothing of the room
        return None

    async def state(self, room_id: str) -> list[dict[str, Any]]:
        return self.state_of

    async def join(self, room_id: str, via: list[str]) -> str:
        return room_id

    join_fetching_state = join


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch) -> Mirror:
    monkeypatch.setattr(mirror_module, "COPY_CHUNK", 1)  # yield between every two entries
    monkeypatch.setattr(mirror_module, "COPY_PAUSE", 0)
    store = open_store(":memory:")  # type: ignore[arg-type]
    store.migrate(mirror_migrations)
    store.put(KEY_SPACE, SPACE)
    return Mirror(store, Directory(store))


def names(mirror: Mirror) -> list[str]:
    return sorted(item.organization.name for item in mirror.directory.search(per_page=100).items)


async def test_the_first_copy_does_not_write_over_live_entries(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, third = entry("Alpha"), entry("Beta"), entry("Gamma")
    account = Account([first, second, third])
    begun, apply = asyncio.Event(), mirror.directory.write_listings

    def applied(room_id: str, listings: Any) -> Any:
        begun.set()
        return apply(room_id, listings)

    monkeypatch.setattr(mirror.directory, "write_listings", applied)
    follow = asyncio.create_task(mirror.follow(account, ROOM, ["b.example"]))  # type: ignore
    await begun.wait()  # the first chunk is in, the copy yields
    assert mirror.directory.room_listing_count(ROOM) == 1
    assert ROOM not in mirror.followed()
    live = [entry("Gamma renamed", third["state_key"]), entry(None, second["state_key"])]
    for event in live:  # newer than the fetched state: arrive while the copy yields
        incoming = Incoming(ROOM, event, 0.0)
        assert mirror.wants(incoming)  # wanted already, before the room is followed
        await mirror.on_event(account, incoming)  # type: ignore[arg-type]

    assert await follow == 1  # only Alpha came from the copy
    assert names(mirror) == ["Alpha", "Gamma renamed"]  # the stale Beta and Gamma skipped
    assert ROOM in mirror.followed() and mirror._copies == {}
    assert await mirror.follow(account, ROOM, ["b.example"]) == 3  # no copy running: all


async def test_a_failed_first_copy_leaves_nothing(
    mirror: Mirror, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = Account([entry("Alpha"), entry("Beta"), entry("Gamma")])
    calls = itertools.count()
    apply = mirror.directory.write_listings

    def failing(room_id: str, listings: Any) -> Any:
        if next(calls) == 2:
            raise RuntimeError("disk full")
        return apply(room_id, listings)

    monkeypatch.setattr(mirror.directory, "write_listings", failing)
    with pytest.raises(RuntimeError):
        await mirror.follow(account, ROOM, ["b.example"])  # type: ignore[arg-type]
    assert mirror.directory.room_listing_count(ROOM) == 0
    assert ROOM not in mirror.followed() and mirror._copies == {}
    late = Incoming(ROOM, entry("Delta"), 0.0)
    assert not mirror.wants(late)
    await mirror.on_event(account, late)  # type: ignore[arg-type]  # queued during the copy
    assert mirror.directory.room_listing_count(ROOM) == 0
