"""What people share, checked and normalised: links, titles, tags, languages, captions and
the resource events other networks post. Nothing here fetches anything."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.commands import UsageError, split_words
from directory.codes import LANGUAGES

MAX_URL = 2_000
MAX_TITLE = 200
MAX_DESCRIPTION = 2_000
MAX_TAGS = 10
MAX_NETWORK = 120
SCHEMA_VERSION = 1
DEFAULT_PORTS = {"http": 80, "https": 443}
# Query parameters that only track who clicked: the same page with or without them is one link.
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid|_hsenc)$", re.I)
_TAG = re.compile(r"^[^\W_][\w-]{0,39}$")
_MXC = re.compile(r"^mxc://[A-Za-z0-9.\-:\[\]]+/[A-Za-z0-9_\-]+$")


class Refused(ValueError):
    """What was shared cannot be kept; `key` names the translated reason."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _has_control(text: str) -> bool:
    """Control characters, or bidi overrides that make text display other than it reads."""
    return any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in text)


def normalise_url(raw: str) -> tuple[str, str]:
    """The link as stored and its duplicate key (host without `www.`, path without a trailing
    slash, query without tracking parameters; scheme and fragment ignored).

    Only absolute http(s) links with a host count; credentials in links are refused.
    """
    raw = raw.strip()
    if len(raw) > MAX_URL:
        raise Refused("res.refused.url_long", max=MAX_URL)
    invisible = any(unicodedata.category(ch) in ("Cc", "Cf") or ch.isspace() for ch in raw)
    if not raw or invisible:
        raise Refused("res.refused.url")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise Refused("res.refused.url") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise Refused("res.refused.url")
    if scheme not in DEFAULT_PORTS:
        raise Refused("res.refused.scheme", scheme=scheme)
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise Refused("res.refused.url")
    host = parts.hostname.rstrip(".")
    host = f"[{host}]" if ":" in host else host
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = "&".join(
        pair for pair in parts.query.split("&") if pair and not _TRACKING.match(pair.split("=")[0])
    )
    path = parts.path or "/"
    url = urlunsplit((scheme, netloc, path, query, ""))
    key = netloc.removeprefix("www.") + (path.rstrip("/") or "") + (f"?{query}" if query else "")
    return url, key


def clean_title(raw: str) -> str:
    """A title on one line, 1–MAX_TITLE characters; markup is kept as text (escaped when shown)."""
    title = " ".join(raw.split())
    if not title or _has_control(title):
        raise Refused("res.refused.title")
    if len(title) > MAX_TITLE:
        raise Refused("res.refused.title_long", max=MAX_TITLE)
    return title


def clean_description(raw: str | None) -> str:
    description = (raw or "").strip()
    if _has_control(description.replace("\n", " ").replace("\t", " ")):
        raise Refused("res.refused.description")
    if len(description) > MAX_DESCRIPTION:
        raise Refused("res.refused.description_long", max=MAX_DESCRIPTION)
    return description


def clean_tags(raw: list[str]) -> list[str]:
    """Tags lower-cased, each a word (letters, digits, `-`, `_`), at most MAX_TAGS."""
    tags = list(dict.fromkeys(tag.lower().lstrip("#") for tag in raw))
    for tag in tags:
        if not _TAG.match(tag):
            raise Refused("res.refused.tag", tag=tag[:50])
    if len(tags) > MAX_TAGS:
        raise Refused("res.refused.tags", max=MAX_TAGS)
    return tags


def clean_language(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    code = raw.strip().lower()
    if code not in LANGUAGES:
        raise Refused("res.refused.language", value=raw[:20])
    return code


def is_mxc(value: Any) -> bool:
    return isinstance(value, str) and bool(_MXC.match(value))


# --- captions of uploaded files ------------------------------------------------------------


@dataclass
class Caption:
    """A file's caption read as `Title words #tag lang:de public`."""

    title: str
    tags: list[str] = field(default_factory=list)
    language: str | None = None
    public: bool = False


def parse_caption(caption: str) -> Caption:
    """Title words, `#tags`, `lang:xx`, and a last word `public`; quotes group words."""
    try:
        _, tokens = split_words(caption)
    except UsageError:  # an unclosed quote: the whole caption is the title
        return Caption(title=caption)
    words, tags, language = [], [], None
    for token in (t.value for t in tokens):
        if token.startswith("#") and len(token) > 1:
            tags.append(token[1:])
        elif token.lower().startswith("lang:"):
            language = token[5:]
        else:
            words.append(token)
    public = bool(words) and words[-1].lower() == "public"
    return Caption(" ".join(words[:-1] if public else words), tags, language, public)


# --- resource events from the exchange room -------------------------------------------------


def read_posted(content: dict[str, Any]) -> dict[str, Any] | None:
    """A resource another network posted, checked like our own input; None when unusable.

    Returns url (or mxc), key, title, description, tags, language, network, mimetype,
    filename: the plain JSON every instance posts (`exchange.posted_content`).
    """
    if not isinstance(content, dict) or content.get("schema_version") != SCHEMA_VERSION:
        return None
    try:
        item: dict[str, Any] = {
            "title": clean_title(_text(content.get("title"))),
            "description": clean_description(_text(content.get("description"))),
            "tags": clean_tags([t for t in content.get("tags") or [] if isinstance(t, str)]),
            "language": clean_language(_text(content.get("language")) or None),
            "network": " ".join(_text(content.get("network")).split())[:MAX_NETWORK] or "?",
        }
        if content.get("url"):
            item["url"], item["key"] = normalise_url(_text(content["url"]))
        elif is_mxc(content.get("mxc")):
            item["mxc"] = item["key"] = content["mxc"]
            item["mimetype"] = _text(content.get("mimetype"))[:100] or None
            item["filename"] = clean_title(_text(content.get("filename")) or "file")
        else:
            return None
    except Refused:
        return None
    return item


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
