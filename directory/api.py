"""The read-only JSON API of the directory, after the HSDS 3.0 API reference.

    GET /api/v1/                          HSDS version, profile and where the OpenAPI is
    GET /api/v1/organizations             a page of organisations (one-to-one fields; `full`)
    GET /api/v1/organizations/{id}        one organisation, fully nested, with its services
    GET /api/v1/services                  a page of services, each with its organisation
    GET /api/v1/services/{id}             one service, fully nested
    GET /api/v1/service_at_locations      a page of the services' places (`/{id}`: one)
    GET /api/v1/taxonomies                the taxonomies the records use (`/{id}`: one)
    GET /api/v1/taxonomy_terms            the taxonomy terms the records use (`/{id}`: one)
    GET /api/v1/openapi.json              the OpenAPI 3.1 description, derived from the models

Pages have the reference's shape (`total_items`, `total_pages`, `page_number`, `size`,
`first_page`, `last_page`, `empty`, `contents`) and take its `search`, `page`, `per_page`,
`full`, `format`, `organization_id`, `taxonomy_term_id`, `taxonomy_id` and `modified_after`
parameters, plus ours (`q`, `country`, `city`, `lang`, `target_group`, `service`). Our
additions are HSDS extensions: `sources` (every listing of an organisation: network,
homeserver, room, event, time), `languages` of an organisation, `target_groups` of a service,
`total_items_exact`. What is served is what networks published: never contacts, never who
sent a listing.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import web

from core.config import Config
from directory.hsds import (
    HSDS_REQUIRED,
    HSDS_VERSION,
    Entity,
    Location,
    Organization,
    Service,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
    one_to_one,
    served,
)
from directory.store import RANK_LIMIT, Directory, ShownOrganization, Source, match_query
from directory.web import (
    MAX_FILTER,
    MAX_PAGE,
    MAX_QUERY,
    BadParameter,
    Query,
    api_error,
    json_response,
    parse_query,
)

API = "/api/v1"
API_PAGE_SIZE = 20  # default `per_page`
PROFILE = "https://docs.openreferral.org/en/latest/hsds/overview.html"
MAX_ID = 255
BOOKMARK_EVERY = 1_000  # entities between two remembered places of a long list
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_UNSUPPORTED = ("minimal", "postcode", "proximity")
KINDS: dict[str, type[Entity]] = {
    "service": Service,
    "service_at_location": ServiceAtLocation,
    "taxonomy_term": TaxonomyTerm,
    "taxonomy": Taxonomy,
}


def api_routes(directory: Directory, config: Config) -> list[web.RouteDef]:
    """The API's routes, for `DirectoryBot.routes()`."""
    return DirectoryApi(directory, config).routes()


