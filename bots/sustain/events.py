"""`!event …`, `!events`: the network's meetings — plenary meetings, job shadowing, MOOC
sessions. Announced in the announcements room, where a ✅ ❌ ❔ reaction answers; reminded a
day and an hour before; published as an iCalendar feed by `bots.sustain.calendar`.

Reminders are kept in the database: one that fell due while the bot was down is sent at the
next tick, unless the event has begun (a reminder after the start helps nobody)."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bots.network.schema import ANNOUNCEMENTS, NetworkRow
from bots.sustain.common import DAY, NETWORK, SustainBot, next_number, parse_day
from core.account import Incoming
from core.commands import Arg, Option, Role, command
from core.context import Context
from core.dates import moment_text
from core.people import Names
from core.sending import SendError
from core.storage import Migrations
from core.text import Text, shorten

migrations = Migrations("sustain-events")
DEFAULT_TIMEZONE = "Europe/Brussels"
KINDS = ("meeting", "plenary", "shadowing", "mooc")
RSVP = {"✅": "yes", "✔️": "yes", "✔": "yes", "❌": "no", "✖️": "no", "❔": "maybe", "❓": "maybe"}
ANSWERS = {"yes": "✅", "no": "❌", "maybe": "❔"}
HOUR = 3600.0


@migrations.step
def _events(db: Any) -> None:
    db.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, network_id INTEGER NOT NULL"
        " REFERENCES networks(id) ON DELETE CASCADE, number INTEGER NOT NULL,"
        " title TEXT NOT NULL, kind TEXT NOT NULL, starts_at REAL NOT NULL,"
        " minutes INTEGER NOT NULL, timezone TEXT NOT NULL, place TEXT, created_by TEXT,"
        " created_at REAL NOT NULL, post_event_id TEXT, cancelled_at REAL,"
        " reminded_day REAL, reminded_hour REAL, UNIQUE (network_id, number))"
    )
    db.execute("CREATE INDEX events_start ON events (starts_at)")
    db.execute(
        "CREATE TABLE event_rsvps (event_id INTEGER NOT NULL REFERENCES events(id)"
        " ON DELETE CASCADE, user_id TEXT NOT NULL, answer TEXT NOT NULL,"
        " reaction_event_id TEXT, answered_at REAL NOT NULL, PRIMARY KEY (event_id, user_id))"
    )
    db.execute("CREATE INDEX event_rsvps_reaction ON event_rsvps (reaction_event_id)")
    db.execute(
        "CREATE TABLE event_settings (network_id INTEGER PRIMARY KEY REFERENCES networks(id)"
        " ON DELETE CASCADE, timezone TEXT, feed_token TEXT)"
    )


@dataclass
class Event:
    id: int
    network_id: int
    number: int
    title: str
    kind: str
    starts_at: float
    minutes: int
    timezone: str
    place: str | None
    created_at: float
    post_event_id: str | None
    cancelled_at: float | None
    reminded_day: float | None
    reminded_hour: float | None

    def local(self, language: str) -> str:
        """`Mon 3 Jun 2030, 18:30 (Europe/Berlin)` in the reader's language."""
        return moment_text(self.starts_at, ZoneInfo(self.timezone), language)


_COLUMNS = (
    "id, network_id, number, title, kind, starts_at, minutes, timezone, place, created_at,"
    " post_event_id, cancelled_at, reminded_day, reminded_hour"
)


def zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("use a time zone like Europe/Brussels") from None
    return value


