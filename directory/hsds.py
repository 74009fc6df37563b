"""The organisation record: Open Referral HSDS 3.0 as pydantic models, the one source of truth.

An `Organization` nests its `services`, `locations` (with `addresses`), `phones`, `contacts`,
`programs`, `funding`, `organization_identifiers`… with HSDS 3.0 field names and types. Fields
HSDS does not name are kept as they came (`extra="allow"`), so nothing a file carried is lost.
Validation, export (`to_dict`), the CSV columns (`directory.io`), the OpenAPI schemas
(`directory.api`) and the `!dir add/edit` options (`directory.bot`) are derived from these
models. Two additions, allowed as HSDS extensions: `services[].target_groups` (short labels)
and the organisation's `languages` (ISO 639-1 codes: its own plus every service's).

Older flat input is read too: a location's `address_1`, `city`, `postal_code`, `country`
become its first address; a service language may be a plain code; `url` is the website.
Missing HSDS ids are derived (uuid5), so re-importing a file changes nothing.

`contacts`, an address's `attention` and a metadata entry's `updated_by` (anywhere in the
record) are about people: they stay in this instance's local record and are never published
to a directory room, mirrored from one, or served. The codec `to_published` /
`from_published` leaves them out. Event content is canonical JSON, which has
no decimal numbers: coordinates (and any other decimal) travel as strings in events and are
numbers in the store and the API; decoding accepts both.

`validate(data)` returns an `Organization` or raises `RecordError` with one `FieldError` per
bad field, e.g. `locations[0].country: "XX" is not an ISO 3166-1 country code`.
`validate_lenient(data)` drops bad optional fields (and list items whose required field is
bad) and returns what it dropped; only a bad required field of the organisation refuses it.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import ipaddress
import json
import re
import typing
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from core.canonical import canonical_problem
from core.text import fold
from directory.codes import COUNTRIES, COUNTRY_HINTS, LANGUAGES

EVENT_TYPE = "org.mentornet.directory.organization"
SCHEMA_VERSION = 1
HSDS_VERSION = "3.0"
MAX_PUBLISHED_BYTES = 60_000  # a Matrix event may be 65,536 bytes in all, signatures included

SHORT = 300  # names, titles, cities, addresses
LONG = 20_000  # descriptions
MAX_ITEMS = 100  # services, locations, phones, contacts… per list
MAX_LABELS = 50  # target groups or languages per list
LIST_SEPARATORS = r";,\s"  # a language list may be written "de, en" or "de;en"
ID_NAMESPACE = uuid.UUID("6f1c0c52-8f7e-4c61-9a0e-2f6ad0b5c3d1")  # stable ids (uuid5)
_NAMESPACE = ID_NAMESPACE.bytes
_VARIANT = {digit: f"{(int(digit, 16) & 0x3) | 0x8:x}" for digit in "0123456789abcdef"}
# The fields, at any depth, that hold data about people: contacts (names, e-mails, phones),
# who an address is for the attention of, who updated a record.
PRIVATE = frozenset({"contacts", "attention", "updated_by"})

# The fields that point to another object by its id (not the object's own data).
REFERENCES = frozenset(
    {
        "organization_id",
        "service_id",
        "location_id",
        "contact_id",
        "phone_id",
        "service_at_location_id",
        "parent_organization_id",
        "program_id",
        "link_id",
        "taxonomy_term_id",
        "taxonomy_id",
        "resource_id",
        "parent_id",
    }
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_SPACE = re.compile(r"\s")  # what str.isspace() calls a space, in one scan
_EMAIL = re.compile(
    r"[^@\s<>()\[\],;:\"\\]{1,64}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}"
)
_HOST_LABEL = re.compile(r"[^\W_](?:[\w-]{0,61}[^\W_])?")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_UNSAFE_IN_URL = re.compile(r"[\s<>\"`\\{}|^\x00-\x1f\x7f]")
_PHONE = re.compile(r"\+?[0-9 ()./-]{3,40}")
_QUOTES = "\"'“”„«»"


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


# --- normalising ---------------------------------------------------------------------------


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
    h = hashlib.sha1(_NAMESPACE + "\x1f".join(parts).encode()).hexdigest()
    # As str(uuid.uuid5(…)): version 5, RFC 4122 variant.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


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


# --- field types: each checks and normalises one kind of value -----------------------------


def _text_problem(text: str, limit: int, multiline: bool) -> str | None:
    if len(text) <= limit and text.isprintable():  # the common case, checked fast
        return None
    if len(text) > limit:
        return f"longer than {limit} characters ({len(text)})"
    if _SURROGATE.search(text):
        return "not valid Unicode text"
    if _CONTROL.search(text):
        return "contains control characters"
    if not multiline and ("\n" in text or "\r" in text):
        return "must be on one line"
    return None


def _text(limit: int = SHORT, multiline: bool = False, required: bool = False) -> Callable:
    def check(value: Any) -> str | None:
        if value.__class__ is str and len(value) <= limit and value.isprintable():
            text = value if multiline else value.strip()  # the common case, checked fast
            if text:
                return text
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise ValueError("missing")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be text")
        text = value if isinstance(value, str) else str(value)
        if not multiline:
            text = text.strip()
        problem = _text_problem(text, limit, multiline)
        if problem:
            raise ValueError(problem)
        return text

    return check


# The text checks of the kinds of value below, made once (not at each value checked).
_EMAIL_TEXT, _CODE_TEXT, _ID_TEXT = _text(254), _text(10), _text(255)
_PHONE_TEXT, _LABEL_TEXT, _URL_TEXT = _text(42, required=True), _text(100), _text(2_000)


def _to_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number: int | float = value
    elif isinstance(value, str):
        text = value.strip().replace(",", ".")  # German Excel writes 50,85
        try:
            number = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
        except ValueError:
            return None
    else:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _number(low: float | None = None, high: float | None = None) -> Callable:
    def check(value: Any) -> int | float | None:
        if value is None or value == "":
            return None
        number = _to_number(value)
        if number is None or (low is not None and not low <= number <= high):  # type: ignore[operator]
            raise ValueError(
                "not a number" if low is None else f"not a number between {low:g} and {high:g}"
            )
        return number

    return check


def _year(value: Any) -> int | None:
    if value is None or value == "":
        return None
    this_year = datetime.date.today().year
    number = _to_number(value)
    if number is None or number != int(number) or not 1000 <= number <= this_year:
        raise ValueError(f"not a year between 1000 and {this_year}")
    return int(number)


def _email(value: Any) -> str | None:
    text = _EMAIL_TEXT(value)
    if text is not None and not _EMAIL.fullmatch(text):
        raise ValueError("not an e-mail address")
    return text


def _url(value: Any) -> str | None:
    text = _URL_TEXT(value)
    if text is None:
        return None
    url = normalise_url(text)
    if url is None:
        raise ValueError("not a web address (http or https)")
    return url


def _country(value: Any) -> str | None:
    text = _CODE_TEXT(value)
    if text is None:
        return None
    code = text.upper()
    if code in COUNTRIES:
        return code
    hint = COUNTRY_HINTS.get(code)
    suffix = f" (did you mean {hint}?)" if hint else ""
    shown = json.dumps(text, ensure_ascii=False)
    raise ValueError(f"{shown} is not an ISO 3166-1 country code{suffix}")


def language_code(value: Any) -> str:
    """An ISO 639-1 code from `de`, ` DE ` or `{"code": "de"}`; ValueError if not one."""
    if isinstance(value, Mapping):
        value = value.get("code")
    if not isinstance(value, str) or not value.strip():
        raise ValueError("not an ISO 639-1 language code")
    code = value.strip().lower()
    if code not in LANGUAGES:
        shown = json.dumps(value, ensure_ascii=False)
        raise ValueError(f"{shown} is not an ISO 639-1 language code (two letters, e.g. de)")
    return code


def _optional_code(value: Any) -> str | None:
    return None if value is None or value == "" else language_code(value)


def _id(value: Any) -> str | None:
    text = _ID_TEXT(value)
    if text is not None and _SPACE.search(text):
        raise ValueError("may not contain spaces")
    return text


def _phone_number(value: Any) -> str:
    text = _PHONE_TEXT(value)
    if text and len(text) > 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()  # "\"+44 1234 234567\"" as in the HSDS example
    if not text or (not _PHONE.fullmatch(text) or sum(c.isdigit() for c in text) < 3):
        raise ValueError("not a phone number (digits, spaces, + ( ) - . /)")
    return text


def _split(separators: str) -> Callable:
    def split(value: Any) -> Any:
        if value is None or value == "":
            return ()
        if isinstance(value, str):
            return [part for part in re.split(f"[{separators}]", value) if part.strip()]
        if isinstance(value, list | tuple) and len(value) > MAX_LABELS:
            raise ValueError(f"more than {MAX_LABELS} entries")
        return value

    return split


def _without_blanks(split: Callable) -> Callable:
    """`split`, then blank entries left out (a label list may come as `"a;;b"` or `["a", ""]`)."""

    def labels(value: Any) -> Any:
        parts = split(value)
        if isinstance(parts, list | tuple):
            return [part for part in parts if not (part is None or str(part).strip() == "")]
        return parts

    return labels


def _items(value: Any) -> Any:
    if value is None:
        return ()
    if isinstance(value, list | tuple) and len(value) > MAX_ITEMS:
        raise ValueError(f"more than {MAX_ITEMS} entries")
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _target_group(value: Any) -> str | None:
    text = _LABEL_TEXT(value)
    if text is not None and ";" in text:
        raise ValueError("may not contain ';'")
    return text


def _unique(values: tuple) -> tuple:
    return tuple(dict.fromkeys(value for value in values if value is not None))


Text = Annotated[str | None, BeforeValidator(_text())]
LongText = Annotated[str | None, BeforeValidator(_text(LONG, multiline=True))]
Name = Annotated[str, BeforeValidator(_text(required=True))]
Id = Annotated[str | None, BeforeValidator(_id)]
Email = Annotated[str | None, BeforeValidator(_email)]
Url = Annotated[str | None, BeforeValidator(_url)]
Number = Annotated[int | float | None, BeforeValidator(_number())]
Latitude = Annotated[float | None, BeforeValidator(_number(-90, 90))]
Longitude = Annotated[float | None, BeforeValidator(_number(-180, 180))]
Year = Annotated[int | None, BeforeValidator(_year)]
Country = Annotated[str | None, BeforeValidator(_country)]
LanguageCode = Annotated[str, BeforeValidator(language_code)]
LocationType = Annotated[Literal["physical", "postal", "virtual"] | None, BeforeValidator(_lower)]
Labels = Annotated[
    tuple[Annotated[str, BeforeValidator(_target_group)], ...],
    BeforeValidator(_without_blanks(_split(";"))),
]
Codes = Annotated[tuple[LanguageCode, ...], BeforeValidator(_split(LIST_SEPARATORS))]

T = typing.TypeVar("T")
Items = Annotated[tuple[T, ...], BeforeValidator(_items)]


# --- the models ----------------------------------------------------------------------------


class Entity(BaseModel):
    """An HSDS object: its declared fields checked, any other field kept as it came."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: Id = None


