"""A reverse proxy in front of a real homeserver, as nginx stands in front of Synapse in
production: it passes every request on, and on demand answers the bot's sends with
502 Bad Gateway (the homeserver behind it restarting) or holds them or new rooms (a
homeserver that is slow to answer), to see what the bot does then; it counts the room
creations on their way at once. Nothing in it speaks Matrix itself."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp import web

from devtools.homeserver import free_port

HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


class Proxy:
    """`async with Proxy(hs.url) as proxy:` then point the bot at `proxy.url`."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.refuse_sends = 0  # how many of the next sends to answer with 502
        self.refused = 0
        self.hold_room: str | None = None  # sends into this room wait for `release`
        self.held = 0
        self.release = asyncio.Event()
        self.hold_creates = False  # new rooms wait for `release_creates` (slow to open them)
        self.release_creates = asyncio.Event()
        self.creating = 0  # room creations on their way through now
        self.most_creating = 0  # the most at once
        self.direct_writes = 0  # writes of the bot's `m.direct` list
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Proxy:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._pass)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.release.set()
        self.release_creates.set()
        if self._runner:
            await self._runner.cleanup()
        if self._session:
            await self._session.close()

    async def _pass(self, request: web.Request) -> web.StreamResponse:
        path = unquote(request.path)
        sending = request.method == "PUT" and "/send/" in path and "/rooms/" in path
        if sending and self.refuse_sends > 0:
            self.refuse_sends -= 1
            self.refused += 1
            return web.Response(status=502, text="<html>502 Bad Gateway</html>",
                                content_type="text/html")  # fmt: skip
        body = await request.read()
        if request.method == "PUT" and path.endswith("/account_data/m.direct"):
            self.direct_writes += 1
        if request.method == "POST" and path.endswith("/createRoom"):
            self.creating += 1
            self.most_creating = max(self.most_creating, self.creating)
            try:
                if self.hold_creates:
                    await self.release_creates.wait()
                return await self._forward(request, body)
            finally:
                self.creating -= 1
        if sending and self.hold_room and f"/rooms/{self.hold_room}/" in path:
            self.held += 1
            await self.release.wait()
        return await self._forward(request, body)

    async def _forward(self, request: web.Request, body: bytes) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body
        ) as upstream:
            payload = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
            return web.Response(status=upstream.status, body=payload, headers=kept)
