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
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import asyncpg
import structlog
from aiohttp import web

from aiguilleur.callbacks import CallbackStore
from cdr.kpi import DEFINITIONS, KpiSettings
from cdr.reports import Report, build_report, csv_text
from config.models import DEFAULT_WRAPUP_CODES, DIMENSIONS, FOLLOWUP_OUTCOMES, Hotline
from config.settings import SmtpSettings
from queues.ami import AmiError
from queues.callback import Callback, CallbackError, Cancel, Retry, callback_of_try
from queues.errors import DomainError
from queues.state import LineState
from queues.transfers import transfer_queue
from routing.explain import RoutingEffect, answer_errors, explain, ring_steps, routing_effect
from routing.rules import diff_rules
from web import appointments_api, call_search, callbacks_page, login_failures_page, pages, screen, store, users_admin
from web.live import LiveFeed, sse_frame
from web.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from web.metrics import Health, render
from web.openapi import ApiDoc, Param, Response, array, document, ref
from web.passwords import DUMMY_HASH, hash_password, verify_password
from web.ports import CallInfoSource, CommunesProbe, DeskProbe, HealthProbe, HotlineSource, LiveSource, RulesProbe
from web.roles import Access, AccessDenied, check, may_act_on_line
from web.rules_form import validate_document
from web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    SESSION_SECONDS,
    LoginThrottle,
    check_csrf,
    metrics_allowed,
    new_token,
    same_site_path,
    token_digest,
)
from web.wallboard import queue_label, short_names
from web.wrapup import WrapupBook

log = structlog.get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LINE_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
USER_PATTERN: Final = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")  # as web_users.name's CHECK
MAX_REPORT_DAYS: Final = 366
# PostgreSQL unreachable, restarting or gone mid-query: the page says so (503, French), never a raw 500.
DATABASE_DOWN: Final = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
                        asyncpg.exceptions.OperatorInterventionError)
DATABASE_DOWN_MESSAGE: Final = ("Service momentanément indisponible : la base de données ne répond pas. "
                                "Réessayez dans quelques instants.")
DATABASE_DOWN_RETRY: Final = 5  # seconds, sent as Retry-After
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
    communes: CommunesProbe = lambda: None  # appointments: Etalab's communes (web.wiring loads them)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)  # brochure and appointment e-mails
    # Which of Asterisk's live files a rules change rewrites (aiguilleur.rules.files_needed), and where
    # the service writes them (settings.asterisk_etc_dirs); None: not known here (the preview says so).
    asterisk_files: Callable[[Hotline, Hotline], list[str]] | None = None
    asterisk_conf_dirs: tuple[Path, ...] = ()
    session_recheck_seconds: float = 30.0  # how often a live stream re-reads its session row (logout elsewhere)
    wrapup_save_wait: float = 2.0  # "terminer le post-appel": how long to wait for the CDR writer's record
    metrics_token: str | None = None  # /metrics: the bearer token it needs; None: loopback clients only
    secure_cookies: bool = False  # a TLS proxy is in front: Secure cookies even on plain HTTP to us


DEPS: Final = web.AppKey("deps", WebDeps)
FEED: Final = web.AppKey("feed", LiveFeed)
POLICY: Final = web.AppKey("policy", dict[tuple[str, str], Access])
CLOSING: Final = web.AppKey("closing", asyncio.Event)
WRAPUPS: Final = web.AppKey("wrapups", WrapupBook)
SESSION: Final = web.RequestKey("session", store.Session)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None,
                 *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields
        self.retry_after = retry_after  # seconds, sent as Retry-After (HTTP 429)


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


def _unavailable(request: web.Request, status: int, code: str, message: str) -> web.StreamResponse:
    answer = _error(status, code, message) if _is_api(request) else _html(pages.error_page(status, message), status)
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
        answer = (_error(exc.status, exc.code, exc.message, exc.fields) if _is_api(request)
                  else _html(pages.error_page(exc.status, exc.message), exc.status))
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
    """The page to go to after the login: a path of this site only (``security.same_site_path``)."""
    return same_site_path(value)


def _home(role: str) -> str:
    return "/advisor" if role == "advisor" else "/wallboard"


def _set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    # Secure over TLS (ours, or a proxy's in front): the session never travels in clear.
    secure = request.secure or _deps(request).secure_cookies
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", path="/", max_age=SESSION_SECONDS,
                        secure=secure)


# --- login / logout ------------------------------------------------------------------------------
def _client_address(request: web.Request) -> str:
    """The peer's address as this server sees it (behind a reverse proxy: the proxy's)."""
    return request.remote or "unknown"


