"""Translated reply texts. Each bot keeps its strings in `bots/strings/<bot>.yaml`:

    ping.reply:
      en: "Pong! I took **{ms} ms**."
      de: "Pong! Ich habe **{ms} ms** gebraucht."

Every key must exist in every language of `LANGUAGES`; a test checks that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.config import LANGUAGES
from core.text import Text

STRINGS_DIR = Path(__file__).resolve().parent.parent / "bots" / "strings"
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}


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


class Catalog:
    """All reply templates, by key and language."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, str]] = {}

    @classmethod
    def load(cls, folder: Path = STRINGS_DIR) -> Catalog:
        catalog = cls()
        for path in sorted(folder.glob("*.yaml")):
            entries = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
            catalog.add(entries or {}, source=path.name)
        return catalog

    def add(self, entries: dict[str, dict[str, str]], source: str = "") -> None:
        for key, translations in entries.items():
            if key in self.entries:
                raise ValueError(f"{source}: string {key!r} is defined twice")
            self.entries[key] = translations

    def template(self, language: str, key: str) -> str:
        translations = self.entries.get(key)
        if translations is None:
            raise KeyError(f"no string {key!r}")
        return translations.get(language) or translations["en"]

    def text(self, language: str, key: str, **values: Any) -> Text:
        return Text.render(self.template(language, key), values)

    def incomplete(self) -> list[str]:
        """Keys that lack a language."""
        return [
            f"{key} ({language})"
            for key, translations in self.entries.items()
            for language in LANGUAGES
            if not translations.get(language)
        ]
