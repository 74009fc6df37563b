"""Inviting and onboarding mentors, roles and power levels, and who may do what: a
Meta-Mentor, a coordinator, two mentors and an outsider, each a real Matrix client."""

from __future__ import annotations

import re

import nio

from tests.checkin_helpers import known_as
from tests.network_helpers import (
    create_network,
    direct_chat,
    member_joins,
    notice_in,
    power_levels,
    reply_to,
    send_file,
    state,
    wait_for_level,
)
from tests.people import Person


async def test_invite_welcomes_in_their_language_and_tracks_joining(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    anna: Person = await person(name="anna", encryption=True)
    net = await create_network(bot, meta)

    answer = await meta.ask(net.office, f"!network invite {anna.user_id} lang:de")
    assert f"Invited {known_as(anna)} to Hamburg Mentors as new mentor" in answer.body
    assert "welcome with the rules and the agreement in German" in answer.body

    chat = await direct_chat(anna, bot.user_id)
    welcome = await notice_in(anna, chat, "Willkommen bei Hamburg Mentors")
    assert known_as(meta) in welcome.body and "neue Mentorin / neuer Mentor" in welcome.body
    assert meta.user_id not in welcome.body  # the inviter by name
    assert "!me forget" in welcome.body  # told what is stored and how to erase it

    pending = await meta.ask(net.office, "!network members")
    assert f"{known_as(anna)}: new mentor, invited, not joined yet" in pending.body
    assert "2 (2 invited)" not in pending.body  # the Meta-Mentor joined the space
    assert "2 (1 joined and 1 invited)" in pending.body

    await member_joins(net, anna, ("general",))
    await anna.send(net.rooms["general"], "Hallo zusammen!")
    joined = await meta.ask(net.office, "!network members anna")
    assert f"{known_as(anna)}: new mentor, joined" in joined.body
    # a date in the reader's language: her message counted as activity
    assert re.search(r"last active: \w{3} \d{1,2} \w{3} 20\d\d", joined.body), joined.body
    assert known_as(meta) not in joined.body  # filtered to the word

    again = await meta.ask(net.office, f"!network invite {anna.user_id}")
    assert "already a member" in again.body
    ghost = await meta.ask(net.office, "!network invite @nobody-here:" + bot.hs.server_name)
    assert "could not invite @nobody-here" in ghost.body and "no such Matrix account" in ghost.body
    typo = await meta.ask(net.office, "!network invite anna")
    assert "“anna” is not a Matrix ID" in typo.body


async def test_roles_set_power_levels_in_every_room(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    ben: Person = await person(name="ben")
    net = await create_network(bot, meta, join=("all",))
    await meta.ask(net.office, f"!network invite {ben.user_id} mentor-experienced")

    promoted = await meta.ask(net.office, f"!network role {ben.user_id} coordinator")
    assert "is now coordinator (network office) in Hamburg Mentors: power level 50 in 6 rooms" in (
        promoted.body
    )
    for room_id in net.rooms.values():  # read back as Element shows it
        assert (await power_levels(meta, room_id))[ben.user_id] == 50
    await ben.wait_for_invite(net.rooms["coordination"])  # the network office's room

    demoted = await meta.ask(net.office, f"!network role {ben.user_id} organisation")
    assert "power level 0" in demoted.body
    for room_id in net.rooms.values():
        assert ben.user_id not in await power_levels(meta, room_id)
    member = await state(meta, net.rooms["coordination"], "m.room.member", ben.user_id)
    assert member["membership"] == "leave"  # the invite to the office was withdrawn

    alone = await meta.ask(net.office, f"!network role {meta.user_id} mentor-novice")
    assert "only Meta-Mentor of Hamburg Mentors" in alone.body
    nobody = await meta.ask(net.office, "!network role @stranger:localhost coordinator")
    assert "not a member of Hamburg Mentors" in nobody.body


async def test_only_the_network_office_may_run_coordinator_commands(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    mentor: Person = await person(name="mentor", encryption=True)
    coordinator: Person = await person(name="coordinator")
    outsider: Person = await person(name="outsider")
    net = await create_network(bot, meta)
    await meta.ask(net.office, f"!network invite {mentor.user_id}")
    await meta.ask(net.office, f"!network invite {coordinator.user_id} coordinator")
    await member_joins(net, mentor, ("general",))
    await member_joins(net, coordinator, ("announcements",))

    # A mentor, in the network's (encrypted) general room.
    refused = await mentor.ask(net.rooms["general"], f"!network invite {outsider.user_id}")
    assert refused.body == (
        "Only a coordinator or Meta-Mentor (power level 50 or more) may run `!network invite`"
        " in Hamburg Mentors; your power level there is 0."
    )
    members = await mentor.ask(net.rooms["general"], "!network members")
    assert "Only a coordinator or Meta-Mentor" in members.body

    # An outsider, in their own room with the bot, naming the network.
    own = await bot.room_with(outsider)
    refused = await outsider.ask(own, '!network rules set "Be kind" network:"Hamburg Mentors"')
    assert "not part of a mentoring network" in refused.body  # rules set takes no network:
    refused = await outsider.ask(
        own, '!network role @x:localhost coordinator network:"Hamburg Mentors"'
    )
    assert "Only a coordinator or Meta-Mentor" in refused.body and "power level there is 0" in (
        refused.body
    )
    info = await outsider.ask(own, '!network info network:"Hamburg Mentors"')
    assert "Only members of Hamburg Mentors" in info.body

    # A coordinator may invite mentors, but only a Meta-Mentor names coordinators.
    ok = await coordinator.ask(net.announcements, f"!network invite {outsider.user_id}")
    assert "Invited" in ok.body
    refused = await coordinator.ask(
        net.announcements, f"!network role {mentor.user_id} coordinator"
    )
    assert "Only a Meta-Mentor (power level 100) may run" in refused.body
    assert mentor.user_id not in await power_levels(meta, net.space)


async def test_onboard_a_typed_list(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    carla: Person = await person(name="carla", encryption=True)
    dario: Person = await person(name="dario", encryption=True)
    net = await create_network(bot, meta)

    listing = "\n".join(
        [
            "!network onboard",
            f"{carla.user_id}, Carla, de, Leipzig, experienced",
            f"{dario.user_id}",
            "just a name",
        ]
    )
    report = await meta.ask(net.office, listing)
    # What is not zero, with plural forms
    assert "Onboarding to Hamburg Mentors:** 2 invited and 1 line not understood." in report.body
    assert "Carla: invited as experienced mentor, welcome sent in German" in report.body
    assert f"{known_as(dario)}: invited as new mentor, welcome sent in English" in report.body
    assert carla.user_id not in report.body and dario.user_id not in report.body
    assert "not understood: “just a name”" in report.body

    await notice_in(carla, await direct_chat(carla, bot.user_id), "Willkommen bei Hamburg Mentors")
    await notice_in(dario, await direct_chat(dario, bot.user_id), "Welcome to Hamburg Mentors")

    again = await meta.ask(net.office, f"!network onboard {carla.user_id} {dario.user_id}")
    assert "Onboarding to Hamburg Mentors:** 2 already members." in again.body
    members = await meta.ask(net.office, "!network members Leipzig")
    assert "Carla: experienced mentor, invited, not joined yet" in members.body
    assert "languages: German; region: Leipzig" in members.body


async def test_onboard_a_csv_of_mooc_graduates(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    emil: Person = await person(name="emil", encryption=True)
    fatma: Person = await person(name="fatma", encryption=True)
    net = await create_network(bot, meta)

    csv = (
        "Matrix ID;Name;Sprache;Region;Erfahrung\n"
        f"{emil.user_id};Emil Weber;en;Berlin;experienced\n"
        f"{fatma.user_id};Fatma Yilmaz;de, tr;Hamburg;novice\n"
    ).encode()
    upload = await send_file(meta, net.office, csv, "mooc-graduates.csv", "text/csv")
    command = await reply_to(meta, net.office, upload, "!network onboard")
    report = await meta.wait_for_reply(net.office, command)
    assert "Onboarding to Hamburg Mentors:** 2 invited.\n" in report.body
    assert "Emil Weber: invited as experienced mentor, welcome sent in English" in report.body
    assert "Fatma Yilmaz: invited as new mentor, welcome sent in German" in report.body
    assert emil.user_id not in report.body  # the roster's name, shown as a mention
    pill = f'<a href="https://matrix.to/#/{emil.user_id}">Emil Weber</a>'
    assert pill in report.source["content"]["formatted_body"]
    assert report.source["content"]["m.mentions"] == {"user_ids": [meta.user_id]}

    welcome = await notice_in(fatma, await direct_chat(fatma, bot.user_id), "Willkommen")
    assert isinstance(welcome, nio.RoomMessageNotice) and welcome.decrypted
    members = await meta.ask(net.office, "!network members Yilmaz")
    assert (
        "Fatma Yilmaz: new mentor" in members.body
        and "languages: German and Turkish" in members.body
    )

    # Without a reply, the asker's latest file in the room is taken; a non-CSV is refused.
    await send_file(meta, net.office, b"%PDF-1.4", "flyer.pdf", "application/pdf")
    refused = await meta.ask(net.office, "!network onboard")
    assert "could not read that file: flyer.pdf is not a CSV file" in refused.body

    await wait_for_level(meta, net.space, meta.user_id, 100)
