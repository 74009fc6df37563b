"""`main.py demo`, the README's first command, as a newcomer meets it: start it, log in with
what it prints, talk to the bot, stop it with Ctrl-C, start it again."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from devtools.homeserver import LocalSynapse, free_port
from tests.bots import ROOT
from tests.people import Person


async def start_demo(
    data: Path, port: int, web_port: int
) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "demo", "--data", str(data), "--port", str(port),
        "--web-port", str(web_port), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    output = ""
    while "Ctrl-C stops everything" not in output:
        line = await asyncio.wait_for(process.stdout.readline(), 90)
        assert line, f"demo ended early:\n{output}"
        output += line.decode()
    drain = asyncio.create_task(process.stdout.read())  # keep reading its log
    process.drain = drain  # type: ignore[attr-defined]  (kept alive with the process)
    return process, output


async def burst_of_messages(hs_url: str, token: str, room: str, count: int) -> list[int]:
    """Send `count` messages as fast as possible, without retrying: the HTTP statuses."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        statuses = []
        for n in range(count):
            url = f"{hs_url}/_matrix/client/v3/rooms/{room}/send/m.room.message/burst{n}"
            async with http.put(url, json={"msgtype": "m.text", "body": f"hello {n}"}) as reply:
                statuses.append(reply.status)
        return statuses


async def test_demo_runs_a_homeserver_and_the_bots(tmp_path) -> None:
    port, taken = free_port(), socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()  # someone else already serves on the web port the demo is asked for
    web_port = taken.getsockname()[1]
    try:
        process, banner = await start_demo(tmp_path, port, web_port)
    finally:
        taken.close()
    try:
        assert f"http://127.0.0.1:{port}" in banner
        moved = re.search(rf"Port {web_port} is taken, so the web pages use port (\d+)", banner)
        assert moved, banner
        health_url = f"http://127.0.0.1:{moved.group(1)}/healthz"
        async with aiohttp.ClientSession() as http, http.get(health_url) as health:
            assert health.status == 200
        assert f"Logins are saved in {tmp_path / 'demo.json'}" in banner
        assert " INFO " not in banner  # the console keeps quiet; the log goes to a file
        assert f"{tmp_path / 'mail'}/ as .eml files" in banner
        alice, password = re.search(r"(@alice:\S+)\s+password (\S+)", banner).groups()
        room = re.search(r"'mentornet demo' \((![^)]+)\)", banner).group(1)
        hs = LocalSynapse(tmp_path / "synapse", port=port)  # only to address it, not started
        someone = await Person.login(hs, alice, password, encryption=True, name="alice")
        try:
            answer = await someone.ask(room, "!ping", timeout=60)  # an encrypted room
            assert "Pong" in answer.body
            found = await someone.ask(room, "!dir search mentoring")
            assert "listed by mentornet demo network" in found.body  # the seed is loaded
            readme = await someone.ask(room, "!dir search mentoring country:BE lang:fr")
            assert "DUO for a JOB" in readme.body or "Hefboom" in readme.body, readme.body
            statuses = await burst_of_messages(hs.url, someone.client.access_token, room, 30)
            assert 429 not in statuses, statuses  # the demo people are never throttled
            created = await someone.ask(room, '!network create "Demo Mentors"', timeout=60)
            assert "is ready" in created.body
            mailed = await someone.ask(room, "!network onboard grad@example.org", timeout=60)
            assert "sent it to you in our direct chat" in mailed.body  # addresses: private
            (eml,) = (tmp_path / "mail").glob("*.eml")  # the demo's mail catcher kept it
            assert b"grad@example.org" in eml.read_bytes()
        finally:
            await someone.close()
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    console = banner + (await process.drain).decode()  # type: ignore[attr-defined]
    assert " INFO " not in console
    assert "command" in (tmp_path / "mentornet.log").read_text()

    state = json.loads((tmp_path / "demo.json").read_text())
    process, again = await start_demo(tmp_path, port, web_port)
    process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(process.wait(), 30) == 0
    assert state["room_id"] in again and state["passwords"]["alice"] in again  # reused
