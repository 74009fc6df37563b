"""The weekly digest in each network's coordination room (Monday 07:00 UTC): new and silent
members, open questions, goals, events, buddies, and resources and check-in response rates
where those bots exist. `!digest` shows the last seven days at once.

The schedule lives in the database. A digest missed while the bot was down is sent once at
the next tick, covering everything since the previous one; missed weeks are not repeated.
The first digest covers the time since the network was first seen by this bot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bots.network.common import reply_privately
from bots.network.schema import COORDINATION, JOINED, LEFT, NetworkRow
from bots.sustain import elsewhere
from bots.sustain.buddies import active_pairs
from bots.sustain.common import DAY, NETWORK, SustainBot, day
from bots.sustain.events import events_of, rsvp_counts
from bots.sustain.goals import goals_of
from bots.sustain.questions import open_questions, question_counts
from core.commands import Role, command
from core.context import Context
from core.people import Names
from core.sending import SendError
from core.storage import Migrations
from core.text import Text, shorten

migrations = Migrations("sustain-digest")
WEEKDAY, HOUR = 0, 7  # Monday, 07:00 UTC
WEEK = 7 * DAY
SILENT_DAYS = 30
UPCOMING_DAYS = 14
LISTED = 10


@migrations.step
def _schedule(db: Any) -> None:
    db.execute(
        "CREATE TABLE digest_schedule (network_id INTEGER PRIMARY KEY REFERENCES networks(id)"
        " ON DELETE CASCADE, next_at REAL NOT NULL, covered_until REAL NOT NULL)"
    )


def next_slot(after: datetime) -> datetime:
    """The first Monday 07:00 UTC strictly after `after`."""
    start = after.astimezone(UTC).replace(hour=HOUR, minute=0, second=0, microsecond=0)
    start += timedelta(days=(WEEKDAY - start.weekday()) % 7)
    return start if start > after else start + timedelta(days=7)


class Digest(SustainBot):
    name = "digest"
    featured = ("digest",)
    migrations = migrations

    async def tick(self, now: datetime) -> None:
        for net in self.networks():
            if COORDINATION in net.rooms:
                await self._maybe_send(net, now)

    async def _maybe_send(self, net: NetworkRow, now: datetime) -> None:
        """Each digest covers the time since the previous one (or since the network was
        first seen here), so nothing is reported twice or left out."""
        row = self.db.execute(
            "SELECT next_at, covered_until FROM digest_schedule WHERE network_id = ?", [net.id]
        ).fetchone()
        upcoming = next_slot(now).timestamp()
        if row is None:
            schedule = {"network_id": net.id, "next_at": upcoming, "covered_until": now.timestamp()}
            self.db.table("digest_schedule").insert(schedule)
            return
        next_at, since = row
        if next_at > now.timestamp():
            return
        text = self.compose(net, net.language, since, now.timestamp())
        try:
            await self.network_service.post(
                net, COORDINATION, text, txn=f"digest/{net.id}/{int(next_at)}"
            )
        except SendError as error:
            if error.transient:
                return  # the next tick tries again (the same txn: it lands once)
        covered = {"next_at": upcoming, "covered_until": now.timestamp()}
        self.db.table("digest_schedule").update(net.id, covered)

    @command(
        "digest",
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="sustain.digest.help",
    )
    async def digest(self, ctx: Context, net: NetworkRow) -> None:
        now = self.now()
        text = self.compose(net, ctx.language, now - WEEK, now)
        if ctx.room_id == net.rooms.get(COORDINATION):
            await ctx.reply(text)
        else:  # names members: only in the network office or privately
            await reply_privately(ctx, text)

    # --- composing ---------------------------------------------------------------------------

    def compose(self, net: NetworkRow, language: str, since: float, until: float) -> Text:
        """The digest of the period, section by section."""
        sections = [
            self._members(net, language, since, until),
            self._questions(net, language, since, until),
            *self._goals(net, language, since),
            *self._events(net, language, since, until),
            self._buddies(net, language, since),
            *self._elsewhere(net, language, since, until),
        ]
        title = self.t(
            language,
            "sustain.digest.title",
            network=net.name,
            since=day(since, language),
            until=day(until, language),
        )
        return Text.join([title, Text.bullets(sections)])

    def _members(self, net: NetworkRow, language: str, since: float, until: float) -> Text:
        members = [m for m in self.data.members(net.id) if m.status != LEFT]
        new = [m.user_id for m in members if m.joined_at and since <= m.joined_at < until]
        quiet_since = until - SILENT_DAYS * DAY
        silent = [
            m.user_id
            for m in members
            if m.status == JOINED and (m.last_active or m.joined_at or 0) < quiet_since
        ]
        names = Names(self.app, net.rooms.get(COORDINATION))
        parts = [self.t(language, "sustain.digest.members", total=len(members))]
        if new:
            parts.append(
                self.t(language, "sustain.digest.members.new", new=names.many(new, LISTED))
            )
        if silent:
            listed = names.many(silent, LISTED)
            key = "sustain.digest.members.silent"
            parts.append(self.t(language, key, silent=listed, days=SILENT_DAYS))
        return Text.join(parts, " ")

    def _questions(self, net: NetworkRow, language: str, since: float, until: float) -> Text:
        counts = question_counts(self.db, net.id, since, until)
        waiting = open_questions(self.db, net.id)
        listed = ", ".join(
            f"#{q.number} “{shorten(' '.join((q.text or '').split()), 60)}”"
            for q in waiting[:LISTED]
        )
        parts = [
            self.t(
                language,
                "sustain.digest.questions",
                asked=counts["asked"],
                answered=counts["answered"],
            )
        ]
        if waiting:
            key = "sustain.digest.questions.open"
            parts.append(self.t(language, key, open=len(waiting), listed=listed))
        return Text.join(parts, " ")

    def _goals(self, net: NetworkRow, language: str, since: float) -> list[Text]:
        """Goals reached in the period and those in progress; nothing when there are none."""
        goals = goals_of(self.db, net.id)
        reached = [g for g in goals if g.reached_at and g.reached_at >= since]
        open_goals = [
            f"#{g.number} {shorten(g.text, 60)} {g.percent}%" for g in goals if not g.reached_at
        ]
        parts = [self.t(language, "sustain.digest.goals")]
        if reached:
            done = ", ".join(f"#{g.number} {shorten(g.text, 60)}" for g in reached)
            parts.append(self.t(language, "sustain.digest.goals.reached", reached=done))
        if open_goals:
            listed = ", ".join(open_goals[:LISTED])
            parts.append(self.t(language, "sustain.digest.goals.open", open=listed))
        return [Text.join(parts, " ")] if len(parts) > 1 else []

    def _events(self, net: NetworkRow, language: str, since: float, until: float) -> list[Text]:
        """Meetings held in the period and coming soon; nothing when there are none."""
        held = [e for e in events_of(self.db, net.id, since, until) if not e.cancelled_at]
        coming = [
            e
            for e in events_of(self.db, net.id, until, until + UPCOMING_DAYS * DAY)
            if not e.cancelled_at
        ]

        def describe(event: Any) -> str:
            counts = rsvp_counts(self.db, event.id)
            answers = f"✅ {counts['yes']}, ❔ {counts['maybe']}"
            return f"{event.local(language)} {shorten(event.title, 60)} ({answers})"

        parts = [self.t(language, "sustain.digest.events")]
        if held:
            listed = ", ".join(describe(e) for e in held)
            parts.append(self.t(language, "sustain.digest.events.held", held=listed))
        if coming:
            listed = ", ".join(describe(e) for e in coming)
            key = "sustain.digest.events.coming"
            parts.append(self.t(language, key, coming=listed, days=UPCOMING_DAYS))
        return [Text.join(parts, " ")] if len(parts) > 1 else []

    def _buddies(self, net: NetworkRow, language: str, since: float) -> Text:
        pairs = active_pairs(self.db, net.id)
        new = self.db.execute(
            "SELECT COUNT(*) FROM buddy_pairs WHERE network_id = ? AND created_at >= ?",
            [net.id, since],
        ).fetchone()[0]
        return self.t(language, "sustain.digest.buddies", active=len(pairs), new=new)

    def _elsewhere(self, net: NetworkRow, language: str, since: float, until: float) -> list[Text]:
        found = []
        resources = elsewhere.new_resources(self.app.store, net, since, until)
        if resources is not None:
            found.append(self.t(language, "sustain.digest.resources", count=resources))
        checkins = elsewhere.checkin_responses(self.app.store, net, since, until)
        if checkins is not None:
            asked, answered = checkins
            rate = round(100 * answered / asked) if asked else 0
            found.append(
                self.t(
                    language, "sustain.digest.checkins", asked=asked, answered=answered, rate=rate
                )
            )
        return found
