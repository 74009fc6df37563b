"""Import and export of organisation records as HSDS JSON and CSV.

JSON: a list of HSDS organisation objects, or `{"organizations": [...]}` (what we export),
UTF-8. Fields mentornet does not keep are ignored with a warning.

CSV: one header row, then rows with the columns below (any order, case-insensitive; `url`
is read as `website`, `fees_description` as `fees`). Delimiter `,`, `;` or tab, detected from
the header (an Excel `sep=;` first line is honoured); UTF-8 with or without BOM, else read as
Windows-1252 with a warning; any line ends. Several rows with the same `id` (or, without
one, the same website, or name and city) are one organisation: the organisation's fields
may be given once or repeated identically, and each row may add one location, one phone,
one service and one contact. List cells (`languages`, `service_languages`, `target_groups`)
are separated by `;`. Latitude and longitude may use a decimal comma. A cell starting with
`= + - @` is written with a leading `'` so spreadsheets do not run it as a formula; import
removes that `'` again.

Import is all-or-nothing: `import_records` (in a worker thread: `read_import`) parses and
validates everything and reports every bad row (CSV: physical line; JSON: record number and
line) with its field; `save_import` writes only a report without errors, in one transaction,
and re-importing the same file changes nothing. Export includes contacts: it is this
instance's own data.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from directory.hsds import (
    Organization,
    RecordError,
    dedupe_key,
    ignored_fields,
    normalise_url,
    stable_id,
    to_dict,
    validate,
)
from directory.store import Directory, SaveCounts, local_record

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROW_CHARS = 100_000

ORG_COLUMNS = {
    "id": "id",
    "name": "name",
    "alternate_name": "alternate_name",
    "description": "description",
    "email": "email",
    "website": "website",
    "legal_status": "legal_status",
    "year_incorporated": "year_incorporated",
    "languages": "languages",
}
# Per nested list: CSV column → HSDS field.
NESTED_COLUMNS: dict[str, dict[str, str]] = {
    "locations": {
        "location_id": "id",
        "address_1": "address_1",
        "city": "city",
        "postal_code": "postal_code",
        "country": "country",
        "latitude": "latitude",
        "longitude": "longitude",
    },
    "phones": {"phone": "number", "phone_description": "description"},
    "services": {
        "service_id": "id",
        "service_name": "name",
        "service_description": "description",
        "eligibility_description": "eligibility_description",
        "target_groups": "target_groups",
        "service_languages": "languages",
        "fees": "fees_description",
    },
    "contacts": {"contact_name": "name", "contact_title": "title", "contact_email": "email"},
}
CSV_COLUMNS = [*ORG_COLUMNS, *(column for cols in NESTED_COLUMNS.values() for column in cols)]
COLUMN_ALIASES = {"url": "website", "fees_description": "fees", "service_fees": "fees"}
LIST_FIELDS = {"languages", "target_groups"}
_FORMULA = re.compile(r"'*[=+\-@\t\r]")


@dataclass(frozen=True)
class ImportProblem:
    """A bad row or field: `line` in the file, `record` (JSON: 1-based), and the field."""

    line: int | None
    record: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line else []
        where += [f"record {self.record}"] if self.record else []
        place = ", ".join(where)
        text = f"{self.field}: {self.message}" if self.field else self.message
        return f"{place}: {text}" if place else text


@dataclass
class ImportReport:
    format: str
    organizations: list[Organization] = field(default_factory=list)
    errors: list[ImportProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    prepared: list[tuple[str, str]] | None = None  # `local_record`s, from `read_import`

    @property
    def ok(self) -> bool:
        return not self.errors


class ImportRefused(ValueError):
    """`save_import` was given a report with errors."""


def import_records(data: bytes, filename: str) -> ImportReport:
    """Parse and validate a JSON or CSV file; nothing is stored (see `save_import`)."""
    fmt = _detect_format(data, filename)
    if len(data) > MAX_FILE_BYTES:
        size = f"{len(data) / 1024 / 1024:.1f} MB"
        problem = ImportProblem(None, None, "", f"file is {size}; at most 20 MB can be imported")
        return ImportReport(fmt, errors=[problem])
    return _import_json(data) if fmt == "json" else _import_csv(data)


async def read_import(data: bytes, filename: str) -> ImportReport:
    """`import_records` in a worker thread, with the records prepared for storing: parsing
    and validating 20 MB takes seconds, during which the event loop (every bot) runs on."""
    return await asyncio.to_thread(_read_and_prepare, data, filename)


def _read_and_prepare(data: bytes, filename: str) -> ImportReport:
    report = import_records(data, filename)
    if report.ok:
        report.prepared = [local_record(org) for org in report.organizations]
    return report


def save_import(directory: Directory, report: ImportReport) -> SaveCounts:
    """Store the organisations of a report without errors, all in one transaction."""
    if not report.ok:
        raise ImportRefused(f"{len(report.errors)} problems; nothing was imported")
    return directory.save_local_many(report.organizations, report.prepared)


def _detect_format(data: bytes, filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix in ("json", "csv"):
        return suffix
    if suffix in ("tsv", "txt"):
        return "csv"
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "json" if start in (b"[", b"{") else "csv"


def _duplicate_check(
    report: ImportReport,
    org: Organization,
    given_id: bool,
    line: int | None,
    record: int | None,
    seen: dict[str, tuple[int | None, int | None]],
) -> None:
    if org.id not in seen:
        seen[org.id] = (line, record)
        return
    first_line, first_record = seen[org.id]
    first = f"record {first_record}" if first_record else f"line {first_line}"
    if given_id:
        message = f"{org.id!r} is also the id of {first}"
    else:
        message = f"same organisation as {first} (same website, or name and city); give each an id"
    report.errors.append(ImportProblem(line, record, "id", message))


# --- JSON ----------------------------------------------------------------------------------


def _import_json(data: bytes) -> ImportReport:
    report = ImportReport("json")
    try:
        text = data.decode("utf-8-sig")
        document = json.loads(text)
    except UnicodeDecodeError:
        report.errors.append(ImportProblem(None, None, "", "the file is not UTF-8 text"))
        return report
    except json.JSONDecodeError as error:
        report.errors.append(ImportProblem(error.lineno, None, "", f"not JSON: {error.msg}"))
        return report
    records = document.get("organizations") if isinstance(document, dict) else document
    if not isinstance(records, list):
        message = 'expected a list of organisations or {"organizations": [...]}'
        report.errors.append(ImportProblem(1, None, "", message))
        return report
    lines = _record_lines(text, isinstance(document, dict))
    seen: dict[str, tuple[int | None, int | None]] = {}
    ignored: list[str] = []
    for index, raw in enumerate(records):
        line = lines[index] if index < len(lines) else None
        ignored += ignored_fields(raw)
        try:
            org = validate(raw)
        except RecordError as error:
            report.errors += [
                ImportProblem(line, index + 1, e.field, e.message) for e in error.errors
            ]
            continue
        _duplicate_check(report, org, bool(raw.get("id")), line, index + 1, seen)
        report.organizations.append(org)
    if ignored:
        report.warnings.append("ignored fields: " + ", ".join(dict.fromkeys(ignored)))
    return report


def _record_lines(text: str, wrapped: bool) -> list[int]:
    """The line on which each record of the (valid JSON) document starts."""
    decoder = json.JSONDecoder()
    pos = _skip_space(text, 0)
    if wrapped:
        pos = _find_member(text, pos, "organizations", decoder)
    lines: list[int] = []
    line, counted = 1, 0
    pos = _skip_space(text, pos + 1)
    while pos < len(text) and text[pos] != "]":
        line += text.count("\n", counted, pos)
        counted = pos
        lines.append(line)
        _, pos = decoder.raw_decode(text, pos)
        pos = _skip_space(text, pos)
        if text[pos] == ",":
            pos = _skip_space(text, pos + 1)
    return lines


def _find_member(text: str, pos: int, name: str, decoder: json.JSONDecoder) -> int:
    """Position of the value of member `name` of the object starting at `pos`."""
    pos = _skip_space(text, pos + 1)
    while True:
        key, pos = decoder.raw_decode(text, pos)
        pos = _skip_space(text, _skip_space(text, pos) + 1)  # past ":"
        if key == name:
            return pos
        _, pos = decoder.raw_decode(text, pos)
        pos = _skip_space(text, _skip_space(text, pos) + 1)  # past ","


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


# --- CSV -----------------------------------------------------------------------------------


@dataclass
class _Group:
    """The rows that make one organisation, and which line gave which part."""

    first_line: int
    record: dict[str, Any] = field(default_factory=dict)
    field_lines: dict[str, int] = field(default_factory=dict)
    nested_lines: dict[str, list[int]] = field(default_factory=dict)


def _import_csv(data: bytes) -> ImportReport:
    report = ImportReport("csv")
    text = _decode_csv(data, report)
    lines = io.StringIO(text, newline="")
    delimiter, skipped = _delimiter(text)
    if skipped:
        lines.readline()
    reader = csv.reader(lines, delimiter=delimiter)
    offset = 1 if skipped else 0  # the reader does not count the `sep=` line
    try:
        header = next(reader, None)
        columns = _columns(header or [], reader.line_num + offset, report)
        if columns is None:
            return report
        groups: dict[str, _Group] = {}
        line = reader.line_num + offset
        for row in reader:
            start, line = line + 1, reader.line_num + offset
            if any(cell.strip() for cell in row):
                _add_row(groups, columns, row, start, report)
    except csv.Error as error:
        line = reader.line_num + offset
        report.errors.append(ImportProblem(line, None, "", f"not CSV: {error}"))
        return report
    seen: dict[str, tuple[int | None, int | None]] = {}
    for group in groups.values():
        try:
            org = validate(group.record)
        except RecordError as error:
            report.errors += [_csv_problem(group, e.field, e.message) for e in error.errors]
            continue
        _duplicate_check(report, org, bool(group.record.get("id")), group.first_line, None, seen)
        report.organizations.append(org)
    report.errors.sort(key=lambda problem: problem.line or 0)
    return report


def _decode_csv(data: bytes, report: ImportReport) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.warnings.append("the file is not UTF-8; it was read as Windows-1252")
        return data.decode("cp1252", errors="replace")


def _delimiter(text: str) -> tuple[str, bool]:
    """The delimiter, and whether the first line was an Excel `sep=` line."""
    first = text.split("\n", 1)[0].strip()
    if first.lower().startswith("sep=") and len(first) == 5:
        return first[4], True
    counts = {delimiter: first.count(delimiter) for delimiter in (",", ";", "\t")}
    return max(counts, key=lambda delimiter: counts[delimiter]), False


def _columns(header: list[str], line: int, report: ImportReport) -> list[str | None] | None:
    """Each header cell's known column (None: ignored), or None when the header is unusable."""
    names = [COLUMN_ALIASES.get(cell.strip().lower(), cell.strip().lower()) for cell in header]
    known = [name if name in CSV_COLUMNS else None for name in names]
    if "name" not in names:
        report.errors.append(ImportProblem(line, None, "name", "the header has no name column"))
        return None
    duplicates = sorted({name for name in names if name and names.count(name) > 1})
    if duplicates:
        problem = ImportProblem(line, None, "", "columns given twice: " + ", ".join(duplicates))
        report.errors.append(problem)
        return None
    unknown = [cell for cell, name in zip(header, known, strict=True) if name is None and cell]
    if unknown:
        report.warnings.append("ignored columns: " + ", ".join(unknown))
    return known


