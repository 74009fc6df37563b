"""What the network bot's parts share: the network a command is about, who may run it,
the bot's account on the homeserver, power levels in every room, posting the agreement."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from bots.network.common import multiline
from bots.network.matrix import Homeserver, MatrixCallError
from bots.network.roster import is_user_id
from bots.network.schema import LEFT, Member, NetworkRow, NetworkStore
from core.account import Account
from core.commands import Bot, Command, Role
from core.config import LANGUAGES
from core.context import Context
from core.messaging import notice
from core.text import Text

log = logging.getLogger(__name__)


_PILL = re.compile(r'<a href="https://matrix\.to/#/(@[^"?]+)[^"]*">([^<]*)</a>')


class NetworkBase(Bot):
    """The plumbing of the network bot (`bots.network.bot.Network`), which is made of this
    and its parts: setup, membership, and rules and agreement."""

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
            self.data.touch(network.id, ctx.sender, self._now())
        return network

    async def _level(self, ctx: Context, network: NetworkRow) -> int:
        """The asker's power level in the network: in the room the command was sent in if it
        is one of the network's, else in the network's space (rooms this instance created:
        never a room the asker made)."""
        room = ctx.room_id if ctx.room_id in network.rooms.values() else network.space
        return await self.account.power_level(room, ctx.sender)

    async def is_member(self, user_id: str, room_id: str | None) -> bool:
        """A member (invited or joined, not left) of the network `room_id` belongs to, if it
        is one; otherwise of any network."""
        network = self.data.by_room(room_id) if room_id else None
        if network is None:
            return bool(self.data.of_member(user_id))
        member = self.data.member(network.id, user_id)
        return member is not None and member.status != LEFT

    async def network_level(self, user_id: str, room_id: str | None) -> int:
        """The person's level in the network `room_id` belongs to (in that room), else their
        highest level in any network's space; 0 for someone in no network."""
        if room_id is not None and room_id in self._rooms:
            return await self.account.power_level(room_id, user_id)
        levels = [await self.account.power_level(space, user_id) for space in self._spaces]
        return max(levels, default=0)

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
            levels = [await self._level(ctx, net) for net in networks]
            return max(levels, default=0) >= cmd.role.value
        net = await self._network(ctx, arguments.get("network"))
        return net is not None and await self._require(ctx, net, cmd.role, cmd.name)

    async def _member_may(self, ctx: Context, cmd: Command, arguments: dict[str, Any]) -> bool:
        """A member command: the network named or of this room needs the asker as a member;
        elsewhere (a command about the person in all their networks) any network will do.
        Refuses with one line that says which network, or that there is none."""
        name = arguments.get("network")
        if name or self.data.by_room(ctx.room_id) is not None:
            net = await self._network(ctx, name)
            if net is None:
                return False
            member = self.data.member(net.id, ctx.sender)
            if member is not None and member.status != LEFT:
                return True
            command = self.app.config.bots.command_prefix + cmd.name
            await ctx.reply("sustain.members_only", network=net.name, command=command)
            return False
        if self.data.of_member(ctx.sender):
            return True
        await ctx.reply("network.none_here")
        return False

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

    def _language_of(self, member: Member, net: NetworkRow) -> str:
        """The language to write to a member of `net` in (see `App.language`)."""
        given = member.language(LANGUAGES, "") or None
        return self.app.language(member.user_id, given=given, room_language=net.language)

    def language_given(self, user_id: str) -> str | None:
        """The language given for the person when they were last invited to a network."""
        return self.data.given_language(user_id, LANGUAGES)

    def name_given(self, user_id: str) -> str | None:
        """The person's name on the roster of the network they were last invited to."""
        return self.data.given_name(user_id)

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
