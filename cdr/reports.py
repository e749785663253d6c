"""Reports over the ``cdr`` table: fetch a window of calls, aggregate with ``cdr.kpi``.

SQL only selects; every number is computed in Python by ``cdr.kpi``, the one
place the definitions live. A window is a range of local days (the hotline's
time zone, Europe/Paris): a call belongs to the day and hour its ``start``
falls in, locally.

CSV export is one long-format file with the columns ``section,key,metric,value``
(see ``report_rows`` for the sections): a single file whatever the number of
partners or queues, easy to filter or pivot in a spreadsheet, and the same
rows the web view can serve. Ratios are fractions (0.75, not 75 %), times are
seconds, a value with no data is empty.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import asyncpg

from cdr.kpi import (
    MEMBER_EVENTS,
    NONE_KEY,
    QUEUE_OUTCOMES,
    AppointmentFacts,
    AppointmentKpis,
    CallbackFacts,
    CallbackKpis,
    CallFacts,
    Kpis,
    KpiSettings,
    MemberEvent,
    Volume,
    answered_side_only,
    compute_appointment_kpis,
    compute_callback_kpis,
    compute_kpis,
    group_by,
    is_answered,
    logged_in_seconds,
    menu_path,
    occupancy,
    open_seconds,
    pause_seconds_by_reason,
    volume,
    with_wrapup,
    work,
)
from cdr.spreadsheet import spreadsheet_csv
from config.models import Hotline

DIMENSIONS = ("need", "sector", "size", "departement", "partner", "queue")

WRAPUP_FROM_COLUMN = "cdr.wrapup_seconds, else partner config"
WRAPUP_FROM_CONFIG = "partner config (no wrapup_seconds column)"

LOGGED_FROM_QUEUE_LOG = "queue_log"  # the lines' member rows (cdr.kpi.logged_in_seconds)
LOGGED_FROM_OPEN_HOURS = "open_hours"  # no member row recorded at all: the window's open hours


@dataclass(frozen=True)
class LineLoad:
    """One partner line over the window: answered calls, work and occupancy."""

    partner: str | None
    answered: int
    work_seconds: float  # whole seconds from real records
    logged_seconds: int
    occupancy: float | None
    logged_source: str = LOGGED_FROM_OPEN_HOURS  # LOGGED_FROM_QUEUE_LOG or LOGGED_FROM_OPEN_HOURS


@dataclass(frozen=True)
class Report:
    first: dt.date
    last: dt.date
    timezone: str
    settings: KpiSettings
    open_seconds: int  # the logged-in time of a line without member rows (the window's open hours)
    wrapup_source: str
    by_day: dict[str, Volume]  # every day of the window, "YYYY-MM-DD"
    by_hour: dict[str, Volume]  # hour of day "HH:00" (local), summed over the window; hours with calls
    breakdowns: dict[str, dict[str, Volume]]  # dimension -> value -> volume
    overall: Kpis
    by_partner: dict[str, Kpis]  # answered side only, see kpi.answered_side_only
    by_queue: dict[str, Kpis]  # calls that joined a queue (answered, abandoned in queue, timeout)
    lines: dict[str, LineLoad]
    # Callbacks and follow-ups due in the window (outbound calls; never in the inbound figures above).
    callbacks: CallbackKpis = field(default_factory=lambda: compute_callback_kpis([]))
    # Appointments booked in the window (advisor page), per partner and office.
    appointments: AppointmentKpis = field(default_factory=lambda: compute_appointment_kpis([]))
    pauses: dict[str, int] = field(default_factory=dict)  # pause reason -> seconds paused (every line)


# --- fetching -----------------------------------------------------------------
EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)  # an open start of a window
LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)  # an open end
def window_bounds(first: dt.date, last: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """[local midnight of ``first``, local midnight after ``last``) as aware datetimes."""
    if last < first:
        raise ValueError(f"the window ends ({last}) before it starts ({first})")
    tz = ZoneInfo(timezone)
    return (
        dt.datetime.combine(first, dt.time(), tzinfo=tz),
        dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=tz),
    )


async def has_wrapup_column(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM information_schema.columns
                          WHERE table_schema = current_schema() AND table_name = 'cdr'
                            AND column_name = 'wrapup_seconds')"""
    ))


