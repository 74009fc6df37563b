"""Figures kept by the other bots of the instance (check-ins, resources), asked of their
stores' public methods, never read from their tables here; None while that bot has never run
on this instance (its tables are not there)."""

from __future__ import annotations

from bots.checkin.schema import CheckinStore
from bots.checkin.schema import migrations as checkin_migrations
from bots.network.schema import NetworkRow
from bots.resources.schema import resource_migrations
from bots.resources.store import shared_count
from core.storage import Store


def checkin_responses(
    store: Store, net: NetworkRow, since: float, until: float
) -> tuple[int, int] | None:
    """(asked, answered) check-ins sent in the period, or None without the check-in bot."""
    if not store.applied(checkin_migrations):
        return None
    return CheckinStore(store).responses(net.id, since, until)


def new_resources(store: Store, net: NetworkRow, since: float, until: float) -> int | None:
    """Resources shared in the network's rooms in the period, or None without the library."""
    if not store.applied(resource_migrations):
        return None
    return shared_count(store, list(net.rooms.values()), since, until)
