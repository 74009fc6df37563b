"""Import texts written in the old side-by-side format into the catalogs.

    .venv/bin/python tools/import_strings.py bots/strings/invitations.yaml [more.yaml …]

Each file holds entries like::

    invite.sent:
      en: "I invited {name}."
      de: "Ich habe {name} eingeladen."
      fr: "J'ai invité {name}."
      nl: "Ik heb {name} uitgenodigd."
    invite.count:                      # a plural: the forms by CLDR category
      en: {one: "{count} invitation", other: "{count} invitations"}
      de: {one: "{count} Einladung", other: "{count} Einladungen"}

- A file inside `bots/strings/` is rewritten in place to the English-only layout
  (`key: "English"`, plurals `key: {one: …, other: …}`); its comments stay.
- Every other language goes into `locale/<lang>/LC_MESSAGES/messages.po` (created when the
  language is listed in `locale/LINGUAS` but has no catalog yet), with the key as `msgctxt`
  and the English text as `msgid`; an entry of the same key is replaced.
- A file elsewhere amends keys that already exist in `bots/strings/`: its `en` (if given)
  replaces the English text where the key lives, its other languages go into the catalogs.
  This is how a whole language is added or corrected (`key: {fr: …}` for every key).
- A plural names the value that picks its form with `by:` beside the languages (default
  `count`).

Entries already in the new layout are left as they are. Afterwards run `make messages`
(pybabel extract, update and compile: it puts the catalogs in the order of the sources) and
`make test`: the catalog tests name any key that still lacks a language, whose placeholders
differ or whose plural forms are missing.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from babel import Locale  # noqa: E402
from babel.messages.catalog import Catalog as PoCatalog  # noqa: E402
from babel.messages.plurals import get_plural  # noqa: E402
from babel.messages.pofile import read_po, write_po  # noqa: E402

from core.i18n import STRINGS_DIR, Plural, Source, load_yaml, source_text  # noqa: E402
from core.languages import LANGUAGES, LOCALE_DIR, SOURCE_LANGUAGE  # noqa: E402

_TOP_KEY = re.compile(r"^([^\s#][^:]*):")


def is_old_format(value: Any) -> bool:
    return (isinstance(value, dict) and SOURCE_LANGUAGE in value) or (
        isinstance(value, dict) and bool(set(value) & set(LANGUAGES) - {SOURCE_LANGUAGE})
    )


def plural_forms(language: str, value: Any, english: Plural) -> list[str]:
    """`value` ({one:, few:, many:, other:} or a list) as the msgstr list of `language`."""
    if isinstance(value, list):
        return [str(form) for form in value]
    if isinstance(value, str):
        value = {"other": value}
    tags = [*sorted(Locale.parse(language).plural_form.tags, key=_TAG_ORDER.index), "other"]
    forms = [str(value.get(tag) or value.get("other") or "") for tag in tags]
    return forms[: get_plural(language).num_plurals] or [english.other]


_TAG_ORDER = ["zero", "one", "two", "few", "many", "other"]


def yaml_text(value: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's)."""
    return json.dumps(value, ensure_ascii=False)


def english_lines(key: str, source: Source) -> list[str]:
    if isinstance(source, Plural):
        lines = [
            f"{key}:",
            f"  one: {yaml_text(source.one)}",
            f"  other: {yaml_text(source.other)}",
        ]
        return lines + ([f"  by: {source.by}"] if source.by != "count" else [])
    return [f"{key}: {yaml_text(source)}"]


def rewrite_english(path: Path, english: dict[str, Source]) -> None:
    """Replace each converted entry of `path` by its English line(s), keeping comments."""
    out: list[str] = []
    skipping = False
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _TOP_KEY.match(line)
        if match:
            key = match.group(1).strip().strip("'\"")
            skipping = key in english
            out.extend(english_lines(key, english[key]) if skipping else [line])
        elif skipping and (line.startswith((" ", "\t")) or not line.strip()):
            if not line.strip():
                out.append(line)
        else:
            skipping = False
            out.append(line)
    path.write_text("\n".join(out).rstrip("\n") + "\n", encoding="utf-8")


def open_po(language: str) -> tuple[Path, PoCatalog]:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if path.exists():
        with path.open("rb") as file:
            return path, read_po(file, locale=language)
    catalog = PoCatalog(locale=language, project="mentornet", fuzzy=False)
    return path, catalog


def put(catalog: PoCatalog, key: str, english: Source, translation: Any, where: str) -> None:
    """Add or replace the message of `key` in one language's catalog."""
    for message in list(catalog):
        if message.id and message.context == key:
            catalog.delete(message.id, context=key)
    if isinstance(english, Plural):
        forms = plural_forms(str(catalog.locale), translation, english)
        catalog.add((english.one, english.other), tuple(forms), context=key, locations=[(where, 0)])
    else:
        catalog.add(english, str(translation), context=key, locations=[(where, 0)])


def known_english() -> dict[str, Source]:
    """The English text of every key in `bots/strings/`, whichever layout its file has."""
    known: dict[str, Source] = {}
    for strings in sorted(STRINGS_DIR.glob("*.yaml")):
        for key, value in load_yaml(strings).items():
            english = value.get(SOURCE_LANGUAGE) if is_old_format(value) else value
            if english is not None:
                known[key] = source_text(key, english)
    return known


def holders() -> dict[str, Path]:
    """The strings file of every key in `bots/strings/`."""
    return {key: path for path in sorted(STRINGS_DIR.glob("*.yaml")) for key in load_yaml(path)}


def import_file(path: Path) -> int:
    """Import one file; returns how many entries were carried over."""
    entries = load_yaml(path)
    known = known_english()
    inside = path.resolve().parent == STRINGS_DIR
    owner = {} if inside else holders()
    english: dict[str, Source] = {}
    translations: dict[str, dict[str, Any]] = {}
    for key, value in entries.items():
        if not is_old_format(value):
            continue
        if SOURCE_LANGUAGE in value:
            text = value[SOURCE_LANGUAGE]
            if isinstance(text, dict) and "by" in value:
                text = {**text, "by": value["by"]}
            english[key] = source_text(key, text)
            if not inside and key not in owner:
                raise SystemExit(f"{path}: new key {key!r} belongs in a file inside {STRINGS_DIR}")
        elif key not in known:
            raise SystemExit(f"{path}: {key!r} has no English text and no entry in bots/strings")
        for language, text in value.items():
            if language not in (SOURCE_LANGUAGE, "by"):
                translations.setdefault(language, {})[key] = text
    for language, texts in sorted(translations.items()):
        po_path, catalog = open_po(language)
        for key, text in texts.items():
            where = (path if inside else owner[key]).resolve().relative_to(ROOT).as_posix()
            put(catalog, key, english.get(key) or known[key], text, where)
        po_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("wb") as file:
            write_po(file, catalog, omit_header=False)
    if inside and english:
        rewrite_english(path, english)
    for target in {owner[key] for key in english if not inside}:
        rewrite_english(target, {k: v for k, v in english.items() if owner[k] == target})
    return max([len(english)] + [len(texts) for texts in translations.values()])


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for name in argv:
        count = import_file(Path(name))
        print(f"{name}: {count} entries imported")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
