"""The resource library without a homeserver: checking what is shared, duplicates, search
and rating, visibility, the public catalogue, what other networks post, removal and
forgetting, and the directory mirror skipping the exchange room."""

from __future__ import annotations

from typing import Any

import pytest

from bots.resources.exchange import Exchange, posted_content
from bots.resources.intake import shared_file
from bots.resources.links import (
    Refused,
    clean_tags,
    clean_title,
    normalise_url,
    parse_caption,
    read_posted,
)
from core.config import parse_config
from core.storage import open_store
from directory.mirror import Mirror, mirror_migrations
from directory.store import Directory
from federation.rooms import EXCHANGE_ROOM_TYPE, KEY_EXCHANGE_ROOM, KEY_SPACE, SPACE_CHILD
from tests.resources_helpers import link, remote, shelf

# --- what is shared ---------------------------------------------------------------------------


def test_the_same_link_written_differently_has_one_key() -> None:
    variants = [
        "https://www.Example.org/guide/?utm_source=news&utm_medium=mail#part-2",
        "http://example.org/guide",
        "https://example.org:443/guide/",
        "HTTPS://EXAMPLE.ORG/guide?fbclid=abc",
    ]
    keys = {normalise_url(url)[1] for url in variants}
    assert keys == {"example.org/guide"}
    url, key = normalise_url("https://example.org/search?q=mentoring&utm_campaign=x&page=2")
    assert url == "https://example.org/search?q=mentoring&page=2"
    assert key == "example.org/search?q=mentoring&page=2"
    assert normalise_url("https://example.org/a")[1] != normalise_url("https://example.org/b")[1]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("javascript:alert(1)", "res.refused.scheme"),
        ("JaVaScRiPt:alert(document.cookie)", "res.refused.scheme"),
        ("data:text/html,<script>alert(1)</script>", "res.refused.scheme"),
        ("file:///etc/passwd", "res.refused.scheme"),
        ("mxc://example.org/abc", "res.refused.scheme"),
        ("example.org/no-scheme", "res.refused.url"),  # no "“—:” ones"
        ("https://user:secret@example.org/", "res.refused.url"),
        ("https://exa mple.org/", "res.refused.url"),
        ("https:///path-only", "res.refused.url"),
        ("https://example.org/\u202egnp.exe", "res.refused.url"),
        ("https://example.org:99999/", "res.refused.url"),
        ("https://example.org/" + "a" * 2_000, "res.refused.url_long"),
    ],
)
def test_hostile_or_broken_links_are_refused(url: str, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        normalise_url(url)
    assert refused.value.key == reason


def test_titles_keep_markup_as_text_and_refuse_control_characters() -> None:
    assert clean_title("  <b onmouseover=alert(1)>Guide</b>\n for  mentors ") == (
        "<b onmouseover=alert(1)>Guide</b> for mentors"
    )
    assert clean_title("دليل الإرشاد 🤝") == "دليل الإرشاد 🤝"
    for bad in ("", "   ", "a\x00b", "x" * 201, "abc\u202edef"):
        with pytest.raises(Refused):
            clean_title(bad)
    assert clean_tags(["Mentoring", "#first-steps", "mentoring", "Ärzte"]) == [
        "mentoring",
        "first-steps",
        "ärzte",
    ]
    for bad in (["<script>"], ["a b"], ["-x"], [str(n) for n in range(11)]):
        with pytest.raises(Refused):
            clean_tags(bad)


def test_a_caption_names_title_tags_language_and_public() -> None:
    caption = parse_caption('Welcome "guide 2024" #onboarding #de lang:de public')
    assert (caption.title, caption.tags, caption.language, caption.public) == (
        "Welcome guide 2024",
        ["onboarding", "de"],
        "de",
        True,
    )
    assert parse_caption("Anna's \"unfinished").title == "Anna's \"unfinished"
    assert not parse_caption("Going public soon").public


def test_an_encrypted_file_is_never_public() -> None:
    content = {
        "msgtype": "m.file",
        "body": "Checklist #forms public",
        "filename": "checklist.pdf",
        "info": {"mimetype": "application/pdf", "size": 1234},
        "file": {"url": "mxc://a.example/secret", "key": {"k": "x"}, "iv": "y", "hashes": {}},
    }
    shared, refused_public = shared_file(
        sharer="@ana:a.example",
        room_id="!enc:a.example",
        event_id="$file",
        content=content,
        encrypted_room=True,
    )
    assert refused_public and not shared.public
    assert shared.private_room == "!enc:a.example" and shared.file["key"] == {"k": "x"}
    library = shelf().library
    resource, _ = library.share(shared)
    assert resource.encrypted and resource.tags == ("forms",)
    assert "file" not in posted_content(resource, "Network A")  # the key never travels
    assert library.visible(resource.id, "!other:a.example") is None


# --- the library --------------------------------------------------------------------------


def test_one_link_shared_twice_is_one_resource_crediting_both() -> None:
    library = shelf().library
    first, new = library.share(link("example.org/g", "Guide", tags=("mentoring",)))
    again, new_again = library.share(
        link("example.org/g", "Another title", sharer="@ben:a.example", tags=("onboarding",))
    )
    assert new and not new_again and again.id == first.id
    assert again.title == "Guide" and again.tags == ("mentoring", "onboarding")
    assert again.sharers == ("@ana:a.example", "@ben:a.example")
    same_person, _ = library.share(link("example.org/g", "Guide"))
    assert same_person.sharers == again.sharers


def test_search_ranks_by_relevance_then_rating_and_filters() -> None:
    s = shelf()
    library, ledger = s.library, s.ledger
    anna, _ = library.share(link("a.org/1", "Buddy guide Anna", language="en"), now=1)
    omar, _ = library.share(link("a.org/2", "Buddy guide Omar", language="de"), now=2)
    other, _ = library.share(
        link("a.org/3", "Checklist", description="mentions a buddy once", tags=("forms",)), now=3
    )
    order = [r.id for r in library.search("buddy guide", room_id="!room:a.example").items]
    assert order == [omar.id, anna.id]  # equally relevant: the newer first
    ledger.announce("$announce", anna.id)
    assert ledger.vote(anna.id, "@ben:a.example", "$like")
    assert not ledger.vote(anna.id, "@ben:a.example", "$like-again")  # one 👍 per person
    order = [r.id for r in library.search("buddy", room_id="!room:a.example").items]
    assert order == [anna.id, omar.id, other.id]  # a title match stays above the description
    ledger.unvote("$like")
    assert library.get(anna.id).votes == 0
    assert [r.id for r in library.search("buddy", room_id="!r", language="de").items] == [omar.id]
    assert [r.id for r in library.search(None, room_id="!r", tags=["forms"]).items] == [other.id]
    assert library.search("guíde", room_id="!r").total == 2  # accents and prefixes
    assert library.search('" OR * NEAR(', room_id="!r").total == 0  # no FTS syntax gets in
    assert library.tag_counts("!r") == [("forms", 1)]


def test_a_resource_from_an_encrypted_room_is_listed_only_there() -> None:
    library = shelf().library
    library.share(link("a.org/p", "Private", private_room="!enc:a.example"))
    library.share(link("a.org/q", "Open"))
    assert library.search(None, room_id="!enc:a.example").total == 2
    assert [r.title for r in library.search(None, room_id="!other").items] == ["Open"]
    made_public, _ = library.share(link("a.org/p", "Private", public=True))
    assert made_public.public and made_public.private_room is None


def test_removing_a_posted_resource_queues_its_redaction() -> None:
    s = shelf()
    resource, _ = s.library.share(link("a.org/x", "Public guide", public=True))
    [(pending, revision)] = s.outbox.to_post()
    s.outbox.posted(pending.id, revision, "$posted", "!exchange")
    assert s.outbox.to_post() == []
    s.library.share(link("a.org/x", "Public guide", tags=("new-tag",)))  # changed: post again
    [(changed, revision)] = s.outbox.to_post()
    s.outbox.posted(changed.id, revision, "$posted-2", "!exchange")
    assert s.outbox.withdrawals() == [("$posted", "!exchange")]  # the replaced post goes
    s.outbox.withdrawn("$posted")
    assert s.library.remove(resource.id)
    assert s.outbox.withdrawals() == [("$posted-2", "!exchange")]
    assert s.catalogue.search(None).total == 0


def test_forgetting_a_person_removes_what_only_they_shared() -> None:
    s = shelf()
    alone, _ = s.library.share(link("a.org/1", "Only Ana's", public=True))
    both, _ = s.library.share(link("a.org/2", "Shared by both"))
    s.library.share(link("a.org/2", "Shared by both", sharer="@ben:a.example"))
    s.ledger.vote(both.id, "@ana:a.example", "$vote")
    s.ledger.set_file_room("!files", "@ana:a.example", True)
    data = s.ledger.personal_data("@ana:a.example")
    assert [item["resource"] for item in data["resources_shared"]] == [
        f"#{alone.id} Only Ana's",
        f"#{both.id} Shared by both",
    ]
    assert data["resources_liked"] == [f"#{both.id} Shared by both"]
    assert data["file_rooms_enabled"] == ["!files"]
    assert s.ledger.forget("@ana:a.example") == [alone.id]
    assert s.ledger.personal_data("@ana:a.example") == {}
    kept = s.library.get(both.id)
    assert kept.sharers == ("@ben:a.example",)
    assert kept.event_id == "$share-Shared by both-@ben:a.example"  # no longer Ana's message
    assert s.ledger.is_file_room("!files")  # the room setting stays, without who set it


# --- the public catalogue and the exchange ------------------------------------------------


def test_the_catalogue_shows_a_link_public_in_two_networks_once() -> None:
    s = shelf()
    s.library.share(link("example.org/guide", "Guide", public=True, tags=("mentoring",)))
    s.library.share(link("example.org/private", "Not public"))
    assert s.catalogue.mirror(remote("$b1", "Guide (B)", "example.org/guide"))
    assert not s.catalogue.mirror(remote("$b1", "Guide (B)", "example.org/guide"))  # once
    assert s.catalogue.mirror(remote("$b2", "Elsewhere", "example.org/other", tags=("x",)))
    found = s.catalogue.search("guide")
    assert found.total == 1
    [item] = found.items
    assert [o.network for o in item.origins] == ["Network B", "Network A"]
    assert "sender" not in str(item.as_json())
    assert s.catalogue.search(None).total == 2  # never the resource that is not public
    assert [i.title for i in s.catalogue.search(None, tags=["x"]).items] == ["Elsewhere"]
    assert s.catalogue.poster("$b2") == "@bot:b.example"
    assert s.catalogue.drop("$b2") and s.catalogue.search("elsewhere").total == 0


def test_what_other_networks_post_is_checked_like_our_own_input() -> None:
    good = {
        "schema_version": 1,
        "url": "https://example.org/guide?utm_source=x",
        "title": "<img src=x onerror=alert(1)>Guide",
        "tags": ["mentoring"],
        "language": "de",
        "network": "Network B",
    }
    item = read_posted(good)
    assert item is not None and item["url"] == "https://example.org/guide"
    assert item["title"] == "<img src=x onerror=alert(1)>Guide"  # text; escaped when shown
    for bad in (
        good | {"url": "javascript:alert(1)"},
        good | {"schema_version": 2},
        good | {"tags": ["<script>"]},
        good | {"language": "xx"},
        good | {"title": ""},
        {k: v for k, v in good.items() if k != "url"} | {"mxc": "https://not-mxc"},
        "not a dict",
    ):
        assert read_posted(bad) is None  # type: ignore[arg-type]
    assert read_posted({k: v for k, v in good.items() if k != "url"} | {"mxc": "mxc://b/x"})


class FakeAccount:
    """Just enough of an Account for the exchange's redaction check."""

    user_id = "@mentornet:a.example"

    def __init__(self, levels: dict[str, int]) -> None:
        self.levels = levels
        self.client = type("Client", (), {"rooms": {}})()
        self.rooms = self

    async def get_state(self, room_id: str, kind: str, key: str = "") -> dict[str, Any]:
        return {"redact": 50}

    async def power_level(self, room_id: str, user_id: str) -> int:
        return self.levels.get(user_id, 0)


async def test_only_the_poster_or_a_moderator_removes_a_mirrored_resource() -> None:
    s = shelf()
    config = parse_config(
        {"matrix": {"homeserver": "http://x", "user_id": "@m:x", "password": "p"}}
    )
    account = FakeAccount({"@mod:c.example": 50})
    exchange = Exchange(s.store, config, s.outbox, s.catalogue, lambda: account)  # type: ignore[arg-type,return-value]
    for event_id in ("$one", "$two"):
        s.catalogue.mirror(remote(event_id, f"Guide {event_id}", f"example.org/{event_id}"))

    def redaction(sender: str, target: str) -> dict[str, Any]:
        return {"type": "m.room.redaction", "sender": sender, "content": {"redacts": target}}

    assert not await exchange.redacted("!x", redaction("@intruder:c.example", "$one"))
    assert s.catalogue.search("guide").total == 2
    assert await exchange.redacted("!x", redaction("@bot:b.example", "$one"))  # the poster
    old_style = {"type": "m.room.redaction", "sender": "@mod:c.example", "redacts": "$two"}
    assert await exchange.redacted("!x", old_style)  # a moderator; `redacts` before v11
    assert s.catalogue.search("guide").total == 0


# --- the directory mirror and the exchange room -------------------------------------------


class SpaceAccount:
    """A space with a directory room and the exchange room, as the mirror reads them."""

    def __init__(self) -> None:
        self.rooms = self
        self.joined: list[str] = []
        self.left: list[str] = []
        child = {"via": ["a.example"]}
        self.state_of = {
            "!space": [
                {"type": SPACE_CHILD, "state_key": "!dir", "content": child},
                {"type": SPACE_CHILD, "state_key": "!exchange", "content": child},
            ],
            "!dir": [
                {"type": "m.room.create", "state_key": "", "sender": "@b:a", "content": {}},
                {"type": "m.space.parent", "state_key": "!space", "content": child},
            ],
            "!exchange": [
                {
                    "type": "m.room.create",
                    "state_key": "",
                    "sender": "@a:a",
                    "content": {"type": EXCHANGE_ROOM_TYPE},
                },
                {"type": "m.space.parent", "state_key": "!space", "content": child},
            ],
        }

    async def state(self, room_id: str) -> list[dict[str, Any]]:
        return self.state_of[room_id]

    async def join(self, room_id: str, via: list[str]) -> str:
        self.joined.append(room_id)
        return room_id

    join_fetching_state = join

    async def leave(self, room_id: str, **_: Any) -> None:
        self.left.append(room_id)


@pytest.mark.parametrize("known", [True, False])
async def test_the_directory_mirror_skips_the_exchange_room(known: bool) -> None:
    store = open_store(":memory:")
    store.migrate(mirror_migrations)
    mirror = Mirror(store, Directory(store))
    store.put(KEY_SPACE, "!space")
    if known:
        store.put(KEY_EXCHANGE_ROOM, "!exchange")
    account = SpaceAccount()
    await mirror.sync_space(account)  # type: ignore[arg-type]
    assert mirror.followed() == {"!dir"}
    assert ("!exchange" in account.joined) is not known  # unknown: found by its room type
    assert store.get(KEY_EXCHANGE_ROOM) == "!exchange"
    await mirror._child_changed(account, "!exchange", {})  # type: ignore[arg-type]
    assert account.left == []  # the exchange room is not the mirror's to leave
