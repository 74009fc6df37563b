"""Translated reply texts, by key.

The English source texts live in `bots/strings/<bot>.yaml`, one key each::

    ping.reply: "Pong! I took **{ms} ms**."
    search.found:               # a plural: the form is chosen by the `count` value
      one: "{count} resource found"
      other: "{count} resources found"
      by: count                 # optional: the value that chooses the form

Every other language is a gettext catalog, `locale/<lang>/LC_MESSAGES/messages.po`, with the
key as `msgctxt` and the English text as `msgid` (plurals as `msgid_plural`/`msgstr[n]` by
the language's CLDR rules), so a translator works in any PO editor. The workflow is Babel's:

    PYTHONPATH=. pybabel extract -F babel.cfg -o locale/messages.pot .
    pybabel update -i locale/messages.pot -d locale
    pybabel init -i locale/messages.pot -d locale -l xx      # a new language
    pybabel compile -d locale

A `.mo` that is missing or older than its `.po` is compiled when the catalog loads, so a fresh
checkout needs no extra step. A missing translation falls back to English.
"""

from __future__ import annotations

import gettext
import io
import os
import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from babel import Locale, UnknownLocaleError
from babel.lists import format_list
from babel.numbers import format_decimal

from core.languages import LANGUAGES, LOCALE_DIR, SOURCE_LANGUAGE
from core.text import Text

STRINGS_DIR = Path(__file__).resolve().parent.parent / "bots" / "strings"
DOMAIN = "messages"


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML that refuses a key written twice in one mapping (a copy-paste slip)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        for key in keys:
            if keys.count(key) > 1:
                raise ValueError(
                    f"string {key!r} is defined twice (line {node.start_mark.line + 1})"
                )
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: Path) -> dict[str, Any]:
    """A strings file as a mapping, refusing duplicate keys."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}


@dataclass(frozen=True)
class Plural:
    """An English text with a singular and a plural form, chosen by the value `by`."""

    one: str
    other: str
    by: str = "count"


Source = str | Plural


def is_side_by_side(value: Any) -> bool:
    """An entry in the old layout, `{en: …, de: …}`, not yet carried into the catalogs."""
    return isinstance(value, dict) and SOURCE_LANGUAGE in value


def source_text(key: str, value: Any) -> Source:
    """One entry of an English strings file as a text or a plural; anything else is refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) in ({"one", "other"}, {"one", "other", "by"}):
        return Plural(str(value["one"]), str(value["other"]), str(value.get("by", "count")))
    raise ValueError(f"string {key!r} must be a text or {{one: …, other: …}}, not {value!r}")


def fields(template: str) -> set[str]:
    """The placeholder names of a template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def compiled(po: Path) -> bytes:
    """The `.mo` of `po`: its `messages.mo` when that is up to date, else compiled now and
    written there (kept in memory only if the folder is read-only)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return mo.read_bytes()
    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    partial = mo.with_suffix(f".{os.getpid()}.tmp")
    try:
        partial.write_bytes(buffer.getvalue())
        os.replace(partial, mo)  # atomic: a parallel loader sees the old file or the new one
    except OSError:
        pass
    return buffer.getvalue()


def load_translations(language: str, folder: Path = LOCALE_DIR) -> gettext.NullTranslations:
    """The compiled catalog of `language` (an empty one if it has none)."""
    po = folder / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        return gettext.NullTranslations()
    return gettext.GNUTranslations(io.BytesIO(compiled(po)))


