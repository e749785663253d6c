"""Call search: the calls page, one call's story, the CSV export, and the raw call-record search API.

The queries and the pages are in ``web.call_search``.
"""

from __future__ import annotations

import datetime as dt
from typing import Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from web import call_search, store
from web.deps import day_window, deps_of, hotline_of, page_user, session_of
from web.http import ERR, WINDOW, ApiError, RouteSpec, html_answer, json_answer, no_nul, ok
from web.openapi import ApiDoc, Param, Response, array, ref


async def api_cdr(request: web.Request) -> web.StreamResponse:
    first, last = day_window(request)
    tz = ZoneInfo(hotline_of(request).hours.timezone)
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise ApiError(400, "bad_limit", "limit: a whole number from 1 to 500") from None
    if not 1 <= limit <= 500:
        raise ApiError(400, "bad_limit", "limit: a whole number from 1 to 500")
    filters = {k: request.query.get(k) or None for k in ("number", "outcome", "partner", "queue")}
    if not no_nul(*filters.values()) or any(len(v) > 64 for v in filters.values() if v):
        raise ApiError(400, "bad_filter", "number, outcome, partner and queue: text of at most 64 characters")
    rows = await store.search_cdr(
        deps_of(request).pool,
        dt.datetime.combine(first, dt.time(), tzinfo=tz), dt.datetime.combine(last + dt.timedelta(days=1),
                                                                               dt.time(), tzinfo=tz),
        limit=limit, **filters,
    )
    return json_answer(rows)


def _call_query(request: web.Request, limit: int) -> tuple[call_search.CallQuery, dt.date, dt.date]:
    first, last = day_window(request)
    tz = ZoneInfo(hotline_of(request).hours.timezone)
    start = dt.datetime.combine(first, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    try:
        return call_search.CallQuery.parse(start, end, request.query, limit=limit), first, last
    except call_search.BadSearch as error:
        raise ApiError(400, "bad_filter", str(error)) from None


async def page_calls(request: web.Request) -> web.StreamResponse:
    query, first, last = _call_query(request, call_search.PAGE_SIZE)
    rows = await call_search.search_calls(deps_of(request).pool, query)
    asked = {k: v for k, v in request.query.items() if k != "offset"}
    export = f"/api/calls.csv?{urlencode(asked)}"
    more = (f"/appels?{urlencode({**asked, 'offset': query.offset + call_search.PAGE_SIZE})}"
            if len(rows) == call_search.PAGE_SIZE else None)
    return html_answer(call_search.calls_page(rows, query, first, last, hotline_of(request), page_user(request),
                                              session_of(request).csrf, export, more))


async def page_call(request: web.Request) -> web.StreamResponse:
    story = await call_search.call_story(deps_of(request).pool, request.match_info["linkedid"])
    if story is None:
        raise ApiError(404, "unknown_call", "Aucun appel enregistré sous cet identifiant.")
    return html_answer(call_search.call_page(story, hotline_of(request), page_user(request), session_of(request).csrf))


async def api_calls_csv(request: web.Request) -> web.StreamResponse:
    query, first, last = _call_query(request, call_search.MAX_ROWS)
    rows = await call_search.search_calls(deps_of(request).pool, query)
    return web.Response(
        text=call_search.calls_csv(rows, hotline_of(request)), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="appels-{first}-{last}.csv"'},
    )


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/appels", page_calls, "supervisor"),
    RouteSpec("GET", "/appels/{linkedid}", page_call, "supervisor"),
    RouteSpec("GET", "/api/cdr", api_cdr, "supervisor", ApiDoc(
        "Search call records (newest first)", (
            *WINDOW, Param("number", description="caller number"), Param("outcome"), Param("partner"),
            Param("queue"), Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 500})),
        responses=ok("records", array(ref("CallRecord"))), tag="reports")),
    RouteSpec("GET", "/api/calls.csv", api_calls_csv, "supervisor", ApiDoc(
        "Export the calls a search finds (newest first, at most 10,000) as a spreadsheet: UTF-8 with BOM, "
        "';' separator, French labels, no cell a formula", (
            *WINDOW, *(Param(name, schema={"type": "string", "maxLength": 64}) for name in call_search.FILTERS),
            Param("offset", schema={"type": "integer", "minimum": 0, "maximum": call_search.MAX_ROWS})),
        responses={200: Response("the calls", {"type": "string"}, "text/csv"),
                   400: Response("a bad filter (the message names it)", ERR)}, tag="reports")),
)