class Metadata(Entity):
    resource_id: Id = None
    resource_type: Text = None
    last_action_date: Text = None
    last_action_type: Text = None
    field_name: Text = None
    previous_value: LongText = None
    replacement_value: LongText = None
    updated_by: Text = None


class Taxonomy(Entity):
    name: Text = None
    description: LongText = None
    uri: Url = None
    version: Text = None
    metadata: Items[Metadata] = ()


class TaxonomyTerm(Entity):
    code: Text = None
    name: Text = None
    description: LongText = None
    parent_id: Id = None
    taxonomy: Text = None
    taxonomy_detail: Taxonomy | None = None
    language: Text = None
    taxonomy_id: Id = None
    term_uri: Url = None
    metadata: Items[Metadata] = ()


class Attribute(Entity):
    link_id: Id = None
    taxonomy_term_id: Id = None
    link_type: Text = None
    link_entity: Text = None
    value: LongText = None
    taxonomy_term: TaxonomyTerm | None = None
    metadata: Items[Metadata] = ()


class Described(Entity):
    """An HSDS object that may carry attributes and metadata."""

    attributes: Items[Attribute] = ()
    metadata: Items[Metadata] = ()


class Language(Described):
    service_id: Id = None
    location_id: Id = None
    phone_id: Id = None
    name: Text = None
    code: Annotated[str | None, BeforeValidator(_optional_code)] = None
    note: LongText = None

    @model_validator(mode="before")
    @classmethod
    def _from_code(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"code": data}
        return data

    @model_validator(mode="after")
    def _check(self) -> Language:
        if self.code is None and not self.name:
            raise ValueError("not an ISO 639-1 language code")
        return self


