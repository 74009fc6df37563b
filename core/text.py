"""Message text: a plain `body` and a sanitised HTML `formatted_body`, made from trusted
Markdown templates into which untrusted values are inserted already escaped."""

from __future__ import annotations

import html
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt

# The HTML subset that the Matrix spec recommends clients render (m.room.message msgtypes).
MATRIX_TAGS = {
    "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "sup", "sub",
    "li", "b", "i", "u", "strong", "em", "s", "code", "hr", "br", "div", "table", "thead",
    "tbody", "tr", "th", "td", "caption", "pre", "span", "details", "summary",
}  # fmt: skip
MATRIX_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}, "code": {"class"}, "span": {"data-mx-color"}}
URL_SCHEMES = {"https", "http", "mailto", "matrix"}

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("strikethrough")


def sanitise(markup: str) -> str:
    """Keep only the tags and attributes Matrix clients render; drop scripts, styles, handlers."""
    return nh3.clean(
        markup,
        tags=MATRIX_TAGS,
        attributes=MATRIX_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=None,
    )


@lru_cache(maxsize=2048)
def _template_html(template: str) -> str:
    """Markdown → HTML for a trusted template; a one-paragraph template stays inline, with
    the spaces it begins or ends with (a fragment such as `" · due {due}"` is joined on)."""
    rendered = _markdown.render(template).strip()
    if rendered.startswith("<p>") and rendered.endswith("</p>") and rendered.count("<p>") == 1:
        lead = " " if template[:1] == " " else ""
        trail = " " if template[-1:] == " " else ""
        rendered = lead + rendered[3:-4] + trail
    return rendered


class _Inserter(string.Formatter):
    """Formats `{name}` fields; `html=True` escapes every value unless it is a `Text`."""

    def __init__(self, for_html: bool) -> None:
        self.for_html = for_html

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Text):
            return value.html if self.for_html else value.body
        formatted = format(value, format_spec)
        return html.escape(formatted, quote=True) if self.for_html else formatted


_PLAIN = _Inserter(for_html=False)
_HTML = _Inserter(for_html=True)


@dataclass(frozen=True)
class Text:
    """A message as both plain text and HTML."""

    body: str
    html: str

    @classmethod
    def render(cls, template: str, values: Mapping[str, Any] | None = None) -> Text:
        """Fill a Markdown template; values are never parsed as Markdown or HTML."""
        values = values or {}
        return cls(
            body=_PLAIN.vformat(template, (), values),
            html=_HTML.vformat(_template_html(template), (), values),
        )

    @classmethod
    def plain(cls, value: str) -> Text:
        """Untrusted text shown as it is."""
        return cls(body=value, html=html.escape(value, quote=True))

    @classmethod
    def link(cls, url: str, label: str) -> Text:
        """A link shown by its label (in clients that render HTML), not by its address: a
        matrix.to address is all room and event ids. The plain body keeps the address."""
        return cls(
            body=url, html=f'<a href="{html.escape(url, quote=True)}">{html.escape(label)}</a>'
        )

    @classmethod
    def join(cls, parts: Iterable[Text], separator: str = "\n") -> Text:
        """Parts one after another; with the default separator each becomes its own line."""
        parts = list(parts)
        html_separator = "<br>\n" if separator == "\n" else html.escape(separator)
        return cls(
            body=separator.join(part.body for part in parts),
            html=html_separator.join(part.html for part in parts),
        )

    @classmethod
    def bullets(cls, items: Iterable[Text]) -> Text:
        items = list(items)
        return cls(
            body="\n".join(f"- {item.body}" for item in items),
            html="<ul>" + "".join(f"<li>{item.html}</li>" for item in items) + "</ul>",
        )

    def __add__(self, other: Text) -> Text:
        return Text.join([self, other])

    def content(self, msgtype: str = "m.notice") -> dict[str, Any]:
        """The `m.room.message` content for this text."""
        return {
            "msgtype": msgtype,
            "body": self.body,
            "format": "org.matrix.custom.html",
            "formatted_body": sanitise(self.html),
        }


def fold(text: str) -> str:
    """Casefolded, without diacritics, whitespace collapsed: `  Genève ` → `geneve` (how the
    directory's search compares words, and how the pages mark what matched)."""
    if text.isascii():
        return " ".join(text.casefold().split())
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


# A searched word of PREFIX_LONG letters or more matches every word that begins with its
# first PREFIX_LONG letters (`mentoring` finds `mentors`), one of PREFIX_SHORT or more those
# beginning with its first PREFIX_SHORT, a shorter one only itself: the rule of the directory's
# and the resources' search (FTS5 prefix queries) and of the pages' highlighting.
PREFIX_SHORT, PREFIX_LONG = 4, 6
_GERMAN = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ẞ": "SS"}
)


def search_stem(word: str) -> tuple[str, bool]:
    """What a searched word matches: (the beginning of every match, True), or (the word
    itself, False) for a word shorter than PREFIX_SHORT."""
    if len(word) >= PREFIX_LONG:
        return word[:PREFIX_LONG], True
    if len(word) >= PREFIX_SHORT:
        return word[:PREFIX_SHORT], True
    return word, False


def german_variant(text: str) -> str:
    """`München Straße` → `Muenchen Strasse`: what someone without umlauts types."""
    return text.translate(_GERMAN)


def shorten(value: str, limit: int) -> str:
    """Cut `value` to at most `limit` characters, marking the cut."""
    return value if len(value) <= limit else value[: max(limit - 1, 0)] + "…"


def without_reply_fallback(body: str) -> str:
    """A reply's own text, without the quoted `> <@someone> …` lines older clients prepend."""
    if not body.startswith("> "):
        return body
    lines = body.split("\n")
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).lstrip("\n")
