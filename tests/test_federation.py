"""The European directory across two homeservers that federate: what one network publishes,
another finds; edits, removals and leaving reach it; power levels are respected."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from nio import SyncResponse

from core.account import TIMELINE_LIMIT
from core.crypto import source_of
from core.rooms import MatrixError
from core.sending import SendError
from federation import membership
from federation.rooms import KEY_DIRECTORY_ROOM, KEY_SPACE, ORGANIZATION
from main import main
from tests.federation_helpers import build_europe, dir_bot, until
from tests.people import Person
from tests.resources_helpers import resource_bot


async def publish_entries(app: Any, room: str, prefix: str, count: int) -> None:
    """`count` bare entries put straight into a directory room, one state event each."""
    for number in range(count):
        record = {"id": f"{prefix}-{number}", "name": f"{prefix.title()} Org {number}"}
        await app.account.rooms.put_state(
            room, ORGANIZATION, record["id"], {"schema_version": 1, "organization": record}
        )


@pytest.fixture
async def europe(federation, mentornet, person) -> dict[str, Any]:
    """Network A (homeserver 1) made the space; network B (homeserver 2) joined, approved."""
    return await build_europe(federation, mentornet, person)


async def test_published_on_a_is_found_edited_and_removed_on_b(europe) -> None:
    editor, reader = europe["editor_a"], europe["reader_b"]
    added = await editor.ask(
        europe["room_a"],
        '!dir add Hefboom description:"Mentoring for refugees" city:Brussels country:BE'
        " website:https://www.hefboom.be languages:nl,fr,en service:Mentoring groups:refugees",
    )
    assert "Added **Hefboom**" in added.body
    org_id = added.body.split("(`")[1].split("`)")[0]
    directory_b = dir_bot(europe["b"]).directory
    await until(lambda: directory_b.get(org_id))

    found = await reader.ask(europe["room_b"], "!dir search mentoring country:BE")
    assert "Hefboom" in found.body and "Brussels, Belgium" in found.body
    assert "listed by Network A" in found.body and "https://www.hefboom.be" in found.body
    assert "Hefboom" in (await reader.ask(europe["room_b"], "!dir search refugees lang:fr")).body
    assert (
        "No organisation"
        in (await reader.ask(europe["room_b"], "!dir search mentoring country:DE")).body
    )

    api = f"http://127.0.0.1:{europe['b'].web_port}/api/v1/organizations?q=hefboom&full=true"
    async with aiohttp.ClientSession() as session, session.get(api) as response:
        item = (await response.json())["contents"][0]
    address = item["locations"][0]["addresses"][0]
    assert item["name"] == "Hefboom" and address["city"] == "Brussels"
    source = item["sources"][0]  # B's web API shows where A's entry came from
    assert source["network"] == "Network A" and source["homeserver"] == europe["hs1"].server_name
    assert source["room_id"] == europe["dir_room_a"] and source["event_id"].startswith("$")

    await editor.ask(europe["room_a"], f"!dir edit {org_id} city:Gent")
    await until(lambda: directory_b.get(org_id).organization.city == "Gent")
    shown = await reader.ask(europe["room_b"], f"!dir show {org_id}")
    assert "Gent" in shown.body and "Network A on " + europe["hs1"].server_name in shown.body

    await editor.ask(europe["room_a"], f"!dir remove {org_id}")
    await until(lambda: directory_b.get(org_id) is None)
    assert "No organisation" in (await reader.ask(europe["room_b"], "!dir search Hefboom")).body


async def test_same_organisation_from_two_networks_is_shown_once_with_both_listings(
    europe,
) -> None:
    """A's full listing and B's bare one of the same organisation: one result on both
    instances, whose services, languages and places are both networks' together."""
    editor, reader = europe["editor_a"], europe["reader_b"]
    room_a, room_b = europe["room_a"], europe["room_b"]
    await editor.ask(
        room_a,
        '!dir add "Refugees in Action" city:Leuven country:BE service:"Buddy programme"'
        ' groups:newcomers languages:nl,fr description:"Mentoring in Flanders"',
    )
    await reader.ask(
        room_b, '!dir add "Refugees in Action" city:Leuven country:BE service:"Language cafe"'
    )
    directories = [dir_bot(europe["a"]).directory, dir_bot(europe["b"]).directory]

    def networks(directory) -> set[str]:  # type: ignore[no-untyped-def]
        items = directory.search("Refugees in Action").items
        return {source.network for source in items[0].sources} if items else set()

    for directory in directories:
        await until(lambda directory=directory: len(networks(directory)) == 2)
        for words in ("buddy", "language cafe", "Flanders"):
            assert directory.search(words).total == 1, words  # each network's data is found
        assert directory.search(None, language="fr", service="cafe").total == 1

    for person, room in ((editor, room_a), (reader, room_b)):
        found = await person.ask(room, "!dir search Refugees in Action")
        assert found.body.count("Refugees in Action") == 1
        assert "Network A" in found.body and "Network B" in found.body
        org_id = found.body.split("`")[-2]
        shown = await person.ask(room, f"!dir show {org_id}")
        assert "Buddy programme" in shown.body and "Language cafe" in shown.body, shown.body
        assert "Network A on " in shown.body and "Network B on " in shown.body

    # a list item holds an organisation's own fields (HSDS reference); full=true nests the rest
    api = f"http://127.0.0.1:{europe['b'].web_port}/api/v1/organizations?q=language+cafe&full=true"
    async with aiohttp.ClientSession() as session, session.get(api) as response:
        (item,) = (await response.json())["contents"]
    assert {s["name"] for s in item["services"]} == {"Buddy programme", "Language cafe"}
    assert item["description"] == "Mentoring in Flanders" and item["languages"] == ["nl", "fr"]
    assert {s["network"] for s in item["sources"]} == {"Network A", "Network B"}