class Phone(Described):
    location_id: Id = None
    service_id: Id = None
    organization_id: Id = None
    contact_id: Id = None
    service_at_location_id: Id = None
    number: Annotated[str, BeforeValidator(_phone_number)]
    extension: Number = None
    type: Text = None
    description: Text = None
    languages: Items[Language] = ()


class Contact(Described):
    """A person to contact; kept only in the local record, never published."""

    organization_id: Id = None
    service_id: Id = None
    service_at_location_id: Id = None
    location_id: Id = None
    name: Text = None
    title: Text = None
    department: Text = None
    email: Email = None
    phones: Items[Phone] = ()

    @model_validator(mode="after")
    def _check(self) -> Contact:
        if not (self.name or self.email or self.title or self.phones):
            raise ValueError("needs a name or an e-mail")
        return self


class Schedule(Described):
    service_id: Id = None
    location_id: Id = None
    service_at_location_id: Id = None
    valid_from: Text = None
    valid_to: Text = None
    dtstart: Text = None
    timezone: Number = None
    until: Text = None
    count: Number = None
    wkst: Annotated[
        Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"] | None,
        BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),
    ] = None
    freq: Annotated[
        Literal["WEEKLY", "MONTHLY"] | None,
        BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),
    ] = None
    interval: Number = None
    byday: Text = None
    byweekno: Text = None
    bymonthday: Text = None
    byyearday: Text = None
    description: LongText = None
    opens_at: Text = None
    closes_at: Text = None
    schedule_link: Url = None
    attending_type: Text = None
    notes: LongText = None


