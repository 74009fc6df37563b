"""The directory on the web: a search page and a page per organisation.

    GET /directory                    search box, filters, results, paging, entries per country
    GET /directory/org/{id}           one organisation and where it is listed

`directory_routes(directory, config)` returns them for `DirectoryBot.routes()`; the JSON API
(`/api/v1/…`) is in `directory.api`, the home page and the stylesheet in `core.pages`.

This module parses the request and prepares plain values; the markup is in the Jinja2
templates `core/templates/directory.html` and `organization.html` (autoescaped), so record
text (names, descriptions: anything a network publishes) can never become markup, and only
http(s) websites become links. Searched words are marked in the results (escaped first). The
pages work without JavaScript and fetch nothing from elsewhere but the site's stylesheet; the
chart is inline SVG. Texts are catalog messages (`web.dir.*`) in every interface language,
chosen by `Accept-Language` or `?hl=`. What is served is what was published: never contacts,
never who sent a listing; the organisation page says in words who listed it and when, the
Matrix ids folded away.

Each request runs one search (or one lookup); the per-country numbers come from
`Directory.stats()`, cached for STATS_SECONDS.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from babel.numbers import format_decimal
from markupsafe import Markup, escape

from core.config import Config
from core.i18n import country_name, default_catalog, language_name, language_names
from core.pages import (
    Ui,
    href,
    iso,
    pick_language,
    render,
    search_words,
    ui_for,
    when,
)
from directory.codes import COUNTRIES, COUNTRY_HINTS
from directory.codes import LANGUAGES as LANGUAGE_CODES
from directory.hsds import Organization, fold
from directory.store import MAX_PER_PAGE, Directory, SearchPage, ShownOrganization

__all__ = ["Ui", "href", "pick_language"]

PAGE_SIZE = 20  # results per page on the web page
MAX_PAGE = 1_000_000
MAX_QUERY = 200  # characters of free text
MAX_FILTER = 100  # characters of a city, target group or service filter
CHART_BARS = 20  # countries drawn in the chart; the table lists them all
STATS_SECONDS = 10.0
LINE_CHARACTERS = 200  # of a description shown on a result card

# --- texts -----------------------------------------------------------------------------------

# The page texts are catalog messages `web.dir.<key>` (bots/strings/web.yaml and locale/).


def text(language: str, key: str, **values: Any) -> str:
    """A fixed text of the page in `language` (`web.dir.<key>`, or any `web.` key), with
    `values` filled in (escaped later); a number among them chooses the plural form and is
    written the language's way."""
    full = key if key.startswith("web.") else f"web.dir.{key}"
    return default_catalog().string(language, full, **values)


def number(value: int, language: str) -> str:
    """`12,345` in English, `12.345` in German, `12 345` in French."""
    return format_decimal(value, locale=language)


# --- parameters ------------------------------------------------------------------------------


class BadParameter(Exception):
    """A query parameter that cannot be used; its message in any interface language."""

    def __init__(self, parameter: str, key: str, **values: Any) -> None:
        super().__init__(parameter)
        self.parameter, self.key, self.values = parameter, key, values

    def message(self, language: str = "en") -> str:
        return f"{self.parameter}: {text(language, self.key, **self.values)}"


@dataclass(frozen=True)
class Query:
    """A search as asked for on the page or the API; values already checked."""

    text: str | None = None
    country: str | None = None
    city: str | None = None
    language: str | None = None
    target_group: str | None = None
    service: str | None = None
    page: int = 1
    per_page: int = PAGE_SIZE

    def filters(self) -> dict[str, str | None]:
        """The search's filters, as `Directory.search` and `match_query` take them."""
        return {
            "country": self.country,
            "city": self.city,
            "language": self.language,
            "target_group": self.target_group,
            "service": self.service,
        }

    @property
    def filtered(self) -> bool:
        return bool(self.text) or any(self.filters().values())

    def params(self, **changes: Any) -> dict[str, str]:
        """The URL parameters that ask for this search (page 1 and empty values left out)."""
        values = {
            "q": self.text,
            "country": self.country,
            "city": self.city,
            "lang": self.language,
            "target_group": self.target_group,
            "service": self.service,
            "page": self.page,
        } | changes
        return {
            key: str(value)
            for key, value in values.items()
            if value not in (None, "") and not (key == "page" and value == 1)
        }

    def run(self, directory: Directory) -> SearchPage:
        return directory.search(
            self.text,
            **self.filters(),
            page=self.page,
            per_page=self.per_page,
        )


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]{1,9}")