async def test_nobody_without_power_publishes_into_a_directory(europe, person) -> None:
    intruder: Person = await person(europe["hs2"], name="intruder")
    room = europe["dir_room_a"]
    await intruder.join(room, via=[europe["hs1"].server_name])
    path = f"/_matrix/client/v3/rooms/{room}/state/{ORGANIZATION}/fake-org"
    async with aiohttp.ClientSession() as session:
        response = await session.put(
            europe["hs2"].url + path,
            json={"schema_version": 1, "organization": {"id": "fake-org", "name": "Fake"}},
            headers={"Authorization": f"Bearer {intruder.client.access_token}"},
        )
        assert response.status == 403
    await asyncio.sleep(0.5)
    assert dir_bot(europe["b"]).directory.get("fake-org") is None


async def test_entries_from_senders_without_publishing_power_are_ignored(europe, person) -> None:
    """A directory room whose own power levels let anyone publish (misconfigured) is listed in
    the space: the homeserver accepts a nobody's entry, the mirror does not."""
    owner: Person = await person(europe["hs1"], name="sloppy")
    nobody: Person = await person(europe["hs1"], name="nobody")
    sloppy = await owner.create_room(public=True, power_levels={"events": {ORGANIZATION: 0}})
    await nobody.join(sloppy)
    app_a = europe["a"].app
    await owner_put(
        owner, sloppy, "m.space.parent", europe["space"], {"via": [europe["hs1"].server_name]}
    )
    record = {"schema_version": 1, "organization": {"id": "sloppy-org", "name": "Sloppy Org"}}
    await owner_put(nobody, sloppy, ORGANIZATION, "sloppy-org", record)
    record2 = {"schema_version": 1, "organization": {"id": "owned-org", "name": "Owned Org"}}
    await owner_put(owner, sloppy, ORGANIZATION, "owned-org", record2)
    await membership.approve(app_a.account, sloppy, [europe["hs1"].server_name])
    directory_b = dir_bot(europe["b"]).directory
    await until(lambda: directory_b.get("owned-org"))  # the room's creator may publish
    assert directory_b.get("sloppy-org") is None  # level 0 is below the publishing level


async def test_more_entries_than_a_sync_carries_while_down_all_arrive(europe) -> None:
    """Published while B is down, more entries than one sync's timeline holds: the rest reach
    B's homeserver as state only, and must still reach B's mirror after its restart."""
    bot_b, app_a = europe["b"], europe["a"].app
    await bot_b.stop()
    await publish_entries(app_a, europe["dir_room_a"], "burst", TIMELINE_LIMIT + 20)
    await bot_b.start()
    directory_b = dir_bot(bot_b).directory
    await until(lambda: directory_b.get(f"burst-{TIMELINE_LIMIT + 19}"))
    await until(lambda: all(directory_b.get(f"burst-{n}") for n in range(TIMELINE_LIMIT + 20)))


