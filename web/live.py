"""Live updates for the wallboard: poll the reducer's version, build once, wake every client.

The AMI path is not touched: ``LiveState.snapshot()`` is cached until the state
changes, so polling it every ``interval`` (0.1 s) costs a comparison when nothing
happened. On a change the wallboard is built and serialised **once**, and every
connected SSE client is woken with the same bytes; a slow client skips to the
newest message (nothing queues up per client). With several Asterisk nodes the source is
their merge (``queues.state_merge.MergedLive``): its version is the sum of the nodes', so an
event on any node wakes every page.

Today's per-queue service level comes from the call records: re-read every
``today_interval`` seconds (the day's calls: at most a few thousand rows), plus the
callers still waiting past the threshold (``cdr.kpi.service_level_live``), read from
the snapshot: the board is rebuilt when that number changes too (a caller crossing
the threshold lowers the service level without any AMI event).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from cdr.kpi import QUEUE_OUTCOMES, CallFacts, KpiSettings, compute_kpis, group_by
from cdr.reports import fetch_calls, has_wrapup_column
from ivr.hours import state_at
from queues.snapshot import LiveSnapshot
from web.ports import HealthProbe, HotlineSource, LiveSource
from web.wallboard import PartnerInfo, TodayStats, Wallboard, build

log = structlog.get_logger(__name__)
Clock = Callable[[], float]


def today_stats(calls: list[CallFacts], settings: KpiSettings) -> tuple[dict[str, TodayStats], TodayStats]:
    """Per queue and overall, with ``cdr.kpi``'s definitions (the records' side of ``service_level_live``)."""

    def stats(group: list[CallFacts]) -> TodayStats:
        k = compute_kpis(group, settings)
        return TodayStats(k.offered or 0, k.answered, k.answered_within_threshold, k.abandoned or 0,
                          k.service_level_inclusive)

    queued = [c for c in calls if c.outcome in QUEUE_OUTCOMES and c.queue]
    per_queue = {name: stats(list(group)) for name, group in group_by(queued, lambda c: c.queue).items()}
    return per_queue, stats(calls)


def answered_by_line(calls: list[CallFacts]) -> dict[str, int]:
    """Calls each line answered (``answered`` records naming the line), for the agent grid."""
    counts: dict[str, int] = {}
    for call in calls:
        if call.outcome == "answered" and call.line:
            counts[call.line] = counts.get(call.line, 0) + 1
    return counts


@dataclass
class _Frame:
    generation: int
    wallboard: Wallboard
    data: bytes  # the SSE frame


def sse_frame(event: str, payload: object, event_id: int | None = None) -> bytes:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {text}\n\n".encode()


class LiveFeed:
    """One task polls; any number of subscribers await ``wait_newer``.

    With no subscriber the poll builds nothing; ``current()`` builds on demand.
    """

    def __init__(
        self,
        live: LiveSource,
        hotline: HotlineSource,
        *,
        health: HealthProbe | None = None,
        pool: asyncpg.Pool | None = None,
        kpi_settings: KpiSettings | None = None,
        interval: float = 0.1,
        today_interval: float = 5.0,
        clock: Clock = time.time,
    ) -> None:
        self.live = live
        self.hotline = hotline
        self.health_probe = health
        self.pool = pool
        self.kpi_settings = kpi_settings or KpiSettings()
        self.interval = interval
        self.today_interval = today_interval
        self.clock = clock
        self.today: dict[str, TodayStats] = {}
        self.today_overall: TodayStats | None = None
        self.answered_today_by_line: dict[str, int] = {}
        self.updates = 0
        self.clients = 0
        self._changed = asyncio.Event()
        self._frame: _Frame | None = None
        self._seen: tuple[int, int, int, bool] = (-1, -1, -1, False)  # (state version, today revision,
        # callers past T, open now)
        self._open_at: tuple[int, bool] = (-1, True)  # (minute, open then)
        self._today_revision = 0
        self._backlog_since: float | None = None
        self.write_lag = 0.0

    # --- for handlers ------------------------------------------------------------
    def _key(self, snapshot: LiveSnapshot) -> tuple[int, int, int, bool]:
        limit = self.kpi_settings.service_level_seconds
        now = self.clock()
        past = sum(1 for q in snapshot.queues.values() for c in q.callers if now - c.joined_at > limit)
        return snapshot.version, self._today_revision, past, self._is_open(now)

    def _is_open(self, now: float) -> bool:
        """Whether the hotline takes calls at ``now``; opening hours turn on the minute, so this is
        worked out once a minute, not at every poll."""
        minute = int(now // 60)
        if self._open_at[0] != minute:
            hours = self.hotline.hotline.hours
            self._open_at = (minute, state_at(hours, dt.datetime.fromtimestamp(now, dt.UTC)).open)
        return self._open_at[1]

    def current(self) -> _Frame:
        """The newest frame, built now if the state changed since the last one."""
        snapshot = self.live.snapshot()
        if self._frame is None or self._key(snapshot) != self._seen:
            self._rebuild(snapshot)
        assert self._frame is not None
        return self._frame

    async def wait_newer(self, generation: int, timeout: float) -> _Frame | None:  # noqa: ASYNC109
        """The newest frame once its generation is past ``generation``; None after ``timeout``."""
        frame = self.current()
        if frame.generation > generation:
            return frame
        changed = self._changed
        try:
            async with asyncio.timeout(timeout):
                await changed.wait()
        except TimeoutError:
            return None
        return self.current()

    def wake(self) -> None:
        """Wake every waiting client now (shutdown)."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def partners(self) -> list[PartnerInfo]:
        return [PartnerInfo(p.id, p.name, tuple(p.line_ids())) for p in self.hotline.hotline.partners]

    # --- the loop ------------------------------------------------------------------
    def _rebuild(self, snapshot: LiveSnapshot) -> None:
        generation = (self._frame.generation + 1) if self._frame else 1
        self._seen = self._key(snapshot)
        board = build(snapshot, self.partners(), self.today, self.clock(), today_overall=self.today_overall,
                      service_level_seconds=self.kpi_settings.service_level_seconds,
                      thresholds=self.hotline.hotline.wallboard, answered_today_by_line=self.answered_today_by_line,
                      is_open=self._seen[3])
        self._frame = _Frame(generation, board, sse_frame("wallboard", board.to_json(), generation))
        self.wake()  # whoever built it (the poll or a page), every stream gets the new frame

    def poll_once(self) -> bool:
        """Rebuild and wake subscribers if the state (or today's figures) changed; True if it did."""
        if self.health_probe is not None:
            backlog = self.health_probe().backlog
            now = self.clock()
            if backlog == 0:
                self._backlog_since = None
                self.write_lag = 0.0
            else:
                self._backlog_since = self._backlog_since or now
                self.write_lag = now - self._backlog_since
        if self.clients == 0:
            return False  # nobody listens: pages build the frame on demand (``current``)
        snapshot = self.live.snapshot()
        if self._frame is not None and self._key(snapshot) == self._seen:
            return False
        self._rebuild(snapshot)
        self.updates += 1
        return True

    async def run(self) -> None:
        while True:
            try:
                self.poll_once()
            except Exception:  # a bug in a view must not stop live updates for good
                log.exception("web.live_poll_failed")
            await asyncio.sleep(self.interval)

    async def refresh_today(self) -> None:
        if self.pool is None:
            return
        hotline = self.hotline.hotline
        tz = ZoneInfo(hotline.hours.timezone)
        day = dt.datetime.fromtimestamp(self.clock(), tz).date()
        async with self.pool.acquire() as conn:
            calls = await fetch_calls(conn, day, day, hotline.hours.timezone,
                                      wrapup_column=await has_wrapup_column(conn))
        per_queue, overall = today_stats(calls, self.kpi_settings)
        by_line = answered_by_line(calls)
        if per_queue != self.today or overall != self.today_overall or by_line != self.answered_today_by_line:
            self.today, self.today_overall, self.answered_today_by_line = per_queue, overall, by_line
            self._today_revision += 1

    async def run_today(self) -> None:
        while True:
            try:
                await self.refresh_today()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("web.today_stats_unavailable", error=str(exc) or type(exc).__name__)
            await asyncio.sleep(self.today_interval)
