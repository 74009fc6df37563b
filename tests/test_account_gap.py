"""Bulky state (directory entries) that reached the homeserver outside the timeline, e.g.
across a federation gap, arrives only in a sync's `state` section: the bots must get it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from nio import SyncResponse

from core.account import Account, Incoming
from core.config import AccountConfig
from core.storage import open_store

ROOM = "!dir:hs1"
KIND = "org.mentornet.directory.organization"


def entry(key: str, ts: int) -> dict[str, Any]:
    return {"type": KIND, "state_key": key, "event_id": f"${key}{ts}", "sender": "@a:hs1",
            "origin_server_ts": ts, "content": {"n": ts}}  # fmt: skip


def join_event(ts: int) -> dict[str, Any]:
    return {"type": "m.room.member", "state_key": "@bot:hs2", "event_id": f"$join{ts}",
            "sender": "@bot:hs2", "origin_server_ts": ts,
            "content": {"membership": "join"}}  # fmt: skip


def sync(state: list[dict[str, Any]], timeline: list[dict[str, Any]]) -> SyncResponse:
    room = {"state": {"events": state},
            "timeline": {"events": timeline, "limited": True, "prev_batch": "p1"}}  # fmt: skip
    return SyncResponse.from_dict({"next_batch": "s2", "rooms": {"join": {ROOM: room}}})


def account(tmp_path: Path, handled: list[str]) -> Account:
    async def handle(_: Account, incoming: Incoming) -> None:
        handled.append(incoming.event_id)

    async def upgraded(*_: Any) -> None: ...

    config = AccountConfig(homeserver="http://127.0.0.1:1", user_id="@bot:hs2", password="x")
    return Account("main", config, open_store(tmp_path / "m.db"), crypto_store=None,
                   invite_allowed=lambda _: True, wants=lambda _, item: True, handle=handle,
                   on_room_upgraded=upgraded, bulky_state_types=(KIND,))  # fmt: skip


async def settle(acc: Account) -> None:
    await asyncio.gather(*acc.inbox.workers.values())


async def test_bulky_state_of_a_gap_reaches_the_bots_before_the_timeline(tmp_path: Path) -> None:
    handled: list[str] = []
    acc = account(tmp_path, handled)
    await acc._process(sync([entry("k1", 1), entry("k2", 2)], [entry("k2", 3)]), None, False)
    await settle(acc)
    assert handled == ["$k11", "$k22", "$k23"]
    await acc.client.close()


async def test_state_section_after_our_join_is_history(tmp_path: Path) -> None:
    handled: list[str] = []
    acc = account(tmp_path, handled)
    await acc._process(sync([entry("k1", 1)], [join_event(2), entry("k2", 3)]), None, False)
    await settle(acc)
    assert handled == ["$k23"]
    await acc.client.close()


def message(ts: int) -> dict[str, Any]:
    return {"type": "m.room.message", "event_id": f"$m{ts}", "sender": "@p:hs1",
            "origin_server_ts": ts, "content": {"msgtype": "m.text", "body": "!ping"}}  # fmt: skip


async def test_a_gap_of_bulky_state_only_is_not_backfilled(tmp_path: Path) -> None:
    """/messages would make the homeserver pull the gap over federation first; the state
    section has what the bots need. A gap in a room with other events is backfilled."""
    handled: list[str] = []
    acc = account(tmp_path, handled)
    backfilled: list[str] = []

    async def backfill(room_id: str, prev_batch: str | None, since: str) -> list[Any]:
        backfilled.append(room_id)
        return []

    acc._backfill = backfill  # type: ignore[method-assign]
    await acc._process(sync([entry("k1", 1)], [entry("k2", 2)]), "s1", False)
    assert backfilled == []
    await acc._process(sync([], [entry("k3", 3), message(4)]), "s1", False)
    assert backfilled == [ROOM]
    await settle(acc)
    assert handled == ["$k11", "$k22", "$k33", "$m4"]
    await acc.client.close()


def limited(room_id: str, timeline: list[dict[str, Any]]) -> SyncResponse:
    room = {"state": {"events": []},
            "timeline": {"events": timeline, "limited": True, "prev_batch": "p1"}}  # fmt: skip
    return SyncResponse.from_dict({"next_batch": "s2", "rooms": {"join": {room_id: room}}})


async def test_a_lean_sync_with_a_gap_elsewhere_is_done_again_in_full(tmp_path: Path) -> None:
    """While a directory room is being joined, syncs leave bulky state out (`join_fetching_
    state`). The state section is then missing the bulky state of any other room's gap, so
    such a sync is not taken: it is done again with everything. A gap that ends in our own
    join is history and does not count; once the join is seen, syncs are full again."""
    acc = account(tmp_path, [])
    acc._lean_joins["!new:hs1"] = time.monotonic() + 60
    assert acc._lean()
    assert acc._lean_gap(limited(ROOM, [entry("k1", 1)]))  # a gap in another room
    assert not acc._lean_gap(limited("!new:hs1", [join_event(1), entry("k1", 2)]))
    await acc._process(limited("!new:hs1", [join_event(1)]), "s1", False)
    assert not acc._lean()
    await acc.client.close()
