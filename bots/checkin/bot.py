"""The check-in bot: regular check-ins of a network's mentors in their direct chats, in their
language and time zone, with one reminder, a summary for the network office, immediate
alerts about a low mood or a call for help, and trends (the mentorNET strategy: a network
lives on regular contact and mutual support).

The commands live in `coordinator.py` and `member.py`; scheduling in `rounds.py`; reading
answers in `answers.py`; texts for coordinators in `summary.py`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from bots.checkin import schema
from bots.checkin.answers import Answers
from bots.checkin.coordinator import CoordinatorCommands
from bots.checkin.member import MemberCommands
from bots.checkin.questions import Question
from bots.checkin.reports import ReportCommands
from bots.checkin.rounds import Rounds
from bots.checkin.schema import Answer, CheckinStore, Round
from bots.checkin.summary import RoundFacts, alert, silent_streaks, summary
from bots.network.common import iso
from bots.network.schema import COORDINATION, NetworkStore
from bots.network.service import Networks
from core.account import Incoming
from core.context import Context
from core.people import Names
from core.sending import SendError

if TYPE_CHECKING:
    from core.app import App

log = logging.getLogger(__name__)


class Checkin(CoordinatorCommands, ReportCommands, MemberCommands):
    name = "checkin"
    featured = ("checkin", "checkin skip", "checkin status", "checkin schedule", "checkin now")
    migrations = schema.migrations

    def __init__(self, app: App) -> None:
        self.app = app
        self.data = CheckinStore(app.store)
        self.network_service = app.service(Networks)  # the network a command is about, roles
        self.networks = NetworkStore(app.store)
        self.rounds = Rounds(self)
        self.answers = Answers(self)
        self.lock = asyncio.Lock()  # one tick (or `!checkin now`) at a time
        self._rooms: set[str] = set()  # direct chats where check-ins were sent

    def watch(self, room_id: str) -> None:
        self._rooms.add(room_id)

    async def start(self) -> None:
        self._rooms = self.data.prompt_rooms()

    # --- events and the tick -----------------------------------------------------------------

    def wants(self, incoming: Incoming) -> bool:
        return incoming.room_id in self._rooms and self.answers.wants(incoming)

    async def on_event(self, ctx: Context) -> None:
        await self.answers.handle(ctx)

    async def tick(self, now: datetime) -> None:
        """Start, deliver, remind and close what has fallen due by `now`."""
        if self.account.last_sync is None:
            return  # not synced since start: answers that came meanwhile are not in yet
        if self.lock.locked():
            return  # a round is being sent (`!checkin now`): the next tick does the rest,
            # and the other bots' scheduled work need not wait for it
        async with self.lock:
            await self.rounds.plan(now)
            await self.rounds.deliver(now)
            await self.rounds.remind(now)
            await self.rounds.close_due(now)

    # --- the network office ------------------------------------------------------------------

    async def summarise(self, round_: Round, now: datetime) -> None:
        """Post the summary of a closed round (once: the transaction id and the stored
        event id see to it)."""
        network = self.networks.get(round_.network_id)
        if network is None:
            self.data.summarised(round_.id, None, now.timestamp())
            return
        settings = self.data.settings(network.id)
        language = network.language
        facts = RoundFacts(
            round_,
            round_.question_list(),
            self.data.deliveries(round_.id),
            self.data.answers(round_.id),
        )
        labels = {q.id: q.label(self.app.catalog, language, language) for q in facts.questions}
        asked = set(facts.asked)
        history = self.data.history(network.id, settings.silent_rounds + 12)
        silent = {u: n for u, n in silent_streaks(history).items() if u in asked}
        text = summary(
            partial(self.t, language),
            Names(self.app, network.rooms.get(COORDINATION)),
            facts,
            network.name,
            labels,
            silent,
            settings.silent_rounds,
            settings.zone,
            language,
        )
        try:
            event_id = await self.network_service.to_office(
                network, text, txn=f"checkin/{round_.id}/summary", account=self.account
            )
        except SendError as error:  # tried again at the next tick, under the same txn
            log.warning("the summary reached nobody", extra={"error": str(error)})
            return
        self.data.summarised(round_.id, event_id, now.timestamp())

    async def alert(self, round_: Round, question: Question, answer: Answer, reason: str) -> bool:
        """Tell the network office now that someone's mood is low or they ask for help."""
        network = self.networks.get(round_.network_id)
        if network is None:
            return False
        language = network.language
        metas = self.networks.meta_mentors(network.id)
        label = question.text(self.app.catalog, language, language)
        names = Names(self.app, network.rooms.get(COORDINATION))
        text = alert(
            partial(self.t, language),
            names,
            network.name,
            answer.user_id,
            answer,
            reason,
            label,
            metas,
        )
        txn = f"checkin/{round_.id}/{answer.user_id}/alert/{question.id}"
        try:
            await self.network_service.to_office(
                network, text, txn=txn, mentions=metas, account=self.account
            )
        except SendError as error:
            log.warning("the alert reached nobody", extra={"error": str(error)})
            return False
        return True

    # --- personal data -----------------------------------------------------------------------

    def time_zone(self, user_id: str) -> str | None:
        """The time zone the person set with `!checkin tz`."""
        return self.data.person(user_id)[0]

    def personal_data(self, user_id: str) -> dict[str, Any]:
        """Time zone, holiday and every answer given, JSON-ready."""
        timezone, paused = self.data.person(user_id)
        result: dict[str, Any] = {}
        if timezone:
            result["timezone"] = timezone
        if paused:
            result["paused_until"] = paused
        rows = self.data.db.execute(
            "SELECT a.round_id, a.question_id, a.mood, a.text, a.answered_at, a.late"
            " FROM checkin_answers a WHERE a.user_id = ? ORDER BY a.answered_at",
            [user_id],
        ).fetchall()
        answers = []
        for round_id, question_id, mood, text, answered_at, late in rows:
            round_ = self.data.round(round_id)
            network = self.networks.get(round_.network_id) if round_ else None
            question = (
                next((q for q in round_.question_list() if q.id == question_id), None)
                if (round_)
                else None
            )
            language = network.language if network else "en"
            answers.append(
                {
                    "network": network.name if network else None,
                    "question": question.text(self.app.catalog, language, language)
                    if question
                    else None,
                    "mood": mood,
                    "answer": text,
                    "answered_at": iso(answered_at),
                    "late": bool(late),
                }
            )
        if answers:
            result["answers"] = answers
        return result

    async def forget_person(self, user_id: str) -> None:
        """Erase their settings, deliveries and answers (summaries already posted stay in
        the coordination room's history)."""
        self.data.forget(user_id)
