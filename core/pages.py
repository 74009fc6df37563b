"""The web pages' shared parts: Jinja2 templates (through aiohttp-jinja2, autoescaped), one
stylesheet, the home page, the reader's language, and highlighting of searched words.

    GET /                       home: links to the directory and the resources
    GET /static/mentornet.css   the one stylesheet of every page

`setup_pages(app)` installs the template environment on an aiohttp application and
`page_routes()` gives the two routes above; the directory and resource pages render their
templates (`core/templates/`) with `render()`. Texts come from the catalog: templates call
`t("key")`, bound to the page's language (a key without `web.` is the page's own, e.g.
`web.dir.<key>`). Record text is escaped by autoescape; `mark()` escapes first, then marks the
searched words, so nothing a network publishes can become markup. No scripts anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from babel.dates import format_date
from babel.numbers import format_decimal
from markupsafe import Markup, escape

from core.i18n import LANGUAGE_NAMES, default_catalog
from core.languages import LANGUAGES
from core.text import fold, german_variant, search_stem  # the search's rule: marks what matched

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STYLESHEET = HERE / "static" / "mentornet.css"
CSS_PATH = "/static/mentornet.css"
UI_LANGUAGES = LANGUAGES
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


# --- language --------------------------------------------------------------------------------


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


def href(path: str, params: Mapping[str, str] | None = None) -> str:
    return f"{path}?{urlencode(params)}" if params else path


@dataclass(frozen=True)
class Ui:
    """The reader's language, whether they chose it in the URL (then links keep it), the page
    asked for (to offer it in the other languages) and the prefix of the page's own texts."""

    language: str
    chosen: bool
    path: str = "/directory"
    current: tuple[tuple[str, str], ...] = ()
    texts: str = "web.dir"

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
        """A text in the page's language; `key` is the page's own unless it starts `web.`."""
        full = key if key.startswith("web.") else f"{self.texts}.{key}"
        return default_catalog().string(self.language, full, **values)

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.language)

    def date(self, moment: datetime) -> str:
        """`9 October 2025`, `9. Oktober 2025`, `9 octobre 2025`."""
        return format_date(moment, format="long", locale=self.language)


def ui_for(request: web.Request, texts: str = "web.dir") -> Ui:
    chosen = request.query.get("hl")
    language = pick_language(request.headers.get("Accept-Language"), chosen)
    current = tuple((key, request.query[key]) for key in dict.fromkeys(request.query))
    return Ui(language, chosen == language, request.rel_url.raw_path, current, texts)


def when(origin_ts: int) -> datetime:
    return datetime.fromtimestamp(origin_ts / 1000, UTC)


def iso(origin_ts: int) -> str:
    return when(origin_ts).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- highlighting ----------------------------------------------------------------------------

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class SearchWords:
    """What a search matches, as `mark()` looks for it (see `core.text.search_stem`): words
    that begin with one of `prefixes`, and the `exact` words (all folded)."""

    prefixes: tuple[str, ...] = ()
    exact: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.prefixes or self.exact)

    def match(self, word: str) -> bool:
        """Whether the search matches this word of a record (or its German variant)."""
        forms = {fold(word), fold(german_variant(word))}
        return any(form in self.exact or form.startswith(self.prefixes) for form in forms)


def search_words(text: str | None) -> SearchWords:
    """What a search (its words of two letters or more) matches, as `mark()` looks for it."""
    stems = [search_stem(word) for word in _WORD.findall(fold(text or "")) if len(word) >= 2]
    return SearchWords(
        tuple(dict.fromkeys(stem for stem, prefix in stems if prefix)),
        frozenset(stem for stem, prefix in stems if not prefix),
    )


def mark(text: Any, words: SearchWords | None = None) -> Markup:
    """`text` escaped, each word the search matched (`search_words`) in <mark>."""
    text = "" if text is None else str(text)
    if not words:
        return escape(text)
    parts: list[Markup] = []
    last = 0
    for found in _WORD.finditer(text):
        if words.match(found.group()):
            parts.append(escape(text[last : found.start()]))
            parts.append(Markup("<mark>%s</mark>") % found.group())
            last = found.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


# --- templates and responses -----------------------------------------------------------------


def environment_options() -> dict[str, Any]:
    return {
        "loader": jinja2.FileSystemLoader(TEMPLATES),
        "autoescape": True,
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
    }


def configure(env: jinja2.Environment) -> jinja2.Environment:
    env.filters["mark"] = mark
    env.globals["languages"] = LANGUAGE_NAMES
    env.globals["css"] = CSS_PATH
    return env


def setup_pages(app: web.Application) -> jinja2.Environment:
    """The template environment for `app` (aiohttp-jinja2, autoescape on)."""
    return configure(aiohttp_jinja2.setup(app, **environment_options()))


def standalone_environment() -> jinja2.Environment:
    """The same environment without an application (to render a view in a unit test)."""
    return configure(jinja2.Environment(**environment_options()))


def render(
    request: web.Request,
    template: str,
    ui: Ui,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> web.Response:
    """`template` as a page in the reader's language, with the site's security headers."""
    page = aiohttp_jinja2.render_string(template, request, {"ui": ui, "t": ui.t, **context})
    return html_response(page, status=status, language=ui.language)


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


# --- the home page and the stylesheet --------------------------------------------------------


def page_routes() -> list[web.RouteDef]:
    return [web.get("/", home), web.get(CSS_PATH, stylesheet)]


async def home(request: web.Request) -> web.Response:
    ui = ui_for(request, texts="web.site")
    served = {resource.canonical for resource in request.app.router.resources()}
    sections = [path for path in ("/directory", "/resources") if path in served]
    return render(request, "home.html", ui, {"section": "home", "sections": sections})


async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(
        body=STYLESHEET.read_bytes(),
        content_type="text/css",
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
