"""Write call records to PostgreSQL: idempotent upserts, retried while the database is away.

The service never waits on this to handle a call: records are queued in
memory (bounded) and written by a background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import deque

import asyncpg
import structlog

from cdr.correlator import CallRecord

log = structlog.get_logger(__name__)

COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CallRecord))
_QUOTED = [f'"{c}"' for c in COLUMNS]
UPSERT_SQL = (
    f"INSERT INTO cdr ({', '.join(_QUOTED)}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) "
    "ON CONFLICT (linkedid) DO UPDATE SET "
    + ", ".join(f"{q} = EXCLUDED.{q}" for q in _QUOTED if q != '"linkedid"')
)


def as_row(record: CallRecord) -> tuple[object, ...]:
    return tuple(getattr(record, c) for c in COLUMNS)


async def write_records(conn: asyncpg.Connection | asyncpg.Pool, records: list[CallRecord]) -> None:
    """Upsert ``records``; writing the same record twice leaves one row."""
    if records:
        await conn.executemany(UPSERT_SQL, [as_row(r) for r in records])


class CdrWriter:
    """Background writer with a bounded in-memory backlog and retry on database errors."""

    def __init__(self, pool: asyncpg.Pool, *, max_backlog: int = 100_000, retry_seconds: float = 1.0):
        self._pool = pool
        self._backlog: deque[CallRecord] = deque()
        self._max_backlog = max_backlog
        self._retry_seconds = retry_seconds
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def submit(self, record: CallRecord) -> None:
        if len(self._backlog) >= self._max_backlog:
            dropped = self._backlog.popleft()
            log.error("cdr.backlog_full_dropped", linkedid=dropped.linkedid)
        self._backlog.append(record)
        self._wakeup.set()

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cdr-writer")

    async def stop(self, flush_timeout: float = 5.0) -> None:
        """Flush what is pending (bounded in time), then stop."""
        if self._task is None:
            return
        # Stop the loop first so one flusher owns the backlog; a batch cut mid-write is
        # simply written again (upserts are idempotent).
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        try:
            await asyncio.wait_for(self._flush_all(), flush_timeout)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            log.error("cdr.flush_on_stop_failed", pending=len(self._backlog), error=str(exc))

    async def _flush_all(self) -> None:
        while self._backlog:
            await self._flush_once()

    async def _flush_once(self) -> None:
        batch = list(self._backlog)[:500]
        await write_records(self._pool, batch)
        for _ in batch:
            self._backlog.popleft()
        self.written += len(batch)
        for record in batch:
            log.info("cdr.written", linkedid=record.linkedid, outcome=record.outcome, queue=record.queue)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._backlog:
                try:
                    await self._flush_once()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("cdr.write_failed_retrying", pending=len(self._backlog), error=str(exc))
                    await asyncio.sleep(self._retry_seconds)
