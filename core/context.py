"""What a command handler gets: who asked, where, in which language, and how to answer."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core import dates, messaging
from core.account import Account, Incoming
from core.people import Names
from core.text import Text

# A reply that fails for a reason that can pass is tried again with back-off (1, 2, 4 … s,
# at most the configured max back-off each) before the command is given up and logged.
REPLY_ATTEMPTS = 12

if TYPE_CHECKING:
    from core.app import App


@dataclass
class Context:
    """One command being handled."""

    app: App
    account: Account
    incoming: Incoming
    language: str
    # What a bot found for this command, kept for the rest of it: the network it is about is
    # found once (by `permits`) and reused when it is handed to the handler (`Bot.network_for`),
    # so it is looked up (and the asker's activity noted) once per command.
    found: dict[Any, Any] = field(default_factory=dict, init=False)
    _sent: int = field(default=0, init=False)

    @property
    def room_id(self) -> str:
        return self.incoming.room_id

    @property
    def sender(self) -> str:
        return self.incoming.sender

    @property
    def event_id(self) -> str:
        return self.incoming.event_id

    @property
    def thread_root(self) -> str | None:
        """The thread the command was sent in, if any."""
        relation = self.incoming.content.get("m.relates_to") or {}
        return relation.get("event_id") if relation.get("rel_type") == "m.thread" else None

    @property
    def elapsed_ms(self) -> float:
        """Time since the sync delivered the command."""
        return (time.monotonic() - self.incoming.received) * 1000

    def t(self, key: str, **values: Any) -> Text:
        """A translated text in the asker's language."""
        return self.app.catalog.text(self.language, key, **values)

    @property
    def names(self) -> Names:
        """How to name people in a reply (see `core.people`)."""
        return Names(self.app, self.room_id)

    def open_link(self, url: str) -> Text:
        """A link shown as the words "open it" in the asker's language (see `Text.link`)."""
        return Text.link(url, self.t("link.open").body)

    def day(self, timestamp: float) -> str:
        """A date in the asker's language and time zone."""
        return dates.day(timestamp, self.language, dates.zone_of(self.app, self.sender))

    def period(self, start: float, end: float) -> str:
        """The days from `start` to `end` in the asker's language and zone, one day once."""
        return dates.period(start, end, self.language, dates.zone_of(self.app, self.sender))

    def when(self, timestamp: float) -> str:
        """A date and time in the asker's language and time zone."""
        return dates.when(timestamp, self.language, dates.zone_of(self.app, self.sender))

    async def reply(self, text: Text | str, **values: Any) -> str:
        """Answer the command: an `m.notice` replying to it, in its thread if it was in one.

        `text` is a catalogue key (rendered with `values`) or a ready `Text`. Returns the
        event id; raises `SendError` when it could not be sent, also after trying again.
        """
        if isinstance(text, str):
            text = self.t(text, **values)
        self._sent += 1
        # The same transaction id for the same answer: a reply re-sent after a crash lands once.
        return await messaging.notice(
            self.account,
            self.room_id,
            text,
            txn=f"{self.event_id}/{self._sent}",
            reply_to=self.event_id,
            thread=self.thread_root,
            mentions=[self.sender],
            attempts=REPLY_ATTEMPTS,
        )

    async def power_level(self) -> int:
        """The asker's level in the room the command was sent in: it speaks for that room only
        (its creator outranks everyone in it), never for a network or the instance."""
        return await self.account.power_level(self.room_id, self.sender)

    async def network_level(self, *, anywhere: bool = False) -> int:
        """The asker's level for acting for this instance's networks: in the network the
        command's room belongs to, else (or `anywhere`) their highest in any network, read
        from the rooms the instance created for them (see `Bot.network_level`)."""
        room_id = None if anywhere else self.room_id
        levels = [await bot.network_level(self.sender, room_id) for bot in self.app.bots]
        return max(levels, default=0)

    async def in_network(self) -> bool:
        """Whether the asker is a member of the network the command's room belongs to, else
        of any network of this instance (see `Bot.is_member`)."""
        for bot in self.app.bots:
            if await bot.is_member(self.sender, self.room_id):
                return True
        return False

    @property
    def is_admin(self) -> bool:
        return self.sender in self.app.config.bots.admins
