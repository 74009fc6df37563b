"""Check-in questions (a 1–5 mood poll and free-text questions, each in several languages),
and reading what an answer says: the mood it picks, whether it calls for help."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from core.i18n import Catalog

MOOD, TEXT = "mood", "text"
KINDS = (TEXT, MOOD)
SCALE = range(1, 6)
LOW_MOOD = 2  # a mood of 1 or 2 is passed on to the Meta-Mentors at once
# The default set, by catalogue key (`checkin.q.<key>`): the same questions in every language.
DEFAULTS = ((MOOD, "mood"), (TEXT, "well"), (TEXT, "help"))
DEFAULT_HELP_WORDS = ("help", "hilfe", "sos", "urgent", "dringend", "emergency", "notfall")
NEGATIONS = {
    "no",
    "not",
    "don't",
    "dont",
    "without",
    "nothing",
    "never",
    "none",
    "n't",
    "kein",
    "keine",
    "keinen",
    "keiner",
    "nicht",
    "ohne",
    "nichts",
    "nie",
}
KEYCAPS = {
    **{f"{n}\ufe0f\u20e3": n for n in SCALE},
    **{f"{n}\u20e3": n for n in SCALE},
    **{str(n): n for n in SCALE},
}
_WORD = re.compile(r"[\w'’]+")
_MOOD_TEXT = re.compile(r"^\s*([1-5])\s*(?:/\s*5)?\s*[.!]?\s*$")


@dataclass(frozen=True)
class Question:
    """One question of a network's set: `builtin` names a catalogue text, `texts` holds a
    custom question's wording by language."""

    id: int
    kind: str
    builtin: str | None = None
    texts: dict[str, str] = field(default_factory=dict)

    def text(self, catalog: Catalog, language: str, fallback: str) -> str:
        """The wording in `language`, else in `fallback` (the network's), else any."""
        if self.builtin:
            return catalog.template(language, f"checkin.q.{self.builtin}")
        for choice in (language, fallback, "en"):
            if self.texts.get(choice):
                return self.texts[choice]
        return next(iter(self.texts.values()), "?")

    def label(self, catalog: Catalog, language: str, fallback: str) -> str:
        """A short name for summaries and exports' readers: `Mood`, or the question shortened."""
        if self.builtin:
            return catalog.template(language, f"checkin.label.{self.builtin}")
        text = self.text(catalog, language, fallback)
        return text if len(text) <= 40 else text[:39] + "…"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "builtin": self.builtin, "texts": self.texts}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Question:
        return cls(data["id"], data["kind"], data.get("builtin"), dict(data.get("texts") or {}))


def snapshot(questions: list[Question]) -> str:
    """The questions of a round as stored with it (later changes do not alter a round)."""
    return json.dumps([q.as_dict() for q in questions], ensure_ascii=False)


def from_snapshot(text: str) -> list[Question]:
    return [Question.from_dict(item) for item in json.loads(text)]


def mood_from_key(key: str) -> int | None:
    """The mood a reaction (1️⃣…5️⃣) or a poll answer id picks."""
    return KEYCAPS.get(key.strip())


def mood_from_text(text: str) -> int | None:
    """A reply like `4` or `4/5` to the mood question."""
    match = _MOOD_TEXT.match(text)
    return int(match[1]) if match else None


def help_words(configured: str | None) -> tuple[str, ...]:
    if not configured:
        return DEFAULT_HELP_WORDS
    return tuple(w.strip().lower() for w in configured.split(",") if w.strip())


def calls_for_help(text: str, words: tuple[str, ...]) -> str | None:
    """The help word an answer uses, unless negated (`no help needed`, `keine Hilfe nötig`)."""
    lowered = text.lower().replace("’", "'")
    tokens = _WORD.findall(lowered)
    for phrase in (w for w in words if " " in w):
        if phrase in lowered:
            return phrase
    singles = {w for w in words if " " not in w}
    for index, token in enumerate(tokens):
        stem = token if token in singles else token[:-1] if token[:-1] in singles else None
        if stem is None or len(token) < 2:
            continue
        before = tokens[max(0, index - 3) : index]
        if not any(word in NEGATIONS or word.endswith("n't") for word in before):
            return stem
    return None