def clock_time(value: str) -> time:
    match = re.fullmatch(r"(\d{1,2})[:.h](\d{2})", value.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError("use HH:MM, e.g. 18:00")
    return time(int(match[1]), int(match[2]))


def duration(value: str) -> int:
    """Minutes from "2h", "90m", "1h30"."""
    match = re.fullmatch(r"(?:(\d{1,2})h)?(\d{1,3})?m?", value.strip().lower())
    minutes = int(match[1] or 0) * 60 + int(match[2] or 0) if match else 0
    if not 5 <= minutes <= 24 * 60:
        raise ValueError("use e.g. 90m, 2h or 1h30")
    return minutes


def events_of(db: Any, network_id: int, since: float, until: float | None = None) -> list[Event]:
    """Events starting from `since` (until `until`), cancelled ones included, by start."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM events WHERE network_id = ? AND starts_at >= ?"
        " AND starts_at < ? ORDER BY starts_at",
        [network_id, since, until if until is not None else float("inf")],
    ).fetchall()
    return [Event(*row) for row in rows]


def rsvp_counts(db: Any, event_id: int) -> dict[str, int]:
    rows = db.execute(
        "SELECT answer, COUNT(*) FROM event_rsvps WHERE event_id = ? GROUP BY answer", [event_id]
    ).fetchall()
    return {"yes": 0, "no": 0, "maybe": 0, **dict(rows)}


def settings(db: Any, network_id: int) -> tuple[str, str | None]:
    """The network's default time zone and its calendar feed token (None until asked for)."""
    row = db.execute(
        "SELECT timezone, feed_token FROM event_settings WHERE network_id = ?", [network_id]
    ).fetchone()
    return (row[0] or DEFAULT_TIMEZONE, row[1]) if row else (DEFAULT_TIMEZONE, None)


def save_setting(db: Any, network_id: int, column: str, value: str) -> None:
    db.table("event_settings").upsert({"network_id": network_id, column: value}, pk="network_id")


class Events(SustainBot):
    name = "event"
    featured = ("events", "event add")
    migrations = migrations

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self._posts: dict[str, int] = {}  # announcement event id -> event row
        self._reactions: set[str] = set()  # reactions that are someone's current answer

    async def start(self) -> None:
        self._posts = dict(
            self.db.execute(
                "SELECT post_event_id, id FROM events WHERE post_event_id IS NOT NULL"
            ).fetchall()
        )
        self._reactions = {
            row[0]
            for row in self.db.execute(
                "SELECT reaction_event_id FROM event_rsvps WHERE reaction_event_id IS NOT NULL"
            )
        }

    # --- commands ----------------------------------------------------------------------------

    @command(
        "event add",
        Arg("title"),
        Arg("date", parse_day),
        Arg("time", clock_time),
        Arg("place", optional=True, rest=True),
        options=[
            Option("tz", zone, placeholder="Europe/Brussels"),
            Option("kind", choices=KINDS),
            Option("length", duration, placeholder="2h"),
            NETWORK,
        ],
        role=Role.coordinator,
        network=True,
        help="sustain.event.add.help",
    )
    async def add(
        self,
        ctx: Context,
        title: str,
        date: date,
        time: time,
        place: str | None,
        tz: str | None,
        kind: str | None,
        length: int | None,
        net: NetworkRow,
    ) -> None:
        timezone = tz or settings(self.db, net.id)[0]
        start = datetime.combine(date, time, ZoneInfo(timezone))
        now = self.now()
        if start.timestamp() <= now:
            await ctx.reply("sustain.event.past")
            return
        title = shorten(" ".join(title.split()), 200)
        place = shorten(place.strip(), 300) if place else None
        number = next_number(self.db, "events", net.id)
        added = {
            "network_id": net.id,
            "number": number,
            "title": title,
            "kind": kind or KINDS[0],
            "starts_at": start.timestamp(),
            "minutes": length or 120,
            "timezone": timezone,
            "place": place,
            "created_by": ctx.sender,
            "created_at": now,
            # an event this close needs no "tomorrow" reminder: the announcement is one
            "reminded_day": now if start.timestamp() - now <= DAY else None,
            "reminded_hour": now if start.timestamp() - now <= HOUR else None,
        }
        event = self._get(int(self.db.table("events").insert(added).last_pk))
        assert event is not None
        try:
            post = await self.network_service.post(
                net, ANNOUNCEMENTS, self._announcement(net, event), txn=f"{ctx.event_id}/event"
            )
        except SendError:  # logged by the send; the event stands, unannounced
            post = None
        if post:
            self.db.table("events").update(event.id, {"post_event_id": post})
            self._posts[post] = event.id
        await ctx.reply(
            "sustain.event.added",
            number=number,
            title=title,
            when=event.local(ctx.language),
            prefix=self.prefix,
        )

    def _announcement(self, net: NetworkRow, event: Event) -> Text:
        lang = net.language
        post = self.t(
            lang,
            "sustain.event.post",
            number=event.number,
            title=event.title,
            kind=self.t(lang, f"sustain.event.kind.{event.kind}"),
            when=event.local(lang),
        )
        where = [self.t(lang, "sustain.event.where", place=event.place)] if event.place else []
        return Text.join([post, *where, self.t(lang, "sustain.event.post.ask")])

    @command(
        "event cancel",
        Arg("number", int),
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="sustain.event.cancel.help",
    )
    async def cancel(self, ctx: Context, number: int, net: NetworkRow) -> None:
        event = self._by_number(net.id, number)
        if event is None or event.cancelled_at:
            await ctx.reply("sustain.event.unknown", number=number, network=net.name)
            return
        self.db.table("events").update(event.id, {"cancelled_at": self.now()})
        text = self.t(
            net.language,
            "sustain.event.cancelled",
            title=event.title,
            when=event.local(net.language),
        )
        with contextlib.suppress(SendError):  # logged by the send; cancelled all the same
            await self.network_service.post(
                net, ANNOUNCEMENTS, text, txn=f"{ctx.event_id}/cancel", reply_to=event.post_event_id
            )
        await ctx.reply("sustain.event.cancel.done", number=number, title=event.title)

    @command(
        "event timezone",
        Arg("timezone", zone),
        role=Role.coordinator,
        network=True,
        help="sustain.event.timezone.help",
    )
    async def timezone(self, ctx: Context, timezone: str, net: NetworkRow) -> None:
        save_setting(self.db, net.id, "timezone", timezone)
        await ctx.reply("sustain.event.timezone.set", network=net.name, timezone=timezone)

    @command(
        "events", options=[NETWORK], role=Role.member, network=True, help="sustain.events.help"
    )
    async def show(self, ctx: Context, net: NetworkRow) -> None:
        now = self.now()
        upcoming = [e for e in events_of(self.db, net.id, now - DAY) if not e.cancelled_at]
        upcoming = [e for e in upcoming if e.starts_at + e.minutes * 60 > now]
        if not upcoming:
            await ctx.reply("sustain.events.none", network=net.name)
            return
        coordinator = ctx.is_admin or (
            await self.account.power_level(net.space, ctx.sender) >= Role.coordinator.value
        )
        lines = [self._line(ctx, e, coordinator) for e in upcoming[:20]]
        title = ctx.t("sustain.events.title", network=net.name)
        footer = ctx.t("sustain.events.footer", prefix=self.prefix)
        await ctx.reply(Text.join([title, Text.bullets(lines), footer]))

    def _line(self, ctx: Context, event: Event, coordinator: bool) -> Text:
        """One meeting: when, what, where if known; who is going (names for coordinators,
        counts for the others); the asker's own answer if they gave one."""
        parts = [
            ctx.t(
                "sustain.events.line",
                number=event.number,
                when=event.local(ctx.language),
                title=event.title,
                kind=ctx.t(f"sustain.event.kind.{event.kind}"),
            )
        ]
        if event.place:
            parts.append(ctx.t("sustain.event.where", place=event.place))
        if coordinator:
            parts += self._who(ctx, event)
        else:
            counts = rsvp_counts(self.db, event.id)
            parts.append(ctx.t("sustain.events.counts", **counts))
        mine = self.db.execute(
            "SELECT answer FROM event_rsvps WHERE event_id = ? AND user_id = ?",
            [event.id, ctx.sender],
        ).fetchone()
        if mine:
            parts.append(ctx.t("sustain.events.yours", mine=ANSWERS[mine[0]]))
        return Text.join(parts, " · ")

    def _who(self, ctx: Context, event: Event) -> list[Text]:
        """Who answered what, by name; `no one yet` when nobody did."""
        rows = self.db.execute(
            "SELECT answer, user_id FROM event_rsvps WHERE event_id = ?", [event.id]
        ).fetchall()
        names = Names(self.app, ctx.room_id)
        parts = []
        for answer in ("yes", "maybe", "no"):
            users = [user for kind, user in rows if kind == answer]
            if users:
                parts.append(ctx.t(f"sustain.events.who.{answer}", users=names.many(users)))
        return parts or [ctx.t("sustain.events.who.nobody")]

    # --- RSVP by reaction --------------------------------------------------------------------

    def wants(self, incoming: Incoming) -> bool:
        kind = incoming.event.get("type")
        if kind == "m.reaction":
            relation = incoming.content.get("m.relates_to") or {}
            return relation.get("event_id") in self._posts and relation.get("key") in RSVP
        if kind == "m.room.redaction":
            return _redacts(incoming.event) in self._reactions
        return False

    async def on_event(self, ctx: Context) -> None:
        event = ctx.incoming.event
        if event.get("type") == "m.room.redaction":
            redacted = _redacts(event)
            self._reactions.discard(redacted)
            self.db.execute("DELETE FROM event_rsvps WHERE reaction_event_id = ?", [redacted])
            return
        relation = ctx.incoming.content.get("m.relates_to") or {}
        row_id = self._posts.get(relation.get("event_id", ""))
        if row_id is None:
            return
        rsvp = {
            "event_id": row_id,
            "user_id": ctx.sender,
            "answer": RSVP[relation["key"]],
            "reaction_event_id": ctx.event_id,
            "answered_at": self.now(),
        }
        self.db.table("event_rsvps").upsert(rsvp, pk=("event_id", "user_id"))
        self._reactions.add(ctx.event_id)

    # --- reminders ---------------------------------------------------------------------------

    async def tick(self, now: datetime) -> None:
        """Post the reminders that have fallen due (a day and an hour before the start)."""
        moment = now.timestamp()
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM events WHERE cancelled_at IS NULL AND starts_at > ?"
            " AND starts_at <= ? AND (reminded_day IS NULL OR reminded_hour IS NULL)",
            [moment, moment + DAY],
        ).fetchall()
        for event in (Event(*row) for row in rows):
            net = self.data.get(event.network_id)
            if net is None:
                continue
            if event.starts_at - moment <= HOUR and event.reminded_hour is None:
                if not await self._remind(net, event, "hour"):
                    continue
                self.db.execute(
                    "UPDATE events SET reminded_hour = ?, reminded_day = COALESCE(reminded_day, ?)"
                    " WHERE id = ?",
                    [moment, moment, event.id],
                )
            elif event.reminded_day is None:
                if not await self._remind(net, event, "day"):
                    continue
                self.db.table("events").update(event.id, {"reminded_day": moment})

    async def _remind(self, net: NetworkRow, event: Event, which: str) -> bool:
        """Post the reminder; False when it failed for now (the next tick tries again)."""
        going = self.db.execute(
            "SELECT user_id FROM event_rsvps WHERE event_id = ? AND answer IN ('yes', 'maybe')",
            [event.id],
        ).fetchall()
        counts = rsvp_counts(self.db, event.id)
        text = self.t(
            net.language,
            f"sustain.event.remind.{which}",
            title=event.title,
            when=event.local(net.language),
            yes=counts["yes"],
            maybe=counts["maybe"],
        )
        if event.place:
            text = Text.join([text, self.t(net.language, "sustain.event.where", place=event.place)])
        try:
            await self.network_service.post(
                net,
                ANNOUNCEMENTS,
                text,
                txn=f"event/{event.id}/remind/{which}",
                reply_to=event.post_event_id,
                mentions=[row[0] for row in going],
            )
        except SendError as error:
            return not error.transient  # a reminder that can never be sent is not retried
        return True

    # --- lookups -----------------------------------------------------------------------------

    def _get(self, event_id: int) -> Event | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM events WHERE id = ?", [event_id]).fetchone()
        return Event(*row) if row else None

    def _by_number(self, network_id: int, number: int) -> Event | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM events WHERE network_id = ? AND number = ?",
            [network_id, number],
        ).fetchone()
        return Event(*row) if row else None

    # --- personal data -----------------------------------------------------------------------

    def personal_data(self, user_id: str) -> dict[str, Any]:
        rows = self.db.execute(
            "SELECT n.name, e.number, e.title, r.answer FROM event_rsvps r"
            " JOIN events e ON e.id = r.event_id JOIN networks n ON n.id = e.network_id"
            " WHERE r.user_id = ? ORDER BY e.starts_at",
            [user_id],
        ).fetchall()
        created = self.db.execute(
            "SELECT n.name, e.number, e.title FROM events e JOIN networks n ON n.id = e.network_id"
            " WHERE e.created_by = ?",
            [user_id],
        ).fetchall()
        found: dict[str, Any] = {}
        if rows:
            found["event_answers"] = [
                f"{n} #{num} {title}: {answer}" for n, num, title, answer in rows
            ]
        if created:
            found["events_added"] = [f"{n} #{num} {title}" for n, num, title in created]
        return found

    async def forget_person(self, user_id: str) -> None:
        with self.app.store.transaction() as db:
            db.table("event_rsvps").delete_where("user_id = ?", [user_id])
            db.execute("UPDATE events SET created_by = NULL WHERE created_by = ?", [user_id])
        await self.start()  # rebuild the caches without their reactions


def _redacts(event: dict[str, Any]) -> str:
    """The event a redaction removes (top level before room version 11, content after)."""
    return str(event.get("redacts") or (event.get("content") or {}).get("redacts") or "")
