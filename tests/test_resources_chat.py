"""`!resource` / `!res` in a Matrix client, through a real homeserver: sharing, duplicates,
search, tags and languages, rating with 👍, uploads catalogued, who may remove, hostile
input, and what `!me` shows."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import nio

from tests.checkin_helpers import known_as
from tests.federation_helpers import until
from tests.network_helpers import (
    create_network,
    database_rows,
    direct_chat,
    mentions,
    notice_in,
)
from tests.people import Person, in_reply_to, upload_file
from tests.resources_helpers import resource_bot


async def react(someone: Person, room_id: str, event_id: str, key: str = "👍") -> str:
    content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
    response = await someone.client.room_send(room_id, "m.reaction", content)
    assert isinstance(response, nio.RoomSendResponse), response
    return response.event_id


async def send_image(someone: Person, room_id: str, filename: str, caption: str) -> str:
    """An image with a caption, as Element sends it in a room that is not encrypted."""
    data = b"\x89PNG image"
    response, _ = await someone.client.upload(
        io.BytesIO(data), content_type="image/png", filename=filename, filesize=len(data)
    )
    assert isinstance(response, nio.UploadResponse), response
    content = {
        "msgtype": "m.image",
        "body": caption,
        "filename": filename,
        "url": response.content_uri,
        "info": {"mimetype": "image/png", "size": len(data), "w": 1, "h": 1},
    }
    sent = await someone.client.room_send(room_id, "m.room.message", content)
    assert isinstance(sent, nio.RoomSendResponse), sent
    return sent.event_id


async def test_share_search_duplicates_rating_and_removal(mentornet, person) -> None:
    bot = await mentornet()
    ana: Person = await person(name="ana")  # creates the room: its creator, a coordinator
    ben: Person = await person(name="ben")
    room = await bot.room_with(ana, invite=[ben.user_id])
    await ben.join(room)
    ledger = resource_bot(bot).ledger

    added = await ana.ask(
        room,
        '!res share https://www.example.org/mentoring-guide/?utm_source=news "Mentoring guide'
        ' for beginners" #mentoring #first-steps lang:en',
    )
    assert "Added **#1 Mentoring guide for beginners**" in added.body
    assert "https://www.example.org/mentoring-guide/" in added.body and "utm" not in added.body
    again = await ben.ask(
        room, '!resource share http://example.org/mentoring-guide "Guide" #onboarding'
    )
    assert "already in the library as **#1 Mentoring guide for beginners**" in again.body
    assert "2 people shared it" in again.body
    await ana.ask(
        room, '!res share https://example.org/leitfaden "Leitfaden Koordination" #mentoring lang:de'
    )

    found = await ben.ask(room, "!res search mentoring")
    assert "**2 resources found**" in found.body and "#1 Mentoring guide" in found.body
    assert "#2 Leitfaden" in found.body
    german = await ben.ask(room, "!res search mentoring lang:de")
    assert "**1 resource found**" in german.body and "Leitfaden" in german.body
    assert "#1 Mentoring guide" in (await ben.ask(room, "!res search #onboarding")).body
    assert "#mentoring (2)" in (await ben.ask(room, "!res tags")).body
    assert "Nothing matches" in (await ben.ask(room, "!res search koordinaton lang:en")).body
    assert "not a language code" in (await ben.ask(room, "!res list lang:klingon")).body

    # Two equally relevant resources: the newer first, until the older gets a 👍.
    older = await ana.ask(room, '!res share https://example.org/buddy-anna "Buddy guide Anna"')
    await ana.ask(room, '!res share https://example.org/buddy-omar "Buddy guide Omar"')
    first = await ben.ask(room, "!res search buddy guide")
    assert first.body.index("Omar") < first.body.index("Anna")
    like = await react(ben, room, older.event_id)
    await react(ben, room, older.event_id, key="👍🏽")  # one 👍 per person
    await until(lambda: ledger.voter(like))
    second = await ben.ask(room, "!res search buddy guide")
    assert second.body.index("Anna") < second.body.index("Omar")
    assert "👍 1" in (await ben.ask(room, "!res show 3")).body
    await ben.client.room_redact(room, like)
    await until(lambda: ledger.voter(like) is None)

    refused = await ben.ask(room, "!res remove 2")  # Ana shared it; Ben is no coordinator
    assert "Only those who shared #2 or a coordinator" in refused.body
    assert "Removed #1" in (await ben.ask(room, "!res remove #1")).body  # he shared it too
    assert "Removed #2" in (await ana.ask(room, "!res remove 2")).body
    assert "no resource #2" in (await ben.ask(room, "!res show 2")).body


async def test_hostile_input_and_the_short_name(mentornet, person) -> None:
    bot = await mentornet()
    ana: Person = await person(name="ana")
    room = await bot.room_with(ana)
    for hostile in (
        '!res share javascript:alert(1) "Click me"',
        '!res share "data:text/html,<script>alert(1)</script>" "Click me"',
    ):
        assert "only keep http and https links" in (await ana.ask(room, hostile)).body
    assert "complete web links" in (await ana.ask(room, '!res share https://u:p@x.org "X"')).body
    title = "<b onmouseover=alert(1)>Guide</b> مرحبا 🤝"
    added = await ana.ask(room, f'!res share https://example.org/x "{title}" #safe')
    assert title in added.body
    html = added.source["content"]["formatted_body"]
    assert "<b onmouseover" not in html and "&lt;b onmouseover=alert(1)&gt;" in html
    shown = await ana.ask(room, "!resource show 1")
    assert "&lt;b onmouseover" in shown.source["content"]["formatted_body"]
    usage = await ana.ask(room, "!res share https://example.org/y")
    assert "Usage: `!resource share <link> <title> [public]" in usage.body
    assert "Did you mean" in (await ana.ask(room, "!res serch guide")).body
    assert "`!res search mentoring`" in (await ana.ask(room, "!res")).body
    assert "`!res [words…]`" in (await ana.ask(room, "!help resource")).body


async def test_uploads_are_catalogued_where_turned_on(mentornet, person) -> None:
    bot = await mentornet()
    ana: Person = await person(name="ana", encryption=True)
    ben: Person = await person(name="ben")
    room = await bot.room_with(ana, invite=[ben.user_id])
    await ben.join(room)
    secret = await bot.room_with(ana, encrypted=True)

    early = await upload_file(ana, room, b"%PDF-1.4 x", "early.pdf", "application/pdf", "Early")
    assert "Only" in (await ben.ask(room, "!res files on")).body  # coordinators only
    assert "are added to the library" in (await ana.ask(room, "!res files on")).body
    upload = await upload_file(
        ana,
        room,
        b"%PDF-1.4 guide",
        "guide.pdf",
        "application/pdf",
        "Welcome guide #onboarding lang:de public",
    )
    added = await ana.wait_for_reply(room, upload)
    assert "Added **#1 Welcome guide** to the library" in added.body
    assert "It goes to the other networks once this network has joined" in added.body  # no space
    assert "matrix.to" in added.body and "#onboarding" in added.body
    assert not ana.replies_to(room, early)  # uploaded before: not catalogued
    found = await ben.ask(room, "!res search welcome lang:de")
    assert "#1 Welcome guide" in found.body
    shown = await ben.ask(room, "!res show 1")
    assert "guide.pdf (application/pdf, not encrypted)" in shown.body
    html = shown.source["content"]["formatted_body"]  # the file's message as a link in words
    assert 'Where: <a href="https://matrix.to/#/' in html and ">open it</a>" in html, html
    assert room not in re.sub(r'href="[^"]*"', "", html), html  # its ids only in the address
    listed = await ben.ask(room, "!res search welcome scope:europe")  # the public listing
    assert "**Welcome guide** — the file “guide.pdf”" in listed.body, listed.body
    assert "mxc://" not in listed.body and "mxc://" not in listed.source["content"].get(
        "formatted_body", ""
    )

    await ana.ask(secret, "!res files on")
    private = await upload_file(
        ana, secret, b"names", "list.pdf", "application/pdf", "Contacts public"
    )
    answer = await ana.wait_for_reply(secret, private, timeout=60)
    assert "Added **#2 Contacts**" in answer.body
    assert "cannot be shared with other networks" in answer.body
    shown = await ana.ask(secret, "!res show 2")
    assert "end-to-end encrypted, only for this room" in shown.body
    assert "no resource #2" in (await ben.ask(room, "!res show 2")).body  # another room
    assert "Welcome guide" in (await ben.ask(room, "!res list")).body
    assert "Contacts" not in (await ben.ask(room, "!res list")).body

    await ana.client.room_redact(room, upload)  # the uploader takes the file back
    await until(lambda: resource_bot(bot).library.get(1) is None)
    assert resource_bot(bot).catalogue.search(None).total == 0


async def test_me_shows_and_forget_erases_what_the_library_keeps(mentornet, person) -> None:
    ana: Person = await person(name="ana")  # an admin: she may change what others shared
    bot = await mentornet(bots={"admins": [ana.user_id]})
    ben: Person = await person(name="ben", encryption=True)  # for the direct chat
    room = await bot.room_with(ana, invite=[ben.user_id])
    await ben.join(room)
    ledger = resource_bot(bot).ledger

    await ben.ask(room, '!res share https://example.org/bens "Ben\'s own guide" public')
    both = await ben.ask(room, '!res share https://example.org/both "Guide for both" #forms')
    await ana.ask(room, '!res share https://example.org/both "Guide for both"')
    draft = await ben.ask(room, '!res share https://example.org/draft "Ben\'s draft"')
    assert "#3" in draft.body
    assert "Removed #3" in (await ana.ask(room, "!res remove 3")).body  # an admin may
    like = await react(ben, room, both.event_id)
    await until(lambda: ledger.voter(like))

    pointer = await ben.ask(room, "!me")
    assert "sent it to you in our direct chat" in pointer.body
    chat = await direct_chat(ben, bot.user_id)
    shown = await notice_in(ben, chat, "What I store about")
    assert "resources you shared: (resource: #1 Ben's own guide; shared: " in shown.body
    assert "#2 Guide for both" in shown.body and room not in shown.body  # the room by name
    assert "resources you gave a 👍: #2 Guide for both" in shown.body

    await ben.ask(chat, "!me forget")
    await ben.ask(chat, "!me forget confirm")
    await notice_in(ben, chat, "nothing about you is stored here any more")
    # What only Ben shared is gone; what Ana shared too stays, hers alone, and no longer
    # points at Ben's message; his 👍 no longer counts.
    assert "no resource #1" in (await ana.ask(room, "!res show 1")).body
    shown = await ana.ask(room, "!res show 2")
    assert f"Shared by {known_as(ana)} (" in shown.body and "👍 0" in shown.body
    assert ana.user_id not in shown.body
    rows = {k: v for k, v in database_rows(bot.folder / "mentornet.db").items() if "resource" in k}
    assert mentions(rows, ben.user_id) == {}
    assert mentions(rows, in_reply_to(both)) == {}  # the message he shared it with
    assert not [t for t in titles(bot.folder / "mentornet.db") if "Ben" in t]  # his own two


def titles(path: Path) -> list[str]:
    """The title of every resource the library keeps, its own and the public catalogue's."""
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [
            row[0]
            for table in tables
            if "title" in [c[1] for c in db.execute(f'PRAGMA table_info("{table}")')]
            for row in db.execute(f'SELECT title FROM "{table}"')
        ]


