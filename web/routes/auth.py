"""Logging in and out: the login page and API, the session cookie, and how the guard reads a session.

A login is checked under the progressive delays of ``deps.throttle``; each checked failure is recorded
(``login_failures``, shown to the admins by ``web.routes.login_failures``). A session is a random token
(cookie, or bearer for API clients) whose digest is stored; cookie sessions also carry a CSRF token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
import re
from typing import Final

import asyncpg
import structlog
from aiohttp import web

from web import pages, store
from web.deps import deps_of, session_of
from web.http import (
    DATABASE_DOWN,
    DATABASE_DOWN_MESSAGE,
    DATABASE_DOWN_RETRY,
    ERR,
    ApiError,
    RouteSpec,
    html_answer,
    json_answer,
    json_body,
    ok,
)
from web.openapi import ApiDoc, Response, ref
from web.passwords import DUMMY_HASH, verify_password
from web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    SESSION_SECONDS,
    new_token,
    same_site_path,
    token_digest,
)

log = structlog.get_logger(__name__)
USER_PATTERN: Final = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")  # as web_users.name's CHECK


async def authenticate(request: web.Request) -> store.Session | None:
    """The session of the request's bearer token, else of its cookie; None when there is none (or it ended)."""
    auth = request.headers.get("Authorization", "")
    by_cookie = True
    if auth.lower().startswith("bearer "):
        token, by_cookie = auth[7:].strip(), False
    else:
        token = request.cookies.get(SESSION_COOKIE, "")
    if not token or len(token) > 200:
        return None
    found = await store.session_by_digest(deps_of(request).pool, token_digest(token))
    if found is None:
        return None
    return dataclasses.replace(found, by_cookie=by_cookie)


async def supplied_csrf(request: web.Request) -> str | None:
    """The CSRF token the request sends: the X-CSRF-Token header, else a posted form's field."""
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _safe_next(value: str | None) -> str | None:
    """The page to go to after the login: a path of this site only (``security.same_site_path``)."""
    return same_site_path(value)


def _home(role: str) -> str:
    return "/advisor" if role == "advisor" else "/wallboard"


def _set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    # Secure over TLS (ours, or a proxy's in front): the session never travels in clear.
    secure = request.secure or deps_of(request).secure_cookies
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", path="/", max_age=SESSION_SECONDS,
                        secure=secure)


def _client_address(request: web.Request) -> str:
    """The peer's address as this server sees it (behind a reverse proxy: the proxy's)."""
    return request.remote or "unknown"


async def _login(request: web.Request, name: str, password: str, client: str
                 ) -> tuple[store.User, str, str, dt.datetime]:
    """Check a name and password under the progressive delays of ``deps.throttle``; a checked
    failure is recorded in ``login_failures`` (who, from where, when, why) for the admin."""
    deps = deps_of(request)
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
    body = await json_body(request)
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
        return json_answer(result)
    response = json_answer(result)
    _set_cookie(request, response, token)
    return response


async def _end_session(request: web.Request) -> None:
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else request.cookies.get(SESSION_COOKIE, "")
    if token:
        await store.delete_session(deps_of(request).pool, token_digest(token))


async def api_logout(request: web.Request) -> web.StreamResponse:
    await _end_session(request)
    response = json_answer({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def page_login(request: web.Request) -> web.StreamResponse:
    return html_answer(pages.login_page(next_url=_safe_next(request.query.get("next")) or "/"))


async def page_login_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password, next_url = form.get("name"), form.get("password"), form.get("next")
    if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
        return html_answer(pages.login_page("Identifiant et mot de passe requis."), 400)
    try:
        user, token, _csrf, _expires = await _login(request, name[:64], password[:1024], "form")
    except DATABASE_DOWN as exc:
        log.warning("web.database_unavailable", path=request.path, error=str(exc) or type(exc).__name__)
        page = html_answer(pages.login_page(DATABASE_DOWN_MESSAGE, _safe_next(next_url if isinstance(next_url, str)
                                                                              else None) or "/"), 503)
        page.headers["Retry-After"] = str(DATABASE_DOWN_RETRY)
        return page
    except ApiError as exc:
        message = {401: "Identifiant ou mot de passe incorrect.",
                   429: f"Trop d'échecs de connexion : réessayez dans {exc.retry_after} s."}.get(exc.status,
                                                                                                 exc.message)
        page = html_answer(pages.login_page(message, _safe_next(next_url if isinstance(next_url, str) else None)
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
    raise web.HTTPSeeOther(_home(session_of(request).role))


async def api_me(request: web.Request) -> web.StreamResponse:
    s = session_of(request)
    return json_answer({"name": s.name, "role": s.role, "line": s.line, "expires_at": s.expires_at.isoformat()})


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/", page_home, "advisor"),
    RouteSpec("GET", "/login", page_login, "public"),
    RouteSpec("POST", "/login", page_login_post, "public"),
    RouteSpec("POST", "/logout", page_logout, "advisor"),
    RouteSpec("POST", "/api/login", api_login, "public", ApiDoc(
        "Log in (client=api returns a bearer token; otherwise a session cookie is set)", body=ref("Login"),
        responses={200: Response("logged in", ref("LoginResult")), 401: Response("wrong name or password", ERR),
                   429: Response("wait before trying again (progressive delay per name and per client address; "
                                 "Retry-After gives the seconds)", ERR)}, tag="auth")),
    RouteSpec("POST", "/api/logout", api_logout, "advisor", ApiDoc(
        "End this session", responses=ok("logged out", {"type": "object"}), tag="auth")),
    RouteSpec("GET", "/api/me", api_me, "advisor", ApiDoc("Who am I", responses=ok("the session", ref("Me")),
                                                        tag="auth")),
)
