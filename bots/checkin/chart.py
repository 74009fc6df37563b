"""The `!checkin stats` chart as a PNG (matplotlib, Agg, no pyplot state): response rate
per round with the average mood above, and below it one row per member, coloured by mood,
so that who is drifting stands out. Run it in a worker thread: drawing takes ~0.2 s."""

from __future__ import annotations

import io
from dataclasses import dataclass

from bots.checkin.stats import NO_ANSWER, NO_MOOD, NOT_ASKED, Stats, ordered_members

MAX_ROWS = 30  # members drawn; drifting ones first
DPI = 100


@dataclass(frozen=True)
class Labels:
    """The chart's words in the reader's language."""

    title: str
    rate: str
    mood: str
    members: str
    no_answer: str
    rounds: list[str]


def render(stats: Stats, labels: Labels) -> tuple[bytes, int, int]:
    """PNG bytes, width and height in pixels."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    members = ordered_members(stats, MAX_ROWS)
    width = max(7.0, 2.5 + 0.6 * len(stats.rounds))
    height = 3.2 + (0.28 * len(members) + 0.8 if members else 0)
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    ratios = [3.0, max(1.0, 0.28 * len(members))] if members else [1.0]
    axes = figure.subplots(len(ratios), 1, height_ratios=ratios, squeeze=False)[:, 0]
    figure.suptitle(labels.title, fontsize=12)
    _trend(axes[0], stats, labels)
    if members:
        colours = ListedColormap(["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"])
        _rows(axes[1], stats, members, labels, colours)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue(), round(width * DPI), round(height * DPI)


def _trend(axis, stats: Stats, labels: Labels) -> None:  # type: ignore[no-untyped-def]
    positions = list(range(len(stats.rounds)))
    rates = [100 * r.answered / r.asked if r.asked else 0 for r in stats.rounds]
    axis.bar(positions, rates, color="#9ecae1", label=labels.rate)
    axis.set_ylim(0, 100)
    axis.set_ylabel(labels.rate)
    axis.set_xticks(positions, labels.rounds, rotation=30, ha="right", fontsize=8)
    mood_axis = axis.twinx()
    points = [(i, r.mood) for i, r in enumerate(stats.rounds) if r.mood is not None]
    if points:
        xs, ys = zip(*points, strict=True)
        mood_axis.plot(xs, ys, color="#08519c", marker="o", label=labels.mood)
    mood_axis.set_ylim(0.5, 5.5)
    mood_axis.set_yticks([1, 2, 3, 4, 5])
    mood_axis.set_ylabel(labels.mood)


def _rows(axis, stats: Stats, members: list[str], labels: Labels, colours) -> None:  # type: ignore[no-untyped-def]
    count = len(stats.rounds)
    for row, user in enumerate(members):
        for column, cell in enumerate(stats.cells[user]):
            if cell == NOT_ASKED:
                continue
            if cell in (NO_ANSWER, NO_MOOD):
                colour = "#bdbdbd" if cell == NO_ANSWER else "#deebf7"
                axis.add_patch(_box(column, row, colour))
                if cell == NO_ANSWER:
                    axis.text(column, row, "–", ha="center", va="center", fontsize=8)
                continue
            axis.add_patch(_box(column, row, colours(cell - 1)))
            axis.text(column, row, str(cell), ha="center", va="center", fontsize=8)
    axis.set_xlim(-0.5, count - 0.5)
    axis.set_ylim(len(members) - 0.5, -0.5)
    axis.set_yticks(range(len(members)), [_short(u) for u in members], fontsize=8)
    axis.set_xticks(range(count), labels.rounds, rotation=30, ha="right", fontsize=8)
    axis.set_title(f"{labels.members} (– = {labels.no_answer})", fontsize=10)


def _box(x: int, y: int, colour: object):  # type: ignore[no-untyped-def]
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.45, y - 0.45), 0.9, 0.9, color=colour)


def _short(user_id: str) -> str:
    name = user_id.split(":", 1)[0]
    return name if len(name) <= 24 else name[:23] + "…"
