"""People by name: how every bot names a person in a message.

A person's name is the one given for them at onboarding (the roster, kept by the network bot
and offered to every bot through `Bot.name_given`), else their Matrix display name in a room
the bots share with them, else the localpart of their Matrix ID. It is rendered as a `Text`:
the name as the plain body, a mention pill (a matrix.to link) as the HTML. A pill alone does
not notify: who is alerted is decided by the message's `m.mentions`, set by the sender.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from core.text import Text

if TYPE_CHECKING:
    from core.app import App

MAX_NAMED = 100  # people named in one list; the rest are counted


def localpart(user_id: str) -> str:
    """`carol` for `@carol:server`."""
    return user_id.removeprefix("@").split(":", 1)[0] or user_id


def matrix_name(app: App, user_id: str, room_id: str | None = None) -> str | None:
    """The person's display name in a room the bots share with them (`room_id` first)."""
    for account in app.accounts.values():
        rooms = account.client.rooms
        candidates = [rooms[room_id]] if room_id in rooms else []
        candidates += [room for room in rooms.values() if user_id in room.users]
        for room in candidates:
            member = room.users.get(user_id)
            if member is not None and member.display_name:
                return member.display_name
    return None


def name_of(app: App, user_id: str, room_id: str | None = None) -> str:
    """The name people know the person by (see the module docstring)."""
    for bot in app.bots:
        given = bot.name_given(user_id)
        if given:
            return given
    return matrix_name(app, user_id, room_id) or localpart(user_id)


def pill(user_id: str, name: str) -> Text:
    """The name as plain text; in HTML a link to the person that clients render as a pill."""
    href = "https://matrix.to/#/" + quote(user_id, safe="@:")
    return Text(
        body=name, html=f'<a href="{html.escape(href)}">{html.escape(name, quote=True)}</a>'
    )


def person(app: App, user_id: str, room_id: str | None = None) -> Text:
    """One person, by name, as a mention."""
    return pill(user_id, name_of(app, user_id, room_id))


def people(
    app: App, user_ids: Iterable[str], room_id: str | None = None, limit: int = MAX_NAMED
) -> Text:
    """Several people by name, alphabetically, comma-separated; beyond `limit` a count."""
    named = sorted(
        ((name_of(app, user, room_id), user) for user in set(user_ids)),
        key=lambda pair: pair[0].casefold(),
    )
    text = Text.join([pill(user, name) for name, user in named[:limit]], ", ")
    if len(named) > limit:
        text = Text.join([text, Text.plain(f"(+{len(named) - limit})")], " ")
    return text


@dataclass(frozen=True)
class Names:
    """Naming people for one message: what a bot hands to the code that writes its texts."""

    app: App
    room_id: str | None = None

    def one(self, user_id: str) -> Text:
        return person(self.app, user_id, self.room_id)

    def many(self, user_ids: Iterable[str], limit: int = MAX_NAMED) -> Text:
        return people(self.app, user_ids, self.room_id, limit)

    def name(self, user_id: str) -> str:
        """The name only, for where no link can go (a sort key, an e-mail, a file)."""
        return name_of(self.app, user_id, self.room_id)