class Address(Described):
    location_id: Id = None
    attention: Text = None
    address_1: Text = None
    address_2: Text = None
    city: Text = None
    region: Text = None
    state_province: Text = None
    postal_code: Annotated[str | None, BeforeValidator(_text(20))] = None
    country: Country = None
    address_type: LocationType = None


class Accessibility(Described):
    location_id: Id = None
    description: LongText = None
    details: LongText = None
    url: Url = None


class Funding(Described):
    organization_id: Id = None
    service_id: Id = None
    source: LongText = None


class CostOption(Described):
    service_id: Id = None
    valid_from: Text = None
    valid_to: Text = None
    option: Text = None
    currency: Text = None
    amount: Number = None
    amount_description: LongText = None


class ServiceArea(Described):
    service_id: Id = None
    name: Text = None
    description: LongText = None
    extent: Annotated[str | None, BeforeValidator(_text(LONG, multiline=True))] = None
    extent_type: Text = None
    uri: Text = None


class RequiredDocument(Described):
    service_id: Id = None
    document: LongText = None
    uri: Url = None


class Program(Described):
    organization_id: Id = None
    name: Text = None
    alternate_name: Text = None
    description: LongText = None


class OrganizationIdentifier(Described):
    organization_id: Id = None
    identifier_scheme: Text = None
    identifier_type: Text = None
    identifier: Text = None


# Flat address fields a location may carry (older mentornet records, our CSV).
FLAT_ADDRESS = ("address_1", "city", "postal_code", "country")


class Location(Described):
    location_type: LocationType = None
    url: Url = None
    organization_id: Id = None
    name: Text = None
    alternate_name: Text = None
    description: LongText = None
    transportation: LongText = None
    latitude: Latitude = None
    longitude: Longitude = None
    external_identifier: Text = None
    external_identifier_type: Text = None
    languages: Items[Language] = ()
    addresses: Items[Address] = ()
    contacts: Items[Contact] = ()
    accessibility: Items[Accessibility] = ()
    phones: Items[Phone] = ()
    schedules: Items[Schedule] = ()

    @model_validator(mode="before")
    @classmethod
    def _flat_address(cls, data: Any) -> Any:
        """`address_1`, `city`, `postal_code`, `country` given on the location: its address."""
        if not isinstance(data, Mapping) or not any(key in data for key in FLAT_ADDRESS):
            return data
        data = dict(data)
        flat = {key: data.pop(key) for key in FLAT_ADDRESS if key in data}
        flat = {key: value for key, value in flat.items() if value not in (None, "")}
        addresses = data.get("addresses")
        if flat and (addresses in (None, [], ()) or isinstance(addresses, list | tuple)):
            first = addresses[0] if addresses else {}
            rest = list(addresses[1:]) if addresses else []
            first = {**flat, **first} if isinstance(first, Mapping) else first
            data["addresses"] = [first, *rest]
        return data

    @model_validator(mode="after")
    def _check(self) -> Location:
        if (self.latitude is None) != (self.longitude is None):
            given = "latitude" if self.latitude is not None else "longitude"
            raise ValueError(f"{given}: latitude and longitude go together")
        if self.location_type is None:
            self.location_type = "virtual" if self.url and not self._placed else "physical"
        if not self._placed and not self.name and self.location_type != "virtual":
            raise ValueError("empty (give an address, city, country or coordinates)")
        return self

    @property
    def _placed(self) -> bool:
        return bool(self.addresses) or self.latitude is not None

    @property
    def address(self) -> Address | None:
        """The physical address, else the first one."""
        physical = (a for a in self.addresses if a.address_type in (None, "physical"))
        return next(physical, None) or (self.addresses[0] if self.addresses else None)

    @property
    def address_1(self) -> str | None:
        return self.address.address_1 if self.address else None

    @property
    def city(self) -> str | None:
        return self.address.city if self.address else None

    @property
    def postal_code(self) -> str | None:
        return self.address.postal_code if self.address else None

    @property
    def country(self) -> str | None:
        return self.address.country if self.address else None


class ServiceAtLocation(Described):
    service_id: Id = None
    location_id: Id = None
    description: LongText = None
    contacts: Items[Contact] = ()
    phones: Items[Phone] = ()
    schedules: Items[Schedule] = ()
    location: Location | None = None


