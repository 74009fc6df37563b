"""Only the network's people act for the network: a plain person (power level 0 in every room
of the network) who creates a room of their own, such as a direct chat with the bot, outranks
everyone in it (room version 12), and that must not let them run any command that needs a
role. Every such command of every bot is tried from their own rooms, through a real
homeserver; a real coordinator and a configured editor still may."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import nio

from bots import BOTS
from core.commands import Bot, Role, Scope, command
from core.context import Context
from core.text import Text
from tests.federation_helpers import dir_bot, until
from tests.network_helpers import Net, create_network, member_joins
from tests.people import Person, reply_to, upload_file

# Plausible arguments for every command that needs a role (and for those anyone may run on
# what they shared themselves: tried on what someone else shared). `{org}` is an entry of the
# directory, `{someone}` a person not yet in the network, `{plain}` the asker.
ARGUMENTS = {
    "network invitations": "",
    "network invitations cancel": "someone@example.org",
    "network invitations remind": "",
    "buddies": "",
    "checkin close": "",
    "checkin export": "",
    "checkin now": "",
    "checkin question add": '"How was your week?"',
    "checkin question remove": "1",
    "checkin questions": "",
    "checkin schedule": "every 2 weeks on thu 18:30",
    "checkin settings": "remind:24h",
    "checkin stats": "weeks:12",
    "checkin status": "",
    "digest": "",
    "dir add": '"Fake org" city:Gent country:BE website:https://fake.example',
    "dir edit": "{org} city:Nowhere",
    "dir remove": "{org}",
    "dir import": "",  # sent as a reply to an uploaded file
    "event add": '"Plenary" 2027-01-14 18:00 tz:Europe/Brussels',
    "event cancel": "1",
    "event timezone": "Europe/Berlin",
    "events feed renew": "",
    "goal add": '"Forty mentors" due:2027-06-30',
    "goal update": "1 60",
    "impact": "",
    "impact export": "",
    "lang room": "de",
    "network agreement set": "We agree to everything.",
    "network invite": "{someone} coordinator",
    "network members": "",
    "network onboard": "{someone}",
    "network role": "{plain} meta-mentor",
    "network rules set": "No rules.",
    "questions escalate": "48",
    "resource files": "on",
    "resource publish": "1",
    "resource remove": "1",
    "resource unpublish": "2",
    "selfcheck": "",
    "selfcheck report": "",
}
# Anyone may run these, on what they shared themselves; tried here on someone else's.
ON_WHAT_THEY_SHARED = {"resource publish", "resource remove", "resource unpublish"}
IMPORT = (
    b'{"organizations": [{"id": "fake-1", "name": "Fake import", "website": "https://x.example"}]}'
)


def snapshot(database: Path) -> dict[str, list[tuple]]:
    """Everything the instance keeps, but its bookkeeping of the sync (tokens, the inbox,
    handled events) and when members were last active."""
    skip = {"kv", "inbox", "handled_events", "undecrypted"}
    with sqlite3.connect(database) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = {}
        for table in tables:
            if table in skip or table.startswith("sqlite_") or "_fts" in table:
                continue
            columns = [c[1] for c in db.execute(f'PRAGMA table_info("{table}")')]
            kept = ", ".join(f'"{c}"' for c in columns if c != "last_active")
            rows[table] = sorted(map(repr, db.execute(f'SELECT {kept} FROM "{table}"')))
    return rows


def changed(before: dict[str, list], after: dict[str, list]) -> list[str]:
    return sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))


async def own_direct_chat(someone: Person, bot_user: str) -> str:
    """A direct chat with the bot as Element makes it: `someone` creates it and is its
    creator; the bot is invited with the same power level."""
    response = await someone.client.room_create(
        is_direct=True, preset=nio.RoomPreset.trusted_private_chat, invite=[bot_user]
    )
    room_id = someone._check(response, nio.RoomCreateResponse, "create a direct chat").room_id
    await someone.wait_joined(room_id, someone.user_id)
    await someone.wait_joined(room_id, bot_user, timeout=30)
    return room_id


async def network_with_plain_member(mentornet, person, **settings) -> tuple[Net, Person]:
    """A network whose Meta-Mentor shared two resources (the second public); `plain` is a
    mentor in it, at power level 0 in every room."""
    bot = await mentornet(**settings)
    meta: Person = await person(name="metamentor")
    plain: Person = await person(name="plain")
    net = await create_network(bot, meta, join=("resources",))
    invited = await meta.ask(net.office, f"!network invite {plain.user_id} mentor-novice")
    assert "Invited" in invited.body, invited.body
    await member_joins(net, plain, ("resources",))
    room = net.rooms["resources"]
    assert "#1" in (await meta.ask(room, '!res share https://example.org/a "Guide A"')).body
    shared = await meta.ask(room, '!res share https://example.org/b "Guide B" public')
    assert "#2" in shared.body
    return net, plain


async def refused_without_change(
    bot, plain: Person, room: str, name: str, arguments: str, file_event: str | None
) -> None:
    """`plain` sends `!name arguments` in `room`: refused with one line, nothing changed."""
    database = bot.folder / "mentornet.db"
    before = snapshot(database)
    text = f"!{name} {arguments}".strip()
    if name == "dir import":
        sent = await reply_to(plain, room, file_event, text)
        answer = await plain.wait_for_reply(room, sent)
    else:
        answer = await plain.ask(room, text)
    assert answer.body.startswith("Only"), f"{text!r} in {room}: {answer.body}"
    assert changed(before, snapshot(database)) == [], f"{text!r} changed the instance"


async def test_no_role_command_runs_from_a_room_the_asker_created(mentornet, person) -> None:
    net, plain = await network_with_plain_member(mentornet, person)
    bot, app = net.bot, net.bot.app
    added = await net.meta.ask(net.office, "!dir add Real Org city:Gent country:BE")
    org = added.body.split("(`")[1].split("`)")[0]
    someone: Person = await person(name="someone")
    values = {"org": org, "someone": someone.user_id, "plain": plain.user_id}

    needs_role = {cmd.name: cmd for cmd in app.registry.commands.values() if cmd.role > Role.member}
    missing = sorted(needs_role.keys() - ARGUMENTS.keys())
    assert not missing, f"add these commands to ARGUMENTS: {missing}"
    tried = {
        **needs_role,
        **{n: app.registry.commands[tuple(n.split())] for n in ON_WHAT_THEY_SHARED},
    }

    direct = await own_direct_chat(plain, bot.user_id)
    group = await bot.room_with(plain, invite=[someone.user_id])
    network_room = net.rooms["resources"]
    files = {
        room: await upload_file(plain, room, IMPORT, "orgs.json", "application/json")
        for room in (direct, group, network_room)
    }
    for name, cmd in sorted(tried.items()):
        arguments = ARGUMENTS[name].format(**values)
        # A command that changes only its own room is the room's to decide: in a room the
        # asker created it is theirs, in the network's room their level there (0) counts.
        rooms = [network_room] if cmd.scope is Scope.room else [direct, group]
        for room in rooms:
            await refused_without_change(bot, plain, room, name, arguments, files[room])

    directory = dir_bot(bot).directory
    assert directory.search("Fake").total == 0 and directory.get(org) is not None

    # `!help` lists what the asker may run there, by the same rule.
    listed = await every_help(plain, direct, app.registry.bots())
    for cmd in needs_role.values():
        assert (app.usage(cmd) in listed) is (cmd.scope is Scope.room), cmd.name


async def every_help(someone: Person, room: str, bots: list[str]) -> str:
    """What `!help` and `!help <bot>` for every bot list for someone in a room."""
    bodies = [(await someone.ask(room, "!help")).body]
    bodies += [(await someone.ask(room, f"!help {bot}")).body for bot in bots]
    return "\n".join(bodies)


async def test_dir_add_from_own_direct_chat_only_by_the_networks_people(mentornet, person) -> None:
    editor: Person = await person(name="editor")  # configured, in no network
    settings = {"directory": {"editors": [editor.user_id]}}
    net, plain = await network_with_plain_member(mentornet, person, **settings)
    bot, meta = net.bot, net.meta
    coordinator: Person = await person(name="coordinator")
    invited = await meta.ask(net.office, f"!network invite {coordinator.user_id} coordinator")
    assert "Invited" in invited.body, invited.body
    await member_joins(net, coordinator)

    chat = await own_direct_chat(plain, bot.user_id)
    refused = await plain.ask(chat, '!dir add "Fake org" city:Gent country:BE')
    assert refused.body.startswith("Only the network's"), refused.body
    assert "!dir add" not in (await plain.ask(chat, "!help dir")).body
    directory = dir_bot(bot).directory
    assert directory.search("Fake").total == 0  # nothing was stored, nothing published
    assert not bot.app.store.db.execute("SELECT 1 FROM directory_local").fetchall()

    for who, name in ((coordinator, "Coordinated Org"), (editor, "Edited Org")):
        own = await own_direct_chat(who, bot.user_id)
        assert "!dir add" in (await who.ask(own, "!help dir")).body
        added = await who.ask(own, f'!dir add "{name}" city:Gent country:BE')
        assert f"Added **{name}**" in added.body and added.body.endswith("; published."), added.body
        await until(lambda n=name: directory.search(n).total == 1)  # via the directory room

    # The library is the instance's too: a coordinator may remove what others shared, from
    # anywhere; the plain mentor may not, not even from the room they made.
    assert (await plain.ask(chat, "!res remove 1")).body.startswith("Only those who shared")
    coordinators_chat = await own_direct_chat(coordinator, bot.user_id)
    assert "Removed #1" in (await coordinator.ask(coordinators_chat, "!res remove 1")).body


class Probe(Bot):
    """A bot that leaves its coordinator command to the runtime's default rule."""

    name = "probe"

    def __init__(self, app: Any) -> None:
        self.app = app

    @command("probe", role=Role.coordinator, help="ping.help")
    async def probe(self, ctx: Context) -> None:
        await ctx.reply(Text.plain("probe ran"))


