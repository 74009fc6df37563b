"""From MOOC graduate to network member, by e-mail: `!network onboard` with addresses sends
the invitation through a real SMTP server on loopback (aiosmtpd, read back with the stdlib
`email` parser); the graduate registers on the test Synapse with the one-time token, sends the
code to the bot and is a member. Wrong, expired and used codes, the mail server down and back,
reminders and `!me forget` are covered too."""

from __future__ import annotations

import asyncio
import email
import json
import logging
import re
import secrets
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import aiohttp
import pytest

from core.clock import FakeClock
from devtools.homeserver import LocalSynapse, free_port
from devtools.mail import MailCatcher
from tests.checkin_helpers import known_as, until
from tests.network_helpers import (
    create_network,
    database_rows,
    download_file,
    invited_rooms,
    member_joins,
    mentions,
    network_names,
    notice_in,
    wait_for_level,
)
from tests.people import Person

CODE = re.compile(r"MN-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")


class Mailbox:
    """A real SMTP server on 127.0.0.1 that can go down and come back on the same port."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.catcher: MailCatcher | None = None

    def up(self) -> None:
        self.catcher = MailCatcher(self.folder, self.port)
        self.catcher.start()

    def down(self) -> None:
        if self.catcher is not None:
            self.catcher.stop()
            self.catcher = None

    def settings(self, **extra: object) -> dict[str, object]:
        smtp = {"host": "127.0.0.1", "port": self.port, "security": "none",
                "sender": "office@mentors.example"}  # fmt: skip
        return {"smtp": smtp, **extra}

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(path.read_bytes(), policy=default_policy)  # type: ignore[misc]
            for path in sorted(self.folder.glob("*.eml"))
        ]

    async def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found := self.messages()) < count:
            assert asyncio.get_running_loop().time() < deadline, f"{len(found)} mails, not {count}"
            await asyncio.sleep(0.1)
        return found


@pytest.fixture
def mailbox(tmp_path: Path):
    box = Mailbox(tmp_path / "mail")
    box.up()
    yield box
    box.down()


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and the HTML part."""
    plain = message.get_body(("plain",))
    page = message.get_body(("html",))
    assert plain is not None and page is not None
    return plain.get_content(), page.get_content()


async def register_with_token(hs: LocalSynapse, localpart: str, password: str, token: str) -> str:
    """Register through the client API as an app does: the user-interactive flow with
    `m.login.registration_token` (and whatever dummy stage follows)."""
    url = f"{hs.url}/_matrix/client/v3/register"
    body: dict = {"username": localpart, "password": password, "inhibit_login": True}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body) as response:
            assert response.status == 401
            flow = await response.json()
        stages = [s for f in flow["flows"] for s in f["stages"]]
        assert "m.login.registration_token" in stages and "m.login.dummy" not in stages[:1]
        for stage in ("m.login.registration_token", "m.login.dummy"):
            auth = {"type": stage, "session": flow["session"]}
            if stage == "m.login.registration_token":
                auth["token"] = token
            async with session.post(url, json={**body, "auth": auth}) as response:
                reply = await response.json()
                if response.status == 200:
                    return str(reply["user_id"])
                assert response.status == 401, reply
                assert stage in reply.get("completed", []), reply
    raise AssertionError("registration did not complete")


