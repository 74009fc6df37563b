"""`!ask`, `!questions`: ask the network. A question is posted to the general room as the
root of a thread; the first reply in the thread by someone other than the asker answers it.
Unanswered after the network's escalation time (48 h unless a coordinator changed it), it
goes to the Meta-Mentor(s) by direct message."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bots.network.common import iso, multiline
from bots.network.schema import GENERAL, NetworkRow
from bots.sustain.common import NETWORK, SustainBot
from core.account import Incoming
from core.commands import Arg, Role, command
from core.context import Context
from core.messaging import MessagingError, notice, to_person
from core.people import Names
from core.rooms import MatrixError
from core.sending import SendError
from core.storage import Migrations
from core.text import Text, shorten

log = logging.getLogger(__name__)

migrations = Migrations("sustain-questions")
DEFAULT_ESCALATE_HOURS = 48.0
MAX_QUESTION = 2_000
LISTED = 20


@migrations.step
def _questions(db: Any) -> None:
    # asker/text are NULL once the asker asked to be forgotten: the question still counts.
    db.execute(
        "CREATE TABLE questions (id INTEGER PRIMARY KEY, network_id INTEGER NOT NULL"
        " REFERENCES networks(id) ON DELETE CASCADE, number INTEGER NOT NULL, asker TEXT,"
        " text TEXT, room_id TEXT NOT NULL, root_event_id TEXT, origin_room TEXT,"
        " origin_event TEXT, asked_at REAL NOT NULL, answered_at REAL, answered_by TEXT,"
        " escalated_at REAL, UNIQUE (network_id, number))"
    )
    db.execute("CREATE INDEX questions_open ON questions (answered_at, escalated_at)")
    db.execute(
        "CREATE TABLE question_settings (network_id INTEGER PRIMARY KEY"
        " REFERENCES networks(id) ON DELETE CASCADE, escalate_hours REAL NOT NULL)"
    )


@dataclass
class Question:
    id: int
    network_id: int
    number: int
    asker: str | None
    text: str | None
    room_id: str
    root_event_id: str | None
    origin_room: str | None
    origin_event: str | None
    asked_at: float
    answered_at: float | None
    escalated_at: float | None


_COLUMNS = (
    "id, network_id, number, asker, text, room_id, root_event_id, origin_room, origin_event,"
    " asked_at, answered_at, escalated_at"
)


def open_questions(db: Any, network_id: int) -> list[Question]:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM questions WHERE network_id = ? AND answered_at IS NULL"
        " AND text IS NOT NULL ORDER BY asked_at",
        [network_id],
    ).fetchall()
    return [Question(*row) for row in rows]


def question_counts(db: Any, network_id: int, since: float, until: float) -> dict[str, int]:
    """Questions asked in the period, and how many of them were answered and escalated."""
    row = db.execute(
        "SELECT COUNT(*), COUNT(answered_at), COUNT(escalated_at) FROM questions"
        " WHERE network_id = ? AND asked_at >= ? AND asked_at < ?",
        [network_id, since, until],
    ).fetchone()
    return {"asked": row[0], "answered": row[1], "escalated": row[2]}


def hours(value: str) -> float:
    number = float(value.strip().lower().rstrip("h"))
    if not 1 <= number <= 24 * 30:
        raise ValueError("give a number of hours from 1 to 720")
    return number


class Questions(SustainBot):
    name = "ask"
    featured = ("ask", "questions")
    migrations = migrations

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self._open: dict[str, tuple[int, str | None]] = {}  # thread root -> (question, asker)

    async def start(self) -> None:
        rows = self.db.execute(
            "SELECT root_event_id, id, asker FROM questions"
            " WHERE answered_at IS NULL AND root_event_id IS NOT NULL AND text IS NOT NULL"
        ).fetchall()
        self._open = {root: (qid, asker) for root, qid, asker in rows}

    def escalate_hours(self, network_id: int) -> float:
        row = self.db.execute(
            "SELECT escalate_hours FROM question_settings WHERE network_id = ?", [network_id]
        ).fetchone()
        return float(row[0]) if row else DEFAULT_ESCALATE_HOURS

    # --- asking ----------------------------------------------------------------------------

    @command(
        "ask", Arg("question", rest=True), role=Role.member, network=True, help="sustain.ask.help"
    )
    async def ask(self, ctx: Context, question: str, net: NetworkRow) -> None:
        question = question.strip()
        if len(question) > MAX_QUESTION:
            await ctx.reply("sustain.ask.too_long", limit=MAX_QUESTION)
            return
        room_id = net.rooms.get(GENERAL)
        if room_id is None:
            await ctx.reply("sustain.ask.no_room", network=net.name)
            return
        number = self._number(net.id)
        post = self.t(
            net.language,
            "sustain.ask.post",
            number=number,
            asker=Names(self.app, room_id).one(ctx.sender),
            question=multiline(question),
        )
        try:
            root = await self.network_service.post(
                net, GENERAL, post, txn=f"{ctx.event_id}/ask", mentions=[]
            )
        except SendError:  # logged by the send
            root = None
        if root is None:
            await ctx.reply("sustain.ask.post_failed")
            return
        asked = {
            "network_id": net.id,
            "number": number,
            "asker": ctx.sender,
            "text": question,
            "room_id": room_id,
            "root_event_id": root,
            "origin_room": ctx.room_id,
            "origin_event": ctx.event_id,
            "asked_at": self.now(),
        }
        self._open[root] = (int(self.db.table("questions").insert(asked).last_pk), ctx.sender)
        await ctx.reply(
            "sustain.ask.posted",
            number=number,
            link=self.link(room_id, root, ctx.language),
            hours=_hours_text(self.escalate_hours(net.id)),
        )

    def _number(self, network_id: int) -> int:
        row = self.db.execute(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM questions WHERE network_id = ?",
            [network_id],
        ).fetchone()
        return int(row[0])

    @command(
        "questions",
        options=[NETWORK],
        role=Role.member,
        network=True,
        help="sustain.questions.help",
    )
    async def questions(self, ctx: Context, net: NetworkRow) -> None:
        waiting = open_questions(self.db, net.id)
        if not waiting:
            await ctx.reply("sustain.questions.none", network=net.name)
            return
        lines = [self._line(ctx, q) for q in waiting[-LISTED:]]
        title = ctx.t("sustain.questions.title", network=net.name, count=len(waiting))
        await ctx.reply(Text.join([title, Text.bullets(lines)]))

    def _line(self, ctx: Context, q: Question) -> Text:
        key = "sustain.questions.line_escalated" if q.escalated_at else "sustain.questions.line"
        return ctx.t(
            key,
            number=q.number,
            question=shorten(" ".join((q.text or "").split()), 140),
            asker=ctx.names.one(q.asker) if q.asker else ctx.t("sustain.someone"),
            date=ctx.day(q.asked_at),
            link=self.link(q.room_id, q.root_event_id, ctx.language),
        )

    @command(
        "questions escalate",
        Arg("hours", hours),
        role=Role.coordinator,
        network=True,
        help="sustain.questions.escalate.help",
    )
    async def set_escalation(self, ctx: Context, hours: float, net: NetworkRow) -> None:
        self.db.table("question_settings").upsert(
            {"network_id": net.id, "escalate_hours": hours}, pk="network_id"
        )
        await ctx.reply(
            "sustain.questions.escalate.set", network=net.name, hours=_hours_text(hours)
        )

    # --- answers ---------------------------------------------------------------------------

    def wants(self, incoming: Incoming) -> bool:
        if incoming.event.get("type") != "m.room.message":
            return False
        found = self._open.get(_thread_root(incoming.content) or "")
        return found is not None and found[1] != incoming.sender

    async def on_event(self, ctx: Context) -> None:
        root = _thread_root(ctx.incoming.content) or ""
        found = self._open.pop(root, None)
        if found is None:
            return
        cursor = self.db.execute(
            "UPDATE questions SET answered_at = ?, answered_by = ?"
            " WHERE id = ? AND answered_at IS NULL",
            [self.now(), ctx.sender, found[0]],
        )
        if cursor.rowcount:
            await self._tell_asker(found[0], ctx)

    async def _tell_asker(self, question_id: int, ctx: Context) -> None:
        """An asker who asked from elsewhere (a direct chat) hears where the answer is."""
        q = self._get(question_id)
        net = self.data.get(q.network_id) if q else None
        if q is None or net is None or not q.asker or q.origin_room in (None, q.room_id):
            return
        text = self.t(
            self.language_of(q.asker, net),
            "sustain.ask.answered",
            number=q.number,
            link=self.link(q.room_id, q.root_event_id, self.language_of(q.asker, net)),
        )
        with contextlib.suppress(SendError):  # logged; a note, the answer itself is posted
            await notice(
                self.account,
                q.origin_room,
                text,
                txn=f"ask/{q.id}/answered",
                reply_to=q.origin_event,
            )

    def _get(self, question_id: int) -> Question | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM questions WHERE id = ?", [question_id])
        found = row.fetchone()
        return Question(*found) if found else None

    # --- escalation ------------------------------------------------------------------------

    async def tick(self, now: datetime) -> None:
        """Questions nobody answered in time go to the network's Meta-Mentors, once."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM questions WHERE answered_at IS NULL AND escalated_at IS NULL"
            " AND text IS NOT NULL ORDER BY asked_at"
        ).fetchall()
        for q in (Question(*row) for row in rows):
            if q.asked_at + self.escalate_hours(q.network_id) * 3600 <= now.timestamp():
                net = self.data.get(q.network_id)
                if net is not None and await self._escalate(net, q):
                    self.db.table("questions").update(q.id, {"escalated_at": now.timestamp()})

    async def _escalate(self, net: NetworkRow, q: Question) -> bool:
        """Send the question to every Meta-Mentor; True if at least one got it."""
        sent = False
        names = Names(self.app)
        for meta in self.data.meta_mentors(net.id):
            language = self.language_of(meta, net)
            text = self.t(
                language,
                "sustain.ask.escalated",
                number=q.number,
                network=net.name,
                asker=names.one(q.asker) if q.asker else self.t(language, "sustain.someone"),
                hours=_hours_text(self.escalate_hours(net.id)),
                question=multiline(q.text or ""),
                link=self.link(q.room_id, q.root_event_id, language),
            )
            try:
                sent = bool(await to_person(self.account, meta, text, txn=f"ask/{q.id}/to/{meta}"))
            except (MatrixError, MessagingError) as error:
                log.warning("could not escalate a question", extra={"error": str(error)})
        return sent

    # --- personal data -----------------------------------------------------------------------

    def personal_data(self, user_id: str) -> dict[str, Any]:
        asked = self.db.execute(
            "SELECT n.name, q.number, q.text, q.asked_at FROM questions q"
            " JOIN networks n ON n.id = q.network_id WHERE q.asker = ? ORDER BY q.asked_at",
            [user_id],
        ).fetchall()
        answered = self.db.execute(
            "SELECT n.name, q.number FROM questions q JOIN networks n ON n.id = q.network_id"
            " WHERE q.answered_by = ?",
            [user_id],
        ).fetchall()
        found: dict[str, Any] = {}
        if asked:
            found["questions_asked"] = [
                {"network": net, "number": number, "asked_at": iso(at), "question": text}
                for net, number, text, at in asked
            ]
        if answered:
            found["questions_answered_first"] = [f"{net} #{number}" for net, number in answered]
        return found

    async def forget_person(self, user_id: str) -> None:
        """Redact the bot's posts of their questions; keep the questions as counts only."""
        rows = self.db.execute(
            "SELECT room_id, root_event_id FROM questions WHERE asker = ?"
            " AND root_event_id IS NOT NULL",
            [user_id],
        ).fetchall()
        for room_id, event_id in rows:
            self._open.pop(event_id, None)
            await self.account.client.room_redact(room_id, event_id, reason="forgotten")
        with self.app.store.transaction() as db:
            db.execute(
                "UPDATE questions SET asker = NULL, text = NULL, origin_room = NULL,"
                " origin_event = NULL WHERE asker = ?",
                [user_id],
            )
            db.execute("UPDATE questions SET answered_by = NULL WHERE answered_by = ?", [user_id])


def _thread_root(content: dict[str, Any]) -> str | None:
    """The event a message answers: its thread's root, or the message it replies to."""
    relation = content.get("m.relates_to") or {}
    if relation.get("rel_type") == "m.thread":
        return relation.get("event_id")
    return (relation.get("m.in_reply_to") or {}).get("event_id")


def _hours_text(value: float) -> str:
    return f"{value:g}"