async def _login(request: web.Request, name: str, password: str, client: str
                 ) -> tuple[store.User, str, str, dt.datetime]:
    """Check a name and password under the progressive delays of ``deps.throttle``; a checked
    failure is recorded in ``login_failures`` (who, from where, when, why) for the admin."""
    deps = _deps(request)
    now = deps.clock()
    address = _client_address(request)
    wait = deps.throttle.wait(name, address, now)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        log.info("web.login_delayed", user=name, address=address, wait_seconds=seconds)
        raise ApiError(429, "too_many_failures", f"too many failed logins: try again in {seconds} s",
                       retry_after=seconds)
    deps.throttle.attempt(name, address, now)  # counted before the check: parallel guesses wait too
    # A name that cannot exist is not looked up (PostgreSQL refuses NUL bytes), but costs the same hash.
    user = await store.user_by_name(deps.pool, name) if USER_PATTERN.match(name) else None
    stored = user.password_hash if user is not None and not user.disabled else DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, password, stored)
    if user is None or user.disabled or not ok:
        reason = "unknown_name" if user is None else "disabled" if user.disabled else "bad_password"
        log.info("web.login_failed", user=name, address=address, reason=reason)
        try:
            await store.record_login_failure(
                deps.pool, at=dt.datetime.fromtimestamp(now, dt.UTC), name=name,
                user_id=user.id if user else None, address=address, reason=reason, client=client,
                user_agent=request.headers.get("User-Agent", ""))
        except (asyncpg.PostgresError, OSError) as exc:  # the 401 stands; the record is lost, said in the log
            log.warning("web.login_failure_not_recorded", user=name, address=address, error=str(exc))
        raise ApiError(401, "bad_credentials", "wrong name or password")
    deps.throttle.succeeded(name, address, now)
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
    user, token, csrf, expires = await _login(request, name, password, "api")
    result: dict[str, object] = {"name": user.name, "role": user.role, "line": user.line, "csrf": csrf,
                                 "expires_at": expires.isoformat()}
    if client == "api":
        result["token"] = token
        return _json(result)
    response = _json(result)
    _set_cookie(request, response, token)
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
        user, token, _csrf, _expires = await _login(request, name[:64], password[:1024], "form")
    except DATABASE_DOWN as exc:
        log.warning("web.database_unavailable", path=request.path, error=str(exc) or type(exc).__name__)
        page = _html(pages.login_page(DATABASE_DOWN_MESSAGE, _safe_next(next_url if isinstance(next_url, str)
                                                                        else None) or "/"), 503)
        page.headers["Retry-After"] = str(DATABASE_DOWN_RETRY)
        return page
    except ApiError as exc:
        message = {401: "Identifiant ou mot de passe incorrect.",
                   429: f"Trop d'échecs de connexion : réessayez dans {exc.retry_after} s."}.get(exc.status,
                                                                                                 exc.message)
        page = _html(pages.login_page(message, _safe_next(next_url if isinstance(next_url, str) else None)
                                      or "/"), exc.status)
        if exc.retry_after is not None:
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    target = _safe_next(next_url if isinstance(next_url, str) else None) or _home(user.role)
    response = web.HTTPSeeOther(target)
    _set_cookie(request, response, token)
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


def _keepalive_seconds(request: web.Request) -> float:
    """A stream idles at most this long: a keep-alive, and the session re-check on its cadence."""
    return min(15.0, _deps(request).session_recheck_seconds)


async def _session_alive(request: web.Request, checked: list[float]) -> bool:
    """Still logged in? The expiry is checked always, the session row every 30 s (logout elsewhere)."""
    s = _session(request)
    if s.expires_at <= dt.datetime.now(dt.UTC):
        return False
    now = time.monotonic()
    if now - checked[0] < _deps(request).session_recheck_seconds:
        return True
    checked[0] = now
    try:
        return await _authenticate(request) is not None
    except DATABASE_DOWN as exc:  # cannot tell: end the stream; the page retries and says it is stale
        log.warning("web.stream_session_unchecked", path=request.path, error=str(exc) or type(exc).__name__)
        return False


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
            newer = await feed.wait_newer(generation, timeout=_keepalive_seconds(request))
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


def _wrapup_options(hotline: Hotline, line: str) -> tuple[screen.WrapupOption, ...]:
    partner = hotline.partner_of(line)
    codes = partner.wrapup_choices() if partner else DEFAULT_WRAPUP_CODES
    return tuple(screen.WrapupOption(c.id, c.label) for c in codes)


async def _screen(request: web.Request, state: LineState) -> screen.ScreenPop:
    """The line's pop: its call now, else the call it still has to wrap up, else idle."""
    book = request.app[WRAPUPS]
    if screen.call_state(state) is None or state.caller_uniqueid is None:
        pending = book.pending(state.line)
        if pending is not None:
            return screen.in_wrapup(pending, state.status)
        return screen.build(state, None, (), (), _hotline(request).menu)
    pop = await _call_screen(request, state)
    if pop.queue:
        hotline = _hotline(request)
        pop = dataclasses.replace(pop, queue_label=queue_label(pop.queue, short_names(hotline.partners),
                                                                 hotline.queues.general_queue))
    book.remember(pop)
    return pop


async def _call_screen(request: web.Request, state: LineState) -> screen.ScreenPop:
    deps = _deps(request)
    hotline = _hotline(request)
    assert state.caller_uniqueid is not None
    codes = _wrapup_options(hotline, state.line)
    call = deps.calls.call_info(state.caller_uniqueid) if deps.calls else None
    earlier = await store.earlier_calls(deps.pool, call.number, call.linkedid) if call else []
    memo = await store.list_memo(deps.pool)
    # A callback or J+8 follow-up try (outbound): say so, why, and the original call's IVR answers.
    callback_id = callback_of_try(call.linkedid if call else state.caller_uniqueid)
    row = await CallbackStore(deps.pool, "web").originals(callback_id) if callback_id else None
    if row is None:
        return screen.build(state, call, earlier, memo, hotline.menu, wrapup_codes=codes)
    return screen.build(state, call, earlier, memo, hotline.menu, screen.callback_info(row),
                        screen.callback_answers(row), wrapup_codes=codes)