async def test_a_graduate_registers_with_the_token_and_joins_with_the_code(
    mentornet, person, mailbox, synapse
) -> None:
    bot = await mentornet(invitations=mailbox.settings(registration_tokens=True,
                                                       homeserver=synapse.url))  # fmt: skip
    await synapse.make_admin(bot.user_id)  # the setting says the bot is a server admin
    meta: Person = await person(name="metamentor")
    net = await create_network(bot, meta)

    roster = (
        "name;email;language;role;region\n"
        "Zoë <i>Zed</i>;zoe@example.org;fr;coordinator;Bremen\n"
        "Bert;bert@@example;de;;\n"
    )
    answer = await meta.ask(net.office, f"!network onboard {roster}")
    assert "By e-mail:** 1 invitation sent and 1 not invited." in answer.body
    assert "zoe@example.org>: invitation e-mailed in French" in answer.body
    assert "“bert@@example”: not a valid e-mail address" in answer.body

    (mail,) = await mailbox.wait_for(1)
    assert mail["To"].addresses[0].addr_spec == "zoe@example.org"
    assert mail["From"].addresses[0].addr_spec == "office@mentors.example"
    assert "vous invite à rejoindre Hamburg Mentors" in mail["Subject"]
    text, page = parts(mail)
    assert "Bonjour Zoë <i>Zed</i>," in text and "**" not in text  # plain, no Markdown
    assert "<ol>" in page and page.count("<li>") == 3  # the three steps
    assert "Zoë &lt;i&gt;Zed&lt;/i&gt;" in page and "<i>Zed</i>" not in page  # escaped
    assert "https://app.element.io" in text and f"https://matrix.to/#/{bot.user_id}" in text
    assert f'href="https://matrix.to/#/{bot.user_id}"' in page
    code = CODE.search(text).group(0)  # type: ignore[union-attr]
    token = re.search(r"saisissez ([A-Za-z0-9_-]+)\.", text).group(1)  # type: ignore[union-attr]
    assert code in page and token in page

    password = secrets.token_urlsafe(12)
    user_id = await register_with_token(synapse, f"zoe-{secrets.token_hex(3)}", password, token)
    zoe = await Person.login(synapse, user_id, password, encryption=True, name="zoe")
    try:
        chat = await bot.room_with(zoe)
        joined = await zoe.ask(chat, code.lower().replace("-", " "))  # the code alone, as typed
        assert "pour **Hamburg Mentors**, comme coordinateur ou coordinatrice" in joined.body

        await member_joins(net, zoe)
        await wait_for_level(meta, net.space, zoe.user_id, 50)
        office = network_names(net.name)["coordination"]  # a coordinator's room too
        await invited_rooms(zoe, {"coordination": office})
        welcome = await notice_in(zoe, chat, "Bienvenue dans Hamburg Mentors !")  # same chat
        assert known_as(meta) in welcome.body and meta.user_id not in welcome.body

        again = await zoe.ask(chat, f"!join {code}")
        assert "Tu as déjà rejoint Hamburg Mentors avec ce code" in again.body  # her French
        other: Person = await person(name="other")
        used = await other.ask(await bot.room_with(other), f"!join {code}")
        assert "This code has already been used" in used.body

        listed = await meta.ask(net.office, "!network invitations")
        assert "1 (1 joined)" in listed.body
        day = r"\w{3} \d{1,2} \w{3} 20\d\d"  # a date as people read it
        assert re.search(f"Zoë <i>Zed</i> <zoe@example.org> — invited {day}", listed.body)
        assert re.search(f"joined {day} as Zoë <i>Zed</i>", listed.body), listed.body
        assert zoe.user_id not in listed.body
        members = await meta.ask(net.office, "!network members")
        assert "Zoë <i>Zed</i>: coordinator (network office)" in members.body

        # She leaves the network: her used code does not let her (or whoever has it) back in.
        await zoe.client.room_leave(net.space)
        status = "SELECT status FROM network_members WHERE user_id = ?"
        await until(lambda: bot.app.store.db.execute(status, [zoe.user_id]).fetchone()[0] == "left")
        back = await zoe.ask(chat, f"!join {code}")
        assert "Ce code a déjà servi" in back.body, back.body
        assert bot.app.store.db.execute(status, [zoe.user_id]).fetchone()[0] == "left"
    finally:
        await zoe.close()


