"""The wallboard: its page, its JSON, and its server-sent events stream (``web.live.LiveFeed`` fans out).

A stream ends when the service shuts down or the session ends (expired, or logged out elsewhere:
re-checked every ``deps.session_recheck_seconds``); the advisor's stream (``web.routes.advisor``)
uses the same helpers.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Final

import structlog
from aiohttp import web

from web import pages
from web.deps import CLOSING, FEED, deps_of, hotline_of, page_user, session_of
from web.http import DATABASE_DOWN, RouteSpec, html_answer, json_answer, ok
from web.openapi import ApiDoc, Response, ref
from web.routes.auth import authenticate

log = structlog.get_logger(__name__)


async def page_wallboard(request: web.Request) -> web.StreamResponse:
    board = request.app[FEED].current().wallboard
    return html_answer(pages.wallboard_page(board, hotline_of(request).name, page_user(request),
                                            session_of(request).csrf))


async def api_live(request: web.Request) -> web.StreamResponse:
    return json_answer(request.app[FEED].current().wallboard.to_json())


async def sse_response(request: web.Request) -> web.StreamResponse:
    """An event stream, its headers sent: no caching, no buffering in a proxy in front."""
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    return response


def keepalive_seconds(request: web.Request) -> float:
    """A stream idles at most this long: a keep-alive, and the session re-check on its cadence."""
    return min(15.0, deps_of(request).session_recheck_seconds)


async def session_alive(request: web.Request, checked: list[float]) -> bool:
    """Still logged in? The expiry is checked always, the session row every 30 s (logout elsewhere)."""
    s = session_of(request)
    if s.expires_at <= dt.datetime.now(dt.UTC):
        return False
    now = time.monotonic()
    if now - checked[0] < deps_of(request).session_recheck_seconds:
        return True
    checked[0] = now
    try:
        return await authenticate(request) is not None
    except DATABASE_DOWN as exc:  # cannot tell: end the stream; the page retries and says it is stale
        log.warning("web.stream_session_unchecked", path=request.path, error=str(exc) or type(exc).__name__)
        return False


async def api_live_stream(request: web.Request) -> web.StreamResponse:
    feed, closing = request.app[FEED], request.app[CLOSING]
    response = await sse_response(request)
    feed.clients += 1
    checked = [time.monotonic()]
    try:
        frame = feed.current()
        await response.write(b"retry: 1000\n\n" + frame.data)
        generation = frame.generation
        while not closing.is_set() and await session_alive(request, checked):
            newer = await feed.wait_newer(generation, timeout=keepalive_seconds(request))
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


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/wallboard", page_wallboard, "supervisor"),
    RouteSpec("GET", "/api/live", api_live, "supervisor",
              ApiDoc("The live wallboard (queues, lines by state)", responses=ok("now", ref("Wallboard")),
                     tag="live")),
    RouteSpec("GET", "/api/live/stream", api_live_stream, "supervisor", ApiDoc(
        "The wallboard as server-sent events (event: wallboard, on every change)",
        responses={200: Response("an event stream", {"type": "string"}, "text/event-stream")}, tag="live")),
)
