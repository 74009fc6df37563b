"""Import and export of organisation records: HSDS 3.0 JSON, the HSDS data package, our CSV.

JSON (UTF-8): one organisation object, a list of them, `{"organizations": [...]}` (what we
export), or an HSDS API page (`{"contents": [...]}`); services (with their `organization`)
and service-at-locations (with their `service`) are read as their organisation.

HSDS data package: a zip file or folder of CSVs (`organizations.csv`, `services.csv`,
`locations.csv`, `addresses.csv`, `phones.csv`, `languages.csv`, `service_at_location.csv`,
`schedules.csv`, … as named by its `datapackage.json`), joined by their ids into nested
organisations.

Our CSV: one header row, then rows with the columns of `CSV_COLUMNS` (derived from the
record models: the organisation's own fields, then per location, address, phone, service and
contact; any order, case-insensitive; `url` is read as `website`). Delimiter `,`, `;` or tab,
detected from the header (an Excel `sep=;` first line is honoured); UTF-8 with or without
BOM, else read as Windows-1252 with a warning; any line ends. Several rows with the same `id`
(or, without one, the same website, or name and city) are one organisation: the
organisation's fields may be given once or repeated identically, and each row may add one
location, one phone, one service and one contact. List cells (`languages`,
`service_languages`, `target_groups`) are separated by `;`. Latitude and longitude may use a
decimal comma. A cell starting with `= + - @` is written with a leading `'` so spreadsheets
do not run it as a formula; import removes that `'` again.

A bad required field (an organisation without a name) refuses the whole file:
`import_records` (in a worker thread: `read_import`) reports every such problem with its
line, record and field, and `save_import` writes only a report without errors, in one
transaction. A bad optional field is dropped with a warning
naming the record and field, and the record is kept. Every field of the input is kept
(HSDS fields mentornet does not show included), so importing and exporting gives it back.
Re-importing the same file changes nothing. Export includes contacts: it is this instance's
own data.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from directory.hsds import (
    REFERENCES,
    Address,
    Contact,
    Location,
    Organization,
    Phone,
    RecordError,
    Service,
    dedupe_key,
    normalise_url,
    scalar_fields,
    stable_id,
    to_dict,
    validate_lenient,
)
from directory.store import Directory, SaveCounts, local_record

MAX_FILE_BYTES = 20 * 1024 * 1024  # what chat accepts
MAX_CLI_BYTES = 1024 * 1024 * 1024  # what the command line accepts
MAX_ROW_CHARS = 100_000
ZIP_MAGIC = b"PK\x03\x04"


def _columns_of(model: type, prefix: str, named: Mapping[str, str], skip: Iterable[str]) -> dict:
    """CSV column → field for a model's one-value fields: `<prefix>_<field>`, or as `named`."""
    columns = {}
    for name in scalar_fields(model):
        if name in skip:
            continue
        column = named.get(name) or (name if not prefix or name.startswith(prefix) else "")
        columns[column or f"{prefix}_{name}"] = name
    return columns