async def test_an_upload_to_a_networks_resources_room_is_catalogued(mentornet, person) -> None:
    """The resources room of a network made with `!network create` catalogues captioned
    uploads by itself; an upload without a caption is just a file."""
    bot = await mentornet()
    meta: Person = await person(name="metamentor")
    net = await create_network(bot, meta, join=("resources",))
    room = net.rooms["resources"]
    assert "are added to the library" in (await meta.ask(room, "!res files")).body
    plain = await upload_file(meta, room, b"\x89PNG x", "map.png", "image/png", "map.png")
    upload = await send_image(meta, room, "flyer.png", "Welcome flyer #flyer lang:ar")
    added = await meta.wait_for_reply(room, upload)
    assert "Added **#1 Welcome flyer** to the library" in added.body
    shown = await meta.ask(room, "!res show 1")
    assert "flyer.png (image/png, not encrypted)" in shown.body and "language: Arabic" in shown.body
    assert "#1 Welcome flyer" in (await meta.ask(room, "!res list #flyer")).body
    assert "nothing here yet" in (await meta.ask(room, "!res list #other")).body
    assert not meta.replies_to(room, plain)
    [resource] = resource_bot(bot).library.search(None, room_id=room).items
    assert resource.mxc and resource.mxc.startswith("mxc://")  # its mxc:// URI kept