async def fetch_calls(
    conn: asyncpg.Connection, first: dt.date, last: dt.date, timezone: str, *, wrapup_column: bool
) -> list[CallFacts]:
    """The inbound calls that started in the window of local days, oldest first (``fetch_calls_between``)."""
    start, end = window_bounds(first, last, timezone)
    return await fetch_calls_between(conn, start, end, wrapup_column=wrapup_column)


async def fetch_calls_between(
    conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime, *, wrapup_column: bool
) -> list[CallFacts]:
    """The inbound calls that started in [start, end), oldest first (wrap-up as recorded, maybe ``None``).

    Outbound records (callback and follow-up tries, ``direction = 'outbound'``) are left out:
    every inbound figure counts callers who called in; the callbacks have their own KPIs.
    ``EARLIEST`` / ``LATEST`` leave a side open. The reports and ``aiguilleur sim fit`` read this."""
    wrapup = "wrapup_seconds" if wrapup_column else "NULL::integer AS wrapup_seconds"
    rows = await conn.fetch(
        f"""SELECT linkedid, start, outcome, ivr_exit, need, sector, size, departement, queue, line,
                   partner, wait_seconds, talk_seconds, billsec, {wrapup}, degraded
            FROM cdr WHERE start >= $1 AND start < $2 AND direction = 'inbound'
            ORDER BY start, linkedid""",
        start, end,
    )
    return [CallFacts(**dict(row)) for row in rows]


async def fetch_member_events(conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> list[MemberEvent]:
    """The queue_log member rows ``cdr.kpi.logged_in_seconds`` needs for [start, end).

    Each (line, queue)'s last membership row and last pause row before ``start`` (the state
    at ``start``), then every member row in the window, oldest first."""
    rows = await conn.fetch(
        """WITH before AS (
               SELECT DISTINCT ON (agent, queuename, event IN ('PAUSE', 'UNPAUSE'))
                      time, agent, queuename, event, data1
               FROM queue_log WHERE event = ANY($3::text[]) AND time < $1
               ORDER BY agent, queuename, event IN ('PAUSE', 'UNPAUSE'), time DESC)
           SELECT time, agent, queuename AS queue, event, data1 AS reason FROM before
           UNION ALL
           SELECT time, agent, queuename AS queue, event, data1 AS reason FROM queue_log
           WHERE event = ANY($3::text[]) AND time >= $1 AND time < $2
           ORDER BY 1""",
        start, end, list(MEMBER_EVENTS),
    )
    return [MemberEvent(**dict(row)) for row in rows]


async def fetch_logged_seconds(
    conn: asyncpg.Connection, first: dt.date, last: dt.date, timezone: str, *, now: dt.datetime | None = None,
) -> dict[str, int] | None:
    """Each line's logged-in time over the window from queue_log (a line without a row: 0).

    A line still logged in counts up to the window's end, or ``now`` when the window
    runs past it (today's report). ``None`` when queue_log holds no member row at all up
    to the window's end: logged-in time is not recorded (``make_report`` falls back)."""
    start, end = window_bounds(first, last, timezone)
    if now is not None:
        end = max(start, min(end, now))
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM queue_log WHERE event = ANY($1::text[]) AND time < $2)",
                               list(MEMBER_EVENTS), end):
        return None
    seconds = logged_in_seconds(await fetch_member_events(conn, start, end), start, end)
    return {line: round(value) for line, value in seconds.items()}


async def fetch_pause_seconds(
    conn: asyncpg.Connection, first: dt.date, last: dt.date, timezone: str, *, now: dt.datetime | None = None,
) -> dict[str, int]:
    """Seconds paused per reason over the window, every line summed (``cdr.kpi.pause_seconds_by_reason``)."""
    start, end = window_bounds(first, last, timezone)
    if now is not None:
        end = max(start, min(end, now))
    seconds = pause_seconds_by_reason(await fetch_member_events(conn, start, end), start, end)
    return {reason: round(value) for reason, value in sorted(seconds.items(), key=lambda kv: -kv[1])}


