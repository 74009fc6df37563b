"""The directory on the web: a search page and a page per organisation.

    GET /directory                    search box, filters, results, paging, entries per country
    GET /directory/org/{id}           one organisation and where it is listed

`directory_routes(directory, config)` returns them for `DirectoryBot.routes()`; the JSON API
(`/api/v1/…`) is in `directory.api`.

Pages are rendered on the server and work without JavaScript. Markup is built with `el()`,
which escapes every string it is given, so record text (names, descriptions: anything a
network publishes) can never become markup; only http(s) websites become links. Nothing is
fetched from elsewhere: the CSS is inline (allowed by its hash in the Content-Security-Policy),
the chart is inline SVG. Texts are catalog messages (`web.dir.*`) in every interface
language, chosen by `Accept-Language` or `?hl=`. What is served is what was published: never
contacts, never who sent a listing.

Each request runs one search (or one lookup); the per-country numbers come from
`Directory.stats()`, cached for STATS_SECONDS.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from aiohttp import web
from babel.numbers import format_decimal

from core.config import Config
from core.i18n import LANGUAGE_NAMES, country_name, default_catalog, language_name
from core.languages import LANGUAGES
from directory.codes import COUNTRIES, COUNTRY_HINTS
from directory.codes import LANGUAGES as LANGUAGE_CODES
from directory.hsds import Organization, fold
from directory.store import MAX_PER_PAGE, Directory, SearchPage, ShownOrganization

PAGE_SIZE = 20  # results per page on the web page
MAX_PAGE = 1_000_000
MAX_QUERY = 200  # characters of free text
MAX_FILTER = 100  # characters of a city, target group or service filter
CHART_BARS = 20  # countries drawn in the chart; the table lists them all
STATS_SECONDS = 10.0
UI_LANGUAGES = LANGUAGES

# --- texts -----------------------------------------------------------------------------------

# The page texts are catalog messages `web.dir.<key>` (bots/strings/web.yaml and locale/).


def text(language: str, key: str, **values: Any) -> str:
    """A fixed text of the page in `language`, with `values` filled in (escaped later); a
    number among them chooses the plural form and is written the language's way."""
    return default_catalog().string(language, f"web.dir.{key}", **values)


def number(value: int, language: str) -> str:
    """`12,345` in English, `12.345` in German, `12 345` in French."""
    return format_decimal(value, locale=language)


def pick_language(accept_language: str | None, override: str | None = None) -> str:
    """`override` (?hl=) if it is an interface language, else the best of them in
    Accept-Language, else English."""
    if override in UI_LANGUAGES:
        return override
    best, best_q = "en", 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().split("-")[0].lower()
        if primary not in UI_LANGUAGES:
            continue
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > best_q:
            best, best_q = primary, weight
    return best


# --- parameters ------------------------------------------------------------------------------


class BadParameter(Exception):
    """A query parameter that cannot be used; the message can be given in en or de."""

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

    @property
    def filtered(self) -> bool:
        return any(
            (self.text, self.country, self.city, self.language, self.target_group, self.service)
        )

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
            country=self.country,
            city=self.city,
            language=self.language,
            target_group=self.target_group,
            service=self.service,
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
    values: dict[str, str | None] = {}
    getall = getattr(params, "getall", None)
    for name in (
        "q",
        "search",
        "country",
        "city",
        "lang",
        "target_group",
        "service",
        "page",
        "per_page",
    ):
        given = getall(name, []) if getall else ([params[name]] if name in params else [])
        if len(given) > 1:
            raise BadParameter(name, "err.repeated")
        value = given[0].strip() if given else ""
        if _CONTROL.search(value):
            raise BadParameter(name, "err.control")
        values[name] = value or None
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
        page=_number("page", values["page"], 1, MAX_PAGE),
        per_page=(
            _number("per_page", values["per_page"], per_page, MAX_PER_PAGE)
            if allow_per_page
            else per_page
        ),
    )