async def page_advisor(request: web.Request) -> web.StreamResponse:
    line = _line_for(request)
    pop = await _screen(request, _line_state(request, line)) if line else None
    hotline = _hotline(request)
    lines = [x for x, _ in hotline.lines()]
    own = hotline.partner_of(line) if line else None
    partners = [(p.id, p.name) for p in hotline.partners if own is None or p.id != own.id]
    return _html(pages.advisor_page(pop, line, lines, _page_user(request), _session(request).csrf, partners))


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
                key = (state.status, state.caller_uniqueid, state.paused_reason,
                       request.app[WRAPUPS].pending_id(line))
                if key != last_key:
                    last_key = key
                    pop = await _screen(request, state)
                    await response.write(sse_frame("screen", pop.to_json()))
            newer = await feed.wait_newer(generation, timeout=_keepalive_seconds(request))
            if newer is None:
                await response.write(b": keep-alive\n\n")
            else:
                generation = newer.generation
    except ConnectionResetError:
        pass
    except DATABASE_DOWN as exc:  # the pop's history could not be read: end the stream, the page retries
        log.warning("web.stream_database_unavailable", line=line, error=str(exc) or type(exc).__name__)
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
        except DomainError as exc:  # an unknown line, a line not logged in...: the error's own code
            raise ApiError(exc.status, exc.code, str(exc)) from None
        except (AmiError, OSError, TimeoutError) as exc:  # the AMI link is down or Asterisk said no
            raise ApiError(502, "pbx_error", f"the PBX did not do it: {exc}") from None
        log.info("web.agent_action", by=s.name, line=line, action=action, reason=reason)
        return _json({"line": line, "action": action, "reason": reason})

    return handler


WRAPUP_NOTES_MAX: Final = 4000


async def api_agent_wrapup(request: web.Request) -> web.StreamResponse:
    """Terminer le post-appel: the wrap-up code and notes saved on the call's record; the pop closes."""
    line = request.match_info["line"]
    s = _session(request)
    if not may_act_on_line(s.role, s.line, line):
        raise ApiError(403, "not_your_line", "an advisor acts on their own line only")
    body = await _json_body(request)
    linkedid, code, notes = body.get("linkedid"), body.get("code"), body.get("notes", "")
    if not isinstance(linkedid, str) or not isinstance(notes, str) or set(body) - {"linkedid", "code", "notes"}:
        raise ApiError(400, "bad_wrapup", "linkedid (the call), code and notes (text) are expected")
    if len(notes) > WRAPUP_NOTES_MAX or not _no_nul(notes):
        raise ApiError(400, "bad_notes", f"Notes : {WRAPUP_NOTES_MAX} caractères au plus.")
    codes = {o.id for o in _wrapup_options(_hotline(request), line)}
    if code not in codes:
        raise ApiError(400, "bad_code", "Choisissez un code de post-appel.",
                       [{"path": "code", "message": f"one of {', '.join(sorted(codes))}"}])
    book = request.app[WRAPUPS]
    pending = book.pending(line)
    if pending is None or pending.linkedid != linkedid:
        raise ApiError(409, "no_wrapup", "Aucun post-appel en cours pour cet appel sur cette ligne.")
    state = _deps(request).live.snapshot().lines.get(line)
    if state is not None and state.caller_uniqueid is not None and screen.call_state(state) == "connected" \
            and pending.caller_uniqueid == state.caller_uniqueid:
        raise ApiError(409, "call_in_progress", "L'appel est encore en cours : raccrochez d'abord.")
    deps = _deps(request)
    at = dt.datetime.fromtimestamp(deps.clock(), dt.UTC)
    deadline = time.monotonic() + deps.wrapup_save_wait
    while not await store.save_wrapup(deps.pool, linkedid, str(code), notes, s.name, at):
        if time.monotonic() >= deadline:  # the writer writes every 0.2 s: its record should be there
            raise ApiError(409, "call_not_recorded", "L'appel n'est pas encore enregistré : réessayez dans "
                                                     "quelques secondes (vos notes sont gardées).")
        await asyncio.sleep(0.2)
    book.done(line, linkedid)
    request.app[FEED].wake()  # the line's stream sends the idle pop
    log.info("web.wrapup_done", by=s.name, line=line, linkedid=linkedid, code=code, notes_chars=len(notes))
    return _json({"line": line, "linkedid": linkedid, "code": code, "notes": notes, "done_at": at.isoformat()})


async def api_agent_transfer(request: web.Request) -> web.StreamResponse:
    """Transfer the caller talking to the line to a partner's queue (what #1 then *5N does on the softphone)."""
    line = request.match_info["line"]
    s = _session(request)
    if not may_act_on_line(s.role, s.line, line):
        raise ApiError(403, "not_your_line", "an advisor acts on their own line only")
    body = await _json_body(request)
    partner = body.get("partner")
    if not isinstance(partner, str) or not LINE_PATTERN.match(partner) or set(body) - {"partner"}:
        raise ApiError(400, "bad_partner", "partner: the id of a partner (GET /api/config/partners)")
    desk = _deps(request).desk()
    if desk is None:
        raise ApiError(503, "desk_unavailable", "agent actions are not available in this service yet")
    try:
        exten = await desk.transfer(line, partner)
    except DomainError as exc:  # unknown line or partner, no call on the line
        raise ApiError(exc.status, exc.code, str(exc)) from None
    except (AmiError, OSError, TimeoutError) as exc:
        raise ApiError(502, "pbx_error", f"the PBX did not do it: {exc}") from None
    log.info("web.agent_action", by=s.name, line=line, action="transfer", partner=partner)
    return _json({"line": line, "action": "transfer", "partner": partner, "queue": transfer_queue(partner),
                  "exten": exten})


LISTEN_MODES: Final = ("listen", "whisper", "barge")


