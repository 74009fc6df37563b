"""Every command the README shows answers something in the demo: the demo's own set-up
(`devtools.demo.set_up`, its people alice and bob, its seed), then each `!…` example of the
README, read from the file, sent by the person who would send it in the room where they would:
alice (the demo's Meta-Mentor) for what needs a role, bob (a mentor in her network) for what
a network's members do, in the network's rooms once the README has made one."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

from bots import BOTS
from bots.network.schema import JOINED, NetworkStore
from core.app import App
from core.commands import Role, UsageError, parse_arguments, split_words
from core.config import parse_config
from core.i18n import Catalog
from devtools.demo import PEOPLE, ROLES, load_seed, set_up
from devtools.homeserver import LocalSynapse, free_port
from devtools.mail import MailCatcher
from tests.bots import ROOT
from tests.network_helpers import direct_chat, join_all, notice_in
from tests.people import Person, reply_to, upload_file
from tests.sustain_helpers import say

# Replies that say a command went wrong or found nothing, by their catalog keys.
FAILURE = re.compile(
    r"^(error|usage)\.|\.(none|unknown\w*|nothing|no_\w+|none_here|which|members_only\w*|"
    r"refused\w*|unknown_topic|alias\.usage|end)$|\.refused\."
)


def readme_examples() -> list[str]:
    """Every `!…` span of the README, in its order, whitespace made single."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    spans = re.findall(r"`(![^`]+)`", text)
    return [" ".join(span.split()) for span in spans if len(span) > 1]


def failure_texts(catalog: Catalog) -> list[re.Pattern[str]]:
    """Every failure text, in every language, as a pattern of the whole reply."""
    patterns = []
    for key in catalog.entries:
        if not FAILURE.search(key):
            continue
        for language in [*catalog.translations, "en"]:
            for count in (1, 2):
                pieces = re.split(r"\{[^}]*\}", catalog.template(language, key, count))
                patterns.append(re.compile(".*".join(map(re.escape, pieces)), re.DOTALL))
    return patterns


class Demo:
    """The demo as a newcomer meets it, and where each example is sent from."""

    def __init__(self, app: App, people: dict[str, Person], room: str) -> None:
        self.app, self.people, self.room = app, people, room
        self.network: dict[str, str] = {}

    def command(self, example: str) -> tuple[Any, dict[str, Any] | None]:
        """The command an example runs, and its parsed arguments (None: named, not run)."""
        body = example[1:]
        if body.startswith("res "):
            body = "resource " + body[4:]
        words = body.split()
        found = self.app.registry.find(words)
        assert found, f"the README names a command that does not exist: {example}"
        cmd, used = found
        text, tokens = split_words(" ".join(words[used:]))
        try:
            return cmd, parse_arguments(cmd, text, tokens)
        except UsageError:
            return cmd, None  # a command named for what it does, its arguments elsewhere

    def where(self, cmd: Any) -> tuple[Person, str]:
        """Who sends the example, and in which room."""
        if not self.network:
            return self.people["alice"], self.room
        if cmd.role is Role.member:
            return self.people["bob"], self.network["general"]
        if cmd.role is not Role.anyone or cmd.bot in ("checkin", "network"):
            return self.people["alice"], self.network["coordination"]
        return self.people["alice"], self.room

    async def network_made(self, name: str) -> None:
        """Alice joins the rooms of the network she created; she invites bob (a new mentor)
        and carol (an experienced one) with the roles the demo names, and they join."""
        alice = self.people["alice"]
        store = NetworkStore(self.app.store)
        net = store.by_name(name)
        assert net is not None
        rooms = {"space": net.space, **net.rooms}
        await join_all(alice, list(rooms.values()))
        wanted = [rooms[p] for p in ("space", "general", "checkins")]
        for who, role in ROLES.items():
            someone = self.people[who]
            invited = await alice.ask(
                rooms["coordination"], f"!network invite {someone.user_id} {role}"
            )
            assert "Invited" in invited.body or "Eingeladen" in invited.body, invited.body
            await invited_to(someone, wanted)
            await join_all(someone, wanted)
        await alice._wait(
            lambda: all(m.status == JOINED for m in store.members(net.id)) or None,
            30,
            lambda: "the network's members joined",
        )
        self.network = rooms

    async def self_check_answered(self) -> None:
        """Alice answers the self-check `!selfcheck` sent to her direct chat, as the README
        asks before `!selfcheck report` (the middle of each scale)."""
        alice = self.people["alice"]
        chat = await direct_chat(alice, self.app.account.user_id, timeout=60)
        await notice_in(alice, chat, "1/14")
        for number in range(2, 15):
            await say(alice, chat, "3", f"{number}/14")
        await say(alice, chat, "3", "Mentors Hamburg")


async def invited_to(someone: Person, rooms: list[str]) -> None:
    """Wait until `someone` is invited to all of `rooms`."""

    def check() -> bool | None:
        return all(r in someone.client.invited_rooms for r in rooms) or None

    await someone._wait(check, 30, lambda: "the invites to the network's rooms")


async def test_every_readme_example_answers_in_the_demo(tmp_path) -> None:
    hs = LocalSynapse(tmp_path / "synapse", rate_limits="relaxed")
    await hs.start()
    stop = asyncio.Event()
    mail = MailCatcher(tmp_path / "mail", free_port())
    people: dict[str, Person] = {}
    running: asyncio.Task[None] | None = None
    try:
        state: dict[str, Any] = {
            "passwords": {name: secrets.token_urlsafe(12) for name in ("mentornet", *PEOPLE)}
        }
        mail.start()
        users, config = await set_up(hs, tmp_path, state, free_port(), mail.port)
        app = App(parse_config(config), BOTS)
        load_seed(app)
        running = asyncio.create_task(app.run(stop))
        for name in PEOPLE:
            password = state["passwords"][name]
            people[name] = await Person.login(hs, users[name], password, encryption=True, name=name)
            await people[name].join(state["room_id"])
            await people[name].wait_joined(state["room_id"], users["mentornet"], timeout=60)
        demo = Demo(app, people, state["room_id"])
        failures = failure_texts(app.catalog)
        examples = readme_examples()
        assert len(examples) > 50
        answered, unanswered, replies = [], [], []
        said: dict[str, Any] = {}
        for example in examples:
            cmd, arguments = demo.command(example)
            if arguments is None:
                continue
            someone, room = demo.where(cmd)
            if cmd.name == "dir import":  # "as a reply to an uploaded file", says the README
                seed = (ROOT / "directory" / "seed.json").read_bytes()
                upload = await upload_file(someone, room, seed, "orgs.json", "application/json")
                sent = await reply_to(someone, room, upload, example)
                reply = await someone.wait_for_reply(room, sent, timeout=60)
            else:
                reply = await someone.ask(room, example, timeout=60)
            failed = [f.pattern for f in failures if f.fullmatch(reply.body.strip())]
            if failed:
                unanswered.append(f"{example!r} as {someone.name}: {reply.body}")
            answered.append(example)
            replies.append(reply.body)
            said[example] = reply
            if cmd.name == "network create":
                await demo.network_made(arguments["name"])
            elif cmd.name == "selfcheck":
                await demo.self_check_answered()
            elif cmd.name in ("lang", "lang room"):  # back to English for the next ones
                await someone.ask(room, example.rsplit(" ", 1)[0] + " en")
        assert not unanswered, "\n".join(unanswered)
        languages = [r for r in replies if "language: de" in r or "is now Nederlands" in r]
        assert not languages, languages  # languages by name, in the reader's language
        # Read as a volunteer: plural forms, words for durations, no zero counts, no ids.
        assert "sent to 2 of 2 mentors." in said["!checkin now"].body  # bob and carol
        # With carol, an experienced mentor, and a finished self-check, these answer for real.
        assert "Buddy-Paar in Mentors Hamburg ist beendet" in said["!buddy end"].body  # bob's: de
        report = said["!selfcheck report"].body
        assert "Mentors Hamburg:** 1 so far" in report and "**Overall:** 3.0" in report, report
        onboarded = said["!network onboard grad@example.org"].body
        assert "**By e-mail:** 1 invitation sent." in onboarded and " 0 " not in onboarded
        for example in ("!network members", "!network invitations", "!checkin resume"):
            zero = re.search(r"\(0 |, 0 | 0 (invited|expired|not sent|open)", said[example].body)
            assert not zero, said[example].body
        settings = said["!checkin settings"].body
        assert "goes out 1 day after" in settings and "closes 2 days after" in settings
        asked = said["!ask Who knows a tax advisor for a client?"].source["content"]
        assert ">öffnen</a>" in asked["formatted_body"] and ">https:" not in asked["formatted_body"]
        assert "!dir search mentoring country:BE lang:fr" in answered
        assert len(answered) > 45, answered
        assert not running.done()
    finally:
        stop.set()
        if running is not None:
            await running
        for someone in people.values():
            await someone.close()
        await hs.stop()
        mail.stop()
