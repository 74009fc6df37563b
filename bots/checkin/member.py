"""Commands of every member: what is open for them, skipping a round, a holiday, coming back,
and their time zone. A person's holiday and time zone hold for all their networks."""

from __future__ import annotations

from datetime import date

from bots.checkin.base import CheckinBase
from bots.checkin.formats import day_text, moment_text
from bots.checkin.rounds import FOREVER
from bots.checkin.rules import parse_date
from bots.checkin.rules import zone as time_zone
from bots.checkin.schema import PAUSED, PENDING, SCHEDULED, SENT, SKIPPED
from core.commands import Arg, Role, command
from core.context import Context
from core.text import Text


class MemberCommands(CheckinBase):
    """A part of `Checkin`."""

    @command("checkin", role=Role.member, help="checkin.me.help")
    async def overview(self, ctx: Context) -> None:
        timezone, paused = self.data.person(ctx.sender)
        lines = [
            self.t(ctx.language, "checkin.me.zone", zone=timezone)
            if timezone
            else self.t(ctx.language, "checkin.me.zone_network")
        ]
        if paused:
            lines.append(self._pause_text(ctx.language, paused))
        open_count = sum(1 for d in self.data.open_deliveries(ctx.sender) if d.state == SENT)
        if open_count:
            lines.append(self.t(ctx.language, "checkin.me.open", count=open_count))
        await ctx.reply(Text.join(lines))

    def _pause_text(self, language: str, paused: str) -> Text:
        if paused == FOREVER:
            return self.t(language, "checkin.pause.forever")
        return self.t(
            language, "checkin.pause.until", date=day_text(date.fromisoformat(paused), language)
        )

    @command("checkin skip", role=Role.member, help="checkin.skip.help")
    async def skip(self, ctx: Context) -> None:
        skipped = 0
        for delivery in self.data.open_deliveries(ctx.sender):
            if delivery.state in (PENDING, SENT):
                self.data.set_state(delivery.round_id, ctx.sender, SKIPPED)
                skipped += 1
        await ctx.reply("checkin.skip.done" if skipped else "checkin.skip.nothing")

    @command(
        "checkin pause",
        Arg("until", optional=True, rest=True),
        role=Role.member,
        help="checkin.pause.help",
    )
    async def pause(self, ctx: Context, until: str | None) -> None:
        now = self.now()
        if until:
            try:
                day = parse_date(until)
            except ValueError as error:
                await ctx.reply("checkin.pause.bad", error=str(error))
                return
            if day < now.date():
                await ctx.reply("checkin.pause.past", date=day_text(day, ctx.language))
                return
            value = day.isoformat()
        else:
            value = FOREVER
        self.data.set_person(ctx.sender, now.timestamp(), paused_until=value)
        for delivery in self.data.open_deliveries(ctx.sender):
            answered = self.data.db.execute(
                "SELECT 1 FROM checkin_answers WHERE round_id = ? AND user_id = ?",
                [delivery.round_id, ctx.sender],
            ).fetchone()
            if delivery.state == PENDING or (delivery.state == SENT and not answered):
                self.data.set_state(delivery.round_id, ctx.sender, PAUSED)
        await ctx.reply(
            Text.join(
                [
                    self._pause_text(ctx.language, value),
                    self.t(ctx.language, "checkin.pause.resume_hint"),
                ]
            )
        )

    @command("checkin resume", role=Role.member, help="checkin.resume.help")
    async def resume(self, ctx: Context) -> None:
        """End a holiday; a round that is open now is sent at once."""
        now = self.now()
        _, paused = self.data.person(ctx.sender)
        self.data.set_person(ctx.sender, now.timestamp(), paused_until=None)
        reopened = 0
        for delivery in self.data.open_deliveries(ctx.sender):
            if delivery.state == PAUSED:
                state = SENT if delivery.sent_at else PENDING
                self.data.set_state(
                    delivery.round_id,
                    ctx.sender,
                    state,
                    due_at=min(delivery.due_at, now.timestamp()),
                )
                reopened += state == PENDING
        if reopened:
            async with self.lock:
                await self.rounds.deliver(now)
        key = "checkin.resume.done" if paused else "checkin.resume.not_paused"
        await ctx.reply(key if reopened else f"{key}_none", count=reopened)

    @command("checkin tz", Arg("zone", optional=True), role=Role.member, help="checkin.tz.help")
    async def tz(self, ctx: Context, zone: str | None) -> None:
        now = self.now()
        if not zone:
            current, _ = self.data.person(ctx.sender)
            if current:
                await ctx.reply("checkin.tz.show", zone=current)
            else:
                await ctx.reply("checkin.tz.show_network")
            return
        try:
            chosen = time_zone(zone)
        except ValueError:
            await ctx.reply("checkin.tz.unknown", zone=zone)
            return
        self.data.set_person(ctx.sender, now.timestamp(), timezone=chosen.key)
        self._move_pending(ctx.sender)
        await ctx.reply(
            "checkin.tz.set",
            zone=chosen.key,
            time=moment_text(now.timestamp(), chosen, ctx.language),
        )

    def _move_pending(self, user_id: str) -> None:
        """A scheduled delivery not sent yet comes at the rule's time in the new zone."""
        for delivery in self.data.open_deliveries(user_id):
            round_ = self.data.round(delivery.round_id)
            if delivery.state != PENDING or round_ is None or round_.kind != SCHEDULED:
                continue
            network = self.networks.get(round_.network_id)
            rule = self.data.settings(round_.network_id).parsed_rule()
            if network is None or rule is None:
                continue
            due = rule.due(date.fromisoformat(round_.slot), self.zone_of(user_id, network))
            self.data.set_state(delivery.round_id, user_id, PENDING, due_at=due.timestamp())
