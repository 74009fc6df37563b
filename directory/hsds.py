"""The organisation record, after Open Referral HSDS, and its validation.

A record is an `Organization` with nested `services`, `locations`, `phones` and `contacts`,
using HSDS field names (flattened where HSDS 3 nests: a location carries its address). Two
additions for the directory: `services[].target_groups` (a list of short labels) and the
organisation's `languages` (its own list plus every service's, ISO 639-1).

`contacts` are about people (DESIGN §4): they stay in this instance's local record and
are never published to a directory room, mirrored from one, or served. `to_published`
leaves them out and `from_published` drops any it is sent.

`validate(data)` accepts a JSON-like mapping and returns an `Organization` or raises
`RecordError` with one `FieldError` per bad field, e.g.
`locations[0].country: "XX" is not an ISO 3166-1 country code`.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

from core.canonical import canonical_problem
from directory.codes import COUNTRIES, COUNTRY_HINTS, LANGUAGES

EVENT_TYPE = "org.mentornet.directory.organization"
SCHEMA_VERSION = 1
MAX_PUBLISHED_BYTES = 60_000  # a Matrix event may be 65,536 bytes in all, signatures included

SHORT = 300  # names, titles, cities, addresses
LONG = 20_000  # descriptions
MAX_ITEMS = 100  # services, locations, phones, contacts per organisation
MAX_LABELS = 50  # target groups or languages per service
LIST_SEPARATORS = r";,\s"  # a language list may be written "de, en" or "de;en"
ID_NAMESPACE = uuid.UUID("6f1c0c52-8f7e-4c61-9a0e-2f6ad0b5c3d1")  # stable ids (uuid5)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_EMAIL = re.compile(
    r"[^@\s<>()\[\],;:\"\\]{1,64}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}"
)
_HOST_LABEL = re.compile(r"[^\W_](?:[\w-]{0,61}[^\W_])?")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_UNSAFE_IN_URL = re.compile(r"[\s<>\"`\\{}|^\x00-\x1f\x7f]")
_PHONE = re.compile(r"\+?[0-9 ()./-]{3,40}")


@dataclass(frozen=True)
class FieldError:
    """One bad field: where it is (`locations[0].country`) and what is wrong with it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class RecordError(ValueError):
    """A record that is not valid; `errors` has one entry per bad field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


@dataclass(frozen=True)
class Phone:
    number: str
    description: str | None = None


@dataclass(frozen=True)
class Contact:
    """A person to contact; kept only in the local record, never published."""

    name: str | None = None
    title: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    description: str | None = None
    eligibility_description: str | None = None
    target_groups: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    fees_description: str | None = None


@dataclass(frozen=True)
class Location:
    id: str
    address_1: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    alternate_name: str | None = None
    description: str | None = None
    email: str | None = None
    website: str | None = None
    legal_status: str | None = None
    year_incorporated: int | None = None
    languages: tuple[str, ...] = ()
    services: tuple[Service, ...] = ()
    locations: tuple[Location, ...] = ()
    phones: tuple[Phone, ...] = ()
    contacts: tuple[Contact, ...] = ()

    @property
    def city(self) -> str | None:
        """The first location's city, if any."""
        return next((loc.city for loc in self.locations if loc.city), None)

    @property
    def dedupe_key(self) -> str:
        """What makes two listings the same organisation: website, else name and city."""
        return dedupe_key(self.name, self.website, self.city, self.country)

    @property
    def country(self) -> str | None:
        return next((loc.country for loc in self.locations if loc.country), None)


# --- normalising ---------------------------------------------------------------------------


def fold(text: str) -> str:
    """Casefolded, without diacritics, whitespace collapsed: `  Genève ` → `geneve`."""
    if text.isascii():
        return " ".join(text.casefold().split())
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def website_key(website: str) -> str:
    """Host (without `www.`) and path, casefolded: `https://www.A.be/x/` → `a.be/x`."""
    parts = urlsplit(website)
    host = (parts.hostname or "").removeprefix("www.")
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    return fold(host + port + parts.path.rstrip("/"))


def dedupe_key(name: str, website: str | None, city: str | None, country: str | None) -> str:
    """`web:<host/path>` when there is a website, else `name:<name>|<city or country>`."""
    if website:
        return "web:" + website_key(website)
    place = fold(city) if city else (country or "").lower()
    return f"name:{fold(name)}|{place}"


