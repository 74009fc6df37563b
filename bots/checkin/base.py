"""What the check-in bot's parts share: its state and plumbing. `Checkin` is made of these
parts (`CoordinatorCommands`, `ReportCommands`, `MemberCommands`), each a `CheckinBase`, so the
type checker knows what every part may use."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bots.checkin.schema import MENTOR_ROLES, CheckinStore, Round
from bots.network.common import reply_privately
from bots.network.schema import COORDINATION, JOINED, Member, NetworkRow, NetworkStore
from bots.network.service import Networks
from core.account import Account
from core.commands import Bot, Command
from core.context import Context
from core.text import Text

if TYPE_CHECKING:
    from bots.checkin.rounds import Rounds
    from core.app import App


class CheckinBase(Bot):
    """The check-in bot's state (set by `Checkin.__init__`) and the plumbing of its parts."""

    app: App
    data: CheckinStore
    networks: NetworkStore
    network_service: Networks  # the network a command is about, roles, languages
    rounds: Rounds
    lock: asyncio.Lock  # one tick (or `!checkin now`) at a time

    # --- plumbing ----------------------------------------------------------------------------

    @property
    def account(self) -> Account:
        return self.app.accounts[self.app.account_of_bot(self)]

    async def permits(
        self, ctx: Context, cmd: Command, arguments: dict[str, Any] | None
    ) -> bool | None:
        """Commands declared for coordinators: the asker's power level in the network they
        act on decides (see `Networks.permits`), for running them and for what `!help` lists."""
        return await self.network_service.permits(ctx, cmd, arguments)

    def now(self) -> datetime:
        return self.app.clock.now()

    def t(self, language: str, key: str, **values: Any) -> Text:
        return self.app.catalog.text(language, key, **values)

    def mentors(self, network: NetworkRow) -> list[Member]:
        """The members who are asked to check in: mentors who joined."""
        return [
            m
            for m in self.networks.members(network.id)
            if m.role in MENTOR_ROLES and m.status == JOINED
        ]

    def language_of(self, member: Member, network: NetworkRow) -> str:
        return self.network_service.language_of(member, network)

    def zone_of(self, user_id: str, network: NetworkRow) -> ZoneInfo:
        timezone, _ = self.data.person(user_id)
        return ZoneInfo(timezone or self.data.settings(network.id).timezone)

    def local_date(self, user_id: str, network: NetworkRow, now: datetime) -> str:
        return now.astimezone(self.zone_of(user_id, network)).date().isoformat()

    async def summarise(self, round_: Round, now: datetime) -> None:
        """Post the summary of a closed round (see `Checkin.summarise`)."""
        raise NotImplementedError

    async def network_for(self, ctx: Context, cmd: Command, name: str | None) -> NetworkRow | None:
        """The network an office command is about (the asker's level was checked by
        `permits` before the command ran); explains if none."""
        return await self.network_service.find(ctx, name)

    async def _answer(self, ctx: Context, net: NetworkRow, text: Text) -> str:
        """Answer in the coordination room if asked there, else in the asker's direct chat."""
        if ctx.room_id == net.rooms.get(COORDINATION):
            await ctx.reply(text)
            return ctx.room_id
        return await reply_privately(ctx, text)