class Catalog:
    """All reply templates: English sources by key, and a gettext catalog per language."""

    def __init__(self) -> None:
        self.entries: dict[str, Source] = {}
        self.translations: dict[str, gettext.NullTranslations] = {}
        # Entries still in the old side-by-side layout (merged before tools/import_strings.py
        # ran): their texts are used as written; a test asks for the import.
        self.side_by_side: dict[str, dict[str, Any]] = {}

    @classmethod
    def load(
        cls,
        folder: Path = STRINGS_DIR,
        locale: Path = LOCALE_DIR,
        languages: tuple[str, ...] = LANGUAGES,
    ) -> Catalog:
        catalog = cls()
        for path in sorted(folder.glob("*.yaml")):
            catalog.add(load_yaml(path), source=path.name)
        for language in languages:
            if language != SOURCE_LANGUAGE:
                catalog.translations[language] = load_translations(language, locale)
        return catalog

    def add(self, entries: dict[str, Any], source: str = "") -> None:
        for key, value in entries.items():
            if key in self.entries:
                raise ValueError(f"{source}: string {key!r} is defined twice")
            if is_side_by_side(value):
                self.side_by_side[key] = value
                english, by = value[SOURCE_LANGUAGE], value.get("by")
                value = {**english, "by": by} if isinstance(english, dict) and by else english
            self.entries[key] = source_text(key, value)

    def template(self, language: str, key: str, count: int | None = None) -> str:
        """The template of `key` in `language`; for a plural, the form for `count`."""
        entry = self.entries.get(key)
        if entry is None:
            raise KeyError(f"no string {key!r}")
        if key in self.side_by_side:
            return _side_by_side(self.side_by_side[key], language, count)
        translations = self.translations.get(language) or gettext.NullTranslations()
        if isinstance(entry, Plural):
            return translations.npgettext(key, entry.one, entry.other, _number(count, language))
        return translations.pgettext(key, entry)

    def text(self, language: str, key: str, **values: Any) -> Text:
        """The message `key` in `language`, a plural in the form its number asks for; decimal
        numbers among the values are written the language's way (`2.5`, `2,5`)."""
        entry = self.entries.get(key)
        count = values.get(entry.by) if isinstance(entry, Plural) else None
        shown = {name: _decimal(value, language) for name, value in values.items()}
        return Text.render(self.template(language, key, count), shown)

    def string(self, language: str, key: str, **values: Any) -> str:
        """The message as plain text (for pages that escape it themselves); numbers among the
        values are written the language's way (`12,345`, `12.345`, `12 345`)."""
        entry = self.entries.get(key)
        count = values.get(entry.by) if isinstance(entry, Plural) else None
        shown = {name: number_text(value, language) for name, value in values.items()}
        return self.template(language, key, count).format(**shown)


def _side_by_side(texts: dict[str, Any], language: str, count: int | None) -> str:
    """The text of an old-layout entry in `language` (else English); a plural by one/other."""
    text = texts.get(language) or texts[SOURCE_LANGUAGE]
    if isinstance(text, dict):
        text = text.get("one") if count == 1 and text.get("one") else text.get("other", "")
    return str(text)


def number_text(value: Any, language: str) -> Any:
    """An int or float in the language's digits and separators; anything else as it is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_decimal(value, locale=language)
    return value


def _decimal(value: Any, language: str) -> Any:
    if isinstance(value, float):
        return format_decimal(value, locale=language, group_separator=False)
    return value


def _number(value: Any, language: str) -> int:
    """The integer that makes gettext pick the CLDR plural category of `value` (which may be a
    float or a numeric text such as "1.5")."""
    try:
        number = abs(float(str(value).replace(",", ".")))
    except ValueError:
        return 0
    if number.is_integer():
        return int(number)
    category = Locale.parse(language).plural_form(number)
    return {"one": 1, "many": 1_000_000}.get(category, 100)


def language_name(code: str, in_language: str | None = None, capital: bool = False) -> str:
    """A language's name from CLDR in `in_language` (default: in itself) as written inside a
    sentence ("français", "Deutsch"); `capital` for a list or a menu; else the code."""
    try:
        name = Locale.parse(in_language or code).languages.get(code.lower())
    except (ValueError, UnknownLocaleError):
        name = None
    if not name:
        return code
    return name[:1].upper() + name[1:] if capital else name


def language_names(codes: str | Sequence[str] | None, in_language: str) -> str:
    """Languages given as codes (a list, or free text such as "de, tr" or "en/fr") by their
    CLDR names in the reader's language, as one list ("German, Turkish"); what is not a
    language code stays as written; "" for none. Every text people read names languages so."""
    if isinstance(codes, str) or codes is None:
        codes = [part for part in re.split(r"[,;/\s]+", codes or "") if part]
    names = [language_name(code, in_language) for code in dict.fromkeys(codes)]
    return format_list(names, style="standard", locale=in_language) if names else ""


def country_name(code: str, in_language: str) -> str:
    """An ISO 3166-1 country's name from CLDR in `in_language`; else the code."""
    try:
        return Locale.parse(in_language).territories.get(code.upper(), code)
    except (ValueError, UnknownLocaleError):
        return code