class ApiParameter(BadParameter):
    """A parameter of the HSDS API that cannot be used (told in English, as the API is)."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "unsupported": "not supported by this API",
        "format": "only json is served",
        "boolean": "must be true or false",
        "too_long": "longer than {max} characters, or with control characters",
    }

    def message(self, language: str = "en") -> str:
        return f"{self.parameter}: {self.MESSAGES[self.key].format(**self.values)}"


@dataclass(frozen=True)
class Params:
    """What a list request asks for, beyond the search of `Query`."""

    query: Query
    full: bool = False
    organization_id: str | None = None
    taxonomy_term_id: str | None = None
    taxonomy_id: str | None = None
    modified_after: str | None = None


def parse_params(params: Mapping[str, str]) -> Params:
    """The HSDS list parameters; BadParameter names the one that cannot be used."""
    query = parse_query(params, per_page=API_PAGE_SIZE)
    for name in _UNSUPPORTED:
        if params.get(name):
            raise ApiParameter(name, "unsupported")
    if params.get("format", "json").strip().lower() not in ("", "json"):
        raise ApiParameter("format", "format")
    full = False
    for name in ("full", "full_service"):
        value = params.get(name, "").strip().lower()
        if value and value not in _BOOLEANS:
            raise ApiParameter(name, "boolean")
        full = full or _BOOLEANS.get(value, False)
    ids = {}
    for name in ("organization_id", "taxonomy_term_id", "taxonomy_id", "modified_after"):
        value = params.get(name, "").strip()
        if len(value) > MAX_ID or any(ord(ch) < 32 for ch in value):
            raise ApiParameter(name, "too_long", max=MAX_ID)
        ids[name] = value or None
    return Params(query, full, **ids)


class DirectoryApi:
    """Request handlers over one Directory."""

    def __init__(self, directory: Directory, config: Config) -> None:
        self.directory = directory
        self.db = directory.db
        self.base = (config.web.public_url or "").rstrip("/")
        self._openapi = openapi(config)
        self._counts: dict[tuple, int] = {}
        self._marks: dict[tuple, list[tuple[int, int]]] = {}

    def routes(self) -> list[web.RouteDef]:
        routes = [
            web.get(API, self.root),
            web.get(API + "/", self.root),
            web.get(API + "/openapi.json", self.api_openapi),
            web.get(API + "/organizations", self.organizations),
            web.get(API + "/organizations/{id:.+}", self.organization),
        ]
        for kind, path in (
            ("service", "services"),
            ("service_at_location", "service_at_locations"),
            ("taxonomy", "taxonomies"),
            ("taxonomy_term", "taxonomy_terms"),
        ):
            routes.append(web.get(f"{API}/{path}", self._lister(kind)))
            routes.append(web.get(f"{API}/{path}/{{id:.+}}", self._getter(kind)))
        return routes

    # --- handlers ------------------------------------------------------------------------

    async def root(self, request: web.Request) -> web.Response:
        base = self.base or f"{request.scheme}://{request.host}"
        about = {"version": HSDS_VERSION, "profile": PROFILE}
        return json_response(about | {"openapi_url": f"{base}{API}/openapi.json"})

    async def api_openapi(self, request: web.Request) -> web.Response:
        return json_response(self._openapi, indent=2)

    async def organizations(self, request: web.Request) -> web.Response:
        try:
            params = parse_params(request.query)
        except BadParameter as bad:
            return api_error(400, "bad_parameter", bad.message(), parameter=bad.parameter)
        result = params.query.run(self.directory)
        items = [organization_item(shown, full=params.full) for shown in result.items]
        body = page(result.total, result.page, result.per_page, items, result.exact_total)
        return json_response(body)

    async def organization(self, request: web.Request) -> web.Response:
        org_id = request.match_info["id"]
        shown = self.directory.get(org_id)
        if shown is None:
            return _not_found("organisation", org_id)
        return json_response(organization_item(shown, full=True))

    def _lister(self, kind: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            try:
                params = parse_params(request.query)
            except BadParameter as bad:
                return api_error(400, "bad_parameter", bad.message(), parameter=bad.parameter)
            return json_response(self.list_entities(kind, params))

        return handler

    def _getter(self, kind: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            item_id = request.match_info["id"]
            found = self.entities(
                "e.kind = ? AND e.item_id = ?", [kind, item_id], "e.shown, e.position", 1, 0
            )
            if not found:
                return _not_found(kind.replace("_", " "), item_id)
            return json_response(self._item(kind, *found[0], full=True))

        return handler

    # --- reading the entities ------------------------------------------------------------

    def list_entities(self, kind: str, params: Params) -> dict[str, Any]:
        """One page of services, service-at-locations, taxonomies or taxonomy terms."""
        query = params.query
        where = ["e.kind = ?"]
        args: list[str | int] = [kind]  # ids and texts, and a position past a bookmark
        match = match_query(query.text, **query.filters())
        if match is None:
            return page(0, query.page, query.per_page, [])
        order = "e.shown, e.position"
        if match:
            where.append("e.shown IN (SELECT rowid FROM directory_fts WHERE directory_fts MATCH ?)")
            args.append(match)
        if params.organization_id:
            where.append("e.shown IN (SELECT rowid FROM directory_shown WHERE id = ?)")
            args.append(params.organization_id)
        for name, of_kind in (("taxonomy_term_id", "taxonomy_term"), ("taxonomy_id", "taxonomy")):
            wanted = getattr(params, name)
            if wanted:
                where.append(
                    "EXISTS (SELECT 1 FROM directory_entities t WHERE t.kind = ? AND"
                    " t.item_id = ? AND t.shown = e.shown AND t.path LIKE e.path || '.%')"
                )
                args += [of_kind, wanted]
        if params.modified_after:
            where.append(
                "(SELECT json_extract(coalesce(s.record, l.record), e.path || '.last_modified')"
                " FROM directory_shown s"
                " JOIN directory_listings l ON l.room_id = s.room_id AND l.org_id = s.id"
                " WHERE s.rowid = e.shown) >= ?"
            )
            args.append(params.modified_after)
        condition = " AND ".join(where)
        distinct = kind in ("taxonomy", "taxonomy_term")  # the same term in many records
        total = self._count(condition, args, distinct)
        offset = (query.page - 1) * query.per_page
        if distinct:
            condition += (
                " AND e.position = (SELECT min(d.position) FROM directory_entities d"
                " WHERE d.kind = e.kind AND d.item_id = e.item_id AND d.shown = e.shown)"
                " AND e.shown = (SELECT min(d.shown) FROM directory_entities d"
                " WHERE d.kind = e.kind AND d.item_id = e.item_id)"
            )
            order = "e.item_id"
        elif match and total <= RANK_LIMIT:
            order = "(SELECT rank FROM directory_fts WHERE directory_fts MATCH ?"
            order += " AND rowid = e.shown), e.shown, e.position"
            args = [*args, match]
        if order == "e.shown, e.position" and offset >= BOOKMARK_EVERY:
            skipped, shown = self._bookmark(condition, args, offset)
            condition, args, offset = (
                f"{condition} AND e.shown >= ?",
                [*args, shown],
                offset - skipped,
            )
        rows = self.entities(condition, args, order, query.per_page, offset)
        items = [self._item(kind, *row, full=params.full) for row in rows]
        return page(total, query.page, query.per_page, items)

    def entities(
        self, condition: str, args: list[Any], order: str, limit: int, offset: int
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """(path, organisation id, organisation record) of the entities asked for, in order."""
        keys = self.db.execute(
            f"SELECT e.shown, e.position FROM directory_entities e WHERE {condition}"
            f" ORDER BY {order} LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        shown_ids = list(dict.fromkeys(shown for shown, _ in keys))
        paths = {
            (shown, position): path
            for shown, position, path in self.db.execute(
                "SELECT shown, position, path FROM directory_entities WHERE kind = ?"
                f" AND shown IN ({', '.join('?' * len(shown_ids))})",
                [args[0], *shown_ids],
            )
        }
        rows = [(shown, paths[shown, position]) for shown, position in keys]
        shown = list(dict.fromkeys(row[0] for row in rows))
        records = {
            rowid: (org_id, record)
            for rowid, org_id, record in self.db.execute(
                "SELECT s.rowid, s.id, coalesce(s.record, l.record) FROM directory_shown s"
                " JOIN directory_listings l"
                " ON l.room_id = s.room_id AND l.org_id = s.id"
                f" WHERE s.rowid IN ({', '.join('?' * len(shown))})",
                shown,
            )
        }
        parsed: dict[int, dict[str, Any]] = {}
        found = []
        for rowid, path in rows:
            if rowid not in records:
                continue
            if rowid not in parsed:
                parsed[rowid] = json.loads(records[rowid][1])
            found.append((path, records[rowid][0], parsed[rowid]))
        return found

    def _version(self) -> tuple[int, int]:
        """Changes whenever the database does (from this process or another)."""
        return self.db.execute("PRAGMA data_version").fetchone()[0], self.db.conn.total_changes

    def _bookmark(self, condition: str, args: list[Any], offset: int) -> tuple[int, int]:
        """(position in the list, organisation) of the last bookmark at or before `offset`:
        the list is walked once per database version, so that a page far down does not
        step over every entity before it."""
        key = (condition, tuple(args), self._version())
        marks = self._marks.get(key)
        if marks is None:
            marks, due, previous = [(0, 0)], BOOKMARK_EVERY, None
            rows = self.db.execute(
                f"SELECT e.shown FROM directory_entities e WHERE {condition}"
                " ORDER BY e.shown, e.position",
                args,
            )
            for index, (shown,) in enumerate(rows):
                if index >= due and shown != previous:
                    marks.append((index, shown))
                    due = index + BOOKMARK_EVERY
                previous = shown
            self._marks = {key: marks}
        return marks[bisect.bisect_right(marks, (offset, math.inf)) - 1]

    def _count(self, condition: str, args: list[Any], distinct: bool) -> int:
        """How many entities match; remembered until the database changes."""
        key = (condition, tuple(args), distinct, *self._version())
        if key not in self._counts:
            what = "count(DISTINCT e.item_id)" if distinct else "count(*)"
            sql = f"SELECT {what} FROM directory_entities e WHERE {condition}"
            if len(self._counts) > 1000:
                self._counts.clear()
            self._counts[key] = self.db.execute(sql, args).fetchone()[0]
        return self._counts[key]

    def _item(
        self, kind: str, path: str, org_id: str, record: dict[str, Any], *, full: bool
    ) -> dict[str, Any]:
        value = _at_path(record, path)
        if kind == "service":
            return service_item(value, record, full=full)
        if kind == "service_at_location":
            service = _at_path(record, _SERVICE_OF.match(path).group(0))  # type: ignore[union-attr]
            return service_at_location_item(value, service, record, full=full)
        return served(value, KINDS[kind])


# --- shaping the items ---------------------------------------------------------------------


def organization_item(shown: ShownOrganization, *, full: bool) -> dict[str, Any]:
    """An organisation: its one-to-one fields (all of it when `full`), its languages, and
    every listing of it (`sources`)."""
    record = shown.organization.dump(contacts=False)
    item = served(record) if full else one_to_one(record, Organization)
    item["id"] = shown.id
    if record.get("languages"):
        item["languages"] = record["languages"]
    item["sources"] = [source_json(source) for source in shown.sources]
    return item


def service_item(service: dict[str, Any], org: dict[str, Any], *, full: bool) -> dict[str, Any]:
    """A service with its organisation's one-to-one fields; fully nested when `full`."""
    item = served(service, Service) if full else one_to_one(service, Service)
    if not full:
        item |= {key: service[key] for key in ("target_groups", "languages") if key in service}
    item["organization_id"] = service.get("organization_id") or org["id"]
    if _BASICS not in org:  # once per record and page
        org[_BASICS] = one_to_one(org, Organization)
    item["organization"] = org[_BASICS]
    return item


