"""Every answer of a network (or of all) as CSV, for `!checkin export` and
`python main.py checkins export FILE`."""

from __future__ import annotations

import csv
import io

from bots.checkin.schema import CheckinStore, Round
from bots.network.common import iso
from bots.network.schema import NetworkStore
from core.i18n import Catalog

COLUMNS = (
    "network",
    "round",
    "round_kind",
    "round_date",
    "started_at",
    "closed_at",
    "user_id",
    "question_no",
    "question",
    "question_kind",
    "mood",
    "answer",
    "source",
    "answered_at",
    "edited_at",
    "edits",
    "late",
)


def export_csv(
    data: CheckinStore, networks: NetworkStore, catalog: Catalog, network_id: int | None = None
) -> tuple[bytes, int]:
    """The CSV (UTF-8 with BOM, so spreadsheets read umlauts) and its number of answers."""
    where, params = ("WHERE r.network_id = ?", [network_id]) if network_id else ("", [])
    rows = data.db.execute(
        "SELECT a.round_id, a.user_id, a.question_id, a.mood, a.text, a.source, a.answered_at,"
        f" a.edited_at, a.edits, a.late FROM checkin_answers a JOIN checkin_rounds r"
        f" ON r.id = a.round_id {where} ORDER BY r.started_at, a.round_id, a.user_id",
        params,
    ).fetchall()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    rounds: dict[int, Round | None] = {}
    names: dict[int, tuple[str, str]] = {}
    for round_id, user, question_id, mood, text, source, answered, edited, edits, late in rows:
        if round_id not in rounds:
            rounds[round_id] = data.round(round_id)
        round_ = rounds[round_id]
        if round_ is None:
            continue
        if round_.network_id not in names:
            network = networks.get(round_.network_id)
            names[round_.network_id] = (network.name, network.language) if network else ("?", "en")
        name, language = names[round_.network_id]
        questions = round_.question_list()
        number = next((i for i, q in enumerate(questions, 1) if q.id == question_id), 0)
        question = questions[number - 1] if number else None
        writer.writerow(
            [
                name,
                round_id,
                round_.kind,
                _round_date(round_),
                iso(round_.started_at),
                iso(round_.closed_at),
                user,
                number,
                question.text(catalog, language, language) if question else "",
                question.kind if question else "",
                mood if mood is not None else "",
                text or "",
                source,
                iso(answered),
                iso(edited),
                edits,
                "yes" if late else "no",
            ]
        )
    return buffer.getvalue().encode("utf-8-sig"), len(rows)


def _round_date(round_: Round) -> str:
    if ":" not in round_.slot:
        return round_.slot
    return (iso(round_.started_at) or "")[:10]
