"""Commands of the network office (coordinators and Meta-Mentors): the schedule, settings
and questions, starting and closing a round, its status, statistics with a chart, and the
export. Each declares `role=Role.coordinator`; the network bot decides by the asker's power
level in the network the command acts on (`Checkin.permits`), so a refusal and `!help` agree.
Answers about people go to the coordination room or the asker's direct chat only."""

from __future__ import annotations

from datetime import date
from functools import partial

from bots.checkin.base import CheckinBase
from bots.checkin.formats import day_text, describe_rule, moment_text
from bots.checkin.questions import KINDS, TEXT, help_words
from bots.checkin.rules import (
    RuleError,
    parse_duration,
    parse_rule,
    zone,
)
from bots.checkin.schema import Settings
from bots.checkin.summary import RoundFacts, status
from bots.network.common import counted
from bots.network.schema import NetworkRow
from core.commands import Arg, Option, Role, command
from core.config import LANGUAGES
from core.context import Context
from core.dates import duration_words
from core.i18n import language_names
from core.people import Names
from core.text import Text, shorten

NETWORK = Option("network", placeholder="name")
MAX_QUESTIONS = 10
MAX_QUESTION_LENGTH = 300
OFF_WORDS = ("off", "aus", "stop", "none")


class CoordinatorCommands(CheckinBase):
    """A part of `Checkin`."""

    # --- schedule and settings ---------------------------------------------------------------

    @command(
        "checkin schedule",
        Arg("when", optional=True, rest=True),
        options=[Option("tz", placeholder="Europe/Berlin"), NETWORK],
        role=Role.coordinator,
        network=True,
        help="checkin.schedule.help",
    )
    async def schedule(
        self, ctx: Context, when: str | None, tz: str | None, net: NetworkRow
    ) -> None:
        settings = self.data.settings(net.id)
        if tz:
            try:
                settings.timezone = zone(tz).key
            except ValueError:
                await ctx.reply("checkin.tz.unknown", zone=tz)
                return
        if when and when.strip().lower() in OFF_WORDS:
            settings.rule = settings.anchor = settings.next_slot = None
            self.data.save_settings(settings, self.now().timestamp())
            await ctx.reply("checkin.schedule.off", network=net.name)
            return
        if when:
            try:
                rule = parse_rule(when)
            except RuleError as error:
                expected = error.text(ctx.language)
                await ctx.reply("checkin.schedule.bad", typed=when, expected=expected)
                return
            settings.rule, settings.anchor = rule.text, None
        if settings.rule and (when or tz):
            self._reschedule(net, settings)
        self.data.save_settings(settings, self.now().timestamp())
        await ctx.reply(self._schedule_text(ctx.language, net, settings))

    def _reschedule(self, net: NetworkRow, settings: Settings) -> None:
        """The first slot of a new rule (or time zone) that reaches no one late."""
        rule = settings.parsed_rule()
        assert rule is not None
        slot = rule.first_slot(settings.zone, self.rounds.zones(net, settings), self.now())
        settings.next_slot = slot.isoformat()
        settings.anchor = slot.isoformat() if rule.interval > 1 else settings.anchor

    def _schedule_text(self, language: str, net: NetworkRow, s: Settings) -> Text:
        t = partial(self.t, language)
        rule = s.parsed_rule()
        timing = t(
            "checkin.settings.timing",
            remind=duration_words(s.remind_after, language),
            close=duration_words(s.close_after, language),
        )
        if rule is None or s.next_slot is None:
            return Text.join(
                [t("checkin.schedule.none", network=net.name, zone=s.timezone), timing]
            )
        slot = date.fromisoformat(s.next_slot)
        first = rule.earliest_due(slot, self.rounds.zones(net, s)).timestamp()
        head = t(
            "checkin.schedule.show",
            network=net.name,
            rule=describe_rule(self.app.catalog, rule, language),
            zone=s.timezone,
            next=day_text(slot, language),
            first=moment_text(first, s.zone, language),
        )
        return Text.join([head, timing])

    @command(
        "checkin settings",
        options=[
            Option("remind", placeholder="24h"),
            Option("close", placeholder="48h"),
            Option("silent", placeholder="3"),
            Option("helpwords", placeholder='"help,hilfe"'),
            NETWORK,
        ],
        role=Role.coordinator,
        network=True,
        help="checkin.settings.help",
    )
    async def settings_command(
        self,
        ctx: Context,
        remind: str | None,
        close: str | None,
        silent: str | None,
        helpwords: str | None,
        net: NetworkRow,
    ) -> None:
        s = self.data.settings(net.id)
        try:
            if remind:
                s.remind_after = parse_duration(remind).total_seconds()
            if close:
                s.close_after = parse_duration(close).total_seconds()
            if silent:
                s.silent_rounds = _whole(silent, 1, 52)
        except ValueError as error:
            await ctx.reply("checkin.settings.bad", error=str(error))
            return
        if helpwords is not None:
            s.help_words = ",".join(help_words(helpwords)) or None
        if any(v is not None for v in (remind, close, silent, helpwords)):
            self.data.save_settings(s, self.now().timestamp())
        t = partial(self.t, ctx.language)
        lines = [
            t("checkin.settings.title", network=net.name),
            t(
                "checkin.settings.timing",
                remind=duration_words(s.remind_after, ctx.language),
                close=duration_words(s.close_after, ctx.language),
            ),
            t("checkin.settings.silent", rounds=s.silent_rounds),
            t("checkin.settings.helpwords", words=", ".join(help_words(s.help_words))),
        ]
        if s.remind_after >= s.close_after:
            lines.append(t("checkin.settings.no_reminder"))
        await ctx.reply(Text.join(lines))

    # --- questions ---------------------------------------------------------------------------

    @command(
        "checkin questions",
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="checkin.questions.help",
    )
    async def questions(self, ctx: Context, net: NetworkRow) -> None:
        items = []
        for question in self.data.questions(net.id):
            text = question.text(self.app.catalog, ctx.language, net.language)
            languages = LANGUAGES if question.builtin else sorted(question.texts)
            items.append(
                self.t(
                    ctx.language,
                    f"checkin.questions.{question.kind}",
                    text=text,
                    languages=language_names(languages, ctx.language),
                )
            )
        if not items:
            await ctx.reply("checkin.questions.none", network=net.name)
            return
        title = self.t(ctx.language, "checkin.questions.title", network=net.name)
        numbered = Text(
            body="\n".join(f"{n}. {item.body}" for n, item in enumerate(items, 1)),
            html="<ol>" + "".join(f"<li>{item.html}</li>" for item in items) + "</ol>",
        )
        await ctx.reply(Text.join([title, numbered]))

    @command(
        "checkin question add",
        Arg("text", rest=True),
        options=[
            *(Option(code, placeholder='"…"') for code in LANGUAGES),
            Option("kind", choices=KINDS),
            NETWORK,
        ],
        role=Role.coordinator,
        network=True,
        help="checkin.question_add.help",
    )
    async def question_add(
        self,
        ctx: Context,
        text: str,
        kind: str | None,
        net: NetworkRow,
        **translations: str | None,
    ) -> None:
        texts = {ctx.language: text.strip()} | {
            k: v.strip() for k, v in translations.items() if v and v.strip()
        }
        if any(len(value) > MAX_QUESTION_LENGTH for value in texts.values()):
            await ctx.reply("checkin.question.too_long", limit=MAX_QUESTION_LENGTH)
            return
        if len(self.data.questions(net.id)) >= MAX_QUESTIONS:
            await ctx.reply("checkin.question.too_many", limit=MAX_QUESTIONS)
            return
        self.data.add_question(net.id, kind or TEXT, texts)
        missing = [code for code in LANGUAGES if code not in texts]
        lines = [
            self.t(
                ctx.language,
                "checkin.question.added",
                text=shorten(text, 100),
                count=len(self.data.questions(net.id)),
            )
        ]
        if missing:
            lines.append(
                self.t(
                    ctx.language,
                    "checkin.question.missing_language",
                    languages=language_names(missing, ctx.language),
                    example=missing[0],
                )
            )
        await ctx.reply(Text.join(lines))

    @command(
        "checkin question remove",
        Arg("number", convert=int),
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="checkin.question_remove.help",
    )
    async def question_remove(self, ctx: Context, number: int, net: NetworkRow) -> None:
        current = self.data.questions(net.id)
        if not current:
            await ctx.reply("checkin.questions.none", network=net.name)
            return
        if not 1 <= number <= len(current):
            await ctx.reply("checkin.question.no_such", number=number, count=len(current))
            return
        question = current[number - 1]
        self.data.remove_question(question.id, self.now().timestamp())
        text = question.text(self.app.catalog, ctx.language, net.language)
        await ctx.reply("checkin.question.removed", number=number, question=shorten(text, 100))

    # --- rounds ------------------------------------------------------------------------------

    @command(
        "checkin now",
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="checkin.now.help",
    )
    async def now_command(self, ctx: Context, net: NetworkRow) -> None:
        # After a crash this command runs again: its own round then goes on where it stopped.
        if self.rounds.started_by(net.id, ctx.event_id) is None:
            if self.data.open_rounds(net.id):
                await ctx.reply("checkin.now.open", network=net.name)
                return
            if not self.data.questions(net.id):
                await ctx.reply("checkin.questions.none", network=net.name)
                return
        async with self.lock:
            now = self.now()
            round_id = self.rounds.start_now(net, ctx.event_id, ctx.sender, now)
            await self.rounds.deliver(now)
        deliveries = self.data.deliveries(round_id)
        counts = {
            state: sum(1 for d in deliveries if d.state == state)
            for state in ("sent", "paused", "pending", "failed")
        }
        started = ctx.t(
            "checkin.now.started", network=net.name, sent=counts["sent"], total=len(deliveries)
        )
        missed = {"paused": counts["paused"], "failed": counts["failed"] + counts["pending"]}
        if not any(missed.values()):
            await ctx.reply(started)
            return
        await ctx.reply(Text.join([started, counted(ctx, "checkin.now", missed)], " "))

    @command(
        "checkin close",
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="checkin.close.help",
    )
    async def close_command(self, ctx: Context, net: NetworkRow) -> None:
        open_rounds = self.data.open_rounds(net.id)
        if not open_rounds:
            await ctx.reply("checkin.status.no_round", network=net.name)
            return
        async with self.lock:
            now = self.now()
            for round_ in open_rounds:
                self.data.close(round_.id, now.timestamp())
            await self.rounds.end_polls()
            for round_ in open_rounds:
                closed = self.data.round(round_.id)
                if closed is not None:
                    await self.summarise(closed, now)
        await ctx.reply("checkin.close.done", network=net.name)

    @command(
        "checkin status",
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="checkin.status.help",
    )
    async def status_command(self, ctx: Context, net: NetworkRow) -> None:
        open_rounds = self.data.open_rounds(net.id)
        round_ = open_rounds[-1] if open_rounds else self.data.latest_round(net.id)
        settings = self.data.settings(net.id)
        schedule = self._schedule_text(ctx.language, net, settings)
        if round_ is None:
            no_round = self.t(ctx.language, "checkin.status.no_round", network=net.name)
            await self._answer(ctx, net, Text.join([no_round, schedule]))
            return
        facts = RoundFacts(
            round_,
            round_.question_list(),
            self.data.deliveries(round_.id),
            self.data.answers(round_.id),
        )
        text = status(
            partial(self.t, ctx.language),
            Names(self.app, ctx.room_id),
            facts,
            net.name,
            self.rounds.close_time(round_),
            settings.zone,
            ctx.language,
        )
        await self._answer(ctx, net, text if open_rounds else Text.join([text, schedule]))


def _whole(value: str, low: int, high: int) -> int:
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"{value} is not between {low} and {high}")
    return number
