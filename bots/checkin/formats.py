"""Dates, times and durations as people read them, in their language (CLDR data via Babel)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel.dates import get_day_names
from babel.lists import format_list

from core.dates import clock_text, day_text, moment_text, short_day_text
from core.i18n import Catalog, default_catalog

__all__ = ["clock_text", "day_text", "moment_text", "short_day_text"]

if TYPE_CHECKING:
    from bots.checkin.rules import Rule

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekday_name(day: str, language: str) -> str:
    """`thu` → Thursday / Donnerstag / jeudi / donderdag."""
    return str(get_day_names("wide", locale=language)[DAYS.index(day)])


def local_day(timestamp: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(timestamp, UTC).astimezone(zone).date()


def delay_text(seconds: float, language: str) -> str:
    """`2 h 5 min`, `3 d 4 h` (the units are catalog texts)."""
    minutes = max(0, round(seconds / 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    catalog = default_catalog()
    if days:
        return catalog.text(language, "format.delay.days", days=days, hours=hours).body
    if hours:
        return catalog.text(language, "format.delay.hours", hours=hours, minutes=minutes).body
    return catalog.text(language, "format.delay.minutes", minutes=minutes).body


def percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}" if whole else "0"


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
    days = format_list([weekday_name(day, language) for day in rule.days], locale=language)
    key = "checkin.rule.weekly" if rule.interval == 1 else "checkin.rule.weeks"
    return catalog.text(language, key, days=days, weeks=rule.interval, time=clock).body
