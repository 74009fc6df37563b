"""`!checkin stats`: response rate per round and the mood trend over recent weeks, and who
is drifting (silent for rounds in a row, or a falling or low mood)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bots.checkin.questions import LOW_MOOD, MOOD
from bots.checkin.schema import SENT, CheckinStore, Round

NOT_ASKED, NO_ANSWER, NO_MOOD = 0, -1, 9  # cell values besides a mood of 1–5
SILENT_DRIFT = 2  # rounds in a row without an answer


@dataclass
class RoundStat:
    round: Round
    asked: int
    answered: int
    late: int
    mood: float | None  # average of the round's mood answers


@dataclass
class Stats:
    rounds: list[RoundStat]
    # member -> one cell per round: a mood 1–5, NO_MOOD (answered, but not the mood question),
    # NO_ANSWER (asked, silent) or NOT_ASKED (paused, skipped, not a member yet)
    cells: dict[str, list[int]] = field(default_factory=dict)
    drifting: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # user -> why

    @property
    def rate(self) -> float | None:
        asked = sum(r.asked for r in self.rounds)
        return 100 * sum(r.answered for r in self.rounds) / asked if asked else None


def collect(data: CheckinStore, network_id: int, since: float) -> Stats:
    """The rounds started since `since` and every member's answers in them."""
    rounds = data.rounds_since(network_id, since)
    stats = Stats([])
    for index, round_ in enumerate(rounds):
        mood_ids = {q.id for q in round_.question_list() if q.kind == MOOD}
        deliveries = data.deliveries(round_.id)
        answers = data.answers(round_.id)
        asked = {d.user_id for d in deliveries if d.state == SENT}
        answered = {a.user_id for a in answers if not a.late}
        late = {a.user_id for a in answers if a.late} - answered
        moods = {a.user_id: a.mood for a in answers if a.question_id in mood_ids and a.mood}
        average = sum(moods.values()) / len(moods) if moods else None
        stats.rounds.append(RoundStat(round_, len(asked), len(answered), len(late), average))
        for user in asked | set(moods):
            row = stats.cells.setdefault(user, [NOT_ASKED] * len(rounds))
            row[index] = moods.get(user) or (NO_MOOD if user in answered | late else NO_ANSWER)
    for user, row in stats.cells.items():
        reason = drift(row)
        if reason:
            stats.drifting[user] = reason
    return stats


def drift(cells: list[int]) -> tuple[str, int, int] | None:
    """Why a member's row needs attention: ("silent", rounds, 0), a falling mood
    ("mood", before, now), or a low mood with nothing to compare it with ("low", now, now)."""
    asked = [cell for cell in cells if cell != NOT_ASKED]
    silent = 0
    for cell in reversed(asked):
        if cell != NO_ANSWER:
            break
        silent += 1
    if silent >= SILENT_DRIFT:
        return ("silent", silent, 0)
    moods = [cell for cell in asked if 1 <= cell <= 5]
    if not moods:
        return None
    last, before = moods[-1], moods[:-1]
    falling = bool(before) and (last - max(before) <= -2 or (last <= LOW_MOOD < before[-1]))
    if falling:
        start = before[-1] if before[-1] > last else max(before)
        return ("mood", start, last)
    if last <= LOW_MOOD:
        return ("low", last, last)
    return None


def ordered_members(stats: Stats, limit: int) -> list[str]:
    """Drifting members first (silent longest, then lowest mood), then the rest."""

    def key(user: str) -> tuple[int, int, str]:
        reason = stats.drifting.get(user)
        if reason is None:
            return (2, 0, user)
        kind, first, second = reason
        return (0, -first, user) if kind == "silent" else (1, second, user)

    return sorted(stats.cells, key=key)[:limit]
