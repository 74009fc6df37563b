"""Public resources on the web: a search page and a read-only JSON API.

    GET /resources          search (q, tag, lang), results with their origins, paging
    GET /api/v1/resources   the same as JSON, paged like /api/v1/organizations

Only public resources are served, ours and those other networks posted to the exchange
room, and never who shared them. The page is the template `core/templates/resources.html`
(autoescaped, the site's layout, stylesheet and security headers, no scripts); only http(s)
links become links, a file shared in Matrix is shown by its name (its mxc:// address
opens nothing in a browser). Parameters are read as the directory's
(`directory.web.read_params`), texts are catalog messages `web.res.*`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bots.resources.catalogue import Catalogue, PublicResource
from bots.resources.links import Refused, clean_language, clean_tags
from bots.resources.search import MAX_PER_PAGE, Page
from core.i18n import default_catalog, language_name
from core.pages import Ui, href, render, search_words, ui_for, when
from directory.web import (
    BadParameter,
    api_error,
    json_response,
    number_param,
    read_params,
    safe_href,
)

PAGE_SIZE = 20
MAX_QUERY = 200
MAX_PAGE = 10_000


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
    values = read_params(params, ("q", "tag", "lang", "page", "per_page"))
    if values["q"] and len(values["q"]) > MAX_QUERY:
        raise BadParameter("q", "err.too_long", max=MAX_QUERY)
    try:
        tag = clean_tags([values["tag"]])[0] if values["tag"] else None
    except Refused:
        raise BadParameter("tag", "web.res.err.tag") from None
    try:
        language = clean_language(values["lang"])
    except Refused:
        raise BadParameter("lang", "web.res.err.lang") from None
    per_page = number_param("per_page", values["per_page"], PAGE_SIZE, MAX_PER_PAGE)
    return Query(
        text=values["q"],
        tag=tag,
        language=language,
        page=number_param("page", values["page"], 1, MAX_PAGE),
        per_page=per_page if allow_per_page else PAGE_SIZE,
    )


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
        ui = ui_for(request, texts="web.res")
        try:
            query, error = parse_query(request.query, allow_per_page=False), None
        except BadParameter as bad:
            query, error = Query(), bad
        found = None if error else query.run(self.catalogue)
        context = {
            "section": "resources",
            "query": query,
            "max_query": MAX_QUERY,
            "error": error and error.message(ui.language),
            "invalid": error and error.parameter,
            "found": found,
            "words": search_words(query.text),
            "items": [_item(item, ui) for item in found.items] if found else [],
            "paging": _paging(found, query, ui) if found else [],
        }
        return render(request, "resources.html", ui, context, status=400 if error else 200)


def _item(item: PublicResource, ui: Ui) -> dict[str, Any]:
    unnamed = default_catalog().string(ui.language, "res.show.unnamed")
    file = (item.filename or unnamed) if item.mxc else None  # by its name, never its address
    origins = "; ".join(
        f"{o.network} ({o.homeserver}, {ui.date(when(o.origin_ts))})" for o in item.origins
    )
    return {
        "title": item.title,
        "href": safe_href(item.url),
        "description": item.description,
        "tags": item.tags,
        "language": item.language and language_name(item.language, ui.language, capital=True),
        "file": file,
        "origins": origins,
    }


def _paging(found: Page[PublicResource], query: Query, ui: Ui) -> list[tuple[str, str, str]]:
    entries = []
    if found.page > 1:
        target = href("/resources", query.params(page=found.page - 1, hl=ui.language))
        entries.append((ui.t("previous"), target, "prev"))
    if found.page < found.pages:
        target = href("/resources", query.params(page=found.page + 1, hl=ui.language))
        entries.append((ui.t("next"), target, "next"))
    return entries
