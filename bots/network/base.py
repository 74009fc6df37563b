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
from bots.network.schema import NetworkRow, NetworkStore
from bots.network.service import Networks
from core.account import Account
from core.commands import Bot, Command
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
        self.service = app.service(Networks)  # what the other bots are given too
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

    async def is_member(self, user_id: str, room_id: str | None) -> bool:
        return self.service.is_member(user_id, room_id)

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
        """A command declared for coordinators acts on a network (see `Networks.permits`)."""
        return await self.service.permits(ctx, cmd, arguments)

    async def network_for(self, ctx: Context, cmd: Command, name: str | None) -> NetworkRow | None:
        """The network a command is about (see `Networks.find`); explains if none."""
        return await self.service.find(ctx, name)

    def network_roles(self, user_id: str) -> set[str]:
        return self.service.roles_of(user_id)

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