ServiceStatus = Annotated[
    Literal["active", "inactive", "defunct", "temporarily closed"], BeforeValidator(_lower)
]


class Service(Described):
    organization_id: Id = None
    program_id: Id = None
    name: Name
    alternate_name: Text = None
    description: LongText = None
    url: Url = None
    email: Email = None
    status: ServiceStatus | None = None  # "active" when not given
    interpretation_services: LongText = None
    application_process: LongText = None
    fees_description: LongText = None
    wait_time: Text = None
    fees: LongText = None
    accreditations: LongText = None
    eligibility_description: LongText = None
    minimum_age: Number = None
    maximum_age: Number = None
    assured_date: Text = None
    assurer_email: Email = None
    licenses: LongText = None
    alert: LongText = None
    last_modified: Text = None
    target_groups: Labels = Field(
        (), description="mentornet extension: who the service is for, short labels"
    )
    phones: Items[Phone] = ()
    schedules: Items[Schedule] = ()
    service_areas: Items[ServiceArea] = ()
    service_at_locations: Items[ServiceAtLocation] = ()
    languages: Annotated[tuple[Language, ...], BeforeValidator(_split(LIST_SEPARATORS))] = ()
    funding: Items[Funding] = ()
    cost_options: Items[CostOption] = ()
    program: Program | None = None
    required_documents: Items[RequiredDocument] = ()
    contacts: Items[Contact] = ()

    @model_validator(mode="before")
    @classmethod
    def _fees(cls, data: Any) -> Any:
        """HSDS 2 and our CSV called the fees description `fees`."""
        if (
            isinstance(data, Mapping)
            and data.get("fees_description") in (None, "")
            and data.get("fees") not in (None, "")
        ):
            data = {**data, "fees_description": data["fees"]}
        return data

    @model_validator(mode="after")
    def _labels(self) -> Service:
        self.target_groups = _unique(self.target_groups)
        if self.status is None:
            self.status = "active"
        return self

    @property
    def language_codes(self) -> tuple[str, ...]:
        return _unique(tuple(language.code for language in self.languages))


class Organization(Described):
    """An organisation with everything it publishes; see the module docstring."""

    name: Name
    alternate_name: Text = None
    description: LongText = None
    email: Email = None
    website: Url = None
    tax_status: Text = None
    tax_id: Text = None
    year_incorporated: Year = None
    legal_status: Text = None
    logo: Text = None
    uri: Url = None
    parent_organization_id: Id = None
    languages: Codes = Field(
        (),
        description="mentornet extension: ISO 639-1 codes of the languages it works in, "
        "its services' included",
    )
    funding: Items[Funding] = ()
    contacts: Items[Contact] = ()
    phones: Items[Phone] = ()
    locations: Items[Location] = ()
    programs: Items[Program] = ()
    organization_identifiers: Items[OrganizationIdentifier] = ()
    services: Items[Service] = ()

    if TYPE_CHECKING:
        id: str  # always set once validated: `_derive` gives one from the dedupe key

    @model_validator(mode="before")
    @classmethod
    def _url(cls, data: Any) -> Any:
        """HSDS 2 called the website `url`."""
        if isinstance(data, Mapping) and "url" in data and data.get("website") in (None, ""):
            data = dict(data)
            data["website"] = data.pop("url")
        return data

    @model_validator(mode="after")
    def _derive(self) -> Organization:
        if self.id is None:
            self.id = stable_id(self.dedupe_key)
        codes = (code for service in self.services for code in service.language_codes)
        self.languages = _unique((*self.languages, *codes))
        _fill_ids(self, self.id)
        return self

    @property
    def city(self) -> str | None:
        """The first location's city, if any."""
        return next((loc.city for loc in self.locations if loc.city), None)

    @property
    def country(self) -> str | None:
        return next((loc.country for loc in self.locations if loc.country), None)

    @property
    def dedupe_key(self) -> str:
        """What makes two listings the same organisation: website, else name and city."""
        return dedupe_key(self.name, self.website, self.city, self.country)

    def dump(self, *, contacts: bool = True) -> dict[str, Any]:
        """The HSDS JSON object; fields without a value are left out."""
        record = self.model_dump(mode="json", exclude_defaults=True)
        return record if contacts else without_contacts(record)


