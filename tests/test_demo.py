"""`main.py demo`, the README's first command, as a newcomer meets it: start it, log in with
what it prints, talk to the bot, stop it with Ctrl-C, start it again."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
from pathlib import Path

from core.homeserver import LocalSynapse, free_port
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


async def test_demo_runs_a_homeserver_and_the_bots(tmp_path) -> None:
    port, web_port = free_port(), free_port()
    process, banner = await start_demo(tmp_path, port, web_port)
    try:
        assert f"http://127.0.0.1:{port}" in banner
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

    state = json.loads((tmp_path / "demo.json").read_text())
    process, again = await start_demo(tmp_path, port, web_port)
    process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(process.wait(), 30) == 0
    assert state["room_id"] in again and state["passwords"]["alice"] in again  # reused