def _number(name: str, value: str | None, default: int, highest: int) -> int:
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


# --- markup ----------------------------------------------------------------------------------


class Html(str):
    """Markup that is safe to insert as it is (made by `el` or `esc`)."""

    __slots__ = ()


Child = Html | str | int | None | Iterable["Child"]
VOID = frozenset({"br", "hr", "img", "input", "link", "meta"})


def esc(value: Any) -> Html:
    return value if isinstance(value, Html) else Html(html.escape(str(value), quote=True))


def el(tag: str, *children: Child, **attributes: Any) -> Html:
    """`<tag attributes>children</tag>`, every string escaped.

    Attribute names drop a trailing `_` and turn `_` into `-` (`class_`, `aria_label`);
    True writes a bare attribute, None and False leave it out.
    """
    attrs = "".join(
        f" {name.rstrip('_').replace('_', '-')}"
        + ("" if value is True else f'="{html.escape(str(value), quote=True)}"')
        for name, value in attributes.items()
        if value is not None and value is not False
    )
    if tag in VOID:
        return Html(f"<{tag}{attrs}>")
    return Html(f"<{tag}{attrs}>{_children(children)}</{tag}>")


def _children(children: Iterable[Child]) -> str:
    parts = []
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, str | int):
            parts.append(esc(child))
        else:
            parts.append(_children(child))
    return "".join(parts)


