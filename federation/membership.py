"""Joining and leaving the European directory: what `main.py federation …` does, with the
bot's own account (the running bot sees the result through its sync)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from core.account import Account
from core.config import Config
from core.rooms import MatrixError
from federation.rooms import (
    KEY_DIRECTORY_ROOM,
    KEY_EXCHANGE_ROOM,
    KEY_SPACE,
    PUBLISHER_LEVEL,
    FederationError,
    claim_parent,
    create_directory_room,
    create_exchange_room,
    create_space,
    drop_parent,
    find_exchange_room,
    link_child,
    room_state,
    server_of,
    set_posters,
    unlink_child,
    user_level,
)

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a federation step did, for the person at the command line."""

    space_id: str
    room_id: str
    message: str


async def directory_room(account: Account, config: Config) -> str:
    """This instance's directory room, created on first use."""
    room_id = account.store.get(KEY_DIRECTORY_ROOM)
    if room_id:
        return room_id
    return await create_directory_room(
        account, config.directory.network, config.bots.admins, our_accounts(config)
    )


def our_accounts(config: Config) -> list[str]:
    """Every account this instance speaks through: the default one and the bots' own."""
    return [config.matrix.user_id, *(a.user_id for a in config.bots.accounts.values())]


async def publishers(account: Account, room_id: str) -> set[str]:
    """Who publishes for a network: its directory room's creators and every user holding
    PUBLISHER_LEVEL or more there (its bots' accounts and its admins), read from the room."""
    state = room_state(room_id, await account.rooms.state(room_id))
    users = set(state.power_levels.get("users") or {})
    return set(state.creators) | {
        user
        for user in users
        if user_level(state.power_levels, state.creators, user) >= PUBLISHER_LEVEL
    }


async def start_space(account: Account, config: Config, name: str) -> Outcome:
    """Create the European space, list this instance's directory room in it, and create the
    space's one resource-exchange room (a child too, but not a directory room)."""
    room_id = await directory_room(account, config)
    space_id = await create_space(account, name, config.bots.admins)
    via = [server_of(account.user_id)]
    await link_child(account, space_id, room_id, via)
    await claim_parent(account, room_id, space_id, via)
    exchange_id = await create_exchange_room(account, config.bots.admins, our_accounts(config))
    await link_child(account, space_id, exchange_id, via)
    await claim_parent(account, exchange_id, space_id, via)
    account.store.put(KEY_SPACE, space_id)
    account.store.put(KEY_EXCHANGE_ROOM, exchange_id)
    return Outcome(
        space_id,
        room_id,
        f"Created the space {space_id}. Other instances join with:\n"
        f"  python main.py federation join {space_id} --via {via[0]}",
    )


async def join_space(account: Account, config: Config, space: str, via: list[str]) -> Outcome:
    """Join a space and point our directory room at it; a space admin then approves it."""
    current = account.store.get(KEY_SPACE)
    if current and current != space:
        raise FederationError(f"already in the space {current}; leave it first")
    room_id = await directory_room(account, config)
    space_id = await account.rooms.join(space, via)
    ours = [server_of(account.user_id)]
    await claim_parent(account, room_id, space_id, ours)
    account.store.put(KEY_SPACE, space_id)
    try:  # done at once when we may list children ourselves
        await link_child(account, space_id, room_id, ours)
        note = "Our directory room is listed in the space."
    except MatrixError:
        note = (
            "A space admin must now approve our directory room:\n"
            f"  python main.py federation approve {room_id} --via {ours[0]}"
        )
    return Outcome(space_id, room_id, f"Joined the space {space_id}. {note}")


async def approve(account: Account, room_id: str, via: list[str]) -> Outcome:
    """As a space admin: list another network's directory room in the space, and let the
    accounts that publish for that network post resources in the exchange room."""
    space_id = account.store.get(KEY_SPACE)
    if not space_id:
        raise FederationError("this instance is in no space")
    await account.join_fetching_state(room_id, via)  # to read its levels (the mirror joins too)
    posters = await publishers(account, room_id)
    exchange_id = await exchange_room(account, space_id)
    await set_posters(account, exchange_id, await creators_of(account, exchange_id), grant=posters)
    await link_child(account, space_id, room_id, via)
    return Outcome(
        space_id,
        room_id,
        f"Listed {room_id} in the space {space_id}; "
        f"{', '.join(sorted(posters))} may post to its resource exchange.",
    )


async def revoke(account: Account, room_id: str) -> set[str]:
    """As a space admin: a network's directory room left the space, so the accounts that
    publish for it may no longer post resources (their own posts they redact themselves).
    Returns who lost the level; nothing when we may not change the exchange room."""
    space_id = account.store.get(KEY_SPACE)
    exchange_id = account.store.get(KEY_EXCHANGE_ROOM)
    if not space_id or not exchange_id or room_id == account.store.get(KEY_DIRECTORY_ROOM):
        return set()
    try:
        posters = await publishers(account, room_id)
        creators = await creators_of(account, exchange_id)
        _, revoked = await set_posters(account, exchange_id, creators, revoke=posters)
    except MatrixError as error:  # not a space admin: another admin's instance does it
        log.info("cannot revoke posting", extra={"room": room_id, "error": str(error)})
        return set()
    return revoked


async def exchange_room(account: Account, space_id: str) -> str:
    """The space's exchange room: as we recorded it, else found among the space's children."""
    exchange_id = account.store.get(KEY_EXCHANGE_ROOM)
    if exchange_id:
        return exchange_id
    found = await find_exchange_room(account, space_id)
    if found is None:
        raise FederationError(f"the space {space_id} has no resource exchange room")
    return found[0]


async def creators_of(account: Account, room_id: str) -> frozenset[str]:
    """A room's privileged creators (room v12+), who never appear in its power levels."""
    return room_state(room_id, await account.rooms.state(room_id)).creators


async def leave_space(account: Account) -> Outcome:
    """Withdraw our directory room from the space: every mirror drops our entries. Our
    resource bot redacts our posts and leaves the exchange room (`Exchange._leave`); our
    accounts' level to post there is taken back by a space admin's instance when it sees our
    room drop its parent claim (`revoke`): at PUBLISHER_LEVEL we may not change the room's
    power levels at all, not even lower our own (that takes the `m.room.power_levels` level)."""
    space_id = account.store.get(KEY_SPACE)
    room_id = account.store.get(KEY_DIRECTORY_ROOM)
    if not space_id or not room_id:
        raise FederationError("this instance is in no space")
    await drop_parent(account, room_id, space_id)
    with contextlib.suppress(MatrixError):  # not a space admin: the parent link suffices
        await unlink_child(account, space_id, room_id)
    await account.rooms.leave(space_id)
    account.store.delete(KEY_SPACE)
    return Outcome(space_id, room_id, f"Left the space {space_id}; our entries are withdrawn.")