_BASICS = "\x00basics"  # where a parsed record keeps its one-to-one fields while a page is made


def service_at_location_item(
    link: dict[str, Any], service: dict[str, Any], org: dict[str, Any], *, full: bool
) -> dict[str, Any]:
    """A service at a location, with the service and the location."""
    item = served(link, ServiceAtLocation) if full else one_to_one(link, ServiceAtLocation)
    item["service_id"] = link.get("service_id") or service["id"]
    location = link.get("location") or next(
        (loc for loc in org.get("locations", []) if loc.get("id") == link.get("location_id")),
        None,
    )
    if location is not None:
        item["location"] = served(location, Location) if full else one_to_one(location, Location)
        item["location_id"] = location.get("id") or link.get("location_id")
    item["service"] = service_item(service, org, full=False)
    return item


def source_json(source: Source) -> dict[str, Any]:
    """One listing of an organisation: provenance, public (the sender is left out)."""
    return {
        "network": source.network,
        "homeserver": source.homeserver,
        "room_id": source.room_id,
        "event_id": source.event_id,
        "org_id": source.org_id,
        "origin_ts": source.origin_ts,
        "published_at": datetime.fromtimestamp(source.origin_ts / 1000, UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
    }


def page(
    total: int, number: int, per_page: int, items: list[Any], exact: bool = True
) -> dict[str, Any]:
    """A page in the HSDS API's shape (plus `total_items_exact`)."""
    pages = math.ceil(total / per_page)
    last = number >= pages if exact else len(items) < per_page
    return {
        "total_items": total,
        "total_pages": pages,
        "page_number": number,
        "size": len(items),
        "first_page": number == 1,
        "last_page": last,
        "empty": not items,
        "total_items_exact": exact,
        "contents": items,
    }


_STEP = re.compile(r'\.(\w+)|\."((?:[^"\\]|\\.)*)"|\[(\d+)\]')
_SERVICE_OF = re.compile(r"\$\.services\[\d+\]")


def _at_path(record: Any, path: str) -> Any:
    """The value at an SQLite JSON path like `$.services[0]."service_at_locations"[1]`."""
    for key, quoted, index in _STEP.findall(path):
        record = record[int(index)] if index else record[key or quoted]
    return record


def _not_found(what: str, item_id: str) -> web.Response:
    shown = json.dumps(item_id, ensure_ascii=False)
    return api_error(404, "not_found", f"no {what} with the id {shown}")


# --- the OpenAPI description ---------------------------------------------------------------


def _schemas() -> dict[str, Any]:
    """The JSON schemas of the record models (what is served: required fields included)."""
    schema = Organization.model_json_schema(
        mode="serialization", ref_template="#/components/schemas/{model}"
    )
    schemas = schema.pop("$defs", {})
    schemas["Organization"] = schema
    models: dict[str, type[Entity]] = {model.__name__: model for model in HSDS_REQUIRED}
    for name, body in schemas.items():
        body.get("properties", {}).pop("contacts", None)
        required = ["id", *HSDS_REQUIRED.get(models.get(name, Entity), {})]
        body["required"] = sorted(set(body.get("required", [])) | set(required))
    schemas["Organization"]["properties"]["sources"] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Source"},
        "description": (
            "mentornet extension: every directory listing of it. Their services, languages,"
            " locations and phones are united; each other field comes from the first listing"
            " here that has it (the most complete, then the newest)."
        ),
    }
    return schemas