def _fill_ids(entity: Entity, org_id: str) -> None:
    """Give each nested object without an id a stable one, from its place in the record."""
    values = entity.__dict__
    owner = values["id"] or org_id
    for name in nested_models(type(entity)):
        value = values[name]
        if not value:
            continue
        if value.__class__ is tuple:
            kind = _KINDS.get(name, name)
            for index, item in enumerate(value):
                if item.__dict__["id"] is None:
                    item.__dict__["id"] = stable_id(owner, kind, _identity(item, index))
                _fill_ids(item, org_id)
        else:
            if value.__dict__["id"] is None:
                value.__dict__["id"] = stable_id(owner, name)
            _fill_ids(value, org_id)


_KINDS = {"services": "service", "locations": "location"}  # as ids were always derived


def _identity(item: Entity, index: int) -> str:
    """What identifies a nested object without id: services by name, places by address."""
    if isinstance(item, Service):
        return fold(item.name)
    if isinstance(item, Location):
        parts = (item.address_1, item.postal_code, item.city, item.country)
        place = fold("|".join(part or "" for part in parts))
        return place if item._placed else f"{place}|{index}|{item.name or ''}"
    if isinstance(item, Language):
        return item.code or fold(item.name or "")
    return str(index)


def without_contacts(value: Any) -> Any:
    """The record without data about people (`PRIVATE` fields, at any depth); the value
    itself when it holds none (looked for first: most records hold none)."""
    return _stripped(value) if _holds_private(value) else value


