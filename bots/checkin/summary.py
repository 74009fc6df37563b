"""What coordinators read: a round's facts, the summary posted when it closes, the status of
the current round, and the alert about a low mood or a call for help."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from babel.lists import format_list

from bots.checkin.formats import day_text, delay_text, local_day, moment_text, percent
from bots.checkin.questions import MOOD, SCALE, Question
from bots.checkin.schema import FAILED, PAUSED, PENDING, SENT, SKIPPED, Answer, Delivery, Round
from bots.network.common import count_list
from core.people import Names
from core.text import Text, shorten

MAX_NAMES = 100  # people named in one list
MAX_ANSWER_LINES = 40  # members whose answers a summary quotes (the export has them all)
QUOTE_LENGTH = 300

Translate = Callable[..., Text]


@dataclass
class RoundFacts:
    """A round with its deliveries and answers."""

    round: Round
    questions: list[Question]
    deliveries: list[Delivery]
    answers: list[Answer]

    def users(self, state: str) -> list[str]:
        return [d.user_id for d in self.deliveries if d.state == state]

    @property
    def asked(self) -> list[str]:
        return self.users(SENT)

    @property
    def on_time(self) -> set[str]:
        return {a.user_id for a in self.answers if not a.late}

    @property
    def late_only(self) -> set[str]:
        return {a.user_id for a in self.answers} - self.on_time

    def unanswered(self) -> list[str]:
        answered = {a.user_id for a in self.answers}
        return [user for user in self.asked if user not in answered]

    def moods(self, question_id: int) -> list[int]:
        return [a.mood for a in self.answers if a.question_id == question_id and a.mood]

    def of(self, user_id: str) -> dict[int, Answer]:
        return {a.question_id: a for a in self.answers if a.user_id == user_id}


def silent_streaks(history: list[tuple[int, str, str, int]]) -> dict[str, int]:
    """Rounds in a row, newest first, in which each member was asked and did not answer on
    time; a skip or an answer ends the streak, a holiday neither counts nor ends it."""
    by_user: dict[str, list[tuple[int, str, int]]] = {}
    for round_id, user, state, answered in history:
        by_user.setdefault(user, []).append((round_id, state, answered))
    streaks = {}
    for user, rows in by_user.items():
        count = 0
        for _, state, answered in sorted(rows, reverse=True):
            if state in (PAUSED, PENDING):
                continue
            if state != SENT or answered:
                break
            count += 1
        streaks[user] = count
    return streaks


def round_day(round_: Round, zone: Any, language: str) -> str:
    return day_text(local_day(round_.started_at or round_.due_at, zone), language)


def mood_line(
    t: Translate, facts: RoundFacts, question: Question, label: str, language: str
) -> Text:
    """The average mood and how many chose each value, the values nobody chose left out."""
    moods = facts.moods(question.id)
    counts = Counter(moods)
    chosen = [
        t("checkin.summary.mood_count", count=counts[n], mood=n).body for n in SCALE if counts[n]
    ]
    average = f"{sum(moods) / max(len(moods), 1):.1f}"  # asked only where there are moods
    return t(
        "checkin.summary.mood",
        question=label,
        distribution=format_list(chosen, style="standard", locale=language),
        average=average,
    )


def rate_line(t: Translate, facts: RoundFacts, language: str) -> Text:
    """How many of those asked answered on time, then the skips, holidays and late answers
    that there were ("1 skipped and 1 answered late"), none of them when all are zero."""
    asked = len(facts.asked)
    counts = {
        "skipped": len(facts.users(SKIPPED)),
        "paused": len(facts.users(PAUSED)),
        "late": len(facts.late_only),
    }
    others = count_list(t, language, "checkin.summary.count", counts)
    key = "checkin.summary.rate" if asked else "checkin.summary.rate_nobody"
    return t(
        f"{key}_others" if others else key,
        answered=len(facts.on_time),
        asked=asked,
        percent=percent(len(facts.on_time), asked),
        counts=others,
    )


def answer_line(
    t: Translate, user: Text, answers: dict[int, Answer], labels: dict[int, str]
) -> Text:
    parts = []
    for question_id, label in labels.items():
        answer = answers.get(question_id)
        if answer is None:
            continue
        value = (
            str(answer.mood)
            if answer.mood is not None
            else f"“{shorten(answer.text or '', QUOTE_LENGTH)}”"
        )
        flags = (" " + t("checkin.summary.late_flag").body) if answer.late else ""
        parts.append(f"{label}: {value}{flags}")
    return t("checkin.summary.answer_line", user=user, answers=" · ".join(parts))


def summary(
    t: Translate,
    names: Names,
    facts: RoundFacts,
    network: str,
    labels: dict[int, str],
    silent: dict[str, int],
    threshold: int,
    zone: Any,
    language: str,
) -> Text:
    """The message posted to the coordination room when a round closes."""
    round_ = facts.round
    lines = [t("checkin.summary.title", network=network, date=round_day(round_, zone, language))]
    if round_.late_seconds:
        lines.append(
            t(
                "checkin.summary.late",
                due=moment_text(round_.due_at, zone, language),
                delay=delay_text(round_.late_seconds, language),
            )
        )
    if round_.missed:
        lines.append(t("checkin.summary.missed", count=round_.missed))
    if not facts.deliveries:
        lines.append(t("checkin.summary.nobody"))
        return Text.join(lines, "\n\n")
    lines.append(rate_line(t, facts, language))
    for question in facts.questions:
        if question.kind == MOOD and facts.moods(question.id):
            lines.append(mood_line(t, facts, question, labels[question.id], language))
    lines += _answer_lines(t, names, facts, labels)
    lists = [
        ("checkin.summary.unanswered", facts.unanswered()),
        ("checkin.summary.paused", facts.users(PAUSED)),
        ("checkin.summary.failed", facts.users(FAILED)),
    ]
    for key, users in lists:
        if users:
            lines.append(t(key, users=names.many(users, MAX_NAMES)))
    drifting = [
        Text.join([names.one(user), Text.plain(f"({count})")], " ")
        for user, count in sorted(silent.items(), key=lambda pair: names.name(pair[0]).casefold())
        if count >= threshold
    ]
    if drifting:
        listed = Text.join(drifting[:MAX_NAMES], ", ")
        lines.append(t("checkin.summary.silent", rounds=threshold, users=listed))
    return Text.join(lines, "\n\n")


def _answer_lines(
    t: Translate, names: Names, facts: RoundFacts, labels: dict[int, str]
) -> list[Text]:
    people = sorted({a.user_id for a in facts.answers}, key=lambda u: _concern(facts, u))
    if not people:
        return []
    shown = [
        answer_line(t, names.one(user), facts.of(user), labels)
        for user in people[:MAX_ANSWER_LINES]
    ]
    block = [t("checkin.summary.answers"), Text.bullets(shown)]
    if len(people) > MAX_ANSWER_LINES:
        block.append(t("checkin.summary.more", count=len(people) - MAX_ANSWER_LINES))
    return [Text.join(block)]


def _concern(facts: RoundFacts, user: str) -> tuple[int, str]:
    """Lowest mood first, so the people who need attention head the list."""
    moods = [a.mood for a in facts.of(user).values() if a.mood]
    return (min(moods) if moods else 9, user)


def status(
    t: Translate,
    names: Names,
    facts: RoundFacts,
    network: str,
    closes_at: float,
    zone: Any,
    language: str,
) -> Text:
    """The current (or last) round: who answered, who has not, who is away."""
    round_ = facts.round
    day = round_day(round_, zone, language)
    if round_.closed_at:
        head = t(
            "checkin.status.closed",
            network=network,
            date=day,
            closed=moment_text(round_.closed_at, zone, language),
        )
    else:
        head = t(
            "checkin.status.open",
            network=network,
            date=day,
            closes=moment_text(closes_at, zone, language),
        )
    groups = [
        ("checkin.status.answered", sorted(facts.on_time)),
        ("checkin.status.late", sorted(facts.late_only)),
        ("checkin.status.waiting", facts.unanswered()),
        ("checkin.status.pending", facts.users(PENDING)),
        ("checkin.status.skipped", facts.users(SKIPPED)),
        ("checkin.status.paused", facts.users(PAUSED)),
        ("checkin.status.failed", facts.users(FAILED)),
    ]
    items = [
        t(key, count=len(users), users=names.many(users, MAX_NAMES))
        for key, users in groups
        if users
    ]
    return Text.join([head, Text.bullets(items)]) if items else head


def alert(
    t: Translate,
    names: Names,
    network: str,
    user: str,
    answer: Answer,
    reason: str,
    question: str,
    meta_mentors: list[str],
) -> Text:
    """What the coordination room reads when someone needs attention now."""
    if reason == "mood":
        text = t(
            "checkin.alert.mood",
            user=names.one(user),
            network=network,
            mood=answer.mood,
            question=shorten(question, 80),
        )
    else:
        text = t(
            "checkin.alert.help",
            user=names.one(user),
            network=network,
            answer=shorten(answer.text or "", 1000),
            question=shorten(question, 80),
        )
    if not meta_mentors:
        return text
    return Text.join([text, Text.join([names.one(m) for m in meta_mentors], " ")], " ")
