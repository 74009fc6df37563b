"""`!impact`: the figures a funder asks for — members by role, active members over time,
check-ins answered (where the check-in bot exists), questions answered, buddies paired,
events held, goals reached, self-checks — in chat or as CSV (`!impact export`).

Activity over time needs history the member table does not keep (it only has each member's
latest activity), so a daily snapshot per network is stored by `tick`."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from babel.dates import format_skeleton
from babel.lists import format_list

from bots.network.schema import LEFT, ROLES, NetworkRow
from bots.sustain import elsewhere
from bots.sustain.common import DAY, NETWORK, SustainBot, iso_day, parse_day
from bots.sustain.events import events_of
from bots.sustain.questions import question_counts
from bots.sustain.selfcheck import area_scores, finished_runs, overall
from core.commands import Option, Role, command
from core.context import Context
from core.dates import day_text
from core.messaging import MessagingError, send_file
from core.storage import Migrations
from core.text import Text

migrations = Migrations("sustain-impact")
ACTIVE_DAYS = 30
MONTHS = 12
OPTIONS = [
    Option("since", parse_day, placeholder="2026-01-01"),
    NETWORK,
]


@migrations.step
def _snapshots(db: Any) -> None:
    db.execute(
        "CREATE TABLE impact_snapshots (network_id INTEGER NOT NULL REFERENCES networks(id)"
        " ON DELETE CASCADE, day TEXT NOT NULL, members INTEGER NOT NULL,"
        " active INTEGER NOT NULL, roles TEXT NOT NULL, PRIMARY KEY (network_id, day))"
    )


@dataclass
class Figure:
    section: str
    metric: str
    period: str
    value: float | int


class Impact(SustainBot):
    name = "impact"
    featured = ("impact", "impact export")
    migrations = migrations

    # --- snapshots -----------------------------------------------------------------------------

    async def tick(self, now: datetime) -> None:
        """Once a day per network: how many members, how many of them active."""
        today = now.astimezone(UTC).date().isoformat()
        done = {
            row[0]
            for row in self.db.execute(
                "SELECT network_id FROM impact_snapshots WHERE day = ?", [today]
            )
        }
        for net in self.networks():
            if net.id in done:
                continue
            members, active, roles = self._census(net, now.timestamp())
            snapshot = {
                "network_id": net.id,
                "day": today,
                "members": members,
                "active": active,
                "roles": json.dumps(roles),
            }
            self.db.table("impact_snapshots").insert(snapshot, ignore=True)

    def _census(self, net: NetworkRow, now: float) -> tuple[int, int, dict[str, int]]:
        members = [m for m in self.data.members(net.id) if m.status != LEFT]
        active = sum(1 for m in members if (m.last_active or 0) >= now - ACTIVE_DAYS * DAY)
        roles = {role: sum(1 for m in members if m.role == role) for role in ROLES}
        return len(members), active, roles

    # --- figures -------------------------------------------------------------------------------

    def figures(self, net: NetworkRow, since: float, until: float) -> list[Figure]:
        period = f"{iso_day(since)}..{iso_day(until)}"
        members, active, roles = self._census(net, until)
        found = [Figure("members", role, "now", count) for role, count in roles.items()]
        found.append(Figure("members", "total", "now", members))
        found += self._activity(net, since)
        found.append(Figure("activity", f"active_{ACTIVE_DAYS}d", "now", active))
        checkins = elsewhere.checkin_responses(self.app.store, net, since, until)
        if checkins is not None:
            found += [
                Figure("checkins", "asked", period, checkins[0]),
                Figure("checkins", "answered", period, checkins[1]),
            ]
        found += [
            Figure("questions", metric, period, value)
            for metric, value in question_counts(self.db, net.id, since, until).items()
        ]
        found += self._buddies(net, since, until, period)
        found += self._events(net, since, until, period)
        found += self._goals_and_selfchecks(net, since, until, period)
        return found

    def _activity(self, net: NetworkRow, since: float) -> list[Figure]:
        """Active members at the end of each month (its last snapshot)."""
        rows = self.db.execute(
            "SELECT substr(day, 1, 7), active FROM impact_snapshots WHERE network_id = ?"
            " AND day >= ? AND day IN (SELECT MAX(day) FROM impact_snapshots"
            " WHERE network_id = ? GROUP BY substr(day, 1, 7)) ORDER BY day",
            [net.id, iso_day(since), net.id],
        ).fetchall()
        return [
            Figure("activity", f"active_{ACTIVE_DAYS}d", month, value)
            for month, value in rows[-MONTHS:]
        ]

    def _buddies(self, net: NetworkRow, since: float, until: float, period: str) -> list[Figure]:
        made, ended = self.db.execute(
            "SELECT COUNT(*), COUNT(ended_at) FROM buddy_pairs WHERE network_id = ?"
            " AND created_at >= ? AND created_at < ?",
            [net.id, since, until],
        ).fetchone()
        active = self.db.execute(
            "SELECT COUNT(*) FROM buddy_pairs WHERE network_id = ? AND ended_at IS NULL",
            [net.id],
        ).fetchone()[0]
        return [
            Figure("buddies", "paired", period, made),
            Figure("buddies", "ended", period, ended),
            Figure("buddies", "active", "now", active),
        ]

    def _events(self, net: NetworkRow, since: float, until: float, period: str) -> list[Figure]:
        held = [e for e in events_of(self.db, net.id, since, until) if not e.cancelled_at]
        kinds: dict[str, int] = {}
        for event in held:
            kinds[event.kind] = kinds.get(event.kind, 0) + 1
        going = 0
        if held:
            marks = ",".join("?" for _ in held)
            going = self.db.execute(
                f"SELECT COUNT(*) FROM event_rsvps WHERE answer = 'yes' AND event_id IN ({marks})",
                [e.id for e in held],
            ).fetchone()[0]
        found = [Figure("events", "held", period, len(held))]
        found += [Figure("events", f"held_{kind}", period, n) for kind, n in sorted(kinds.items())]
        found.append(Figure("events", "rsvp_yes", period, going))
        return found

    def _goals_and_selfchecks(
        self, net: NetworkRow, since: float, until: float, period: str
    ) -> list[Figure]:
        total, reached = self.db.execute(
            "SELECT COUNT(*), SUM(reached_at >= ? AND reached_at < ?) FROM goals"
            " WHERE network_id = ?",
            [since, until, net.id],
        ).fetchone()
        found = [
            Figure("goals", "total", "now", total),
            Figure("goals", "reached", period, reached or 0),
        ]
        runs = [r for r in finished_runs(self.db, net.id) if since <= (r.finished_at or 0) < until]
        found.append(Figure("selfcheck", "runs", period, len(runs)))
        if runs:
            score = overall(area_scores(self.db, runs[-1].id))
            if score is not None:
                found.append(
                    Figure(
                        "selfcheck",
                        "latest_average",
                        iso_day(runs[-1].finished_at or 0),
                        round(score, 2),
                    )
                )
        return found

    # --- commands ------------------------------------------------------------------------------

    def _period(self, net: NetworkRow, since: date | None) -> tuple[float, float]:
        start = (
            datetime.combine(since, datetime.min.time(), UTC).timestamp()
            if since
            else net.created_at
        )
        return start, self.now()

    @command(
        "impact",
        options=OPTIONS,
        role=Role.coordinator,
        network=True,
        help="sustain.impact.help",
    )
    async def impact(self, ctx: Context, since: date | None, net: NetworkRow) -> None:
        start, until = self._period(net, since)
        sections: dict[str, list[Text]] = {}
        for figure in self.figures(net, start, until):
            lines = sections.setdefault(figure.section, [])
            if figure.value:  # a zero says nothing a funder needs: the section names it
                lines.append(_line(ctx, figure))
        parts = [ctx.t("sustain.impact.title", network=net.name, period=ctx.period(start, until))]
        for section, lines in sections.items():
            if lines:
                parts += [ctx.t(f"sustain.impact.section.{section}"), Text.bullets(lines)]
        empty = [ctx.t(f"sustain.impact.empty.{s}").body for s, got in sections.items() if not got]
        if empty:
            things = format_list(empty, style="or", locale=ctx.language)
            parts.append(ctx.t("sustain.impact.none_yet", things=things))
        parts.append(ctx.t("sustain.impact.footer", prefix=self.prefix))
        await ctx.reply(Text.join(parts))

    @command(
        "impact export",
        options=OPTIONS,
        role=Role.coordinator,
        network=True,
        help="sustain.impact.export.help",
    )
    async def export(self, ctx: Context, since: date | None, net: NetworkRow) -> None:
        start, until = self._period(net, since)
        data = self.csv(ctx, net, self.figures(net, start, until))
        filename = f"impact-{_slug(net.name)}-{iso_day(until)}.csv"
        try:
            await send_file(
                ctx.account, ctx.room_id, data, filename, "text/csv", txn=f"{ctx.event_id}/csv",
                relates_to={"m.in_reply_to": {"event_id": ctx.event_id}},
            )  # fmt: skip
        except MessagingError as error:
            await ctx.reply("sustain.impact.export.failed", error=str(error))

    def csv(self, ctx: Context, net: NetworkRow, figures: list[Figure]) -> bytes:
        """One row per figure: section, metric, label (in the asker's language), period, value."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(["network", "section", "metric", "label", "period", "value"])
        for f in figures:
            label = ctx.t(f"sustain.impact.metric.{_label(f.metric)}").body
            writer.writerow([net.name, f.section, f.metric, label, f.period, _value(f.value)])
        return buffer.getvalue().encode("utf-8")


def _label(metric: str) -> str:
    """The catalogue key suffix for a metric (`held_mooc` → `held_kind.mooc`…)."""
    return metric.replace("held_", "held_kind.") if metric.startswith("held_") else metric


def _value(value: float | int) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.casefold()).strip("-") or "network"


def _line(ctx: Context, figure: Figure) -> Text:
    """A figure for chat: the title gives the period, so a line says only when it differs
    (today, a month, a day), in the reader's language."""
    label = ctx.t(f"sustain.impact.metric.{_label(figure.metric)}")
    value = _value(figure.value)
    period = figure.period
    if period == "now":
        return ctx.t("sustain.impact.line.now", label=label, value=value)
    if re.fullmatch(r"\d{4}-\d{2}", period):
        month = format_skeleton("yMMMM", date.fromisoformat(period + "-01"), locale=ctx.language)
        return ctx.t("sustain.impact.line.month", label=label, month=month, value=value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", period):
        day = day_text(date.fromisoformat(period), ctx.language)
        return ctx.t("sustain.impact.line.day", label=label, date=day, value=value)
    return ctx.t("sustain.impact.line", label=label, value=value)
