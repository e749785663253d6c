"""The aiohttp application: one route table, one guard, thin handlers.

Each feature's handlers and routes are in its own module (``web.routes``); ``ROUTES`` joins their
tables, each route with the access it needs (``web.roles``). The guard middleware refuses a request
before its handler runs when the session is missing (401), the role is too low (403), or a
state-changing request fails the CSRF check (403). A route not in the table is refused (fail
closed), and a test walks ``app.router`` so no route escapes the table.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import structlog
from aiohttp import web

from web import pages
from web.deps import CLOSING, DEPS, FEED, SESSION, WRAPUPS, WebDeps
from web.http import (
    DATABASE_DOWN,
    DATABASE_DOWN_MESSAGE,
    DATABASE_DOWN_RETRY,
    ApiError,
    Handler,
    RouteSpec,
    error_answer,
    html_answer,
    is_api,
    json_answer,
    ok,
)
from web.live import LiveFeed
from web.openapi import ApiDoc, document
from web.roles import Access, AccessDenied, check
from web.routes import (
    advisor,
    appointments,
    auth,
    callbacks,
    calls,
    configuration,
    live,
    login_failures,
    memo,
    metrics,
    reports,
    rules,
    static,
    users,
)
from web.routes.auth import authenticate, supplied_csrf
from web.security import check_csrf
from web.wrapup import WrapupBook

log = structlog.get_logger(__name__)
POLICY: Final = web.AppKey("policy", dict[tuple[str, str], Access])
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


# --- the guard ---------------------------------------------------------------------------------
def _refusal(request: web.Request, denied: AccessDenied) -> web.StreamResponse:
    if is_api(request):
        return error_answer(denied.status, denied.code, denied.message)
    if denied.status == 401 and request.method == "GET":
        raise web.HTTPSeeOther(f"/login?next={request.path_qs}" if request.path != "/" else "/login")
    return html_answer(pages.error_page(denied.status, denied.message), denied.status)


def _unavailable(request: web.Request, status: int, code: str, message: str) -> web.StreamResponse:
    answer = (error_answer(status, code, message) if is_api(request)
              else html_answer(pages.error_page(status, message), status))
    if status == 503:
        answer.headers["Retry-After"] = str(DATABASE_DOWN_RETRY)
    return answer


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Access control, then the handler; whatever fails answers a clear page (French) or JSON error."""
    try:
        return await _guarded(request, handler)
    except (web.HTTPException, ConnectionResetError):
        raise  # redirects, 404/405: aiohttp's own answers; a client gone: nobody to answer
    except DATABASE_DOWN as exc:
        log.warning("web.database_unavailable", path=request.path, error=str(exc) or type(exc).__name__)
        return _unavailable(request, 503, "database_unavailable", DATABASE_DOWN_MESSAGE)
    except Exception:
        log.exception("web.handler_failed", path=request.path)
        return _unavailable(request, 500, "internal_error",
                            "Erreur interne du service : l'équipe technique en est informée. Réessayez plus tard.")


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is not None:  # no route: 404 or 405, nothing to protect
        raise match.http_exception
    resource = match.route.resource
    access = request.app[POLICY].get((request.method, resource.canonical if resource else ""))
    session = None if access == "public" else await authenticate(request)
    try:
        check(session.role if session else None, access)
        check_csrf(
            request.method, by_cookie=session.by_cookie if session else False,
            session_csrf=session.csrf if session else None,
            supplied=await supplied_csrf(request) if session and session.by_cookie else None,
            origin=request.headers.get("Origin"), host=request.host,
        )
    except AccessDenied as denied:
        return _refusal(request, denied)
    if session is not None:
        request[SESSION] = session
    try:
        response = await handler(request)
    except ApiError as exc:
        answer = (error_answer(exc.status, exc.code, exc.message, exc.fields) if is_api(request)
                  else html_answer(pages.error_page(exc.status, exc.message), exc.status))
        if exc.retry_after is not None:
            answer.headers["Retry-After"] = str(exc.retry_after)
        return answer
    return response


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = "aiguilleur"  # not aiohttp's "Python/3.x aiohttp/3.x": no version to target
    if SESSION in request:
        response.headers.setdefault("Cache-Control", "no-store")


# --- the table -----------------------------------------------------------------------------------
async def openapi_json(request: web.Request) -> web.StreamResponse:
    return json_answer(openapi_document())


# API routes in this order in the OpenAPI document: sign-in first, then the hotline, live, advisor... admin last.
ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/api/openapi.json", openapi_json, "public",
              ApiDoc("This document", responses=ok("OpenAPI 3.0", {"type": "object"}), tag="meta")),
    *auth.ROUTES, *configuration.ROUTES, *live.ROUTES, *advisor.ROUTES, *appointments.ROUTES, *calls.ROUTES,
    *reports.ROUTES, *callbacks.ROUTES, *memo.ROUTES, *rules.ROUTES, *login_failures.ROUTES, *users.ROUTES,
    *metrics.ROUTES, *static.ROUTES,
)


def openapi_document() -> dict[str, Any]:
    return document(((r.method, r.path, r.access, r.doc) for r in ROUTES if r.doc is not None),
                    title="aiguilleur", version="1")


def policy() -> dict[tuple[str, str], Access]:
    return {(r.method, r.path): r.access for r in ROUTES}


async def _live_ctx(app: web.Application) -> Any:
    deps = app[DEPS]
    feed = LiveFeed(deps.live, deps.hotline, health=deps.health, pool=deps.pool, kpi_settings=deps.kpi_settings,
                    interval=deps.feed_interval, today_interval=deps.today_interval, clock=deps.clock)
    app[FEED] = feed
    tasks = [asyncio.create_task(feed.run(), name="web-live-feed"),
             asyncio.create_task(feed.run_today(), name="web-today-stats")]
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _on_shutdown(app: web.Application) -> None:
    app[CLOSING].set()
    if FEED in app:
        app[FEED].wake()  # the streams see CLOSING and end


def make_app(deps: WebDeps) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=512 * 1024)
    app[DEPS] = deps
    app[POLICY] = policy()
    app[CLOSING] = asyncio.Event()
    app[WRAPUPS] = WrapupBook()
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app.cleanup_ctx.append(_live_ctx)
    app.on_response_prepare.append(_headers)
    app.on_shutdown.append(_on_shutdown)
    return app