def stable_id(*parts: str) -> str:
    """A uuid5 of the parts, so a record without an id gets the same id on every import."""
    return str(uuid.uuid5(ID_NAMESPACE, "\x1f".join(parts)))


# --- validation ----------------------------------------------------------------------------

T = TypeVar("T")


class _Checker:
    """Reads one raw record, collecting a FieldError for each bad field."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def text(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        *,
        limit: int = SHORT,
        required: bool = False,
        multiline: bool = False,
    ) -> str | None:
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(path, "missing")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fail(path, "must be text")
            return None
        text = value if isinstance(value, str) else str(value)
        if not multiline:
            text = text.strip()
        problem = _text_problem(text, limit, multiline)
        if problem:
            self.fail(path, problem)
            return None
        return text

    def email(self, data: Mapping[str, Any], key: str, path: str) -> str | None:
        text = self.text(data, key, path, limit=254)
        if text is not None and not _EMAIL.fullmatch(text):
            self.fail(path, "not an e-mail address")
            return None
        return text

    def website(self, value: Any, path: str) -> str | None:
        text = self.text({"v": value}, "v", path, limit=2_000)
        if text is None:
            return None
        url = normalise_url(text)
        if url is None:
            self.fail(path, "not a web address (http or https)")
        return url

    def number(
        self, data: Mapping[str, Any], key: str, path: str, low: float, high: float
    ) -> float | None:
        value = data.get(key)
        if value is None or value == "":
            return None
        number = _to_float(value)
        if number is None or not low <= number <= high:
            self.fail(path, f"not a number between {low:g} and {high:g}")
            return None
        return number

    def year(self, data: Mapping[str, Any], key: str, path: str) -> int | None:
        value = data.get(key)
        if value is None or value == "":
            return None
        this_year = datetime.date.today().year
        number = _to_float(value)
        if number is None or number != int(number) or not 1000 <= number <= this_year:
            self.fail(path, f"not a year between 1000 and {this_year}")
            return None
        return int(number)

    def country(self, data: Mapping[str, Any], key: str, path: str) -> str | None:
        text = self.text(data, key, path, limit=10)
        if text is None:
            return None
        code = text.upper()
        if code in COUNTRIES:
            return code
        hint = COUNTRY_HINTS.get(code)
        suffix = f" (did you mean {hint}?)" if hint else ""
        self.fail(
            path,
            f"{json.dumps(text, ensure_ascii=False)} is not an ISO 3166-1 country code{suffix}",
        )
        return None

    def labels(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        read: Callable[[Any, str], T | None],
        separators: str = ";",
    ) -> tuple[T, ...]:
        """A list, or a string split at `separators`, of labels each read by `read`."""
        value = data.get(key)
        if value is None or value == "":
            return ()
        if isinstance(value, str):
            value = [part for part in re.split(f"[{separators}]", value) if part.strip()]
        if not isinstance(value, list):
            self.fail(path, "must be a list")
            return ()
        if len(value) > MAX_LABELS:
            self.fail(path, f"more than {MAX_LABELS} entries")
            return ()
        found = (read(item, f"{path}[{i}]") for i, item in enumerate(value))
        return tuple(dict.fromkeys(item for item in found if item is not None))

    def language(self, value: Any, path: str) -> str | None:
        if isinstance(value, Mapping):  # HSDS 3: {"code": "de", "name": "German"}
            value = value.get("code")
        if not isinstance(value, str) or not value.strip():
            self.fail(path, "not an ISO 639-1 language code")
            return None
        code = value.strip().lower()
        if code not in LANGUAGES:
            self.fail(
                path,
                f"{json.dumps(value, ensure_ascii=False)} is not an ISO 639-1 "
                "language code (two letters, e.g. de)",
            )
            return None
        return code

    def target_group(self, value: Any, path: str) -> str | None:
        text = self.text({"v": value}, "v", path, limit=100)
        if text is not None and ";" in text:
            self.fail(path, "may not contain ';'")
            return None
        return text

    def items(
        self, data: Mapping[str, Any], key: str, read: Callable[[Mapping[str, Any], str], T | None]
    ) -> tuple[T, ...]:
        value = data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(key, "must be a list")
            return ()
        if len(value) > MAX_ITEMS:
            self.fail(key, f"more than {MAX_ITEMS} entries")
            return ()
        found: list[T] = []
        for index, item in enumerate(value):
            path = f"{key}[{index}]"
            if not isinstance(item, Mapping):
                self.fail(path, "must be an object")
                continue
            result = read(item, path)
            if result is not None:
                found.append(result)
        return tuple(found)


def _text_problem(text: str, limit: int, multiline: bool) -> str | None:
    if len(text) > limit:
        return f"longer than {limit} characters ({len(text)})"
    if _SURROGATE.search(text):
        return "not valid Unicode text"
    if _CONTROL.search(text):
        return "contains control characters"
    if not multiline and ("\n" in text or "\r" in text):
        return "must be on one line"
    return None


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace(",", "."))  # German Excel writes 50,85
        except ValueError:
            return None
    else:
        return None
    return number if number == number and abs(number) != float("inf") else None


def normalise_url(text: str) -> str | None:
    """An http(s) URL, `https://` added to a bare `www.example.org`; None if not one."""
    if _UNSAFE_IN_URL.search(text):
        return None
    if "://" not in text:
        scheme = _SCHEME.match(text)
        if scheme and "." not in scheme.group(0):  # javascript:, data:, mailto:, …
            return None
        text = "https://" + text
    try:
        parts = urlsplit(text)
        _ = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc:
        return None
    return text if _valid_host(parts.hostname or "") else None


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return (
        len(labels) >= 2
        and all(_HOST_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def validate(data: Any) -> Organization:
    """A valid Organization from a JSON-like record, or RecordError listing every bad field."""
    if not isinstance(data, Mapping):
        raise RecordError([FieldError("record", "must be an object")])
    check = _Checker()
    name = check.text(data, "name", "name", required=True) or ""
    website_key_name = "website" if data.get("website") not in (None, "") else "url"
    website = check.website(data.get(website_key_name), website_key_name)
    located = check.items(data, "locations", lambda item, path: _location(check, item, path))
    given_id = check.text(data, "id", "id", limit=255)
    if given_id is not None and any(ch.isspace() for ch in given_id):
        check.fail("id", "may not contain spaces")
    city = next((loc.city for loc, _ in located if loc.city), None)
    country = next((loc.country for loc, _ in located if loc.country), None)
    org_id = given_id or stable_id(dedupe_key(name, website, city, country))
    services = check.items(data, "services", lambda item, path: _service(check, item, path, org_id))
    own_languages = check.labels(data, "languages", "languages", check.language, LIST_SEPARATORS)
    organization = Organization(
        id=org_id,
        name=name,
        alternate_name=check.text(data, "alternate_name", "alternate_name"),
        description=check.text(data, "description", "description", limit=LONG, multiline=True),
        email=check.email(data, "email", "email"),
        website=website,
        legal_status=check.text(data, "legal_status", "legal_status"),
        year_incorporated=check.year(data, "year_incorporated", "year_incorporated"),
        languages=tuple(
            dict.fromkeys([*own_languages, *(c for s in services for c in s.languages)])
        ),
        services=services,
        locations=tuple(
            replace(loc, id=loc_id or stable_id(org_id, "location", _place(loc)))
            for loc, loc_id in located
        ),
        phones=check.items(data, "phones", lambda item, path: _phone(check, item, path)),
        contacts=check.items(data, "contacts", lambda item, path: _contact(check, item, path)),
    )
    if not check.errors:
        _check_unique_ids(check, "services", organization.services, data)
        _check_unique_ids(check, "locations", organization.locations, data)
    if not check.errors:
        published = to_published(organization)
        size = len(_compact_json(published))
        if size > MAX_PUBLISHED_BYTES:
            check.fail(
                "record", f"too large to publish ({size} bytes, at most {MAX_PUBLISHED_BYTES})"
            )
        problem = canonical_problem(published)  # what no homeserver would accept
        if problem:
            check.fail("record", f"cannot be published ({problem})")
    if check.errors:
        raise RecordError(check.errors)
    return organization


def _place(location: Location) -> str:
    parts = (location.address_1, location.postal_code, location.city, location.country)
    return fold("|".join(part or "" for part in parts))


def _service(check: _Checker, data: Mapping[str, Any], path: str, org_id: str) -> Service | None:
    name = check.text(data, "name", f"{path}.name", required=True)
    fees_key = "fees_description" if data.get("fees_description") not in (None, "") else "fees"
    service_id = check.text(data, "id", f"{path}.id", limit=255)
    service = Service(
        id=service_id or stable_id(org_id, "service", fold(name or "")),
        name=name or "",
        description=check.text(
            data, "description", f"{path}.description", limit=LONG, multiline=True
        ),
        eligibility_description=check.text(
            data,
            "eligibility_description",
            f"{path}.eligibility_description",
            limit=LONG,
            multiline=True,
        ),
        target_groups=check.labels(
            data, "target_groups", f"{path}.target_groups", check.target_group
        ),
        languages=check.labels(
            data, "languages", f"{path}.languages", check.language, LIST_SEPARATORS
        ),
        fees_description=check.text(
            data, fees_key, f"{path}.{fees_key}", limit=LONG, multiline=True
        ),
    )
    return service if name else None


def _location(
    check: _Checker, data: Mapping[str, Any], path: str
) -> tuple[Location, str | None] | None:
    """The location (its id still empty) and the id it was given, if any."""
    addresses = data.get("addresses")
    if isinstance(addresses, list) and addresses and isinstance(addresses[0], Mapping):
        data = {**addresses[0], **{k: v for k, v in data.items() if v not in (None, "")}}
    location = Location(
        id="",
        address_1=check.text(data, "address_1", f"{path}.address_1"),
        city=check.text(data, "city", f"{path}.city"),
        postal_code=check.text(data, "postal_code", f"{path}.postal_code", limit=20),
        country=check.country(data, "country", f"{path}.country"),
        latitude=check.number(data, "latitude", f"{path}.latitude", -90, 90),
        longitude=check.number(data, "longitude", f"{path}.longitude", -180, 180),
    )
    given_id = check.text(data, "id", f"{path}.id", limit=255)
    if (data.get("latitude") in (None, "")) != (data.get("longitude") in (None, "")):
        check.fail(path, "latitude and longitude go together")
    if location == Location(id=""):
        if not any(error.field.startswith(path) for error in check.errors):
            check.fail(path, "empty (give an address, city, country or coordinates)")
        return None
    return location, given_id


def _phone(check: _Checker, data: Mapping[str, Any], path: str) -> Phone | None:
    number = check.text(data, "number", f"{path}.number", limit=40, required=True)
    if number is not None and (
        not _PHONE.fullmatch(number) or sum(c.isdigit() for c in number) < 3
    ):
        check.fail(f"{path}.number", "not a phone number (digits, spaces, + ( ) - . /)")
        number = None
    description = check.text(data, "description", f"{path}.description")
    return Phone(number, description) if number else None


def _contact(check: _Checker, data: Mapping[str, Any], path: str) -> Contact | None:
    contact = Contact(
        name=check.text(data, "name", f"{path}.name"),
        title=check.text(data, "title", f"{path}.title"),
        email=check.email(data, "email", f"{path}.email"),
    )
    if contact == Contact() and not any(e.field.startswith(path) for e in check.errors):
        check.fail(path, "needs a name or an e-mail")
    return contact if contact != Contact() else None


def _check_unique_ids(
    check: _Checker, key: str, items: tuple[Service, ...] | tuple[Location, ...], data: Mapping
) -> None:
    """Services (locations) need distinct ids; without given ids, distinct names (places)."""
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first = seen.setdefault(item.id, index)
        if first == index:
            continue
        if data[key][index].get("id"):
            check.fail(f"{key}[{index}].id", f"{item.id!r} is also the id of {key}[{first}]")
        elif key == "services":
            check.fail(f"{key}[{index}].name", f"same name as {key}[{first}]; give each an id")
        else:
            check.fail(f"{key}[{index}]", f"same place as {key}[{first}]; give each an id")


# --- serialising ---------------------------------------------------------------------------


def to_dict(org: Organization, *, contacts: bool = True) -> dict[str, Any]:
    """The HSDS-shaped JSON object; fields without a value are left out."""
    record = _compact(
        {
            "id": org.id,
            "name": org.name,
            "alternate_name": org.alternate_name,
            "description": org.description,
            "email": org.email,
            "website": org.website,
            "legal_status": org.legal_status,
            "year_incorporated": org.year_incorporated,
            "languages": list(org.languages),
            "services": [_compact(vars(s) | _lists(s)) for s in org.services],
            "locations": [_compact(vars(loc)) for loc in org.locations],
            "phones": [_compact(vars(phone)) for phone in org.phones],
        }
    )
    if contacts and org.contacts:
        record["contacts"] = [_compact(vars(contact)) for contact in org.contacts]
    return record


def _lists(service: Service) -> dict[str, list[str]]:
    return {"target_groups": list(service.target_groups), "languages": list(service.languages)}


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if value not in (None, [], "")}


def from_dict(record: Mapping[str, Any]) -> Organization:
    """Rebuild an Organization from `to_dict` output that was validated before (no checks)."""
    return Organization(
        **{key: record.get(key) for key in _ORG_SCALARS},
        languages=tuple(record.get("languages", ())),
        services=tuple(
            Service(
                **{key: item.get(key) for key in _SERVICE_SCALARS},
                target_groups=tuple(item.get("target_groups", ())),
                languages=tuple(item.get("languages", ())),
            )
            for item in record.get("services", ())
        ),
        locations=tuple(Location(**item) for item in record.get("locations", ())),
        phones=tuple(Phone(**item) for item in record.get("phones", ())),
        contacts=tuple(Contact(**item) for item in record.get("contacts", ())),
    )


_ORG_SCALARS = (
    "id",
    "name",
    "alternate_name",
    "description",
    "email",
    "website",
    "legal_status",
    "year_incorporated",
)
_SERVICE_SCALARS = ("id", "name", "description", "eligibility_description", "fees_description")


def to_published(org: Organization) -> dict[str, Any]:
    """The content of the directory state event: schema version and record, no contacts.

    Event content is canonical JSON (integers only): coordinates travel as strings
    (`"50.8503"`, Python's shortest exact form) and `from_published` reads them back as
    numbers, as it reads numbers."""
    record = to_dict(org, contacts=False)
    if "locations" in record:
        record["locations"] = [_coordinates_as_text(loc) for loc in record["locations"]]
    return {"schema_version": SCHEMA_VERSION, "organization": record}


def _coordinates_as_text(location: dict[str, Any]) -> dict[str, Any]:
    return location | {
        key: repr(float(location[key])) for key in ("latitude", "longitude") if key in location
    }


def published_json(org: Organization) -> bytes:
    """The published content as compact UTF-8 JSON (what a homeserver will size)."""
    return _compact_json(to_published(org))


def _compact_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def from_published(content: Any, state_key: str | None = None) -> Organization:
    """The Organization in a directory state event's content; contacts are dropped.

    With `state_key`, a record without id takes it and one with another id is refused.
    """
    if not isinstance(content, Mapping):
        raise RecordError([FieldError("content", "must be an object")])
    version = content.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RecordError(
            [
                FieldError(
                    "schema_version",
                    f"{json.dumps(version)} is not supported (this mentornet reads "
                    f"version {SCHEMA_VERSION})",
                )
            ]
        )
    record = content.get("organization")
    if not isinstance(record, Mapping):
        raise RecordError([FieldError("organization", "missing")])
    record = {key: value for key, value in record.items() if key != "contacts"}
    if state_key is not None:
        if record.get("id") in (None, ""):
            record["id"] = state_key
        elif record["id"] != state_key:
            raise RecordError(
                [FieldError("id", f"{record['id']!r} differs from the state key {state_key!r}")]
            )
    return validate(record)


KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "": frozenset(
        {
            "id",
            "name",
            "alternate_name",
            "description",
            "email",
            "website",
            "url",
            "legal_status",
            "year_incorporated",
            "languages",
            "services",
            "locations",
            "phones",
            "contacts",
        }
    ),
    "services": frozenset(
        {
            "id",
            "name",
            "description",
            "eligibility_description",
            "target_groups",
            "languages",
            "fees_description",
            "fees",
        }
    ),
    "locations": frozenset(
        {"id", "address_1", "city", "postal_code", "country", "latitude", "longitude", "addresses"}
    ),
    "phones": frozenset({"number", "description"}),
    "contacts": frozenset({"name", "title", "email"}),
}


def ignored_fields(data: Any) -> list[str]:
    """The fields of a raw record that `validate` does not read (to warn about them)."""
    if not isinstance(data, Mapping):
        return []
    ignored = sorted(key for key in data if key not in KNOWN_FIELDS[""])
    for nested in ("services", "locations", "phones", "contacts"):
        items = data.get(nested)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, Mapping):
                ignored += sorted(
                    f"{nested}[].{key}" for key in item if key not in KNOWN_FIELDS[nested]
                )
    return list(dict.fromkeys(ignored))
