"""Reports for the network office: `!checkin stats` (text and a PNG chart, so that who is
drifting shows at a glance) and `!checkin export` (every answer as CSV, to the asker only)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from typing import Any

from bots.checkin import chart
from bots.checkin.base import CheckinBase
from bots.checkin.export import export_csv
from bots.checkin.formats import day_text, local_day, percent, short_day_text
from bots.checkin.stats import RoundStat, Stats, collect
from bots.network.common import private_chat, sent_there
from bots.network.schema import NetworkRow
from core.commands import Option, Role, command
from core.context import Context
from core.messaging import MessagingError, send_file
from core.people import Names
from core.text import Text

NETWORK = Option("network", placeholder="name")


class ReportCommands(CheckinBase):
    """A part of `Checkin`."""

    @command(
        "checkin stats",
        options=[Option("weeks", convert=int, placeholder="12"), NETWORK],
        role=Role.coordinator,
        network=True,
        help="checkin.stats.help",
    )
    async def stats_command(self, ctx: Context, weeks: int | None, net: NetworkRow) -> None:
        weeks = min(max(weeks or 12, 1), 104)
        since = self.now() - timedelta(weeks=weeks)
        stats = collect(self.data, net.id, since.timestamp())
        t = partial(self.t, ctx.language)
        if not stats.rounds:
            await ctx.reply("checkin.stats.none", network=net.name, weeks=weeks)
            return
        zone_ = self.data.settings(net.id).zone
        dates = [local_day(r.round.started_at or r.round.due_at, zone_) for r in stats.rounds]
        days = [day_text(day, ctx.language) for day in dates]
        room_id = await self._answer(ctx, net, self._stats_text(t, net, stats, days, weeks))
        labels = chart.Labels(
            title=t("checkin.chart.title", network=net.name, weeks=weeks).body,
            rate=t("checkin.chart.rate").body,
            mood=t("checkin.chart.mood").body,
            members=t("checkin.chart.members").body,
            no_answer=t("checkin.chart.no_answer").body,
            rounds=[short_day_text(day, ctx.language) for day in dates],
        )
        png, width, height = await asyncio.to_thread(chart.render, stats, labels)
        await send_file(
            ctx.account,
            room_id,
            png,
            f"checkins-{net.id}.png",
            "image/png",
            msgtype="m.image",
            txn=f"{ctx.event_id}/chart",
            extra_info={"w": width, "h": height},
        )

    def _stats_text(
        self, t: Any, net: NetworkRow, stats: Stats, days: list[str], weeks: int
    ) -> Text:
        lines = [_round_line(t, day, r) for day, r in zip(days, stats.rounds, strict=True)]
        moods = [r.mood for r in stats.rounds if r.mood is not None]
        overall = []
        if stats.rate is not None:
            overall.append(t("checkin.stats.overall", rate=f"{stats.rate:.0f}"))
        if moods:
            first, last = f"{moods[0]:.1f}", f"{moods[-1]:.1f}"
            overall.append(t("checkin.stats.overall_mood", first=first, last=last))
        parts = [
            t("checkin.stats.title", network=net.name, weeks=weeks, count=len(stats.rounds)),
            Text.bullets(lines),
            *([Text.join(overall, " · ")] if overall else []),
        ]
        names = Names(self.app)
        drifting = [
            t(f"checkin.stats.drift.{kind}", user=names.one(user), count=a, before=a, after=b)
            for user, (kind, a, b) in stats.drifting.items()
        ]
        if drifting:
            parts += [t("checkin.stats.drifting"), Text.bullets(drifting[:50])]
        return Text.join(parts)

    @command(
        "checkin export",
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="checkin.export.help",
    )
    async def export_command(self, ctx: Context, net: NetworkRow) -> None:
        data, count = export_csv(self.data, self.networks, self.app.catalog, net.id)
        # Only to the asker: a network room may gain members later, who would see it.
        chat = await private_chat(ctx, here=ctx.room_id not in net.rooms.values())
        try:
            await send_file(
                ctx.account,
                chat.room_id,
                data,
                f"checkins-{net.id}.csv",
                "text/csv",
                txn=f"{ctx.event_id}/export",
            )
        except MessagingError as error:
            await ctx.reply("checkin.export.failed", error=str(error))
            return
        if chat.room_id == ctx.room_id:
            await ctx.reply("checkin.export.here", count=count)
        else:
            await ctx.reply(sent_there(ctx, chat, "checkin.export.sent", count=count))


def _round_line(t: Any, day: str, r: RoundStat) -> Text:
    """One round of `!checkin stats`: how many of those asked answered, and their mood; a
    round in which nobody was asked (all skipped or away) says so in words."""
    if not r.asked:
        return t("checkin.stats.round_nobody", date=day)
    return t(
        "checkin.stats.round_mood" if r.mood is not None else "checkin.stats.round",
        date=day,
        answered=r.answered,
        asked=r.asked,
        percent=percent(r.answered, r.asked),
        mood=f"{r.mood:.1f}" if r.mood is not None else "",
    )
