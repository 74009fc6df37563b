"""Rules pinned in the announcements room; the agreement accepted by command or with a ✅
reaction, in the announcements room or in the welcome chat; a new version asks again."""

from __future__ import annotations

from tests.checkin_helpers import known_as
from tests.network_helpers import (
    create_network,
    direct_chat,
    member_joins,
    notice_in,
    react,
    state,
)
from tests.people import Person


async def test_rules_are_posted_and_pinned(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    net = await create_network(bot, meta, join=("announcements",))

    none_yet = await meta.ask(net.announcements, "!network rules")
    assert "has no rules yet" in none_yet.body
    rules = "1. Be kind and patient.\n2. What is said in check-ins stays there."
    answer = await meta.ask(net.announcements, f"!network rules set {rules}")
    assert answer.body == (
        "The rules of Hamburg Mentors are saved, posted and pinned in"
        " Hamburg Mentors – Announcements."
    )
    post = await notice_in(meta, net.announcements, "📌 **Rules of Hamburg Mentors**")
    assert rules in post.body  # line breaks kept
    assert "<br" in post.source["content"]["formatted_body"]
    pinned = await state(meta, net.announcements, "m.room.pinned_events")
    assert pinned["pinned"] == [post.event_id]

    newer = "1. Be kind.\n2. Be on time."
    await meta.ask(net.announcements, f"!network rules set {newer}")
    second = await notice_in(meta, net.announcements, "2. Be on time.")
    pinned = await state(meta, net.announcements, "m.room.pinned_events")
    assert pinned["pinned"] == [second.event_id]  # the old rules are unpinned
    shown = await meta.ask(net.office, "!network rules")
    assert "Rules of Hamburg Mentors:" in shown.body and newer in shown.body

    too_long = await meta.ask(net.announcements, "!network rules set " + "x" * 12_500)
    assert "at most 12000 are possible" in too_long.body


async def test_agreement_accepted_by_reaction_and_by_command(mentornet, person) -> None:
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    anna: Person = await person(name="anna", encryption=True)
    ben: Person = await person(name="ben", encryption=True)
    net = await create_network(bot, meta, join=("announcements",))
    await meta.ask(net.announcements, "!network rules set Be kind.")
    text = "We meet once a month.\nWe share what we learn."
    saved = await meta.ask(net.announcements, f"!network agreement set {text}")
    assert "Version 1 of the agreement of Hamburg Mentors is saved, posted and pinned" in (
        saved.body
    )
    agreement = await notice_in(meta, net.announcements, "🤝 **Agreement of Hamburg Mentors**")
    assert text in agreement.body and "react with ✅" in agreement.body
    pinned = (await state(meta, net.announcements, "m.room.pinned_events"))["pinned"]
    assert pinned[-1] == agreement.event_id and len(pinned) == 2  # rules and agreement

    await meta.ask(net.office, f"!network onboard {anna.user_id} {ben.user_id}")

    # Anna reads the welcome (rules included), joins and reacts ✅ in the announcements room.
    anna_chat = await direct_chat(anna, bot.user_id)
    welcome = await notice_in(anna, anna_chat, "Welcome to Hamburg Mentors")
    assert "The rules of the network:" in welcome.body and "Be kind." in welcome.body
    await member_joins(net, anna, ("announcements",))
    await react(anna, net.announcements, agreement.event_id)
    thanks = await notice_in(anna, anna_chat, "Thank you")
    assert "accepted version 1 of the agreement of Hamburg Mentors" in thanks.body

    # Ben reacts ✅ to the copy of the agreement in his welcome chat, then asks again.
    ben_chat = await direct_chat(ben, bot.user_id)
    copy = await notice_in(ben, ben_chat, "🤝 **Agreement of Hamburg Mentors**")
    assert text in copy.body
    await react(ben, ben_chat, copy.event_id)
    await notice_in(ben, ben_chat, "Thank you")
    again = await ben.ask(ben_chat, "!network agree")
    assert "You already accepted version 1" in again.body

    members = await meta.ask(net.office, "!network members")
    assert "3 (2 joined and 1 invited); 2 accepted the current agreement" in members.body
    assert f"{known_as(anna)}: new mentor, joined; ✅ agreement accepted" in members.body
    assert f"{known_as(meta)}: Meta-Mentor, joined; ⏳ agreement not accepted yet" in members.body

    # A new version must be accepted anew; `!network agree` does it.
    await meta.ask(net.announcements, "!network agreement set We meet twice a month.")
    status = await anna.ask(anna_chat, "!network agreement")
    assert "(version 2)" in status.body and "not accepted this version yet" in status.body
    done = await anna.ask(anna_chat, "!network agree")
    assert "you accepted version 2 of the agreement" in done.body
    old = await react(ben, ben_chat, copy.event_id, key="✔️")  # on the old copy: explained
    assert old
    await notice_in(ben, ben_chat, "That was version 1 of the agreement")
    members = await meta.ask(net.office, "!network members")
    assert f"{known_as(ben)}: new mentor, invited, not joined yet; accepted only version 1" in (
        members.body
    )
    assert "1 accepted the current agreement" in members.body
