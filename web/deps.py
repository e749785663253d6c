"""What the web layer is given (``WebDeps``, built by ``web.wiring``) and what each request carries.

``make_app`` (``web.app``) puts the deps and the app-wide objects under these keys; a handler
reads them through the request (``deps_of``, ``session_of``, ``hotline_of``), never from a global.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from cdr.kpi import KpiSettings
from config.models import Hotline
from config.settings import SmtpSettings
from web import pages, store
from web.http import ApiError
from web.live import LiveFeed
from web.ports import AgentDesk, CallInfoSource, CommunesProbe, HealthProbe, HotlineSource, LiveSource, RulesGateway
from web.security import LoginThrottle
from web.wrapup import WrapupBook

MAX_REPORT_DAYS: Final = 366


@dataclass
class WebDeps:
    """What the web layer is given by the composition root (``web.wiring``)."""

    pool: asyncpg.Pool
    live: LiveSource
    hotline: HotlineSource
    desk: AgentDesk  # agent actions: log in/out, pause, transfer, listen (queues.advisors.AdvisorDesk)
    rules: RulesGateway  # the rules editor's preview, apply and rollback (web.wiring.DatabaseRulesGateway)
    calls: CallInfoSource | None = None
    health: HealthProbe | None = None
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
CLOSING: Final = web.AppKey("closing", asyncio.Event)
WRAPUPS: Final = web.AppKey("wrapups", WrapupBook)
SESSION: Final = web.RequestKey("session", store.Session)


def deps_of(request: web.Request) -> WebDeps:
    """The app's deps (``make_app``)."""
    return request.app[DEPS]


def session_of(request: web.Request) -> store.Session:
    """The session the guard checked (routes whose access is not public)."""
    return request[SESSION]


def page_user(request: web.Request) -> pages.PageUser:
    """Who the page is for (name, role, line: the menu and the header)."""
    s = session_of(request)
    return pages.PageUser(s.name, s.role, s.line)


def hotline_of(request: web.Request) -> Hotline:
    """The rules in service now."""
    return deps_of(request).hotline.hotline


def local_today(request: web.Request) -> dt.date:
    """Today, in the hotline's time zone, by the service clock."""
    tz = ZoneInfo(hotline_of(request).hours.timezone)
    return dt.datetime.fromtimestamp(deps_of(request).clock(), tz).date()


def _query_date(request: web.Request, name: str, default: dt.date) -> dt.date:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "bad_date", f"{name}: not a date (use YYYY-MM-DD)") from None


def day_window(request: web.Request) -> tuple[dt.date, dt.date]:
    """The local days ``from`` .. ``to`` (included) of the query: today by default, at most a year."""
    today = local_today(request)
    first = _query_date(request, "from", today)
    last = _query_date(request, "to", first if "from" in request.query else today)
    if last < first:
        raise ApiError(400, "bad_window", f"to ({last}) is before from ({first})")
    if (last - first).days >= MAX_REPORT_DAYS:
        raise ApiError(400, "bad_window", f"at most {MAX_REPORT_DAYS} days")
    return first, last
