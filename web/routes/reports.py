"""Reports: volumes and KPIs over a window of local days (page, JSON, CSV) and the KPI formulas."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from cdr.kpi import DEFINITIONS
from cdr.reports import Report, build_report, csv_text
from web import pages
from web.deps import day_window, deps_of, hotline_of, local_today, page_user, session_of
from web.http import WINDOW, RouteSpec, html_answer, json_answer, ok
from web.openapi import ApiDoc, Response, ref


async def _report(request: web.Request) -> Report:
    first, last = day_window(request)
    deps = deps_of(request)
    now = deps.clock()
    waiting: dict[str, list[float]] = {}
    if last >= local_today(request):  # callers waiting now count against today's service level (cdr.kpi)
        waiting = {name: [max(0.0, now - c.joined_at) for c in view.callers]
                   for name, view in deps.live.snapshot().queues.items()}
    async with deps.pool.acquire() as conn:
        return await build_report(conn, hotline_of(request), first, last, deps.kpi_settings,
                                    now=dt.datetime.fromtimestamp(now, dt.UTC), waiting=waiting)


def report_json(report: Report) -> dict[str, object]:
    def plain(mapping: Mapping[str, Any]) -> dict[str, object]:
        return {k: dataclasses.asdict(v) for k, v in mapping.items()}

    return {
        "first": report.first.isoformat(), "last": report.last.isoformat(), "timezone": report.timezone,
        "service_level_seconds": report.settings.service_level_seconds, "open_seconds": report.open_seconds,
        "overall": dataclasses.asdict(report.overall), "by_day": plain(report.by_day),
        "by_hour": plain(report.by_hour), "by_partner": plain(report.by_partner),
        "by_queue": plain(report.by_queue), "lines": plain(report.lines),
        "breakdowns": {d: plain(groups) for d, groups in report.breakdowns.items()},
        "callbacks": dataclasses.asdict(report.callbacks),  # callbacks and J+8 follow-ups due in the window
        "appointments": dataclasses.asdict(report.appointments),  # booked in the window, per partner and office
    }


async def api_report(request: web.Request) -> web.StreamResponse:
    return json_answer(report_json(await _report(request)))


async def api_report_csv(request: web.Request) -> web.StreamResponse:
    report = await _report(request)
    return web.Response(
        text=csv_text(report), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="aiguilleur-{report.first}-{report.last}.csv"'},
    )


async def api_definitions(request: web.Request) -> web.StreamResponse:
    return json_answer(DEFINITIONS)


async def page_reports(request: web.Request) -> web.StreamResponse:
    report = await _report(request)
    hotline = hotline_of(request)
    names = {p.id: p.name for p in hotline.partners} | {o.id: o.name for p in hotline.partners for o in p.offices}
    return html_answer(pages.reports_page(report, page_user(request), session_of(request).csrf, names=names))


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/reports", page_reports, "supervisor"),
    RouteSpec("GET", "/api/reports", api_report, "supervisor", ApiDoc(
        "Volumes and KPIs per day, partner and queue", WINDOW, responses=ok("the report", ref("Report")),
        tag="reports")),
    RouteSpec("GET", "/api/reports.csv", api_report_csv, "supervisor", ApiDoc(
        "The report as CSV (section,key,metric,value)", WINDOW,
        responses={200: Response("CSV", {"type": "string"}, "text/csv")}, tag="reports")),
    RouteSpec("GET", "/api/kpi/definitions", api_definitions, "supervisor", ApiDoc(
        "The exact KPI formulas", responses=ok("formulas", ref("Definitions")), tag="reports")),
)