def _add_row(
    groups: dict[str, _Group],
    columns: list[str | None],
    row: list[str],
    line: int,
    report: ImportReport,
) -> None:
    if len(row) > len(columns):
        message = f"{len(row)} cells but the header has {len(columns)} columns"
        report.errors.append(ImportProblem(line, None, "", message))
        return
    if sum(len(cell) for cell in row) > MAX_ROW_CHARS:
        message = f"row longer than {MAX_ROW_CHARS:,} characters"
        report.errors.append(ImportProblem(line, None, "", message))
        return
    cells = {name: _unescape(cell) for name, cell in zip(columns, row, strict=False) if name}
    key = _group_key(cells)
    if key is None:
        message = "missing (a row without a name needs the id of the organisation it adds to)"
        report.errors.append(ImportProblem(line, None, "name", message))
        return
    group = groups.setdefault(key, _Group(line))
    for column, key in ORG_COLUMNS.items():
        value = cells.get(column, "")
        if not value.strip():
            continue
        if key in group.record and group.record[key] != value:
            first = group.field_lines[key]
            message = f"differs from line {first} for the same organisation"
            report.errors.append(ImportProblem(line, None, column, message))
        elif key not in group.record:
            group.record[key] = value
            group.field_lines[key] = line
    for nested, mapping in NESTED_COLUMNS.items():
        item = {key: cells[col] for col, key in mapping.items() if cells.get(col, "").strip()}
        items = group.record.setdefault(nested, [])
        if item and item not in items:
            items.append(item)
            group.nested_lines.setdefault(nested, []).append(line)