async def test_wrong_and_expired_codes_limited_tries_and_the_reminder(
    mentornet, person, mailbox
) -> None:
    clock = FakeClock()
    settings = mailbox.settings(valid_days=2, remind_after_days=1)
    bot = await mentornet(clock=clock, invitations=settings, bots={"tick_seconds": 0.2})
    meta: Person = await person(name="metamentor")
    net = await create_network(bot, meta)
    await meta.ask(net.office, "!network onboard anna@example.org")
    (mail,) = await mailbox.wait_for(1)
    code = CODE.search(parts(mail)[0]).group(0)  # type: ignore[union-attr]

    guesser: Person = await person(name="guesser")
    room = await bot.room_with(guesser)
    for n in range(5):
        wrong = await guesser.ask(room, f"!join MN-2345-6789-ABC{n + 2}")
        assert "I do not know this code" in wrong.body
    blocked = await guesser.ask(room, f"!join {code}")  # even the right one: no more guessing
    assert "Too many wrong codes from your account" in blocked.body

    clock.advance(days=1.5)  # the one automatic reminder
    reminder = (await mailbox.wait_for(2))[1]
    assert reminder["Subject"].strip().startswith("Reminder: metamentor-")  # a name, no ID
    assert code in parts(reminder)[0]
    assert "a reminder: your invitation is still waiting for you" in parts(reminder)[0]

    clock.advance(days=1)
    anna: Person = await person(name="anna")
    late = await anna.ask(await bot.room_with(anna), code)
    assert "This code expired on" in late.body and "Hamburg Mentors" in late.body
    listed = await meta.ask(net.office, "!network invitations")
    assert "anna@example.org — invited" in listed.body and "code expired" in listed.body
    assert net.space not in anna.client.invited_rooms


async def test_an_invitation_still_going_out_is_not_sent_again(mentornet, person, mailbox) -> None:
    """The mail server has kept the invitation but is slow to say so; meanwhile the tick
    finds it overdue (the clock jumps past the retry delay and the reminder's day). Anna
    gets the invitation once, and then one reminder."""
    clock = FakeClock()
    settings = mailbox.settings(valid_days=3, remind_after_days=1)
    bot = await mentornet(clock=clock, invitations=settings, bots={"tick_seconds": 0.2})
    meta: Person = await person(name="metamentor")
    net = await create_network(bot, meta)
    mailbox.catcher.hold_answers()
    asked = asyncio.create_task(meta.ask(net.office, "!network onboard anna@example.org"))
    await mailbox.wait_for(1)  # arrived; the bot still waits for the server's "250"
    clock.advance(days=1.5)
    await asyncio.sleep(1.5)  # several ticks while the send is in flight
    assert len(mailbox.messages()) == 1
    mailbox.catcher.hold_answers(False)
    assert "anna@example.org" in (await asked).body
    first, reminder = await mailbox.wait_for(2)
    assert first["Subject"].strip().endswith("invites you to Hamburg Mentors")
    assert reminder["Subject"].strip().startswith("Reminder: ")
    await asyncio.sleep(1)  # more ticks: nothing else goes out
    assert len(mailbox.messages()) == 2


