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

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import asyncpg

from cdr.kpi import (
    NONE_KEY,
    QUEUE_OUTCOMES,
    CallFacts,
    Kpis,
    KpiSettings,
    Volume,
    answered_side_only,
    compute_kpis,
    group_by,
    is_answered,
    occupancy,
    open_seconds,
    volume,
    with_wrapup,
    work,
)
from config.models import Hotline

DIMENSIONS = ("need", "sector", "size", "departement", "partner", "queue")

WRAPUP_FROM_COLUMN = "cdr.wrapup_seconds, else partner config"
WRAPUP_FROM_CONFIG = "partner config (no wrapup_seconds column)"


@dataclass(frozen=True)
class LineLoad:
    """One partner line over the window: answered calls, work and occupancy."""

    partner: str | None
    answered: int
    work_seconds: int
    logged_seconds: int
    occupancy: float | None


@dataclass(frozen=True)
class Report:
    first: dt.date
    last: dt.date
    timezone: str
    settings: KpiSettings
    open_seconds: int  # the default logged-in time of every line (the window's open hours)
    wrapup_source: str
    by_day: dict[str, Volume]  # every day of the window, "YYYY-MM-DD"
    by_hour: dict[str, Volume]  # hour of day "HH:00" (local), summed over the window; hours with calls
    breakdowns: dict[str, dict[str, Volume]]  # dimension -> value -> volume
    overall: Kpis
    by_partner: dict[str, Kpis]  # answered side only, see kpi.answered_side_only
    by_queue: dict[str, Kpis]  # calls that joined a queue (answered, abandoned in queue, timeout)
    lines: dict[str, LineLoad]


# --- fetching -----------------------------------------------------------------
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
    """The calls that started in the window, oldest first (wrap-up as recorded, maybe ``None``)."""
    start, end = window_bounds(first, last, timezone)
    wrapup = "wrapup_seconds" if wrapup_column else "NULL::integer AS wrapup_seconds"
    rows = await conn.fetch(
        f"""SELECT linkedid, start, outcome, ivr_exit, need, sector, size, departement, queue, line,
                   partner, wait_seconds, talk_seconds, billsec, {wrapup}, degraded
            FROM cdr WHERE start >= $1 AND start < $2 ORDER BY start, linkedid""",
        start, end,
    )
    return [CallFacts(**dict(row)) for row in rows]


async def build_report(
    conn: asyncpg.Connection,
    hotline: Hotline,
    first: dt.date,
    last: dt.date,
    settings: KpiSettings | None = None,
    *,
    logged_seconds: Mapping[str, int] | None = None,
) -> Report:
    """Fetch the window's calls and aggregate them (see ``make_report``)."""
    column = await has_wrapup_column(conn)
    calls = await fetch_calls(conn, first, last, hotline.hours.timezone, wrapup_column=column)
    return make_report(
        calls, hotline, first, last, settings or KpiSettings(), logged_seconds=logged_seconds,
        wrapup_source=WRAPUP_FROM_COLUMN if column else WRAPUP_FROM_CONFIG,
    )


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
) -> Report:
    """Volumes, breakdowns and KPIs of ``calls`` over the window.

    ``logged_seconds`` is each line's logged-in time; a line missing from it
    (all of them by default: agent sessions are not stored yet) is taken as
    logged in during every open hour of the window: an approximation that
    under-states occupancy when lines are not staffed all day.
    """
    tz = ZoneInfo(hotline.hours.timezone)
    calls = with_wrapup(calls, {p.id: p.wrapup_seconds for p in hotline.partners})
    opened = open_seconds(hotline.hours, first, last)
    logged = dict(logged_seconds or {})

    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    per_day = group_by(calls, lambda c: c.start.astimezone(tz).date().isoformat())
    by_day = {day.isoformat(): volume(per_day.get(day.isoformat(), [])) for day in days}
    per_hour = group_by(calls, lambda c: f"{c.start.astimezone(tz).hour:02d}:00")
    by_hour = {hour: volume(per_hour[hour]) for hour in sorted(per_hour)}
    breakdowns = {
        dimension: _volumes_by_size(group_by(calls, attrgetter(dimension)))
        for dimension in DIMENSIONS
    }

    partner_of_line = {line: partner.id for line, partner in hotline.lines()}
    answered = [c for c in calls if is_answered(c, settings)]
    seen_lines = sorted({c.line for c in answered if c.line and c.line not in partner_of_line})
    lines: dict[str, LineLoad] = {}
    for line in [*partner_of_line, *seen_lines]:
        on_line = [c for c in answered if c.line == line]
        line_logged = logged.get(line, opened)
        line_work = sum(work(c) for c in on_line)
        partner = partner_of_line.get(line) or next((c.partner for c in on_line if c.partner), None)
        lines[line] = LineLoad(
            partner=partner, answered=len(on_line), work_seconds=line_work, logged_seconds=line_logged,
            occupancy=occupancy(line_work, line_logged),
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
    by_queue = {queue: compute_kpis(per_queue[queue], settings) for queue in sorted(per_queue)}
    overall = compute_kpis(calls, settings, logged_seconds=sum(load.logged_seconds for load in lines.values()))
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
    the ``LineLoad`` fields)."""
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
    return rows


def _cell(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float
    return str(value)


def write_csv(report: Report, target: Path | str | TextIO) -> None:
    """Write ``report_rows`` as CSV (UTF-8, header ``section,key,metric,value``) to a path or stream."""
    if isinstance(target, Path | str):
        with Path(target).open("w", encoding="utf-8", newline="") as stream:
            write_csv(report, stream)
        return
    writer = csv.writer(target, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows((section, key, metric, _cell(value)) for section, key, metric, value in report_rows(report))


def csv_text(report: Report) -> str:
    buffer = io.StringIO()
    write_csv(report, buffer)
    return buffer.getvalue()
