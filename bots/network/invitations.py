"""Invitations by e-mail: MOOC graduates without a Matrix account get a personal code by
e-mail (through the organisation's SMTP server), optionally with a one-time Synapse
registration token; `!join CODE` (or the code alone in a direct chat) brings them into the
network with the role, language and region from the roster. `!network invitations` and
`… remind` follow up; an automatic reminder and retries of failed sends run on the tick.

E-mail addresses are personal data: they stay in this instance's database, appear in
`!me export`, are erased by `!me forget` and are never written to the log."""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bots.network.common import counted, day, is_private, iso, reply_privately
from bots.network.mail import Letter, MailError, send_mail
from bots.network.matrix import MatrixCallError
from bots.network.membership import Membership
from bots.network.roster import Candidate
from bots.network.schema import COORDINATION, LEFT, NetworkRow
from core.commands import Arg, Option, Role, command
from core.config import LANGUAGES
from core.context import Context
from core.i18n import language_name
from core.messaging import MessagingError, direct_room, notice
from core.people import Names
from core.storage import Migrations
from core.text import Text

log = logging.getLogger(__name__)

MAIL_LANGUAGES = ("en", "de", "fr", "nl")  # the e-mail texts exist in these
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read from an e-mail, typed
CODE_CHARS = 12  # 60 bits: not guessable with MAX_WRONG tries a day
MAX_WRONG = 5  # wrong codes per sender within WRONG_WINDOW
WRONG_WINDOW = 24 * 3600
MAX_LISTED = 100
PURGE_AFTER = 90 * 24 * 3600  # unused invitations are erased this long after they expired
INVITATION, REMINDER = "invitation", "reminder"  # what mail is waiting to go out

migrations = Migrations("invitations")


@migrations.step
def _invitations(db: Any) -> None:
    db.execute(
        "CREATE TABLE invitations (id INTEGER PRIMARY KEY, network_id INTEGER NOT NULL"
        " REFERENCES networks(id) ON DELETE CASCADE, code TEXT NOT NULL UNIQUE,"
        " email TEXT NOT NULL, display_name TEXT, languages TEXT, region TEXT, experience TEXT,"
        " role TEXT NOT NULL, language TEXT NOT NULL, registration_token TEXT,"
        " invited_by TEXT, inviter_name TEXT, report_room TEXT,"
        " invited_at REAL NOT NULL, expires_at REAL NOT NULL, sent_at REAL, reminded_at REAL,"
        " outbox TEXT, tries INTEGER NOT NULL DEFAULT 0, next_try_at REAL, last_error TEXT,"
        " used_by TEXT, used_at REAL)"
    )
    db.execute("CREATE INDEX invitations_email ON invitations (network_id, email)")
    db.execute("CREATE INDEX invitations_used_by ON invitations (used_by)")
    db.execute("CREATE INDEX invitations_outbox ON invitations (outbox, next_try_at)")
    # Wrong codes, per sender: tries are limited so codes cannot be guessed.
    db.execute("CREATE TABLE invitation_tries (sender TEXT NOT NULL, at REAL NOT NULL)")
    db.execute("CREATE INDEX invitation_tries_sender ON invitation_tries (sender, at)")


@dataclass
class Invitation:
    id: int
    network_id: int
    code: str
    email: str
    display_name: str | None
    languages: str | None
    region: str | None
    experience: str | None
    role: str
    language: str
    registration_token: str | None
    invited_by: str | None
    inviter_name: str | None
    report_room: str | None
    invited_at: float
    expires_at: float
    sent_at: float | None
    reminded_at: float | None
    outbox: str | None
    tries: int
    next_try_at: float | None
    last_error: str | None
    used_by: str | None
    used_at: float | None

    @property
    def who(self) -> str:
        """Name and address, as a coordinator reads them."""
        return f"{self.display_name} <{self.email}>" if self.display_name else self.email


