"""Opening hours as intervals of simulated time.

Simulated time is seconds of local wall-clock time since midnight of the first
simulated day (day ``d`` starts at ``d * 86400``): a DST change moves no
opening hour, as on the real line. The intervals come from the hotline's
``hours`` (weekly ranges, French public holidays, closures): the same rules as
``ivr.hours.state_at``, precomputed so a call's check is a binary search.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import holidays

from config.models import WEEKDAYS, OpeningHours

DAY = 86_400.0


def _seconds(at: dt.datetime, origin: dt.date) -> float:
    return (at.date() - origin).days * DAY + at.hour * 3600 + at.minute * 60 + at.second + at.microsecond / 1e6


def _subtract(intervals: list[tuple[float, float]], cut: tuple[float, float]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    c0, c1 = cut
    for a, b in intervals:
        if c1 <= a or c0 >= b:
            out.append((a, b))
            continue
        if a < c0:
            out.append((a, c0))
        if c1 < b:
            out.append((c1, b))
    return out


@dataclass(frozen=True)
class Calendar:
    start: dt.date
    days: int
    timezone: str
    intervals: tuple[tuple[float, float], ...]
    _starts: list[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", [a for a, _ in self.intervals])

    @classmethod
    def build(cls, hours: OpeningHours, start: dt.date, days: int) -> Calendar:
        tz = ZoneInfo(hours.timezone)
        years = range(start.year, (start + dt.timedelta(days=days)).year + 1)
        public = holidays.country_holidays(hours.holidays.country, years=years) if hours.holidays.enabled else {}
        intervals: list[tuple[float, float]] = []
        for d in range(days):
            day = start + dt.timedelta(days=d)
            if day in public:
                continue
            for r in sorted(hours.week.get(WEEKDAYS[day.weekday()], []), key=lambda r: r.open):
                intervals.append((_seconds(dt.datetime.combine(day, r.open), start),
                                  _seconds(dt.datetime.combine(day, r.close), start)))
        for closure in hours.closures:
            c0 = closure.start.astimezone(tz).replace(tzinfo=None) if closure.start.tzinfo else closure.start
            c1 = closure.end.astimezone(tz).replace(tzinfo=None) if closure.end.tzinfo else closure.end
            intervals = _subtract(intervals, (_seconds(c0, start), _seconds(c1, start)))
        return cls(start, days, hours.timezone, tuple(sorted(intervals)))

    @property
    def horizon(self) -> float:
        return self.days * DAY

    def is_open(self, t: float) -> bool:
        i = bisect.bisect_right(self._starts, t) - 1
        return i >= 0 and t < self.intervals[i][1]

    def open_seconds(self) -> float:
        return sum(b - a for a, b in self.intervals)

    def to_datetime(self, t: float) -> dt.datetime:
        """The aware local datetime of simulated time ``t``."""
        day = self.start + dt.timedelta(days=int(t // DAY))
        naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=t % DAY)
        return naive.replace(tzinfo=ZoneInfo(self.timezone))
