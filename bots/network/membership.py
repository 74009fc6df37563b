"""The network's people: `!network invite` and `!network onboard` (a list, or a CSV of
MOOC graduates; rows with an e-mail address go to `bots.network.invitations`), the welcome,
`!network role` with the power levels in every room, `!network members`, and membership
followed as people join and leave."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from bots.network.base import NetworkBase
from bots.network.common import counted, multiline, reply_privately
from bots.network.matrix import MatrixCallError
from bots.network.roster import Candidate, parse, roster_role
from bots.network.schema import (
    COORDINATION,
    DEFAULT_ROLE,
    JOINED,
    LEFT,
    PENDING,
    ROLE_LEVELS,
    ROLES,
    Member,
    NetworkRow,
)
from core.commands import Arg, Option, Role, command
from core.config import LANGUAGES
from core.context import Context
from core.i18n import language_name, language_names
from core.messaging import MessagingError, attached_file, direct_room, download, notice
from core.people import Names
from core.text import Text

log = logging.getLogger(__name__)

MAX_LISTED = 100  # members shown by `!network members`
ONBOARD_PARALLEL = 4  # people invited at the same time by `!network onboard`
CSV_TYPES = {"text/csv", "text/plain", "application/csv", "application/vnd.ms-excel"}


@dataclass
class Outcome:
    """What happened when inviting one person."""

    user_id: str
    state: str  # invited | already | failed
    role: str = DEFAULT_ROLE
    language: str = "en"
    problems: list[str] = field(default_factory=list)


class Membership(NetworkBase):
    """Inviting, onboarding, roles and the member list; joins and leaves."""

    # --- inviting --------------------------------------------------------------------------

    @command(
        "network invite",
        Arg("user"),
        Arg("role", optional=True, choices=ROLES),
        options=[Option("lang", choices=LANGUAGES), Option("network", placeholder="name")],
        role=Role.coordinator,
        network=True,
        help="network.invite.help",
    )
    async def invite(
        self, ctx: Context, user: str, role: str | None, lang: str | None, net: NetworkRow
    ) -> None:
        role = role or DEFAULT_ROLE
        if ROLE_LEVELS[role] >= 50 and not await self.service.require(
            ctx, net, Role.meta_mentor, f"network invite … {role}"
        ):
            return
        user_id = self._user(ctx, user)
        if user_id is None:
            await ctx.reply("network.not_a_user_id", value=user)
            return
        outcome = await self._invite(net, Candidate(user_id, languages=lang), role, ctx.sender)
        role_name = ctx.t(f"network.rolename.{outcome.role}")
        if outcome.state == "already":
            await ctx.reply("network.invite.already", user=ctx.names.one(user_id), network=net.name)
        elif outcome.state == "failed":
            await ctx.reply(
                "network.invite.failed",
                user=user_id,
                error="; ".join(outcome.problems),
            )
        else:
            lines = [
                ctx.t(
                    "network.invite.done",
                    user=ctx.names.one(user_id),
                    network=net.name,
                    role=role_name,
                    lang_name=language_name(outcome.language, ctx.language),
                )
            ]
            lines += [ctx.t("network.invite.problem", problem=p) for p in outcome.problems]
            await ctx.reply(Text.join(lines))

    @command(
        "network onboard",
        Arg("people", optional=True, rest=True),
        role=Role.coordinator,
        network=True,
        help="invitations.onboard.help",
    )
    async def onboard(self, ctx: Context, people: str | None, net: NetworkRow) -> None:
        text = people or ""
        if not text.strip():
            try:
                attached = await self._attached_csv(ctx)
            except MessagingError as error:
                await ctx.reply("network.onboard.bad_file", error=str(error))
                return
            if attached is None:
                await ctx.reply(
                    "network.onboard.nothing", prefix=self.app.config.bots.command_prefix
                )
                return
            text = attached
        roster = parse(text)
        if not roster.people and not roster.bad_addresses:
            await ctx.reply("invitations.onboard.nobody", rows=len(roster.problems))
            return
        if len(roster.people) > 10:
            await ctx.reply("network.onboard.working", count=len(roster.people))
        gate = asyncio.Semaphore(ONBOARD_PARALLEL)
        privileged = any(roster_role(c, False) is None for c in roster.people)
        may_grant = privileged and (ctx.is_admin or await self.service.level(ctx, net) >= 100)
        roles = [roster_role(c, may_grant) for c in roster.people]

        async def invite(candidate: Candidate, role: str | None) -> Outcome:
            if role is None:
                name = ctx.t("network.rolename." + (candidate.role or "").strip().casefold())
                refused = ctx.t("invitations.onboard.role_needs_meta", role=name)
                return Outcome(candidate.user_id, "failed", problems=[refused.body])
            async with gate:
                return await self._invite(net, candidate, role, ctx.sender)

        in_chat = [(c, r) for c, r in zip(roster.people, roles, strict=True) if not c.email]
        by_mail = [(c, r) for c, r in zip(roster.people, roles, strict=True) if c.email]
        outcomes = await asyncio.gather(*(invite(c, r) for c, r in in_chat))
        report = self._onboard_report(ctx, net, outcomes, roster.problems, roster.truncated)
        mailed = await self._invite_by_mail(
            ctx, net, [c for c, _ in by_mail], roster.bad_addresses, [r for _, r in by_mail]
        )
        if mailed is None:
            await ctx.reply(report)
        elif ctx.room_id == net.rooms.get(COORDINATION):
            await ctx.reply(Text.join([report, mailed], "\n\n"))
        else:  # e-mail addresses: only in the network office or a direct chat
            await reply_privately(ctx, Text.join([report, mailed], "\n\n"))

    async def _invite_by_mail(
        self,
        ctx: Context,
        net: NetworkRow,
        people: list[Candidate],
        bad_addresses: list[str],
        roles: list[str | None],
    ) -> Text | None:
        """Invite people by e-mail address; the report's part about them (see
        bots.network.invitations, which does it)."""
        return None

    def _onboard_report(
        self,
        ctx: Context,
        net: NetworkRow,
        outcomes: list[Outcome],
        skipped: list[str],
        truncated: bool,
    ) -> Text:
        invited = [o for o in outcomes if o.state == "invited"]
        already = [o.user_id for o in outcomes if o.state == "already"]
        failed = [o for o in outcomes if o.state == "failed"]
        counts = {
            "invited": len(invited),
            "already": len(already),
            "failed": len(failed),
            "skipped": len(skipped),
        }
        lines = [counted(ctx, "network.onboard", counts, network=net.name)]
        items = [
            ctx.t(
                "network.onboard.invited",
                user=ctx.names.one(o.user_id),
                role=ctx.t(f"network.rolename.{o.role}"),
                lang_name=language_name(o.language, ctx.language),
            )
            for o in invited
        ]
        items += [
            ctx.t("network.onboard.problem", user=ctx.names.one(o.user_id), problem=p)
            for o in invited
            for p in o.problems
        ]
        if already:
            items.append(ctx.t("network.onboard.already", users=ctx.names.many(already)))
        items += [
            ctx.t(
                "network.onboard.failed", user=ctx.names.one(o.user_id), error="; ".join(o.problems)
            )
            for o in failed
        ]
        items += [ctx.t("network.onboard.skipped", row=row) for row in skipped[:20]]
        if truncated:
            items.append(ctx.t("network.onboard.truncated"))
        return Text.join([*lines, Text.bullets(items)]) if items else lines[0]

    async def _attached_csv(self, ctx: Context) -> str | None:
        """The CSV the command replies to, else the asker's latest file in this room."""
        content = await attached_file(ctx, latest=True)
        if content is None:
            return None
        mimetype = (content.get("info") or {}).get("mimetype", "")
        filename = str(content.get("filename") or content.get("body") or "")
        if mimetype not in CSV_TYPES and not filename.lower().endswith((".csv", ".txt")):
            raise MessagingError(f"{filename} is not a CSV file")
        data = await download(self.account, content)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return data.decode("cp1252", errors="replace")

    async def _invite(self, net: NetworkRow, person: Candidate, role: str, inviter: str) -> Outcome:
        """Invite one person: remember them as pending, invite them to the space and the
        rooms for their role, give them their power level and send the welcome."""
        existing = self.data.member(net.id, person.user_id)
        if existing is not None and existing.status != LEFT:
            return Outcome(person.user_id, "already", existing.role)
        if not await self.hs.exists(person.user_id):
            problem = self._t(net.language, "network.invite.no_such_user").body
            return Outcome(person.user_id, "failed", role, net.language, [problem])
        member = Member(
            net.id,
            person.user_id,
            role,
            PENDING,
            display_name=person.display_name,
            languages=person.languages,
            region=person.region,
            experience=person.experience,
            invited_by=inviter,
            invited_at=self._now(),
        )
        language = self.service.language_of(member, net)
        outcome = Outcome(person.user_id, "invited", role, language)
        self.data.save_member(member)
        rooms = net.rooms_for(role)
        try:
            await self.hs.invite(rooms[0], person.user_id)  # the space: if that fails, stop
        except MatrixCallError as error:
            self.data.remove_member(net.id, person.user_id)
            return Outcome(person.user_id, "failed", role, language, [str(error)])
        for room_id in rooms[1:]:
            try:
                await self.hs.invite(room_id, person.user_id)
            except MatrixCallError as error:
                outcome.problems.append(str(error))
        if ROLE_LEVELS[role]:
            outcome.problems += await self._set_levels(net, person.user_id, ROLE_LEVELS[role])
        try:
            await self._welcome(net, member, inviter)
        except (MatrixCallError, MessagingError) as error:
            outcome.problems.append(
                self._t(language, "network.welcome.failed", error=str(error)).body
            )
        return outcome

    async def _welcome(self, net: NetworkRow, member: Member, inviter: str | None) -> None:
        """The welcome in a direct chat, in the member's language: the network, their role,
        the rules, and the agreement as its own message (a ✅ reaction to it accepts it)."""
        language = self.service.language_of(member, net)
        prefix = self.app.config.bots.command_prefix
        room_id = await direct_room(self.account, member.user_id, language)
        rules = (
            self._t(language, "network.welcome.rules", rules=multiline(net.rules))
            if net.rules
            else self._t(language, "network.welcome.no_rules")
        )
        role = self._role_name(language, member.role)
        hello = (
            self._t(
                language,
                "network.welcome.hello",
                network=net.name,
                inviter=Names(self.app, room_id).one(inviter),
                role=role,
            )
            if inviter
            else self._t(language, "network.welcome.hello_anonymous", network=net.name, role=role)
        )
        text = Text.join(
            [
                hello,
                rules,
                self._t(language, "network.welcome.privacy", prefix=prefix),
            ],
            "\n\n",
        )
        txn = f"welcome/{net.id}/{member.user_id}/{member.invited_at}"
        await notice(self.account, room_id, text, txn=txn)
        if net.agreement:
            await self._post_agreement(net, room_id, language, member.user_id, txn + "/agreement")

    # --- roles -----------------------------------------------------------------------------

    @command(
        "network role",
        Arg("user"),
        Arg("role", choices=ROLES),
        options=[Option("network", placeholder="name")],
        role=Role.coordinator,
        network=True,
        help="network.role.help",
    )
    async def role(self, ctx: Context, user: str, role: str, net: NetworkRow) -> None:
        user_id = self._user(ctx, user)
        if user_id is None:
            await ctx.reply("network.not_a_user_id", value=user)
            return
        member = self.data.member(net.id, user_id)
        if member is None or member.status == LEFT:
            await ctx.reply("network.not_member", user=ctx.names.one(user_id), network=net.name)
            return
        if (ROLE_LEVELS[role] >= 50 or member.level >= 50) and not await self.service.require(
            ctx, net, Role.meta_mentor, f"network role … {role}"
        ):
            return
        if member.role == role:
            await ctx.reply(
                "network.role.same",
                user=ctx.names.one(user_id),
                role=ctx.t(f"network.rolename.{role}"),
            )
            return
        if member.role == "meta-mentor" and self.data.meta_mentors(net.id) == [user_id]:
            await ctx.reply(
                "network.role.last_meta_mentor", user=ctx.names.one(user_id), network=net.name
            )
            return
        self.data.set_role(net.id, user_id, role)
        level = ROLE_LEVELS[role]
        problems = await self._set_levels(net, user_id, level)
        coordination = net.rooms.get(COORDINATION)
        try:
            if coordination and level >= 50 > member.level:
                await self.hs.invite(coordination, user_id)
            elif coordination and member.level >= 50 > level:
                reason = self._t(net.language, "network.role.kick_reason").body
                await self.hs.kick(coordination, user_id, reason)
        except MatrixCallError as error:
            problems.append(str(error))
        lines = [
            ctx.t(
                "network.role.done",
                user=ctx.names.one(user_id),
                role=ctx.t(f"network.rolename.{role}"),
                network=net.name,
                level=level,
                rooms=len(net.all_rooms()) - len(problems),
            )
        ]
        lines += [ctx.t("network.invite.problem", problem=p) for p in problems]
        await ctx.reply(Text.join(lines))

    # --- members ---------------------------------------------------------------------------

    @command(
        "network members",
        Arg("filter", optional=True),
        options=[Option("network", placeholder="name")],
        role=Role.coordinator,
        network=True,
        help="network.members.help",
    )
    async def members(self, ctx: Context, filter: str | None, net: NetworkRow) -> None:
        everyone = self.data.members(net.id)
        shown = [m for m in everyone if self._matches(ctx, m, filter)] if filter else everyone
        shown.sort(
            key=lambda m: (-m.level, ROLES.index(m.role) if m.role in ROLES else 9, m.user_id)
        )
        present = [m for m in everyone if m.status != LEFT]
        agreed = sum(
            1 for m in present if net.agreement and m.agreed_version == net.agreement_version
        )
        counts = {
            "joined": sum(1 for m in present if m.status == JOINED),
            "pending": sum(1 for m in present if m.status == PENDING),
        }
        title = counted(
            ctx, "network.members", counts, network=net.name, total=len(present), agreed=agreed
        )
        lines = [self._member_line(ctx, net, m) for m in shown[:MAX_LISTED]]
        parts = [title, Text.bullets(lines)] if lines else [title, ctx.t("network.members.nobody")]
        if len(shown) > MAX_LISTED:
            parts.append(ctx.t("network.members.more", more=len(shown) - MAX_LISTED))
        text = Text.join(parts)
        if ctx.room_id == net.rooms.get(COORDINATION):
            await ctx.reply(text)
        else:  # personal data: only in the network office or a direct chat
            await reply_privately(ctx, text)

    def _matches(self, ctx: Context, member: Member, needle: str) -> bool:
        needle = needle.casefold()
        haystack = [
            member.user_id,
            member.role,
            member.status,
            member.display_name or "",
            member.languages or "",
            member.region or "",
            ctx.t(f"network.rolename.{member.role}").body,
            ctx.t(f"network.status.{member.status}").body,
        ]
        return any(needle in value.casefold() for value in haystack)

    def _member_line(self, ctx: Context, net: NetworkRow, m: Member) -> Text:
        if not net.agreement:
            agreement = ctx.t("network.members.no_agreement")
        elif m.agreed_version == net.agreement_version:
            agreement = ctx.t("network.members.agreed", date=ctx.day(m.agreed_at or 0))
        elif m.agreed_version:
            agreement = ctx.t("network.members.agreed_old", version=m.agreed_version)
        else:
            agreement = ctx.t("network.members.not_agreed")
        parts = [
            ctx.t(
                "network.members.line",
                user=ctx.names.one(m.user_id),
                role=ctx.t(f"network.rolename.{m.role}"),
                status=ctx.t(f"network.status.{m.status}"),
                agreement=agreement,
            )
        ]
        if m.languages:
            parts.append(
                ctx.t(
                    "network.members.languages", languages=language_names(m.languages, ctx.language)
                )
            )
        if m.region:
            parts.append(ctx.t("network.members.region", region=m.region))
        active = ctx.day(m.last_active) if m.last_active else ctx.t("network.members.never")
        parts.append(ctx.t("network.members.active", active=active))
        return Text.join(parts, "; ")

    async def _membership(self, ctx: Context) -> None:
        event = ctx.incoming.event
        user_id = event.get("state_key") or ""
        membership = (event.get("content") or {}).get("membership")
        net = self.data.by_room(ctx.room_id)
        if net is None or not user_id or user_id in self.app.our_users:
            return
        member = self.data.member(net.id, user_id)
        when_ts = event.get("origin_server_ts", 0) / 1000
        if membership == "join":
            if member is None:
                if ctx.room_id == net.space:  # invited by hand (e.g. in Element): welcome too
                    await self._adopt(net, user_id, when_ts)
            elif member.status != JOINED:
                self.data.set_status(net.id, user_id, JOINED, when_ts)
        elif ctx.room_id == net.space and member is not None and member.status != LEFT:
            self.data.set_status(net.id, user_id, LEFT, when_ts)

    async def _adopt(self, net: NetworkRow, user_id: str, joined_at: float) -> None:
        level = await self.account.power_level(net.space, user_id)
        role = "meta-mentor" if level >= 100 else "coordinator" if level >= 50 else DEFAULT_ROLE
        member = Member(net.id, user_id, role, JOINED, invited_at=joined_at, joined_at=joined_at)
        self.data.save_member(member)
        try:
            await self._welcome(net, member, None)
        except (MatrixCallError, MessagingError) as error:
            log.warning("could not welcome", extra={"error": str(error)})
