"""The runtime under the bots: restarts, outages, rate limits, encryption, invites and room
upgrades, each driven through a real homeserver."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys

import nio

from devtools.homeserver import LocalSynapse
from tests.bots import ROOT
from tests.people import Person, in_reply_to


def bodies_replying_to(someone: Person, room: str, event_id: str) -> list[str]:
    return [e.body for e in someone.replies_to(room, event_id)]


async def test_first_start_ignores_history(mentornet, person, synapse) -> None:
    bot = await mentornet(start=False)
    mentor: Person = await person()
    room = await mentor.create_room(invite=[bot.user_id])
    # The bot's account joins before mentornet ever runs: the old command is history.
    joiner = await Person.login(synapse, bot.user_id, bot.password, name="bot-account")
    await joiner.join(room)
    await joiner.close()
    old = await mentor.send(room, "!ping")

    await bot.start()
    new = await mentor.send(room, "!ping")
    await mentor.wait_for_reply(room, new)
    await asyncio.sleep(0.5)
    assert mentor.replies_to(room, old) == []


async def test_restart_neither_replays_nor_loses_commands(mentornet, person) -> None:
    bot = await mentornet(start=False)
    await bot.spawn()  # `main.py run` as a real process, stopped by SIGTERM below
    mentor: Person = await person()
    room = await bot.room_with(mentor)
    first = await mentor.ask(room, "!ping")
    device = bot_device(bot)

    assert await bot.terminate(signal.SIGTERM) == 0
    missed = [await mentor.send(room, "!ping") for _ in range(60)]  # more than a sync page
    await bot.spawn()

    for command in missed:
        await mentor.wait_for_reply(room, command)
    await asyncio.sleep(1)
    assert all(len(mentor.replies_to(room, c)) == 1 for c in missed)
    assert len(mentor.replies_to(room, in_reply_to(first))) == 1
    replies = [e for r, e in mentor.events if r == room and in_reply_to(e) in missed]
    assert [in_reply_to(e) for e in replies] == missed  # in the order they were sent
    assert bot_device(bot) == device  # a restart is not a new device
    assert await bot.terminate(signal.SIGINT) == 0


def bot_device(bot) -> str:
    with sqlite3.connect(bot.folder / "mentornet.db") as db:
        key = f"account:{bot.user_id}:device_id"
        return db.execute("SELECT value FROM kv WHERE key = ?", [key]).fetchone()[0]


async def test_crash_mid_work_answers_exactly_once(mentornet, person) -> None:
    bot = await mentornet(start=False)
    await bot.spawn()
    mentor: Person = await person()
    room = await bot.room_with(mentor)
    commands = [await mentor.send(room, "!ping") for _ in range(10)]
    await asyncio.sleep(0.15)
    await bot.terminate(signal.SIGKILL)  # no clean shutdown at all
    await bot.spawn()
    for command in commands:
        await mentor.wait_for_reply(room, command)
    await asyncio.sleep(1)
    assert [len(mentor.replies_to(room, c)) for c in commands] == [1] * 10
    await bot.terminate()


async def test_homeserver_away_and_back(mentornet, person, new_user, tmp_path) -> None:
    async with LocalSynapse(tmp_path / "hs") as hs:
        bot = await mentornet(hs=hs)
        mentor: Person = await person(hs)
        room = await bot.room_with(mentor)
        assert "Pong" in (await mentor.ask(room, "!ping")).body
        assert await bot.health() == 200

        await hs.stop()
        await wait_for(lambda: bot.health(), 503, timeout=30)
        await asyncio.sleep(2)  # the bot keeps retrying with back-off meanwhile
        await hs.start()

        await wait_for(lambda: bot.health(), 200, timeout=30)
        assert "Pong" in (await mentor.ask(room, "!ping", timeout=60)).body
        await bot.stop()


async def wait_for(probe, expected, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := await probe()) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"still {value}, not {expected}"
        await asyncio.sleep(0.2)


async def test_every_reply_arrives_in_order_under_rate_limits(
    mentornet, person, strict_synapse
) -> None:
    bot = await mentornet(hs=strict_synapse)
    mentor: Person = await person(strict_synapse)
    room = await bot.room_with(mentor)
    commands = [await mentor.send(room, "!ping") for _ in range(20)]  # 2/s, burst 5
    for command in commands:
        await mentor.wait_for_reply(room, command, timeout=60)
    replies = [in_reply_to(e) for r, e in mentor.events if r == room and in_reply_to(e) in commands]
    assert replies == commands


async def test_command_in_an_encrypted_room(mentornet, person) -> None:
    bot = await mentornet()
    mentor: Person = await person(encryption=True)
    room = await bot.room_with(mentor, encrypted=True)
    command = await mentor.send(room, "!ping")
    answer = await mentor.wait_for_reply(room, command, timeout=60)
    assert isinstance(answer, nio.RoomMessageNotice)  # decrypted by the mentor's client
    assert answer.decrypted and "Pong" in answer.body
    said = [e for r, e in mentor.events if r == room and e.sender == bot.user_id]
    messages = [e for e in said if e.source["type"] == "m.room.message"]
    assert messages and all(e.decrypted for e in messages)  # nothing the bot said was in clear


async def test_invites_only_from_allowed_people(mentornet, person) -> None:
    welcome: Person = await person(name="member")
    bot = await mentornet(
        matrix={"invites": {"allow_servers": [], "allow_users": [welcome.user_id]}}
    )
    stranger: Person = await person(name="stranger")

    room = await stranger.create_room(invite=[bot.user_id])
    left = await stranger.wait_for_event(
        lambda e: (
            isinstance(e, nio.RoomMemberEvent)
            and e.state_key == bot.user_id
            and e.membership == "leave"
        ),
        timeout=30,
    )
    assert "invited by" in (left.content.get("reason") or "")
    assert room

    ok_room = await bot.room_with(welcome)
    assert "Pong" in (await welcome.ask(ok_room, "!ping")).body


async def test_follows_room_upgrades(mentornet, person) -> None:
    bot = await mentornet()
    metamentor: Person = await person(name="metamentor")
    room = await bot.room_with(metamentor)
    await metamentor.ask(room, "!lang room de")

    new_room = await metamentor.upgrade_room(room, invite=[bot.user_id])
    await metamentor.wait_joined(new_room, bot.user_id, timeout=30)
    answer = await metamentor.ask(new_room, "!ping")
    assert "bearbeitet" in answer.body  # the room's settings moved with it


async def test_health_and_backup_while_running(mentornet, person, tmp_path) -> None:
    bot = await mentornet(start=False)
    await bot.spawn()
    mentor: Person = await person()
    room = await bot.room_with(mentor)
    await mentor.ask(room, "!lang de")
    config = bot.write_config()

    backup = tmp_path / "copy.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "backup", str(backup), "--config", str(config), cwd=ROOT
    )
    assert await process.wait() == 0
    with sqlite3.connect(backup) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT language FROM user_settings WHERE user_id = ?", [mentor.user_id])
        assert rows.fetchone()[0] == "de"
    await bot.terminate()


async def test_message_whose_key_arrives_late_is_answered_once_it_does(mentornet, person) -> None:
    bot = await mentornet()
    mentor: Person = await person(encryption=True)
    room = await bot.room_with(mentor, encrypted=True)
    await mentor.ask(room, "!ping", timeout=60)  # sets up the Olm session between the devices

    late = await mentor.send_with_late_key(room, "!lang de", recipient=bot.user_id)
    marker = await mentor.ask(room, "!ping")  # a later command, under the shared session
    assert "Handled in" in marker.body  # English: the !lang de is not readable yet
    assert mentor.replies_to(room, late.event_id) == []

    await late.deliver()
    answer = await mentor.wait_for_reply(room, late.event_id, timeout=30)
    assert "Deutsch" in answer.body
    assert "bearbeitet" in (await mentor.ask(room, "!ping")).body