_PARENT_IDS = REFERENCES - {"program_id", "parent_organization_id"}
ORG_COLUMNS = {**_columns_of(Organization, "", {}, ()), "languages": "languages"}
# Per nested list: CSV column → field. `addresses` are the first address of the location.
NESTED_COLUMNS: dict[str, dict[str, str]] = {
    "locations": _columns_of(
        Location,
        "location",
        {"latitude": "latitude", "longitude": "longitude"},
        _PARENT_IDS,
    ),
    "addresses": _columns_of(
        Address,
        "address",
        {"city": "city", "postal_code": "postal_code", "country": "country"}
        | {"attention": "attention", "region": "region", "state_province": "state_province"},
        _PARENT_IDS,
    ),
    "phones": _columns_of(Phone, "phone", {"number": "phone"}, _PARENT_IDS),
    "services": {
        **_columns_of(
            Service,
            "service",
            {"eligibility_description": "eligibility_description", "fees_description": "fees"},
            _PARENT_IDS,
        ),
        "target_groups": "target_groups",
        "service_languages": "languages",
    },
    "contacts": _columns_of(Contact, "contact", {}, _PARENT_IDS),
}
CSV_COLUMNS = [*ORG_COLUMNS, *(column for cols in NESTED_COLUMNS.values() for column in cols)]
COLUMN_ALIASES = {"url": "website", "fees_description": "fees"}
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
    left_out: list[ImportProblem] = field(default_factory=list)  # told as warnings
    prepared: list[tuple[str, str]] | None = None  # `local_record`s, from `read_import`

    @property
    def ok(self) -> bool:
        return not self.errors

    def finish(self, lines: list[int] | None = None) -> ImportReport:
        """Tell what was left out as warnings; with `lines`, give JSON records their line."""
        if lines is not None:
            self.errors = [_on_line(problem, lines) for problem in self.errors]
            self.left_out = [_on_line(problem, lines) for problem in self.left_out]
        self.warnings += [f"{problem} (left out)" for problem in self.left_out]
        return self


def _on_line(problem: ImportProblem, lines: list[int]) -> ImportProblem:
    if problem.line is not None or not problem.record or problem.record > len(lines):
        return problem
    return ImportProblem(lines[problem.record - 1], *astuple(problem)[1:])


class ImportRefused(ValueError):
    """`save_import` was given a report with errors."""