def safe_href(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) address with a host, else None (not to be linked)."""
    if not url or _CONTROL.search(url) or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def href(path: str, params: Mapping[str, str] | None = None) -> str:
    return f"{path}?{urlencode(params)}" if params else path


def org_path(org_id: str) -> str:
    return "/directory/org/" + quote(org_id, safe="")


def api_org_path(org_id: str) -> str:
    return "/api/v1/organizations/" + quote(org_id, safe="")


def when(origin_ts: int) -> datetime:
    return datetime.fromtimestamp(origin_ts / 1000, UTC)


def iso(origin_ts: int) -> str:
    return when(origin_ts).isoformat(timespec="seconds").replace("+00:00", "Z")


CSS = """
:root{--fg:#1b1f24;--bg:#fff;--muted:#57606a;--line:#d0d7de;
--accent:#0b5cad;--bar:#2f7d4a;--soft:#f3f6f9;--error:#a40e26}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9da7b3;
--line:#3d444d;--accent:#6cb6ff;--bar:#56c27a;--soft:#161b22;--error:#ff8182}}
*{box-sizing:border-box}
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
header,main,footer{max-width:62rem;margin:0 auto;padding:0 1rem}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;justify-content:space-between;
align-items:baseline;padding-top:.75rem;border-bottom:1px solid var(--line)}
header p{margin:.25rem 0;font-weight:600}
header ul{display:flex;gap:.75rem;list-style:none;margin:.25rem 0;padding:0}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,
summary:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.skip{position:absolute;left:-999px}
.skip:focus{left:1rem;top:.5rem;background:var(--bg);padding:.25rem .5rem}
h1{font-size:1.6rem;line-height:1.25;margin:1.25rem 0 .5rem}
h2{font-size:1.25rem;margin:1.75rem 0 .5rem}
h3{font-size:1.05rem;margin:0 0 .25rem}
.muted{color:var(--muted)}
form{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:1rem}
label{display:block;font-weight:600;margin-bottom:.2rem}
.hint{display:block;color:var(--muted);font-size:.85rem;margin-top:.15rem}
input,select,button{font:inherit;width:100%;padding:.45rem .5rem;border:1px solid var(--muted);
border-radius:4px;background:var(--bg);color:var(--fg)}
fieldset{border:0;margin:.75rem 0 0;padding:0}
legend{font-weight:600;padding:0;margin-bottom:.25rem}
.grid{display:grid;gap:.75rem;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr))}
.actions{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;margin-top:.9rem}
button{width:auto;padding:.5rem 1.4rem;background:var(--accent);color:var(--bg);
border-color:var(--accent);font-weight:600;cursor:pointer}
[aria-invalid=true]{border:2px solid var(--error)}
.error{border-left:4px solid var(--error);padding:.25rem .75rem;margin:1rem 0}
.error h2{margin:.25rem 0;font-size:1.05rem;color:var(--error)}
ol.results{list-style:none;padding:0;margin:0}
ol.results>li{border-bottom:1px solid var(--line);padding:.75rem 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.1rem .75rem;margin:.25rem 0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:anywhere}
nav.pages ul{display:flex;flex-wrap:wrap;gap:1rem;list-style:none;padding:0;margin:1rem 0}
.text{white-space:pre-line;overflow-wrap:anywhere}
figure{margin:0}
svg.chart{width:100%;max-width:40rem;height:auto}
svg.chart .bar{fill:var(--bar)}
svg.chart text{fill:var(--fg);font-size:13px}
table{border-collapse:collapse;margin:.5rem 0}
th,td{border-bottom:1px solid var(--line);padding:.25rem .75rem .25rem 0;text-align:left;
vertical-align:top}
td.number,th.number{text-align:right}
.scroll{overflow-x:auto}
code{font-size:.85em;overflow-wrap:anywhere}
footer{margin-top:2.5rem;padding:1rem;border-top:1px solid var(--line);color:var(--muted);
font-size:.9rem}
@media (min-width:48rem){ol.results dl.facts{grid-template-columns:max-content 1fr max-content 1fr}}
@media (max-width:30rem){dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:.3rem}}
"""
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


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

    # --- pages ---------------------------------------------------------------------------

    async def slash(self, request: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect(href("/directory", request.query))

    async def search_page(self, request: web.Request) -> web.Response:
        ui = _ui(request)
        try:
            query = parse_query(request.query, allow_per_page=False)
            error = None
        except BadParameter as bad:
            query, error = _lenient_query(request.query), bad
        result = None if error else query.run(self.directory)
        stats = self.stats()
        page = SearchView(ui, query, result, error, stats).render()
        return html_response(page, status=400 if error else 200, language=ui.language)

    async def organization_page(self, request: web.Request) -> web.Response:
        ui = _ui(request)
        shown = self.directory.get(request.match_info["org_id"])
        if shown is None:
            body = [
                el("h1", ui.t("not_found_title")),
                el("p", ui.t("not_found")),
                el("p", el("a", ui.t("back"), href=ui.link("/directory"))),
            ]
            page = layout(ui, ui.t("not_found_title"), body)
            return html_response(page, status=404, language=ui.language)
        page = layout(
            ui,
            shown.organization.name,
            organization_view(ui, shown),
            alternate=api_org_path(shown.id),
        )
        return html_response(page, language=ui.language)


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


def html_response(page: str, *, status: int = 200, language: str) -> web.Response:
    """A rendered page with the site's security headers."""
    return web.Response(
        text=page,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={
            **SECURITY_HEADERS,
            "Cache-Control": "public, max-age=60" if status == 200 else "no-store",
            "Content-Language": language,
            "Vary": "Accept-Language",
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


# --- rendering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ui:
    """The reader's language, whether they chose it in the URL (then links keep it), and the
    page asked for (to offer it in the other language)."""

    language: str
    chosen: bool
    path: str = "/directory"
    current: tuple[tuple[str, str], ...] = ()

    def switch(self, language: str) -> str:
        """This page in another language."""
        params = {key: value for key, value in self.current if key != "hl"}
        return href(self.path, {**params, "hl": language})

    def link(self, path: str, params: Mapping[str, str] | None = None) -> str:
        params = dict(params or {})
        if self.chosen:
            params["hl"] = self.language
        return href(path, params)

    def t(self, key: str, **values: Any) -> str:
        return text(self.language, key, **values)


def _ui(request: web.Request) -> Ui:
    chosen = request.query.get("hl")
    language = pick_language(request.headers.get("Accept-Language"), chosen)
    current = tuple((key, request.query[key]) for key in dict.fromkeys(request.query))
    return Ui(language, chosen == language, request.rel_url.raw_path, current)


def layout(ui: Ui, title: str, body: Iterable[Child], *, alternate: str | None = None) -> str:
    """A whole page around `body` (the content of <main>)."""
    switch = [
        el(
            "li",
            el(
                "a",
                name,
                href=ui.switch(code),
                hreflang=code,
                lang=code,
                aria_current="true" if code == ui.language else None,
            ),
        )
        for code, name in LANGUAGE_NAMES.items()
    ]
    head = el(
        "head",
        el("meta", charset="utf-8"),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("meta", name="color-scheme", content="light dark"),
        el("title", f"{title} – {ui.t('site')}" if title != ui.t("site") else title),
        el("link", rel="icon", href="data:,"),
        alternate and el("link", rel="alternate", type="application/json", href=alternate),
        Html(f"<style>{CSS}</style>"),
    )
    body_html = el(
        "body",
        el("a", ui.t("skip_main"), href="#main", class_="skip"),
        el(
            "header",
            el("p", el("a", ui.t("site"), href=ui.link("/directory"))),
            el("nav", el("ul", switch), aria_label=ui.t("languages_nav")),
        ),
        el("main", body, id="main"),
        el(
            "footer",
            el("p", ui.t("about")),
            el(
                "p",
                el("a", ui.t("api"), href="/api/v1/organizations"),
                " · ",
                el("a", ui.t("openapi"), href="/api/v1/openapi.json"),
            ),
        ),
    )
    return "<!DOCTYPE html>\n" + el("html", head, body_html, lang=ui.language) + "\n"


class SearchView:
    """The search page: form, results, paging, and the countries chart."""

    def __init__(
        self,
        ui: Ui,
        query: Query,
        result: SearchPage | None,
        error: BadParameter | None,
        stats: dict[str, Any],
    ) -> None:
        self.ui, self.query, self.result, self.error, self.stats = ui, query, result, error, stats

    def render(self) -> str:
        ui = self.ui
        summary = ui.t(
            "summary",
            organizations=number(self.stats["organizations"], ui.language),
            networks=len(self.stats["by_network"]),
        )
        api = None if self.error else href("/api/v1/organizations", self.query.params())
        body = [
            el("h1", ui.t("heading")),
            el("p", summary, class_="muted"),
            self.error and self.error_box(),
            self.form(),
            self.results(),
            self.chart(),
        ]
        return layout(ui, ui.t("site"), body, alternate=api)

    def error_box(self) -> Html:
        assert self.error is not None
        return el(
            "div",
            el("h2", self.ui.t("error_heading"), id="error-heading"),
            el("p", self._error_message(), id="error"),
            class_="error",
            role="alert",
            aria_labelledby="error-heading",
        )

    def _error_message(self) -> str:
        assert self.error is not None
        labels = {
            "q": "label_q",
            "search": "label_q",
            "country": "label_country",
            "city": "label_city",
            "lang": "label_lang",
            "target_group": "label_target_group",
            "service": "label_service",
        }
        label = labels.get(self.error.parameter)
        name = self.ui.t(label) if label else self.error.parameter
        return f"{name}: {text(self.ui.language, self.error.key, **self.error.values)}"

    def _invalid(self, *names: str) -> bool:
        return self.error is not None and self.error.parameter in names

    def _field(
        self,
        name: str,
        label: str,
        value: str | None,
        *,
        hint: str | None = None,
        invalid: bool = False,
        **extra: Any,
    ) -> Html:
        invalid = invalid or self._invalid(name)
        hint_id = f"{name}-hint" if hint else None
        described = " ".join(x for x in (hint_id, "error" if invalid else None) if x) or None
        return el(
            "div",
            el("label", self.ui.t(label), for_=f"f-{name}"),
            el(
                "input",
                id=f"f-{name}",
                name=name,
                value=value or "",
                aria_invalid="true" if invalid else None,
                aria_describedby=described,
                **extra,
            ),
            hint and el("span", hint, class_="hint", id=hint_id),
        )

    def form(self) -> Html:
        ui, query = self.ui, self.query
        countries = dict(self.stats["by_country"])
        if query.country and query.country in COUNTRIES:
            countries.setdefault(query.country, 0)
        options = [el("option", ui.t("any_country"), value="")] + [
            el(
                "option",
                f"{country_name(code, ui.language)} ({number(count, ui.language)})",
                value=code,
                selected=code == query.country,
            )
            for code, count in sorted(
                countries.items(), key=lambda item: fold(country_name(item[0], ui.language))
            )
        ]
        country_invalid = self._invalid("country")
        language_options = [
            el("option", name, value=code)
            for code, name in sorted(
                ((code, language_name(code, ui.language, capital=True)) for code in LANGUAGE_CODES),
                key=lambda item: fold(item[1]),
            )
        ]
        return el(
            "form",
            self._field(
                "q",
                "label_q",
                query.text,
                hint=ui.t("hint_q"),
                invalid=self._invalid("search"),
                type="search",
                maxlength=MAX_QUERY,
            ),
            el(
                "fieldset",
                el("legend", ui.t("filters")),
                el(
                    "div",
                    el(
                        "div",
                        el("label", ui.t("label_country"), for_="f-country"),
                        el(
                            "select",
                            options,
                            id="f-country",
                            name="country",
                            aria_invalid="true" if country_invalid else None,
                            aria_describedby="error" if country_invalid else None,
                        ),
                    ),
                    self._field("city", "label_city", query.city, maxlength=MAX_FILTER),
                    self._field(
                        "lang",
                        "label_lang",
                        query.language,
                        hint=ui.t("hint_lang"),
                        list="language-codes",
                        maxlength=2,
                        autocomplete="off",
                    ),
                    self._field(
                        "target_group",
                        "label_target_group",
                        query.target_group,
                        maxlength=MAX_FILTER,
                    ),
                    self._field("service", "label_service", query.service, maxlength=MAX_FILTER),
                    class_="grid",
                ),
                el("datalist", language_options, id="language-codes"),
            ),
            ui.chosen and el("input", type="hidden", name="hl", value=ui.language),
            el(
                "div",
                el("button", ui.t("submit"), type="submit"),
                query.filtered and el("a", ui.t("reset"), href=ui.link("/directory")),
                class_="actions",
            ),
            method="get",
            action="/directory",
            role="search",
        )

    def results(self) -> Html | None:
        result, ui = self.result, self.ui
        if result is None:
            return None
        first = (result.page - 1) * result.per_page + 1
        total = number(result.total, ui.language)
        if not result.exact_total:
            heading = ui.t("found_more", total=total)
        else:
            heading = ui.t("found", total=result.total)
        if not result.total:
            note = el("p", ui.t("none"))
        elif not result.items:
            note = el("p", ui.t("beyond"))
        else:
            last = first + len(result.items) - 1
            note = el(
                "p",
                ui.t("showing", first=number(first, ui.language), last=number(last, ui.language)),
                class_="muted",
            )
        items = [el("li", self.item(shown)) for shown in result.items]
        return el(
            "section",
            el("h2", heading, id="results"),
            note,
            items and el("ol", items, class_="results", start=first),
            self.paging(result),
            aria_labelledby="results",
        )

    def item(self, shown: ShownOrganization) -> Html:
        ui, org = self.ui, shown.organization
        facts = facts_list(
            [
                ("place", place(org, ui.language)),
                ("languages", ", ".join(language_name(c, ui.language) for c in org.languages)),
                ("website", website_link(org.website)),
                ("listed_by", ", ".join(networks(shown))),
            ],
            ui,
        )
        return el("article", el("h3", el("a", org.name, href=ui.link(org_path(shown.id)))), facts)

    def paging(self, result: SearchPage) -> Html | None:
        pages, more = page_count(result)
        if not more and result.page == 1:
            return None
        ui, query, n = self.ui, self.query, partial(number, language=self.ui.language)

        def link(page: int, key: str, rel: str | None = None) -> Html:
            return el(
                "li",
                el("a", ui.t(key), href=ui.link("/directory", query.params(page=page)), rel=rel),
            )

        entries = [
            result.page > 2 and link(1, "first_page"),
            result.page > 1 and link(min(result.page - 1, max(pages, 1)), "previous", "prev"),
            el(
                "li",
                ui.t("page_of", page=n(result.page), pages=n(pages))
                if result.exact_total
                else ui.t("page_n", page=n(result.page)),
                aria_current="page",
            ),
            more and link(result.page + 1, "next", "next"),
            result.exact_total and result.page < pages - 1 and link(pages, "last_page"),
        ]
        return el("nav", el("ul", entries), class_="pages", aria_label=ui.t("pages"))

    def chart(self) -> Html:
        ui = self.ui
        counts: dict[str, int] = self.stats["by_country"]
        heading = el("h2", ui.t("chart_heading"), id="by-country")
        if not counts:
            return el(
                "section", heading, el("p", ui.t("empty_directory")), aria_labelledby="by-country"
            )
        rows = list(counts.items())
        shown = rows[:CHART_BARS]
        title = (
            ui.t("chart_title_top", count=len(shown))
            if len(rows) > len(shown)
            else ui.t("chart_title")
        )
        table = el(
            "div",
            el(
                "table",
                el("caption", ui.t("chart_heading")),
                el(
                    "thead",
                    el(
                        "tr",
                        el("th", ui.t("col_country"), scope="col"),
                        el("th", ui.t("col_count"), scope="col", class_="number"),
                    ),
                ),
                el(
                    "tbody",
                    [
                        el(
                            "tr",
                            el(
                                "th",
                                el(
                                    "a",
                                    country_name(code, ui.language),
                                    href=ui.link("/directory", {"country": code}),
                                ),
                                scope="row",
                            ),
                            el("td", number(count, ui.language), class_="number"),
                        )
                        for code, count in rows
                    ],
                ),
            ),
            class_="scroll",
        )
        return el(
            "section",
            heading,
            el(
                "figure",
                bar_chart(shown, title, ui.language),
                len(rows) > len(shown)
                and el(
                    "figcaption",
                    ui.t("chart_caption", count=len(shown), all=len(rows)),
                    class_="muted",
                ),
            ),
            el("details", el("summary", ui.t("chart_table")), table),
            aria_labelledby="by-country",
        )


def bar_chart(rows: list[tuple[str, int]], title: str, language: str) -> Html:
    """A horizontal bar chart as inline SVG, with a <title>, a <desc> and a label per bar."""
    label_width, bar_width, row, top = 190, 330, 24, 4
    highest = max(count for _, count in rows) or 1
    height = top * 2 + row * len(rows)
    bars = []
    for index, (code, count) in enumerate(rows):
        y = top + index * row
        width = max(1.0, bar_width * count / highest)
        name = country_name(code, language)
        bars.append(
            el(
                "g",
                el(
                    "text",
                    name if len(name) <= 24 else name[:23] + "…",
                    x=label_width - 8,
                    y=y + 16,
                    text_anchor="end",
                ),
                el(
                    "rect",
                    class_="bar",
                    x=label_width,
                    y=y + 3,
                    width=f"{width:.1f}",
                    height=row - 6,
                ),
                el("text", number(count, language), x=f"{label_width + width + 6:.1f}", y=y + 16),
            )
        )
    description = ", ".join(
        f"{country_name(code, language)}: {number(count, language)}" for code, count in rows
    )
    return el(
        "svg",
        el("title", title, id="chart-title"),
        el("desc", description, id="chart-desc"),
        bars,
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 600 {height}",
        width=600,
        height=height,
        role="img",
        aria_labelledby="chart-title chart-desc",
        class_="chart",
    )


def place(org: Organization, language: str) -> str:
    country = org.country
    parts = [org.city, country_name(country, language) if country else None]
    return ", ".join(part for part in parts if part)


def networks(shown: ShownOrganization) -> list[str]:
    return list(dict.fromkeys(source.network for source in shown.sources))


def website_link(url: str | None) -> Html | str | None:
    """A link to an http(s) website (nofollow: it is someone else's word), else plain text."""
    if not url:
        return None
    target = safe_href(url)
    return el("a", url, href=target, rel="nofollow noopener") if target else url


def facts_list(facts: list[tuple[str, Child]], ui: Ui) -> Html | None:
    entries = [(el("dt", ui.t(key)), el("dd", value)) for key, value in facts if value]
    return el("dl", entries, class_="facts") if entries else None


def organization_view(ui: Ui, shown: ShownOrganization) -> list[Child]:
    org, lang = shown.organization, ui.language
    email = el("a", org.email, href="mailto:" + quote(org.email, safe="@+")) if org.email else None
    facts = facts_list(
        [
            ("place", place(org, lang)),
            ("website", website_link(org.website)),
            ("email", email),
            ("phones", ", ".join(phone.number for phone in org.phones)),
            ("languages", ", ".join(language_name(code, lang) for code in org.languages)),
            ("legal_status", org.legal_status),
            ("year", org.year_incorporated),
        ],
        ui,
    )
    locations = [
        el(
            "li",
            ", ".join(
                part
                for part in (
                    loc.address_1,
                    " ".join(p for p in (loc.postal_code, loc.city) if p),
                    country_name(loc.country, lang) if loc.country else None,
                )
                if part
            )
            or f"{loc.latitude}, {loc.longitude}",
        )
        for loc in org.locations
    ]
    services = [
        el(
            "li",
            el("h3", service.name),
            service.description and el("p", service.description, class_="text"),
            facts_list(
                [
                    ("target_groups", ", ".join(service.target_groups)),
                    (
                        "languages",
                        ", ".join(language_name(c, lang) for c in service.language_codes),
                    ),
                    ("eligibility", service.eligibility_description),
                    ("fees", service.fees_description),
                ],
                ui,
            ),
        )
        for service in org.services
    ]
    sources = el(
        "div",
        el(
            "table",
            el(
                "thead",
                el(
                    "tr",
                    [
                        el("th", ui.t(key), scope="col")
                        for key in (
                            "col_network",
                            "col_homeserver",
                            "col_room",
                            "col_event",
                            "col_published",
                        )
                    ],
                ),
            ),
            el(
                "tbody",
                [
                    el(
                        "tr",
                        el("td", source.network),
                        el("td", source.homeserver),
                        el("td", el("code", source.room_id)),
                        el("td", el("code", source.event_id)),
                        el(
                            "td",
                            el(
                                "time",
                                when(source.origin_ts).strftime("%Y-%m-%d %H:%M UTC"),
                                datetime=iso(source.origin_ts),
                            ),
                        ),
                    )
                    for source in shown.sources
                ],
            ),
        ),
        class_="scroll",
    )
    return [
        el("p", el("a", "← " + ui.t("back"), href=ui.link("/directory"))),
        el("h1", org.name),
        org.alternate_name and el("p", f"{ui.t('also_known')}: {org.alternate_name}"),
        org.description and el("p", org.description, class_="text"),
        facts,
        locations and el("h2", ui.t("locations")),
        locations and el("ul", locations),
        services and el("h2", ui.t("services")),
        services and el("ul", services, class_="services"),
        el("h2", ui.t("sources")),
        el("p", ui.t("sources_intro"), class_="muted"),
        sources,
        el("p", el("a", ui.t("as_json"), href=api_org_path(shown.id), type="application/json")),
    ]
