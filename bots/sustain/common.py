"""What the sustaining bots share: the network a command is about (found and checked by the
network bot, not a copy of its logic), members, languages, numbering, links and posting into
a network's rooms."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from bots.network.common import day as day  # the sustain bots' date format
from bots.network.common import iso_day as iso_day
from bots.network.schema import Member, NetworkRow, NetworkStore
from bots.network.service import Networks
from core.account import Account
from core.commands import Bot, Command, Option
from core.context import Context
from core.text import Text

if TYPE_CHECKING:
    from core.app import App

DAY = 86_400.0
NETWORK = Option("network", placeholder="name")  # names the network a command is about


class SustainBot(Bot):
    """Base of the sustaining bots: each works on the networks the network bot keeps."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.network_service = app.service(Networks)

    # --- plumbing --------------------------------------------------------------------------

    @property
    def data(self) -> NetworkStore:
        return self.network_service.data

    @property
    def db(self) -> Any:
        return self.app.store.db

    @property
    def account(self) -> Account:
        """The account that created the networks' rooms and speaks in them."""
        return self.network_service.account

    @property
    def prefix(self) -> str:
        return self.app.config.bots.command_prefix

    @property
    def server(self) -> str:
        return self.account.user_id.split(":", 1)[1]

    def now(self) -> float:
        return self.app.clock.now().timestamp()

    def t(self, language: str, key: str, **values: Any) -> Text:
        return self.app.catalog.text(language, key, **values)

    # --- which network, and who may ----------------------------------------------------------

    async def network_for(self, ctx: Context, cmd: Command, name: str | None) -> NetworkRow | None:
        """The network the command is about (members-only commands were judged by
        `permits`); see `Networks.find`. Explains if none."""
        return await self.network_service.find(ctx, name)

    async def permits(
        self, ctx: Context, cmd: Command, arguments: dict[str, Any] | None
    ) -> bool | None:
        """Commands declared for coordinators: the asker's power level in the network they
        act on decides (see `Networks.permits`)."""
        return await self.network_service.permits(ctx, cmd, arguments)

    def member(self, net: NetworkRow, user_id: str) -> Member | None:
        """A member who has not left, or None."""
        return self.network_service.member(net, user_id)

    def language_of(self, user_id: str, net: NetworkRow) -> str:
        """The language to write to a person about `net` in (see `App.language`)."""
        return self.network_service.language_for(user_id, net)

    def networks(self) -> list[NetworkRow]:
        return self.network_service.all()

    def link(self, room_id: str, event_id: str | None, language: str) -> Text:
        """A matrix.to link to a room or to one of its events, shown as words."""
        target = f"{room_id}/{event_id}" if event_id else room_id
        url = f"https://matrix.to/#/{target}?via={self.server}"
        return Text.link(url, self.t(language, "link.open").body)


def next_number(db: Any, table: str, network_id: int) -> int:
    """The next per-network number of a row (goal #3, event #2): what people type."""
    row = db.execute(
        f"SELECT COALESCE(MAX(number), 0) + 1 FROM {table} WHERE network_id = ?", [network_id]
    ).fetchone()
    return int(row[0])


def parse_day(value: str) -> date:
    """A date typed as YYYY-MM-DD."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("use YYYY-MM-DD, e.g. 2027-06-30") from None
