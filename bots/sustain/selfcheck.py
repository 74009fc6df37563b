"""`!selfcheck`: a coordinator evaluates the mentoring programme against minimum quality
criteria, one question at a time in a direct chat (a score from 1 to 5, a comment if they
like; the questions are in `config/selfcheck.yaml`). Every run is kept; `!selfcheck report`
compares the runs area by area and shows where the programme improved."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from babel.numbers import format_decimal

from bots.network.common import iso, sent_there
from bots.network.schema import NetworkRow
from bots.sustain.common import NETWORK, SustainBot, day
from core.account import Incoming
from core.commands import Role, command
from core.config import LANGUAGES
from core.context import Context
from core.messaging import direct_chat, notice
from core.paths import CONFIG_DIR
from core.storage import Migrations
from core.text import Text

migrations = Migrations("sustain-selfcheck")
QUESTIONS_FILE = CONFIG_DIR / "selfcheck.yaml"
STOP = {"stop", "stopp", "cancel", "abbrechen"}
SKIP = {"skip", "-", "–", "pass", "überspringen", "weiter"}
ANSWER = re.compile(r"^\s*([1-5])(?!\d)(?:\s*/\s*5)?\s*[-–—:,.;)]?\s*(.*)$", re.DOTALL)
REPORT_RUNS = 4
MAX_COMMENT = 1_000


@migrations.step
def _runs(db: Any) -> None:
    db.execute(
        "CREATE TABLE selfcheck_runs (id INTEGER PRIMARY KEY, network_id INTEGER NOT NULL"
        " REFERENCES networks(id) ON DELETE CASCADE, user_id TEXT, room_id TEXT,"
        " language TEXT NOT NULL, questions TEXT NOT NULL, position INTEGER NOT NULL DEFAULT 0,"
        " started_at REAL NOT NULL, finished_at REAL)"
    )
    db.execute(
        "CREATE TABLE selfcheck_answers (run_id INTEGER NOT NULL REFERENCES selfcheck_runs(id)"
        " ON DELETE CASCADE, question_id TEXT NOT NULL, area TEXT NOT NULL, score INTEGER,"
        " comment TEXT, answered_at REAL NOT NULL, PRIMARY KEY (run_id, question_id))"
    )


# --- the questions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    id: str
    area: str
    text: dict[str, str]


@dataclass(frozen=True)
class QuestionSet:
    version: int
    areas: dict[str, dict[str, str]]  # area id -> language -> name
    questions: tuple[Question, ...]

    def get(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


def parse_questions(data: Any) -> QuestionSet:
    """Validate the YAML: every area and question in every language, ids unique."""
    if not isinstance(data, dict) or not data.get("questions") or not data.get("areas"):
        raise ValueError("selfcheck: needs `areas` and `questions`")
    areas = data["areas"]
    for area, names in areas.items():
        missing = [lang for lang in LANGUAGES if not (names or {}).get(lang)]
        if missing:
            raise ValueError(f"selfcheck: area {area!r} lacks {', '.join(missing)}")
    questions, seen = [], set()
    for entry in data["questions"]:
        qid, area = entry.get("id"), entry.get("area")
        if not qid or qid in seen:
            raise ValueError(f"selfcheck: question id {qid!r} is missing or used twice")
        if area not in areas:
            raise ValueError(f"selfcheck: question {qid!r} has an unknown area {area!r}")
        missing = [lang for lang in LANGUAGES if not entry.get(lang)]
        if missing:
            raise ValueError(f"selfcheck: question {qid!r} lacks {', '.join(missing)}")
        seen.add(qid)
        questions.append(Question(qid, area, {lang: entry[lang] for lang in LANGUAGES}))
    return QuestionSet(int(data.get("version", 1)), areas, tuple(questions))


@lru_cache(maxsize=4)
def load_questions(path: Path = QUESTIONS_FILE) -> QuestionSet:
    return parse_questions(yaml.safe_load(path.read_text(encoding="utf-8")))


# --- runs ----------------------------------------------------------------------------------


@dataclass
class Run:
    id: int
    network_id: int
    user_id: str | None
    room_id: str | None
    language: str
    questions: list[str]
    position: int
    started_at: float
    finished_at: float | None


_RUN_COLUMNS = (
    "id, network_id, user_id, room_id, language, questions, position, started_at, finished_at"
)


def _run(row: tuple[Any, ...] | None) -> Run | None:
    if row is None:
        return None
    values = list(row)
    values[5] = json.loads(values[5])
    return Run(*values)


def area_scores(db: Any, run_id: int) -> dict[str, float]:
    """The average score per area of one run (skipped questions left out)."""
    rows = db.execute(
        "SELECT area, AVG(score) FROM selfcheck_answers WHERE run_id = ? AND score IS NOT NULL"
        " GROUP BY area",
        [run_id],
    ).fetchall()
    return {area: float(average) for area, average in rows}


def finished_runs(db: Any, network_id: int) -> list[Run]:
    rows = db.execute(
        f"SELECT {_RUN_COLUMNS} FROM selfcheck_runs WHERE network_id = ?"
        " AND finished_at IS NOT NULL ORDER BY finished_at",
        [network_id],
    ).fetchall()
    return [run for row in rows if (run := _run(row)) is not None]


def overall(scores: dict[str, float]) -> float | None:
    return sum(scores.values()) / len(scores) if scores else None


class SelfCheck(SustainBot):
    name = "selfcheck"
    featured = ("selfcheck", "selfcheck report")
    migrations = migrations

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self._open: dict[str, tuple[int, str]] = {}  # direct chat -> (open run, its person)

    async def start(self) -> None:
        self._reload()

    def _reload(self) -> None:
        rows = self.db.execute(
            "SELECT room_id, id, user_id FROM selfcheck_runs"
            " WHERE finished_at IS NULL AND room_id IS NOT NULL AND user_id IS NOT NULL"
        ).fetchall()
        self._open = {room: (run_id, user) for room, run_id, user in rows}

    def _get(self, run_id: int) -> Run | None:
        row = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM selfcheck_runs WHERE id = ?", [run_id]
        ).fetchone()
        return _run(row)

    # --- starting --------------------------------------------------------------------------

    @command(
        "selfcheck",
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="sustain.selfcheck.help",
    )
    async def selfcheck(self, ctx: Context, net: NetworkRow) -> None:
        row = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM selfcheck_runs WHERE user_id = ? AND finished_at IS NULL",
            [ctx.sender],
        ).fetchone()
        run = _run(row)
        if run is not None and run.network_id != net.id:
            other = self.data.get(run.network_id)
            await ctx.reply("sustain.selfcheck.other_open", network=other.name if other else "?")
            return
        chat = await direct_chat(self.account, ctx.sender, ctx.language)
        room_id = chat.room_id
        if run is None:
            run = self._begin(net, ctx.sender, room_id, ctx.language)
            intro = self.t(
                run.language,
                "sustain.selfcheck.intro",
                network=net.name,
                count=len(run.questions),
            )
            await notice(self.account, room_id, intro, txn=f"selfcheck/{run.id}/intro")
        await self._ask(run, txn=f"{ctx.event_id}/question")
        if ctx.room_id != room_id:
            await ctx.reply(sent_there(ctx, chat, "sustain.selfcheck.started", network=net.name))

    def _begin(self, net: NetworkRow, user_id: str, room_id: str, language: str) -> Run:
        questions = [q.id for q in load_questions().questions]
        begun = {
            "network_id": net.id,
            "user_id": user_id,
            "room_id": room_id,
            "language": language,
            "questions": json.dumps(questions),
            "started_at": self.now(),
        }
        run_id = int(self.db.table("selfcheck_runs").insert(begun).last_pk)
        self._open[room_id] = (run_id, user_id)
        run = self._get(run_id)
        assert run is not None
        return run

    async def _ask(self, run: Run, *, txn: str) -> None:
        """Send the run's current question."""
        questions = load_questions()
        question = questions.get(run.questions[run.position])
        if question is None or run.room_id is None:
            return
        area = questions.areas[question.area]
        text = self.t(
            run.language,
            "sustain.selfcheck.question",
            number=run.position + 1,
            count=len(run.questions),
            area=area.get(run.language) or area["en"],
            question=question.text.get(run.language) or question.text["en"],
        )
        await notice(self.account, run.room_id, text, txn=txn)

    # --- answers -----------------------------------------------------------------------------

    def wants(self, incoming: Incoming) -> bool:
        found = self._open.get(incoming.room_id)
        return (
            found is not None
            and found[1] == incoming.sender
            and incoming.event.get("type") == "m.room.message"
            and incoming.content.get("msgtype") == "m.text"
        )

    async def on_event(self, ctx: Context) -> None:
        found = self._open.get(ctx.room_id)
        run = self._get(found[0]) if found else None
        if run is None or run.finished_at is not None:
            return
        body = str(ctx.incoming.content.get("body") or "").strip()
        ctx.language = run.language
        if body.casefold() in STOP:
            self.db.table("selfcheck_runs").delete_where("id = ?", [run.id])
            self._open.pop(ctx.room_id, None)
            await ctx.reply("sustain.selfcheck.stopped", prefix=self.prefix)
            return
        match = ANSWER.match(body)
        if body.casefold() not in SKIP and match is None:
            await ctx.reply("sustain.selfcheck.how")
            return
        score = int(match[1]) if match else None
        comment = (match[2].strip()[:MAX_COMMENT] or None) if match else None
        self._record(run, score, comment)
        run.position += 1
        if run.position < len(run.questions):
            await self._ask(run, txn=f"{ctx.event_id}/next")
        else:
            await self._finish(ctx, run)

    def _record(self, run: Run, score: int | None, comment: str | None) -> None:
        question = load_questions().get(run.questions[run.position])
        area = question.area if question else "?"
        with self.app.store.transaction() as db:
            answer = {
                "run_id": run.id,
                "question_id": run.questions[run.position],
                "area": area,
                "score": score,
                "comment": comment,
                "answered_at": self.now(),
            }
            db.table("selfcheck_answers").upsert(answer, pk=("run_id", "question_id"))
            db.table("selfcheck_runs").update(run.id, {"position": run.position + 1})

    async def _finish(self, ctx: Context, run: Run) -> None:
        self.db.table("selfcheck_runs").update(run.id, {"finished_at": self.now()})
        self._open.pop(ctx.room_id, None)
        net = self.data.get(run.network_id)
        runs = finished_runs(self.db, run.network_id)
        text = self.compare(run.language, runs[-2:])
        title = ctx.t(
            "sustain.selfcheck.done", network=net.name if net else "?", prefix=self.prefix
        )
        await ctx.reply(Text.join([title, text]))

    # --- comparing runs ------------------------------------------------------------------------

    @command(
        "selfcheck report",
        options=[NETWORK],
        role=Role.coordinator,
        network=True,
        help="sustain.selfcheck.report.help",
    )
    async def report(self, ctx: Context, net: NetworkRow) -> None:
        runs = finished_runs(self.db, net.id)
        if not runs:
            await ctx.reply("sustain.selfcheck.report.none", network=net.name, prefix=self.prefix)
            return
        title = ctx.t("sustain.selfcheck.report.title", network=net.name, runs=len(runs))
        await ctx.reply(Text.join([title, self.compare(ctx.language, runs[-REPORT_RUNS:])]))

    def compare(self, language: str, runs: list[Run]) -> Text:
        """Average per area for each run (oldest first), and how the last run differs from
        the one before."""
        questions = load_questions()
        scores = [area_scores(self.db, run.id) for run in runs]
        dates = " · ".join(day(run.finished_at or 0, language) for run in runs)
        lines = []
        for area, area_names in questions.areas.items():
            if all(area not in s for s in scores):
                continue  # never answered: nothing to show
            values = " · ".join(self._score(language, s.get(area)) for s in scores)
            lines.append(
                self.t(
                    language,
                    "sustain.selfcheck.area",
                    area=area_names.get(language) or area_names["en"],
                    values=values,
                    change=self._change(language, scores, area),
                )
            )
        totals = " · ".join(self._score(language, overall(s)) for s in scores)
        parts = [
            self.t(language, "sustain.selfcheck.runs", dates=dates),
            Text.bullets(lines),
            self.t(language, "sustain.selfcheck.overall", values=totals),
        ]
        if len(scores) >= 2:
            parts.append(self._verdict(language, questions, scores[-2], scores[-1], runs[-2]))
        return Text.join(parts)

    def _change(self, language: str, scores: list[dict[str, float]], area: str) -> Text:
        if len(scores) < 2 or area not in scores[-1] or area not in scores[-2]:
            return Text.plain("")
        delta = scores[-1][area] - scores[-2][area]
        if abs(delta) < 0.05:
            return self.t(language, "sustain.selfcheck.same")
        key = "sustain.selfcheck.up" if delta > 0 else "sustain.selfcheck.down"
        return self.t(language, key, delta=_tenths(abs(delta), language))

    def _score(self, language: str, value: float | None) -> str:
        """An average as people write it in their language; in words where there is none."""
        if value is None:
            return self.t(language, "sustain.selfcheck.unanswered").body
        return _tenths(value, language)

    def _verdict(
        self,
        language: str,
        questions: QuestionSet,
        before: dict[str, float],
        after: dict[str, float],
        previous: Run,
    ) -> Text:
        def named(areas: list[str]) -> str:
            return ", ".join(
                questions.areas[a].get(language) or questions.areas[a]["en"] for a in areas
            )

        common = [a for a in questions.areas if a in before and a in after]
        better = [a for a in common if after[a] - before[a] >= 0.05]
        worse = [a for a in common if before[a] - after[a] >= 0.05]
        parts = [
            self.t(
                language, "sustain.selfcheck.verdict", date=day(previous.finished_at or 0, language)
            )
        ]
        if better:
            parts.append(self.t(language, "sustain.selfcheck.verdict.better", better=named(better)))
        if worse:
            parts.append(self.t(language, "sustain.selfcheck.verdict.worse", worse=named(worse)))
        if not better and not worse:
            parts.append(self.t(language, "sustain.selfcheck.verdict.same"))
        return Text.join(parts, " ")

    # --- personal data -----------------------------------------------------------------------

    def personal_data(self, user_id: str) -> dict[str, Any]:
        rows = self.db.execute(
            "SELECT n.name, r.id, r.started_at, r.finished_at FROM selfcheck_runs r"
            " JOIN networks n ON n.id = r.network_id WHERE r.user_id = ? ORDER BY r.started_at",
            [user_id],
        ).fetchall()
        runs = []
        for net, run_id, started, finished in rows:
            comments = [
                f"{qid}: {comment}"
                for qid, comment in self.db.execute(
                    "SELECT question_id, comment FROM selfcheck_answers WHERE run_id = ?"
                    " AND comment IS NOT NULL",
                    [run_id],
                )
            ]
            runs.append(
                {
                    "network": net,
                    "started": iso(started),
                    "ended": iso(finished),
                    "comments": comments,
                }
            )
        return {"selfcheck_runs": runs} if runs else {}

    async def forget_person(self, user_id: str) -> None:
        """Unfinished runs go; finished ones stay as the programme's, without name or comments."""
        with self.app.store.transaction() as db:
            db.execute(
                "DELETE FROM selfcheck_runs WHERE user_id = ? AND finished_at IS NULL", [user_id]
            )
            db.execute(
                "UPDATE selfcheck_answers SET comment = NULL WHERE run_id IN"
                " (SELECT id FROM selfcheck_runs WHERE user_id = ?)",
                [user_id],
            )
            db.execute(
                "UPDATE selfcheck_runs SET user_id = NULL, room_id = NULL WHERE user_id = ?",
                [user_id],
            )
        self._reload()


def _tenths(value: float, language: str) -> str:
    """A number with one decimal, in the reader's language (3.5, 3,5)."""
    return format_decimal(value, format="0.0", locale=language)
