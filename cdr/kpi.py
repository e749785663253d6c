"""Named KPI definitions over call records. Pure: rows in, numbers out, no I/O.

Every KPI is one function whose docstring's first line is its exact formula;
``DEFINITIONS`` collects those lines for the CLI, the CSV and the web.

How a call is classified (``CallFacts.outcome``, as ``cdr.correlator`` derives it):

==================== ========================================================
outcome              meaning
==================== ========================================================
answered             an advisor answered (``wait_seconds`` = time in queue)
abandoned_in_queue   the caller hung up while waiting in a queue
timeout              the queue's max wait expired without an answer
abandoned_in_ivr     hung up in the menu, never reached a queue
closed               called outside opening hours, told so, hung up
no_input, invalid    the menu's first step never got a valid answer
==================== ========================================================

Declared rules:

- **Prank / invalid call**: ``ivr_exit`` (or ``outcome``) in
  ``KpiSettings.prank_exits`` (default ``no_input``, ``invalid``). Such calls
  are excluded from every queue KPI (numerators and denominators of service
  level, ASA, AHT, abandonment). Today they never reach a queue, so the rule
  changes nothing until the IVR routes them; it is stated so it stays true.
- **Offered to a queue**: outcome in ``answered``, ``abandoned_in_queue``,
  ``timeout`` and not a prank. Calls lost in the IVR, closed-hours calls and
  pranks are counted in volumes but are not queue traffic.
- **Within the threshold**: ``wait_seconds <= T`` (a call answered after
  exactly 20 s is within a 20 s target), the same "<=" app_queue uses for
  its ``servicelevel`` statistic. ``wait_seconds`` is whole seconds.
- **Short abandon**: abandoned in queue with ``wait_seconds < S`` (strictly:
  an abandon after exactly 5 s is *not* short with S = 5).
- A missing ``wait_seconds`` counts as 0 s; a missing ``talk_seconds`` on an
  answered call falls back to ``billsec``; a missing ``wrapup_seconds`` counts
  as 0 (``reports`` fills it from the partner's configured wrap-up first).
- ``degraded`` (the IVR service was down, the dialplan routed alone) is a flag:
  degraded calls count in every KPI like any other call, and are counted apart.
- A ratio with an empty denominator is ``None`` ("no data"), never 0.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

import holidays

from config.models import WEEKDAYS, OpeningHours

ANSWERED = "answered"
ABANDONED_IN_QUEUE = "abandoned_in_queue"
TIMEOUT = "timeout"
ABANDONED_IN_IVR = "abandoned_in_ivr"
CLOSED = "closed"
NO_INPUT = "no_input"
INVALID = "invalid"
OUTCOMES = (ANSWERED, ABANDONED_IN_QUEUE, TIMEOUT, ABANDONED_IN_IVR, CLOSED, NO_INPUT, INVALID)
QUEUE_OUTCOMES = frozenset({ANSWERED, ABANDONED_IN_QUEUE, TIMEOUT})


@dataclass(frozen=True)
class KpiSettings:
    """The tunable parts of the definitions (thresholds in whole seconds)."""

    service_level_seconds: int = 20
    short_abandon_seconds: int = 5
    prank_exits: frozenset[str] = frozenset({NO_INPUT, INVALID})

    def __post_init__(self) -> None:
        if self.service_level_seconds < 0:
            raise ValueError(f"service_level_seconds must be >= 0, got {self.service_level_seconds}")
        if self.short_abandon_seconds < 0:
            raise ValueError(f"short_abandon_seconds must be >= 0, got {self.short_abandon_seconds}")


@dataclass(frozen=True)
class CallFacts:
    """The subset of a ``cdr`` row the reports need."""

    linkedid: str
    start: dt.datetime
    outcome: str
    ivr_exit: str | None = None
    need: str | None = None
    sector: str | None = None
    size: str | None = None
    departement: str | None = None
    queue: str | None = None
    line: str | None = None
    partner: str | None = None
    wait_seconds: int | None = None
    talk_seconds: int | None = None
    billsec: int = 0
    wrapup_seconds: int | None = None
    degraded: bool = False


# --- classification ------------------------------------------------------------
def is_prank(call: CallFacts, settings: KpiSettings) -> bool:
    return call.ivr_exit in settings.prank_exits or call.outcome in settings.prank_exits


def is_offered(call: CallFacts, settings: KpiSettings) -> bool:
    return call.outcome in QUEUE_OUTCOMES and not is_prank(call, settings)


def is_answered(call: CallFacts, settings: KpiSettings) -> bool:
    return call.outcome == ANSWERED and not is_prank(call, settings)


def is_abandoned(call: CallFacts, settings: KpiSettings) -> bool:
    return call.outcome == ABANDONED_IN_QUEUE and not is_prank(call, settings)


def is_short_abandon(call: CallFacts, settings: KpiSettings) -> bool:
    return is_abandoned(call, settings) and wait(call) < settings.short_abandon_seconds


def is_within_threshold(call: CallFacts, settings: KpiSettings) -> bool:
    return is_answered(call, settings) and wait(call) <= settings.service_level_seconds


def wait(call: CallFacts) -> int:
    return call.wait_seconds or 0


def talk(call: CallFacts) -> int:
    return call.talk_seconds if call.talk_seconds is not None else call.billsec


def work(call: CallFacts) -> int:
    """Seconds of advisor work for one call: talk + wrap-up (0 when not answered)."""
    if call.outcome != ANSWERED:
        return 0
    return talk(call) + (call.wrapup_seconds or 0)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _count(calls: Iterable[CallFacts], keep: Callable[[CallFacts], bool]) -> int:
    return sum(1 for c in calls if keep(c))


# --- the KPIs -------------------------------------------------------------------
def service_level_answered(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """Service level (answered): answered with wait <= T / answered."""
    return _ratio(
        _count(calls, lambda c: is_within_threshold(c, settings)),
        _count(calls, lambda c: is_answered(c, settings)),
    )


def service_level_inclusive(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """Service level (inclusive): answered with wait <= T / offered (answered + abandoned in queue + timeout)."""
    return _ratio(
        _count(calls, lambda c: is_within_threshold(c, settings)),
        _count(calls, lambda c: is_offered(c, settings)),
    )


def average_speed_of_answer(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """ASA: sum of wait of answered calls / answered (seconds)."""
    answered = [c for c in calls if is_answered(c, settings)]
    return _ratio(sum(wait(c) for c in answered), len(answered))


def average_handle_time(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """AHT: sum of (talk + wrap-up) of answered calls / answered (seconds)."""
    answered = [c for c in calls if is_answered(c, settings)]
    return _ratio(sum(work(c) for c in answered), len(answered))


def abandonment_rate(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """Abandonment rate: abandoned in queue / offered (answered + abandoned in queue + timeout)."""
    return _ratio(
        _count(calls, lambda c: is_abandoned(c, settings)),
        _count(calls, lambda c: is_offered(c, settings)),
    )


def abandonment_rate_excluding_short(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """Abandonment rate without short abandons: (abandoned - short) / (offered - short), short = wait < S."""
    short = _count(calls, lambda c: is_short_abandon(c, settings))
    return _ratio(
        _count(calls, lambda c: is_abandoned(c, settings)) - short,
        _count(calls, lambda c: is_offered(c, settings)) - short,
    )


def prank_share(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """Prank/invalid share: calls with ivr_exit in (no_input, invalid) / all calls."""
    return _ratio(_count(calls, lambda c: is_prank(c, settings)), len(calls))


def occupancy(work_seconds: int, logged_seconds: int) -> float | None:
    """Occupancy: (talk + wrap-up of answered calls) / logged-in time; logged-in time defaults to open hours."""
    return _ratio(work_seconds, logged_seconds)


def _first_line(function: Callable[..., object]) -> str:
    return (function.__doc__ or "").strip().splitlines()[0]


DEFINITIONS: dict[str, str] = {
    "service_level_answered": _first_line(service_level_answered),
    "service_level_inclusive": _first_line(service_level_inclusive),
    "asa_seconds": _first_line(average_speed_of_answer),
    "aht_seconds": _first_line(average_handle_time),
    "abandonment_rate": _first_line(abandonment_rate),
    "abandonment_rate_excluding_short": _first_line(abandonment_rate_excluding_short),
    "prank_share": _first_line(prank_share),
    "occupancy": _first_line(occupancy),
}


# --- one scope's numbers -------------------------------------------------------
@dataclass(frozen=True)
class Kpis:
    """Counts and KPIs for one scope (overall, a partner, a queue).

    ``None`` means "not defined for this scope or no data" (see ``answered_side_only``).
    """

    calls: int
    offered: int | None
    answered: int
    answered_within_threshold: int
    abandoned: int | None
    short_abandons: int | None
    timeouts: int | None
    pranks: int | None
    degraded: int
    service_level_answered: float | None
    service_level_inclusive: float | None
    asa_seconds: float | None
    aht_seconds: float | None
    abandonment_rate: float | None
    abandonment_rate_excluding_short: float | None
    prank_share: float | None
    work_seconds: int
    logged_seconds: int | None
    occupancy: float | None


def compute_kpis(
    calls: Sequence[CallFacts], settings: KpiSettings, *, logged_seconds: int | None = None
) -> Kpis:
    """Every KPI over ``calls``; occupancy only when ``logged_seconds`` is given."""
    work_seconds = sum(work(c) for c in calls if is_answered(c, settings))
    return Kpis(
        calls=len(calls),
        offered=_count(calls, lambda c: is_offered(c, settings)),
        answered=_count(calls, lambda c: is_answered(c, settings)),
        answered_within_threshold=_count(calls, lambda c: is_within_threshold(c, settings)),
        abandoned=_count(calls, lambda c: is_abandoned(c, settings)),
        short_abandons=_count(calls, lambda c: is_short_abandon(c, settings)),
        timeouts=_count(calls, lambda c: c.outcome == TIMEOUT and not is_prank(c, settings)),
        pranks=_count(calls, lambda c: is_prank(c, settings)),
        degraded=_count(calls, lambda c: c.degraded),
        service_level_answered=service_level_answered(calls, settings),
        service_level_inclusive=service_level_inclusive(calls, settings),
        asa_seconds=average_speed_of_answer(calls, settings),
        aht_seconds=average_handle_time(calls, settings),
        abandonment_rate=abandonment_rate(calls, settings),
        abandonment_rate_excluding_short=abandonment_rate_excluding_short(calls, settings),
        prank_share=prank_share(calls, settings),
        work_seconds=work_seconds,
        logged_seconds=logged_seconds,
        occupancy=occupancy(work_seconds, logged_seconds) if logged_seconds is not None else None,
    )


def answered_side_only(kpis: Kpis) -> Kpis:
    """A partner's KPIs: only a call an advisor answered has a partner, so the
    unanswered side (offered, abandons, timeouts, pranks, inclusive service level,
    abandonment, prank share) is undefined per partner and set to ``None``.
    Those numbers exist overall and per queue."""
    return replace(
        kpis, offered=None, abandoned=None, short_abandons=None, timeouts=None, pranks=None,
        service_level_inclusive=None, abandonment_rate=None, abandonment_rate_excluding_short=None,
        prank_share=None,
    )


# --- volumes --------------------------------------------------------------------
@dataclass(frozen=True)
class Volume:
    """Calls of a group by outcome; the outcome columns add up to ``calls``."""

    calls: int = 0
    answered: int = 0
    abandoned_in_queue: int = 0
    timeout: int = 0
    abandoned_in_ivr: int = 0
    closed: int = 0
    no_input: int = 0
    invalid: int = 0
    other: int = 0  # an outcome this module does not know (a newer correlator)
    degraded: int = 0  # a flag, not an outcome: not part of the sum


def volume(calls: Iterable[CallFacts]) -> Volume:
    counts: Counter[str] = Counter()
    degraded = total = 0
    for call in calls:
        total += 1
        counts[call.outcome if call.outcome in OUTCOMES else "other"] += 1
        degraded += call.degraded
    return Volume(calls=total, degraded=degraded, other=counts["other"],
                  **{outcome: counts[outcome] for outcome in OUTCOMES})


NONE_KEY = "(none)"


def group_by(calls: Iterable[CallFacts], key: Callable[[CallFacts], str | None]) -> dict[str, list[CallFacts]]:
    """Calls grouped by ``key`` (``None`` becomes ``NONE_KEY``), keys in first-seen order."""
    groups: dict[str, list[CallFacts]] = {}
    for call in calls:
        value = key(call)
        groups.setdefault(NONE_KEY if value is None or value == "" else value, []).append(call)
    return groups


def with_wrapup(calls: Iterable[CallFacts], partner_wrapup: Mapping[str, int]) -> list[CallFacts]:
    """Fill a missing ``wrapup_seconds`` from the answering partner's configured wrap-up.

    A recorded value (the ``wrapup_seconds`` column, when the schema has it) wins;
    an answered call of an unknown partner keeps ``None`` (counted as 0)."""
    return [
        replace(c, wrapup_seconds=partner_wrapup.get(c.partner or ""))
        if c.wrapup_seconds is None and c.outcome == ANSWERED else c
        for c in calls
    ]


# --- open hours (the default logged-in time) -------------------------------------
def open_seconds(hours: OpeningHours, first: dt.date, last: dt.date) -> int:
    """Seconds the hotline is open from ``first`` to ``last`` (both included, local days).

    Weekly ranges, minus French public holidays (when enabled) and exceptional
    closures. Measured on aware datetimes, so a DST change inside a range counts true."""
    tz = ZoneInfo(hours.timezone)
    public = (
        holidays.country_holidays(hours.holidays.country, years=range(first.year, last.year + 1))
        if hours.holidays.enabled else {}
    )
    closures = [
        (c.start if c.start.tzinfo else c.start.replace(tzinfo=tz), c.end if c.end.tzinfo else c.end.replace(tzinfo=tz))
        for c in hours.closures
    ]
    total = 0.0
    day = first
    while day <= last:
        if day not in public:
            for time_range in hours.week.get(WEEKDAYS[day.weekday()], []):
                # In UTC: subtracting two datetimes that share a tzinfo ignores a DST change.
                start = dt.datetime.combine(day, time_range.open, tzinfo=tz).astimezone(dt.UTC)
                end = dt.datetime.combine(day, time_range.close, tzinfo=tz).astimezone(dt.UTC)
                total += (end - start).total_seconds() - _closed_within(start, end, closures)
        day += dt.timedelta(days=1)
    return round(total)


def _closed_within(
    start: dt.datetime, end: dt.datetime, closures: Sequence[tuple[dt.datetime, dt.datetime]]
) -> float:
    """Seconds of [start, end) covered by closures, overlapping closures counted once."""
    clipped = sorted((max(start, c_start), min(end, c_end)) for c_start, c_end in closures)
    covered = 0.0
    reach = start
    for c_start, c_end in clipped:
        c_start = max(c_start, reach)
        if c_end > c_start:
            covered += (c_end - c_start).total_seconds()
            reach = c_end
    return covered