async def test_mail_server_down_then_up_reminders_and_forget(
    mentornet, person, mailbox, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    settings = mailbox.settings(retry_minutes=5, remind_after_days=7)
    bot = await mentornet(clock=clock, invitations=settings, bots={"tick_seconds": 0.2})
    meta: Person = await person(name="metamentor")
    net = await create_network(bot, meta)
    mailbox.down()

    failed = await meta.ask(net.office, "!network onboard carl@example.org, Carl, de")
    assert "Carl <carl@example.org>: the e-mail could not be sent: the mail server is not" in (
        failed.body
    )
    assert "I keep the invitation and try again" in failed.body
    pending = await meta.ask(net.office, "!network invitations")
    assert "e-mail not sent yet (the mail server is not reachable" in pending.body

    mailbox.up()
    clock.advance(minutes=6)
    (mail,) = await mailbox.wait_for(1)
    assert "lädt dich zu Hamburg Mentors ein" in mail["Subject"]  # in German, as listed
    told = await notice_in(meta, net.office, "went out now")
    assert "Carl <carl@example.org>" in told.body

    await meta.ask(net.office, "!network onboard dora@example.org")
    await mailbox.wait_for(2)
    reminded = await meta.ask(net.office, "!network invitations remind")
    assert "Sent a reminder to 2 people" in reminded.body
    mails = await mailbox.wait_for(4)
    assert sum("Erinnerung:" in m["Subject"] for m in mails) == 1
    assert sum("Reminder:" in m["Subject"] for m in mails) == 1

    to_carl = [m for m in mails if m["To"].addresses[0].addr_spec == "carl@example.org"]
    assert len(to_carl) == 2  # the invitation and the reminder, with the same code
    code = CODE.search(parts(to_carl[1])[0]).group(0)  # type: ignore[union-attr]
    assert code in parts(to_carl[0])[0]
    carl: Person = await person(name="carl")  # an account he already had
    chat = await bot.room_with(carl)
    joined = await carl.ask(chat, f"!join {code}")
    assert "Willkommen! Ich habe dich als neue Mentorin / neuer Mentor" in joined.body
    await member_joins(net, carl)

    exported = await carl.ask(chat, "!me export")
    assert "Hier ist alles" in exported.body or "Here is" in exported.body
    file = await carl.wait_for_event(
        lambda e: e.source["content"].get("msgtype") == "m.file", room_id=chat
    )
    data = json.loads(await download_file(carl, file))["data"]
    (invitation,) = data["network"]["invitations"]
    assert invitation["email"] == "carl@example.org" and invitation["name"] == "Carl"

    await carl.ask(chat, "!me forget")
    await carl.ask(chat, "!me forget confirm")
    deadline = asyncio.get_running_loop().time() + 30  # the erasing follows the answer
    while mentions(rows := database_rows(bot.folder / "mentornet.db"), "carl@example.org"):
        assert asyncio.get_running_loop().time() < deadline, mentions(rows, "carl@example.org")
        await asyncio.sleep(0.1)
    assert mentions(rows, "dora@example.org")  # the others' invitations stay
    withdrawn = await meta.ask(net.office, "!network invitations cancel Dora@example.org")
    assert "is withdrawn and the address erased" in withdrawn.body
    assert not mentions(database_rows(bot.folder / "mentornet.db"), "dora@example.org")
    everything = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "example.org" not in everything.replace(bot.user_id, "")  # no address in the log


async def test_someone_with_an_account_on_another_server_joins_with_the_code(
    federation, mentornet, person, mailbox
) -> None:
    hs1, hs2 = federation
    servers = {"invites": {"allow_servers": [hs1.server_name, hs2.server_name]}}
    bot = await mentornet(hs1, matrix=servers, invitations=mailbox.settings())
    meta: Person = await person(hs1, name="metamentor")
    net = await create_network(bot, meta)
    await meta.ask(net.office, "!network onboard eva@example.org;Eva;de")
    (mail,) = await mailbox.wait_for(1)
    text, _ = parts(mail)
    code = CODE.search(text).group(0)  # type: ignore[union-attr]
    assert "beliebigen Matrix-Server" in text  # no token: any server will do

    eva: Person = await person(hs2, name="eva", encryption=True)
    for attempt in range(3):  # after other tests restarted a server, a first join may fail
        try:
            chat = await bot.room_with(eva)
            break
        except TimeoutError:
            assert attempt < 2, "the bot never joined eva's chat"
    joined = await eva.ask(chat, code, timeout=60)
    assert "Willkommen! Ich habe dich als neue Mentorin / neuer Mentor" in joined.body
    await member_joins(net, eva)
    await notice_in(eva, chat, "Willkommen bei Hamburg Mentors!", timeout=60)
    members = await meta.ask(net.office, "!network members")
    assert "Eva: new mentor, joined" in members.body and eva.user_id not in members.body
