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

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_WORDS = {
    **{day: day for day in DAYS},
    **dict(
        zip(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
            DAYS,
            strict=True,
        )
    ),
    **dict(zip(("mo", "di", "mi", "do", "fr", "sa", "so"), DAYS, strict=True)),
    **dict(
        zip(
            ("montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag"),
            DAYS,
            strict=True,
        )
    ),
    "tues": "tue",
    "wednes": "wed",
    "thur": "thu",
    "thurs": "thu",
}
# German and filler words, mapped onto the English grammar ("" = ignore).
_SYNONYMS = {
    "alle": "every",
    "jede": "every",
    "jeden": "every",
    "jedes": "every",
    "each": "every",
    "woche": "week",
    "wochen": "weeks",
    "weekly": "every",
    "wöchentlich": "every",
    "monatlich": "monthly",
    "täglich": "daily",
    "taeglich": "daily",
    "day": "day",
    "tag": "day",
    "on": "",
    "am": "",
    "at": "",
    "um": "",
    "the": "",
    "der": "",
    "den": "",
    "uhr": "",
    "of": "",
    "month": "",
    "monats": "",
    "im": "",
    "in": "",
    "letzten": "last",
    "letzter": "last",
}
_AMPM = re.compile(r"\b(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)\b")
_TIME = re.compile(r"^(\d{1,2})(?:[:.h](\d{2}))?$")
_ORDINAL = re.compile(r"^(\d{1,2})(?:\.|st|nd|rd|th)?$")
_DURATION = re.compile(
    r"(\d+(?:[.,]\d+)?)\s*(days?|tage?|hours?|stunden?|std|minutes?|min|[dhmt])?"
)


class RuleError(ValueError):
    """The text is not a schedule rule; the message says what was expected."""


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
        raise RuleError("the rule never fires")

    def next_slot(self, slot: date, network_zone: ZoneInfo) -> date:
        start = datetime.combine(slot + timedelta(days=1), time(), network_zone)
        return next(self.occurrences(network_zone, start))


def parse_rule(text: str) -> Rule:
    """Read a rule such as `mon 09:00`, `every 2 weeks on thu 18:30`, `monthly on 1 10:00`,
    `daily 8:00`, or in German `alle 2 Wochen am Do 18:30`, `monatlich am 1. 10:00`."""
    words = _words(text)
    times = [w for w in words if _TIME.match(w) and (":" in w or "." in w or "h" in w)]
    if len(times) != 1:
        raise RuleError("one time of day, like 09:00")
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
        raise RuleError("a time of day like 09:00")
    hour, minute = int(match[1]), int(match[2] or 0)
    if hour > 23 or minute > 59:
        raise RuleError(f"{word} is not a time of day")
    return time(hour, minute)


def _day_of_month(words: list[str]) -> str:
    rest = [w for w in words if w not in ("monthly", "every", "day")]
    if rest == ["last"]:
        return "last"
    match = _ORDINAL.match(rest[0]) if len(rest) == 1 else None
    if not match or not 1 <= int(match[1]) <= 31:
        raise RuleError("a day of the month (1–31 or last), like `monthly on 1 10:00`")
    return match[1]


def _weekly(words: list[str], at: time) -> Rule:
    interval = 1
    if words and words[0] == "every":
        words = words[1:]
        if len(words) >= 2 and words[0].isdigit() and words[1] in ("weeks", "week"):
            interval, words = int(words[0]), words[2:]
        elif words and words[0] in ("week", "weeks"):
            words = words[1:]
    days = [_DAY_WORDS.get(w) for w in words]
    if not days or None in days:
        unknown = next((w for w, d in zip(words, days, strict=True) if d is None), "")
        hint = f" (not “{unknown}”)" if unknown else ""
        raise RuleError(f"a weekday like mon or thu{hint}")
    if not 1 <= interval <= 12:
        raise RuleError("every 1 to 12 weeks")
    ordered = tuple(sorted(set(days), key=DAYS.index))  # type: ignore[arg-type]
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
