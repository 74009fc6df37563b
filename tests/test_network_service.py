"""The network service the bots share: the network a command is about is found once per
command (by the bot's permission check, then reused by the handler), so the asker's activity
is noted once, whichever bot the command belongs to; posting in a network's rooms acts on a
failed send by the one contract (`SendError`)."""

from __future__ import annotations

from core.clock import FakeClock
from tests.network_helpers import create_network, notice_in
from tests.proxy import Proxy


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
