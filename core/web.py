"""The web listener shared by every bot: health, the routes each bot adds, and one answer for
every failure. Under `/api/` a failure is the API's JSON error (`{"error": {"code", "message"}}`),
elsewhere a short HTML page; that holds for routes that do not exist, wrong methods, handler
bugs and requests aiohttp cannot even parse (an over-long request line: its path is read from
the part the parser kept; a request whose path is unknown gets the HTML page). Nothing a request
sends writes a traceback into the log: refused requests are logged in one line at INFO, a
handler bug in one line at ERROR."""

from __future__ import annotations

import html
import json
import logging
import re
import time
import traceback
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from core.pages import page_routes, setup_pages

if TYPE_CHECKING:
    from core.app import App

log = logging.getLogger(__name__)

APP_KEY: web.AppKey[App] = web.AppKey("mentornet", object)  # type: ignore[arg-type]
# aiohttp's own limits, stated: a longer request line or header is refused with 400.
MAX_LINE_BYTES = 8190
MAX_FIELD_BYTES = 8190
CLIENT_MAX_BYTES = 1024**2
ERROR_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
_MESSAGES = {
    400: "the request could not be read",
    404: "nothing here",
    405: "this method is not allowed here",
    413: "the request body is too large",
    500: "something went wrong on our side",
}


def build_web(app: App) -> web.Application:
    application = web.Application(client_max_size=CLIENT_MAX_BYTES, middlewares=[errors])
    application[APP_KEY] = app
    application.router.add_get("/healthz", healthz)
    setup_pages(application)
    application.router.add_routes(page_routes())
    for bot in app.bots:
        application.router.add_routes(bot.routes())
    return application


def web_runner(application: web.Application) -> web.AppRunner:
    """The runner for the listener: aiohttp's, with the failure answers of this module."""
    return _Runner(
        application,
        access_log=None,
        max_line_size=MAX_LINE_BYTES,
        max_field_size=MAX_FIELD_BYTES,
    )


def error_response(path: str, status: int, message: str | None = None) -> web.Response:
    """The answer to a failed request: JSON under /api/, else a short HTML page."""
    phrase = HTTPStatus(status).phrase
    message = message or _MESSAGES.get(status) or phrase.lower()
    if path.startswith("/api/"):
        code = phrase.lower().replace(" ", "_").replace("-", "_")
        body = json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False)
        return web.Response(
            text=body,
            status=status,
            content_type="application/json",
            headers=ERROR_HEADERS | {"Access-Control-Allow-Origin": "*"},
        )
    title = f"{status} {phrase}"
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><h1>{html.escape(phrase)}</h1><p>{html.escape(message)}.</p>"
        '<p><a href="/directory">Directory</a></p></body></html>\n'
    )
    return web.Response(text=page, status=status, content_type="text/html", headers=ERROR_HEADERS)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error status in our shape; a handler bug is a 500 and one ERROR line."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise  # redirects pass as they are
        response = error_response(request.path, error.status, _reason(error))
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception as error:
        log.error(
            "request failed",
            extra={"path": request.path, "error": f"{type(error).__name__}: {error}"}
            | _where(error),
        )
        return error_response(request.path, 500)


def _reason(error: web.HTTPException) -> str | None:
    """A message of our own for aiohttp's stock errors (their text names no cause)."""
    text = error.text or ""
    if error.status in _MESSAGES or text.startswith(f"{error.status}:"):
        return None
    return text or None


def _where(error: BaseException) -> dict[str, Any]:
    frames = traceback.extract_tb(error.__traceback__)
    return {"at": f"{frames[-1].filename}:{frames[-1].lineno}"} if frames else {}


class _Protocol(RequestHandler):
    """aiohttp's connection handler, answering what it could not parse in our shape."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            log.error("request failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        else:
            log.info("refused a request", extra={"status": status, "error": type(exc).__name__})
        if request.writer.output_size > 0:  # the answer was under way: close, as aiohttp does
            raise ConnectionError("response already under way")
        too_long = isinstance(exc, LineTooLong)
        response = error_response(
            _path_in(exc), status, "the request is too long" if too_long else None
        )
        response.force_close()
        return response


def _path_in(exc: BaseException | None) -> str:
    """The path of a request that could not be parsed, as far as the parser read it (the
    start of its request line); empty when unknown (a bad header, say)."""
    start = exc.args[0] if exc is not None and exc.args else b""
    if isinstance(start, str):
        start = start.encode("utf-8", "replace")
    if not isinstance(start, bytes | bytearray):
        return ""
    found = re.search(rb"(?:^|\s)(/[^\s?#]*)", bytes(start))
    return found.group(1).decode("utf-8", "replace") if found else ""


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return _Server(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )


async def healthz(request: web.Request) -> web.Response:
    """200 while every account's sync loop has succeeded recently, else 503."""
    app = request.app[APP_KEY]
    limit = 2 * app.config.matrix.sync_timeout_ms / 1000 + 5  # a long-poll and a bit, twice
    now = time.monotonic()
    accounts: dict[str, dict[str, Any]] = {}
    for name, account in app.accounts.items():
        age = None if account.last_sync is None else round(now - account.last_sync, 1)
        accounts[name] = {"user_id": account.user_id, "last_sync_seconds_ago": age}
    alive = all(
        a["last_sync_seconds_ago"] is not None and a["last_sync_seconds_ago"] < limit
        for a in accounts.values()
    )
    body = {"status": "ok" if alive else "sync stalled", "accounts": accounts}
    return web.json_response(body, status=200 if alive else 503)