async def fetch_callbacks(
    conn: asyncpg.Connection, first: dt.date, last: dt.date, timezone: str
) -> list[CallbackFacts]:
    """Callbacks and follow-ups first due in the window, with the start of their first try."""
    start, end = window_bounds(first, last, timezone)
    rows = await conn.fetch(
        """SELECT c.linkedid AS id, c.kind, c.reason, c.status, COALESCE(c.due_at, c.requested_at) AS due_at,
                  c.partner, c.followup_outcome,
                  (SELECT min(t.start) FROM cdr t WHERE t.callback_of = c.linkedid AND t.direction = 'outbound')
                      AS first_try
           FROM callbacks c WHERE COALESCE(c.due_at, c.requested_at) >= $1 AND COALESCE(c.due_at, c.requested_at) < $2
           ORDER BY 5, 1""",
        start, end,
    )
    return [CallbackFacts(**dict(row)) for row in rows]


async def fetch_appointments(
    conn: asyncpg.Connection, first: dt.date, last: dt.date, timezone: str
) -> list[AppointmentFacts]:
    """Appointments booked in the window (by ``booked_at``, whatever the slot's date)."""
    start, end = window_bounds(first, last, timezone)
    rows = await conn.fetch(
        """SELECT partner_id AS partner, office_id AS office, booked_at FROM appointments
           WHERE booked_at >= $1 AND booked_at < $2 ORDER BY booked_at, id""",
        start, end,
    )
    return [AppointmentFacts(**dict(row)) for row in rows]


def appointment_kpis(appointments: Sequence[AppointmentFacts], hotline: Hotline) -> AppointmentKpis:
    """Per partner and office, every configured one listed (0 when none was booked)."""
    offices = {office.id: partner.id for partner in hotline.partners for office in partner.offices}
    return compute_appointment_kpis(appointments, offices, [p.id for p in hotline.partners])


async def build_report(
    conn: asyncpg.Connection,
    hotline: Hotline,
    first: dt.date,
    last: dt.date,
    settings: KpiSettings | None = None,
    *,
    logged_seconds: Mapping[str, int] | None = None,
    callback_within_minutes: int = 30,
    now: dt.datetime | None = None,
    waiting: Mapping[str, Sequence[float]] | None = None,
) -> Report:
    """Fetch the window's calls and aggregate them (see ``make_report``), the callback and appointment KPIs.

    ``logged_seconds`` defaults to each line's logged-in time from queue_log (up to ``now``
    for a window that runs past it); ``waiting``: see ``make_report``."""
    column = await has_wrapup_column(conn)
    calls = await fetch_calls(conn, first, last, hotline.hours.timezone, wrapup_column=column)
    if logged_seconds is None:
        logged_seconds = await fetch_logged_seconds(conn, first, last, hotline.hours.timezone, now=now)
    report = make_report(
        calls, hotline, first, last, settings or KpiSettings(), logged_seconds=logged_seconds,
        wrapup_source=WRAPUP_FROM_COLUMN if column else WRAPUP_FROM_CONFIG, waiting=waiting,
    )
    callbacks = await fetch_callbacks(conn, first, last, hotline.hours.timezone)
    appointments = await fetch_appointments(conn, first, last, hotline.hours.timezone)
    pauses = await fetch_pause_seconds(conn, first, last, hotline.hours.timezone, now=now)
    return dataclasses.replace(report, callbacks=compute_callback_kpis(callbacks, callback_within_minutes),
                               appointments=appointment_kpis(appointments, hotline), pauses=pauses)


