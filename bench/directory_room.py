"""A big directory room on a local Synapse, built fast, for the benchmarks that copy one.

Putting 10,000 organisation state events into a room takes Synapse 10-30 minutes (it slows
as the room's state grows), so `directory_homeserver` keeps the homeserver's data in
bench/results/cache/ (git-ignored) and later runs start from it. The
space it belongs to is made first, so the room names it as its parent and a mirror counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from bench.common import RESULTS
from bench.directory_federation import make_entries
from devtools.homeserver import LocalSynapse
from federation.rooms import ORGANIZATION, SPACE_CHILD, SPACE_PARENT

CREATE_TIMEOUT = 600  # seconds, for one request
PARALLEL = 12  # state events sent at the same time while building
REGISTER_PARALLEL = 16


class Publisher:
    """A user of the homeserver that makes the space and the directory room, by plain HTTP."""

    def __init__(self, url: str, server_name: str, token: str) -> None:
        self.url, self.server_name, self.token = url, server_name, token
        self._session: aiohttp.ClientSession | None = None

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=CREATE_TIMEOUT)
            self._session = aiohttp.ClientSession(timeout=timeout)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self._session.request(
            method, self.url + path, json=body, headers=headers
        ) as response:
            reply = await response.json(content_type=None)
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: {response.status} {str(reply)[:300]}")
            return reply

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def create_space(self, name: str) -> str:
        body = {"name": name, "preset": "public_chat", "creation_content": {"type": "m.space"}}
        return str((await self.call("POST", "/_matrix/client/v3/createRoom", body))["room_id"])

    async def create_directory_room(self, space_id: str, entries: int, tag: str) -> str:
        """A public room naming `space_id` as parent, then `entries` organisations put into
        it, PARALLEL at a time (Synapse's batch of `initial_state` is far slower: it chains
        every state group on the one before)."""
        via = {"via": [self.server_name], "canonical": True}
        state = [{"type": SPACE_PARENT, "state_key": space_id, "content": via}]
        body = {"name": f"Directory {tag}", "preset": "public_chat", "initial_state": state}
        room = str((await self.call("POST", "/_matrix/client/v3/createRoom", body))["room_id"])
        queue = make_entries(entries, tag)
        queue.reverse()
        started, done = time.perf_counter(), [0]

        async def put() -> None:
            while queue:
                key, content = queue.pop()
                await self.call("PUT", self.state_path(room, ORGANIZATION, key), content)
                done[0] += 1
                if done[0] % 1000 == 0:
                    print(f"  {done[0]:,} entries, {time.perf_counter() - started:.0f} s")

        await asyncio.gather(*(put() for _ in range(PARALLEL)))
        return room

    @staticmethod
    def state_path(room_id: str, kind: str, state_key: str) -> str:
        return (
            f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/state/"
            f"{quote(kind, safe='')}/{quote(state_key, safe='')}"
        )

    async def link(self, space_id: str, room_id: str, linked: bool = True) -> None:
        """Add the room to the space (`m.space.child` with via), or take it out (empty)."""
        content = {"via": [self.server_name]} if linked else {}
        await self.call("PUT", self.state_path(space_id, SPACE_CHILD, room_id), content)

    async def state(self, room_id: str) -> tuple[list[dict[str, Any]], float]:
        """A bare GET of the room's /state, parsed, and the seconds it took."""
        started = time.perf_counter()
        events = await self.call("GET", f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/state")
        return events, time.perf_counter() - started


async def login(url: str, user_id: str, password: str) -> str:
    """An access token for the user."""
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": password,
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/_matrix/client/v3/login", json=body) as response,
    ):
        reply = await response.json(content_type=None)
        if response.status != 200:
            raise RuntimeError(f"login {user_id}: {response.status} {reply}")
        return str(reply["access_token"])


@dataclass
class DirectoryHomeserver:
    """What `directory_homeserver` made: the space, the directory room and its entries, and
    users (user id → password) that may follow it."""

    space_id: str
    room_id: str
    entries: int
    publisher: tuple[str, str]
    users: dict[str, str]


@contextlib.asynccontextmanager
async def directory_homeserver(
    entries: int, users: list[str], fresh: bool = False
) -> AsyncIterator[tuple[LocalSynapse, DirectoryHomeserver]]:
    """A running Synapse holding a space and a directory room of `entries` organisations,
    with the local users `users` registered and exempted from rate limits; kept in
    bench/results/cache/directory-`entries`/ (rebuilt with `fresh`)."""
    folder = RESULTS / "cache" / f"directory-{entries}"
    info_path = folder / "room.json"
    if fresh or not info_path.exists():
        shutil.rmtree(folder, ignore_errors=True)
    async with LocalSynapse(folder / "synapse", rate_limits="relaxed") as hs:
        if info_path.exists():
            info = DirectoryHomeserver(**json.loads(info_path.read_text()))
        else:
            info = await _build(hs, entries)
            info_path.write_text(json.dumps(asdict(info), indent=2))
        missing = [name for name in dict.fromkeys(users) if name not in info.users]
        if missing:
            print(f"registering {len(missing):,} users (once; kept in the cache) …", flush=True)
        for start in range(0, len(missing), REGISTER_PARALLEL):
            batch = missing[start : start + REGISTER_PARALLEL]
            passwords = {name: secrets.token_hex(12) for name in batch}
            await asyncio.gather(*(_register(hs, n, p) for n, p in passwords.items()))
            info.users |= passwords
            info_path.write_text(json.dumps(asdict(info), indent=2))
        yield hs, info


async def _register(hs: LocalSynapse, name: str, password: str) -> None:
    await hs.exempt_from_rate_limits(await hs.register(name, password))


async def _build(hs: LocalSynapse, entries: int) -> DirectoryHomeserver:
    password = secrets.token_hex(12)
    user_id = await hs.register("bench-publisher", password)
    await hs.exempt_from_rate_limits(user_id)
    publisher = Publisher(hs.url, hs.server_name, await login(hs.url, user_id, password))
    print(f"building a directory room of {entries:,} entries (once; kept in the cache) …")
    started = time.perf_counter()
    try:
        space = await publisher.create_space("Europe")
        room = await publisher.create_directory_room(space, entries, "cold")  # not yet a child
    finally:
        await publisher.close()
    print(f"  built in {time.perf_counter() - started:.0f} s")
    return DirectoryHomeserver(space, room, entries, (user_id, password), {})


def user_id(hs: LocalSynapse, name: str) -> str:
    return f"@{name}:{hs.server_name}"
