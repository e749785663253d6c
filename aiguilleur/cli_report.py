"""``aiguilleur report``: volumes and KPIs for a day or a range of days, as tables or CSV.

Wired into ``aiguilleur.cli`` by ``register(sub)``. Days are the hotline's
local days (Europe/Paris by default); the definitions are ``cdr.kpi``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from aiguilleur.cli_common import Block, Table, show, terminal
from aiguilleur.cli_common import iso_date as _date
from aiguilleur.cli_common import out as _out
from aiguilleur.database import resolve
from cdr.kpi import DEFINITIONS, AppointmentKpis, CallbackKpis, Kpis, KpiSettings, Volume
from cdr.reports import Report, build_report, write_csv
from config.loader import load_hotline
from config.models import Hotline
from config.settings import Settings


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds >= 0: {text!r}")
    return value


def _minutes(text: str) -> int:
    value = _seconds(text)
    if value > 24 * 60:
        raise argparse.ArgumentTypeError(f"more than a day of minutes: {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` sub-command to ``aiguilleur``'s parser."""
    p = subparsers.add_parser(
        "report", help="volumes and KPIs for a day or a range (tables or CSV)",
        description="Volumes per day, hour, need, sector, size, département, partner and queue; "
                    "service level, ASA, AHT, abandonment, prank share, occupancy. Default: today.",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--day", type=_date, help="one local day, YYYY-MM-DD")
    when.add_argument("--from", dest="first", type=_date, help="first day of a range (to --to, default today)")
    p.add_argument("--to", dest="last", type=_date, help="last day of a range, included (needs --from)")
    p.add_argument("--csv", type=str, default=None, metavar="FILE",
                   help="also write the long-format CSV (section,key,metric,value) here; '-' = stdout only")
    p.add_argument("--service-level-seconds", type=_seconds, default=KpiSettings.service_level_seconds,
                   metavar="N", help="answered within N s counts for the service level (default %(default)s)")
    p.add_argument("--short-abandon-seconds", type=_seconds, default=KpiSettings.short_abandon_seconds,
                   metavar="N", help="an abandon after less than N s is short (default %(default)s)")
    p.add_argument("--callback-minutes", type=_minutes, default=30, metavar="N",
                   help="a closed-hours callback first tried within N min of the opening counts as on time "
                        "(default %(default)s)")
    p.add_argument("--definitions", action="store_true", help="print the KPI formulas after the tables")
    p.set_defaults(func=cmd_report)


def window(args: argparse.Namespace, today: dt.date) -> tuple[dt.date, dt.date]:
    """The (first, last) days asked for; ``ValueError`` with a message when inconsistent."""
    if args.last is not None and args.first is None:
        raise ValueError("--to needs --from")
    if args.day is not None:
        return args.day, args.day
    if args.first is not None:
        last = args.last or today
        if last < args.first:
            raise ValueError(f"--to {last} is before --from {args.first}")
        return args.first, last
    return today, today


def _today(settings: Settings, hotline: Hotline) -> dt.date:
    tz = ZoneInfo(hotline.hours.timezone)
    now = dt.datetime.fromisoformat(settings.now) if settings.now else dt.datetime.now(tz)
    return (now if now.tzinfo else now.replace(tzinfo=tz)).astimezone(tz).date()


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    hotline = load_hotline(settings.hotline_file)
    try:
        first, last = window(args, _today(settings, hotline))
        kpi_settings = KpiSettings(
            service_level_seconds=args.service_level_seconds, short_abandon_seconds=args.short_abandon_seconds
        )
    except ValueError as exc:
        sys.stderr.write(f"aiguilleur report: {exc}\n")
        return 2
    report = asyncio.run(_fetch(settings, hotline, first, last, kpi_settings, args.callback_minutes))
    if args.csv == "-":
        write_csv(report, sys.stdout)
        return 0
    if (console := terminal()) is not None:
        show(console, blocks(report))
    else:
        for line in render(report):
            _out(line)
    if args.definitions:
        _out()
        _out("Definitions")
        for name, formula in DEFINITIONS.items():
            _out(f"  {name}: {formula}")
    if args.csv:
        write_csv(report, Path(args.csv))
        _out(f"\nCSV written to {args.csv}")
    return 0


async def _fetch(
    settings: Settings, hotline: Hotline, first: dt.date, last: dt.date, kpi_settings: KpiSettings,
    callback_minutes: int = 30,
) -> Report:
    database = await resolve(settings.database_url, settings.state_dir)
    try:
        conn = await asyncpg.connect(database.url)
        try:
            return await build_report(conn, hotline, first, last, kpi_settings,
                                      callback_within_minutes=callback_minutes)
        finally:
            await conn.close()
    finally:
        database.close()


# --- rendering -------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def _safe(text: str) -> str:
    # Values come from call records: show them as data, never as terminal control.
    return text.encode("unicode_escape").decode("ascii")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


# "SL" is cdr.kpi.service_level_live, the one the wallboard, the web reports and /metrics show; this
# command sees no live queue, so nobody is counted as waiting (over a past window nobody is).
KPI_HEADERS = ("scope", "calls", "offered", "answered", "SL ans", "SL", "ASA s", "AHT s",
               "aband", "aband>S", "short", "prank", "occup")
VOLUME_HEADERS = ("", "calls", "answered", "aband_q", "timeout", "aband_ivr", "closed",
                  "no_input", "invalid", "lost_pbx", "other", "degraded")


def _kpi_row(scope: str, k: Kpis) -> list[str]:
    return [_safe(scope), str(k.calls), _num(k.offered), str(k.answered), _pct(k.service_level_answered),
            _pct(k.service_level), _secs(k.asa_seconds), _secs(k.aht_seconds), _pct(k.abandonment_rate),
            _pct(k.abandonment_rate_excluding_short), _num(k.short_abandons), _pct(k.prank_share),
            _pct(k.occupancy)]


def _volume_row(key: str, v: Volume) -> list[str]:
    return [_safe(key), *(str(n) for n in (v.calls, v.answered, v.abandoned_in_queue, v.timeout,
                                            v.abandoned_in_ivr, v.closed, v.no_input, v.invalid,
                                            v.lost_by_pbx, v.other, v.degraded))]


def plain(report_blocks: Sequence[Block]) -> list[str]:
    """The blocks as plain-text lines, each table laid out by ``table``."""
    lines: list[str] = []
    for block in report_blocks:
        lines += [block] if isinstance(block, str) else table(block.header, block.rows)
    return lines


def render(report: Report) -> list[str]:
    """The whole report as plain-text lines (what scripts and tests read)."""
    return plain(blocks(report))


def blocks(report: Report) -> list[Block]:
    """The report as lines of text and tables: KPIs, volumes, lines, callbacks, appointments."""
    s = report.settings
    span = str(report.first) if report.first == report.last else f"{report.first} to {report.last}"
    out: list[Block] = [
        f"Report {span} ({report.timezone})",
        f"SL: answered with wait <= {s.service_level_seconds:g} s / (offered + callers still waiting > "
        f"{s.service_level_seconds:g} s: none seen here); SL ans: same numerator / answered; short abandon: wait < "
        f"{s.short_abandon_seconds:g} s; pranks ({', '.join(sorted(s.prank_exits))}) excluded from queue KPIs",
        f"occupancy: (talk + wrap-up) / logged-in time (in a queue and not paused, from queue_log); a line "
        f"without member rows: open hours = {report.open_seconds / 3600:.2f} h; wrap-up from {report.wrapup_source}",
        "",
        "KPIs (per partner: answered side only; abandons and pranks reach no partner)",
    ]
    rows = [_kpi_row("all", report.overall)]
    rows += [_kpi_row(f"partner {pid}", k) for pid, k in report.by_partner.items()]
    rows += [_kpi_row(f"queue {queue}", k) for queue, k in report.by_queue.items()]
    out.append(Table(KPI_HEADERS, rows))

    sections: list[tuple[str, dict[str, Volume]]] = [
        ("per day", report.by_day), ("per hour of day", report.by_hour),
        *((f"by {dimension}", groups) for dimension, groups in report.breakdowns.items()),
    ]
    for title, groups in sections:
        out += ["", f"Volumes {title}"]
        out.append(Table(VOLUME_HEADERS, [_volume_row(key, v) for key, v in groups.items()]) if groups
                   else "(no calls)")

    busy = [(line, load) for line, load in report.lines.items() if load.answered]
    out += ["", "Lines that answered calls"]
    if busy:
        out.append(Table(("line", "partner", "answered", "work s", "logged s", "logged from", "occup"), [
            [_safe(line), _safe(load.partner or "-"), str(load.answered), str(load.work_seconds),
             str(load.logged_seconds), load.logged_source, _pct(load.occupancy)]
            for line, load in busy
        ], align="llrrrlr"))
    else:
        out.append("(none)")
    idle = len(report.lines) - len(busy)
    if idle:
        out.append(f"{idle} other line(s) answered no call (occupancy 0%)")
    return out + callback_blocks(report.callbacks) + appointment_blocks(report.appointments)


def callback_blocks(k: CallbackKpis) -> list[Block]:
    """Callbacks and J+8 follow-ups due in the window (outbound: not in the inbound figures)."""
    outcomes = ", ".join(f"{code} {count}" for code, count in k.followup_outcomes.items())
    return [
        "", "Callbacks and follow-ups (due in the window; their calls are outbound, not in the figures above)",
        Table(("kind", "due", "done", "failed", "cancelled", "rate", f"placed <= {k.within_minutes} min"), [
            ["callbacks", str(k.callbacks), str(k.callbacks_done), str(k.callbacks_failed),
             str(k.callbacks_cancelled), _pct(k.callback_connect_rate), _pct(k.placed_within_opening)],
            ["follow-ups", str(k.followups), str(k.followups_done), str(k.followups_failed), "-",
             _pct(k.followup_reach_rate), "-"],
        ]),
        f"follow-up outcomes: {outcomes}",
    ]


def appointment_blocks(k: AppointmentKpis) -> list[Block]:
    """Appointments booked in the window (by booking time), per partner then each of its offices."""
    rows: list[list[str]] = []
    for partner, count in k.by_partner.items():
        rows.append([_safe(partner), "(all)", str(count)])
        rows += [[_safe(partner), _safe(office), str(n)]
                 for office, n in k.by_office.items() if k.office_partner.get(office) == partner]
    known = set(k.by_partner)
    rows += [[_safe(k.office_partner.get(office) or "-"), _safe(office), str(n)]
             for office, n in k.by_office.items() if k.office_partner.get(office) not in known]
    return ["", f"Appointments booked in the window (by booking time): {k.booked}",
            Table(("partner", "office", "booked"), rows, align="llr") if rows else "(no partner)"]
