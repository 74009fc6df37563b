"""Joining and leaving the European directory: what `main.py federation …` does, with the
bot's own account (the running bot sees the result through its sync)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from core.account import Account
from core.config import Config
from core.rooms import MatrixError
from federation.rooms import (
    KEY_DIRECTORY_ROOM,
    KEY_EXCHANGE_ROOM,
    KEY_SPACE,
    FederationError,
    claim_parent,
    create_directory_room,
    create_exchange_room,
    create_space,
    drop_parent,
    link_child,
    server_of,
    unlink_child,
)


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
    return await create_directory_room(account, config.directory.network, config.bots.admins)


async def start_space(account: Account, config: Config, name: str) -> Outcome:
    """Create the European space, list this instance's directory room in it, and create the
    space's one resource-exchange room (a child too, but not a directory room)."""
    room_id = await directory_room(account, config)
    space_id = await create_space(account, name, config.bots.admins)
    via = [server_of(account.user_id)]
    await link_child(account, space_id, room_id, via)
    await claim_parent(account, room_id, space_id, via)
    exchange_id = await create_exchange_room(account, config.bots.admins)
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
    """As a space admin: list another network's directory room in the space."""
    space_id = account.store.get(KEY_SPACE)
    if not space_id:
        raise FederationError("this instance is in no space")
    await link_child(account, space_id, room_id, via)
    return Outcome(space_id, room_id, f"Listed {room_id} in the space {space_id}.")


async def leave_space(account: Account) -> Outcome:
    """Withdraw our directory room from the space: every mirror drops our entries."""
    space_id = account.store.get(KEY_SPACE)
    room_id = account.store.get(KEY_DIRECTORY_ROOM)
    if not space_id or not room_id:
        raise FederationError("this instance is in no space")
    await drop_parent(account, room_id, space_id)
    with contextlib.suppress(MatrixError):  # not a space admin: the parent link suffices
        await unlink_child(account, space_id, room_id)
    await account.rooms.leave(space_id)
    account.store.db.execute("DELETE FROM kv WHERE key = ?", [KEY_SPACE])
    return Outcome(space_id, room_id, f"Left the space {space_id}; our entries are withdrawn.")
