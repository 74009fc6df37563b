"""The check-in tables and the queries on them.

Per network: settings (the schedule rule and the next slot, time zone, reminder and closing
times) and questions. Per person: time zone and holiday. Per round: one delivery per member
(due in their time zone), the prompts sent to them (event ids, so answers find their
question), their answers and the alerts raised. Everything the bot must still do is derived
from these rows at each tick, so nothing is lost or done twice across restarts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from bots.checkin.prompts import MESSAGE, POLL_START
from bots.checkin.questions import DEFAULTS, MOOD, Question, from_snapshot
from bots.checkin.rules import Rule, parse_rule
from core.storage import Migrations, Store

migrations = Migrations("checkin")

PENDING, SENT, SKIPPED, PAUSED, FAILED = "pending", "sent", "skipped", "paused", "failed"
SCHEDULED, MANUAL, MISSED = "scheduled", "manual", "missed"
MENTOR_ROLES = ("mentor-experienced", "mentor-novice")  # who is asked to check in


@migrations.step
def _tables(db: Any) -> None:
    db.execute(
        "CREATE TABLE checkin_settings (network_id INTEGER PRIMARY KEY, rule TEXT, anchor TEXT,"
        " next_slot TEXT, timezone TEXT NOT NULL DEFAULT 'UTC',"
        " remind_after REAL NOT NULL DEFAULT 86400, close_after REAL NOT NULL DEFAULT 172800,"
        " silent_rounds INTEGER NOT NULL DEFAULT 3, help_words TEXT, updated_at REAL)"
    )
    db.execute(
        "CREATE TABLE checkin_questions (id INTEGER PRIMARY KEY, network_id INTEGER NOT NULL,"
        " position INTEGER NOT NULL, kind TEXT NOT NULL, builtin TEXT, texts TEXT,"
        " removed_at REAL)"
    )
    db.execute("CREATE INDEX checkin_questions_network ON checkin_questions (network_id)")
    db.execute(
        "CREATE TABLE checkin_people (user_id TEXT PRIMARY KEY, timezone TEXT,"
        " paused_until TEXT, updated_at REAL)"
    )
    db.execute(
        "CREATE TABLE checkin_rounds (id INTEGER PRIMARY KEY, network_id INTEGER NOT NULL,"
        " slot TEXT NOT NULL, kind TEXT NOT NULL, due_at REAL NOT NULL, started_at REAL,"
        " questions TEXT NOT NULL, remind_after REAL NOT NULL, close_after REAL NOT NULL,"
        " late_seconds REAL NOT NULL DEFAULT 0, missed INTEGER NOT NULL DEFAULT 0,"
        " closed_at REAL, summary_event_id TEXT, summary_sent_at REAL, started_by TEXT,"
        " UNIQUE (network_id, slot))"
    )
    db.execute(
        "CREATE TABLE checkin_deliveries (round_id INTEGER NOT NULL"
        " REFERENCES checkin_rounds(id) ON DELETE CASCADE, user_id TEXT NOT NULL,"
        " state TEXT NOT NULL, due_at REAL NOT NULL, sent_at REAL, room_id TEXT, language TEXT,"
        " reminded_at REAL, error TEXT, PRIMARY KEY (round_id, user_id))"
    )
    db.execute("CREATE INDEX checkin_deliveries_state ON checkin_deliveries (state, due_at)")
    db.execute("CREATE INDEX checkin_deliveries_user ON checkin_deliveries (user_id)")
    db.execute(
        "CREATE TABLE checkin_prompts (event_id TEXT PRIMARY KEY, round_id INTEGER NOT NULL,"
        " user_id TEXT NOT NULL, part TEXT NOT NULL, question_id INTEGER, room_id TEXT NOT NULL,"
        " UNIQUE (round_id, user_id, part))"
    )
    db.execute(
        "CREATE TABLE checkin_answers (round_id INTEGER NOT NULL, user_id TEXT NOT NULL,"
        " question_id INTEGER NOT NULL, mood INTEGER, text TEXT, source TEXT NOT NULL,"
        " event_id TEXT NOT NULL, answered_at REAL NOT NULL, edited_at REAL,"
        " edits INTEGER NOT NULL DEFAULT 0, late INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (round_id, user_id, question_id))"
    )
    db.execute("CREATE INDEX checkin_answers_event ON checkin_answers (event_id)")
    db.execute("CREATE INDEX checkin_answers_user ON checkin_answers (user_id)")
    # A view once read by other bots; dropped (`_no_view_for_others`): they ask the store.
    db.execute(
        "CREATE VIEW checkin_requests AS SELECT r.network_id, d.user_id, d.sent_at,"
        " (SELECT MIN(a.answered_at) FROM checkin_answers a WHERE a.round_id = d.round_id"
        "   AND a.user_id = d.user_id) AS answered_at"
        " FROM checkin_deliveries d JOIN checkin_rounds r ON r.id = d.round_id"
        " WHERE d.sent_at IS NOT NULL"
    )
    db.execute(
        "CREATE TABLE checkin_alerts (round_id INTEGER NOT NULL, user_id TEXT NOT NULL,"
        " question_id INTEGER NOT NULL, reason TEXT NOT NULL, sent_at REAL NOT NULL,"
        " PRIMARY KEY (round_id, user_id, question_id))"
    )


@migrations.step
def _poll_ends(db: Any) -> None:
    """The type each prompt was sent as, and when its round closed the poll end we sent (or
    tried to): `ended_at` is wall-clock time, as homeservers stamp events. The polls of
    rounds closed before this step count as dealt with (no end is sent for old rounds)."""
    db.execute(
        f"ALTER TABLE checkin_prompts ADD COLUMN event_type TEXT NOT NULL DEFAULT '{MESSAGE}'"
    )
    db.execute("ALTER TABLE checkin_prompts ADD COLUMN ended_at REAL")
    db.execute("ALTER TABLE checkin_prompts ADD COLUMN end_event_id TEXT")
    rounds = db.execute(
        "SELECT id, questions FROM checkin_rounds"
        " WHERE id IN (SELECT round_id FROM checkin_prompts)"
    ).fetchall()
    for round_id, questions in rounds:
        for question in from_snapshot(questions):
            if question.kind == MOOD:
                db.execute(
                    "UPDATE checkin_prompts SET event_type = ?"
                    " WHERE round_id = ? AND question_id = ?",
                    [POLL_START, round_id, question.id],
                )
    db.execute(
        f"UPDATE checkin_prompts SET ended_at = {_CLOSED_AT}"
        f" WHERE event_type != '{MESSAGE}' AND {_CLOSED_AT} IS NOT NULL"
    )
    db.execute(
        "CREATE INDEX checkin_prompts_open_polls ON checkin_prompts (round_id)"
        f" WHERE ended_at IS NULL AND event_type != '{MESSAGE}'"
    )


@migrations.step
def _no_view_for_others(db: Any) -> None:
    """Other bots ask `CheckinStore.responses` instead of reading a view of the tables."""
    db.execute("DROP VIEW IF EXISTS checkin_requests")


_CLOSED_AT = "(SELECT closed_at FROM checkin_rounds r WHERE r.id = checkin_prompts.round_id)"


@dataclass
class Settings:
    network_id: int
    rule: str | None = None
    anchor: str | None = None
    next_slot: str | None = None
    timezone: str = "UTC"
    remind_after: float = 86_400
    close_after: float = 172_800
    silent_rounds: int = 3
    help_words: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def parsed_rule(self) -> Rule | None:
        if not self.rule:
            return None
        rule = parse_rule(self.rule)
        if self.anchor:
            rule = rule.with_anchor(date.fromisoformat(self.anchor))
        return rule


@dataclass
class Round:
    id: int
    network_id: int
    slot: str
    kind: str
    due_at: float
    started_at: float | None
    questions: str
    remind_after: float
    close_after: float
    late_seconds: float
    missed: int
    closed_at: float | None
    summary_event_id: str | None
    summary_sent_at: float | None
    started_by: str | None

    def question_list(self) -> list[Question]:
        return from_snapshot(self.questions)


@dataclass
class Delivery:
    round_id: int
    user_id: str
    state: str
    due_at: float
    sent_at: float | None
    room_id: str | None
    language: str | None
    reminded_at: float | None


@dataclass
class Answer:
    round_id: int
    user_id: str
    question_id: int
    mood: int | None
    text: str | None
    source: str
    event_id: str
    answered_at: float
    edited_at: float | None
    edits: int
    late: int


@dataclass
class PollToEnd:
    event_id: str
    event_type: str
    round_id: int
    user_id: str
    part: str
    room_id: str
    language: str | None
    network_id: int


_SETTINGS = (
    "network_id, rule, anchor, next_slot, timezone, remind_after, close_after, silent_rounds,"
    " help_words"
)
_ROUND = (
    "id, network_id, slot, kind, due_at, started_at, questions, remind_after, close_after,"
    " late_seconds, missed, closed_at, summary_event_id, summary_sent_at, started_by"
)
_DELIVERY = "round_id, user_id, state, due_at, sent_at, room_id, language, reminded_at"
_ANSWER = (
    "round_id, user_id, question_id, mood, text, source, event_id, answered_at, edited_at,"
    " edits, late"
)


class CheckinStore:
    """Queries on the check-in tables."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    # --- settings and questions --------------------------------------------------------------

    def settings(self, network_id: int) -> Settings:
        row = self.db.execute(
            f"SELECT {_SETTINGS} FROM checkin_settings WHERE network_id = ?", [network_id]
        ).fetchone()
        return Settings(*row) if row else Settings(network_id)

    def save_settings(self, settings: Settings, now: float) -> None:
        values = dict(settings.__dict__, updated_at=now)
        self.db.table("checkin_settings").upsert(values, pk="network_id")

    def scheduled(self) -> list[Settings]:
        rows = self.db.execute(
            f"SELECT {_SETTINGS} FROM checkin_settings WHERE rule IS NOT NULL"
            " AND next_slot IS NOT NULL"
        ).fetchall()
        return [Settings(*row) for row in rows]

    def questions(self, network_id: int) -> list[Question]:
        """The network's current questions, in order; the default set the first time."""
        if not self.db.execute(
            "SELECT 1 FROM checkin_questions WHERE network_id = ? LIMIT 1", [network_id]
        ).fetchone():
            with self.store.transaction() as db:
                db.table("checkin_questions").insert_all(
                    {"network_id": network_id, "position": position, "kind": kind, "builtin": key}
                    for position, (kind, key) in enumerate(DEFAULTS, start=1)
                )
        rows = self.db.execute(
            "SELECT id, kind, builtin, texts FROM checkin_questions WHERE network_id = ?"
            " AND removed_at IS NULL ORDER BY position, id",
            [network_id],
        ).fetchall()
        return [Question(r[0], r[1], r[2], json.loads(r[3]) if r[3] else {}) for r in rows]

    def add_question(self, network_id: int, kind: str, texts: dict[str, str]) -> None:
        self.questions(network_id)  # the defaults first, so a new question comes after them
        self.db.execute(
            "INSERT INTO checkin_questions (network_id, position, kind, texts) VALUES"
            " (?, (SELECT COALESCE(MAX(position), 0) + 1 FROM checkin_questions"
            " WHERE network_id = ?), ?, ?)",
            [network_id, network_id, kind, json.dumps(texts, ensure_ascii=False)],
        )

    def remove_question(self, question_id: int, now: float) -> None:
        self.db.table("checkin_questions").update(question_id, {"removed_at": now})

    # --- people ------------------------------------------------------------------------------

    def person(self, user_id: str) -> tuple[str | None, str | None]:
        """(time zone, paused until) of a person; None where unset."""
        row = self.db.execute(
            "SELECT timezone, paused_until FROM checkin_people WHERE user_id = ?", [user_id]
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def set_person(self, user_id: str, now: float, **values: str | None) -> None:
        """Set `timezone` and/or `paused_until` (None clears it)."""
        assert set(values) <= {"timezone", "paused_until"}
        people = self.db.table("checkin_people")
        people.insert({"user_id": user_id, "updated_at": now}, ignore=True)
        people.update(user_id, {**values, "updated_at": now})

    def people(self, user_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
        rows = self.db.execute(
            "SELECT user_id, timezone, paused_until FROM checkin_people"
            " WHERE user_id IN (SELECT value FROM json_each(?))",
            [json.dumps(user_ids)],
        ).fetchall()
        return {row[0]: (row[1], row[2]) for row in rows}

    # --- rounds ------------------------------------------------------------------------------

    def create_round(self, values: dict[str, Any], deliveries: list[tuple[Any, ...]]) -> int | None:
        """Insert a round and its deliveries (user, state, due_at, language) together;
        None when the network already has a round for this slot."""
        with self.store.transaction() as db:
            columns = list(values)
            cursor = db.execute(
                f"INSERT OR IGNORE INTO checkin_rounds ({', '.join(columns)})"
                f" VALUES ({', '.join('?' for _ in columns)})",
                [values[c] for c in columns],
            )
            if not cursor.rowcount:
                return None
            assert cursor.lastrowid is not None  # an INSERT that succeeded
            round_id = int(cursor.lastrowid)
            db.conn.executemany(
                "INSERT INTO checkin_deliveries (round_id, user_id, state, due_at, language)"
                " VALUES (?, ?, ?, ?, ?)",
                [(round_id, *delivery) for delivery in deliveries],
            )
        return round_id

    def _rounds(self, where: str, params: list[Any]) -> list[Round]:
        rows = self.db.execute(f"SELECT {_ROUND} FROM checkin_rounds WHERE {where}", params)
        return [Round(*row) for row in rows.fetchall()]

    def round(self, round_id: int) -> Round | None:
        found = self._rounds("id = ?", [round_id])
        return found[0] if found else None

    def open_rounds(self, network_id: int | None = None) -> list[Round]:
        if network_id is None:
            return self._rounds("closed_at IS NULL ORDER BY id", [])
        return self._rounds("closed_at IS NULL AND network_id = ? ORDER BY id", [network_id])

    def latest_round(self, network_id: int) -> Round | None:
        found = self._rounds(
            "network_id = ? AND kind != ? ORDER BY COALESCE(started_at, due_at) DESC, id DESC"
            " LIMIT 1",
            [network_id, MISSED],
        )
        return found[0] if found else None

    def rounds_since(self, network_id: int, since: float) -> list[Round]:
        return self._rounds(
            "network_id = ? AND kind != ? AND started_at >= ? ORDER BY started_at, id",
            [network_id, MISSED, since],
        )

    def unsummarised(self) -> list[Round]:
        return self._rounds("closed_at IS NOT NULL AND summary_sent_at IS NULL ORDER BY id", [])

    def close(self, round_id: int, now: float) -> None:
        self.db.execute(
            "UPDATE checkin_rounds SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
            [now, round_id],
        )

    def summarised(self, round_id: int, event_id: str | None, now: float) -> None:
        self.db.execute(
            "UPDATE checkin_rounds SET summary_event_id = ?, summary_sent_at = ? WHERE id = ?",
            [event_id, now, round_id],
        )

    # --- deliveries and prompts --------------------------------------------------------------

    def deliveries(self, round_id: int) -> list[Delivery]:
        rows = self.db.execute(
            f"SELECT {_DELIVERY} FROM checkin_deliveries WHERE round_id = ? ORDER BY user_id",
            [round_id],
        ).fetchall()
        return [Delivery(*row) for row in rows]

    def delivery(self, round_id: int, user_id: str) -> Delivery | None:
        row = self.db.execute(
            f"SELECT {_DELIVERY} FROM checkin_deliveries WHERE round_id = ? AND user_id = ?",
            [round_id, user_id],
        ).fetchone()
        return Delivery(*row) if row else None

    def due_deliveries(self, now: float) -> list[Delivery]:
        rows = self.db.execute(
            f"SELECT {_DELIVERY} FROM checkin_deliveries WHERE state = ? AND due_at <= ?"
            " AND round_id IN (SELECT id FROM checkin_rounds WHERE closed_at IS NULL)"
            " ORDER BY due_at, user_id",
            [PENDING, now],
        ).fetchall()
        return [Delivery(*row) for row in rows]

    def open_deliveries(self, user_id: str) -> list[Delivery]:
        """The person's deliveries in rounds still open, oldest round first."""
        rows = self.db.execute(
            f"SELECT {_DELIVERY} FROM checkin_deliveries WHERE user_id = ? AND round_id IN"
            " (SELECT id FROM checkin_rounds WHERE closed_at IS NULL) ORDER BY round_id",
            [user_id],
        ).fetchall()
        return [Delivery(*row) for row in rows]

    def set_state(self, round_id: int, user_id: str, state: str, **values: Any) -> None:
        allowed = {"sent_at", "room_id", "due_at", "error", "reminded_at"}
        assert set(values) <= allowed
        sets = "".join(f", {column} = ?" for column in values)
        self.db.execute(
            f"UPDATE checkin_deliveries SET state = ?{sets} WHERE round_id = ? AND user_id = ?",
            [state, *values.values(), round_id, user_id],
        )

    def reminded(self, round_id: int, user_id: str, now: float) -> None:
        self.db.execute(
            "UPDATE checkin_deliveries SET reminded_at = ? WHERE round_id = ? AND user_id = ?",
            [now, round_id, user_id],
        )

    def to_remind(self, now: float) -> list[Delivery]:
        """Sent deliveries of open rounds, unanswered and not yet reminded, whose reminder
        time has come (and comes before the round closes)."""
        rows = self.db.execute(
            f"SELECT {', '.join('d.' + c.strip() for c in _DELIVERY.split(','))}"
            " FROM checkin_deliveries d JOIN checkin_rounds r ON r.id = d.round_id"
            " WHERE r.closed_at IS NULL AND d.state = ? AND d.reminded_at IS NULL"
            " AND r.remind_after < r.close_after AND d.sent_at + r.remind_after <= ?"
            " AND NOT EXISTS (SELECT 1 FROM checkin_answers a"
            "   WHERE a.round_id = d.round_id AND a.user_id = d.user_id)"
            " ORDER BY d.sent_at",
            [SENT, now],
        ).fetchall()
        return [Delivery(*row) for row in rows]

    def add_prompt(
        self,
        event_id: str,
        delivery: Delivery,
        part: str,
        question_id: int | None,
        room: str,
        event_type: str = MESSAGE,
    ) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO checkin_prompts"
            " (event_id, round_id, user_id, part, question_id, room_id, event_type)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [event_id, delivery.round_id, delivery.user_id, part, question_id, room, event_type],
        )

    def sent_parts(self, round_id: int, user_id: str) -> dict[str, str]:
        """part -> event id of what was already sent to the person for this round."""
        rows = self.db.execute(
            "SELECT part, event_id FROM checkin_prompts WHERE round_id = ? AND user_id = ?",
            [round_id, user_id],
        ).fetchall()
        return dict(rows)

    def prompt(self, event_id: str) -> tuple[int, str, int | None] | None:
        """(round id, user, question id) of a prompt we sent."""
        row = self.db.execute(
            "SELECT round_id, user_id, question_id FROM checkin_prompts WHERE event_id = ?",
            [event_id],
        ).fetchone()
        return (int(row[0]), row[1], row[2]) if row else None

    def polls_to_end(self) -> list[PollToEnd]:
        """The polls of closed rounds whose end is not sent yet, oldest round first."""
        rows = self.db.execute(
            "SELECT p.event_id, p.event_type, p.round_id, p.user_id, p.part, p.room_id,"
            " d.language, r.network_id FROM checkin_prompts p"
            " JOIN checkin_rounds r ON r.id = p.round_id"
            " LEFT JOIN checkin_deliveries d ON d.round_id = p.round_id AND d.user_id = p.user_id"
            f" WHERE p.ended_at IS NULL AND p.event_type != '{MESSAGE}'"
            " AND r.closed_at IS NOT NULL ORDER BY p.round_id, p.user_id",
        ).fetchall()
        return [PollToEnd(*row) for row in rows]

    def poll_ended(self, poll_id: str, end_event_id: str | None, ended_at: float) -> None:
        """The poll's end was sent (`end_event_id`), or could not be: not tried again."""
        self.db.execute(
            "UPDATE checkin_prompts SET ended_at = ?, end_event_id = ? WHERE event_id = ?",
            [ended_at, end_event_id, poll_id],
        )

    def poll_end(self, poll_id: str) -> float | None:
        """When we ended this poll (wall-clock seconds), or None if it is not ended."""
        row = self.db.execute(
            "SELECT ended_at FROM checkin_prompts WHERE event_id = ? AND end_event_id IS NOT NULL",
            [poll_id],
        ).fetchone()
        return float(row[0]) if row else None

    def prompt_rooms(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT DISTINCT room_id FROM checkin_prompts")}

    # --- answers and alerts ------------------------------------------------------------------

    def answers(self, round_id: int) -> list[Answer]:
        rows = self.db.execute(
            f"SELECT {_ANSWER} FROM checkin_answers WHERE round_id = ? ORDER BY user_id",
            [round_id],
        ).fetchall()
        return [Answer(*row) for row in rows]

    def answer(self, round_id: int, user_id: str, question_id: int) -> Answer | None:
        row = self.db.execute(
            f"SELECT {_ANSWER} FROM checkin_answers WHERE round_id = ? AND user_id = ?"
            " AND question_id = ?",
            [round_id, user_id, question_id],
        ).fetchone()
        return Answer(*row) if row else None

    def answered_questions(self, round_id: int, user_id: str) -> set[int]:
        """The questions of a round that a person has answered."""
        rows = self.db.execute(
            "SELECT question_id FROM checkin_answers WHERE round_id = ? AND user_id = ?",
            [round_id, user_id],
        ).fetchall()
        return {row[0] for row in rows}

    def answer_by_event(self, event_id: str) -> Answer | None:
        row = self.db.execute(
            f"SELECT {_ANSWER} FROM checkin_answers WHERE event_id = ?", [event_id]
        ).fetchone()
        return Answer(*row) if row else None

    def save_answer(self, answer: Answer) -> None:
        self.db.table("checkin_answers").upsert(
            answer.__dict__, pk=("round_id", "user_id", "question_id")
        )

    def has_alert(self, answer: Answer) -> bool:
        return bool(
            self.db.execute(
                "SELECT 1 FROM checkin_alerts WHERE round_id = ? AND user_id = ?"
                " AND question_id = ?",
                [answer.round_id, answer.user_id, answer.question_id],
            ).fetchone()
        )

    def add_alert(self, answer: Answer, reason: str, now: float) -> bool:
        """Note an alert about this answer; False when one was already raised for it."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO checkin_alerts (round_id, user_id, question_id, reason,"
            " sent_at) VALUES (?, ?, ?, ?, ?)",
            [answer.round_id, answer.user_id, answer.question_id, reason, now],
        )
        return bool(cursor.rowcount)

    def responses(self, network_id: int, since: float, until: float) -> tuple[int, int]:
        """(asked, answered): the people asked in the network's check-ins sent in the period,
        and how many of them answered."""
        row = self.db.execute(
            "SELECT COUNT(*), COUNT(a.user_id) FROM checkin_deliveries d"
            " JOIN checkin_rounds r ON r.id = d.round_id"
            " LEFT JOIN (SELECT DISTINCT round_id, user_id FROM checkin_answers) a"
            "   ON a.round_id = d.round_id AND a.user_id = d.user_id"
            " WHERE r.network_id = ? AND d.sent_at >= ? AND d.sent_at < ?",
            [network_id, since, until],
        ).fetchone()
        return int(row[0]), int(row[1])

    def history(self, network_id: int, rounds: int) -> list[tuple[int, str, str, int]]:
        """(round id, user, delivery state, answered on time?) of the network's last closed
        rounds, newest first."""
        return self.db.execute(
            "SELECT d.round_id, d.user_id, d.state, EXISTS (SELECT 1 FROM checkin_answers a"
            "   WHERE a.round_id = d.round_id AND a.user_id = d.user_id AND a.late = 0)"
            " FROM checkin_deliveries d WHERE d.round_id IN (SELECT id FROM checkin_rounds"
            "   WHERE network_id = ? AND kind != ? AND closed_at IS NOT NULL"
            "   ORDER BY closed_at DESC, id DESC LIMIT ?)"
            " ORDER BY d.round_id DESC",
            [network_id, MISSED, rounds],
        ).fetchall()

    # --- privacy -----------------------------------------------------------------------------

    def forget(self, user_id: str) -> None:
        with self.store.transaction() as db:
            for table in ("people", "deliveries", "prompts", "answers", "alerts"):
                db.table(f"checkin_{table}").delete_where("user_id = ?", [user_id])
            db.execute(
                "UPDATE checkin_rounds SET started_by = NULL WHERE started_by = ?", [user_id]
            )
