"""The network service the bots share: the network a command is about is found once per
command (by the bot's permission check, then reused by the handler), so the asker's activity
is noted once, whichever bot the command belongs to; posting in a network's rooms acts on a
failed send by the one contract (`SendError`)."""

from __future__ import annotations

import asyncio

from bots import BOTS
from bots.network.schema import NetworkRow
from bots.network.service import Networks
from core.app import App
from core.clock import FakeClock
from core.commands import Bot, Command, Option
from core.commands import command as declare
from core.context import Context
from core.text import Text
from tests.network_helpers import create_network, notice_in
from tests.proxy import Proxy


class Lookout(Bot):
    """A bot with one command that declares the network it acts on, as the product's bots
    do: it answers with the network its handler was given, and keeps what it was given."""

    name = "lookout"

    def __init__(self, app: App) -> None:
        self.networks = app.service(Networks)
        self.given: list[str] = []

    async def network_for(self, ctx: Context, cmd: Command, name: str | None) -> NetworkRow | None:
        return await self.networks.find(ctx, name)

    @declare(
        "lookout",
        options=[Option("network", placeholder="name")],
        network=True,
        help="network.info.help",
    )
    async def lookout(self, ctx: Context, net: NetworkRow) -> None:
        self.given.append(net.name)
        await ctx.reply(Text.plain(f"Looking at {net.name}"))


async def test_a_command_finds_its_network_and_notes_activity_once(mentornet, person) -> None:
    bot = await mentornet()
    meta = await person(name="metamentor")
    net = await create_network(bot, meta, "Hamburg Mentors")
    assert bot.app is not None
    activity: list[str] = []

    def note(statement: str) -> None:
        if "SET last_active" in statement:
            activity.append(statement)

    bot.app.store.db.conn.set_trace_callback(note)
    # Coordinator commands of three bots, asked from the Meta-Mentor's own room with the bot
    # (not a network room: the network is found by the asker's membership).
    answers = {
        "!network members": "Hamburg Mentors",
        "!checkin status": "Hamburg Mentors",
        "!buddies": "Hamburg Mentors",
    }
    for command, expected in answers.items():
        activity.clear()
        answer = await meta.ask(net.office, command)
        assert expected in answer.body, (command, answer.body)
        assert len(activity) == 1, (command, activity)


async def test_a_digest_the_homeserver_refused_for_now_comes_at_the_next_tick(
    mentornet, person, synapse
) -> None:
    """A post of periodic work that fails for a reason that can pass (the homeserver behind
    its proxy restarting) is left for the next tick, not dropped."""
    async with Proxy(synapse.url) as proxy:
        clock = FakeClock()
        bot = await mentornet(clock=clock, matrix={"homeserver": proxy.url})
        meta = await person(name="metamentor", encryption=True)  # reads the office room
        net = await create_network(bot, meta, "Digest Net", join=("coordination",))
        assert bot.app is not None
        await bot.app.tick()  # the network is seen: its first digest is due in a week
        clock.advance(days=8)
        proxy.refuse_sends = 1_000  # every send fails for now
        await bot.app.tick()
        assert proxy.refused
        proxy.refuse_sends = 0
        await bot.app.tick()
        digest = await notice_in(meta, net.rooms["coordination"], "Weekly digest of Digest Net")
        assert "Members" in digest.body, digest.body


async def test_a_command_acting_on_a_network_runs_only_with_one(mentornet, person) -> None:
    """A handler that declares the network it acts on is not called when there is none (one
    line says why, nothing is written) and is called with it when there is."""
    made: list[Lookout] = []

    def make(app: App) -> Lookout:
        made.append(Lookout(app))
        return made[-1]

    bot = await mentornet(start=False)
    bot.bots = [*BOTS, make]
    await bot.start()
    lookout = made[0]
    meta = await person(name="metamentor")
    net = await create_network(bot, meta, "Hamburg Mentors")
    stranger = await person(name="stranger")
    room = await bot.room_with(stranger)
    assert bot.app is not None
    db = bot.app.store.db

    refusals = {  # a stranger: in no network, naming none there is, or not one of its members
        "!lookout": "not part of a mentoring network",
        "!lookout network:Nowhere": "no network called “Nowhere”",
        "!ask Where do I register a flat?": "not part of a mentoring network",
        '!goals network:"Hamburg Mentors"': "Only members of Hamburg Mentors may use `!goals`",
    }
    asked = {}
    for command_text, expected in refusals.items():
        asked[command_text] = await stranger.send(room, command_text)
        answer = await stranger.wait_for_reply(room, asked[command_text])
        assert expected in answer.body, (command_text, answer.body)
    await asyncio.sleep(1)  # time for a second answer to show
    assert [len(stranger.replies_to(room, event)) for event in asked.values()] == [1] * 4
    assert lookout.given == []
    assert db.execute("SELECT COUNT(*) FROM questions").fetchone()[0] == 0

    answer = await meta.ask(net.office, "!lookout")  # found by the Meta-Mentor's membership
    assert answer.body == "Looking at Hamburg Mentors", answer.body
    named = await stranger.ask(room, '!lookout network:"Hamburg Mentors"')
    assert named.body == "Looking at Hamburg Mentors", named.body
    assert lookout.given == ["Hamburg Mentors", "Hamburg Mentors"]