_COLUMNS = ", ".join(Invitation.__dataclass_fields__)


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))
    return "MN-" + "-".join(raw[i : i + 4] for i in range(0, CODE_CHARS, 4))


def normalise_code(typed: str) -> str | None:
    """The stored form of a typed code (case, spaces and dashes do not matter), or None."""
    raw = "".join(ch for ch in typed.upper() if ch.isalnum())
    raw = raw.removeprefix("MN").translate(str.maketrans("01", "OI"))
    if len(raw) != CODE_CHARS or any(ch not in ALPHABET + "OI" for ch in raw):
        return None
    return "MN-" + "-".join(raw[i : i + 4] for i in range(0, CODE_CHARS, 4))


def looks_like_code(text: str) -> bool:
    """Whether a message is a code on its own (sent without `!join`)."""
    words = text.split()
    return (
        1 <= len(words) <= 4
        and text.strip().upper().startswith("MN")
        and (normalise_code(text) is not None)
    )


def _link(url: str) -> Text:
    escaped = html.escape(url, quote=True)
    return Text(body=url, html=f'<a href="{escaped}">{escaped}</a>')


class Invitations(Membership):
    """Invitations by e-mail, joining with a code, and following up."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        app.store.migrate(migrations)  # a component of its own, next to the network tables
        self._sending: set[int] = set()  # invitations whose e-mail is going out right now

    # --- storage ---------------------------------------------------------------------------

    def _invitations(self, where: str, values: list[Any]) -> list[Invitation]:
        rows = self.app.store.db.execute(
            f"SELECT {_COLUMNS} FROM invitations WHERE {where} ORDER BY invited_at, id", values
        ).fetchall()
        return [Invitation(*row) for row in rows]

    def _due(self, where: str, values: list[Any]) -> Iterator[Invitation]:
        """The invitations matching `where`, each read again just before it is handed out:
        one whose e-mail is going out right now, or that another send dealt with meanwhile,
        is not due (a tick, `… remind` and an onboarding may overlap)."""
        for found in self._invitations(where, values):
            fresh = self._invitations(f"id = ? AND {where}", [found.id, *values])
            if fresh and found.id not in self._sending:
                yield fresh[0]

    def _update(self, invitation_id: int, **values: Any) -> None:
        sets = ", ".join(f"{column} = ?" for column in values)
        self.app.store.db.execute(
            f"UPDATE invitations SET {sets} WHERE id = ?", [*values.values(), invitation_id]
        )

    # --- inviting by e-mail (from `!network onboard`) --------------------------------------

    async def _invite_by_mail(
        self,
        ctx: Context,
        net: NetworkRow,
        people: list[Candidate],
        bad_addresses: list[str],
        roles: list[str | None],
    ) -> Text | None:
        """Invite each person by e-mail; the report's part about them, None if nobody.
        `roles` gives each person's role, None where the asker may not give it."""
        if not people and not bad_addresses:
            return None
        lines = [ctx.t("invitations.onboard.bad_address", address=a) for a in bad_addresses]
        counts = {"mailed": 0, "waiting": 0, "refused": len(bad_addresses)}
        gate = asyncio.Semaphore(4)
        inviter = await self._inviter_name(net, ctx.sender) if people else None

        async def one(person: Candidate, role: str | None) -> tuple[str, list[Text]]:
            async with gate:
                return await self._invite_one(ctx, net, person, role, inviter)

        results = await asyncio.gather(*(one(p, r) for p, r in zip(people, roles, strict=True)))
        for state, texts in results:
            counts[state] += 1
            lines += texts
        title = counted(ctx, "invitations.onboard", counts)
        return Text.join([title, Text.bullets(lines)]) if lines else title

    async def _invite_one(
        self,
        ctx: Context,
        net: NetworkRow,
        person: Candidate,
        role: str | None,
        inviter: str | None,
    ) -> tuple[str, list[Text]]:
        """One person by e-mail: (mailed | waiting | refused, report lines). `inviter` is
        the asker's name, for the e-mail."""
        email = person.email or ""
        who = f"{person.display_name} <{email}>" if person.display_name else email
        config = self.app.config.invitations
        if config.smtp is None:
            return "refused", [ctx.t("invitations.onboard.no_mail_server", who=who)]
        if role is None:
            role_name = ctx.t(f"network.rolename.{(person.role or '').strip().casefold()}")
            return "refused", [ctx.t("invitations.onboard.role_refused", who=who, role=role_name)]
        now = self._now()
        open_ones = self._invitations(
            "network_id = ? AND email = ? COLLATE NOCASE AND used_by IS NULL AND expires_at > ?",
            [net.id, email, now],
        )
        if open_ones:
            date = ctx.day(open_ones[0].invited_at)
            return "refused", [ctx.t("invitations.onboard.already_invited", who=who, date=date)]
        lines: list[Text] = []
        expires = now + config.valid_days * 86400
        token = None
        if config.registration_tokens:
            try:
                token = await self._registration_token(expires)
            except MatrixCallError as error:
                lines.append(ctx.t("invitations.onboard.token_failed", who=who, error=str(error)))
        language = person_language(person, net.language)
        invitation_id = self._store_invitation(
            ctx, net, person, role, language, token, inviter, now
        )
        invitation = self._invitations("id = ?", [invitation_id])[0]
        failure = await self._deliver(invitation, net)
        if failure is not None:
            return "waiting", [
                ctx.t("invitations.onboard.mail_failed", who=who, error=failure),
                *lines,
            ]
        mailed = ctx.t(
            "invitations.onboard.mailed",
            who=who,
            lang_name=language_name(language, ctx.language),
            role=ctx.t(f"network.rolename.{role}"),
            date=ctx.day(expires),
        )
        return "mailed", [mailed, *lines]

    def _store_invitation(
        self,
        ctx: Context,
        net: NetworkRow,
        person: Candidate,
        role: str,
        language: str,
        token: str | None,
        inviter: str | None,
        now: float,
    ) -> int:
        values = {
            "network_id": net.id,
            "code": new_code(),
            "email": person.email,
            "display_name": person.display_name,
            "languages": person.languages,
            "region": person.region,
            "experience": person.experience,
            "role": role,
            "language": language,
            "registration_token": token,
            "invited_by": ctx.sender,
            "inviter_name": inviter,
            "report_room": self._office(ctx, net),
            "invited_at": now,
            "expires_at": now + self.app.config.invitations.valid_days * 86400,
            "outbox": INVITATION,  # sent right away by `_deliver`, else later by the tick
            "next_try_at": now + self.app.config.invitations.retry_minutes * 60,
        }
        return int(self.app.store.db.table("invitations").insert(values).last_pk)

    async def _inviter_name(self, net: NetworkRow, user_id: str) -> str | None:
        """How the e-mail names the person who invites: roster name, else display name."""
        member = self.data.member(net.id, user_id)
        if member is not None and member.display_name:
            return member.display_name
        response = await self.account.client.get_profile(user_id)
        name = getattr(response, "displayname", None)
        return str(name)[:100] if name else None

    def _office(self, ctx: Context, net: NetworkRow) -> str | None:
        """Where news about an invitation may go: the network office or the asker's private
        chat with the bot; None: their direct chat (see `_retry`)."""
        if ctx.room_id == net.rooms.get(COORDINATION):
            return ctx.room_id
        return ctx.room_id if is_private(ctx.account, ctx.room_id, ctx.sender) else None

    async def _registration_token(self, expires_at: float) -> str:
        """A one-time registration token on our Synapse (the bot must be a server admin)."""
        token = "".join(secrets.choice(ALPHABET) for _ in range(16))  # easy to type
        result = await self.hs.call(
            "POST",
            "/_synapse/admin/v1/registration_tokens/new",
            {"token": token, "uses_allowed": 1, "expiry_time": int(expires_at * 1000)},
        )
        return str(result["token"])

    # --- the e-mail ------------------------------------------------------------------------

    def _mail_text(self, language: str, key: str, **values: Any) -> Text:
        """A text for an e-mail: HTML from the Markdown, plain text without its `**`."""
        template = self.app.catalog.template(language, key)
        return Text(
            body=Text.render(template.replace("**", ""), values).body,
            html=Text.render(template, values).html,
        )

    def _letter(self, invitation: Invitation, net: NetworkRow, reminder: bool) -> Letter:
        language = invitation.language
        config = self.app.config.invitations
        bot = self.account.user_id
        server = config.homeserver or bot.split(":", 1)[1]
        inviter = invitation.inviter_name or (
            Names(self.app).name(invitation.invited_by) if invitation.invited_by else net.name
        )
        hello = (
            self._mail_text(language, "invitations.mail.hello", name=invitation.display_name)
            if invitation.display_name
            else self._mail_text(language, "invitations.mail.hello_anonymous")
        )
        if reminder:
            hello = Text.join([hello, self._mail_text(language, "invitations.mail.reminder")], " ")
        if invitation.registration_token:
            step = self._mail_text(
                language,
                "invitations.mail.account_token",
                server=server,
                token=invitation.registration_token,
            )
        else:
            step = self._mail_text(language, "invitations.mail.account", server=server)
        body = self._mail_text(
            language,
            "invitations.mail.body",
            hello=hello,
            inviter=inviter,
            network=net.name,
            web_client=_link(config.web_client),
            account_step=step,
            bot=bot,
            bot_link=_link(f"https://matrix.to/#/{bot}"),
            code=invitation.code,
            expires=day(invitation.expires_at, language),
        )
        key = "invitations.mail.reminder_subject" if reminder else "invitations.mail.subject"
        subject = self._mail_text(language, key, inviter=inviter, network=net.name)
        return Letter(
            to=invitation.email,
            to_name=invitation.display_name,
            sender_name=net.name,
            subject=subject.body,
            text=body.body,
            html=body.html,
            language=language,
        )

    async def _deliver(
        self, invitation: Invitation, net: NetworkRow, reminder: bool = False
    ) -> str | None:
        """Send the invitation (or a reminder); None when it went out, else why not. A failed
        send stays in the outbox and is tried again later."""
        smtp = self.app.config.invitations.smtp
        now = self._now()
        tries = invitation.tries + 1
        delay = self.app.config.invitations.retry_minutes * 60 * 2 ** min(tries - 1, 5)
        outbox = REMINDER if reminder else INVITATION
        # In the outbox while it is being sent: the tick leaves it alone until `delay` has
        # passed, and after a crash it goes out then.
        self._update(invitation.id, outbox=outbox, next_try_at=now + delay)
        self._sending.add(invitation.id)
        try:
            if smtp is None:
                raise MailError("no mail server is set up", "unconfigured")
            await send_mail(smtp, self._letter(invitation, net, reminder))
        except MailError as error:
            self._update(invitation.id, tries=tries, last_error=str(error))
            log.warning(
                "invitation e-mail not sent",
                extra={"invitation": invitation.id, "reason": error.kind, "tries": tries},
            )
            return str(error)
        finally:
            self._sending.discard(invitation.id)
        sent = {"reminded_at": now} if reminder else {"sent_at": now}
        self._update(invitation.id, outbox=None, tries=0, next_try_at=None, last_error=None, **sent)
        log.info("invitation e-mail sent", extra={"invitation": invitation.id})
        return None

    # --- joining with the code -------------------------------------------------------------

    @command("join", Arg("code"), help="invitations.join.help")
    async def join(self, ctx: Context, code: str) -> None:
        await self._redeem(ctx, code)

    def _wants_code(self, incoming: Any) -> bool:
        """A code sent on its own in a direct chat with the bot."""
        content = incoming.content
        body = content.get("body")
        return (
            content.get("msgtype") == "m.text"
            and isinstance(body, str)
            and looks_like_code(body)
            and incoming.room_id not in self._rooms
            and is_private(self.account, incoming.room_id, incoming.sender)
        )

    async def _redeem(self, ctx: Context, typed: str) -> None:
        now = self._now()
        db = self.app.store.db
        wrong = db.execute(
            "SELECT COUNT(*), MIN(at) FROM invitation_tries WHERE sender = ? AND at > ?",
            [ctx.sender, now - WRONG_WINDOW],
        ).fetchone()
        if wrong[0] >= MAX_WRONG:
            await ctx.reply("invitations.join.too_many", time=ctx.when(wrong[1] + WRONG_WINDOW))
            return
        code = normalise_code(typed)
        found = self._invitations("code = ?", [code]) if code else []
        net = self.data.get(found[0].network_id) if found else None
        if not found or net is None:
            db.table("invitation_tries").insert({"sender": ctx.sender, "at": now})
            await ctx.reply("invitations.join.unknown")
            return
        invitation = found[0]
        member = self.data.member(net.id, ctx.sender)
        if invitation.used_by not in (None, ctx.sender):  # someone else's: their own language
            await ctx.reply("invitations.join.used", network=net.name)
            return
        self._answer_in(ctx, invitation.language)  # the invitation is theirs
        if invitation.used_by == ctx.sender:  # used up: it never lets anyone back in
            key = (
                "invitations.join.yours"
                if member and member.status != LEFT
                else "invitations.join.used"
            )
            await ctx.reply(key, network=net.name)
            return
        if invitation.expires_at <= now:
            inviter = self._inviter(ctx, invitation, net)
            await ctx.reply(
                "invitations.join.expired",
                date=ctx.day(invitation.expires_at),
                inviter=inviter,
                network=net.name,
            )
            return
        await self._join_with(ctx, net, invitation, now)

    def _answer_in(self, ctx: Context, language: str) -> None:
        """Answer in the invitation's language (given at onboarding), unless the person
        chose one (see `App.language`)."""
        own = self.app.store.db.execute(
            "SELECT language FROM user_settings WHERE user_id = ?", [ctx.sender]
        ).fetchone()
        if not (own and own[0]) and language in LANGUAGES:
            ctx.language = language

    async def _join_with(
        self, ctx: Context, net: NetworkRow, invitation: Invitation, now: float
    ) -> None:
        """Use the code up and invite the person as the roster said; a failed invite gives the
        code back."""
        self._update(invitation.id, used_by=ctx.sender, used_at=now, outbox=None)
        if is_private(ctx.account, ctx.room_id, ctx.sender):  # the welcome follows right here
            room = {
                "account": ctx.account.name,
                "user_id": ctx.sender,
                "room_id": ctx.room_id,
                "created_at": now,
            }
            self.app.store.db.table("direct_rooms").insert(room, ignore=True)
        person = Candidate(
            ctx.sender,
            display_name=invitation.display_name,
            languages=invitation.languages or invitation.language,
            region=invitation.region,
            experience=invitation.experience,
        )
        inviter = invitation.invited_by or self.account.user_id
        outcome = await self._invite(net, person, invitation.role, inviter)
        if outcome.state == "failed":
            self._update(invitation.id, used_by=None, used_at=None)
            error = "; ".join(outcome.problems)
            await ctx.reply("invitations.join.failed", network=net.name, error=error)
        elif outcome.state == "already":
            await ctx.reply("invitations.join.already", network=net.name)
        else:
            role = ctx.t(f"network.rolename.{invitation.role}")
            await ctx.reply("invitations.join.done", network=net.name, role=role)

    # --- following up ----------------------------------------------------------------------

    @command(
        "network invitations",
        options=[Option("network", placeholder="name")],
        role=Role.coordinator,
        network=True,
        help="invitations.list.help",
    )
    async def invitations(self, ctx: Context, net: NetworkRow) -> None:
        now = self._now()
        everyone = self._invitations("network_id = ?", [net.id])
        if not everyone:
            await ctx.reply("invitations.list.none", network=net.name)
            return
        states = [self._state(ctx, invitation, now) for invitation in everyone]
        counts = {name: sum(1 for s, _ in states if s == name) for name in STATES}
        title = counted(ctx, "invitations.list", counts, network=net.name, total=len(everyone))
        lines = [
            ctx.t(
                "invitations.list.line",
                who=invitation.who,
                date=ctx.day(invitation.invited_at),
                inviter=self._inviter(ctx, invitation, net),
                state=text,
            )
            for invitation, (_, text) in list(zip(everyone, states, strict=True))[-MAX_LISTED:]
        ]
        parts = [title, Text.bullets(lines)]
        if len(everyone) > MAX_LISTED:
            parts.append(ctx.t("invitations.list.more", more=len(everyone) - MAX_LISTED))
        text = Text.join(parts)
        if ctx.room_id == net.rooms.get(COORDINATION):
            await ctx.reply(text)
        else:  # e-mail addresses: only in the network office or a direct chat
            await reply_privately(ctx, text)

    @staticmethod
    def _inviter(ctx: Context, invitation: Invitation, net: NetworkRow) -> Text:
        """Who invited: the name they gave, else the person by name, else the network."""
        if invitation.inviter_name:
            return Text.plain(invitation.inviter_name)
        if invitation.invited_by:
            return ctx.names.one(invitation.invited_by)
        return Text.plain(net.name)

    def _state(self, ctx: Context, invitation: Invitation, now: float) -> tuple[str, Text]:
        if invitation.used_by:
            date = ctx.day(invitation.used_at or 0)
            return "joined", ctx.t(
                "invitations.state.joined", date=date, user=ctx.names.one(invitation.used_by)
            )
        if invitation.expires_at <= now:
            return "expired", ctx.t(
                "invitations.state.expired", date=ctx.day(invitation.expires_at)
            )
        if invitation.sent_at is None:
            next_try = ctx.when(invitation.next_try_at or now)
            if not invitation.last_error:
                return "failing", ctx.t("invitations.state.pending", date=next_try)
            error = invitation.last_error
            return "failing", ctx.t("invitations.state.failing", error=error, date=next_try)
        if invitation.reminded_at:
            return "waiting", ctx.t(
                "invitations.state.reminded",
                date=ctx.day(invitation.sent_at),
                reminded=ctx.day(invitation.reminded_at),
            )
        return "waiting", ctx.t("invitations.state.waiting", date=ctx.day(invitation.sent_at))

    @command(
        "network invitations remind",
        options=[Option("network", placeholder="name")],
        role=Role.coordinator,
        network=True,
        help="invitations.remind.help",
    )
    async def remind(self, ctx: Context, net: NetworkRow) -> None:
        waiting = list(
            self._due(
                "network_id = ? AND used_by IS NULL AND expires_at > ?", [net.id, self._now()]
            )
        )
        if not waiting:
            await ctx.reply("invitations.remind.nobody", network=net.name)
            return
        failed = []
        for invitation in waiting:
            reminder = invitation.sent_at is not None
            error = await self._deliver(invitation, net, reminder=reminder)
            if error is not None:
                failed.append(ctx.t("invitations.remind.failed", who=invitation.who, error=error))
        done = ctx.t("invitations.remind.done", network=net.name, count=len(waiting) - len(failed))
        await reply_privately(ctx, Text.join([done, Text.bullets(failed)]) if failed else done)

    @command(
        "network invitations cancel",
        Arg("address"),
        options=[Option("network", placeholder="name")],
        role=Role.coordinator,
        network=True,
        help="invitations.cancel.help",
    )
    async def cancel(self, ctx: Context, address: str, net: NetworkRow) -> None:
        where = "network_id = ? AND email = ? COLLATE NOCASE AND used_by IS NULL"
        found = self._invitations(where, [net.id, address.strip()])
        for invitation in found:
            self.app.store.db.table("invitations").delete_where("id = ?", [invitation.id])
            if invitation.registration_token:  # and the account it would have allowed
                path = f"/_synapse/admin/v1/registration_tokens/{invitation.registration_token}"
                try:
                    await self.hs.call("DELETE", path)
                except MatrixCallError as error:
                    log.warning("registration token kept", extra={"error": error.errcode})
        deleted = len(found)
        key = "invitations.cancel.done" if deleted else "invitations.cancel.none"
        await ctx.reply(key, address=address, network=net.name)

    async def tick(self, now: datetime) -> None:
        """Retry e-mails that failed, send the one automatic reminder, erase what is old."""
        config = self.app.config.invitations
        ts = now.timestamp()
        db = self.app.store.db
        db.execute("DELETE FROM invitation_tries WHERE at < ?", [ts - WRONG_WINDOW])
        db.execute(
            "DELETE FROM invitations WHERE used_by IS NULL AND expires_at < ?", [ts - PURGE_AFTER]
        )
        if config.smtp is None:
            return
        for invitation in self._due(
            "outbox IS NOT NULL AND next_try_at <= ? AND used_by IS NULL AND expires_at > ?",
            [ts, ts],
        ):
            await self._retry(invitation)
        if config.remind_after_days > 0:
            due = ts - config.remind_after_days * 86400
            for invitation in self._due(
                "outbox IS NULL AND sent_at <= ? AND reminded_at IS NULL AND used_by IS NULL"
                " AND expires_at > ?",
                [due, ts],
            ):
                net = self.data.get(invitation.network_id)
                if net is not None:
                    await self._deliver(invitation, net, reminder=True)

    async def _retry(self, invitation: Invitation) -> None:
        net = self.data.get(invitation.network_id)
        if net is None:
            return
        first = invitation.outbox == INVITATION
        if await self._deliver(invitation, net, reminder=not first) is not None:
            return
        if first and invitation.invited_by:
            try:
                room = invitation.report_room or await direct_room(
                    self.account, invitation.invited_by
                )
                language = self.app.language(invitation.invited_by, room)
                text = self._t(
                    language, "invitations.retry.sent", network=net.name, who=invitation.who
                )
                await notice(self.account, room, text, txn=f"invitation/{invitation.id}")
            except (MatrixCallError, MessagingError) as error:  # the mail went out anyway
                log.warning("could not report a sent invitation", extra={"error": str(error)})

    # --- personal data ---------------------------------------------------------------------

    def _invitation_data(self, user_id: str) -> list[dict[str, Any]]:
        """The invitation a person joined with (their e-mail address), JSON-ready."""
        found = []
        for invitation in self._invitations("used_by = ?", [user_id]):
            net = self.data.get(invitation.network_id)
            found.append(
                {
                    "network": net.name if net else invitation.network_id,
                    "email": invitation.email,
                    "name": invitation.display_name,
                    "languages": invitation.languages,
                    "region": invitation.region,
                    "role": invitation.role,
                    "invited_by": invitation.invited_by,
                    "invited_at": iso(invitation.invited_at),
                    "used_at": iso(invitation.used_at),
                }
            )
        return found

    def _forget_invitations(self, user_id: str) -> None:
        """Erase the invitations a person joined with (and so their address), their wrong
        tries, and their name where they invited others."""
        with self.app.store.transaction() as db:
            db.table("invitations").delete_where("used_by = ?", [user_id])
            db.table("invitation_tries").delete_where("sender = ?", [user_id])
            db.execute(
                "UPDATE invitations SET invited_by = NULL, inviter_name = NULL,"
                " report_room = NULL WHERE invited_by = ?",
                [user_id],
            )


STATES = ("joined", "waiting", "expired", "failing")


def person_language(person: Candidate, default: str) -> str:
    """The first of the person's languages that the e-mails are written in."""
    for code in (person.languages or "").replace(";", ",").split(","):
        code = code.strip().lower()[:2]
        if code in MAIL_LANGUAGES:
            return code
    return default
