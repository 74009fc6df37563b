"""A network that joins the European space late gets every public resource shared before:
its bot reads the exchange room's history backwards from its join to the start, so that its
homeserver fetches the older events from the other servers; a restart neither loses nor
doubles any of them."""

from __future__ import annotations

import re
from typing import Any

from tests.federation_helpers import build_europe, until
from tests.resources_helpers import resource_bot
from tests.test_resources_federation import exchange_ready, get_json, mirrored

EARLY = 20


def posted(bot: Any) -> int:
    """How many of its public resources the bot has posted to the exchange room."""
    query = "SELECT count(*) FROM resources WHERE exchange_event_id IS NOT NULL AND dirty = 0"
    return resource_bot(bot).exchange.outbox.db.execute(query).fetchone()[0]


async def share(europe: dict[str, Any], count: int, first: int = 0) -> None:
    """Network A's editor shares `count` public guides; returns once A posted them all."""
    await exchange_ready(europe["a"])
    for n in range(first, first + count):
        await europe["editor_a"].ask(
            europe["room_a"], f'!res share https://example.org/guide-{n} "Guide {n}" public'
        )
    await until(lambda: posted(europe["a"]) == first + count)


async def found_on_b(europe: dict[str, Any]) -> int:
    """How many public guides a reader on B finds (chat search and the web API agree)."""
    answer = await europe["reader_b"].ask(europe["room_b"], "!res search guide scope:europe")
    url = f"http://127.0.0.1:{europe['b'].web_port}/api/v1/resources?q=guide"
    status, body = await get_json(url)
    assert status == 200
    total = body["total_items"]
    found = re.search(rf"\b{total} resources? found", answer.body)
    assert found if total else ("Nothing matches" in answer.body), answer.body
    return total


async def test_a_late_network_gets_what_was_shared_before_it_joined(
    federation, mentornet, person
) -> None:
    async def before(europe: dict[str, Any]) -> None:
        await share(europe, EARLY)

    async def after(europe: dict[str, Any]) -> None:
        # B joined the space; its bot has not looked for the exchange room yet (its tick is
        # an hour): one more is shared now, then B's scheduled work runs.
        await share(europe, 1, first=EARLY)
        await europe["b"].app.tick()

    europe = await build_europe(
        federation,
        mentornet,
        person,
        before_join=before,
        after_join=after,
        bots_b={"tick_seconds": 3600},
    )
    bot_b = europe["b"]
    await exchange_ready(bot_b)
    await until(lambda: len(mirrored(bot_b)) == EARLY + 1)
    assert await found_on_b(europe) == EARLY + 1
    titles = sorted(title for title, _ in mirrored(bot_b))
    assert titles == sorted(f"Guide {n}" for n in range(EARLY + 1))

    await bot_b.stop()
    await bot_b.start()
    await europe["reader_b"].ask(europe["room_b"], "!ping")
    assert len(mirrored(bot_b)) == EARLY + 1
    assert len({event for _, event in mirrored(bot_b)}) == EARLY + 1
    assert await found_on_b(europe) == EARLY + 1
