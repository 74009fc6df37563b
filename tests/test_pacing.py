"""Answers go first: while a round goes out to many mentors, the bot asks the homeserver
for only a few of its rooms and messages at a time and answers a person's command before
them (core.sending's two lanes); nothing of the round is lost or sent twice for that."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from bots.network.schema import JOINED, Member, NetworkStore
from core.sending import BULK_MAX
from tests.checkin_helpers import until
from tests.network_helpers import create_network
from tests.people import Person
from tests.proxy import Proxy

MENTORS = 40  # more than the round's own parallelism (24), so it would all go at once


async def test_a_command_is_answered_while_a_big_round_goes_out(mentornet, person, synapse) -> None:
    async with Proxy(synapse.url) as proxy:
        bot = await mentornet(bots={"tick_seconds": 3600}, matrix={"homeserver": proxy.url})
        meta: Person = await person(name="meta", encryption=True)
        net = await create_network(bot, meta, join=("coordination",))
        mentors = [
            await synapse.register(f"quiet-{secrets.token_hex(4)}", secrets.token_hex(8))
            for _ in range(MENTORS)
        ]
        assert bot.app is not None
        networks = NetworkStore(bot.app.store)
        network = networks.by_name(net.name)
        assert network is not None
        now = time.time()
        for user_id in mentors:  # members already (invites and joins of 40 take long)
            networks.save_member(Member(network.id, user_id, "mentor-novice", JOINED,
                                        invited_at=now, joined_at=now))  # fmt: skip
        asker: Person = await person(name="asker")
        room = await bot.room_with(asker)

        proxy.hold_creates = True  # the homeserver is slow to open the round's rooms
        started = asyncio.create_task(meta.ask(net.rooms["coordination"], "!checkin now", 300))
        await until(lambda: proxy.creating >= 1, what="the round began opening rooms")
        answer = await asker.ask(room, "!ping", timeout=60)
        assert "Pong" in answer.body
        assert not started.done()  # answered before the round's first direct message
        assert _sent(bot) == 0
        # The bot did not pile the round onto the slow homeserver: a few rooms at a time.
        assert 1 <= proxy.most_creating <= BULK_MAX

        proxy.release_creates.set()
        reply = await started
        assert f"{MENTORS}" in reply.body, reply.body
        assert _sent(bot) == MENTORS
        parts = bot.app.store.db.execute(
            "SELECT user_id, COUNT(*) FROM checkin_prompts GROUP BY user_id"
        ).fetchall()
        assert len(parts) == MENTORS and {count for _, count in parts} == {4}  # intro, 3 questions


def _sent(bot: Any) -> int:
    return int(bot.app.store.db.execute(
        "SELECT COUNT(*) FROM checkin_deliveries WHERE state = 'sent'").fetchone()[0])  # fmt: skip
