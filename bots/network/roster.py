"""Lists of people to onboard: Matrix IDs typed into a message, or a CSV of MOOC graduates
(matrix id, name, language, region, experience), with or without a header row, separated by
commas, semicolons (as spreadsheets in German write them) or tabs."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

USER_ID = re.compile(r"^@[^\s:@]+:[A-Za-z0-9.\-]+(:\d{1,5})?$")
MAX_PEOPLE = 1000
FIELDS = ("user_id", "display_name", "languages", "region", "experience")
HEADERS = {
    "user_id": {"matrix id", "matrix_id", "matrixid", "matrix-id", "mxid", "matrix", "user id",
                "user_id", "user", "id", "matrix-kennung", "matrix kennung"},
    "display_name": {"name", "display name", "display_name", "full name", "vollständiger name"},
    "languages": {"language", "languages", "lang", "sprache", "sprachen"},
    "region": {"region", "city", "country", "ort", "land", "stadt"},
    "experience": {"experience", "erfahrung", "level", "stufe"},
}  # fmt: skip
EXPERIENCED = {"experienced", "erfahren", "mentor-experienced", "expert", "senior", "yes", "ja"}


def is_user_id(value: str) -> bool:
    return bool(USER_ID.match(value))


@dataclass
class Candidate:
    user_id: str
    display_name: str | None = None
    languages: str | None = None
    region: str | None = None
    experience: str | None = None

    @property
    def experienced(self) -> bool:
        return (self.experience or "").strip().casefold() in EXPERIENCED


@dataclass
class Roster:
    people: list[Candidate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the rows that were not understood
    truncated: bool = False

    def add(self, candidate: Candidate) -> None:
        if any(p.user_id == candidate.user_id for p in self.people):
            return
        if len(self.people) >= MAX_PEOPLE:
            self.truncated = True
            return
        self.people.append(candidate)


def _cell(value: str | None) -> str | None:
    value = (value or "").strip()
    return value[:200] or None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _header(cells: list[str]) -> dict[str, int] | None:
    """Column positions, if `cells` is a header row."""
    positions = {}
    for index, cell in enumerate(cells):
        name = cell.strip().strip("\ufeff").casefold()
        for field_name, names in HEADERS.items():
            if name in names and field_name not in positions:
                positions[field_name] = index
    return positions if "user_id" in positions else None


def parse(text: str) -> Roster:
    """People from typed text or CSV content."""
    roster = Roster()
    text = text.lstrip("\ufeff").strip()
    if not text:
        return roster
    rows = [
        row for row in csv.reader(io.StringIO(text), _dialect(text)) if any(c.strip() for c in row)
    ]
    columns = {name: index for index, name in enumerate(FIELDS)}
    if rows and (header := _header(rows[0])) is not None:
        columns, rows = header, rows[1:]
    for row in rows:
        tokens = [token for cell in row for token in cell.replace(",", " ").split()]
        if tokens and all(is_user_id(token) for token in tokens):
            for token in tokens:  # a plain list of IDs, on one line or several
                roster.add(Candidate(token))
            continue
        values = {
            name: _cell(row[index]) if index < len(row) else None for name, index in columns.items()
        }
        user_id = values.pop("user_id") or ""
        if not is_user_id(user_id):
            roster.problems.append(", ".join(c.strip() for c in row if c.strip())[:120])
            continue
        roster.add(Candidate(user_id, **values))
    return roster