async def test_the_sync_showing_a_join_leaves_the_entries_to_the_first_copy(
    federation, mentornet, person
) -> None:
    """After a join, a sync's `state` section is the room's whole state: for 10,000 entries,
    17 MB the bot would parse while nobody gets an answer, only to drop it (history). While
    the mirror joins a directory room, B's syncs leave the entries out; its copy has them."""
    count = TIMELINE_LIMIT + 30
    syncs: list[SyncResponse] = []

    async def before_join(europe: dict[str, Any]) -> None:
        await publish_entries(europe["a"].app, europe["dir_room_a"], "big", count)
        client = europe["b"].app.account.client
        take_in = client.receive_response

        async def recorded(response: Any) -> None:  # every answer nio takes in, syncs included
            if isinstance(response, SyncResponse):
                syncs.append(response)
            await take_in(response)

        client.receive_response = recorded

    europe = await build_europe(federation, mentornet, person, before_join=before_join)
    directory_b = dir_bot(europe["b"]).directory
    await until(lambda: all(directory_b.get(f"big-{n}") for n in range(count)))
    room, bot_b = europe["dir_room_a"], europe["b"].app.account.user_id
    parts = [sync.rooms.join[room] for sync in syncs if room in sync.rooms.join]
    joined = [
        part
        for part in parts
        if any(
            source_of(e)["type"] == "m.room.member" and source_of(e)["state_key"] == bot_b
            for e in part.timeline.events
        )
    ]
    assert joined  # the sync that showed B's join
    assert [e for part in parts for e in part.state if source_of(e)["type"] == ORGANIZATION] == []


async def test_a_gap_while_a_room_is_joined_loses_no_entry(europe) -> None:
    """While a directory room is being joined, syncs leave bulky state out. A sync that then
    has a gap in another directory room (more entries than its timeline holds) would lose
    the ones only its `state` section carries: it is done again in full, and all arrive."""
    account_b, app_a = europe["b"].app.account, europe["a"].app
    count = TIMELINE_LIMIT + 15
    held, release = asyncio.Event(), asyncio.Event()
    process = account_b._process

    async def holding(*args: Any, **kwargs: Any) -> None:  # B's next sync waits, unhandled
        if not held.is_set():
            held.set()
            await release.wait()
        await process(*args, **kwargs)

    account_b._process = holding
    # The first entry wakes B's sync; the rest pile up behind it.
    await publish_entries(app_a, europe["dir_room_a"], "gap", count)
    await asyncio.wait_for(held.wait(), 20)
    other = await europe["editor_a"].create_room(public=True, name="Another directory")
    await account_b.join_fetching_state(other, [europe["hs1"].server_name])
    assert account_b._lean()  # B's next sync is lean, and has a gap in A's directory room
    release.set()
    directory_b = dir_bot(europe["b"]).directory
    await until(lambda: all(directory_b.get(f"gap-{n}") for n in range(count)))


async def owner_put(someone: Person, room: str, kind: str, key: str, content: dict) -> None:
    path = f"/_matrix/client/v3/rooms/{room}/state/{kind}/{key}"
    async with aiohttp.ClientSession() as session:
        response = await session.put(
            someone.hs.url + path,
            json=content,
            headers={"Authorization": f"Bearer {someone.client.access_token}"},
        )
        assert response.status == 200, await response.text()


async def test_leaving_the_space_withdraws_the_entries(europe) -> None:
    await europe["editor_a"].ask(europe["room_a"], "!dir add MentoMigri city:Jyväskylä country:FI")
    directory_b = dir_bot(europe["b"]).directory
    await until(lambda: directory_b.search("MentoMigri").total)
    assert (
        "Jyväskylä"
        in (await europe["reader_b"].ask(europe["room_b"], "!dir search jyvaskyla")).body
    )

    app_a = europe["a"].app
    await membership.leave_space(app_a.account)
    await until(lambda: directory_b.search("MentoMigri").total == 0)
    assert europe["dir_room_a"] not in dir_bot(europe["b"]).mirror.followed()
    assert app_a.store.get(KEY_DIRECTORY_ROOM) == europe["dir_room_a"]  # A keeps its own room

    # A still searches its own directory, without a restart: what it had and what it adds
    # (published after the leave, so it arrives after the withdrawn parent link).
    editor, room_a = europe["editor_a"], europe["room_a"]
    await editor.ask(room_a, "!dir add Kotiin city:Oulu country:FI")
    directory_a = dir_bot(europe["a"]).directory
    await until(lambda: directory_a.search("Kotiin").total)
    found = await editor.ask(room_a, "!dir search country:FI")
    assert "MentoMigri" in found.body and "Kotiin" in found.body


async def test_a_member_that_is_no_space_admin_leaves_and_its_entries_go(europe) -> None:
    await europe["reader_b"].ask(europe["room_b"], "!dir add Kompass city:Graz country:AT")
    directory_a = dir_bot(europe["a"]).directory
    await until(lambda: directory_a.search("Kompass").total)

    # B may not edit the space: it only drops its room's claim to be part of it.
    await membership.leave_space(europe["b"].app.account)
    await until(lambda: directory_a.search("Kompass").total == 0)
    assert europe["dir_room_b"] not in dir_bot(europe["a"]).mirror.followed()


