"""The European directory across two homeservers, for the tests that need it: network A
(homeserver 1) makes the space, network B (homeserver 2) joins and is approved."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from directory.bot import DirectoryBot
from federation import membership
from tests.bots import MakeBot, RunningBot
from tests.people import MakePerson, Person
from tests.resources_helpers import resource_bot


def dir_bot(bot: RunningBot) -> DirectoryBot:
    assert bot.app is not None
    return next(b for b in bot.app.bots if isinstance(b, DirectoryBot))


async def until(check: Callable[[], Any], timeout: float = 20) -> Any:
    """Wait until `check()` is truthy (federation takes some tens of milliseconds)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "the change did not arrive in time"
        await asyncio.sleep(0.05)
    return result


BeforeJoin = Callable[[dict[str, Any]], Awaitable[None]]


async def build_europe(
    federation: Any,
    mentornet: MakeBot,
    person: MakePerson,
    before_join: BeforeJoin | None = None,
    bots_b: dict[str, Any] | None = None,
    after_join: BeforeJoin | None = None,
    bots_a: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Network A made the space; network B joined it and a space admin approved it.

    `before_join(europe)` runs once A has made the space and B is running, before B joins;
    `after_join(europe)` right after B joined, before B's bot looks for the exchange room;
    `bots_a` and `bots_b` add to A's and B's `bots` settings (e.g. a bot's own account)."""
    hs1, hs2 = federation
    fast = {"tick_seconds": 0.3}
    # The editor of A and the reader of B are their instances' configured directory editors.
    dir_a = {"network": "Network A", "editors": ["@editor-*"]}
    dir_b = {"network": "Network B", "editors": ["@reader-*"]}
    bot_a = await mentornet(hs1, directory=dir_a, bots=fast | (bots_a or {}))
    bot_b = await mentornet(hs2, directory=dir_b, bots=fast | (bots_b or {}))
    editor_a: Person = await person(hs1, name="editor")
    reader_b: Person = await person(hs2, name="reader")
    room_a = await bot_a.room_with(editor_a)
    room_b = await bot_b.room_with(reader_b)
    app_a, app_b = bot_a.app, bot_b.app
    space = await membership.start_space(app_a.account, app_a.config, "Europe")
    europe = {
        "a": bot_a, "b": bot_b, "editor_a": editor_a, "reader_b": reader_b,
        "room_a": room_a, "room_b": room_b, "space": space.space_id,
        "dir_room_a": space.room_id, "hs1": hs1, "hs2": hs2,
    }  # fmt: skip
    if before_join is not None:
        await before_join(europe)
    joined = await membership.join_space(
        app_b.account, app_b.config, space.space_id, [hs1.server_name]
    )
    assert "approve" in joined.message  # B may not list itself: a space admin must
    if after_join is not None:
        await after_join(europe)
    # An admin approves later, once B is in the resource exchange room: a level granted while
    # B's homeserver is still joining would reach it only with the room's next event.
    exchange = resource_bot(bot_b).exchange
    await until(lambda: exchange.room_id and exchange.ready(exchange.room_id), timeout=30)
    await membership.approve(app_a.account, joined.room_id, [hs2.server_name])
    await until(lambda: joined.room_id in dir_bot(bot_a).mirror.followed())
    await until(lambda: space.room_id in dir_bot(bot_b).mirror.followed())
    return europe | {"dir_room_b": joined.room_id}