# --- aggregating (no I/O) ------------------------------------------------------
def make_report(
    calls: Sequence[CallFacts],
    hotline: Hotline,
    first: dt.date,
    last: dt.date,
    settings: KpiSettings,
    *,
    logged_seconds: Mapping[str, int] | None = None,
    wrapup_source: str = WRAPUP_FROM_CONFIG,
    waiting: Mapping[str, Sequence[float]] | None = None,
) -> Report:
    """Volumes, breakdowns and KPIs of ``calls`` over the window.

    ``logged_seconds`` is each line's logged-in time (``build_report`` reads it from
    queue_log, ``cdr.kpi.logged_in_seconds``), a line missing from it was never logged
    in (0). When it is ``None`` (no member row recorded at all: queue_log not kept),
    every line is taken as logged in during every open hour of the window, and its
    ``logged_source`` says so. ``waiting``: per queue, the waits of the callers in it
    now, for a window that includes now (``cdr.kpi.service_level_live``; none over a
    past window).
    """
    tz = ZoneInfo(hotline.hours.timezone)
    calls = with_wrapup(calls, {p.id: p.wrapup_seconds for p in hotline.partners})
    opened = open_seconds(hotline.hours, first, last)
    logged = None if logged_seconds is None else dict(logged_seconds)

    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    per_day = group_by(calls, lambda c: c.start.astimezone(tz).date().isoformat())
    by_day = {day.isoformat(): volume(per_day.get(day.isoformat(), [])) for day in days}
    per_hour = group_by(calls, lambda c: f"{c.start.astimezone(tz).hour:02d}:00")
    by_hour = {hour: volume(per_hour[hour]) for hour in sorted(per_hour)}
    breakdowns = {
        dimension: _volumes_by_size(group_by(calls, attrgetter(dimension)))
        for dimension in DIMENSIONS
    }
    steps = [step.id for step in hotline.menu.steps]
    breakdowns["ivr_path"] = _volumes_by_size(group_by(calls, lambda c: menu_path(c, steps)))

    partner_of_line = {line: partner.id for line, partner in hotline.lines()}
    answered = [c for c in calls if is_answered(c, settings)]
    seen_lines = sorted({c.line for c in answered if c.line and c.line not in partner_of_line})
    lines: dict[str, LineLoad] = {}
    for line in [*partner_of_line, *seen_lines]:
        on_line = [c for c in answered if c.line == line]
        line_logged = opened if logged is None else logged.get(line, 0)
        line_work = sum(work(c) for c in on_line)
        partner = partner_of_line.get(line) or next((c.partner for c in on_line if c.partner), None)
        lines[line] = LineLoad(
            partner=partner, answered=len(on_line), work_seconds=line_work, logged_seconds=line_logged,
            occupancy=occupancy(line_work, line_logged),
            logged_source=LOGGED_FROM_OPEN_HOURS if logged is None else LOGGED_FROM_QUEUE_LOG,
        )

    per_partner = group_by(calls, lambda c: c.partner)
    per_partner.pop(NONE_KEY, None)
    partner_ids = [p.id for p in hotline.partners] + sorted(set(per_partner) - {p.id for p in hotline.partners})
    by_partner = {
        pid: answered_side_only(compute_kpis(
            per_partner.get(pid, []), settings,
            logged_seconds=sum(load.logged_seconds for load in lines.values() if load.partner == pid),
        ))
        for pid in partner_ids
    }
    # A queue named by the IVR but never joined (a call lost before Queue()) is no queue traffic.
    per_queue = group_by([c for c in calls if c.outcome in QUEUE_OUTCOMES], lambda c: c.queue)
    per_queue.pop(NONE_KEY, None)
    waits = {queue: list(w) for queue, w in (waiting or {}).items()}
    for queue, w in waits.items():
        if w:
            per_queue.setdefault(queue, [])  # callers waiting in a queue with no record yet count too
    by_queue = {queue: compute_kpis(per_queue[queue], settings, waiting=waits.get(queue, ()))
                for queue in sorted(per_queue)}
    overall = compute_kpis(calls, settings, logged_seconds=sum(load.logged_seconds for load in lines.values()),
                           waiting=[w for queue_waits in waits.values() for w in queue_waits])
    return Report(
        first=first, last=last, timezone=hotline.hours.timezone, settings=settings, open_seconds=opened,
        wrapup_source=wrapup_source, by_day=by_day, by_hour=by_hour, breakdowns=breakdowns,
        overall=overall, by_partner=by_partner, by_queue=by_queue, lines=lines,
    )