def _group_key(cells: Mapping[str, str]) -> str | None:
    """Rows with the same id, or else the same website or name and city, are one record."""
    if cells.get("id", "").strip():
        return "id:" + cells["id"].strip()
    name = cells.get("name", "").strip()
    if not name:
        return None
    raw_website = cells.get("website", "").strip()
    website = normalise_url(raw_website) or raw_website or None
    city = cells.get("city", "").strip() or None
    country = cells.get("country", "").strip().upper() or None
    return "derived:" + stable_id(dedupe_key(name, website, city, country))


def _csv_problem(group: _Group, path: str, message: str) -> ImportProblem:
    """A validation error, told as the line and CSV column it came from."""
    match = re.fullmatch(r"(\w+)\[(\d+)\](?:\.(\w+))?.*", path)
    if match and match.group(1) in NESTED_COLUMNS:
        nested, index, key = match.group(1), int(match.group(2)), match.group(3)
        lines = group.nested_lines.get(nested, [])
        line = lines[index] if index < len(lines) else group.first_line
        columns = {hsds: column for column, hsds in NESTED_COLUMNS[nested].items()}
        return ImportProblem(line, None, columns.get(key or "", nested), message)
    base = re.split(r"[.\[]", path, maxsplit=1)[0]
    line = group.field_lines.get(base, group.first_line)
    return ImportProblem(line, None, "" if base == "record" else base, message)