def parse_query(
    params: Mapping[str, str], *, per_page: int = PAGE_SIZE, allow_per_page: bool = True
) -> Query:
    """The search in URL parameters (`q` or its HSDS name `search`, filters, paging).

    Empty values count as not given (a form sends its empty fields); anything else that is
    not usable raises BadParameter naming the parameter. Unknown parameters are ignored.
    """
    values = read_params(
        params,
        ("q", "search", "country", "city", "lang", "target_group", "service", "page", "per_page"),
    )
    if values["q"] and values["search"]:
        raise BadParameter("search", "err.both")
    words = values["q"] or values["search"]
    if words and len(words) > MAX_QUERY:
        raise BadParameter("q" if values["q"] else "search", "err.too_long", max=MAX_QUERY)
    for name in ("city", "target_group", "service"):
        if values[name] and len(values[name] or "") > MAX_FILTER:
            raise BadParameter(name, "err.too_long", max=MAX_FILTER)
    return Query(
        text=words,
        country=_country(values["country"]),
        city=values["city"],
        language=_language(values["lang"]),
        target_group=values["target_group"],
        service=values["service"],
        page=number_param("page", values["page"], 1, MAX_PAGE),
        per_page=(
            number_param("per_page", values["per_page"], per_page, MAX_PER_PAGE)
            if allow_per_page
            else per_page
        ),
    )


def read_params(params: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str | None]:
    """One value per name, stripped; empty counts as not given (a form sends its empty
    fields). A repeated parameter or one with control characters raises BadParameter."""
    values: dict[str, str | None] = {}
    getall = getattr(params, "getall", None)
    for name in names:
        given = getall(name, []) if getall else ([params[name]] if name in params else [])
        if len(given) > 1:
            raise BadParameter(name, "err.repeated")
        value = given[0].strip() if given else ""
        if _CONTROL.search(value):
            raise BadParameter(name, "err.control")
        values[name] = value or None
    return values


def number_param(name: str, value: str | None, default: int, highest: int) -> int:
    """A whole number from 1 to `highest` (`default` if not given), else BadParameter."""
    if value is None:
        return default
    number = int(value) if _DIGITS.fullmatch(value) else 0
    if not 1 <= number <= highest:
        raise BadParameter(name, "err.number", max=highest)
    return number


