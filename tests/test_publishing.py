"""Publishing goes out as soon as something changes, and every answer says truthfully what
has happened and what will: an import on the command line beside the running bot, a public
resource shared before the bot is in the exchange room or before our network is approved.
The bots here tick once an hour, so nothing below waits for a tick."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sys
from typing import Any

from directory.publishing import PublisherLock, publisher_running
from tests.bots import ROOT, RunningBot
from tests.federation_helpers import build_europe, dir_bot, until
from tests.test_resources_federation import mirrored

HOURLY = {"tick_seconds": 3600}
PROMPT = 8  # seconds: what used to wait for the next tick must arrive well within this
RECORD = {
    "organizations": [
        {
            "id": "lighthouse-welcome",
            "name": "Lighthouse Welcome Centre",
            "description": "Mentoring for newly arrived families",
            "locations": [{"city": "Gent", "country": "BE"}],
        }
    ]
}


async def import_on_command_line(bot: RunningBot, tmp_path: Any) -> str:
    """`main.py directory import` in a process of its own, as an operator runs it."""
    orgs = tmp_path / "orgs.json"
    orgs.write_text(json.dumps(RECORD))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "directory", "import", str(orgs),
        "--config", str(bot.write_config()), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    return out.decode()


def listed(bot: RunningBot) -> int:
    """How many entries the bot's searchable mirror finds for the imported organisation (our
    own entries come back into it from the directory room, as everyone else's)."""
    return dir_bot(bot).directory.search("Lighthouse").total


async def test_a_command_line_import_beside_the_running_bot_is_published_at_once(
    mentornet, person, tmp_path
) -> None:
    bot = await mentornet(bots=HOURLY)
    reader = await person(name="reader")
    room = await bot.room_with(reader)

    out = await import_on_command_line(bot, tmp_path)
    assert "1 added" in out and "the running bot has published them" in out
    await until(lambda: listed(bot), timeout=PROMPT)
    found = await reader.ask(room, "!dir search Lighthouse")
    assert "Lighthouse Welcome Centre" in found.body


async def test_a_command_line_import_with_no_bot_running_waits_for_it(mentornet, tmp_path) -> None:
    bot = await mentornet(bots=HOURLY)
    await bot.stop()
    out = await import_on_command_line(bot, tmp_path)
    assert "1 added" in out and "no bot is running: they will be published when it starts" in out
    await bot.start()
    await until(lambda: listed(bot), timeout=PROMPT)


async def test_a_public_share_without_a_european_space_says_it_waits(mentornet, person) -> None:
    bot = await mentornet(bots=HOURLY)
    editor = await person(name="editor")
    room = await bot.room_with(editor)
    added = await editor.ask(room, '!res share https://example.org/a "Guide A" public')
    assert "Added" in added.body and "shared it with the other networks" not in added.body
    assert "once this network has joined the European directory" in added.body
    await editor.ask(room, '!res share https://example.org/b "Guide B"')
    published = await editor.ask(room, "!res publish 2")
    assert "is marked public" in published.body
    assert "once this network has joined the European directory" in published.body


async def test_public_shares_go_out_at_once_and_the_answers_say_when(
    federation, mentornet, person
) -> None:
    """Network A's bot made the space but has not read the exchange room yet (no tick): a
    share there goes out at once. Network B, in the space but not yet approved, says that its
    share waits for the approval, and posts it as soon as the approval reaches it."""
    waiting: dict[str, Any] = {}

    async def after_join(europe: dict[str, Any]) -> None:
        await europe["b"].app.tick()  # B's scheduled work, once: it enters the exchange room
        waiting["answer"] = await europe["reader_b"].ask(
            europe["room_b"], '!res share https://b.example/guide "Guide from B" public'
        )

    europe = await build_europe(
        federation, mentornet, person, bots_a=HOURLY, bots_b=HOURLY, after_join=after_join
    )
    answer = waiting["answer"].body
    assert "shared it with the other networks" not in answer
    assert "as soon as an admin of the European directory has approved our network" in answer
    await until(lambda: [t for t, _ in mirrored(europe["a"])] == ["Guide from B"], PROMPT)

    added = await europe["editor_a"].ask(
        europe["room_a"], '!res share https://a.example/guide "Guide from A" public'
    )
    assert "shared it with the other networks" in added.body
    await until(lambda: [t for t, _ in mirrored(europe["b"])] == ["Guide from A"], PROMPT)


async def test_the_publisher_lock_tells_the_command_line_whether_a_bot_runs(tmp_path) -> None:
    database = tmp_path / "mentornet.db"
    assert not publisher_running(database)
    lock = PublisherLock(database)
    assert await lock.acquire()
    assert publisher_running(database)
    assert not await PublisherLock(database).acquire()  # a second instance on the same database
    lock.release()
    assert not publisher_running(database)


async def test_waiting_for_the_publisher_lock_holds_up_no_other_work(tmp_path) -> None:
    """While a command line checks the lock, the starting bot tries again; meanwhile the
    event loop runs on: here the very work that lets the lock go (with a blocking wait,
    it could not run before the bot gave up)."""
    database = tmp_path / "mentornet.db"
    first = PublisherLock(database)
    assert await first.acquire()  # the lock file exists once a bot has run
    first.release()
    checker = os.open(f"{database}.publisher", os.O_RDWR)
    fcntl.flock(checker, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a command line checking, right now
    happened: list[str] = []

    async def command_line_done() -> None:
        await asyncio.sleep(0)  # runs only if the bot's wait lets the event loop go on
        happened.append("checked")
        os.close(checker)

    lock = PublisherLock(database)
    released = asyncio.create_task(command_line_done())
    assert await lock.acquire()
    happened.append("acquired")
    await released
    assert happened == ["checked", "acquired"]
    assert not await PublisherLock(database).acquire()  # the lock still excludes a second
    lock.release()
