"""Public resources on the web: a search page and a read-only JSON API.

    GET /resources          search (q, tag, lang), results with their origins, paging
    GET /api/v1/resources   the same as JSON, paged like /api/v1/organizations

Only public resources are served, ours and those other networks posted to the exchange
room, and never who shared them. Markup is built with the directory's `el()`, which escapes
every string; only http(s) links become links, an mxc:// file is shown as text. The page
uses the directory's stylesheet and security headers (CSP without scripts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bots.resources.catalogue import Catalogue, PublicResource
from bots.resources.links import Refused, clean_language, clean_tags
from bots.resources.search import MAX_PER_PAGE, Page
from core.i18n import LANGUAGE_NAMES, default_catalog
from directory.web import (
    CSS,
    Child,
    Html,
    api_error,
    el,
    href,
    html_response,
    json_response,
    pick_language,
)
from directory.web import safe_href as _safe_href

PAGE_SIZE = 20
MAX_QUERY = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def t(language: str, key: str, **values: Any) -> str:
    """A text of the page (catalog message `web.res.<key>`), values filled in, escaped later."""
    return default_catalog().string(language, f"web.res.{key}", **values)


class BadParameter(Exception):
    def __init__(self, parameter: str, key: str, **values: Any) -> None:
        super().__init__(parameter)
        self.parameter, self.key, self.values = parameter, key, values

    def message(self, language: str = "en") -> str:
        return f"{self.parameter}: {t(language, self.key, **self.values)}"


@dataclass(frozen=True)
class Query:
    text: str | None = None
    tag: str | None = None
    language: str | None = None
    page: int = 1
    per_page: int = PAGE_SIZE

    def params(self, **changes: Any) -> dict[str, str]:
        values = {"q": self.text, "tag": self.tag, "lang": self.language, "page": self.page}
        values |= changes
        return {k: str(v) for k, v in values.items() if v and not (k == "page" and v == 1)}

    def run(self, catalogue: Catalogue) -> Page[PublicResource]:
        return catalogue.search(
            self.text,
            tags=[self.tag] if self.tag else [],
            language=self.language,
            page=self.page,
            per_page=self.per_page,
        )


def parse_query(params: Mapping[str, str], *, allow_per_page: bool = True) -> Query:
    """The search in URL parameters; empty values count as not given, unusable ones raise
    BadParameter naming the parameter."""
    values: dict[str, str | None] = {}
    for name in ("q", "tag", "lang", "page", "per_page"):
        given = params.getall(name, []) if hasattr(params, "getall") else [params.get(name, "")]
        if len(given) > 1:
            raise BadParameter(name, "err.repeated")
        value = (given[0] if given else "").strip()
        if _CONTROL.search(value):
            raise BadParameter(name, "err.control")
        values[name] = value or None
    if values["q"] and len(values["q"]) > MAX_QUERY:
        raise BadParameter("q", "err.too_long", max=MAX_QUERY)
    try:
        tag = clean_tags([values["tag"]])[0] if values["tag"] else None
    except Refused:
        raise BadParameter("tag", "err.tag") from None
    try:
        language = clean_language(values["lang"])
    except Refused:
        raise BadParameter("lang", "err.lang") from None
    per_page = _number("per_page", values["per_page"], PAGE_SIZE, MAX_PER_PAGE)
    return Query(
        text=values["q"],
        tag=tag,
        language=language,
        page=_number("page", values["page"], 1, 10_000),
        per_page=per_page if allow_per_page else PAGE_SIZE,
    )


def _number(name: str, value: str | None, default: int, highest: int) -> int:
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= highest:
        raise BadParameter(name, "err.number", max=highest)
    return int(value)


def resources_routes(catalogue: Catalogue) -> list[web.RouteDef]:
    """The page and the API, for `ResourceBot.routes()`."""
    return ResourcesWeb(catalogue).routes()


class ResourcesWeb:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/resources", self.page),
            web.get("/api/v1/resources", self.api),
        ]

    async def api(self, request: web.Request) -> web.Response:
        try:
            query = parse_query(request.query)
        except BadParameter as bad:
            return api_error(400, "bad_parameter", bad.message(), parameter=bad.parameter)
        found = query.run(self.catalogue)
        body = {
            "total_items": found.total,
            "total_pages": found.pages,
            "page_number": found.page,
            "size": len(found.items),
            "first_page": found.page == 1,
            "last_page": found.page >= found.pages,
            "empty": not found.items,
            "contents": [item.as_json() for item in found.items],
        }
        return json_response(body)

    async def page(self, request: web.Request) -> web.Response:
        language = pick_language(request.headers.get("Accept-Language"), request.query.get("hl"))
        try:
            query, error = parse_query(request.query, allow_per_page=False), None
        except BadParameter as bad:
            query, error = Query(), bad
        found = None if error else query.run(self.catalogue)
        body = [
            el("h1", t(language, "heading")),
            error and _error_box(error, language),
            _form(query, language),
            found is not None and _results(found, query, language),
        ]
        page = _layout(language, body)
        return html_response(page, status=400 if error else 200, language=language)


# --- rendering -------------------------------------------------------------------------------


def _layout(language: str, body: list[Child]) -> str:
    head = el(
        "head",
        el("meta", charset="utf-8"),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("title", t(language, "site")),
        el("link", rel="icon", href="data:,"),
        Html(f"<style>{CSS}</style>"),  # the directory's stylesheet: its hash is in the CSP
    )
    switch = [
        el("li", el("a", name, href=href("/resources", {"hl": code}), hreflang=code, lang=code))
        for code, name in LANGUAGE_NAMES.items()
    ]
    page = el(
        "body",
        el(
            "header",
            el("p", el("a", t(language, "site"), href="/resources")),
            el("nav", el("ul", switch)),
        ),
        el("main", body, id="main"),
        el(
            "footer",
            el("p", t(language, "about")),
            el("p", el("a", t(language, "api"), href="/api/v1/resources")),
        ),
    )
    return "<!DOCTYPE html>\n" + el("html", head, page, lang=language) + "\n"


def _error_box(error: BadParameter, language: str) -> Html:
    return el(
        "div",
        el("h2", t(language, "error")),
        el("p", error.message(language)),
        class_="error",
        role="alert",
    )


def _form(query: Query, language: str) -> Html:
    def field(name: str, label: str, value: str | None) -> Html:
        return el(
            "div",
            el("label", t(language, label), for_=f"f-{name}"),
            el("input", id=f"f-{name}", name=name, value=value or ""),
        )

    return el(
        "form",
        el(
            "div",
            field("q", "label_q", query.text),
            field("tag", "label_tag", query.tag),
            field("lang", "label_lang", query.language),
            class_="grid",
        ),
        el("input", type="hidden", name="hl", value=language),
        el("div", el("button", t(language, "submit"), type="submit"), class_="actions"),
        action="/resources",
        method="get",
    )


def _results(found: Page[PublicResource], query: Query, language: str) -> Html:
    if not found.items:
        return el("p", t(language, "none"))
    items = [el("li", _item(item, language)) for item in found.items]
    nav = []
    if found.page > 1:
        params = query.params(page=found.page - 1, hl=language)
        nav.append(el("li", el("a", t(language, "previous"), href=href("/resources", params))))
    if found.page < found.pages:
        params = query.params(page=found.page + 1, hl=language)
        nav.append(el("li", el("a", t(language, "next"), href=href("/resources", params))))
    return el(
        "section",
        el("h2", t(language, "found", total=found.total)),
        el("ol", items, class_="results"),
        nav and el("nav", el("ul", nav), class_="pages"),
    )


def _item(item: PublicResource, language: str) -> list[Child]:
    link = _safe_href(item.url)
    title = el("a", item.title, href=link) if link else item.title
    tags = [
        [el("a", f"#{tag}", href=href("/resources", {"tag": tag, "hl": language})), " "]
        for tag in item.tags
    ]
    facts: list[tuple[str, Child]] = [
        ("tags", tags or "—"),
        ("language", item.language or "—"),
    ]
    if item.mxc:
        facts.append(("file", el("code", f"{item.filename or ''} {item.mxc}".strip())))
    origins = "; ".join(
        f"{o.network} ({o.homeserver}, {o.as_json()['published_at'][:10]})" for o in item.origins
    )
    facts.append(("from", origins))
    return [
        el("h3", title),
        item.description and el("p", item.description, class_="text"),
        el("dl", [[el("dt", t(language, k)), el("dd", v)] for k, v in facts], class_="facts"),
    ]
