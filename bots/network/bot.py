"""The Meta-Mentor assistant: a mentoring network as a Matrix space with its rooms, its
members and their roles, its rules and its agreement (DESIGN §3, the mentorNET strategy's
organisational phase)."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from bots.network import schema
from bots.network.common import iso, multiline, open_dm, reply_privately, send_dm, when
from bots.network.matrix import Homeserver, MatrixCallError, RoomPlan
from bots.network.roster import Candidate, is_user_id, parse
from bots.network.schema import (
    ANNOUNCEMENTS,
    COORDINATION,
    DEFAULT_ROLE,
    JOINED,
    LEFT,
    PENDING,
    ROLE_LEVELS,
    ROLES,
    ROOMS,
    SPACE,
    Member,
    NetworkRow,
    NetworkStore,
)
from core.account import Account
from core.commands import Arg, Bot, Command, Option, Role, command
from core.config import LANGUAGES
from core.context import Context
from core.i18n import LANGUAGE_NAMES
from core.messaging import MessagingError, attached_file, download, notice
from core.text import Text, shorten

log = logging.getLogger(__name__)

AGREE_KEYS = {"✅", "✅\ufe0f", "✔️", "✔", "☑️", "☑"}
MAX_TEXT = 12_000  # characters of rules or agreement
MAX_LISTED = 100  # members shown by `!network members`
ONBOARD_PARALLEL = 4  # people invited at the same time by `!network onboard`
CSV_TYPES = {"text/csv", "text/plain", "application/csv", "application/vnd.ms-excel"}
_PILL = re.compile(r'<a href="https://matrix\.to/#/(@[^"?]+)[^"]*">([^<]*)</a>')


@dataclass
class Outcome:
    """What happened when inviting one person."""

    user_id: str
    state: str  # invited | already | failed
    role: str = DEFAULT_ROLE
    language: str = "en"
    problems: list[str] = field(default_factory=list)


class Network(Bot):
    name = "network"
    migrations = schema.migrations

    def __init__(self, app: Any) -> None:
        self.app = app
        self._rooms: dict[str, int] = {}  # every network room (and space) -> its network
        self._spaces: set[str] = set()
        self._homeservers: dict[str, Homeserver] = {}
        self._agreements: set[str] = set()  # events a ✅ reaction accepts
        self._locks: dict[int, asyncio.Lock] = {}

    # --- plumbing --------------------------------------------------------------------------

    @property
    def data(self) -> NetworkStore:
        return NetworkStore(self.app.store)

    @property
    def account(self) -> Account:
        return self.app.accounts[self.app.account_of_bot(self)]

    @property
    def hs(self) -> Homeserver:
        account = self.account
        if account.name not in self._homeservers:
            self._homeservers[account.name] = Homeserver(account)
        return self._homeservers[account.name]

    def _reload(self) -> None:
        self._rooms = self.data.room_index()
        self._spaces = self.data.spaces()
        self._agreements = self.data.agreement_events()

    async def start(self) -> None:
        self._reload()

    async def room_upgraded(self, old_room: str, new_room: str) -> None:
        if old_room in self._rooms:
            self.data.move_room(old_room, new_room)
            self._reload()

    def _now(self) -> float:
        return self.app.clock.now().timestamp()

    def _t(self, language: str, key: str, **values: Any) -> Text:
        return self.app.catalog.text(language, key, **values)

    def _role_name(self, language: str, role: str) -> str:
        return self._t(language, f"network.rolename.{role}").body

    def _adopt_language(self, ctx: Context, network: NetworkRow) -> None:
        """Answer in the member's language (from onboarding) or the network's, unless the
        person or the room chose one."""
        row = self.app.store.db.execute(
            "SELECT (SELECT language FROM user_settings WHERE user_id = ?),"
            " (SELECT language FROM room_settings WHERE room_id = ?)",
            [ctx.sender, ctx.room_id],
        ).fetchone()
        if row[0] or row[1]:
            return
        member = self.data.member(network.id, ctx.sender)
        ctx.language = member.language(LANGUAGES, network.language) if member else network.language

    async def _network(self, ctx: Context, name: str | None = None) -> NetworkRow | None:
        """The network a command is about: named, or the one whose room it was sent in, or
        the asker's only network. Otherwise explains and returns None."""
        if name:
            network = self.data.by_name(name)
            if network is None:
                await ctx.reply("network.unknown_name", name=name)
        else:
            network = self.data.by_room(ctx.room_id)
            if network is None:
                mine = self.data.of_member(ctx.sender)
                if len(mine) == 1:
                    network = mine[0]
                elif mine:
                    names = ", ".join(n.name for n in mine)
                    await ctx.reply("network.which", names=names)
                else:
                    await ctx.reply("network.none_here")
        if network is not None:
            self._adopt_language(ctx, network)
            self.data.touch(network.id, ctx.sender, self._now())
        return network

    async def _level(self, ctx: Context, network: NetworkRow) -> int:
        """The asker's power level in the network: in the room the command was sent in if it
        is one of the network's, else in the network's space."""
        room = ctx.room_id if ctx.room_id in network.rooms.values() else network.space
        return await ctx.account.power_level(room, ctx.sender)

    async def permits(
        self, ctx: Context, cmd: Command, arguments: dict[str, Any] | None
    ) -> bool | None:
        """A command declared for coordinators acts on a network: the asker's power level in
        that network decides (DESIGN §3), wherever the command is sent. For `!help` (no
        arguments): in the network of this room, else in any of the asker's networks."""
        if ctx.is_admin:
            return True
        if arguments is None:
            by_room = self.data.by_room(ctx.room_id)
            networks = [by_room] if by_room else self.data.of_member(ctx.sender)
            levels = [await self._level(ctx, net) for net in networks]
            return max(levels, default=0) >= cmd.role.value
        net = await self._network(ctx, arguments.get("network"))
        return net is not None and await self._require(ctx, net, cmd.role, cmd.name)

    async def _require(self, ctx: Context, network: NetworkRow, role: Role, name: str) -> bool:
        """Whether the asker may run coordinator command `name`; refuses with one line."""
        if ctx.is_admin:
            return True
        level = await self._level(ctx, network)
        if level >= role.value:
            return True
        await ctx.reply(
            "network.refused",
            role=ctx.t(f"role.{role.name}"),
            command=self.app.config.bots.command_prefix + name,
            network=network.name,
            level=level,
        )
        return False

    def _user(self, ctx: Context, value: str) -> str | None:
        """A Matrix ID typed, or the person a pill (mention link) with this text points to."""
        if is_user_id(value):
            return value
        formatted = ctx.incoming.content.get("formatted_body") or ""
        for user_id, label in _PILL.findall(formatted):
            if label.strip().lstrip("@") == value.lstrip("@") and is_user_id(user_id):
                return user_id
        return None

    def _lock(self, network: NetworkRow) -> asyncio.Lock:
        return self._locks.setdefault(network.id, asyncio.Lock())

    # --- create and describe ---------------------------------------------------------------

    @command(
        "network create",
        Arg("name"),
        options=[Option("lang", choices=LANGUAGES)],
        help="network.create.help",
    )
    async def create(self, ctx: Context, name: str, lang: str | None) -> None:
        name = " ".join(name.split())
        if not (ctx.is_admin or self.app.config.invite_allowed(ctx.sender)):
            await ctx.reply("network.create.not_allowed")
            return
        if not 2 <= len(name) <= 80:
            await ctx.reply("network.create.bad_name")
            return
        if self.data.by_name(name) is not None:
            await ctx.reply("network.create.exists", name=name)
            return
        language = lang or ctx.language
        plans = [
            RoomPlan(
                purpose,
                self._t(language, f"network.room.{purpose}", network=name).body,
                self._t(language, f"network.topic.{purpose}", network=name).body,
            )
            for purpose in (SPACE, *ROOMS)
        ]
        try:
            rooms = await self.hs.create_network(ctx.sender, plans[0], plans[1:])
        except MatrixCallError as error:
            await ctx.reply("network.create.failed", error=str(error))
            return
        now = self._now()
        network_id = self.data.create(name, language, rooms, ctx.sender, now)
        self.data.save_member(
            Member(network_id, ctx.sender, "meta-mentor", PENDING, invited_at=now)
        )
        self._reload()
        await ctx.reply(
            "network.create.done",
            network=name,
            lang_name=LANGUAGE_NAMES[language],
            prefix=self.app.config.bots.command_prefix,
        )

    @command(
        "network info", options=[Option("network", placeholder="name")], help="network.info.help"
    )
    async def info(self, ctx: Context, network: str | None) -> None:
        net = await self._network(ctx, network)
        if net is None:
            return
        if self.data.member(net.id, ctx.sender) is None and not ctx.is_admin:
            await ctx.reply("network.members_only", network=net.name)
            return
        members = [m for m in self.data.members(net.id) if m.status != LEFT]
        by_role = {
            role: ", ".join(m.user_id for m in members if m.role == role) or "—"
            for role in ("meta-mentor", "coordinator")
        }
        room_names = [
            ctx.t(f"network.room.{purpose}", network=net.name).body
            for purpose in ROOMS
            if purpose in net.rooms
        ]
        agreed = sum(1 for m in members if m.agreed_version == net.agreement_version)
        agreement = (
            ctx.t(
                "network.info.agreement",
                version=net.agreement_version,
                agreed=agreed,
                total=len(members),
            )
            if net.agreement
            else ctx.t("network.info.no_agreement")
        )
        lines = [
            ctx.t("network.info.title", network=net.name, lang_name=LANGUAGE_NAMES[net.language]),
            ctx.t(
                "network.info.space",
                link=f"https://matrix.to/#/{net.space}?via={self.hs.server_name}",
            ),
            ctx.t("network.info.rooms", rooms=", ".join(room_names)),
            ctx.t(
                "network.info.members",
                total=len(members),
                joined=sum(1 for m in members if m.status == JOINED),
                pending=sum(1 for m in members if m.status == PENDING),
                meta=by_role["meta-mentor"],
                coordinators=by_role["coordinator"],
            ),
            ctx.t("network.info.rules_set" if net.rules else "network.info.no_rules"),
            agreement,
            ctx.t("network.info.created", date=when(net.created_at)),
        ]
        await ctx.reply(Text.join(lines))

    # --- inviting --------------------------------------------------------------------------

    @command(
        "network invite",
        Arg("user"),
        Arg("role", optional=True, choices=ROLES),
        options=[Option("lang", choices=LANGUAGES), Option("network", placeholder="name")],
        role=Role.coordinator,
        help="network.invite.help",
    )
    async def invite(
        self, ctx: Context, user: str, role: str | None, lang: str | None, network: str | None
    ) -> None:
        net = await self._network(ctx, network)
        if net is None:
            return
        role = role or DEFAULT_ROLE
        if ROLE_LEVELS[role] >= 50 and not await self._require(
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
            await ctx.reply("network.invite.already", user=user_id, network=net.name)
        elif outcome.state == "failed":
            await ctx.reply(
                "network.invite.failed", user=user_id, error="; ".join(outcome.problems)
            )
        else:
            lines = [
                ctx.t(
                    "network.invite.done",
                    user=user_id,
                    network=net.name,
                    role=role_name,
                    lang_name=LANGUAGE_NAMES[outcome.language],
                )
            ]
            lines += [ctx.t("network.invite.problem", problem=p) for p in outcome.problems]
            await ctx.reply(Text.join(lines))

    @command(
        "network onboard",
        Arg("people", optional=True, rest=True),
        role=Role.coordinator,
        help="network.onboard.help",
    )
    async def onboard(self, ctx: Context, people: str | None) -> None:
        net = await self._network(ctx)
        if net is None:
            return
        text = people or ""
        if not text.strip():
            try:
                text = await self._attached_csv(ctx)
            except MessagingError as error:
                await ctx.reply("network.onboard.bad_file", error=str(error))
                return
            if text is None:
                await ctx.reply(
                    "network.onboard.nothing", prefix=self.app.config.bots.command_prefix
                )
                return
        roster = parse(text)
        if not roster.people:
            await ctx.reply("network.onboard.nobody", rows=len(roster.problems))
            return
        if len(roster.people) > 10:
            await ctx.reply("network.onboard.working", count=len(roster.people))
        gate = asyncio.Semaphore(ONBOARD_PARALLEL)

        async def invite(candidate: Candidate) -> Outcome:
            role = "mentor-experienced" if candidate.experienced else DEFAULT_ROLE
            async with gate:
                return await self._invite(net, candidate, role, ctx.sender)

        outcomes = await asyncio.gather(*(invite(c) for c in roster.people))
        await ctx.reply(self._onboard_report(ctx, net, outcomes, roster.problems, roster.truncated))

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
        lines = [
            ctx.t(
                "network.onboard.summary",
                network=net.name,
                invited=len(invited),
                already=len(already),
                failed=len(failed),
                skipped=len(skipped),
            )
        ]
        items = [
            ctx.t(
                "network.onboard.invited",
                user=o.user_id,
                role=ctx.t(f"network.rolename.{o.role}"),
                lang_name=LANGUAGE_NAMES[o.language],
            )
            for o in invited
        ]
        items += [
            ctx.t("network.onboard.problem", user=o.user_id, problem=p)
            for o in invited
            for p in o.problems
        ]
        if already:
            items.append(ctx.t("network.onboard.already", users=", ".join(already)))
        items += [
            ctx.t("network.onboard.failed", user=o.user_id, error="; ".join(o.problems))
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
        language = member.language(LANGUAGES, net.language)
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
        language = member.language(LANGUAGES, net.language)
        prefix = self.app.config.bots.command_prefix
        room_id = await open_dm(self.account, member.user_id, language)
        rules = (
            self._t(language, "network.welcome.rules", rules=multiline(net.rules))
            if net.rules
            else self._t(language, "network.welcome.no_rules")
        )
        text = Text.join(
            [
                self._t(
                    language,
                    "network.welcome.hello",
                    network=net.name,
                    inviter=inviter or "—",
                    role=self._role_name(language, member.role),
                ),
                rules,
                self._t(language, "network.welcome.privacy", prefix=prefix),
            ],
            "\n\n",
        )
        txn = f"welcome/{net.id}/{member.user_id}/{member.invited_at}"
        await notice(self.account, room_id, text, txn=txn)
        if net.agreement:
            await self._post_agreement(net, room_id, language, member.user_id, txn + "/agreement")

    async def _post_agreement(
        self, net: NetworkRow, room_id: str, language: str, user_id: str | None, txn: str
    ) -> str | None:
        text = self._t(
            language,
            "network.agreement.post",
            network=net.name,
            version=net.agreement_version,
            agreement=multiline(net.agreement or ""),
            prefix=self.app.config.bots.command_prefix,
        )
        event_id = await notice(self.account, room_id, text, txn=txn)
        if event_id:
            self.data.note_agreement_message(
                net.id, net.agreement_version, room_id, event_id, user_id
            )
            self._agreements.add(event_id)
        return event_id

    async def _set_levels(self, net: NetworkRow, user_id: str, level: int | None) -> list[str]:
        """Set a power level in every room of the network; returns the failures."""
        problems = []
        async with self._lock(net):
            for room_id in net.all_rooms():
                try:
                    await self.hs.set_level(room_id, user_id, level)
                except MatrixCallError as error:
                    problems.append(f"{room_id}: {error}")
        return problems

    # --- roles -----------------------------------------------------------------------------

    @command(
        "network role",
        Arg("user"),
        Arg("role", choices=ROLES),
        options=[Option("network", placeholder="name")],
        role=Role.coordinator,
        help="network.role.help",
    )
    async def role(self, ctx: Context, user: str, role: str, network: str | None) -> None:
        net = await self._network(ctx, network)
        if net is None:
            return
        user_id = self._user(ctx, user)
        if user_id is None:
            await ctx.reply("network.not_a_user_id", value=user)
            return
        member = self.data.member(net.id, user_id)
        if member is None or member.status == LEFT:
            await ctx.reply("network.not_member", user=user_id, network=net.name)
            return
        if (ROLE_LEVELS[role] >= 50 or member.level >= 50) and not await self._require(
            ctx, net, Role.meta_mentor, f"network role … {role}"
        ):
            return
        if member.role == role:
            await ctx.reply(
                "network.role.same", user=user_id, role=ctx.t(f"network.rolename.{role}")
            )
            return
        if member.role == "meta-mentor" and self.data.meta_mentors(net.id) == [user_id]:
            await ctx.reply("network.role.last_meta_mentor", user=user_id, network=net.name)
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
                user=user_id,
                role=ctx.t(f"network.rolename.{role}"),
                network=net.name,
                level=level,
                rooms=len(net.all_rooms()) - len(problems),
            )
        ]
        lines += [ctx.t("network.invite.problem", problem=p) for p in problems]
        await ctx.reply(Text.join(lines))

    # --- rules and agreement ---------------------------------------------------------------

    @command(
        "network rules", options=[Option("network", placeholder="name")], help="network.rules.help"
    )
    async def rules(self, ctx: Context, network: str | None) -> None:
        net = await self._network(ctx, network)
        if net is None:
            return
        if not net.rules:
            await ctx.reply(
                "network.rules.none", network=net.name, prefix=self.app.config.bots.command_prefix
            )
            return
        await ctx.reply("network.rules.show", network=net.name, rules=multiline(net.rules))

    @command(
        "network rules set",
        Arg("text", rest=True),
        role=Role.coordinator,
        help="network.rules_set.help",
    )
    async def rules_set(self, ctx: Context, text: str) -> None:
        net = await self._network(ctx)
        if net is None:
            return
        text = text.strip()
        if len(text) > MAX_TEXT:
            await ctx.reply("network.too_long", length=len(text), limit=MAX_TEXT)
            return
        room_id = net.rooms[ANNOUNCEMENTS]
        post = self._t(net.language, "network.rules.post", network=net.name, rules=multiline(text))
        event_id = await notice(self.account, room_id, post, txn=f"{ctx.event_id}/rules")
        if event_id is None:
            await ctx.reply("network.post_failed")
            return
        problem = None
        try:
            await self.hs.pin(room_id, event_id, replaces=net.rules_event_id)
        except MatrixCallError as error:
            problem = str(error)
        self.data.set_rules(net.id, text, event_id)
        await ctx.reply(
            "network.rules.saved" if problem is None else "network.rules.saved_unpinned",
            network=net.name,
            room=self._t(net.language, f"network.room.{ANNOUNCEMENTS}", network=net.name).body,
            error=problem or "",
        )

    @command(
        "network agreement",
        options=[Option("network", placeholder="name")],
        help="network.agreement.help",
    )
    async def agreement(self, ctx: Context, network: str | None) -> None:
        net = await self._network(ctx, network)
        if net is None:
            return
        prefix = self.app.config.bots.command_prefix
        if not net.agreement:
            await ctx.reply("network.agreement.none", network=net.name, prefix=prefix)
            return
        member = self.data.member(net.id, ctx.sender)
        if member is None:
            status = ctx.t("network.agreement.status_outsider")
        elif member.agreed_version == net.agreement_version:
            status = ctx.t("network.agreement.status_agreed", date=when(member.agreed_at))
        else:
            status = ctx.t("network.agreement.status_open", prefix=prefix)
        shown = ctx.t(
            "network.agreement.show",
            network=net.name,
            version=net.agreement_version,
            agreement=multiline(net.agreement),
        )
        await ctx.reply(Text.join([shown, status], "\n\n"))

    @command(
        "network agreement set",
        Arg("text", rest=True),
        role=Role.coordinator,
        help="network.agreement_set.help",
    )
    async def agreement_set(self, ctx: Context, text: str) -> None:
        net = await self._network(ctx)
        if net is None:
            return
        text = text.strip()
        if len(text) > MAX_TEXT:
            await ctx.reply("network.too_long", length=len(text), limit=MAX_TEXT)
            return
        previous = net.agreement_event_id
        net.agreement_version = self.data.set_agreement(net.id, text)
        net.agreement = text
        room_id = net.rooms[ANNOUNCEMENTS]
        event_id = await self._post_agreement(
            net, room_id, net.language, None, f"{ctx.event_id}/agreement"
        )
        if event_id is None:
            await ctx.reply("network.post_failed")
            return
        problem = ""
        try:
            await self.hs.pin(room_id, event_id, replaces=previous)
        except MatrixCallError as error:
            problem = str(error)
        await ctx.reply(
            "network.agreement.saved",
            network=net.name,
            version=net.agreement_version,
            prefix=self.app.config.bots.command_prefix,
        )
        if problem:
            await ctx.reply("network.invite.problem", problem=problem)

    @command(
        "network agree", options=[Option("network", placeholder="name")], help="network.agree.help"
    )
    async def agree(self, ctx: Context, network: str | None) -> None:
        net = await self._network(ctx, network)
        if net is None:
            return
        member = self.data.member(net.id, ctx.sender)
        if member is None or member.status == LEFT:
            await ctx.reply("network.agree.not_member", network=net.name)
            return
        if not net.agreement:
            await ctx.reply(
                "network.agreement.none",
                network=net.name,
                prefix=self.app.config.bots.command_prefix,
            )
            return
        if member.agreed_version == net.agreement_version:
            await ctx.reply(
                "network.agree.already",
                network=net.name,
                version=net.agreement_version,
                date=when(member.agreed_at),
            )
            return
        self.data.agree(net.id, ctx.sender, net.agreement_version, self._now())
        await ctx.reply("network.agree.done", network=net.name, version=net.agreement_version)

    # --- members ---------------------------------------------------------------------------

    @command(
        "network members",
        Arg("filter", optional=True),
        options=[Option("network", placeholder="name")],
        role=Role.coordinator,
        help="network.members.help",
    )
    async def members(self, ctx: Context, filter: str | None, network: str | None) -> None:
        net = await self._network(ctx, network)
        if net is None:
            return
        everyone = self.data.members(net.id)
        shown = [m for m in everyone if self._matches(ctx, m, filter)] if filter else everyone
        shown.sort(
            key=lambda m: (-m.level, ROLES.index(m.role) if m.role in ROLES else 9, m.user_id)
        )
        present = [m for m in everyone if m.status != LEFT]
        agreed = sum(
            1 for m in present if net.agreement and m.agreed_version == net.agreement_version
        )
        title = ctx.t(
            "network.members.title",
            network=net.name,
            total=len(present),
            joined=sum(1 for m in present if m.status == JOINED),
            pending=sum(1 for m in present if m.status == PENDING),
            agreed=agreed,
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
            agreement = ctx.t("network.members.agreed", date=when(m.agreed_at))
        elif m.agreed_version:
            agreement = ctx.t("network.members.agreed_old", version=m.agreed_version)
        else:
            agreement = ctx.t("network.members.not_agreed")
        return ctx.t(
            "network.members.line",
            user=m.user_id,
            name=f" ({shorten(m.display_name, 60)})" if m.display_name else "",
            role=ctx.t(f"network.rolename.{m.role}"),
            status=ctx.t(f"network.status.{m.status}"),
            agreement=agreement,
            languages=m.languages or "—",
            region=m.region or "—",
            active=when(m.last_active) if m.last_active else ctx.t("network.members.never"),
        )

    # --- events that are not commands ------------------------------------------------------

    def wants(self, incoming: Any) -> bool:
        event = incoming.event
        kind = event.get("type")
        room_id = incoming.room_id
        if kind == "m.room.message":
            network_id = self._rooms.get(room_id)
            if network_id is not None:  # last activity, noted right here: no inbox row needed
                self.data.touch(
                    network_id, incoming.sender, event.get("origin_server_ts", 0) / 1000
                )
            return False
        if kind == "m.room.member" and room_id in self._rooms:
            membership = (event.get("content") or {}).get("membership")
            return membership == "join" or (
                membership in ("leave", "ban") and room_id in self._spaces
            )
        if kind == "m.reaction":
            relation = (event.get("content") or {}).get("m.relates_to") or {}
            return (
                relation.get("event_id") in self._agreements and relation.get("key") in AGREE_KEYS
            )
        return False

    async def on_event(self, ctx: Context) -> None:
        event = ctx.incoming.event
        if event.get("type") == "m.reaction":
            await self._reacted(ctx)
        elif event.get("type") == "m.room.member":
            await self._membership(ctx)

    async def _reacted(self, ctx: Context) -> None:
        relation = ctx.incoming.content.get("m.relates_to") or {}
        found = self.data.agreement_message(relation.get("event_id", ""))
        net = self.data.get(found[0]) if found else None
        if net is None or found is None:
            return
        member = self.data.member(net.id, ctx.sender)
        if member is None or member.status == LEFT:
            return
        language = self._language_of(member, net)
        if found[1] != net.agreement_version:
            text = self._t(
                language, "network.agree.old_version", network=net.name, version=found[1]
            )
        elif member.agreed_version == net.agreement_version:
            return
        else:
            self.data.agree(net.id, ctx.sender, net.agreement_version, self._now())
            text = self._t(
                language, "network.agree.done", network=net.name, version=net.agreement_version
            )
        try:
            await send_dm(self.account, ctx.sender, text, txn=f"{ctx.event_id}/agreed")
        except (MatrixCallError, MessagingError) as error:
            log.warning("could not confirm an agreement", extra={"error": str(error)})

    def _language_of(self, member: Member, net: NetworkRow) -> str:
        row = self.app.store.db.execute(
            "SELECT language FROM user_settings WHERE user_id = ?", [member.user_id]
        ).fetchone()
        return row[0] if row and row[0] else member.language(LANGUAGES, net.language)

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

    # --- personal data (see bots.network.privacy) ------------------------------------------

    def personal_data(self, user_id: str) -> dict[str, Any]:
        """Everything this bot stores about `user_id`, JSON-ready."""
        memberships = []
        for m in self.data.memberships(user_id):
            net = self.data.get(m.network_id)
            memberships.append(
                {
                    "network": net.name if net else m.network_id,
                    "role": m.role,
                    "status": m.status,
                    "name": m.display_name,
                    "languages": m.languages,
                    "region": m.region,
                    "experience": m.experience,
                    "invited_by": m.invited_by,
                    "invited_at": iso(m.invited_at),
                    "joined_at": iso(m.joined_at),
                    "agreement_version": m.agreed_version,
                    "agreed_at": iso(m.agreed_at),
                    "last_active": iso(m.last_active),
                }
            )
        created = [
            row[0]
            for row in self.app.store.db.execute(
                "SELECT name FROM networks WHERE created_by = ?", [user_id]
            ).fetchall()
        ]
        result: dict[str, Any] = {}
        if memberships:
            result["memberships"] = memberships
        if created:
            result["networks_created"] = created
        return result

    def sole_meta_mentor_of(self, user_id: str) -> list[str]:
        """Networks that would be left without a Meta-Mentor if `user_id` went."""
        names = []
        for m in self.data.memberships(user_id):
            if m.role == "meta-mentor" and self.data.meta_mentors(m.network_id) == [user_id]:
                net = self.data.get(m.network_id)
                if net:
                    names.append(net.name)
        return names

    def networks_of(self, user_id: str) -> list[str]:
        return [
            net.name
            for m in self.data.memberships(user_id)
            if (net := self.data.get(m.network_id)) is not None
        ]

    async def forget_person(self, user_id: str) -> None:
        """Remove `user_id` from every network's rooms and power levels, then erase them."""
        for m in self.data.memberships(user_id):
            net = self.data.get(m.network_id)
            if net is None:
                continue
            reason = self._t(net.language, "network.forget.kick_reason").body
            for room_id in net.all_rooms():
                try:
                    await self.hs.kick(room_id, user_id, reason)
                except MatrixCallError as error:
                    log.warning("could not remove", extra={"room": room_id, "error": str(error)})
            await self._set_levels(net, user_id, None)
        self.data.forget(user_id)
        self._reload()