def _holds_private(value: Any) -> bool:
    """Whether a `PRIVATE` field is anywhere in the value (a walk over its objects and lists)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if not PRIVATE.isdisjoint(item):
                return True
            pending += [inner for inner in item.values() if isinstance(inner, dict | list)]
        elif isinstance(item, list):
            pending += [inner for inner in item if isinstance(inner, dict | list)]
    return False


def _stripped(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _stripped(item) for key, item in value.items() if key not in PRIVATE}
    if isinstance(value, list):
        return [_stripped(item) for item in value]
    return value


# --- the fields of a model (for the CSV columns, the bot's options, the lenient reader) --------


def _model_in(annotation: Any) -> type[Entity] | None:
    """The Entity class inside an annotation like `tuple[Service, ...] | None`."""
    if isinstance(annotation, type) and issubclass(annotation, Entity):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found:
            return found
    return None


@cache
def nested_models(model: type[Entity]) -> dict[str, type[Entity]]:
    """The fields of `model` that hold other HSDS objects, with their class."""
    found = {}
    for name, info in model.model_fields.items():
        inner = _model_in(info.annotation)
        if inner is not None:
            found[name] = inner
    return found


@cache
def scalar_fields(model: type[Entity]) -> tuple[str, ...]:
    """The fields of `model` with one text or number value (no lists, no objects)."""
    nested = nested_models(model)
    return tuple(
        name
        for name, info in model.model_fields.items()
        if name not in nested and typing.get_origin(_strip(info.annotation)) is not tuple
    )


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


# --- validation ----------------------------------------------------------------------------


def _path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union", "literal[")):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path


_TYPE_MESSAGES = {
    "missing": "missing",
    "string_type": "must be text",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "float_parsing": "not a number",
    "int_parsing": "not a whole number",
    "float_type": "not a number",
}


def _errors(error: ValidationError, data: Any) -> list[FieldError]:
    found = []
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if not _internal(part))
        kind = item["type"]
        if kind == "value_error":
            message = str(item["ctx"]["error"])
        elif kind == "literal_error":
            message = "must be one of " + item["ctx"]["expected"]
        else:
            message = _TYPE_MESSAGES.get(kind, item["msg"])
        if ": " in message and message.split(": ", 1)[0].isidentifier():  # "latitude: …"
            field, message = message.split(": ", 1)
            loc = (*loc, field)
        if loc and loc[-1] == "code" and not isinstance(_at(data, loc[:-1]), Mapping):
            loc = loc[:-1]  # a language given as a plain code
        found.append(FieldError(_path(_flat_path(loc, data)) or "record", message))
    return found


def _internal(part: Any) -> bool:
    return isinstance(part, str) and part.startswith(("function-", "literal[", "tagged-union"))


def _flat_path(loc: tuple, data: Any) -> tuple:
    """`locations[0].addresses[0].city` is told as `locations[0].city` when it was given so."""
    for index in range(len(loc) - 3):
        if loc[index] == "locations" and loc[index + 2 : index + 4] == ("addresses", 0):
            location = _at(data, loc[: index + 2])
            if (
                isinstance(location, Mapping)
                and loc[index + 4 :][:1]
                and (loc[index + 4] in location)
            ):
                return (*loc[: index + 2], *loc[index + 4 :])
    return loc


def _at(data: Any, loc: tuple) -> Any:
    for part in loc:
        if (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and part < len(data)
        ):
            data = data[part]
        else:
            return None
    return data


def _build(data: Any) -> Organization:
    return _checked(data)[0]


def _checked(data: Any) -> tuple[Organization, str]:
    """The valid Organization and its compact JSON (`record_json`), or RecordError."""
    if not isinstance(data, Mapping):
        raise RecordError([FieldError("record", "must be an object")])
    try:
        org = Organization.model_validate(data)
    except ValidationError as error:
        raise RecordError(_errors(error, data)) from None
    dumped = record_json(org)
    problems = _duplicate_ids(org, data)
    if not problems:
        problems = _unpublishable(org, dumped)
    if problems:
        raise RecordError(problems)
    return org, dumped


def record_json(org: Organization) -> str:
    """The record as compact JSON, fields without a value left out (`to_dict`'s content;
    made in pydantic's core, decimals written as it writes them)."""
    return org.model_dump_json(exclude_defaults=True)


def _unpublishable(org: Organization, dumped: str) -> list[FieldError]:
    """Why the record cannot be published: a value that is no canonical JSON (an integer
    beyond what a homeserver accepts), named by its field, or the record is too large.
    Only a record whose compact JSON (`dumped`) is near the limit or holds a number of 16
    digits or more (a cheap look) is checked value by value."""
    large = len(dumped) > MAX_PUBLISHED_BYTES - 2000
    if not large and not _LONG_NUMBER.search(dumped):
        return []
    published = to_published(org)
    problems = list(_not_canonical(published["organization"], ""))
    if problems or not large:
        return problems
    size = len(_compact_json(published))
    if size > MAX_PUBLISHED_BYTES:
        message = f"too large to publish ({size} bytes, at most {MAX_PUBLISHED_BYTES})"
        return [FieldError("record", message)]
    return []


# A JSON number of 16 digits or more (every integer beyond ±(2**53 - 1) is one) in compact JSON.
_LONG_NUMBER = re.compile(r"[:\[,]-?\d{16}")


def _not_canonical(value: Any, path: str) -> Iterator[FieldError]:
    """Each value of a published record no homeserver would take (`canonical_problem`)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _not_canonical(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _not_canonical(item, f"{path}[{index}]")
    elif problem := canonical_problem(value, path or "record"):
        reason = problem.removeprefix(f"{path or 'record'}: ")
        yield FieldError(path or "record", f"cannot be published: {reason}")


def validate(data: Any) -> Organization:
    """A valid Organization from a JSON-like record, or RecordError listing every bad field."""
    return _build(data)


def validate_lenient(data: Any) -> tuple[Organization, list[FieldError]]:
    """Like `validate`, but bad optional fields (and list items whose required field is bad)
    are dropped and returned; RecordError only for a bad required field of the organisation."""
    dropped: list[FieldError] = []
    for _ in range(8):
        try:
            return _build(data), dropped
        except RecordError as error:
            cuts = [_cut(Organization, _parts(e.field)) for e in error.errors]
            fatal = [e for e, cut in zip(error.errors, cuts, strict=True) if not cut]
            if fatal:
                raise RecordError(fatal) from None
            if not dropped:
                data = copy.deepcopy(dict(data))
            for cut in cuts:
                _drop(data, cut or ())
            _clean(data)
            dropped += error.errors
    raise RecordError(dropped)


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parts(path: str) -> list[str | int]:
    """`services[0].name` → `["services", 0, "name"]`."""
    return [int(index) if index else name for name, index in _PATH_PART.findall(path)]


def _cut(model: type[Entity] | None, parts: list) -> tuple | None:
    """What to remove for a bad field at `parts` of an object of `model`: the field when it
    is optional, else the list item around it; None when the object itself must go."""
    if not parts or (parts[0] in ("record", "id") and model is Organization):
        return None
    head, rest = parts[0], parts[1:]
    info = model.model_fields.get(head) if model else None
    required = info is not None and info.is_required()
    inner = nested_models(model).get(head) if model else None
    if rest and isinstance(rest[0], int):
        below = _cut(inner, rest[1:]) if inner and rest[1:] else None
        return (head, rest[0], *below) if below else (head, rest[0])
    if rest:
        below = _cut(inner, rest) if inner else None
        if below:
            return (head, *below)
    return None if required else (head,)


_GONE = object()


def _drop(data: Any, point: tuple) -> None:
    """Remove what `point` leads to (list items are marked, and removed by `_clean`)."""
    while point:
        parent, last = _at(data, point[:-1]), point[-1]
        if isinstance(parent, dict) and last in parent:
            parent.pop(last)
            return
        if isinstance(parent, list) and isinstance(last, int) and last < len(parent):
            parent[last] = _GONE
            return
        point = point[:-1]  # given otherwise (a list as one string): the field goes


def _clean(value: Any) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _clean(item)
    elif isinstance(value, list):
        value[:] = [item for item in value if item is not _GONE]
        for item in value:
            _clean(item)


def _duplicate_ids(org: Organization, data: Mapping) -> list[FieldError]:
    """Services (locations) need distinct ids; without given ids, distinct names (places)."""
    problems = []
    for key in ("services", "locations"):
        seen: dict[str, int] = {}
        raw = data.get(key) or []
        for index, item in enumerate(getattr(org, key)):
            first = seen.setdefault(item.id or "", index)
            if first == index:
                continue
            given = isinstance(raw[index], Mapping) and raw[index].get("id")
            if given:
                problems.append(
                    FieldError(
                        f"{key}[{index}].id", f"{item.id!r} is also the id of {key}[{first}]"
                    )
                )
            elif key == "services":
                message = f"same name as {key}[{first}]; give each an id"
                problems.append(FieldError(f"{key}[{index}].name", message))
            else:
                message = f"same place as {key}[{first}]; give each an id"
                problems.append(FieldError(f"{key}[{index}]", message))
    return problems


# --- the store's form and the event codec --------------------------------------------------


def to_dict(org: Organization, *, contacts: bool = True) -> dict[str, Any]:
    """The HSDS JSON object; fields without a value are left out."""
    return org.dump(contacts=contacts)


def from_dict(record: Mapping[str, Any]) -> Organization:
    """An Organization from `to_dict` output (as stored)."""
    return Organization.model_validate(record)


def _canonical(value: Any) -> Any:
    """Decimal numbers as strings: Matrix event content is canonical JSON, without floats."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def to_published(org: Organization) -> dict[str, Any]:
    """The content of the directory state event: schema version and record, no contacts."""
    return {"schema_version": SCHEMA_VERSION, "organization": _canonical(org.dump(contacts=False))}


def published_json(org: Organization) -> bytes:
    """The published content as compact UTF-8 JSON (what a homeserver will size)."""
    return _compact_json(to_published(org))


def _compact_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def from_published(content: Any, state_key: str | None = None) -> Organization:
    """The Organization in a directory state event's content; contacts are dropped.

    With `state_key`, a record without id takes it and one with another id is refused.
    """
    return published_record(content, state_key)[0]


def published_record(content: Any, state_key: str | None = None) -> tuple[Organization, str]:
    """`from_published`, with the record's compact JSON (`record_json`, no contacts): what
    the mirror stores, made once while validating."""
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
    record = without_contacts(dict(record))
    if state_key is not None:
        if record.get("id") in (None, ""):
            record["id"] = state_key
        elif record["id"] != state_key:
            raise RecordError(
                [FieldError("id", f"{record['id']!r} differs from the state key {state_key!r}")]
            )
    return _checked(record)


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a JSON-like value, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


# --- what the HSDS API serves --------------------------------------------------------------

# Fields the HSDS 3.0 schemas require that a record may lack, and what is served then.
HSDS_REQUIRED: dict[type[Entity], dict[str, Any]] = {
    Organization: {"description": ""},
    Service: {"status": "active"},
    Location: {"location_type": "physical"},
    Address: {
        "address_1": "",
        "city": "",
        "state_province": "",
        "postal_code": "",
        "country": "",
        "address_type": "physical",
    },
    Program: {"name": "", "description": ""},
    OrganizationIdentifier: {"identifier_type": "", "identifier": ""},
    Taxonomy: {"name": "", "description": ""},
    TaxonomyTerm: {"name": "", "description": ""},
    Metadata: {
        "last_action_date": "",
        "last_action_type": "",
        "field_name": "",
        "previous_value": "",
        "replacement_value": "",
        "updated_by": "",
    },
}


def served(record: Mapping[str, Any], model: type[Entity] = Organization) -> dict[str, Any]:
    """A stored record as the HSDS API serves it: no contacts, and every field the HSDS
    schemas require present (empty text where the record has none)."""
    result = {key: value for key, value in record.items() if key not in PRIVATE}
    for key, default in HSDS_REQUIRED.get(model, {}).items():
        result.setdefault(key, default)
    for name, inner in nested_models(model).items():
        value = result.get(name)
        if isinstance(value, list):
            result[name] = [served(item, inner) for item in value if isinstance(item, Mapping)]
        elif isinstance(value, Mapping):
            result[name] = served(value, inner)
    return result


def one_to_one(record: Mapping[str, Any], model: type[Entity]) -> dict[str, Any]:
    """Only the fields with one value (what HSDS API lists show), required ones filled."""
    scalars = scalar_fields(model)
    own = {key: value for key, value in record.items() if key in scalars}
    for key, default in HSDS_REQUIRED.get(model, {}).items():
        own.setdefault(key, default)
    return own
