"""Is the hotline open at a given instant? Weekly hours, French public holidays, closures.

Pure: the caller passes ``now`` (an aware datetime); nothing reads the clock here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from config.models import WEEKDAYS, OpeningHours


@dataclass(frozen=True)
class OpenState:
    open: bool
    reason: str  # "open", "hours", "holiday:<name>", "closure:<reason>"
    next_opening: dt.datetime | None


@lru_cache(maxsize=32)
def _public_holidays(country: str, year: int) -> dict[dt.date, str]:
    return dict(holidays.country_holidays(country, years=year, language="fr"))


def _holiday(hours: OpeningHours, day: dt.date) -> str | None:
    if not hours.holidays.enabled:
        return None
    return _public_holidays(hours.holidays.country, day.year).get(day)


def _closure(hours: OpeningHours, at: dt.datetime) -> str | None:
    for closure in hours.closures:
        tz = ZoneInfo(hours.timezone)
        start = closure.start if closure.start.tzinfo else closure.start.replace(tzinfo=tz)
        end = closure.end if closure.end.tzinfo else closure.end.replace(tzinfo=tz)
        if start <= at < end:
            return closure.reason or "fermeture exceptionnelle"
    return None


def _within_week_hours(hours: OpeningHours, local: dt.datetime) -> bool:
    ranges = hours.week.get(WEEKDAYS[local.weekday()], [])
    return any(r.open <= local.time() < r.close for r in ranges)


def state_at(hours: OpeningHours, now: dt.datetime) -> OpenState:
    """Open or closed at ``now``, why, and when it next opens (searched up to 14 days ahead)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local = now.astimezone(ZoneInfo(hours.timezone))
    holiday = _holiday(hours, local.date())
    closure = _closure(hours, local)
    if holiday is None and closure is None and _within_week_hours(hours, local):
        return OpenState(True, "open", None)
    if holiday is not None:
        reason = f"holiday:{holiday}"
    elif closure is not None:
        reason = f"closure:{closure}"
    else:
        reason = "hours"
    return OpenState(False, reason, next_opening(hours, local))


def next_opening(hours: OpeningHours, after: dt.datetime) -> dt.datetime | None:
    """The first opening instant strictly after ``after`` that is not a holiday or a closure."""
    tz = ZoneInfo(hours.timezone)
    local = after.astimezone(tz)
    for offset in range(15):
        day = local.date() + dt.timedelta(days=offset)
        if _holiday(hours, day) is not None:
            continue
        for time_range in sorted(hours.week.get(WEEKDAYS[day.weekday()], []), key=lambda r: r.open):
            candidates = [dt.datetime.combine(day, time_range.open, tzinfo=tz)]
            # Inside a range cut short by a closure, the line reopens when the closure ends.
            candidates += [
                (c.end if c.end.tzinfo else c.end.replace(tzinfo=tz)) for c in hours.closures
            ]
            close_at = dt.datetime.combine(day, time_range.close, tzinfo=tz)
            for start in sorted(candidates):
                opens_at = dt.datetime.combine(day, time_range.open, tzinfo=tz)
                if local < start < close_at and opens_at <= start and _closure(hours, start) is None:
                    return start
    return None
