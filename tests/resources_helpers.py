"""Helpers for the resource library's tests: a library in memory, and our running bot's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bots.resources.catalogue import Catalogue, Row
from bots.resources.ledger import Ledger
from bots.resources.outbox import Outbox
from bots.resources.store import Library, Shared
from core.storage import Store, open_store
from tests.bots import RunningBot

POSTER = "@mentornet:a.example"


@dataclass
class Shelf:
    """A library with its companions over one in-memory database."""

    store: Store
    library: Library
    ledger: Ledger
    outbox: Outbox
    catalogue: Catalogue


def shelf() -> Shelf:
    store = open_store(":memory:")
    library = Library(store, "Network A", POSTER)
    return Shelf(store, library, Ledger(library), Outbox(library), Catalogue(store))


def link(url: str, title: str, sharer: str = "@ana:a.example", **fields: Any) -> Shared:
    """What `!res share <url> "<title>"` stores (the link used as its own key)."""
    values: dict[str, Any] = {
        "sharer": sharer,
        "room_id": "!room:a.example",
        "event_id": f"$share-{title}-{sharer}",
        "title": title,
        "dedupe_key": url,
        "url": url,
    }
    return Shared(**(values | fields))


def remote(event_id: str, title: str, key: str, network: str = "Network B", **fields: Any) -> Row:
    """A resource another network posted to the exchange room (a link, unless `fields`
    say otherwise)."""
    values: dict[str, Any] = {
        "sender": "@bot:b.example",
        "homeserver": "b.example",
        "network": network,
        "dedupe_key": key,
        "title": title,
        "url": key,
        "origin_ts": 1_700_000_000_000,
        "room_id": "!exchange:a.example",
        "event_id": event_id,
    }
    return Row(**(values | fields))


def resource_bot(bot: RunningBot) -> Any:
    from bots.resources import ResourceBot

    assert bot.app is not None
    return next(b for b in bot.app.bots if isinstance(b, ResourceBot))