def openapi(config: Config) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API; the record schemas come from the models."""
    ref = {name: {"$ref": f"#/components/schemas/{name}"} for name in ("Page", "Error")}
    schemas = _schemas()
    schemas |= _envelopes()

    def parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": schema,
        }

    text = {"type": "string", "maxLength": MAX_FILTER}
    listing = [
        parameter(
            "search",
            "Free text: every word must match.",
            {"type": "string", "maxLength": MAX_QUERY},
        ),
        parameter("q", "The same as `search`; give one of them.", {"type": "string"}),
        parameter(
            "page",
            "Page number, from 1.",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
        ),
        parameter(
            "per_page",
            "Results per page.",
            {"type": "integer", "minimum": 1, "maximum": 100, "default": API_PAGE_SIZE},
        ),
        parameter("full", "Fully nested results.", {"type": "boolean"}),
        parameter("format", "Only `json`.", {"type": "string", "enum": ["json"]}),
        parameter("country", "ISO 3166-1 code of a location.", {"type": "string"}),
        parameter("city", "City of a location (whole name).", text),
        parameter("lang", "ISO 639-1 code of a language it works in.", {"type": "string"}),
        parameter("target_group", "A target group of one of its services.", text),
        parameter("service", "Words in the name of one of its services.", text),
    ]
    by_org = [
        parameter("organization_id", "Of this organisation.", {"type": "string"}),
        parameter("taxonomy_term_id", "With this taxonomy term.", {"type": "string"}),
        parameter("taxonomy_id", "With a term of this taxonomy.", {"type": "string"}),
        parameter("modified_after", "Modified on or after (ISO 8601).", {"type": "string"}),
    ]

    def answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    def listed(item: str) -> dict[str, Any]:
        contents = {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}
        return {"allOf": [ref["Page"]], "properties": {"contents": contents}}

    def one(item: str, what: str) -> dict[str, Any]:
        path_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
        return {
            "get": {
                "summary": f"One {what}.",
                "parameters": [path_id],
                "responses": {
                    "200": answer(f"The {what}.", {"$ref": f"#/components/schemas/{item}"}),
                    "404": answer("No such id (`not_found`).", ref["Error"]),
                },
            }
        }

    def many(item: str, what: str, parameters: list) -> dict[str, Any]:
        return {
            "get": {
                "summary": f"A page of {what}.",
                "parameters": parameters,
                "responses": {
                    "200": answer(f"A page of {what}.", listed(item)),
                    "400": answer("A parameter cannot be used (`bad_parameter`).", ref["Error"]),
                },
            }
        }

    paths = {
        f"{API}/": {
            "get": {
                "summary": "The HSDS version and profile of this API.",
                "responses": {
                    "200": answer("About this API.", {"$ref": "#/components/schemas/About"})
                },
            }
        },
        f"{API}/organizations": many("Organization", "organisations", listing),
        f"{API}/organizations/{{id}}": one("Organization", "organisation"),
        f"{API}/services": many("Service", "services", listing + by_org),
        f"{API}/services/{{id}}": one("Service", "service"),
        f"{API}/service_at_locations": many(
            "ServiceAtLocation", "services at locations", listing + by_org
        ),
        f"{API}/service_at_locations/{{id}}": one("ServiceAtLocation", "service at a location"),
        f"{API}/taxonomies": many("Taxonomy", "taxonomies", listing[:6]),
        f"{API}/taxonomies/{{id}}": one("Taxonomy", "taxonomy"),
        f"{API}/taxonomy_terms": many("TaxonomyTerm", "taxonomy terms", listing[:6]),
        f"{API}/taxonomy_terms/{{id}}": one("TaxonomyTerm", "taxonomy term"),
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "mentornet European directory API",
            "version": "2.0.0",
            "summary": "Read-only search over the federated European directory of mentoring "
            "organisations, after the Open Referral HSDS 3.0 API reference.",
            "description": "Organisations as published by mentoring networks in their Matrix "
            "directory rooms (HSDS 3.0 records), each with its sources. No personal data.",
            "license": {"name": "EUPL-1.2", "identifier": "EUPL-1.2"},
        },
        "servers": [{"url": (config.web.public_url or "/").rstrip("/") or "/"}],
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _envelopes() -> dict[str, Any]:
    """The schemas around the records: page, error, provenance, the API's self-description."""
    string = {"type": "string"}
    return {
        "Page": {
            "type": "object",
            "description": "A page of results, as in the HSDS 3.0 API.",
            "required": [
                "total_items",
                "total_pages",
                "page_number",
                "size",
                "first_page",
                "last_page",
                "empty",
                "contents",
            ],
            "properties": {
                "total_items": {"type": "integer", "minimum": 0},
                "total_pages": {"type": "integer", "minimum": 0},
                "page_number": {"type": "integer", "minimum": 1},
                "size": {"type": "integer", "minimum": 0},
                "first_page": {"type": "boolean"},
                "last_page": {"type": "boolean"},
                "empty": {"type": "boolean"},
                "total_items_exact": {
                    "type": "boolean",
                    "description": "mentornet extension: false when very many match; then "
                    "`total_items` and `total_pages` are lower bounds",
                },
                "contents": {"type": "array"},
            },
        },
        "Source": {
            "type": "object",
            "description": "Provenance: one directory listing, a Matrix state event.",
            "required": [
                "network",
                "homeserver",
                "room_id",
                "event_id",
                "org_id",
                "origin_ts",
                "published_at",
            ],
            "properties": {
                "network": string,
                "homeserver": string,
                "room_id": string,
                "event_id": string,
                "org_id": string,
                "origin_ts": {"type": "integer"},
                "published_at": {"type": "string", "format": "date-time"},
            },
        },
        "About": {
            "type": "object",
            "required": ["version", "profile", "openapi_url"],
            "properties": {
                "version": string,
                "profile": {"type": "string", "format": "uri"},
                "openapi_url": {"type": "string"},
            },
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": ["bad_parameter", "not_found"]},
                        "parameter": string,
                        "message": string,
                    },
                }
            },
        },
    }