def _volumes_by_size(groups: Mapping[str, Sequence[CallFacts]]) -> dict[str, Volume]:
    """Volumes per value, busiest first, then by name."""
    return {key: volume(groups[key]) for key in sorted(groups, key=lambda k: (-len(groups[k]), k))}


# --- export ---------------------------------------------------------------------
Value = str | int | float | None
CSV_HEADER = ("section", "key", "metric", "value")


def report_rows(report: Report) -> list[tuple[str, str, str, Value]]:
    """The report flattened to (section, key, metric, value) rows.

    Sections: ``window`` (key empty: first, last, timezone, thresholds, open_seconds,
    wrapup_source), ``volume_day``, ``volume_hour``, ``volume_<dimension>`` for each of
    ``DIMENSIONS`` (metrics: the ``Volume`` fields), ``kpi`` (key ``all``),
    ``kpi_partner``, ``kpi_queue`` (metrics: the ``Kpis`` fields), ``line`` (metrics:
    the ``LineLoad`` fields), ``callbacks`` (key ``all``: the ``CallbackKpis`` counts and rates;
    key ``followup_outcomes``: one row per outcome code), ``appointments`` (key ``all``, metric
    ``booked``), ``appointments_partner`` (metric ``booked``), ``appointments_office`` (metrics
    ``partner`` and ``booked``), ``pause_reason`` (key the reason, metric ``seconds``: every line's
    paused time under that reason)."""
    rows: list[tuple[str, str, str, Value]] = [
        ("window", "", "first", report.first.isoformat()),
        ("window", "", "last", report.last.isoformat()),
        ("window", "", "timezone", report.timezone),
        ("window", "", "service_level_seconds", report.settings.service_level_seconds),
        ("window", "", "short_abandon_seconds", report.settings.short_abandon_seconds),
        ("window", "", "open_seconds", report.open_seconds),
        ("window", "", "wrapup_source", report.wrapup_source),
    ]

    def add(section: str, key: str, item: Volume | Kpis | LineLoad) -> None:
        rows.extend((section, key, name, value) for name, value in dataclasses.asdict(item).items())

    for day, day_volume in report.by_day.items():
        add("volume_day", day, day_volume)
    for hour, hour_volume in report.by_hour.items():
        add("volume_hour", hour, hour_volume)
    for dimension, groups in report.breakdowns.items():
        for key, group_volume in groups.items():
            add(f"volume_{dimension}", key, group_volume)
    add("kpi", "all", report.overall)
    for partner, kpis in report.by_partner.items():
        add("kpi_partner", partner, kpis)
    for queue, kpis in report.by_queue.items():
        add("kpi_queue", queue, kpis)
    for line, load in report.lines.items():
        add("line", line, load)
    for name, value in dataclasses.asdict(report.callbacks).items():
        if isinstance(value, dict):
            rows.extend(("callbacks", name, code, count) for code, count in value.items())
        else:
            rows.append(("callbacks", "all", name, value))
    rows.extend(("pause_reason", reason or NONE_KEY, "seconds", seconds) for reason, seconds in report.pauses.items())
    booked = report.appointments
    rows.append(("appointments", "all", "booked", booked.booked))
    rows.extend(("appointments_partner", partner, "booked", n) for partner, n in booked.by_partner.items())
    for office, n in booked.by_office.items():
        rows += [("appointments_office", office, "partner", booked.office_partner.get(office)),
                 ("appointments_office", office, "booked", n)]
    return rows


def write_csv(report: Report, target: Path | str | TextIO) -> None:
    """Write ``report_rows`` to a path or stream as a spreadsheet file (``cdr.spreadsheet``: UTF-8 with
    BOM, ``;`` between cells, decimal comma, no cell a formula), header ``section;key;metric;value``.
    Numbers are exact (a float is written as the shortest text that reads back to it)."""
    text = spreadsheet_csv(CSV_HEADER, report_rows(report))
    if isinstance(target, Path | str):
        Path(target).write_text(text, encoding="utf-8", newline="")
    else:
        target.write(text)


def csv_text(report: Report) -> str:
    return spreadsheet_csv(CSV_HEADER, report_rows(report))
