"""Lists of people to onboard: Matrix IDs or e-mail addresses typed into a message, or a CSV
of MOOC graduates (matrix id or e-mail, name, language, region, experience; a header row may
also name a role column), separated by commas, semicolons (as spreadsheets in German write
them) or tabs."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from bots.network.mail import is_email
from bots.network.schema import DEFAULT_ROLE, ROLE_LEVELS, ROLES

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
    "email": {"email", "e-mail", "mail", "email address", "e-mail address", "e-mail-adresse",
              "mail address", "adresse e-mail", "courriel", "e-mailadres"},
    "role": {"role", "rolle", "rôle", "rol"},
}  # fmt: skip
EXPERIENCED = {"experienced", "erfahren", "mentor-experienced", "expert", "senior", "yes", "ja"}


def is_user_id(value: str) -> bool:
    return bool(USER_ID.match(value))


def looks_like_address(value: str) -> bool:
    """Meant as a Matrix ID or an e-mail address (well formed or not)."""
    return "@" in value


@dataclass
class Candidate:
    user_id: str  # "" when the person is invited by e-mail
    display_name: str | None = None
    languages: str | None = None
    region: str | None = None
    experience: str | None = None
    email: str | None = None
    role: str | None = None  # as written in the roster, checked by the caller

    @property
    def key(self) -> str:
        return self.user_id or (self.email or "").casefold()

    @property
    def experienced(self) -> bool:
        return (self.experience or "").strip().casefold() in EXPERIENCED


@dataclass
class Roster:
    people: list[Candidate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the rows that were not understood
    bad_addresses: list[str] = field(default_factory=list)  # malformed e-mail addresses
    truncated: bool = False

    def add(self, candidate: Candidate) -> None:
        if any(p.key == candidate.key for p in self.people):
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
    return positions if "user_id" in positions or "email" in positions else None


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
        if tokens and all(looks_like_address(token) for token in tokens):
            for token in tokens:  # a plain list of IDs and addresses, on one line or several
                _add(roster, token, {}, token)
            continue
        values = {
            name: _cell(row[index]) if index < len(row) else None for name, index in columns.items()
        }
        address = values.pop("user_id", None) or ""
        email = values.pop("email", None)
        if not address or (email and not is_user_id(address)):
            address = email or ""
        _add(roster, address, values, ", ".join(c.strip() for c in row if c.strip())[:120])
    return roster


def _add(roster: Roster, address: str, values: dict[str, str | None], row: str) -> None:
    """One person by Matrix ID or e-mail address; a malformed address is refused alone."""
    if is_user_id(address):
        roster.add(Candidate(address, **values))
    elif is_email(address):
        roster.add(Candidate("", email=address, **values))
    elif looks_like_address(address):
        roster.bad_addresses.append(address[:120])
    else:
        roster.problems.append(row)


def roster_role(person: Candidate, may_grant: bool) -> str | None:
    """The role a roster row asks for (else the default by experience); None when only a
    Meta-Mentor may give it and the asker is none."""
    asked = (person.role or "").strip().casefold()
    if asked not in ROLES:
        return "mentor-experienced" if person.experienced else DEFAULT_ROLE
    return asked if ROLE_LEVELS[asked] < 50 or may_grant else None