async def api_agent_listen(request: web.Request) -> web.StreamResponse:
    """A supervisor listens to (or whispers to, or joins) the line's call from their own softphone."""
    line, s = request.match_info["line"], _session(request)
    body = await _json_body(request)
    mode = body.get("mode", "listen")
    if mode not in LISTEN_MODES or set(body) - {"mode"}:
        raise ApiError(400, "bad_mode", f"mode: one of {', '.join(LISTEN_MODES)}")
    hotline = _hotline(request)
    if s.line is None or s.line not in hotline.advisors.supervisor_lines:
        raise ApiError(409, "no_softphone", "Votre compte n'a pas de poste de supervision ("
                       + ", ".join(hotline.advisors.supervisor_lines) + ") : un administrateur le donne sur la "
                       "page Utilisateurs.")
    desk = _deps(request).desk()
    if desk is None:
        raise ApiError(503, "desk_unavailable", "agent actions are not available in this service yet")
    try:
        channel = await desk.listen(s.line, line, str(mode))
    except DomainError as exc:  # unknown line, no call on the line, not a softphone
        raise ApiError(exc.status, exc.code, str(exc)) from None
    except (AmiError, OSError, TimeoutError) as exc:
        raise ApiError(502, "pbx_error", f"the PBX did not do it: {exc}") from None
    await users_admin.audit(_deps(request).pool, s.name, f"call_{mode}", line, f"depuis {s.line} ({channel})")
    log.info("web.agent_action", by=s.name, line=line, action="listen", mode=mode, softphone=s.line)
    return _json({"line": line, "action": "listen", "mode": mode, "softphone": s.line, "channel": channel})


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
    deps = _deps(request)
    now = deps.clock()
    waiting: dict[str, list[float]] = {}
    if last >= _today(request):  # callers waiting now count against today's service level (cdr.kpi)
        waiting = {name: [max(0.0, now - c.joined_at) for c in view.callers]
                   for name, view in deps.live.snapshot().queues.items()}
    async with deps.pool.acquire() as conn:
        return await build_report(conn, _hotline(request), first, last, deps.kpi_settings,
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
    hotline = _hotline(request)
    names = {p.id: p.name for p in hotline.partners} | {o.id: o.name for p in hotline.partners for o in p.offices}
    return _html(pages.reports_page(report, _page_user(request), _session(request).csrf, names=names))


# --- call search ----------------------------------------------------------------------------------
def _call_query(request: web.Request, limit: int) -> tuple[call_search.CallQuery, dt.date, dt.date]:
    first, last = _window(request)
    tz = ZoneInfo(_hotline(request).hours.timezone)
    start = dt.datetime.combine(first, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    try:
        return call_search.CallQuery.parse(start, end, request.query, limit=limit), first, last
    except call_search.BadSearch as error:
        raise ApiError(400, "bad_filter", str(error)) from None


async def page_calls(request: web.Request) -> web.StreamResponse:
    query, first, last = _call_query(request, call_search.PAGE_SIZE)
    rows = await call_search.search_calls(_deps(request).pool, query)
    asked = {k: v for k, v in request.query.items() if k != "offset"}
    export = f"/api/calls.csv?{urlencode(asked)}"
    more = (f"/appels?{urlencode({**asked, 'offset': query.offset + call_search.PAGE_SIZE})}"
            if len(rows) == call_search.PAGE_SIZE else None)
    return _html(call_search.calls_page(rows, query, first, last, _hotline(request), _page_user(request),
                                        _session(request).csrf, export, more))


async def page_call(request: web.Request) -> web.StreamResponse:
    story = await call_search.call_story(_deps(request).pool, request.match_info["linkedid"])
    if story is None:
        raise ApiError(404, "unknown_call", "Aucun appel enregistré sous cet identifiant.")
    return _html(call_search.call_page(story, _hotline(request), _page_user(request), _session(request).csrf))


async def api_calls_csv(request: web.Request) -> web.StreamResponse:
    query, first, last = _call_query(request, call_search.MAX_ROWS)
    rows = await call_search.search_calls(_deps(request).pool, query)
    return web.Response(
        text=call_search.calls_csv(rows, _hotline(request)), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="appels-{first}-{last}.csv"'},
    )


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


# --- callbacks and J+8 follow-ups (aiguilleur.callbacks: the CLI's store functions) ------------------
_CALLBACK_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_CALLBACK_STATUSES = ("pending", "dialling", "connected", "done", "no_answer", "failed", "cancelled")


def _callback_id(request: web.Request) -> str:
    wanted = request.match_info["id"]
    if not _CALLBACK_ID.fullmatch(wanted):
        raise ApiError(400, "bad_callback", "not a callback id")
    return wanted


def _callback_json(c: Callback) -> dict[str, object]:
    return {"id": c.id, "kind": c.kind, "status": c.status, "partner": c.partner, "number": c.caller_number,
            "tries": c.tries, "next_try_at": c.next_try_at.isoformat() if c.next_try_at else None,
            "reason": c.reason, "last_result": c.last_result, "outcome": c.outcome, "origin": c.origin,
            "followup_outcome": c.followup_outcome}


def _instant(request: web.Request) -> dt.datetime:
    """The service clock (seconds) as an aware datetime: the dialer's rules take one."""
    return dt.datetime.fromtimestamp(_deps(request).clock(), dt.UTC)


def _callback_store(request: web.Request) -> CallbackStore:
    return CallbackStore(_deps(request).pool, f"web:{_session(request).name}")


async def _listed(request: web.Request) -> list[Callback]:
    statuses = request.query.getall("status", [])
    kind = request.query.get("kind") or None
    partner = request.query.get("partner") or None
    if any(s not in _CALLBACK_STATUSES for s in statuses) or kind not in (None, "callback", "followup"):
        raise ApiError(400, "bad_filter", "status or kind unknown")
    if partner is not None and partner not in {p.id for p in _hotline(request).partners}:
        raise ApiError(400, "bad_filter", f"no partner {partner!r}")
    rows = await _callback_store(request).listing(statuses, 500, kind=kind, partner=partner)
    return [r.callback for r in rows]


async def api_callbacks(request: web.Request) -> web.StreamResponse:
    listed = await _listed(request)
    counts = await _callback_store(request).counts()
    rates = {kind: callbacks_page.success_rate(counts, kind) for kind in ("callback", "followup")}
    return _json({"callbacks": [_callback_json(c) for c in listed], "success_rate": rates})


async def _operate(request: web.Request, event: Cancel | Retry, partner: str | None) -> web.StreamResponse:
    try:
        after = await _callback_store(request).operate(_callback_id(request), event, _hotline(request),
                                                       _instant(request), partner=partner)
    except CallbackError as error:
        raise ApiError(404 if error.code == "callback.unknown" else 409 if error.code != "callback.unknown_partner"
                       else 400, error.code, str(error)) from None
    return _json(_callback_json(after))


async def api_callback_cancel(request: web.Request) -> web.StreamResponse:
    body = await _json_body(request) if request.can_read_body else {}
    reason = body.get("reason", "annulé par un superviseur")
    if not isinstance(reason, str) or len(reason) > 200:
        raise ApiError(400, "bad_reason", "reason: a text of at most 200 characters")
    return await _operate(request, Cancel(f"{reason} ({_session(request).name})"), None)


async def api_callback_retry(request: web.Request) -> web.StreamResponse:
    body = await _json_body(request) if request.can_read_body else {}
    partner = body.get("partner")
    if partner is not None and not isinstance(partner, str):
        raise ApiError(400, "bad_partner", "partner: a partner id")
    return await _operate(request, Retry(_instant(request)), partner or None)


async def api_callback_outcome(request: web.Request) -> web.StreamResponse:
    code = (await _json_body(request)).get("code")
    if code not in FOLLOWUP_OUTCOMES:
        raise ApiError(400, "bad_outcome", f"code: one of {', '.join(FOLLOWUP_OUTCOMES)}")
    try:
        after, made = await _callback_store(request).record_outcome(
            _callback_id(request), code, _session(request).name, _hotline(request), _instant(request))
    except CallbackError as error:
        raise ApiError(404 if error.code == "callback.unknown" else 409, error.code, str(error)) from None
    return _json({**_callback_json(after), "new_request": made})


async def page_callbacks(request: web.Request) -> web.StreamResponse:
    listed = [callbacks_page.ListedCallback(c.id, c.kind, c.status, c.partner, c.caller_number, c.tries,
                                            c.next_try_at, c.reason, c.last_result, c.followup_outcome or c.outcome)
              for c in await _listed(request)]
    counts = await _callback_store(request).counts()
    partners = [p.id for p in _hotline(request).partners]
    return _html(callbacks_page.callbacks_page(listed, counts, partners, _page_user(request), _session(request).csrf))


# --- appointments and brochure (web.appointments_api) ----------------------------------------------
def _appointments(view: appointments_api.View) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await view(request, _deps(request), _session(request))
        except appointments_api.Refused as exc:
            raise ApiError(exc.status, exc.code, exc.message, exc.fields) from None

    return handler


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


def routing_json(effect: RoutingEffect) -> dict[str, object]:
    return {"queues_before": effect.queues_before, "queues_after": effect.queues_after,
            "memberships_after": effect.memberships_after, "changed_count": effect.changed_count,
            "profiles": effect.profiles,
            "changed": [{"answers": c.answers, "before": list(c.before), "after": list(c.after)}
                        for c in effect.changed]}


async def api_rules_preview(request: web.Request) -> web.StreamResponse:
    hotline, errors = _proposed(await _json_body(request))
    if hotline is None:
        return _json({"valid": False, "errors": errors, "diff": [], "version": None, "routing": None})
    gateway = _deps(request).rules()
    problems: list[str] = []
    if gateway is None:
        diff = diff_rules(_hotline(request), hotline)
    else:
        diff, problems = await gateway.check(hotline)
    errors = [{"path": "version" if p.startswith("version") else "", "message": p} for p in problems]
    routing = routing_json(routing_effect(_hotline(request), hotline))
    asterisk = _asterisk_effect(_deps(request), _hotline(request), hotline)
    if asterisk is not None and asterisk["files"] and not asterisk["rewritable"]:
        errors.append({"path": "", "message": str(asterisk["message"])})
    return _json({"valid": not errors, "errors": errors, "diff": diff, "version": hotline.version,
                  "routing": routing, "asterisk": asterisk})


def _asterisk_effect(deps: WebDeps, running: Hotline, proposed: Hotline) -> dict[str, object] | None:
    """What of the change reaches Asterisk: the files an apply rewrites and reloads, and whether it can."""
    if deps.asterisk_files is None:
        return None
    files = deps.asterisk_files(running, proposed)
    rewritable = bool(deps.asterisk_conf_dirs)
    if not files:
        message = ("Aucun fichier d'Asterisk concerné : le service applique ce changement seul "
                   "(heures, fermetures, compétences par AMI).")
    elif rewritable:
        message = f"Asterisk : {', '.join(files)} réécrit(s) puis rechargé(s), sans couper les appels en attente."
    else:
        message = (f"Ce changement doit réécrire {', '.join(files)} pour Asterisk, mais aucun dossier de "
                   "configuration d'Asterisk n'est configuré (AIGUILLEUR_ASTERISK_ETC_DIRS) : "
                   "il serait refusé.")
    return {"files": files, "rewritable": rewritable, "message": message}


async def api_route_explain(request: web.Request) -> web.StreamResponse:
    body = await _json_body(request)
    if "answers" not in body or not set(body) <= {"answers", "document"}:
        raise ApiError(400, "bad_body", 'the body is {"answers": {question: value}, "document": {...optional...}}')
    source, hotline = "running", _hotline(request)
    if body.get("document") is not None:
        proposed, errors = validate_document(body["document"])
        if proposed is None:
            fields = [{"path": err.path, "message": err.message} for err in errors]
            raise ApiError(422, "rules_invalid", "the proposed rules are not valid", fields)
        source, hotline = "proposed", proposed
    wrong = answer_errors(hotline, body["answers"])
    if wrong:
        raise ApiError(400, "bad_answer", "; ".join(f"{q}: {m}" if q else m for q, m in wrong),
                       [{"path": f"answers.{q}" if q else "answers", "message": m} for q, m in wrong])
    result = explain(hotline, body["answers"])
    partners = {p.id: p for p in hotline.partners}
    asked = [f"{question}:{value}" for question, value in result.answers.items()]
    return _json({
        "source": source, "version": hotline.version, "answers": result.answers,
        "partners": [{"id": pid, "name": partners[pid].name, "score": score, "tier": tier,
                      "skills": {k: partners[pid].skills[k] for k in asked if k in partners[pid].skills}}
                     for pid, score, tier in result.partners],
        "queue": result.decision.queue, "priority": result.decision.priority, "reason": result.decision.reason,
        "escalation": [{"after_seconds": s.after_seconds, "max_penalty": s.max_penalty,
                        "partners": list(s.partners), "added": list(s.added)} for s in ring_steps(result)],
    })


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


# --- accounts, for the admins (web.users_admin) --------------------------------------------------
async def _users_page(request: web.Request, status: int = 200, *, message: str = "", error: str = "",
                      shown_password: tuple[str, str] | None = None) -> web.Response:
    pool = _deps(request).pool
    users, history = await store.list_users(pool), await users_admin.recent_audit(pool)
    return _html(users_admin.users_page(users, history, _page_user(request), _session(request).csrf,
                                        _hotline(request).hours.timezone, message=message, error=error,
                                        shown_password=shown_password), status)


async def _user_form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: v[:200] for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD and _no_nul(v)}


def _line_names(request: web.Request) -> list[str]:
    return [line for line, _ in _hotline(request).lines()]


async def page_users(request: web.Request) -> web.StreamResponse:
    return await _users_page(request)


async def page_user_create(request: web.Request) -> web.StreamResponse:
    form = await _user_form(request)
    try:
        name = users_admin.check_name(form.get("name", "").strip())
        role = users_admin.check_role(form.get("role", ""))
        line = users_admin.check_line(role, form.get("line", "").strip(), _line_names(request),
                                      _hotline(request).advisors.supervisor_lines)
    except users_admin.UserInputError as error:
        return await _users_page(request, 400, error=str(error))
    password = users_admin.temporary_password()
    pool = _deps(request).pool
    try:
        await store.add_user(pool, name, role, line, await asyncio.to_thread(hash_password, password))
    except store.UserExists:
        return await _users_page(request, 409, error=f"Un compte « {name} » existe déjà.")
    await users_admin.audit(pool, _session(request).name, "user_created", name,
                            f"rôle {users_admin.ROLE_LABELS[role]}" + (f", ligne {line}" if line else ""))
    return await _users_page(request, message=f"Compte {name} créé.", shown_password=(name, password))


async def page_user_change(request: web.Request) -> web.StreamResponse:
    name, actor = request.match_info["name"], _session(request).name
    pool = _deps(request).pool
    target = await store.user_by_name(pool, name)
    if target is None:
        raise ApiError(404, "unknown_user", "Aucun compte de ce nom.")
    try:
        change = users_admin.parse_change(await _user_form(request), target.role, _line_names(request),
                                          _hotline(request).advisors.supervisor_lines)
    except users_admin.UserInputError as error:
        return await _users_page(request, 400, error=str(error))
    if name == actor and (change.disabled or change.role != target.role):
        return await _users_page(request, 400, error="Vous ne pouvez ni désactiver votre propre compte ni "
                                                     "changer son rôle : un autre administrateur le peut.")
    said = await users_admin.change_account(pool, actor, name, change)
    return await _users_page(request, message=f"{name} : {said}.")


async def page_user_password(request: web.Request) -> web.StreamResponse:
    name, pool = request.match_info["name"], _deps(request).pool
    password = users_admin.temporary_password()
    if not await store.set_password(pool, name, await asyncio.to_thread(hash_password, password)):
        raise ApiError(404, "unknown_user", "Aucun compte de ce nom.")
    await users_admin.audit(pool, _session(request).name, "password_reset", name, "sessions fermées")
    return await _users_page(request, message=f"Mot de passe de {name} réinitialisé.", shown_password=(name, password))


async def _login_failures(request: web.Request) -> tuple[int, store.LoginFailures]:
    """The failed logins of the last ``hours`` (default 24), maybe of one ``name`` or ``address``."""
    def number(key: str, default: int, top: int) -> int:
        text = request.query.get(key, str(default))
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= top:
            raise ApiError(400, "bad_query", f"{key}: a whole number from 1 to {top}")
        return int(text)

    hours, limit = number("hours", 24, 24 * 90), number("limit", 100, 500)
    name, address = request.query.get("name") or None, request.query.get("address") or None
    if not _no_nul(name, address) or any(len(v) > 64 for v in (name, address) if v):
        raise ApiError(400, "bad_query", "name and address: text of at most 64 characters")
    since = dt.datetime.fromtimestamp(_deps(request).clock(), dt.UTC) - dt.timedelta(hours=hours)
    return hours, await store.login_failures(_deps(request).pool, since, name=name, address=address, limit=limit)


async def api_login_failures(request: web.Request) -> web.StreamResponse:
    def plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in row.items()} for row in rows]

    hours, found = await _login_failures(request)
    return _json({"hours": hours, "failures": plain(found.rows), "by_name": plain(found.by_name),
                  "by_address": plain(found.by_address)})


