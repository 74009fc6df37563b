"""Helpers the bots share: private answers (through `core.messaging`), formatting."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.lists import format_list

from core import dates
from core.account import Account
from core.context import Context
from core.messaging import DirectChat, direct_chat, notice
from core.text import Text


def multiline(value: str) -> Text:
    """Untrusted text shown as typed, line breaks kept."""
    escaped = html.escape(value, quote=True).replace("\n", "<br>\n")
    return Text(body=value, html=escaped)


def counted(ctx: Context, prefix: str, counts: dict[str, int], **values: Any) -> Text:
    """`<prefix>.summary` with the counts that are not zero (`<prefix>.count.<name>`, each in
    its plural form) as one list in the reader's language; `<prefix>.title` if all are zero."""
    listed = count_list(ctx.t, ctx.language, f"{prefix}.count", counts)
    if not listed:
        return ctx.t(f"{prefix}.title", **values)
    return ctx.t(f"{prefix}.summary", counts=listed, **values)


def count_list(t: Callable[..., Text], language: str, keys: str, counts: dict[str, int]) -> str:
    """The counts that are not zero, each as `<keys>.<name>` in its plural form, as one list in
    `language` ("1 skipped and 2 on holiday"); "" if all are zero. `t(key, **values)`."""
    parts = [t(f"{keys}.{name}", count=n).body for name, n in counts.items() if n]
    return format_list(parts, style="standard", locale=language) if parts else ""


def when(timestamp: float, language: str, zone: ZoneInfo | None = None) -> str:
    """A stored time as people read it, in their language and zone (see `core.dates`)."""
    return dates.when(timestamp, language, zone)


def day(timestamp: float, language: str, zone: ZoneInfo | None = None) -> str:
    """A stored time as a date, in the reader's language and zone (see `core.dates`)."""
    return dates.day(timestamp, language, zone)


def iso_day(timestamp: float) -> str:
    """A stored time as an ISO date in UTC: for data (files, `!me` records, queries)."""
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def iso(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def is_private(account: Account, room_id: str, user_id: str) -> bool:
    """Whether only the bot and `user_id` are in the room (joined or invited)."""
    room = account.client.rooms.get(room_id)
    return room is not None and set(room.users) <= {account.user_id, user_id}


async def private_chat(ctx: Context, *, here: bool = True) -> DirectChat:
    """Where what is for the asker alone goes: the room they asked in when only they and
    the bot are in it (and `here` allows it), else their direct chat."""
    if here and is_private(ctx.account, ctx.room_id, ctx.sender):
        return DirectChat(ctx.room_id)
    return await direct_chat(ctx.account, ctx.sender)


def sent_there(ctx: Context, chat: DirectChat, key: str, **values: Any) -> Text:
    """The answer `key` that says something went to our direct chat, plus, while the asker
    has only an invitation to it, that they must accept it."""
    text = ctx.t(key, **values)
    return Text.join([text, ctx.t("network.dm_invited")], " ") if chat.invited else text


def dm_rooms(account: Account, user_id: str) -> list[tuple[str, str]]:
    """(account name, room id) of every account's direct chat with `user_id`."""
    rows = account.store.db.execute(
        "SELECT account, room_id FROM direct_rooms WHERE user_id = ?", [user_id]
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


async def reply_privately(ctx: Context, text: Text, *, txn: str | None = None) -> str:
    """Answer in the room if only the asker and the bot are in it; otherwise send the answer
    to the asker's direct chat and say so in the room. Returns the room answered in."""
    chat = await private_chat(ctx)
    if chat.room_id == ctx.room_id:
        await ctx.reply(text)
        return ctx.room_id
    await notice(ctx.account, chat.room_id, text, txn=txn or f"{ctx.event_id}/private")
    await ctx.reply(sent_there(ctx, chat, "network.sent_privately"))
    return chat.room_id


def fields_text(ctx: Context, record: dict[str, Any]) -> Text:
    """A record as `label: value` pairs, labels translated when the catalogue has them."""
    parts = []
    for key, value in record.items():
        if value in (None, "", [], {}):
            continue
        label_key = f"me.field.{key}"
        label = ctx.t(label_key).body if label_key in ctx.app.catalog.entries else key
        parts.append(Text.join([Text.plain(f"{label}: "), _value_text(ctx, value)], ""))
    return Text.join(parts, "; ")


_ISO_MOMENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?([+-]\d\d:\d\d|Z)?$")
_ISO_DAY = re.compile(r"^\d{4}-\d\d-\d\d$")
_USER_ID = re.compile(r"^@[^:\s]+:\S+$")
_ROOM_ID = re.compile(r"^![^\s]{8,}$")  # with a server part or, from room version 12, without


def _room_name(ctx: Context, room_id: str) -> str:
    """A room by its name, else said in words (never its id)."""
    for account in ctx.app.accounts.values():
        room = account.client.rooms.get(room_id)
        if room is not None:
            return room.name or room.canonical_alias or ctx.t("me.an_unnamed_room").body
    return ctx.t("me.a_room").body


def _value_text(ctx: Context, value: Any) -> Text:
    """A stored value as people read it: a time in their language and zone, a person by
    name, a list comma-separated."""
    if isinstance(value, list):
        return Text.join([_value_text(ctx, v) for v in value], ", ")
    if isinstance(value, dict):
        return Text.join([Text.plain("("), fields_text(ctx, value), Text.plain(")")], "")
    if isinstance(value, str) and _ISO_MOMENT.match(value):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return Text.plain(ctx.when(moment.timestamp()))
    if isinstance(value, str) and _ISO_DAY.match(value):
        return Text.plain(dates.day_text(date.fromisoformat(value), ctx.language))
    if isinstance(value, str) and _USER_ID.match(value):
        return ctx.names.one(value)
    if isinstance(value, str) and _ROOM_ID.match(value):
        return Text.plain(_room_name(ctx, value))
    if isinstance(value, bool):
        return ctx.t("me.yes" if value else "me.no")
    return Text.plain(str(value))
