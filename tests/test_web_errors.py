"""The web listener's answer to a handler that fails: our error shape, one log line, no
traceback (a real listener and HTTP client; the failing handler stands for any bug)."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web

from core.web import errors, web_runner
from devtools.homeserver import free_port


async def test_a_failing_handler_is_a_500_in_our_shape_logged_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise KeyError("boom")

    application = web.Application(middlewares=[errors])
    application.router.add_get("/api/v1/broken", broken)
    application.router.add_get("/broken", broken)
    runner, port = web_runner(application), free_port()
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/api/v1/broken") as response:
                assert (response.status, response.content_type) == (500, "application/json")
                body = await response.json()
            async with session.get(f"http://127.0.0.1:{port}/broken") as response:
                assert (response.status, response.content_type) == (500, "text/html")
                assert "boom" not in await response.text()
    finally:
        await runner.cleanup()
    assert body == {
        "error": {"code": "internal_server_error", "message": "something went wrong on our side"}
    }
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 2 and not any(r.exc_info for r in caplog.records)
    assert "Traceback" not in caplog.text