# Each interface language by its own name ("Deutsch", "Français"), for `!lang` and switchers.
LANGUAGE_NAMES = {code: language_name(code, capital=True) for code in LANGUAGES}


@cache
def default_catalog() -> Catalog:
    """The shipped catalog, loaded once (for code without an App, such as the web pages)."""
    return Catalog.load()


def extract_strings(
    fileobj: Any, keywords: Any, comment_tags: Any, options: dict[str, Any]
) -> Iterator[tuple[int, str, tuple[str | None, ...], list[str]]]:
    """Babel extraction method for `bots/strings/*.yaml` (registered in `babel.cfg`): each key
    becomes a message with the key as context and the English text as id."""
    node = yaml.compose(fileobj.read().decode("utf-8"), Loader=_UniqueKeyLoader)
    if node is None:
        return
    for key_node, value_node in node.value:
        key = key_node.value
        value = yaml.load(yaml.serialize(value_node), Loader=yaml.SafeLoader)
        entry = source_text(key, value[SOURCE_LANGUAGE] if is_side_by_side(value) else value)
        line = key_node.start_mark.line + 1
        if isinstance(entry, Plural):
            yield line, "npgettext", (key, entry.one, entry.other), []
        else:
            yield line, "pgettext", (key, entry), []


def catalog_problems(
    entries: dict[str, Source], language: str, locale: Path = LOCALE_DIR
) -> list[str]:
    """What keeps `language`'s `.po` from being whole: a message missing, untranslated, fuzzy
    or made for an older English text; a placeholder that differs from the English; a plural
    form missing. One line each, naming the key."""
    from babel.messages.plurals import get_plural
    from babel.messages.pofile import read_po

    path = locale / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return [f"{language}: no catalog {path}"]
    with path.open("rb") as file:
        po = read_po(file, locale=language)
    found = {message.context: message for message in po if message.id and message.context}
    plurals = get_plural(language).num_plurals
    problems = []
    for key, english in entries.items():
        message = found.get(key)
        wanted = (english.one, english.other) if isinstance(english, Plural) else english
        if message is None or message.id != wanted:
            problems.append(f"{key} ({language}): missing or made for another English text")
            continue
        string = message.string
        forms = list(string) if isinstance(string, (list, tuple)) else [string]
        filled = [form for form in forms if form]
        if message.fuzzy or not filled:
            problems.append(f"{key} ({language}): not translated")
        elif isinstance(english, Plural) and len(filled) != plurals:
            problems.append(f"{key} ({language}): {len(filled)} plural forms, wants {plurals}")
        else:
            problems += _placeholder_problems(key, language, english, filled)
    return problems


def _placeholder_problems(key: str, language: str, english: Source, forms: list[str]) -> list[str]:
    """A translation must use the English placeholders: a text exactly them, the forms of a
    plural none but them and, all together, every one of them."""
    sources = [english.one, english.other] if isinstance(english, Plural) else [english]
    names = set().union(*(fields(text) for text in sources))
    used = [fields(form) for form in forms]
    if any(found - names for found in used) or set().union(*used) != names:
        return [
            f"{key} ({language}): placeholders {sorted(set().union(*used))} differ from the"
            f" English {sorted(names)}"
        ]
    return []
