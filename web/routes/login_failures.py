"""Failed logins, for the admins: who tried, from where, when and why (page and API)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from aiohttp import web

from web import login_failures_page, store
from web.deps import deps_of, hotline_of, page_user, session_of
from web.http import ERR, ApiError, RouteSpec, html_answer, json_answer, no_nul
from web.openapi import ApiDoc, Param, Response


async def _login_failures(request: web.Request) -> tuple[int, store.LoginFailures]:
    """The failed logins of the last ``hours`` (default 24), maybe of one ``name`` or ``address``."""
    def number(key: str, default: int, top: int) -> int:
        text = request.query.get(key, str(default))
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= top:
            raise ApiError(400, "bad_query", f"{key}: a whole number from 1 to {top}")
        return int(text)

    hours, limit = number("hours", 24, 24 * 90), number("limit", 100, 500)
    name, address = request.query.get("name") or None, request.query.get("address") or None
    if not no_nul(name, address) or any(len(v) > 64 for v in (name, address) if v):
        raise ApiError(400, "bad_query", "name and address: text of at most 64 characters")
    since = dt.datetime.fromtimestamp(deps_of(request).clock(), dt.UTC) - dt.timedelta(hours=hours)
    return hours, await store.login_failures(deps_of(request).pool, since, name=name, address=address, limit=limit)


async def api_login_failures(request: web.Request) -> web.StreamResponse:
    def plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in row.items()} for row in rows]

    hours, found = await _login_failures(request)
    return json_answer({"hours": hours, "failures": plain(found.rows), "by_name": plain(found.by_name),
                        "by_address": plain(found.by_address)})


async def page_login_failures(request: web.Request) -> web.StreamResponse:
    hours, found = await _login_failures(request)
    return html_answer(login_failures_page.login_failures_page(
        found.rows, found.by_name, found.by_address, hours, hotline_of(request).hours.timezone,
        page_user(request), session_of(request).csrf))


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/connexions", page_login_failures, "admin"),
    RouteSpec("GET", "/api/security/login-failures", api_login_failures, "admin", ApiDoc(
        "Failed logins (name tried, client address, when, why), newest first, with counts per name and "
        "per address", (
            Param("hours", schema={"type": "integer", "minimum": 1, "maximum": 2160},
                  description="the last N hours (default 24)"),
            Param("name", schema={"type": "string", "maxLength": 64}), Param("address", schema={
                "type": "string", "maxLength": 64}),
            Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 500})),
        responses={200: Response("failed logins", {"type": "object", "required": ["failures", "by_name",
                                                                                   "by_address"]}),
                   400: Response("bad query", ERR)}, tag="auth")),
)
