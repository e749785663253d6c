"""The aiohttp application: one route table, one guard, thin handlers.

Every route is in ``ROUTES`` with the access it needs (``web.roles``); the
guard middleware refuses a request before its handler runs when the session is
missing (401), the role is too low (403), or a state-changing request fails the
CSRF check (403). A route not in the table is refused (fail closed), and a test
walks ``app.router`` so no route escapes the table.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final
from zoneinfo import ZoneInfo

import asyncpg
import structlog
from aiohttp import web

from cdr.kpi import DEFINITIONS, KpiSettings
from cdr.reports import Report, build_report, csv_text
from config.models import DIMENSIONS, Hotline
from queues.ami import AmiError
from queues.state import LineState
from web import pages, screen, store
from web.live import LiveFeed, sse_frame
from web.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from web.metrics import Health, render
from web.openapi import ApiDoc, Param, Response, array, document, ref
from web.passwords import DUMMY_HASH, verify_password
from web.ports import CallInfoSource, DeskProbe, HealthProbe, HotlineSource, LiveSource, RulesProbe
from web.roles import Access, AccessDenied, check, may_act_on_line
from web.rules_form import fallback_diff, validate_document
from web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    SESSION_SECONDS,
    LoginThrottle,
    check_csrf,
    new_token,
    token_digest,
)

log = structlog.get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LINE_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
USER_PATTERN: Final = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")  # as web_users.name's CHECK
MAX_REPORT_DAYS: Final = 366
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass
class WebDeps:
    """What the web layer is given by the composition root (``web.wiring``)."""

    pool: asyncpg.Pool
    live: LiveSource
    hotline: HotlineSource
    calls: CallInfoSource | None = None
    health: HealthProbe | None = None
    desk: DeskProbe = lambda: None
    rules: RulesProbe = lambda: None
    kpi_settings: KpiSettings = field(default_factory=KpiSettings)
    feed_interval: float = 0.1
    today_interval: float = 5.0
    clock: Callable[[], float] = time.time
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    rules_timeout: float = 15.0


DEPS: Final = web.AppKey("deps", WebDeps)
FEED: Final = web.AppKey("feed", LiveFeed)
POLICY: Final = web.AppKey("policy", dict[tuple[str, str], Access])
CLOSING: Final = web.AppKey("closing", asyncio.Event)
SESSION: Final = web.RequestKey("session", store.Session)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def _json(payload: object, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _error(status: int, code: str, message: str, fields: list[dict[str, str]] | None = None) -> web.Response:
    body: dict[str, object] = {"error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return _json(body, status)


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/metrics"


def _deps(request: web.Request) -> WebDeps:
    return request.app[DEPS]


def _session(request: web.Request) -> store.Session:
    return request[SESSION]


def _page_user(request: web.Request) -> pages.PageUser:
    s = _session(request)
    return pages.PageUser(s.name, s.role, s.line)


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


# --- the guard ---------------------------------------------------------------------------------
async def _authenticate(request: web.Request) -> store.Session | None:
    auth = request.headers.get("Authorization", "")
    by_cookie = True
    if auth.lower().startswith("bearer "):
        token, by_cookie = auth[7:].strip(), False
    else:
        token = request.cookies.get(SESSION_COOKIE, "")
    if not token or len(token) > 200:
        return None
    found = await store.session_by_digest(_deps(request).pool, token_digest(token))
    if found is None:
        return None
    return dataclasses.replace(found, by_cookie=by_cookie)


async def _supplied_csrf(request: web.Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _refusal(request: web.Request, denied: AccessDenied) -> web.StreamResponse:
    if _is_api(request):
        return _error(denied.status, denied.code, denied.message)
    if denied.status == 401 and request.method == "GET":
        raise web.HTTPSeeOther(f"/login?next={request.path_qs}" if request.path != "/" else "/login")
    return _html(pages.error_page(denied.status, denied.message), denied.status)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is not None:  # no route: 404 or 405, nothing to protect
        raise match.http_exception
    resource = match.route.resource
    access = request.app[POLICY].get((request.method, resource.canonical if resource else ""))
    session = None if access == "public" else await _authenticate(request)
    try:
        check(session.role if session else None, access)
        check_csrf(
            request.method, by_cookie=session.by_cookie if session else False,
            session_csrf=session.csrf if session else None,
            supplied=await _supplied_csrf(request) if session and session.by_cookie else None,
            origin=request.headers.get("Origin"), host=request.host,
        )
    except AccessDenied as denied:
        return _refusal(request, denied)
    if session is not None:
        request[SESSION] = session
    try:
        response = await handler(request)
    except ApiError as exc:
        if _is_api(request):
            return _error(exc.status, exc.code, exc.message, exc.fields)
        return _html(pages.error_page(exc.status, exc.message), exc.status)
    return response


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if SESSION in request:
        response.headers.setdefault("Cache-Control", "no-store")


# --- helpers -----------------------------------------------------------------------------------
async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "bad_json", "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return data


def _date(request: web.Request, name: str, default: dt.date) -> dt.date:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "bad_date", f"{name}: not a date (use YYYY-MM-DD)") from None


def _hotline(request: web.Request) -> Hotline:
    return _deps(request).hotline.hotline


def _today(request: web.Request) -> dt.date:
    tz = ZoneInfo(_hotline(request).hours.timezone)
    return dt.datetime.fromtimestamp(_deps(request).clock(), tz).date()


def _window(request: web.Request) -> tuple[dt.date, dt.date]:
    today = _today(request)
    first = _date(request, "from", today)
    last = _date(request, "to", first if "from" in request.query else today)
    if last < first:
        raise ApiError(400, "bad_window", f"to ({last}) is before from ({first})")
    if (last - first).days >= MAX_REPORT_DAYS:
        raise ApiError(400, "bad_window", f"at most {MAX_REPORT_DAYS} days")
    return first, last


def _safe_next(value: str | None) -> str | None:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


def _home(role: str) -> str:
    return "/advisor" if role == "advisor" else "/wallboard"


def _set_cookie(response: web.StreamResponse, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", path="/", max_age=SESSION_SECONDS)


# --- login / logout ------------------------------------------------------------------------------
async def _login(request: web.Request, name: str, password: str) -> tuple[store.User, str, str, dt.datetime]:
    deps = _deps(request)
    now = deps.clock()
    if deps.throttle.blocked(name, now):
        raise ApiError(429, "too_many_failures", "too many failed logins for this name: wait a few minutes")
    # A name that cannot exist is not looked up (PostgreSQL refuses NUL bytes), but costs the same hash.
    user = await store.user_by_name(deps.pool, name) if USER_PATTERN.match(name) else None
    stored = user.password_hash if user is not None and not user.disabled else DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, password, stored)
    if user is None or user.disabled or not ok:
        deps.throttle.failed(name, now)
        log.info("web.login_failed", user=name)
        raise ApiError(401, "bad_credentials", "wrong name or password")
    deps.throttle.succeeded(name)
    token, csrf = new_token(), new_token()
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=SESSION_SECONDS)
    await store.create_session(deps.pool, user.id, token_digest(token), csrf, expires)
    log.info("web.login", user=user.name, role=user.role)
    return user, token, csrf, expires


async def api_login(request: web.Request) -> web.StreamResponse:
    body = await _json_body(request)
    name, password, client = body.get("name"), body.get("password"), body.get("client", "browser")
    if not isinstance(name, str) or not isinstance(password, str) or not name or not password \
            or len(name) > 64 or len(password) > 1024 or client not in ("browser", "api") \
            or set(body) - {"name", "password", "client"}:
        raise ApiError(400, "bad_login", "name and password are required strings; client is browser or api")
    user, token, csrf, expires = await _login(request, name, password)
    result: dict[str, object] = {"name": user.name, "role": user.role, "line": user.line, "csrf": csrf,
                                 "expires_at": expires.isoformat()}
    if client == "api":
        result["token"] = token
        return _json(result)
    response = _json(result)
    _set_cookie(response, token)
    return response


async def _end_session(request: web.Request) -> None:
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else request.cookies.get(SESSION_COOKIE, "")
    if token:
        await store.delete_session(_deps(request).pool, token_digest(token))


async def api_logout(request: web.Request) -> web.StreamResponse:
    await _end_session(request)
    response = _json({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def page_login(request: web.Request) -> web.StreamResponse:
    return _html(pages.login_page(next_url=_safe_next(request.query.get("next")) or "/"))


async def page_login_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password, next_url = form.get("name"), form.get("password"), form.get("next")
    if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
        return _html(pages.login_page("Identifiant et mot de passe requis."), 400)
    try:
        user, token, _csrf, _expires = await _login(request, name[:64], password[:1024])
    except ApiError as exc:
        message = "Identifiant ou mot de passe incorrect." if exc.status == 401 else exc.message
        return _html(pages.login_page(message, _safe_next(next_url if isinstance(next_url, str) else None)
                                      or "/"), exc.status)
    target = _safe_next(next_url if isinstance(next_url, str) else None) or _home(user.role)
    response = web.HTTPSeeOther(target)
    _set_cookie(response, token)
    raise response


async def page_logout(request: web.Request) -> web.StreamResponse:
    await _end_session(request)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def page_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(_home(_session(request).role))


async def api_me(request: web.Request) -> web.StreamResponse:
    s = _session(request)
    return _json({"name": s.name, "role": s.role, "line": s.line, "expires_at": s.expires_at.isoformat()})


# --- config (read) ---------------------------------------------------------------------------------
async def api_partners(request: web.Request) -> web.StreamResponse:
    return _json([{"id": p.id, "name": p.name, "lines": p.line_ids(), "skills": dict(p.skills),
                   "wrapup_seconds": p.wrapup_seconds} for p in _hotline(request).partners])


async def api_lines(request: web.Request) -> web.StreamResponse:
    snapshot = _deps(request).live.snapshot()
    rows = []
    for line, partner in _hotline(request).lines():
        state = snapshot.lines.get(line)
        rows.append({"line": line, "partner": partner.id, "status": state.status if state else "logged_out",
                     "paused_reason": state.paused_reason if state else "",
                     "queues": list(state.queues) if state else []})
    return _json(rows)


async def api_skills(request: web.Request) -> web.StreamResponse:
    hotline = _hotline(request)
    rows = []
    for step in hotline.menu.steps:
        if step.id not in DIMENSIONS:
            continue
        for option in step.options:
            key = f"{step.id}:{option.value}"
            rows.append({"skill": key, "dimension": step.id, "value": option.value, "label": option.label,
                         "partners": {p.id: p.skills[key] for p in hotline.partners if key in p.skills}})
    return _json(rows)


async def api_queue_rules(request: web.Request) -> web.StreamResponse:
    hotline = _hotline(request)
    return _json({"version": hotline.version, **hotline.queues.model_dump(mode="json")})


async def api_hours(request: web.Request) -> web.StreamResponse:
    return _json(_hotline(request).hours.model_dump(mode="json"))


# --- live ------------------------------------------------------------------------------------------
async def page_wallboard(request: web.Request) -> web.StreamResponse:
    board = request.app[FEED].current().wallboard
    return _html(pages.wallboard_page(board, _hotline(request).name, _page_user(request), _session(request).csrf))


async def api_live(request: web.Request) -> web.StreamResponse:
    return _json(request.app[FEED].current().wallboard.to_json())


async def _sse_response(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    return response


async def _session_alive(request: web.Request, checked: list[float]) -> bool:
    """Still logged in? The expiry is checked always, the session row every 30 s (logout elsewhere)."""
    s = _session(request)
    if s.expires_at <= dt.datetime.now(dt.UTC):
        return False
    now = time.monotonic()
    if now - checked[0] < 30:
        return True
    checked[0] = now
    return await _authenticate(request) is not None


async def api_live_stream(request: web.Request) -> web.StreamResponse:
    feed, closing = request.app[FEED], request.app[CLOSING]
    response = await _sse_response(request)
    feed.clients += 1
    checked = [time.monotonic()]
    try:
        frame = feed.current()
        await response.write(b"retry: 1000\n\n" + frame.data)
        generation = frame.generation
        while not closing.is_set() and await _session_alive(request, checked):
            newer = await feed.wait_newer(generation, timeout=15.0)
            if closing.is_set():
                break
            if newer is None:
                await response.write(b": keep-alive\n\n")
                continue
            generation = newer.generation
            await response.write(newer.data)
    except ConnectionResetError:
        pass  # the client went away
    finally:
        feed.clients -= 1
    return response


# --- advisor --------------------------------------------------------------------------------------
def _line_for(request: web.Request) -> str | None:
    s = _session(request)
    wanted = request.query.get("line")
    if s.role == "advisor":
        if wanted and wanted != s.line:
            raise ApiError(403, "not_your_line", "an advisor sees their own line only")
        return s.line
    if wanted is None:
        lines = _hotline(request).lines()
        return lines[0][0] if lines else None
    if not LINE_PATTERN.match(wanted):
        raise ApiError(400, "bad_line", "not a line id")
    return wanted


def _line_state(request: web.Request, line: str) -> LineState:
    state = _deps(request).live.snapshot().lines.get(line)
    if state is None:
        raise ApiError(404, "unknown_line", f"no line {line!r}")
    return state


async def _screen(request: web.Request, state: LineState) -> screen.ScreenPop:
    deps = _deps(request)
    hotline = _hotline(request)
    if screen.call_state(state) is None or state.caller_uniqueid is None:
        return screen.build(state, None, (), (), hotline.menu)
    call = deps.calls.call_info(state.caller_uniqueid) if deps.calls else None
    earlier = await store.earlier_calls(deps.pool, call.number, call.linkedid) if call else []
    memo = await store.list_memo(deps.pool)
    return screen.build(state, call, earlier, memo, hotline.menu)


async def page_advisor(request: web.Request) -> web.StreamResponse:
    line = _line_for(request)
    pop = await _screen(request, _line_state(request, line)) if line else None
    lines = [x for x, _ in _hotline(request).lines()]
    return _html(pages.advisor_page(pop, line, lines, _page_user(request), _session(request).csrf))


async def api_advisor_screen(request: web.Request) -> web.StreamResponse:
    line = _line_for(request)
    if line is None:
        raise ApiError(404, "no_line", "this account has no line")
    return _json((await _screen(request, _line_state(request, line))).to_json())


async def api_advisor_stream(request: web.Request) -> web.StreamResponse:
    line = _line_for(request)
    if line is None:
        raise ApiError(404, "no_line", "this account has no line")
    _line_state(request, line)
    feed, closing = request.app[FEED], request.app[CLOSING]
    response = await _sse_response(request)
    feed.clients += 1
    checked = [time.monotonic()]
    last_key: tuple[object, ...] | None = None
    generation = 0
    try:
        await response.write(b"retry: 1000\n\n")
        while not closing.is_set() and await _session_alive(request, checked):
            state = _deps(request).live.snapshot().lines.get(line)
            if state is not None:
                key = (state.status, state.caller_uniqueid, state.paused_reason)
                if key != last_key:
                    last_key = key
                    pop = await _screen(request, state)
                    await response.write(sse_frame("screen", pop.to_json()))
            newer = await feed.wait_newer(generation, timeout=15.0)
            if newer is None:
                await response.write(b": keep-alive\n\n")
            else:
                generation = newer.generation
    except ConnectionResetError:
        pass
    finally:
        feed.clients -= 1
    return response


def _agent_action(action: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        line = request.match_info["line"]
        s = _session(request)
        if not may_act_on_line(s.role, s.line, line):
            raise ApiError(403, "not_your_line", "an advisor acts on their own line only")
        reason = ""
        if action == "pause" and request.can_read_body:
            body = await _json_body(request)
            value = body.get("reason", "")
            if not isinstance(value, str) or len(value) > 64 or set(body) - {"reason"}:
                raise ApiError(400, "bad_reason", "reason: a string of at most 64 characters")
            reason = value
        desk = _deps(request).desk()
        if desk is None:
            raise ApiError(503, "desk_unavailable", "agent actions are not available in this service yet")
        try:
            if action == "login":
                await desk.login(line)
            elif action == "logout":
                await desk.logout(line)
            elif action == "pause":
                await desk.pause(line, reason or "pause")
            else:
                await desk.unpause(line)
        except ValueError as exc:  # AdvisorError: an unknown line
            raise ApiError(404, "unknown_line", str(exc)) from None
        except (AmiError, OSError, TimeoutError) as exc:  # the AMI link is down or Asterisk said no
            raise ApiError(502, "pbx_error", f"the PBX did not do it: {exc}") from None
        log.info("web.agent_action", by=s.name, line=line, action=action, reason=reason)
        return _json({"line": line, "action": action, "reason": reason})

    return handler


# --- calls and reports ------------------------------------------------------------------------------
async def api_cdr(request: web.Request) -> web.StreamResponse:
    first, last = _window(request)
    tz = ZoneInfo(_hotline(request).hours.timezone)
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise ApiError(400, "bad_limit", "limit: a whole number from 1 to 500") from None
    if not 1 <= limit <= 500:
        raise ApiError(400, "bad_limit", "limit: a whole number from 1 to 500")
    filters = {k: request.query.get(k) or None for k in ("number", "outcome", "partner", "queue")}
    if not _no_nul(*filters.values()) or any(len(v) > 64 for v in filters.values() if v):
        raise ApiError(400, "bad_filter", "number, outcome, partner and queue: text of at most 64 characters")
    rows = await store.search_cdr(
        _deps(request).pool,
        dt.datetime.combine(first, dt.time(), tzinfo=tz), dt.datetime.combine(last + dt.timedelta(days=1),
                                                                               dt.time(), tzinfo=tz),
        limit=limit, **filters,
    )
    return _json(rows)


async def _report(request: web.Request) -> Report:
    first, last = _window(request)
    async with _deps(request).pool.acquire() as conn:
        return await build_report(conn, _hotline(request), first, last, _deps(request).kpi_settings)


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
    }


async def api_report(request: web.Request) -> web.StreamResponse:
    return _json(report_json(await _report(request)))


async def api_report_csv(request: web.Request) -> web.StreamResponse:
    report = await _report(request)
    return web.Response(
        text=csv_text(report), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="aiguilleur-{report.first}-{report.last}.csv"'},
    )


async def api_definitions(request: web.Request) -> web.StreamResponse:
    return _json(DEFINITIONS)


async def page_reports(request: web.Request) -> web.StreamResponse:
    report = await _report(request)
    return _html(pages.reports_page(report, _page_user(request), _session(request).csrf))


# --- memo -----------------------------------------------------------------------------------------
def _no_nul(*values: object) -> bool:
    """PostgreSQL text cannot hold NUL: such input is refused with a 400, not a 500."""
    return not any(isinstance(v, str) and "\x00" in v for v in values)


def _memo_input(body: Mapping[str, Any]) -> tuple[str, str, list[str], list[str]]:
    title, text = body.get("title"), body.get("body", "")
    needs, sectors = body.get("needs", []), body.get("sectors", [])
    ok = (isinstance(title, str) and 1 <= len(title) <= 200 and isinstance(text, str) and len(text) <= 20000
          and isinstance(needs, list) and isinstance(sectors, list)
          and all(isinstance(x, str) and len(x) <= 32 for x in [*needs, *sectors])
          and _no_nul(title, text, *needs, *sectors)
          and not set(body) - {"title", "body", "needs", "sectors"})
    if not ok:
        raise ApiError(400, "bad_memo", "title (1-200 chars), body (text), needs and sectors (lists of slugs)")
    assert isinstance(title, str) and isinstance(text, str)
    return title, text, [str(x) for x in needs], [str(x) for x in sectors]


def _memo_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "unknown_memo", "no such memo section")
    return int(raw)


async def api_memo_list(request: web.Request) -> web.StreamResponse:
    return _json([dataclasses.asdict(m) for m in await store.list_memo(_deps(request).pool)])


async def api_memo_add(request: web.Request) -> web.StreamResponse:
    title, text, needs, sectors = _memo_input(await _json_body(request))
    section = await store.add_memo(_deps(request).pool, title, text, needs, sectors, _session(request).name)
    return _json(dataclasses.asdict(section), 201)


async def api_memo_update(request: web.Request) -> web.StreamResponse:
    section_id = _memo_id(request)
    title, text, needs, sectors = _memo_input(await _json_body(request))
    section = await store.update_memo(_deps(request).pool, section_id, title, text, needs, sectors,
                                      _session(request).name)
    if section is None:
        raise ApiError(404, "unknown_memo", "no such memo section")
    return _json(dataclasses.asdict(section))


async def api_memo_delete(request: web.Request) -> web.StreamResponse:
    if not await store.delete_memo(_deps(request).pool, _memo_id(request)):
        raise ApiError(404, "unknown_memo", "no such memo section")
    return _json({"ok": True})


async def page_memo(request: web.Request) -> web.StreamResponse:
    sections = await store.list_memo(_deps(request).pool)
    return _html(pages.memo_page(sections, _hotline(request), _page_user(request), _session(request).csrf))


# --- rules ----------------------------------------------------------------------------------------
async def api_rules(request: web.Request) -> web.StreamResponse:
    hotline = _hotline(request)
    return _json({"active_version": hotline.version, "document": hotline.model_dump(mode="json"),
                  "history": await store.rule_history(_deps(request).pool),
                  "apply_available": _deps(request).rules() is not None})


def _proposed(body: Mapping[str, Any]) -> tuple[Hotline | None, list[dict[str, str]]]:
    if set(body) != {"document"}:
        raise ApiError(400, "bad_rules", "the body is {\"document\": {...the hotline...}}")
    hotline, errors = validate_document(body["document"])
    return hotline, [{"path": err.path, "message": err.message} for err in errors]


async def api_rules_preview(request: web.Request) -> web.StreamResponse:
    hotline, errors = _proposed(await _json_body(request))
    if hotline is None:
        return _json({"valid": False, "errors": errors, "diff": [], "version": None})
    gateway = _deps(request).rules()
    problems: list[str] = []
    if gateway is None:
        diff = fallback_diff(_hotline(request), hotline)
    else:
        diff, problems = await gateway.check(hotline)
    errors = [{"path": "version" if p.startswith("version") else "", "message": p} for p in problems]
    return _json({"valid": not errors, "errors": errors, "diff": diff, "version": hotline.version})


def _outcome_response(outcome_status: str, payload: dict[str, object]) -> web.Response:
    status = {"applied": 200, "pending": 202}.get(outcome_status, 409)
    return _json(payload, status)


async def api_rules_apply(request: web.Request) -> web.StreamResponse:
    hotline, errors = _proposed(await _json_body(request))
    if hotline is None:
        raise ApiError(422, "rules_invalid", "the rules are not valid", errors)
    gateway = _deps(request).rules()
    if gateway is None:
        raise ApiError(503, "rules_unavailable", "applying rules is not available in this service yet")
    try:
        request_id = await gateway.request_apply(hotline, by=_session(request).name, source="web")
    except ValueError as exc:
        raise ApiError(422, "rules_refused", str(exc)) from None
    outcome = await gateway.wait_outcome(request_id, _deps(request).rules_timeout)
    log.info("web.rules_apply", by=_session(request).name, request_id=request_id, status=outcome.status)
    return _outcome_response(outcome.status, dataclasses.asdict(outcome))


async def api_rules_rollback(request: web.Request) -> web.StreamResponse:
    gateway = _deps(request).rules()
    if gateway is None:
        raise ApiError(503, "rules_unavailable", "rolling back rules is not available in this service yet")
    try:
        request_id = await gateway.request_rollback(by=_session(request).name)
    except ValueError as exc:
        raise ApiError(409, "nothing_to_roll_back", str(exc)) from None
    outcome = await gateway.wait_outcome(request_id, _deps(request).rules_timeout)
    log.info("web.rules_rollback", by=_session(request).name, request_id=request_id, status=outcome.status)
    return _outcome_response(outcome.status, dataclasses.asdict(outcome))


async def page_rules(request: web.Request) -> web.StreamResponse:
    history = await store.rule_history(_deps(request).pool)
    return _html(pages.rules_page(_hotline(request), history, _page_user(request), _session(request).csrf,
                                  apply_available=_deps(request).rules() is not None))


async def api_users(request: web.Request) -> web.StreamResponse:
    return _json(await store.list_users(_deps(request).pool))


# --- metrics, OpenAPI, static -----------------------------------------------------------------------
async def metrics(request: web.Request) -> web.StreamResponse:
    deps, feed = _deps(request), request.app[FEED]
    raw = deps.health() if deps.health else None
    health = Health(
        ami_connected=raw.ami_connected if raw else False, spool_depth=raw.spool_depth if raw else 0,
        backlog=raw.backlog if raw else 0, write_lag_seconds=feed.write_lag,
        written_total=raw.written_total if raw else 0, write_failures_total=raw.write_failures_total if raw else 0,
        dropped_total=raw.dropped_total if raw else 0, open_calls=raw.open_calls if raw else 0,
        sse_clients=feed.clients, live_updates_total=feed.updates,
    )
    partner_of = {line: p.id for line, p in _hotline(request).lines()}
    text = render(deps.live.snapshot(), partner_of, feed.today, health, deps.clock())
    return web.Response(body=text.encode(), headers={"Content-Type": METRICS_CONTENT_TYPE})


async def openapi_json(request: web.Request) -> web.StreamResponse:
    return _json(openapi_document())


STATIC_TYPES: Final = {".js": "text/javascript", ".css": "text/css"}
_STATIC: dict[str, bytes] = {}


def _static_files() -> dict[str, bytes]:
    if not _STATIC:
        for entry in resources.files("web").joinpath("static").iterdir():
            if entry.name.endswith(tuple(STATIC_TYPES)):
                _STATIC[entry.name] = entry.read_bytes()
    return _STATIC


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    body = _static_files().get(name)
    if body is None:
        raise web.HTTPNotFound()
    kind = STATIC_TYPES[name[name.rfind("."):]]
    return web.Response(body=body, content_type=kind, charset="utf-8", headers={"Cache-Control": "no-cache"})


# --- the table -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    access: Access
    doc: ApiDoc | None = None  # API routes: in the OpenAPI document


def _ok(description: str, schema: dict[str, Any] | None) -> dict[int, Response]:
    return {200: Response(description, schema)}


WINDOW = (Param("from", schema={"type": "string", "format": "date"}, description="first local day, YYYY-MM-DD"),
          Param("to", schema={"type": "string", "format": "date"}, description="last local day, included"))
LINE_QUERY = Param("line", schema={"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,40}$"},
                   description="supervisors: the line to show (advisors: their own)")
ERR = ref("Error")
AGENT_RESPONSES = {
    200: Response("done", ref("AgentAction")), 404: Response("unknown line", ERR),
    502: Response("the PBX refused or did not answer", ERR), 503: Response("agent actions unavailable", ERR),
}


def _agent_route(action: str, summary: str) -> RouteSpec:
    body = ref("PauseBody") if action == "pause" else None
    params = (Param("line", "path", schema={"type": "string"}),)
    doc = ApiDoc(summary, params, body, AGENT_RESPONSES, tag="agents", body_required=False)
    return RouteSpec("POST", f"/api/agents/{{line}}/{action}", _agent_action(action), "advisor", doc)


ROUTES: Final[tuple[RouteSpec, ...]] = (
    # pages
    RouteSpec("GET", "/", page_home, "advisor"),
    RouteSpec("GET", "/login", page_login, "public"),
    RouteSpec("POST", "/login", page_login_post, "public"),
    RouteSpec("POST", "/logout", page_logout, "advisor"),
    RouteSpec("GET", "/wallboard", page_wallboard, "supervisor"),
    RouteSpec("GET", "/advisor", page_advisor, "advisor"),
    RouteSpec("GET", "/reports", page_reports, "supervisor"),
    RouteSpec("GET", "/rules", page_rules, "admin"),
    RouteSpec("GET", "/memo", page_memo, "admin"),
    RouteSpec("GET", "/static/{name}", static, "public"),
    RouteSpec("GET", "/metrics", metrics, "public"),
    # API
    RouteSpec("GET", "/api/openapi.json", openapi_json, "public",
              ApiDoc("This document", responses=_ok("OpenAPI 3.0", {"type": "object"}), tag="meta")),
    RouteSpec("POST", "/api/login", api_login, "public", ApiDoc(
        "Log in (client=api returns a bearer token; otherwise a session cookie is set)", body=ref("Login"),
        responses={200: Response("logged in", ref("LoginResult")), 401: Response("wrong name or password", ERR),
                   429: Response("too many failures for this name", ERR)}, tag="auth")),
    RouteSpec("POST", "/api/logout", api_logout, "advisor", ApiDoc(
        "End this session", responses=_ok("logged out", {"type": "object"}), tag="auth")),
    RouteSpec("GET", "/api/me", api_me, "advisor", ApiDoc("Who am I", responses=_ok("the session", ref("Me")),
                                                        tag="auth")),
    RouteSpec("GET", "/api/config/partners", api_partners, "supervisor",
              ApiDoc("Partners, their lines and skills", responses=_ok("partners", array(ref("Partner"))),
                     tag="config")),
    RouteSpec("GET", "/api/config/lines", api_lines, "supervisor",
              ApiDoc("Every partner line with its live status", responses=_ok("lines", array(ref("Line"))),
                     tag="config")),
    RouteSpec("GET", "/api/config/skills", api_skills, "supervisor",
              ApiDoc("Skills (one per menu answer) and the partners' levels", responses=_ok(
                  "skills", array(ref("Skill"))), tag="config")),
    RouteSpec("GET", "/api/config/queue-rules", api_queue_rules, "supervisor",
              ApiDoc("Queue policy and escalation steps", responses=_ok("rules", ref("QueueRules")), tag="config")),
    RouteSpec("GET", "/api/config/hours", api_hours, "supervisor",
              ApiDoc("Opening hours, holidays and closures", responses=_ok("hours", ref("Hours")), tag="config")),
    RouteSpec("GET", "/api/live", api_live, "supervisor",
              ApiDoc("The live wallboard (queues, lines by state)", responses=_ok("now", ref("Wallboard")),
                     tag="live")),
    RouteSpec("GET", "/api/live/stream", api_live_stream, "supervisor", ApiDoc(
        "The wallboard as server-sent events (event: wallboard, on every change)",
        responses={200: Response("an event stream", {"type": "string"}, "text/event-stream")}, tag="live")),
    RouteSpec("GET", "/api/advisor/screen", api_advisor_screen, "advisor", ApiDoc(
        "The screen pop of a line: caller, IVR answers, earlier calls, memo", (LINE_QUERY,),
        responses={200: Response("the line now", ref("ScreenPop")), 404: Response("unknown line", ERR)},
        tag="advisor")),
    RouteSpec("GET", "/api/advisor/stream", api_advisor_stream, "advisor", ApiDoc(
        "The screen pop as server-sent events (event: screen)", (LINE_QUERY,),
        responses={200: Response("an event stream", {"type": "string"}, "text/event-stream"),
                   404: Response("unknown line", ERR)}, tag="advisor")),
    _agent_route("login", "Log the line in to its queues"),
    _agent_route("logout", "Log the line out of its queues"),
    _agent_route("pause", "Pause the line (optional JSON body {reason})"),
    _agent_route("unpause", "End the line's pause"),
    RouteSpec("GET", "/api/cdr", api_cdr, "supervisor", ApiDoc(
        "Search call records (newest first)", (
            *WINDOW, Param("number", description="caller number"), Param("outcome"), Param("partner"),
            Param("queue"), Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 500})),
        responses=_ok("records", array(ref("CallRecord"))), tag="reports")),
    RouteSpec("GET", "/api/reports", api_report, "supervisor", ApiDoc(
        "Volumes and KPIs per day, partner and queue", WINDOW, responses=_ok("the report", ref("Report")),
        tag="reports")),
    RouteSpec("GET", "/api/reports.csv", api_report_csv, "supervisor", ApiDoc(
        "The report as CSV (section,key,metric,value)", WINDOW,
        responses={200: Response("CSV", {"type": "string"}, "text/csv")}, tag="reports")),
    RouteSpec("GET", "/api/kpi/definitions", api_definitions, "supervisor", ApiDoc(
        "The exact KPI formulas", responses=_ok("formulas", ref("Definitions")), tag="reports")),
    RouteSpec("GET", "/api/memo", api_memo_list, "advisor", ApiDoc(
        "The advisors' memo", responses=_ok("sections", array(ref("MemoSection"))), tag="memo")),
    RouteSpec("POST", "/api/memo", api_memo_add, "admin", ApiDoc(
        "Add a memo section", body=ref("MemoInput"),
        responses={201: Response("added", ref("MemoSection"))}, tag="memo")),
    RouteSpec("PUT", "/api/memo/{id}", api_memo_update, "admin", ApiDoc(
        "Replace a memo section", (Param("id", "path", schema={"type": "string"}),), ref("MemoInput"),
        {200: Response("saved", ref("MemoSection")), 404: Response("no such section", ERR)}, tag="memo")),
    RouteSpec("DELETE", "/api/memo/{id}", api_memo_delete, "admin", ApiDoc(
        "Delete a memo section", (Param("id", "path", schema={"type": "string"}),),
        responses={200: Response("deleted", {"type": "object"}), 404: Response("no such section", ERR)},
        tag="memo")),
    RouteSpec("GET", "/api/rules", api_rules, "admin", ApiDoc(
        "The rules in service and their history", responses=_ok("rules", ref("Rules")), tag="rules")),
    RouteSpec("POST", "/api/rules/preview", api_rules_preview, "admin", ApiDoc(
        "Validate proposed rules, field by field, and show what would change", body=ref("RulesDocument"),
        responses=_ok("checked", ref("RulesPreview")), tag="rules")),
    RouteSpec("POST", "/api/rules/apply", api_rules_apply, "admin", ApiDoc(
        "Apply rules (same path as `aiguilleur rules apply`)", body=ref("RulesDocument"), responses={
            200: Response("applied", ref("RulesOutcome")), 202: Response("still pending", ref("RulesOutcome")),
            409: Response("failed", ref("RulesOutcome")), 422: Response("invalid rules", ERR),
            503: Response("rules service unavailable", ERR)}, tag="rules")),
    RouteSpec("POST", "/api/rules/rollback", api_rules_rollback, "admin", ApiDoc(
        "Go back to the previous applied rules", responses={
            200: Response("rolled back", ref("RulesOutcome")), 202: Response("still pending", ref("RulesOutcome")),
            409: Response("failed, or nothing to roll back", {}), 503: Response("rules service unavailable", ERR)},
        tag="rules")),
    RouteSpec("GET", "/api/users", api_users, "admin", ApiDoc(
        "Users and roles", responses=_ok("users", array(ref("User"))), tag="auth")),
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
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app.cleanup_ctx.append(_live_ctx)
    app.on_response_prepare.append(_headers)
    app.on_shutdown.append(_on_shutdown)
    return app

