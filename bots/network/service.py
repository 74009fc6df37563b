"""The networks the network bot keeps, as a service for every bot that works on them: the
network a command is about (found once per command), who may act on it, its members, their
roles, names and languages, and posting in its rooms. A bot takes it in its constructor:
`app.service(Networks)`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bots.network.schema import COORDINATION, LEFT, Member, NetworkRow, NetworkStore
from core.account import Account
from core.commands import Command, Role
from core.config import LANGUAGES
from core.context import Context
from core.messaging import notice, to_person
from core.sending import SendError
from core.text import Text

if TYPE_CHECKING:
    from core.app import App

log = logging.getLogger(__name__)

# The bot whose account created the networks' rooms and speaks in them.
NETWORK_BOT = "network"


class Networks:
    """The networks of this instance, shared by the bots (one per app, see `App.service`)."""

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def data(self) -> NetworkStore:
        return NetworkStore(self.app.store)

    @property
    def account(self) -> Account:
        """The account that created the networks' rooms and speaks in them."""
        return self.app.accounts[self.app.account_named(NETWORK_BOT)]

    # --- the network a command is about ------------------------------------------------------

    async def find(self, ctx: Context, name: str | None = None) -> NetworkRow | None:
        """The network a command is about: named, or the one whose room it was sent in, or
        the asker's only network. Otherwise explains and returns None. Found once per command
        (in `permits`, then reused for the handler); the asker's activity is noted then. Who
        may run the command was judged by `permits`. What the bots give as `Bot.network_for`."""
        key = ("network", name)
        if key not in ctx.found:
            network = await self._find(ctx, name)
            if network is not None:
                self.data.touch(network.id, ctx.sender, self.app.clock.now().timestamp())
            ctx.found[key] = network
        found: NetworkRow | None = ctx.found[key]
        return found

    async def _find(self, ctx: Context, name: str | None) -> NetworkRow | None:
        data = self.data
        if name:
            network = data.by_name(name)
            if network is None:
                await ctx.reply("network.unknown_name", name=name)
            return network
        network = data.by_room(ctx.room_id)
        if network is not None:
            return network
        mine = data.of_member(ctx.sender)
        if len(mine) == 1:
            return mine[0]
        if mine:
            await ctx.reply("network.which", names=", ".join(n.name for n in mine))
        else:
            await ctx.reply("network.none_here")
        return None

    # --- who may act on it -------------------------------------------------------------------

    async def level(self, ctx: Context, network: NetworkRow) -> int:
        """The asker's power level in the network: in the room the command was sent in if it
        is one of the network's, else in the network's space (rooms this instance created:
        never a room the asker made)."""
        room = ctx.room_id if ctx.room_id in network.rooms.values() else network.space
        return await self.account.power_level(room, ctx.sender)

    async def permits(
        self, ctx: Context, cmd: Command, arguments: dict[str, Any] | None
    ) -> bool | None:
        """A command declared for coordinators acts on a network: the asker's power level in
        that network's rooms decides, wherever the command is sent. For `!help` (no
        arguments): in the network of this room, else in any of the asker's networks. A
        command for members: for `!help` the runtime judges (by `is_member`); run, it needs
        membership in the network it is about (see `_member_may`)."""
        if ctx.is_admin:
            return True
        if cmd.role is Role.member:
            return None if arguments is None else await self._member_may(ctx, cmd, arguments)
        if arguments is None:
            by_room = self.data.by_room(ctx.room_id)
            networks = [by_room] if by_room else self.data.of_member(ctx.sender)
            levels = [await self.level(ctx, net) for net in networks]
            return max(levels, default=0) >= cmd.role.value
        net = await self.find(ctx, arguments.get("network"))
        return net is not None and await self.require(ctx, net, cmd.role, cmd.name)

    async def _member_may(self, ctx: Context, cmd: Command, arguments: dict[str, Any]) -> bool:
        """A member command: the network named or of this room needs the asker as a member;
        elsewhere (a command about the person in all their networks) any network will do.
        Refuses with one line that says which network, or that there is none."""
        name = arguments.get("network")
        if name or self.data.by_room(ctx.room_id) is not None:
            net = await self.find(ctx, name)
            if net is None:
                return False
            if self.is_member_of(net, ctx.sender):
                return True
            command = self.app.config.bots.command_prefix + cmd.name
            await ctx.reply("network.members_only_command", network=net.name, command=command)
            return False
        if self.data.of_member(ctx.sender):
            return True
        await ctx.reply("network.none_here")
        return False

    def is_member(self, user_id: str, room_id: str | None) -> bool:
        """A member (invited or joined, not left) of the network `room_id` belongs to, if it
        is one; otherwise of any network."""
        network = self.data.by_room(room_id) if room_id else None
        if network is None:
            return bool(self.data.of_member(user_id))
        return self.is_member_of(network, user_id)

    def is_member_of(self, network: NetworkRow, user_id: str) -> bool:
        member = self.data.member(network.id, user_id)
        return member is not None and member.status != LEFT

    async def require(self, ctx: Context, network: NetworkRow, role: Role, name: str) -> bool:
        """Whether the asker may run coordinator command `name`; refuses with one line."""
        if ctx.is_admin:
            return True
        level = await self.level(ctx, network)
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

    # --- networks and their members ----------------------------------------------------------

    def all(self) -> list[NetworkRow]:
        """Every network of the instance, oldest first."""
        return self.data.all()

    def member(self, network: NetworkRow, user_id: str) -> Member | None:
        """A member who has not left, or None."""
        member = self.data.member(network.id, user_id)
        return member if member is not None and member.status != LEFT else None

    def roles_of(self, user_id: str) -> set[str]:
        """The person's roles in the networks they have not left."""
        return {m.role for m in self.data.memberships(user_id) if m.status != LEFT}

    def names_of(self, user_id: str) -> list[str]:
        """The names of the networks the person is (or was) a member of."""
        return [
            net.name
            for m in self.data.memberships(user_id)
            if (net := self.data.get(m.network_id)) is not None
        ]

    def sole_meta_mentor_of(self, user_id: str) -> list[str]:
        """The networks that would be left without a Meta-Mentor if the person went."""
        names = []
        for m in self.data.memberships(user_id):
            if m.role == "meta-mentor" and self.data.meta_mentors(m.network_id) == [user_id]:
                net = self.data.get(m.network_id)
                if net:
                    names.append(net.name)
        return names

    def language_of(self, member: Member, network: NetworkRow) -> str:
        """The language to write to a member of `network` in (see `App.language`)."""
        given = member.language(LANGUAGES, "") or None
        return self.app.language(member.user_id, given=given, room_language=network.language)

    def language_for(self, user_id: str, network: NetworkRow) -> str:
        """The language to write to a person about `network` in, member or not."""
        member = self.data.member(network.id, user_id)
        if member is not None:
            return self.language_of(member, network)
        return self.app.language(user_id, room_language=network.language)

    # --- posting in a network's rooms --------------------------------------------------------

    async def post(
        self,
        network: NetworkRow,
        purpose: str,
        text: Text,
        *,
        txn: str,
        reply_to: str | None = None,
        mentions: Sequence[str] = (),
    ) -> str | None:
        """A notice in one of the network's rooms (by purpose) that notifies only `mentions`
        (nobody by default), whoever else it names. Returns its event id, None when the
        network has no such room; raises `SendError`."""
        room_id = network.rooms.get(purpose)
        if room_id is None:
            return None
        return await notice(
            self.account, room_id, text, txn=txn, reply_to=reply_to, mentions=mentions
        )

    async def to_office(
        self,
        network: NetworkRow,
        text: Text,
        *,
        txn: str,
        mentions: Sequence[str] = (),
        account: Account | None = None,
    ) -> str:
        """Post to the network office: its coordination room (Meta-Mentors and coordinators
        only); without one, or when that fails, to each Meta-Mentor's direct chat. `account`:
        who speaks (the networks' account by default). Returns an event id; raises
        `SendError` when it reached nobody."""
        account = account or self.account
        room_id = network.rooms.get(COORDINATION)
        problem = SendError(room_id or network.name, "no network office", transient=False)
        if room_id:
            try:
                return await notice(account, room_id, text, txn=txn, mentions=mentions)
            except SendError as error:
                log.warning("could not post to the office", extra={"error": str(error)})
                problem = error
        posted = None
        for user_id in self.data.meta_mentors(network.id):
            try:
                posted = await to_person(
                    account,
                    user_id,
                    text,
                    txn=f"{txn}/{user_id}",
                    language=network.language,
                    mentions=mentions,
                )
            except Exception as error:  # the others are still tried
                log.warning("could not reach a Meta-Mentor", extra={"error": str(error)})
                if isinstance(error, SendError):
                    problem = error
        if posted is None:
            raise problem
        return posted