async def test_mirror_catches_up_after_a_restart_without_downloading_again(europe, caplog) -> None:
    bot_b = europe["b"]
    await europe["editor_a"].ask(europe["room_a"], "!dir add IntegriF city:Halberstadt country:DE")
    await until(lambda: dir_bot(bot_b).directory.search("IntegriF").total)

    await bot_b.stop()
    added = await europe["editor_a"].ask(
        europe["room_a"], "!dir add MeMoGa city:Magdeburg country:DE"
    )
    assert "Added" in added.body  # published while B is down
    await europe["editor_a"].ask(europe["room_a"], "!dir edit seed-none city:X")  # unknown: no-op
    caplog.clear()
    await bot_b.start()

    await until(lambda: dir_bot(bot_b).directory.search("MeMoGa").total)
    found = await europe["reader_b"].ask(europe["room_b"], "!dir search country:DE")
    assert "MeMoGa" in found.body and "IntegriF" in found.body
    assert "following a directory room" not in caplog.text  # nothing was fetched whole again


async def test_the_command_line_starts_joins_approves_and_leaves_a_space(
    federation, mentornet, person, capsys
) -> None:
    """What an instance's admin types: `main.py federation …`, next to the running bots."""
    hs1, hs2 = federation
    fast = {"tick_seconds": 0.3}
    bot_a = await mentornet(hs1, directory={"network": "Network A"}, bots=fast)
    bot_b = await mentornet(hs2, directory={"network": "Network B"}, bots=fast)
    config_a, config_b = str(bot_a.write_config()), str(bot_b.write_config())

    async def cli(*args: str) -> tuple[int, str]:
        status = await asyncio.to_thread(main, ["federation", *args])
        captured = capsys.readouterr()
        return status, captured.out + captured.err

    assert (await cli("join", "--config", config_b))[0] == 2  # which space?
    status, said = await cli("create-space", "--name", "Europe", "--config", config_a)
    assert status == 0, said
    space = bot_a.app.store.get(KEY_SPACE)
    room_a = bot_a.app.store.get(KEY_DIRECTORY_ROOM)
    assert space and space in said
    status, said = await cli("join", space, "--via", hs1.server_name, "--config", config_b)
    assert status == 0 and "approve" in said, said
    room_b = bot_b.app.store.get(KEY_DIRECTORY_ROOM)
    exchange = resource_bot(bot_b).exchange
    await until(lambda: exchange.room_id and exchange.ready(exchange.room_id), timeout=30)
    status, said = await cli("approve", room_b, "--via", hs2.server_name, "--config", config_a)
    assert status == 0 and room_b in said, said
    await until(lambda: room_b in dir_bot(bot_a).mirror.followed())
    await until(lambda: room_a in dir_bot(bot_b).mirror.followed())

    status, said = await cli("leave", "--config", config_b)
    assert status == 0 and "withdrawn" in said, said
    await until(lambda: room_b not in dir_bot(bot_a).mirror.followed())
    assert (await cli("leave", "--config", config_b))[0] == 1  # in no space any more


async def test_an_organisation_with_coordinates_is_published_and_found_with_them(
    europe, tmp_path
) -> None:
    """Matrix events carry no decimal numbers: coordinates travel as text and are numbers
    again in B's store and API."""
    bot_a, bot_b = europe["a"], europe["b"]
    record = {
        "id": "atlas-brussels",
        "name": "Atlas Brussels",
        "locations": [
            {"city": "Brussels", "country": "BE", "latitude": 50.8503, "longitude": 4.3517}
        ],
    }
    file = tmp_path / "orgs.json"
    file.write_text(json.dumps({"organizations": [record]}))
    config = str(bot_a.write_config())
    assert (
        await asyncio.to_thread(main, ["directory", "import", str(file), "--config", config]) == 0
    )

    directory_b = dir_bot(bot_b).directory
    shown = await until(lambda: directory_b.get("atlas-brussels"))
    location = shown.organization.locations[0]
    assert (location.latitude, location.longitude) == (50.8503, 4.3517)
    api = f"http://127.0.0.1:{bot_b.web_port}/api/v1/organizations/atlas-brussels"
    async with aiohttp.ClientSession() as session, session.get(api) as response:
        served = (await response.json())["locations"][0]
    assert served["latitude"] == 50.8503 and served["longitude"] == 4.3517
    assert dir_bot(bot_a).directory.pending() == []  # nothing left unsent on A


async def test_content_no_homeserver_accepts_is_an_error_before_sending(europe) -> None:
    """A decimal number in any event we send fails on our side, clearly, and sends nothing."""
    account = europe["a"].app.account
    with pytest.raises(MatrixError, match="decimal number"):
        await account.rooms.put_state(
            europe["dir_room_a"], ORGANIZATION, "x", {"organization": {"score": 0.5}}
        )
    with pytest.raises(SendError, match="decimal number") as refused:
        await account.send(europe["dir_room_a"], {"body": "x", "weight": 1.5})
    assert not refused.value.transient  # no retry can help
