"""Rounds, driven by the tick: start what the schedule says is due, deliver each member's
questions when their local time comes, remind the silent once, close (ending the polls)
and summarise.

Everything is derived from the database at each tick, so a restart only delays work:
- a scheduled round that fell due while the bot was down starts at the next tick, once
  (rounds are unique per network and slot) and is marked late; occurrences that an even
  longer outage swallowed are recorded as missed and named in the next summary;
- each message has a deterministic transaction id and its event id is stored as soon as it
  is sent, so a delivery cut short is completed without sending anything twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bots.checkin.formats import day_text, delay_text, moment_text
from bots.checkin.prompts import poll_end, question_event
from bots.checkin.questions import snapshot
from bots.checkin.rules import Rule
from bots.checkin.schema import (
    FAILED,
    MANUAL,
    MISSED,
    PAUSED,
    PENDING,
    SCHEDULED,
    SENT,
    Delivery,
    PollToEnd,
    Round,
    Settings,
)
from bots.network.schema import NetworkRow
from core.messaging import MessagingError, direct_room, notice
from core.rooms import MatrixError
from core.sending import SendError, bulk
from core.text import Text

if TYPE_CHECKING:
    from bots.checkin.bot import Checkin

log = logging.getLogger(__name__)

PARALLEL = 24  # members served at once: each waits on the homeserver, not on our CPU
RETRY_AFTER = 600  # seconds before a failed delivery is tried once more
MAX_OFFSET = timedelta(hours=26)  # no two time zones are further apart
FOREVER = "9999-12-31"  # paused until resumed


class Rounds:
    def __init__(self, bot: Checkin) -> None:
        self.bot = bot
        self.data = bot.data

    @property
    def late_grace(self) -> float:
        """A round that starts later than this after it fell due is reported late."""
        return 600 + self.bot.app.config.bots.tick_seconds

    # --- starting ----------------------------------------------------------------------------

    async def plan(self, now: datetime) -> None:
        """Start the scheduled rounds that have fallen due."""
        for settings in self.data.scheduled():
            try:
                await self._plan_network(settings, now)
            except Exception:
                log.exception("could not plan a round", extra={"network": settings.network_id})

    async def _plan_network(self, settings: Settings, now: datetime) -> None:
        rule = settings.parsed_rule()
        network = self.bot.networks.get(settings.network_id)
        if rule is None or network is None or settings.next_slot is None:
            return
        slot = date.fromisoformat(settings.next_slot)
        if rule.due(slot, settings.zone) - MAX_OFFSET > now:
            return  # cheap test first: not due anywhere yet
        zones = self.zones(network, settings)
        if rule.earliest_due(slot, zones) > now:
            return
        missed: list[date] = []
        following = rule.next_slot(slot, settings.zone)
        while rule.earliest_due(following, zones) <= now:
            missed.append(slot)
            slot, following = following, rule.next_slot(following, settings.zone)
        for open_round in self.data.open_rounds(network.id):  # the schedule wins
            self.data.close(open_round.id, now.timestamp())
        for day in missed:
            self._record_missed(network, settings, rule, day, zones, now)
        due = rule.earliest_due(slot, zones)
        late = (now - due).total_seconds()
        self.create(
            network,
            settings,
            slot.isoformat(),
            SCHEDULED,
            now,
            rule=rule,
            late=late if late > self.late_grace else 0,
            missed=len(missed),
        )
        settings.next_slot = following.isoformat()
        self.data.save_settings(settings, now.timestamp())
        log.info("round due", extra={"network": network.id, "slot": slot, "missed": len(missed)})

    def _record_missed(
        self,
        network: NetworkRow,
        settings: Settings,
        rule: Rule,
        day: date,
        zones: list[ZoneInfo],
        now: datetime,
    ) -> None:
        stamp = now.timestamp()
        values = {
            "network_id": network.id,
            "slot": day.isoformat(),
            "kind": MISSED,
            "due_at": rule.earliest_due(day, zones).timestamp(),
            "questions": "[]",
            "remind_after": settings.remind_after,
            "close_after": settings.close_after,
            "closed_at": stamp,
            "summary_sent_at": stamp,
        }
        self.data.create_round(values, [])

    def zones(self, network: NetworkRow, settings: Settings) -> list[ZoneInfo]:
        """The network's time zone and those of its members who check in."""
        people = self.data.people([m.user_id for m in self.bot.mentors(network)])
        names = {settings.timezone} | {tz for tz, _ in people.values() if tz}
        return [ZoneInfo(name) for name in sorted(names)]

    def create(
        self,
        network: NetworkRow,
        settings: Settings,
        slot: str,
        kind: str,
        now: datetime,
        *,
        rule: Rule | None = None,
        late: float = 0,
        missed: int = 0,
        started_by: str | None = None,
    ) -> int | None:
        """Create a round with a delivery for every member who checks in: due at the rule's
        time in their own time zone (or now), or paused. None if the slot already has one."""
        mentors = self.bot.mentors(network)
        people = self.data.people([m.user_id for m in mentors])
        deliveries = []
        for member in mentors:
            tz, paused_until = people.get(member.user_id, (None, None))
            zone = ZoneInfo(tz or settings.timezone)
            due = rule.due(date.fromisoformat(slot), zone) if rule else now
            paused = paused_until is not None and due.astimezone(zone).date().isoformat() <= (
                paused_until
            )
            language = self.bot.language_of(member, network)
            deliveries.append(
                (member.user_id, PAUSED if paused else PENDING, due.timestamp(), language)
            )
        earliest = min((d[2] for d in deliveries), default=now.timestamp())
        values = {
            "network_id": network.id,
            "slot": slot,
            "kind": kind,
            "due_at": earliest,
            "started_at": now.timestamp(),
            "questions": snapshot(self.data.questions(network.id)),
            "remind_after": settings.remind_after,
            "close_after": settings.close_after,
            "late_seconds": late,
            "missed": missed,
            "started_by": started_by,
        }
        return self.data.create_round(values, deliveries)

    def start_now(self, network: NetworkRow, event_id: str, sender: str, now: datetime) -> int:
        """A round started by `!checkin now` (once per command event, also if re-run)."""
        slot = f"{MANUAL}:{event_id}"
        settings = self.data.settings(network.id)
        created = self.create(network, settings, slot, MANUAL, now, started_by=sender)
        if created is not None:
            return created
        started = self.started_by(network.id, event_id)
        assert started is not None
        return started

    def started_by(self, network_id: int, event_id: str) -> int | None:
        """The round the `!checkin now` with this event id started, if it got that far (a
        command handled again after a crash recognises its own work by its event id)."""
        row = self.data.db.execute(
            "SELECT id FROM checkin_rounds WHERE network_id = ? AND slot = ?",
            [network_id, f"{MANUAL}:{event_id}"],
        ).fetchone()
        return int(row[0]) if row else None

    # --- delivering --------------------------------------------------------------------------

    async def deliver(self, now: datetime) -> int:
        """Send every delivery that has fallen due; returns how many went out."""
        due = self.data.due_deliveries(now.timestamp())
        if not due:
            return 0
        gate = asyncio.Semaphore(PARALLEL)
        rounds: dict[int, Round | None] = {}

        async def one(delivery: Delivery) -> bool:
            if delivery.round_id not in rounds:
                rounds[delivery.round_id] = self.data.round(delivery.round_id)
            round_ = rounds[delivery.round_id]
            if round_ is None:
                return False
            async with gate:
                return await self._deliver_one(round_, delivery)

        with bulk():  # paced behind the answers to people (core.sending)
            results = await asyncio.gather(*(one(d) for d in due))
        return sum(results)

    async def _deliver_one(self, round_: Round, delivery: Delivery) -> bool:
        network = self.bot.networks.get(round_.network_id)
        if network is None:
            return False
        now = self.bot.now()
        _, paused_until = self.data.person(delivery.user_id)
        if paused_until and paused_until >= self.bot.local_date(delivery.user_id, network, now):
            self.data.set_state(round_.id, delivery.user_id, PAUSED)
            return False
        try:
            room_id = await self._send_questions(network, round_, delivery, now)
        except (MatrixError, MessagingError, OSError) as error:
            self._failed(round_, delivery, str(error), now)
            return False
        self.data.set_state(
            round_.id, delivery.user_id, SENT, sent_at=now.timestamp(), room_id=room_id
        )
        return True

    async def _send_questions(
        self, network: NetworkRow, round_: Round, delivery: Delivery, now: datetime
    ) -> str:
        account = self.bot.account
        language = delivery.language or network.language
        room_id = await direct_room(account, delivery.user_id, language)
        self.bot.watch(room_id)
        sent = self.data.sent_parts(round_.id, delivery.user_id)
        questions = round_.question_list()
        parts: list[tuple[str, int | None, str, dict[str, Any]]] = [
            (
                "intro",
                None,
                "m.room.message",
                self._intro(network, round_, delivery, len(questions), now).content("m.notice"),
            ),
        ]
        for number, question in enumerate(questions, start=1):
            kind, content = question_event(
                self.bot.app.catalog, question, number, len(questions), language, network.language
            )
            parts.append((f"q{question.id}", question.id, kind, content))
        for part, question_id, kind, content in parts:
            if part in sent:
                continue
            txn = f"checkin/{round_.id}/{delivery.user_id}/{part}"
            event_id = await account.send(room_id, content, txn=txn, event_type=kind)
            self.data.add_prompt(event_id, delivery, part, question_id, room_id, kind)
        return room_id

    def _intro(
        self, network: NetworkRow, round_: Round, delivery: Delivery, count: int, now: datetime
    ) -> Text:
        language = delivery.language or network.language
        zone = self.bot.zone_of(delivery.user_id, network)
        deadline = now.timestamp() + round_.close_after
        t = self.bot.t
        lines = [
            t(
                language,
                "checkin.dm.intro",
                network=network.name,
                date=day_text(now.astimezone(zone).date(), language),
                count=count,
                deadline=moment_text(deadline, zone, language),
            ),
        ]
        if round_.late_seconds:
            delay = delay_text(round_.late_seconds, language)
            lines.append(t(language, "checkin.dm.late", delay=delay))
        lines.append(t(language, "checkin.dm.commands"))
        return Text.join(lines, "\n\n")

    def _failed(self, round_: Round, delivery: Delivery, error: str, now: datetime) -> None:
        """The first failure is retried after RETRY_AFTER; the second is final."""
        log.warning("check-in not delivered", extra={"user": delivery.user_id, "error": error})
        row = self.data.db.execute(
            "SELECT error FROM checkin_deliveries WHERE round_id = ? AND user_id = ?",
            [round_.id, delivery.user_id],
        ).fetchone()
        if row and row[0]:
            self.data.set_state(round_.id, delivery.user_id, FAILED, error=error)
        else:
            retry = now.timestamp() + RETRY_AFTER
            self.data.set_state(round_.id, delivery.user_id, PENDING, due_at=retry, error=error)

    # --- reminding and closing ---------------------------------------------------------------

    async def remind(self, now: datetime) -> None:
        """One reminder to each member who has not answered after the round's reminder time."""
        with bulk():
            for delivery in self.data.to_remind(now.timestamp()):
                round_ = self.data.round(delivery.round_id)
                network = self.bot.networks.get(round_.network_id) if round_ else None
                if round_ is None or network is None or delivery.room_id is None:
                    continue
                language = delivery.language or network.language
                zone = self.bot.zone_of(delivery.user_id, network)
                deadline = (delivery.sent_at or now.timestamp()) + round_.close_after
                text = self.bot.t(
                    language,
                    "checkin.dm.reminder",
                    network=network.name,
                    deadline=moment_text(deadline, zone, language),
                )
                txn = f"checkin/{round_.id}/{delivery.user_id}/reminder"
                try:
                    await notice(self.bot.account, delivery.room_id, text, txn=txn)
                except SendError as error:  # tried again at the next tick
                    log.warning("reminder not sent", extra={"error": str(error)})
                    continue
                self.data.reminded(round_.id, delivery.user_id, now.timestamp())

    def close_time(self, round_: Round) -> float:
        """When a round closes: its closing time after the last member got it (or is due)."""
        anchors = [
            d.sent_at or d.due_at
            for d in self.data.deliveries(round_.id)
            if d.state in (PENDING, SENT)
        ]
        return max(anchors, default=round_.started_at or round_.due_at) + round_.close_after

    def _inbox_busy(self) -> bool:
        """Events still waiting to be handled may be answers: close only once they are in."""
        row = self.data.db.execute(
            "SELECT COUNT(*) FROM inbox WHERE account = ?", [self.bot.account.name]
        ).fetchone()
        return bool(row[0])

    async def close_due(self, now: datetime) -> None:
        if not self._inbox_busy():
            for round_ in self.data.open_rounds():
                if now.timestamp() >= self.close_time(round_):
                    self.data.close(round_.id, now.timestamp())
        await self.end_polls()
        for round_ in self.data.unsummarised():
            await self.bot.summarise(round_, now)

    async def end_polls(self) -> int:
        """End the polls of closed rounds, so clients show them ended and take no more votes
        (once each: a deterministic transaction id and the stored end see to it). An end that
        cannot be sent is not tried again; votes in that poll then still count as late."""
        polls = self.data.polls_to_end()
        if not polls:
            return 0
        gate = asyncio.Semaphore(PARALLEL)
        networks: dict[int, NetworkRow | None] = {}

        async def one(poll: PollToEnd) -> bool:
            if poll.network_id not in networks:
                networks[poll.network_id] = self.bot.networks.get(poll.network_id)
            network = networks[poll.network_id]
            language = poll.language or (network.language if network else "en")
            text = self.bot.app.catalog.template(language, "checkin.dm.poll_ended")
            kind, content = poll_end(poll.event_type, poll.event_id, text)
            txn = f"checkin/{poll.round_id}/{poll.user_id}/{poll.part}/end"
            started = time.time()  # homeservers stamp events with the wall clock, too
            event_id = None
            async with gate:
                try:
                    event_id = await self.bot.account.send(
                        poll.room_id, content, txn=txn, event_type=kind
                    )
                except (MatrixError, MessagingError, OSError) as error:
                    log.warning("poll not ended", extra={"user": poll.user_id, "error": str(error)})
            self.data.poll_ended(poll.event_id, event_id, started)
            return event_id is not None

        with bulk():
            return sum(await asyncio.gather(*(one(poll) for poll in polls)))