def _escape(cell: str) -> str:
    return "'" + cell if _FORMULA.match(cell) else cell


def _unescape(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell[1:]) else cell


# --- export --------------------------------------------------------------------------------


def export_records(orgs: Iterable[Organization], fmt: str, *, contacts: bool = True) -> bytes:
    """The organisations as `json` (`{"organizations": [...]}`) or `csv` (UTF-8, `,`)."""
    if fmt == "json":
        records = [to_dict(org, contacts=contacts) for org in orgs]
        text = json.dumps({"organizations": records}, ensure_ascii=False, indent=2) + "\n"
        return text.encode()
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for org in orgs:
            for row in _csv_rows(to_dict(org, contacts=contacts)):
                writer.writerow([_escape(row.get(column, "")) for column in CSV_COLUMNS])
        return out.getvalue().encode()
    raise ValueError(f"unknown format {fmt!r} (json or csv)")


def _csv_rows(record: dict[str, Any]) -> list[dict[str, str]]:
    """One row per nested item (the i-th service, location, … share row i)."""
    nested = {key: record.get(key, []) for key in NESTED_COLUMNS}
    count = max(1, *(len(items) for items in nested.values()))
    rows = []
    for index in range(count):
        row = {"id": record["id"]}
        if index == 0:
            row |= {column: _cell(record.get(key)) for column, key in ORG_COLUMNS.items()}
        for key, mapping in NESTED_COLUMNS.items():
            if index < len(nested[key]):
                item = nested[key][index]
                row |= {column: _cell(item.get(hsds)) for column, hsds in mapping.items()}
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(value)
    return str(value)
