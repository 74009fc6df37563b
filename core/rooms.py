"""Room operations nio has no method for (state, membership, power levels, pins), for one
account; rate limits are waited out and errors raised with the homeserver's explanation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from nio import ProfileGetError

from core.canonical import canonical_problem

if TYPE_CHECKING:
    from core.account import Account

log = logging.getLogger(__name__)

RETRIES = 8


class MatrixError(Exception):
    """A client-server call failed; `errcode` is the homeserver's (M_FORBIDDEN, …)."""

    def __init__(self, errcode: str, message: str) -> None:
        super().__init__(f"{message} ({errcode})")
        self.errcode = errcode


def room_path(room_id: str, *parts: str) -> str:
    tail = "/".join(quote(part, safe="") for part in parts)
    return f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/{tail}"


class Rooms:
    """What an account does to rooms beyond sending messages."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self._locks: dict[str, asyncio.Lock] = {}

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        parse_in_thread: bool = False,
    ) -> Any:
        """A client-server call; waits out rate limits, raises MatrixError on errors (also,
        before sending anything, for a body the homeserver would refuse: see core.canonical).
        `parse_in_thread`: see `Account.raw`."""
        problem = canonical_problem(body) if body else None
        if problem:
            raise MatrixError("M_BAD_JSON", problem)
        for _ in range(RETRIES):
            try:
                result = await self.account.raw(method, path, body, parse_in_thread)
            except Exception as error:  # not JSON, connection reset: report it as a failure
                raise MatrixError("M_UNKNOWN", str(error) or type(error).__name__) from None
            if not isinstance(result, dict) or "errcode" not in result:
                return result
            if result["errcode"] == "M_LIMIT_EXCEEDED":
                await asyncio.sleep(min(int(result.get("retry_after_ms", 1000)), 30_000) / 1000)
                continue
            raise MatrixError(result["errcode"], result.get("error", ""))
        raise MatrixError("M_LIMIT_EXCEEDED", "still rate-limited after several tries")

    def lock(self, key: str) -> asyncio.Lock:
        """A lock for a read-modify-write of one room (its id) or of anything else (a key
        that is no room id), so that two tasks of this account do not interleave."""
        return self._locks.setdefault(key, asyncio.Lock())

    # --- state -----------------------------------------------------------------------------

    async def state(self, room_id: str) -> list[dict[str, Any]]:
        """The room's whole current state, as events (parsed in a worker thread: a directory
        room's state can be big)."""
        return list(await self.call("GET", room_path(room_id, "state"), parse_in_thread=True))

    async def get_state(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any]:
        """A state event's content; empty when the room has none."""
        try:
            return dict(await self.call("GET", room_path(room_id, "state", event_type, state_key)))
        except MatrixError as error:
            if error.errcode == "M_NOT_FOUND":
                return {}
            raise

    async def put_state(
        self, room_id: str, event_type: str, state_key: str, content: dict[str, Any]
    ) -> str:
        """Send a state event; returns its event id."""
        result = await self.call("PUT", room_path(room_id, "state", event_type, state_key), content)
        return str(result.get("event_id", ""))

    async def update_state(
        self,
        room_id: str,
        event_type: str,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        state_key: str = "",
    ) -> str | None:
        """Read-modify-write of a state event: `change` gets the current content (empty when
        there is none) and returns the new one, or None to leave it. One update of a room at
        a time for this account (`lock`), each from the state as it is then, so that two tasks
        (an approval and a revocation, two roles given at once) never build on the same read
        and undo each other. Returns the new event's id, None when nothing changed."""
        async with self.lock(room_id):
            content = await self.get_state(room_id, event_type, state_key)
            new = change(content)
            if new is None:
                return None
            return await self.put_state(room_id, event_type, state_key, new)

    async def set_level(self, room_id: str, user_id: str, level: int | None) -> None:
        """Give `user_id` a power level in the room; None or 0 removes them from the list, so
        they have the room's default."""

        def change(content: dict[str, Any]) -> dict[str, Any] | None:
            users = dict(content.get("users") or {})
            if level:
                if users.get(user_id) == level:
                    return None
                users[user_id] = level
            elif users.pop(user_id, None) is None:
                return None
            return {**content, "users": users}

        await self.update_state(room_id, "m.room.power_levels", change)

    async def pin(self, room_id: str, event_id: str, replaces: str | None = None) -> None:
        """Pin an event in the room, unpinning the one it replaces."""

        def change(content: dict[str, Any]) -> dict[str, Any]:
            pinned = [e for e in content.get("pinned") or [] if e not in (replaces, event_id)]
            return {"pinned": [*pinned, event_id]}

        await self.update_state(room_id, "m.room.pinned_events", change)

    # --- account data ----------------------------------------------------------------------

    def _account_data_path(self, event_type: str) -> str:
        user = quote(self.account.user_id, safe="")
        return f"/_matrix/client/v3/user/{user}/account_data/{quote(event_type, safe='')}"

    async def account_data(self, event_type: str) -> dict[str, Any]:
        """The account's own global account data of that type; empty when it has none."""
        try:
            return dict(await self.call("GET", self._account_data_path(event_type)))
        except MatrixError as error:
            if error.errcode == "M_NOT_FOUND":
                return {}
            raise

    async def put_account_data(self, event_type: str, content: dict[str, Any]) -> None:
        await self.call("PUT", self._account_data_path(event_type), content)

    # --- membership ------------------------------------------------------------------------

    async def join(self, room_id: str, via: list[str] = ()) -> str:  # type: ignore[assignment]
        """Join a room or alias through the given servers; returns the room id."""
        query = urlencode([("server_name", server) for server in via])
        path = f"/_matrix/client/v3/join/{quote(room_id, safe='')}" + (f"?{query}" if query else "")
        result = await self.call("POST", path, {})
        return str(result["room_id"])

    async def leave(self, room_id: str, forget: bool = False, reason: str | None = None) -> None:
        """Leave a room (or decline its invite, with a reason); failures are only logged."""
        try:
            await self.call(
                "POST", room_path(room_id, "leave"), {"reason": reason} if reason else {}
            )
            if forget:
                await self.call("POST", room_path(room_id, "forget"), {})
        except MatrixError as error:
            log.warning("could not leave", extra={"room": room_id, "error": str(error)})

    async def invite(self, room_id: str, user_id: str) -> None:
        """Invite `user_id`; someone already in the room or invited counts as done."""
        try:
            await self.call("POST", room_path(room_id, "invite"), {"user_id": user_id})
        except MatrixError as error:
            if "already in the room" in str(error) or "is already joined" in str(error):
                return
            raise

    async def members(self, room_id: str) -> dict[str, str]:
        """Everyone joined to or invited to the room, with that membership, as the homeserver
        says now (for a room the account has left: as it was when it left)."""
        events = (await self.call("GET", room_path(room_id, "members"))).get("chunk") or []
        found = {e.get("state_key"): (e.get("content") or {}).get("membership") for e in events}
        return {user: kind for user, kind in found.items() if kind in ("join", "invite")}

    async def membership(self, room_id: str, user_id: str) -> str | None:
        content = await self.get_state(room_id, "m.room.member", user_id)
        return content.get("membership")

    async def kick(self, room_id: str, user_id: str, reason: str) -> bool:
        """Remove someone who is in the room or invited to it; False if they were not."""
        if await self.membership(room_id, user_id) not in ("join", "invite", "knock"):
            return False
        await self.call("POST", room_path(room_id, "kick"), {"user_id": user_id, "reason": reason})
        return True

    async def exists(self, user_id: str) -> bool:
        """False only when the homeserver says there is no such user (some homeservers let
        invites to unknown users through)."""
        response = await self.account.client.get_profile(user_id)
        if isinstance(response, ProfileGetError):
            transport = getattr(response, "transport_response", None)
            return not (
                response.status_code == "M_NOT_FOUND" or getattr(transport, "status", 0) == 404
            )
        return True

    async def wait_for_member(self, room_id: str, user_id: str, within: float = 30) -> bool:
        """Wait until the account's sync shows `user_id` in the room (joined or invited):
        an encrypted message is only readable by the members known when it is sent."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while user_id not in getattr(self.account.client.rooms.get(room_id), "users", {}):
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True