def _country(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.upper()
    if code in COUNTRIES:
        return code
    shown = json.dumps(value[:20], ensure_ascii=False)
    if code in COUNTRY_HINTS:
        raise BadParameter("country", "err.country_hint", value=shown, hint=COUNTRY_HINTS[code])
    raise BadParameter("country", "err.country", value=shown)


def _language(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.lower()
    if code in LANGUAGE_CODES:
        return code
    raise BadParameter("lang", "err.lang", value=json.dumps(value[:20], ensure_ascii=False))


# --- links -------------------------------------------------------------------------------------


def safe_href(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) address with a host, else None (not to be linked)."""
    if not url or _CONTROL.search(url) or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def website_link(url: str | None) -> Markup | None:
    """A link to an http(s) website (nofollow: it is someone else's word), else plain text."""
    if not url:
        return None
    target = safe_href(url)
    if not target:
        return escape(url)
    return Markup('<a href="{}" rel="nofollow noopener">{}</a>').format(target, url)


def org_path(org_id: str) -> str:
    return "/directory/org/" + quote(org_id, safe="")


def api_org_path(org_id: str) -> str:
    return "/api/v1/organizations/" + quote(org_id, safe="")


# --- the routes ------------------------------------------------------------------------------


def directory_routes(directory: Directory, config: Config) -> list[web.RouteDef]:
    """The directory's web pages and API, for `DirectoryBot.routes()`."""
    return DirectoryWeb(directory, config).routes()


class DirectoryWeb:
    """Request handlers over one Directory."""

    def __init__(self, directory: Directory, config: Config) -> None:
        self.directory = directory
        self.config = config
        self._stats: tuple[float, dict[str, Any]] | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/directory", self.search_page),
            web.get("/directory/", self.slash),
            web.get("/directory/org/{org_id:.+}", self.organization_page),
        ]

    def stats(self) -> dict[str, Any]:
        """`Directory.stats()`, at most STATS_SECONDS old."""
        now = time.monotonic()
        if self._stats is None or now - self._stats[0] > STATS_SECONDS:
            self._stats = (now, self.directory.stats())
        return self._stats[1]

    async def slash(self, request: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect(href("/directory", request.query))

    async def search_page(self, request: web.Request) -> web.Response:
        ui = ui_for(request)
        try:
            query = parse_query(request.query, allow_per_page=False)
            error = None
        except BadParameter as bad:
            query, error = _lenient_query(request.query), bad
        result = None if error else query.run(self.directory)
        view = SearchView(ui, query, result, error, self.stats())
        return render(request, "directory.html", ui, view.context(), status=400 if error else 200)

    async def organization_page(self, request: web.Request) -> web.Response:
        ui = ui_for(request)
        shown = self.directory.get(request.match_info["org_id"])
        if shown is None:
            return render(request, "not_found.html", ui, {"section": "directory"}, status=404)
        return render(request, "organization.html", ui, organization_context(ui, shown))


def page_count(result: SearchPage) -> tuple[int, bool]:
    """How many pages there are (at least, if the total is not exact), and whether a page
    follows this one."""
    pages = math.ceil(result.total / result.per_page)
    if result.exact_total:
        return pages, result.page < pages
    return pages, len(result.items) == result.per_page


def api_error(status: int, code: str, message: str, **details: str) -> web.Response:
    error = {"code": code, **details, "message": message}
    return json_response({"error": error}, status=status, cache="no-store")


def _dumps(value: Any, indent: int | None = None) -> str:
    separators = (",", ": ") if indent else (",", ":")
    return json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)


def json_response(
    body: Any, *, status: int = 200, cache: str = "public, max-age=60", indent: int | None = None
) -> web.Response:
    """Read-only open data as JSON, with the API's cache and security headers."""
    return web.Response(
        text=_dumps(body, indent),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers={
            "Cache-Control": cache,
            "Access-Control-Allow-Origin": "*",  # open data, read-only, no credentials
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer",
        },
    )


def _lenient_query(params: Mapping[str, str]) -> Query:
    """What a refused search asked for, to show again in the form (nothing is searched)."""
    first = {
        name: _CONTROL.sub("", params.get(name) or "").strip()[:MAX_QUERY] or None
        for name in params
    }
    return Query(
        text=first.get("q") or first.get("search"),
        country=first.get("country"),
        city=first.get("city"),
        language=first.get("lang"),
        target_group=first.get("target_group"),
        service=first.get("service"),
    )


# --- what the templates show -------------------------------------------------------------------

_ERROR_LABELS = {
    "q": "label_q",
    "search": "label_q",
    "country": "label_country",
    "city": "label_city",
    "lang": "label_lang",
    "target_group": "label_target_group",
    "service": "label_service",
}


class SearchView:
    """The search page's values: the form, the result cards, paging and the countries chart."""

    def __init__(
        self,
        ui: Ui,
        query: Query,
        result: SearchPage | None,
        error: BadParameter | None,
        stats: dict[str, Any],
    ) -> None:
        self.ui, self.query, self.result, self.error, self.stats = ui, query, result, error, stats

    def context(self) -> dict[str, Any]:
        """What `directory.html` renders."""
        ui, query, error = self.ui, self.query, self.error
        invalid = "q" if error and error.parameter == "search" else error and error.parameter
        return {
            "ui": ui,
            "t": ui.t,
            "section": "directory",
            "alternate": None if error else href("/api/v1/organizations", query.params()),
            "summary": ui.t(
                "summary",
                organizations=number(self.stats["organizations"], ui.language),
                networks=len(self.stats["by_network"]),
            ),
            "error": error and self._error_message(),
            "invalid": invalid,
            "filters_open": any(query.filters().values()) or (invalid not in (None, "q")),
            "query": query,
            "max_query": MAX_QUERY,
            "max_filter": MAX_FILTER,
            "countries": self.countries(),
            "language_codes": sorted(
                ((code, language_name(code, ui.language, capital=True)) for code in LANGUAGE_CODES),
                key=lambda item: fold(item[1]),
            ),
            "words": search_words(query.text),
            **self.results(),
            "chart": self.chart(),
        }

    def _error_message(self) -> str:
        assert self.error is not None
        label = _ERROR_LABELS.get(self.error.parameter)
        name = self.ui.t(label) if label else self.error.parameter
        return f"{name}: {text(self.ui.language, self.error.key, **self.error.values)}"

    def countries(self) -> list[tuple[str, str]]:
        ui, query = self.ui, self.query
        counts = dict(self.stats["by_country"])
        if query.country and query.country in COUNTRIES:
            counts.setdefault(query.country, 0)
        names = {code: country_name(code, ui.language) for code in counts}
        return [
            (code, f"{names[code]} ({number(counts[code], ui.language)})")
            for code in sorted(counts, key=lambda code: fold(names[code]))
        ]

    def results(self) -> dict[str, Any]:
        result, ui = self.result, self.ui
        if result is None:
            return {"result": None}
        first = (result.page - 1) * result.per_page + 1
        if not result.exact_total:
            found = ui.t("found_more", total=number(result.total, ui.language))
        else:
            found = ui.t("found", total=result.total)
        if not result.total:
            note = ui.t("none")
        elif not result.items:
            note = ui.t("beyond")
        else:
            last = first + len(result.items) - 1
            note = ui.t("showing", first=number(first, ui.language), last=number(last, ui.language))
        return {
            "result": result,
            "found": found,
            "note": note,
            "first": first,
            "cards": [card(shown, ui.language) for shown in result.items],
            "paging": self.paging(result),
        }

    def paging(self, result: SearchPage) -> list[dict[str, Any]]:
        pages, more = page_count(result)
        if not more and result.page == 1:
            return []
        ui, query = self.ui, self.query

        def link(page: int, key: str, rel: str | None = None) -> dict[str, Any]:
            target = ui.link("/directory", query.params(page=page))
            return {"text": ui.t(key), "href": target, "rel": rel, "current": False}

        n = ui.number
        current = {
            "text": ui.t("page_of", page=n(result.page), pages=n(pages))
            if result.exact_total
            else ui.t("page_n", page=n(result.page)),
            "current": True,
        }
        entries = [
            result.page > 2 and link(1, "first_page"),
            result.page > 1 and link(min(result.page - 1, max(pages, 1)), "previous", "prev"),
            current,
            more and link(result.page + 1, "next", "next"),
            result.exact_total and result.page < pages - 1 and link(pages, "last_page"),
        ]
        return [entry for entry in entries if entry]

    def chart(self) -> dict[str, Any] | None:
        """The horizontal bar chart (inline SVG with a title, a description and a label per
        bar) of the countries with most entries, and the table of all."""
        ui, language = self.ui, self.ui.language
        counts: dict[str, int] = self.stats["by_country"]
        if not counts:
            return None
        rows = list(counts.items())
        shown = rows[:CHART_BARS]
        label_width, bar_width, row, top = 190, 330, 24, 4
        highest = max(count for _, count in shown) or 1
        bars = []
        for index, (code, count) in enumerate(shown):
            width = max(1.0, bar_width * count / highest)
            name = country_name(code, language)
            bars.append(
                {
                    "y": top + index * row,
                    "width": f"{width:.1f}",
                    "label": name if len(name) <= 24 else name[:23] + "…",
                    "count": number(count, language),
                    "count_x": f"{label_width + width + 6:.1f}",
                }
            )
        more = len(rows) > len(shown)
        return {
            "height": top * 2 + row * len(shown),
            "label_width": label_width,
            "row": row,
            "bars": bars,
            "title": ui.t("chart_title_top", count=len(shown)) if more else ui.t("chart_title"),
            "description": ", ".join(
                f"{country_name(code, language)}: {number(count, language)}"
                for code, count in shown
            ),
            "caption": more and ui.t("chart_caption", count=len(shown), all=len(rows)),
            "rows": [
                {
                    "name": country_name(code, language),
                    "href": ui.link("/directory", {"country": code}),
                    "count": number(count, language),
                }
                for code, count in rows
            ],
        }


def card(shown: ShownOrganization, language: str) -> dict[str, Any]:
    """A result card: name, one line of description, services, languages, place, website."""
    org = shown.organization
    line = (org.description or "").strip().split("\n", 1)[0]
    if len(line) > LINE_CHARACTERS:
        line = line[: LINE_CHARACTERS - 1].rstrip() + "…"
    return {
        "path": org_path(shown.id),
        "name": org.name,
        "line": line,
        "services": ", ".join(dict.fromkeys(service.name for service in org.services)),
        "languages": language_names(org.languages, language),
        "place": place(org, language),
        "website": org.website,
        "href": safe_href(org.website),
        "networks": ", ".join(networks(shown)),
    }


def place(org: Organization, language: str) -> str:
    country = org.country
    parts = [org.city, country_name(country, language) if country else None]
    return ", ".join(part for part in parts if part)


def networks(shown: ShownOrganization) -> list[str]:
    return list(dict.fromkeys(source.network for source in shown.sources))


def organization_context(ui: Ui, shown: ShownOrganization) -> dict[str, Any]:
    """What `organization.html` renders: the record, and in words who listed it and when."""
    org, lang = shown.organization, ui.language
    email = None
    if org.email:
        mailto = "mailto:" + quote(org.email, safe="@+")
        email = Markup('<a href="{}">{}</a>').format(mailto, org.email)
    facts = [
        ("place", place(org, lang)),
        ("website", website_link(org.website)),
        ("email", email),
        ("phones", ", ".join(phone.number for phone in org.phones)),
        ("languages", language_names(org.languages, lang)),
        ("legal_status", org.legal_status),
        ("year", org.year_incorporated),
    ]
    services = [
        {
            "name": service.name,
            "description": service.description,
            "facts": _facts(
                ui,
                [
                    ("target_groups", ", ".join(service.target_groups)),
                    (
                        "languages",
                        language_names(service.language_codes, lang),
                    ),
                    ("eligibility", service.eligibility_description),
                    ("fees", service.fees_description),
                ],
            ),
        }
        for service in org.services
    ]
    sources = [
        {
            "sentence": ui.t(
                "listed_on",
                network=source.network,
                server=source.homeserver,
                date=ui.date(when(source.origin_ts)),
            ),
            "network": source.network,
            "homeserver": source.homeserver,
            "room_id": source.room_id,
            "event_id": source.event_id,
            "iso": iso(source.origin_ts),
            "utc": when(source.origin_ts).strftime("%Y-%m-%d %H:%M UTC"),
        }
        for source in shown.sources
    ]
    return {
        "section": "directory",
        "alternate": api_org_path(shown.id),
        "api": api_org_path(shown.id),
        "org": org,
        "facts": _facts(ui, facts),
        "locations": [_location(location, lang) for location in org.locations],
        "services": services,
        "sources": sources,
    }


def _facts(ui: Ui, facts: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(ui.t(key), value) for key, value in facts if value]


def _location(loc: Any, language: str) -> str:
    parts = (
        loc.address_1,
        " ".join(p for p in (loc.postal_code, loc.city) if p),
        country_name(loc.country, language) if loc.country else None,
    )
    return ", ".join(part for part in parts if part) or f"{loc.latitude}, {loc.longitude}"