async def page_login_failures(request: web.Request) -> web.StreamResponse:
    hours, found = await _login_failures(request)
    return _html(login_failures_page.login_failures_page(
        found.rows, found.by_name, found.by_address, hours, _hotline(request).hours.timezone,
        _page_user(request), _session(request).csrf))


# --- metrics, OpenAPI, static -----------------------------------------------------------------------
async def metrics(request: web.Request) -> web.StreamResponse:
    deps, feed = _deps(request), request.app[FEED]
    if not metrics_allowed(request.remote, request.headers.get("Authorization"), deps.metrics_token):
        status, message = (401, "bearer token required") if deps.metrics_token else (403, "loopback clients only")
        raise ApiError(status, "metrics_refused", message)
    raw = deps.health() if deps.health else None
    health = Health(
        ami_connected=raw.ami_connected if raw else False, spool_depth=raw.spool_depth if raw else 0,
        backlog=raw.backlog if raw else 0, write_lag_seconds=feed.write_lag,
        written_total=raw.written_total if raw else 0, write_failures_total=raw.write_failures_total if raw else 0,
        dropped_total=raw.dropped_total if raw else 0, open_calls=raw.open_calls if raw else 0,
        sse_clients=feed.clients, live_updates_total=feed.updates,
    )
    partner_of = {line: p.id for line, p in _hotline(request).lines()}
    text = render(deps.live.snapshot(), partner_of, feed.today, health, deps.clock(),
                  service_level_seconds=deps.kpi_settings.service_level_seconds, today_overall=feed.today_overall)
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
    400: Response("a bad pause reason", ERR), 409: Response("the line is not logged in (pause, unpause)", ERR),
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
    RouteSpec("GET", "/rappels", page_callbacks, "supervisor"),
    RouteSpec("GET", "/appels", page_calls, "supervisor"),
    RouteSpec("GET", "/appels/{linkedid}", page_call, "supervisor"),
    RouteSpec("GET", "/rules", page_rules, "admin"),
    RouteSpec("GET", "/memo", page_memo, "admin"),
    RouteSpec("GET", "/connexions", page_login_failures, "admin"),
    RouteSpec("GET", "/utilisateurs", page_users, "admin"),
    RouteSpec("POST", "/utilisateurs", page_user_create, "admin"),
    RouteSpec("POST", "/utilisateurs/{name}", page_user_change, "admin"),
    RouteSpec("POST", "/utilisateurs/{name}/mot-de-passe", page_user_password, "admin"),
    RouteSpec("GET", "/static/{name}", static, "public"),
    RouteSpec("GET", "/metrics", metrics, "public"),
    # API
    RouteSpec("GET", "/api/openapi.json", openapi_json, "public",
              ApiDoc("This document", responses=_ok("OpenAPI 3.0", {"type": "object"}), tag="meta")),
    RouteSpec("POST", "/api/login", api_login, "public", ApiDoc(
        "Log in (client=api returns a bearer token; otherwise a session cookie is set)", body=ref("Login"),
        responses={200: Response("logged in", ref("LoginResult")), 401: Response("wrong name or password", ERR),
                   429: Response("wait before trying again (progressive delay per name and per client address; "
                                 "Retry-After gives the seconds)", ERR)}, tag="auth")),
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
    RouteSpec("POST", "/api/agents/{line}/wrapup", api_agent_wrapup, "advisor", ApiDoc(
        "Terminer le post-appel: save the wrap-up code (the line's partner's list) and notes on the call's "
        "record; the screen pop then closes", (Param("line", "path", schema={"type": "string"}),),
        {"type": "object", "required": ["linkedid", "code"], "additionalProperties": False, "properties": {
            "linkedid": {"type": "string"}, "code": {"type": "string"},
            "notes": {"type": "string", "maxLength": WRAPUP_NOTES_MAX}}}, {
            200: Response("saved", {"type": "object"}), 400: Response("no such code, or notes too long", ERR),
            403: Response("not your line", ERR),
            409: Response("no wrap-up pending for this call, the call still in progress, or its record not "
                          "written yet (retry)", ERR)}, tag="agents")),
    RouteSpec("POST", "/api/agents/{line}/transfer", api_agent_transfer, "advisor", ApiDoc(
        "Transfer the caller talking to the line to a partner's queue (priority, IVR answers kept)",
        (Param("line", "path", schema={"type": "string"}),), ref("TransferBody"), {
            200: Response("transferred", ref("TransferResult")), 400: Response("no partner id", ERR),
            404: Response("unknown line or partner", ERR), 409: Response("no call on the line", ERR),
            502: Response("the PBX refused or did not answer", ERR), 503: Response("agent actions unavailable", ERR)},
        tag="agents")),
    RouteSpec("POST", "/api/agents/{line}/listen", api_agent_listen, "supervisor", ApiDoc(
        "Listen to the line's call from the supervisor's softphone (the account's supervision line): "
        "Asterisk rings it, then ChanSpy; mode listen (unheard), whisper (to the advisor), barge (to both)",
        (Param("line", "path", schema={"type": "string"}),),
        {"type": "object", "additionalProperties": False,
         "properties": {"mode": {"type": "string", "enum": list(LISTEN_MODES)}}}, {
            200: Response("the softphone rings", {"type": "object"}), 400: Response("no such mode", ERR),
            404: Response("unknown line", ERR),
            409: Response("no call on the line, or the account has no supervision softphone", ERR),
            502: Response("the PBX refused or did not answer", ERR), 503: Response("agent actions unavailable", ERR)},
        tag="agents", body_required=False)),
    RouteSpec("GET", "/api/agents/{line}/appointments/offices", _appointments(appointments_api.offices), "advisor",
              appointments_api.OFFICES_DOC),
    RouteSpec("POST", "/api/agents/{line}/appointments", _appointments(appointments_api.book), "advisor",
              appointments_api.BOOK_DOC),
    RouteSpec("POST", "/api/agents/{line}/brochure", _appointments(appointments_api.brochure), "advisor",
              appointments_api.BROCHURE_DOC),
    RouteSpec("GET", "/api/cdr", api_cdr, "supervisor", ApiDoc(
        "Search call records (newest first)", (
            *WINDOW, Param("number", description="caller number"), Param("outcome"), Param("partner"),
            Param("queue"), Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 500})),
        responses=_ok("records", array(ref("CallRecord"))), tag="reports")),
    RouteSpec("GET", "/api/calls.csv", api_calls_csv, "supervisor", ApiDoc(
        "Export the calls a search finds (newest first, at most 10,000) as a spreadsheet: UTF-8 with BOM, "
        "';' separator, French labels, no cell a formula", (
            *WINDOW, *(Param(name, schema={"type": "string", "maxLength": 64}) for name in call_search.FILTERS),
            Param("offset", schema={"type": "integer", "minimum": 0, "maximum": call_search.MAX_ROWS})),
        responses={200: Response("the calls", {"type": "string"}, "text/csv"),
                   400: Response("a bad filter (the message names it)", ERR)}, tag="reports")),
    RouteSpec("GET", "/api/reports", api_report, "supervisor", ApiDoc(
        "Volumes and KPIs per day, partner and queue", WINDOW, responses=_ok("the report", ref("Report")),
        tag="reports")),
    RouteSpec("GET", "/api/reports.csv", api_report_csv, "supervisor", ApiDoc(
        "The report as CSV (section,key,metric,value)", WINDOW,
        responses={200: Response("CSV", {"type": "string"}, "text/csv")}, tag="reports")),
    RouteSpec("GET", "/api/kpi/definitions", api_definitions, "supervisor", ApiDoc(
        "The exact KPI formulas", responses=_ok("formulas", ref("Definitions")), tag="reports")),
    RouteSpec("GET", "/api/callbacks", api_callbacks, "supervisor", ApiDoc(
        "Callbacks and J+8 follow-ups (by status, kind, partner) and the success rate", (
            Param("status", schema={"type": "string", "enum": list(_CALLBACK_STATUSES)}),
            Param("kind", schema={"type": "string", "enum": ["callback", "followup"]}),
            Param("partner", schema={"type": "string", "pattern": "^[a-z][a-z0-9]{0,15}$"})),
        responses=_ok("callbacks", {"type": "object", "required": ["callbacks", "success_rate"], "properties": {
            "callbacks": {"type": "array", "items": {"type": "object"}}, "success_rate": {"type": "object"}}}),
        tag="callbacks")),
    RouteSpec("POST", "/api/callbacks/{id}/cancel", api_callback_cancel, "supervisor", ApiDoc(
        "Cancel a due callback or follow-up", (Param("id", "path", schema={"type": "string"}),),
        {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 200}}},
        {200: Response("cancelled", {"type": "object"}), 404: Response("no such callback", ERR),
         409: Response("not cancellable in its state (a try is being placed)", ERR)},
        tag="callbacks", body_required=False)),
    RouteSpec("POST", "/api/callbacks/{id}/retry", api_callback_retry, "supervisor", ApiDoc(
        "A new round of tries, optionally reassigned to another partner's queue",
        (Param("id", "path", schema={"type": "string"}),),
        {"type": "object", "properties": {"partner": {"type": "string", "pattern": "^[a-z][a-z0-9]{0,15}$"}}},
        {200: Response("due again", {"type": "object"}), 404: Response("no such callback", ERR),
         409: Response("not retryable in its state (a try is being placed)", ERR)},
        tag="callbacks", body_required=False)),
    RouteSpec("POST", "/api/callbacks/{id}/outcome", api_callback_outcome, "advisor", ApiDoc(
        "Record a J+8 follow-up's outcome (needs_more_help makes a new routed callback)",
        (Param("id", "path", schema={"type": "string"}),),
        {"type": "object", "required": ["code"], "properties": {
            "code": {"type": "string", "enum": list(FOLLOWUP_OUTCOMES)}}},
        {200: Response("recorded", {"type": "object"}), 404: Response("no such follow-up", ERR),
         409: Response("not a follow-up, the caller not reached, or an outcome already recorded", ERR)},
        tag="callbacks")),
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
        "Validate proposed rules, field by field, and show what would change: the diff and the routing "
        "effect (profiles whose best partners change, app_queue queues and memberships)", body=ref("RulesDocument"),
        responses=_ok("checked", ref("RulesPreview")), tag="rules")),
    RouteSpec("POST", "/api/route/explain", api_route_explain, "admin", ApiDoc(
        "One profile's routing: every partner's score and tier, the queue, who rings when; on the running "
        "rules or a proposed document", body=ref("RouteExplainBody"), responses={
            200: Response("explained", ref("RouteExplanation")),
            400: Response("an answer is not in the menu (fields name the question and the allowed values)", ERR),
            422: Response("the proposed document is not valid", ERR)}, tag="rules")),
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
    app[WRAPUPS] = WrapupBook()
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app.cleanup_ctx.append(_live_ctx)
    app.on_response_prepare.append(_headers)
    app.on_shutdown.append(_on_shutdown)
    return app

