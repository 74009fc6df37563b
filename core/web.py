"""The web listener shared by every bot: health now, the directory pages and API later."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from core.app import App

APP_KEY: web.AppKey[App] = web.AppKey("mentornet", object)  # type: ignore[arg-type]


def build_web(app: App) -> web.Application:
    application = web.Application(client_max_size=1024**2)
    application[APP_KEY] = app
    application.router.add_get("/healthz", healthz)
    for bot in app.bots:
        application.router.add_routes(bot.routes())
    return application


async def healthz(request: web.Request) -> web.Response:
    """200 while every account's sync loop has succeeded recently, else 503."""
    app = request.app[APP_KEY]
    limit = 2 * app.config.matrix.sync_timeout_ms / 1000 + 5  # a long-poll and a bit, twice
    now = time.monotonic()
    accounts = {}
    for name, account in app.accounts.items():
        age = None if account.last_sync is None else round(now - account.last_sync, 1)
        accounts[name] = {"user_id": account.user_id, "last_sync_seconds_ago": age}
    alive = all(
        a["last_sync_seconds_ago"] is not None and a["last_sync_seconds_ago"] < limit
        for a in accounts.values()
    )
    body = {"status": "ok" if alive else "sync stalled", "accounts": accounts}
    return web.json_response(body, status=200 if alive else 503)
