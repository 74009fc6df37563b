"""The resource exchange across two homeservers that federate: a resource network A marks
public reaches network B through the European space's exchange room (a child of the space
that the directory mirror does not follow), with its origin; its removal reaches B; B catches
up after being down, without losing or doubling anything; what nobody may post is ignored;
only the accounts that publish for an approved network may post, and a network that leaves
loses that power."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import nio
import pytest

from bots.resources.exchange import may_post
from core.rooms import room_path
from federation import membership
from federation.rooms import (
    EXCHANGE_ROOM_TYPE,
    KEY_EXCHANGE_ROOM,
    PUBLISHER_LEVEL,
    RESOURCE,
    SPACE_CHILD,
    room_type,
    set_posters,
)
from tests.federation_helpers import build_europe, dir_bot, until
from tests.resources_helpers import resource_bot


@pytest.fixture
async def europe(federation, mentornet, person) -> dict[str, Any]:
    """Network A (homeserver 1) made the space; network B (homeserver 2) joined, approved."""
    return await build_europe(federation, mentornet, person)


def mirrored(bot: Any) -> list[tuple[str, str]]:
    """(title, event id) of every resource B mirrored from other networks."""
    return (
        resource_bot(bot)
        .catalogue.db.execute(
            "SELECT title, event_id FROM resource_public WHERE local_id IS NULL ORDER BY id"
        )
        .fetchall()
    )


async def exchange_ready(bot: Any) -> str:
    """The exchange room, once the bot joined it and read its history."""
    exchange = resource_bot(bot).exchange
    await until(lambda: exchange.room_id and exchange.ready(exchange.room_id), timeout=30)
    return exchange.room_id


def level(bot: Any, room_id: str, user_id: str, account: str = "default") -> int:
    """A user's level in a room, as the bot's account knows it from its sync."""
    room = bot.app.accounts[account].client.rooms.get(room_id)
    return room.power_levels.get_user_level(user_id) if room else -1


async def approved(bot: Any, exchange: str, account: str = "default") -> None:
    """Once the bot's own homeserver knows the bot's account may post resources."""
    user_id = bot.app.accounts[account].user_id
    await until(lambda: level(bot, exchange, user_id, account) >= PUBLISHER_LEVEL)


def post(title: str, network: str, url: str) -> dict[str, Any]:
    return {"schema_version": 1, "title": title, "network": network, "tags": [], "url": url}


def titles(bot: Any) -> list[str]:
    return sorted(title for title, _ in mirrored(bot))


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def test_a_public_resource_of_a_is_found_on_b_and_its_removal_follows(europe) -> None:
    editor, reader = europe["editor_a"], europe["reader_b"]
    room_a, room_b = europe["room_a"], europe["room_b"]
    bot_a, bot_b = europe["a"], europe["b"]
    hs1 = europe["hs1"].server_name
    exchange = await exchange_ready(bot_a)
    assert await exchange_ready(bot_b) == exchange  # B found the same room in the space

    # The exchange room is a child of the European space, typed as such, and not a directory
    # room: neither directory mirror follows it.
    account_a = bot_a.app.account
    child = await account_a.rooms.get_state(europe["space"], SPACE_CHILD, exchange)
    assert child.get("via")
    assert room_type(await bot_b.app.account.rooms.state(exchange)) == EXCHANGE_ROOM_TYPE
    assert bot_b.app.store.get(KEY_EXCHANGE_ROOM) == exchange
    for bot in (bot_a, bot_b):
        assert exchange not in dir_bot(bot).mirror.followed()
    assert europe["dir_room_a"] in dir_bot(bot_b).mirror.followed()

    added = await editor.ask(
        room_a,
        '!res share https://www.example.org/welcome/?utm_source=x "Welcome guide for mentors"'
        ' #onboarding lang:en public description:"Everything for the first weeks"',
    )
    assert "shared it with the other networks" in added.body
    await editor.ask(room_a, '!res share https://example.org/internal "Internal notes" #onboarding')
    await until(lambda: mirrored(bot_b))

    found = await reader.ask(room_b, "!res search welcome scope:europe")
    assert "Welcome guide for mentors" in found.body
    assert "https://www.example.org/welcome/" in found.body and "utm_source" not in found.body
    assert f"from Network A ({hs1})" in found.body
    assert "#onboarding" in (await reader.ask(room_b, "!res search #onboarding scope:europe")).body
    for nothing in ("welcome lang:de scope:europe", "internal scope:europe", "welcome"):
        assert "Nothing matches" in (await reader.ask(room_b, f"!res search {nothing}")).body

    status, body = await get_json(
        f"http://127.0.0.1:{bot_b.web_port}/api/v1/resources?q=welcome&tag=onboarding"
    )
    assert status == 200 and body["total_items"] == 1
    [item] = body["contents"]
    assert item["title"] == "Welcome guide for mentors" and item["language"] == "en"
    [source] = item["sources"]
    assert source["network"] == "Network A" and source["homeserver"] == hs1
    assert source["room_id"] == exchange and source["event_id"] == mirrored(bot_b)[0][1]
    status, body = await get_json(f"http://127.0.0.1:{bot_b.web_port}/api/v1/resources")
    assert [i["title"] for i in body["contents"]] == ["Welcome guide for mentors"]  # public only
    status, error = await get_json(f"http://127.0.0.1:{bot_b.web_port}/api/v1/resources?page=x")
    assert status == 400 and error["error"]["parameter"] == "page"
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{bot_b.web_port}/resources?q=welcome"
        async with session.get(url) as response:
            page = await response.text()
    assert "<mark>Welcome</mark> guide for mentors" in page and f"Network A ({hs1}" in page
    assert "Internal notes" not in page

    # Removing it on A redacts its exchange event (B's homeserver holds it redacted) and B's
    # mirror drops it.
    event_id = mirrored(bot_b)[0][1]
    removed = await editor.ask(room_a, "!res remove 1")
    assert "the other networks drop it too" in removed.body
    await until(lambda: not mirrored(bot_b))
    held = await bot_b.app.account.rooms.call("GET", room_path(exchange, "event", event_id))
    assert held["content"] == {} and "redacted_because" in held.get("unsigned", {})
    assert "Nothing matches" in (await reader.ask(room_b, "!res search welcome scope:europe")).body


async def test_b_catches_up_after_downtime_without_losing_or_doubling(europe) -> None:
    editor, reader = europe["editor_a"], europe["reader_b"]
    room_a, room_b, bot_b = europe["room_a"], europe["room_b"], europe["b"]
    await exchange_ready(bot_b)
    await editor.ask(room_a, '!res share https://example.org/one "First guide" public')
    await editor.ask(room_a, '!res share https://example.org/two "Second guide" public')
    await until(lambda: len(mirrored(bot_b)) == 2)

    await bot_b.stop()
    await editor.ask(room_a, "!res remove 1")  # while B is down
    await editor.ask(room_a, '!res share https://example.org/three "Third guide" #new public')
    await editor.ask(room_a, '!res share https://example.org/two "Second guide" #tagged')
    await bot_b.start()

    def titles() -> list[str]:
        return sorted(title for title, _ in mirrored(bot_b))

    # The second guide changed (a tag more): posted anew, its older post redacted.
    await until(lambda: titles() == ["Second guide", "Third guide"], timeout=40)
    found = await reader.ask(room_b, "!res search guide scope:europe")
    assert "2 resources found" in found.body and "First guide" not in found.body
    assert "#tagged" in found.body and found.body.count("Second guide") == 1

    await bot_b.stop()  # a restart with nothing new changes nothing
    await bot_b.start()
    await reader.ask(room_b, "!ping")
    assert titles() == ["Second guide", "Third guide"]
    assert len({event for _, event in mirrored(bot_b)}) == 2


async def test_unusable_posts_are_ignored_and_titles_stay_text(europe) -> None:
    """What another network posts is checked like our own input: a javascript: link or an
    unknown schema never reaches the mirror, markup in a title stays text in chat and on the
    page. (Network B's account posts by hand here, as a faulty or hostile instance would.)"""
    bot_a, bot_b = europe["a"], europe["b"]
    exchange = await exchange_ready(bot_a)
    await exchange_ready(bot_b)
    await approved(bot_b, exchange)
    base = {"schema_version": 1, "title": "Guide", "network": "Network B", "tags": []}
    for content in (
        base | {"url": "javascript:alert(1)", "title": "Evil link"},
        base | {"url": "https://example.org/x", "schema_version": 99, "title": "Future"},
        base | {"url": "https://example.org/img", "title": "<img src=x onerror=alert(1)>Tips"},
    ):
        response = await bot_b.app.account.client.room_send(exchange, RESOURCE, content)
        assert hasattr(response, "event_id"), response
    await until(lambda: mirrored(bot_a))
    await europe["editor_a"].ask(europe["room_a"], "!ping")  # the later posts had their turn
    assert [title for title, _ in mirrored(bot_a)] == ["<img src=x onerror=alert(1)>Tips"]
    answer = await europe["editor_a"].ask(europe["room_a"], "!res search tips scope:europe")
    assert f"from Network B ({europe['hs2'].server_name})" in answer.body
    html = answer.source["content"]["formatted_body"]
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;Tips" in html
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{bot_a.web_port}/resources?q=tips"
        async with session.get(url) as response:
            page = await response.text()
    assert "<img src=x" not in page  # the title stays text; the searched word is marked
    assert "&lt;img src=x onerror=alert(1)&gt;<mark>Tips</mark>" in page


async def test_leaving_the_space_withdraws_our_public_resources(europe) -> None:
    bot_a, bot_b = europe["a"], europe["b"]
    exchange = await exchange_ready(bot_a)
    await exchange_ready(bot_b)
    await europe["editor_a"].ask(
        europe["room_a"], '!res share https://example.org/leaving "Guide that leaves" public'
    )
    await until(lambda: mirrored(bot_b))

    await membership.leave_space(bot_a.app.account)
    await until(lambda: not mirrored(bot_b))  # A redacted its post on the way out
    await until(lambda: resource_bot(bot_a).exchange.room_id is None)
    assert bot_a.app.store.get(KEY_EXCHANGE_ROOM) is None
    # A keeps the resource itself, public again as soon as it is in a space again.
    shown = await europe["editor_a"].ask(europe["room_a"], "!res show 1")
    assert "Guide that leaves" in shown.body and "shared with the other networks" in shown.body
    assert await bot_a.app.account.rooms.membership(exchange, bot_a.user_id) == "leave"


async def test_only_approved_networks_get_resources_into_the_mirrors(europe, person) -> None:
    """An account that joined the exchange room but publishes for no approved network cannot
    post as "Network A": its homeserver refuses, and where the room still let anyone post (an
    exchange room from before, or one an admin opened) every mirror ignores the post."""
    bot_a, bot_b = europe["a"], europe["b"]
    editor, reader = europe["editor_a"], europe["reader_b"]
    hs1 = europe["hs1"].server_name
    exchange = await exchange_ready(bot_a)
    await exchange_ready(bot_b)
    await approved(bot_b, exchange)
    assert level(bot_a, exchange, bot_b.user_id) == PUBLISHER_LEVEL  # granted by the approval

    outsider = await person(europe["hs2"], name="outsider")
    await outsider.join(exchange, via=[hs1])
    fake = post("Fake guide", "Network A", "https://evil.example/guide")
    refused = await outsider.client.room_send(exchange, RESOURCE, fake)
    assert isinstance(refused, nio.RoomSendError) and refused.status_code == "M_FORBIDDEN"

    account_a = bot_a.app.account  # the creator opens the room to everyone, as it once was
    levels = await account_a.rooms.get_state(exchange, "m.room.power_levels")
    levels["events"][RESOURCE] = 0
    await account_a.rooms.put_state(exchange, "m.room.power_levels", "", levels)
    deadline = time.monotonic() + 20
    while not isinstance(sent := await outsider.client.room_send(exchange, RESOURCE, fake),
                         nio.RoomSendResponse):  # fmt: skip
        assert time.monotonic() < deadline, sent
        await asyncio.sleep(0.1)

    # Posts sent after the fake one reach both mirrors; the fake one reached neither.
    genuine_b = post("Genuine guide from B", "Network B", "https://b.example/guide")
    assert isinstance(
        await bot_b.app.account.client.room_send(exchange, RESOURCE, genuine_b),
        nio.RoomSendResponse,
    )
    await editor.ask(europe["room_a"], '!res share https://a.example/guide "Guide from A" public')
    await until(lambda: titles(bot_a) == ["Genuine guide from B"])
    await until(lambda: titles(bot_b) == ["Guide from A"])
    for who, room in ((editor, europe["room_a"]), (reader, europe["room_b"])):
        answer = await who.ask(room, "!res search guide scope:europe")
        assert "Fake guide" not in answer.body and "Guide" in answer.body


async def test_a_network_that_leaves_can_no_longer_post(europe) -> None:
    bot_a, bot_b = europe["a"], europe["b"]
    hs1 = europe["hs1"].server_name
    exchange = await exchange_ready(bot_a)
    await exchange_ready(bot_b)
    await approved(bot_b, exchange)

    left = await membership.leave_space(bot_b.app.account)
    assert left.space_id == europe["space"]
    # A, a space admin, saw B's directory room drop the space and took B's level back.
    await until(lambda: level(bot_a, exchange, bot_b.user_id) == 0)
    await until(lambda: resource_bot(bot_b).exchange.room_id is None)  # B left the room
    account_b = bot_b.app.account
    await account_b.rooms.join(exchange, [hs1])  # the room is public: joining again is allowed
    refused = await account_b.client.room_send(
        exchange, RESOURCE, post("Still here", "Network B", "https://b.example/late")
    )
    assert isinstance(refused, nio.RoomSendError) and refused.status_code == "M_FORBIDDEN"


async def test_a_level_taken_back_holds_when_the_network_left_without_seeing_it(europe) -> None:
    """A space admin takes B's level back while B's homeserver is down; back up, B leaves the
    exchange room before that change reached its homeserver, so its leave is built on the
    older levels (the room's history forks). A's homeserver keeps the change (state
    resolution); its sync, though, hands A's bot the older levels as the state before the
    leave. A's bot must go on judging B by the room's resolved levels."""
    bot_a, bot_b, hs2 = europe["a"], europe["b"], europe["hs2"]
    account_a = bot_a.app.account
    exchange = await exchange_ready(bot_a)
    await exchange_ready(bot_b)
    await approved(bot_b, exchange)

    await hs2.stop()
    try:
        revoked = await membership.revoke(account_a, europe["dir_room_b"])
    finally:
        await hs2.start()
    assert revoked == {bot_b.user_id}
    await until(lambda: level(bot_a, exchange, bot_b.user_id) == 0)
    await bot_b.app.account.rooms.leave(exchange)  # B's homeserver never saw the change
    room = account_a.client.rooms[exchange]
    await until(lambda: bot_b.user_id not in room.users)  # A's bot has the leave
    assert level(bot_a, exchange, bot_b.user_id) == 0
    assert await account_a.power_level(exchange, bot_b.user_id) == 0
    assert not (await may_post(account_a, exchange))(bot_b.user_id)


async def test_a_resource_bot_with_its_own_account_posts_for_its_network(
    federation, mentornet, person, new_user
) -> None:
    """Network B's resource bot speaks through its own account: B's directory room gives that
    account the publishing level too, so approving B lets it post to the exchange."""
    hs2 = federation[1]
    user_id, password = await new_user(hs2, prefix="resources")
    own = {"resource": {"homeserver": hs2.url, "user_id": user_id, "password": password}}
    europe = await build_europe(federation, mentornet, person, bots_b={"accounts": own})
    bot_a, bot_b = europe["a"], europe["b"]
    exchange = await exchange_ready(bot_a)
    assert await exchange_ready(bot_b) == exchange  # joined by the resource bot's account
    assert resource_bot(bot_b).account.user_id == user_id
    assert level(bot_a, exchange, user_id) == PUBLISHER_LEVEL
    assert level(bot_a, exchange, bot_b.user_id) == PUBLISHER_LEVEL
    await approved(bot_b, exchange, account="resource")
    sent = await bot_b.app.accounts["resource"].client.room_send(
        exchange, RESOURCE, post("Guide from B's own bot", "Network B", "https://b.example/own")
    )
    assert isinstance(sent, nio.RoomSendResponse), sent
    await until(lambda: titles(bot_a) == ["Guide from B's own bot"])
    answer = await europe["editor_a"].ask(europe["room_a"], "!res search guide scope:europe")
    assert f"from Network B ({hs2.server_name})" in answer.body


async def test_changes_of_who_may_post_made_at_once_all_hold(mentornet, new_user) -> None:
    """A space admin's instance approves one network as another leaves, at the same moment:
    both changes of the exchange room's levels hold, neither built on a read of the room
    that the other one made stale."""
    bot = await mentornet()
    account = bot.app.account
    await membership.start_space(account, bot.app.config, "Europe")
    exchange = account.store.get(KEY_EXCHANGE_ROOM)
    creators = await membership.creators_of(account, exchange)
    leaving, staying, joining = [(await new_user())[0] for _ in range(3)]
    await set_posters(account, exchange, creators, grant=[leaving, staying])

    await asyncio.gather(
        set_posters(account, exchange, creators, grant=[joining]),
        set_posters(account, exchange, creators, revoke=[leaving]),
    )
    users = (await account.rooms.get_state(exchange, "m.room.power_levels"))["users"]
    assert users.get(joining) == users.get(staying) == PUBLISHER_LEVEL
    assert not users.get(leaving)
