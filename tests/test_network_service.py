"""The network service the bots share: the network a command is about is found once per
command (by the bot's permission check, then reused by the handler), so the asker's activity
is noted once, whichever bot the command belongs to."""

from __future__ import annotations

from tests.network_helpers import create_network


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
