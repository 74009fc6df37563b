"""Dates, times and durations as people read them, in English or German."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from core.i18n import Catalog

if TYPE_CHECKING:
    from bots.checkin.rules import Rule

_WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "de": ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"),
}
_LONG_WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_text(day: date, language: str) -> str:
    """`Mon 3 Jun 2030` / `Mo 03.06.2030`."""
    weekday = _WEEKDAYS.get(language, _WEEKDAYS["en"])[day.weekday()]
    if language == "de":
        return f"{weekday} {day:%d.%m.%Y}"
    return f"{weekday} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def weekday_name(day: str, language: str) -> str:
    """`thu` → Thursday / Donnerstag."""
    index = ("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(day)
    return _LONG_WEEKDAYS.get(language, _LONG_WEEKDAYS["en"])[index]


def moment_text(timestamp: float, zone: ZoneInfo, language: str) -> str:
    """`Mon 3 Jun 2030, 09:00 (Europe/Berlin)`."""
    local = datetime.fromtimestamp(timestamp, UTC).astimezone(zone)
    return f"{day_text(local.date(), language)}, {local:%H:%M} ({zone.key})"


def local_day(timestamp: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(timestamp, UTC).astimezone(zone).date()


def delay_text(seconds: float, language: str) -> str:
    """`2 h 5 min`, `3 d 4 h` (the same in German)."""
    minutes = max(0, round(seconds / 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} {'T' if language == 'de' else 'd'} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}" if whole else "—"


def describe_rule(catalog: Catalog, rule: Rule, language: str) -> str:
    """`every Monday at 09:00`, `alle 2 Wochen am Donnerstag um 18:30`, …"""
    clock = rule.at.strftime("%H:%M")
    if rule.kind == "daily":
        return catalog.text(language, "checkin.rule.daily", time=clock).body
    if rule.kind == "monthly":
        if rule.day_of_month == "last":
            return catalog.text(language, "checkin.rule.monthly_last", time=clock).body
        return catalog.text(
            language, "checkin.rule.monthly", day=rule.day_of_month, time=clock
        ).body
    joiner = " und " if language == "de" else " and "
    days = joiner.join(weekday_name(day, language) for day in rule.days)
    key = "checkin.rule.weekly" if rule.interval == 1 else "checkin.rule.weeks"
    return catalog.text(language, key, days=days, weeks=rule.interval, time=clock).body