@contextmanager
def _bulk() -> Iterator[None]:
    """No cyclic garbage collection while many records are read or written: they hold no
    cycles, and scanning the growing heap again and again would cost more than the work."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def import_records(data: bytes, filename: str, *, max_bytes: int = MAX_FILE_BYTES) -> ImportReport:
    """Parse and validate a JSON, CSV or zipped data package; nothing is stored (see
    `save_import`)."""
    with _bulk():
        return _import_records(data, filename, max_bytes)


def _import_records(data: bytes, filename: str, max_bytes: int) -> ImportReport:
    fmt = _detect_format(data, filename)
    if len(data) > max_bytes:
        size, most = f"{len(data) / 1024 / 1024:.1f} MB", f"{max_bytes // 1024 // 1024} MB"
        problem = ImportProblem(None, None, "", f"file is {size}; at most {most} can be imported")
        return ImportReport(fmt, errors=[problem])
    if fmt == "package":
        return _import_zip(data, max_bytes)
    return _import_json(data) if fmt == "json" else _import_csv(data)


async def read_import(data: bytes, filename: str) -> ImportReport:
    """`import_records` in a worker thread, with the records prepared for storing: parsing
    and validating 20 MB takes seconds, during which the event loop (every bot) runs on."""
    return await asyncio.to_thread(_read_and_prepare, data, filename)


def _read_and_prepare(data: bytes, filename: str) -> ImportReport:
    report = import_records(data, filename)
    if report.ok:
        with _bulk():
            report.prepared = [local_record(org) for org in report.organizations]
    return report


def import_path(path: Path, *, max_bytes: int = MAX_CLI_BYTES) -> ImportReport:
    """Import a file, or a folder holding an HSDS data package."""
    if path.is_dir():
        files = {
            item.name: item.read_bytes()
            for item in path.iterdir()
            if item.is_file() and item.suffix.lower() in (".csv", ".json")
        }
        if sum(len(content) for content in files.values()) > max_bytes:
            problem = ImportProblem(None, None, "", "the folder is too large to import")
            return ImportReport("package", errors=[problem])
        with _bulk():
            return import_package(files)
    return import_records(path.read_bytes(), path.name, max_bytes=max_bytes)


def save_import(directory: Directory, report: ImportReport) -> SaveCounts:
    """Store the organisations of a report without errors, all in one transaction."""
    if not report.ok:
        raise ImportRefused(f"{len(report.errors)} problems; nothing was imported")
    with _bulk():
        return directory.save_local_many(report.organizations, report.prepared)


def _detect_format(data: bytes, filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix == "zip" or data.startswith(ZIP_MAGIC):
        return "package"
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


def _read(
    report: ImportReport,
    raw: Any,
    line: int | None,
    record: int | None,
    seen: dict[str, tuple[int | None, int | None]],
    problem: Any = None,
) -> Organization | None:
    """Validate one raw record into the report: errors refuse it, dropped fields warn."""
    tell = problem or (lambda path, message: ImportProblem(line, record, path, message))
    try:
        org, dropped = validate_lenient(raw)
    except RecordError as error:
        report.errors += [tell(e.field, e.message) for e in error.errors]
        return None
    report.left_out += [tell(problem.field, problem.message) for problem in dropped]
    given_id = isinstance(raw, Mapping) and bool(raw.get("id"))
    _duplicate_check(report, org, given_id, line, record, seen)
    report.organizations.append(org)
    return org


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
    if _is_tabular(document):
        return _import_tables(
            {_TABLE_OF[name]: rows for name, rows in document.items() if name in _TABLE_OF},
            report,
            {table: name for name, table in _TABLE_OF.items()},
        )
    key, records = _records_of(document)
    if records is None:
        message = 'expected organisations: one, a list, or {"organizations": [...]}'
        report.errors.append(ImportProblem(1, None, "", message))
        return report
    records, origin = _as_organizations(records)
    seen: dict[str, tuple[int | None, int | None]] = {}
    for index, raw in enumerate(records):
        first = origin[index]
        kind = _other_kind(raw)
        if kind:
            problem = ImportProblem(None, first + 1, "", f"{kind}, not an organisation")
            report.errors.append(problem)
            continue
        _read(report, raw, None, first + 1, seen)
    if not report.errors and not report.left_out:
        return report
    return report.finish(_record_lines(text, key) if key != "" else [1])  # lines when needed


_MARKERS = (  # fields that tell another HSDS object from an organisation
    ("an API description", {"openapi_url", "profile"}),
    ("a location", {"location_type", "addresses", "transportation", "latitude"}),
    ("a taxonomy term", {"code", "parent_id", "term_uri", "taxonomy_detail", "taxonomy_id"}),
    ("a taxonomy", {"version"}),
)


def _other_kind(item: Any) -> str | None:
    """What a record is when it is clearly not an organisation."""
    if not isinstance(item, dict) or "services" in item:
        return None
    return next((kind for kind, keys in _MARKERS if keys & item.keys()), None)


def _is_tabular(document: Any) -> bool:
    """The data package as one JSON object: `{"organizations.csv": [rows], …}`."""
    return (
        isinstance(document, dict)
        and "organizations.csv" in document
        and all(isinstance(rows, list) for rows in document.values())
    )


def _records_of(document: Any) -> tuple[str | None, list | None]:
    """Where the records are (None: a list, "": the document itself, else a member) and
    the records."""
    if isinstance(document, list):
        return None, document
    if not isinstance(document, dict):
        return None, None
    for key in ("organizations", "contents"):
        if isinstance(document.get(key), list):
            return key, document[key]
    if "name" in document or "service" in document or "openapi_url" in document:
        return "", [document]
    return None, None


def _as_organizations(items: list) -> tuple[list, list[int]]:
    """Organisations from a list of organisations, services (each with its `organization`)
    or service-at-locations (each with its `service`); the services of one organisation are
    joined. Also returns, per organisation, the index of the item it came from."""
    found: list = []
    origin: list[int] = []
    by_id: dict[str, dict] = {}
    for index, item in enumerate(items):
        org = _organization_of(item)
        if org is item or not isinstance(org, dict):
            found.append(org)
            origin.append(index)
            continue
        key = str(org.get("id") or org.get("name"))
        if key in by_id:
            target = by_id[key]
            target["services"] = [*target.get("services", []), *org.get("services", [])]
            target["locations"] = _union(target.get("locations", []), org.get("locations", []))
        else:
            by_id[key] = org
            found.append(org)
            origin.append(index)
    return found, origin


def _organization_of(item: Any) -> Any:
    """The organisation a service or service-at-location belongs to, with it inside."""
    if not isinstance(item, dict):
        return item
    if isinstance(item.get("service"), dict) and "name" not in item:  # a service_at_location
        sal = {key: value for key, value in item.items() if key != "service"}
        service = dict(item["service"])
        service["service_at_locations"] = [*service.get("service_at_locations", []), sal]
        org = _organization_of(service)
        if isinstance(org, dict) and isinstance(sal.get("location"), dict):
            org["locations"] = _union(org.get("locations", []), [sal["location"]])
        return org
    if isinstance(item.get("organization"), dict):  # a service
        service = {key: value for key, value in item.items() if key != "organization"}
        org = dict(item["organization"])
        org["services"] = [*org.get("services", []), service]
        for sal in service.get("service_at_locations") or []:
            if isinstance(sal, dict) and isinstance(sal.get("location"), dict):
                org["locations"] = _union(org.get("locations", []), [sal["location"]])
        return org
    return item


def _union(items: list, more: list) -> list:
    """The items, then those of `more` not already there (by id, else by value)."""
    ids = {item.get("id") for item in items if isinstance(item, dict) and item.get("id")}
    result = list(items)
    for item in more:
        known = isinstance(item, dict) and item.get("id") in ids
        if not known and item not in result:
            result.append(item)
    return result


def _record_lines(text: str, key: str | None) -> list[int]:
    """The line on which each record of the (valid JSON) document starts."""
    decoder = json.JSONDecoder()
    pos = _skip_space(text, 0)
    if key:
        pos = _find_member(text, pos, key, decoder)
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
        tell = partial(_csv_problem, group)
        _read(report, group.record, group.first_line, None, seen, tell)
    report.errors.sort(key=lambda problem: problem.line or 0)
    return report.finish()


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
    items: dict[str, dict[str, Any]] = {
        nested: {key: cells[col] for col, key in mapping.items() if cells.get(col, "").strip()}
        for nested, mapping in NESTED_COLUMNS.items()
    }
    address = items.pop("addresses")
    if address:
        items["locations"]["addresses"] = [address]
    for nested, item in items.items():
        known = group.record.setdefault(nested, [])
        if item and item not in known:
            known.append(item)
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
    path = path.replace(".addresses[0].", ".address.")
    match = re.fullmatch(r"(\w+)\[(\d+)\](?:\.(address)\.)?(?:\.?(\w+))?.*", path)
    if match and match.group(1) in NESTED_COLUMNS:
        nested, index, key = match.group(1), int(match.group(2)), match.group(4)
        lines = group.nested_lines.get(nested, [])
        line = lines[index] if index < len(lines) else group.first_line
        table = NESTED_COLUMNS["addresses" if match.group(3) else nested]
        columns = {hsds: column for column, hsds in table.items()}
        return ImportProblem(line, None, columns.get(key or "", nested), message)
    base = re.split(r"[.\[]", path, maxsplit=1)[0]
    line = group.field_lines.get(base, group.first_line)
    return ImportProblem(line, None, "" if base == "record" else base, message)


def _escape(cell: str) -> str:
    return "'" + cell if _FORMULA.match(cell) else cell


def _unescape(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell[1:]) else cell


# --- HSDS data package ---------------------------------------------------------------------

# Which table nests into which, by which id column, under which field (HSDS 3.0 tabular form).
PACKAGE_LINKS: tuple[tuple[str, str, str, str], ...] = (
    # (child table, id column, parent table, field of the parent)
    ("organization_identifier", "organization_id", "organization", "organization_identifiers"),
    ("program", "organization_id", "organization", "programs"),
    ("funding", "organization_id", "organization", "funding"),
    ("funding", "service_id", "service", "funding"),
    ("service", "organization_id", "organization", "services"),
    ("location", "organization_id", "organization", "locations"),
    ("address", "location_id", "location", "addresses"),
    ("accessibility", "location_id", "location", "accessibility"),
    ("service_at_location", "service_id", "service", "service_at_locations"),
    ("service_area", "service_id", "service", "service_areas"),
    ("cost_option", "service_id", "service", "cost_options"),
    ("required_document", "service_id", "service", "required_documents"),
    ("contact", "organization_id", "organization", "contacts"),
    ("contact", "service_id", "service", "contacts"),
    ("contact", "location_id", "location", "contacts"),
    ("contact", "service_at_location_id", "service_at_location", "contacts"),
    ("phone", "organization_id", "organization", "phones"),
    ("phone", "service_id", "service", "phones"),
    ("phone", "location_id", "location", "phones"),
    ("phone", "contact_id", "contact", "phones"),
    ("phone", "service_at_location_id", "service_at_location", "phones"),
    ("schedule", "service_id", "service", "schedules"),
    ("schedule", "location_id", "location", "schedules"),
    ("schedule", "service_at_location_id", "service_at_location", "schedules"),
    ("language", "service_id", "service", "languages"),
    ("language", "location_id", "location", "languages"),
    ("language", "phone_id", "phone", "languages"),
)
PACKAGE_FILES: dict[
    str, str
] = {  # the HSDS file names, when there is no datapackage.json to name them
    "organization": "organizations.csv",
    "program": "programs.csv",
    "service": "services.csv",
    "attribute": "attributes.csv",
    "service_at_location": "service_at_location.csv",
    "location": "locations.csv",
    "phone": "phones.csv",
    "contact": "contacts.csv",
    "address": "addresses.csv",
    "schedule": "schedules.csv",
    "funding": "funding.csv",
    "service_area": "service_areas.csv",
    "required_document": "required_documents.csv",
    "language": "languages.csv",
    "accessibility": "accessibility.csv",
    "taxonomy_term": "taxonomy_terms.csv",
    "metadata": "metadata.csv",
    "cost_option": "cost_options.csv",
    "organization_identifier": "organization_identifiers.csv",
    "taxonomy": "taxonomies.csv",
}


_TABLE_OF = {name: table for table, name in PACKAGE_FILES.items()}


def _import_zip(data: bytes, max_bytes: int) -> ImportReport:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()]
        if sum(info.file_size for info in members) > max_bytes * 4:
            problem = ImportProblem(None, None, "", "the zip file unpacks to too much data")
            return ImportReport("package", errors=[problem])
        files = {info.filename.rsplit("/", 1)[-1]: archive.read(info) for info in members}
    except (zipfile.BadZipFile, OSError) as error:
        problem = ImportProblem(None, None, "", f"not a zip file: {error}")
        return ImportReport("package", errors=[problem])
    return import_package(files)


def import_package(files: Mapping[str, bytes]) -> ImportReport:
    """An HSDS data package (file name → content): its tables joined into organisations."""
    report = ImportReport("package")
    names = _package_names(files, report)
    tables = {table: _package_rows(files[name], name, report) for table, name in names.items()}
    return _import_tables(tables, report, names)


def _import_tables(
    tables: dict[str, list[dict[str, Any]]], report: ImportReport, names: Mapping[str, str]
) -> ImportReport:
    """Join the tables of a data package into organisations and read them."""
    if "organization" not in tables:
        problem = ImportProblem(None, None, "", "the package has no organizations.csv")
        report.errors.append(problem)
    if report.errors:
        return report
    tables = {
        table: [
            {key: value for key, value in row.items() if value not in (None, "")}
            for row in rows
            if isinstance(row, dict)
        ]
        for table, rows in tables.items()
    }
    _join(tables)
    seen: dict[str, tuple[int | None, int | None]] = {}
    file = names["organization"]
    for index, row in enumerate(tables["organization"]):
        line = index + 2  # after the header
        tell = partial(_package_problem, file, line)
        _read(report, row, line, None, seen, tell)
    return report.finish()


def _package_problem(file: str, line: int, path: str, message: str) -> ImportProblem:
    return ImportProblem(line, None, f"{file}: {path}" if path else file, message)


def _package_names(files: Mapping[str, bytes], report: ImportReport) -> dict[str, str]:
    """Table → file name, from datapackage.json if there is one."""
    names = {table: name for table, name in PACKAGE_FILES.items() if name in files}
    if "datapackage.json" not in files:
        return names
    try:
        descriptor = json.loads(files["datapackage.json"].decode("utf-8-sig"))
        for resource in descriptor.get("resources") or []:
            path = str(resource.get("path") or "").rsplit("/", 1)[-1]
            if resource.get("name") and path in files:
                names[str(resource["name"])] = path
    except (ValueError, AttributeError):
        report.warnings.append("datapackage.json is not readable; the HSDS file names are used")
    return names


def _package_rows(data: bytes, name: str, report: ImportReport) -> list[dict[str, str]]:
    text = _decode_csv(data, report)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        return [
            {key: value for key, value in row.items() if key and value not in (None, "")}
            for row in reader
        ]
    except csv.Error as error:
        report.errors.append(ImportProblem(None, None, name, f"not CSV: {error}"))
        return []


def _join(tables: dict[str, list[dict[str, Any]]]) -> None:
    """Nest each row into the rows it names by id (as lists under the HSDS field names)."""
    by_id = {
        table: {row["id"]: row for row in rows if row.get("id")} for table, rows in tables.items()
    }
    for child, column, parent, field_name in PACKAGE_LINKS:
        for row in tables.get(child, []):
            owner = by_id.get(parent, {}).get(row.get(column, ""))
            if owner is not None:
                owner.setdefault(field_name, []).append(row)
    _join_locations_of_services(tables, by_id)
    terms = by_id.get("taxonomy_term", {})
    for term in terms.values():
        taxonomy = by_id.get("taxonomy", {}).get(term.get("taxonomy_id", ""))
        if taxonomy is not None:
            term["taxonomy_detail"] = taxonomy
    rows_by_id = {key: row for rows in by_id.values() for key, row in rows.items()}
    for attribute in tables.get("attribute", []):
        linked = terms.get(attribute.get("taxonomy_term_id", ""))
        if linked is not None:
            attribute["taxonomy_term"] = linked
        owner = rows_by_id.get(attribute.get("link_id", ""))
        if owner is not None:
            owner.setdefault("attributes", []).append(attribute)
    for item in tables.get("metadata", []):
        owner = rows_by_id.get(item.get("resource_id", ""))
        if owner is not None:
            owner.setdefault("metadata", []).append(item)


def _join_locations_of_services(tables: dict[str, list], by_id: dict[str, dict]) -> None:
    """A location a service is offered at is one of the organisation's locations."""
    services = by_id.get("service", {})
    locations = by_id.get("location", {})
    organizations = by_id.get("organization", {})
    for link in tables.get("service_at_location", []):
        service = services.get(link.get("service_id", ""))
        location = locations.get(link.get("location_id", ""))
        org = organizations.get(service.get("organization_id", "")) if service else None
        if org is not None and location is not None:
            known = org.setdefault("locations", [])
            if all(item is not location for item in known):
                known.append(location)


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
    nested["addresses"] = [(loc.get("addresses") or [{}])[0] for loc in nested["locations"]]
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
    if isinstance(value, list):  # labels, language codes or language objects
        return ";".join(item.get("code", "") if isinstance(item, dict) else item for item in value)
    return str(value)