async def test_the_runtimes_default_rule_reads_the_network_not_the_room(mentornet, person) -> None:
    """A command whose bot does not decide itself: the asker's level in a network counts,
    the room they made does not."""
    bot = await mentornet(start=False)
    bot.bots = [*BOTS, Probe]
    await bot.start()
    meta: Person = await person(name="metamentor")
    plain: Person = await person(name="plain")
    await create_network(bot, meta)

    chat = await own_direct_chat(plain, bot.user_id)
    refused = await plain.ask(chat, "!probe")
    assert refused.body.startswith("Only") and "power level in its rooms is 0" in refused.body
    assert "!probe" not in (await plain.ask(chat, "!help")).body
    own = await own_direct_chat(meta, bot.user_id)  # a Meta-Mentor of a network may, anywhere
    assert "probe ran" in (await meta.ask(own, "!probe")).body
    assert "probe: `!probe`" in (await meta.ask(own, "!help")).body  # a bot with no title


# What a member command needs to get past its parsing (the rest run without arguments).
MEMBER_ARGUMENTS = {"ask": "How do I start?"}


async def test_help_lists_only_what_the_asker_may_run(mentornet, person) -> None:
    """`!help` as someone in no network, a mentor and a coordinator, each in a direct chat
    they opened: the commands for a network's members appear only to its members (and are
    refused, in one line, to the others); coordinators' only to coordinators."""
    net, plain = await network_with_plain_member(mentornet, person)
    bot, app = net.bot, net.bot.app
    coordinator: Person = await person(name="coordinator")
    invited = await net.meta.ask(net.office, f"!network invite {coordinator.user_id} coordinator")
    assert "Invited" in invited.body, invited.body
    await member_joins(net, coordinator)
    outsider: Person = await person(name="outsider")  # in no network

    commands = app.registry.commands.values()
    for_members = [cmd for cmd in commands if cmd.role is Role.member]
    # (a command that changes only its room is theirs in a room they made: not counted here)
    for_office = [
        cmd for cmd in commands if cmd.role is Role.coordinator and cmd.scope is Scope.network
    ]
    assert {"goals", "ask", "events", "checkin skip"} <= {cmd.name for cmd in for_members}
    bots = app.registry.bots()
    seen = {}
    for who in (outsider, plain, coordinator):
        seen[who.user_id] = await every_help(who, await own_direct_chat(who, bot.user_id), bots)

    def listed(who: Person, cmds: list) -> set[str]:
        return {cmd.name for cmd in cmds if app.usage(cmd) in seen[who.user_id]}

    assert listed(outsider, for_members) == set()
    assert listed(plain, for_members) == {cmd.name for cmd in for_members}
    assert listed(plain, for_office) == set()
    assert listed(coordinator, for_members) == {cmd.name for cmd in for_members}
    assert listed(coordinator, for_office) >= {"checkin schedule", "goal add", "event add"}
    assert "!help" in seen[outsider.user_id] and "!dir search" in seen[outsider.user_id]

    chat = await own_direct_chat(outsider, bot.user_id)
    for cmd in for_members:
        text = f"!{cmd.name} {MEMBER_ARGUMENTS.get(cmd.name, '')}".strip()
        answer = await outsider.ask(chat, text)
        assert "you are not a member of one" in answer.body, (text, answer.body)
    details = await outsider.ask(chat, "!help goals")
    assert "Only the members of a mentoring network may use it." in details.body, details.body
