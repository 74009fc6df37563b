"""Readable schedule rules (`mon 09:00`, `every 2 weeks on thu 18:30`, `monthly on 1 10:00`),
their next occurrences, and the other small values people type: durations, dates, time zones.

A rule names a local date and time. A round's *slot* is the date in the network's time zone;
each member gets it at the rule's time on that date in their own time zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from babel.dates import get_day_names

from core.i18n import default_catalog
from core.languages import LANGUAGES

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _day_words() -> dict[str, str]:
    """Weekday words of every interface language: the English and German short forms people
    type, then CLDR's full and abbreviated names ("lundi", "lun.", "maandag", "ma"), also with
    a plural s ("tous les lundis"). A word taken already keeps its first meaning."""
    words = {day: day for day in DAYS}
    words |= {"tues": "tue", "wednes": "wed", "thur": "thu", "thurs": "thu"}
    words |= dict(zip(("mo", "di", "mi", "do", "fr", "sa", "so"), DAYS, strict=True))
    for language in LANGUAGES:
        for width in ("wide", "abbreviated"):
            names = get_day_names(width, locale=language)
            for index, day in enumerate(DAYS):
                name = str(names[index]).lower().rstrip(".")
                words.setdefault(name, day)
                if width == "wide":
                    words.setdefault(name + "s", day)
    return words


_DAY_WORDS = _day_words()
# The grammar words of each language, mapped onto the English grammar ("" = ignore).
_SYNONYMS = {
    # English
    "each": "every", "weekly": "every", "day": "day", "days": "day", "on": "", "at": "",
    "the": "", "of": "", "month": "monthly", "in": "", "and": "",
    # German
    "alle": "every", "jede": "every", "jeden": "every", "jedes": "every", "woche": "week",
    "wochen": "weeks", "wöchentlich": "every", "monatlich": "monthly", "täglich": "daily",
    "taeglich": "daily", "tag": "day", "am": "", "um": "", "der": "", "den": "", "uhr": "",
    "monats": "", "im": "", "und": "", "letzten": "last", "letzter": "last",
    # French
    "tous": "every", "toutes": "every", "chaque": "every", "hebdomadaire": "every",
    "semaine": "week", "semaines": "weeks", "mois": "monthly", "mensuel": "monthly",
    "mensuellement": "monthly", "quotidien": "daily", "jour": "day", "jours": "day",
    "dernier": "last", "les": "", "le": "", "la": "", "à": "", "a": "", "du": "", "et": "",
    # Dutch
    "elke": "every", "iedere": "every", "wekelijks": "every", "week": "week", "weken": "weeks",
    "maandelijks": "monthly", "maand": "monthly", "dagelijks": "daily", "dag": "day",
    "laatste": "last", "om": "", "op": "", "de": "", "het": "", "van": "", "en": "",
    # Numbers of weeks written as words
    "two": "2", "three": "3", "four": "4", "zwei": "2", "drei": "3", "vier": "4",
    "deux": "2", "trois": "3", "quatre": "4", "twee": "2", "drie": "3",
}  # fmt: skip
_AMPM = re.compile(r"\b(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)\b")
_TIME = re.compile(r"^(\d{1,2})(?:[:.h](\d{2})|h)?$")
_ORDINAL = re.compile(r"^(\d{1,2})(?:\.|st|nd|rd|th)?$")
_DURATION = re.compile(
    r"(\d+(?:[.,]\d+)?)\s*(days?|tage?|hours?|stunden?|std|minutes?|min|[dhmt])?"
)


class RuleError(ValueError):
    """The text is not a schedule rule; the message (a catalog text) says what was expected."""

    def __init__(self, key: str, **values: str) -> None:
        self.key, self.values = key, values
        super().__init__(self.text("en"))

    def text(self, language: str) -> str:
        return (
            default_catalog().text(language, f"checkin.rule.expect.{self.key}", **self.values).body
        )


@dataclass(frozen=True)
class Rule:
    """When rounds happen: weekly (every `interval` weeks on `days`), monthly or daily."""

    kind: str  # weekly | monthly | daily
    at: time
    days: tuple[str, ...] = ()  # weekly: mon…sun
    day_of_month: str = ""  # monthly: "1"…"31" or "last"
    interval: int = 1  # weekly: every N weeks, counted from `anchor`
    anchor: date | None = None

    @property
    def text(self) -> str:
        """The canonical form, which `parse_rule` reads back."""
        clock = self.at.strftime("%H:%M")
        if self.kind == "daily":
            return f"daily {clock}"
        if self.kind == "monthly":
            return f"monthly on {self.day_of_month} {clock}"
        days = ",".join(self.days)
        if self.interval > 1:
            return f"every {self.interval} weeks on {days} {clock}"
        return f"{days} {clock}"

    def with_anchor(self, anchor: date) -> Rule:
        return replace(self, anchor=anchor)

    def _trigger(self, zone: ZoneInfo) -> CronTrigger:
        fields = {"hour": self.at.hour, "minute": self.at.minute, "timezone": zone}
        if self.kind == "weekly":
            return CronTrigger(day_of_week=",".join(self.days), **fields)
        if self.kind == "monthly":
            return CronTrigger(day=self.day_of_month, **fields)
        return CronTrigger(**fields)

    def _fits_interval(self, day: date) -> bool:
        if self.interval <= 1 or self.anchor is None:
            return True
        first_monday = self.anchor - timedelta(days=self.anchor.weekday())
        return ((day - first_monday).days // 7) % self.interval == 0

    def occurrences(self, zone: ZoneInfo, start: datetime) -> Iterator[date]:
        """The slot dates of occurrences at or after `start` (local time in `zone`)."""
        trigger = self._trigger(zone)
        moment = start.astimezone(zone)
        for _ in range(2000):  # a rule fires at least every 31 weeks; this never runs out
            fire = trigger.get_next_fire_time(None, moment)
            if fire is None:
                return
            if self._fits_interval(fire.date()):
                yield fire.date()
            moment = datetime.combine(fire.date() + timedelta(days=1), time(), zone)

    def due(self, slot: date, zone: ZoneInfo) -> datetime:
        """When the round of `slot` falls due for someone in `zone`."""
        return datetime.combine(slot, self.at, zone)

    def earliest_due(self, slot: date, zones: Iterable[ZoneInfo]) -> datetime:
        return min(self.due(slot, zone) for zone in zones)

    def first_slot(self, network_zone: ZoneInfo, zones: list[ZoneInfo], now: datetime) -> date:
        """The first slot that falls due for nobody before `now` (no one gets it late)."""
        start = now - timedelta(days=1)
        for slot in self.occurrences(network_zone, start):
            if self.earliest_due(slot, zones) > now:
                return slot
        raise RuleError("never")

    def next_slot(self, slot: date, network_zone: ZoneInfo) -> date:
        start = datetime.combine(slot + timedelta(days=1), time(), network_zone)
        return next(self.occurrences(network_zone, start))


def parse_rule(text: str) -> Rule:
    """Read a rule such as `mon 09:00`, `every 2 weeks on thu 18:30`, `monthly on 1 10:00`,
    `daily 8:00`; in German `alle 2 Wochen am Do 18:30`, `monatlich am 1. 10:00`; in French
    `tous les lundis 18h`, `toutes les 2 semaines le jeudi 18:30`; in Dutch `elke maandag
    18:00`, `om de 2 weken op donderdag 18:30`. Weekday names come from CLDR."""
    words = _words(text)
    times = [w for w in words if _TIME.match(w) and (":" in w or "." in w or "h" in w)]
    if len(times) != 1:
        raise RuleError("one_time")
    at = parse_time(times[0])
    words = [w for w in words if w != times[0]]
    if "monthly" in words:
        return Rule("monthly", at, day_of_month=_day_of_month(words))
    if "daily" in words or words in (["every", "day"], ["day"]):
        return Rule("daily", at)
    return _weekly(words, at)


def _words(text: str) -> list[str]:
    text = text.lower().replace(",", " ").replace("+", " ")
    text = _AMPM.sub(lambda m: _from_ampm(m), text)
    words = []
    for raw in text.split():
        word = _SYNONYMS.get(raw, raw)
        if word:
            words.append(word)
    return words


def _from_ampm(match: re.Match[str]) -> str:
    hour = int(match[1]) % 12 + (12 if match[3] == "pm" else 0)
    return f"{hour:02d}:{match[2] or '00'}"


def parse_time(word: str) -> time:
    match = _TIME.match(word)
    if not match:
        raise RuleError("time")
    hour, minute = int(match[1]), int(match[2] or 0)
    if hour > 23 or minute > 59:
        raise RuleError("not_time", word=word)
    return time(hour, minute)


def _day_of_month(words: list[str]) -> str:
    rest = [w for w in words if w not in ("monthly", "every", "day")]
    if rest == ["last"]:
        return "last"
    match = _ORDINAL.match(rest[0]) if len(rest) == 1 else None
    if not match or not 1 <= int(match[1]) <= 31:
        raise RuleError("day_of_month")
    return match[1]


def _weekly(words: list[str], at: time) -> Rule:
    interval = 1
    words = [w for w in words if w != "every"]
    for index, word in enumerate(words[:-1]):
        if word.isdigit() and words[index + 1] in ("weeks", "week"):
            interval, words = int(word), words[:index] + words[index + 2 :]
            break
    words = [w for w in words if w not in ("week", "weeks")]
    days = [_DAY_WORDS.get(w) for w in words]
    if not days or None in days:
        unknown = next((w for w, d in zip(words, days, strict=True) if d is None), "")
        if unknown:
            raise RuleError("weekday_not", word=unknown)
        raise RuleError("weekday")
    if not 1 <= interval <= 12:
        raise RuleError("interval")
    ordered = tuple(sorted({day for day in days if day}, key=DAYS.index))
    return Rule("weekly", at, days=ordered, interval=interval)


# --- other values people type ------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    """A time zone by its IANA name (`Europe/Berlin`); raises ValueError when unknown."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        raise ValueError(f"{name} is not a time zone like Europe/Berlin") from None


def parse_duration(text: str) -> timedelta:
    """`24h`, `2d`, `90m`, `1d12h` or a number of hours."""
    text = text.strip().lower()
    total = timedelta()
    position = 0
    for match in _DURATION.finditer(text):
        if match.start() != position and text[position : match.start()].strip():
            break
        amount = float(match[1].replace(",", "."))
        unit = (match[2] or "h")[0]
        unit = {"t": "d", "s": "h"}.get(unit, unit)
        total += timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount})
        position = match.end()
    if position == 0 or text[position:].strip() or total <= timedelta():
        raise ValueError(f"{text} is not a duration like 24h or 2d")
    return total


def parse_date(text: str) -> date:
    """`2026-12-31`, `31.12.2026` or `31/12/2026`, optionally after `until` / `bis`."""
    words = [w for w in text.lower().split() if w not in ("until", "bis", "to", "zum")]
    value = words[0] if len(words) == 1 else ""
    for pattern in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise ValueError(f"{text} is not a date like 2026-12-31")


def duration_text(value: timedelta) -> str:
    """A duration in the form `parse_duration` reads: 36h, 2d, 90m."""
    minutes = round(value.total_seconds() / 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"
