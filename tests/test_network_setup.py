"""`!network create` and `!network info`: a mentoring network as a Matrix space, checked the
way a Matrix client sees it."""

from __future__ import annotations

from tests.checkin_helpers import known_as
from tests.network_helpers import (
    SUFFIXES,
    create_network,
    invited_rooms,
    network_names,
    state,
)
from tests.people import Person


async def test_create_builds_the_space_and_its_rooms(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    net = await create_network(bot, meta, "Hamburg Mentors", join=("all",))
    server = bot.user_id.split(":", 1)[1]

    create = await state(meta, net.space, "m.room.create")
    assert create["type"] == "m.space"
    children = {
        room_id: await state(meta, net.space, "m.space.child", room_id)
        for purpose, room_id in net.rooms.items()
        if purpose != "space"
    }
    assert all(child["via"] == [server] for child in children.values())
    assert children[net.rooms["general"]].get("suggested") is True

    for purpose in SUFFIXES:
        room_id = net.rooms[purpose]
        assert (await state(meta, room_id, "m.room.name"))[
            "name"
        ] == f"Hamburg Mentors{SUFFIXES[purpose]}"
        parent = await state(meta, room_id, "m.space.parent", net.space)
        assert parent["via"] == [server] and parent["canonical"] is True
        join_rules = await state(meta, room_id, "m.room.join_rules")
        if purpose == "coordination":
            assert join_rules["join_rule"] == "invite"
        else:
            assert join_rules == {
                "join_rule": "restricted",
                "allow": [{"type": "m.room_membership", "room_id": net.space}],
            }
        visibility = await state(meta, room_id, "m.room.history_visibility")
        assert visibility["history_visibility"] == "shared"
        encrypted = bool(await state(meta, room_id, "m.room.encryption"))
        assert encrypted == (purpose in ("general", "checkins", "coordination")), purpose

    # The creator is Meta-Mentor (100) everywhere; the bot, the rooms' creator
    # (room version 12), is privileged without being listed.
    for room_id in net.rooms.values():
        levels = await state(meta, room_id, "m.room.power_levels")
        assert levels["users"] == {meta.user_id: 100}
        assert levels["invite"] == 50 and levels["kick"] == 50
    announcements = await state(meta, net.announcements, "m.room.power_levels")
    assert announcements["events_default"] == 50  # only the network office posts there
    assert announcements["events"]["m.reaction"] == 0  # but everyone may answer with ✅

    info = await meta.ask(net.announcements, "!network info")
    assert "Hamburg Mentors" in info.body and "mentoring network" in info.body
    assert "Announcements" in info.body and "Check-ins" in info.body
    assert f"Meta-Mentors: {known_as(meta)}" in info.body and meta.user_id not in info.body
    assert "Coordinators" not in info.body  # none: left out, no "—"
    assert "Members: 1 (1 joined)" in info.body and "0 invited" not in info.body


async def test_create_in_german_and_names_are_unique(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    office = await bot.room_with(meta)

    answer = await meta.ask(office, '!network create "Netzwerk Leipzig" lang:de')
    assert "is ready (language: German)" in answer.body  # in the asker's language
    names = {"space": "Netzwerk Leipzig", "news": "Netzwerk Leipzig – Ankündigungen"}
    rooms = await invited_rooms(meta, names)
    await meta.join(rooms["space"])
    await meta.join(rooms["news"])
    # The network's rooms answer in its language.
    info = await meta.ask(rooms["news"], "!network info")
    assert "Mentoring-Netzwerk, Sprache Deutsch" in info.body

    again = await meta.ask(office, '!network create "netzwerk  LEIPZIG"')
    assert "already is a network called" in again.body
    assert len(network_names("x")) == 6


async def test_commands_outside_a_network_say_so(mentornet, person) -> None:
    bot = await mentornet()
    stranger: Person = await person(name="stranger")
    room = await bot.room_with(stranger)

    answer = await stranger.ask(room, "!network info")
    assert "not part of a mentoring network" in answer.body
    assert "!network create" in answer.body
    unknown = await stranger.ask(room, "!network members network:Atlantis")
    assert "no network called “Atlantis”" in unknown.body
