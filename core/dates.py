"""Dates and times as people read them: one style everywhere, in the reader's language
(CLDR data via Babel) and time zone. The patterns are catalog texts (`format.day`,
`format.time`), so each language writes dates its own way."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.units import format_unit

from core.i18n import default_catalog

if TYPE_CHECKING:
    from core.app import App


def day_text(day: date, language: str) -> str:
    """`Mon 3 Jun 2030`, `Mo. 03.06.2030`, `lun. 3 juin 2030`: the pattern is a catalog text."""
    pattern = default_catalog().template(language, "format.day")
    return format_date(day, pattern, locale=language)


def duration_words(seconds: float, language: str) -> str:
    """A setting's duration in words, in the largest unit that keeps it exact: `1 day`,
    `36 Stunden`, `90 minutes` (CLDR unit names, plural forms included)."""
    minutes = max(0, round(seconds / 60))
    for size, unit in ((1440, "duration-day"), (60, "duration-hour"), (1, "duration-minute")):
        if minutes % size == 0:
            return format_unit(minutes // size, unit, length="long", locale=language)
    raise AssertionError("unreachable")


def short_day_text(day: date, language: str) -> str:
    """`Mon, Jun 3` / `Mo., 3. Juni` / `lun. 3 juin`: CLDR's weekday-day-month form."""
    return format_skeleton("MMMEd", day, locale=language)


def clock_text(moment: datetime, language: str) -> str:
    """`09:00` (the pattern is a catalog text)."""
    return format_time(moment, default_catalog().template(language, "format.time"), locale=language)


def moment_text(timestamp: float, zone: ZoneInfo, language: str) -> str:
    """`Mon 3 Jun 2030, 09:00 (Europe/Berlin)`."""
    local = datetime.fromtimestamp(timestamp, UTC).astimezone(zone)
    return f"{day_text(local.date(), language)}, {clock_text(local, language)} ({zone.key})"


def day(timestamp: float, language: str, zone: ZoneInfo | None = None) -> str:
    """A stored time as a date, in the reader's zone (UTC if none is known)."""
    return day_text(_local_day(timestamp, zone), language)


def period(start: float, end: float, language: str, zone: ZoneInfo | None = None) -> str:
    """Two stored times as the days between them, in the reader's zone: one day once
    (`Sat 5 Dec 2026`), else both joined as CLDR joins an interval in that language
    (`Mon 30 Nov 2026 – Sat 5 Dec 2026`), each in the one date style."""
    first, last = (_local_day(t, zone) for t in (start, end))
    if first == last:
        return day_text(first, language)
    joiner = Locale.parse(language).interval_formats.get(None) or "{0} – {1}"
    return joiner.format(day_text(first, language), day_text(last, language))


def _local_day(timestamp: float, zone: ZoneInfo | None) -> date:
    return datetime.fromtimestamp(timestamp, UTC).astimezone(zone or ZoneInfo("UTC")).date()


def when(timestamp: float, language: str, zone: ZoneInfo | None = None) -> str:
    """A stored time as a date and a time, in the reader's zone (UTC if none is known)."""
    return moment_text(timestamp, zone or ZoneInfo("UTC"), language)


def zone_of(app: App, user_id: str) -> ZoneInfo:
    """The person's time zone as a bot keeps it (`Bot.time_zone`), else UTC."""
    for bot in app.bots:
        name = bot.time_zone(user_id)
        if name:
            try:
                return ZoneInfo(name)
            except (ValueError, KeyError):
                continue
    return ZoneInfo("UTC")
