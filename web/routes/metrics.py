"""``GET /metrics``: Prometheus text (``web.metrics.render``), for loopback clients or a bearer token."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from web.deps import FEED, deps_of, hotline_of
from web.http import ApiError, RouteSpec
from web.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from web.metrics import Health, render
from web.security import metrics_allowed


async def metrics(request: web.Request) -> web.StreamResponse:
    deps, feed = deps_of(request), request.app[FEED]
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
    partner_of = {line: p.id for line, p in hotline_of(request).lines()}
    text = render(deps.live.snapshot(), partner_of, feed.today, health, deps.clock(),
                  service_level_seconds=deps.kpi_settings.service_level_seconds, today_overall=feed.today_overall)
    return web.Response(body=text.encode(), headers={"Content-Type": METRICS_CONTENT_TYPE})


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/metrics", metrics, "public"),
)
