"""The CDR writer: call records and queue_log rows on their way to PostgreSQL, batched and lossless.

The path of one item (a ``CallRecord`` or a ``QueueLogEntry``)::

    submit() --> pending (memory) --every flush_interval or batch_size--> spool (append + fsync)
             --> queue (memory, bounded) --batches--> PostgreSQL (COPY + upsert) --> spool released

- ``submit`` never blocks and never touches a socket or a disk: the call that
  produced the record is never held by PostgreSQL or the disk.
- An item is *accepted* once its batch is fsync'd in the spool (``cdr.spool``),
  at most ``flush_interval`` (0.2 s) after ``submit``, or sooner when
  ``batch_size`` (500) items are pending. A kill -9 loses only items not
  accepted yet: those submitted in the last ``flush_interval`` plus the time one
  fsync takes (milliseconds). Asterisk's own records fill that gap after a
  restart (``cdr.recovery``).
- PostgreSQL down, restarting, or the schema not there yet: items keep going to
  the spool; the in-memory queue keeps at most ``max_queue`` items (the oldest
  are then read back from the spool), so memory stays flat however long the
  outage. A failed write is tried again, the wait doubling from ``retry_seconds``
  up to ``max_retry_seconds``; when PostgreSQL is back, the spool is replayed in
  sequence order.
- On start, what a previous run left in the spool is replayed first.
- A batch is written by ``cdr.record_sql.write_rows`` (one transaction, COPY, an
  upsert where a call is already there): idempotent, so replaying a batch that was
  written just before a crash duplicates nothing. Two batches are in flight on two
  connections when they share no call, each connection taking the next batch as soon
  as it is done with its own; batches are acknowledged in order.
- A batch PostgreSQL rejects for its data (SQLSTATE classes 22 and 23, not
  transient) is retried row by row; a row still rejected goes to
  ``spool/rejected.jsonl`` (JSON, with the error), never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections import deque
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from cdr.correlator import CallRecord, CdrItem
from cdr.queue_log import QueueLogEntry
from cdr.record_sql import CDR_ROW_KEY, Method, write_rows
from cdr.spool import CDR_KIND, Row, Spool, SpoolReader, as_json, encode, row_item, to_rows

log = structlog.get_logger(__name__)

# PostgreSQL away, restarting, failing over, or not migrated yet: wait and retry the same batch.
# (InternalClientError: asyncpg's protocol caught in the middle of an operation by the loss of
# its server, seen when a primary is killed and its standby promoted.)
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError, asyncpg.exceptions.InternalClientError,
)


# asyncpg's own "invalid input for query argument" (a value of the wrong type), raised before sending.
_CLIENT_DATA_ERROR: type[Exception] = asyncpg.exceptions._base.DataError


def _is_data_error(exc: BaseException) -> bool:
    """The rows themselves are refused (SQLSTATE 22 data exception, 23 constraint violation, bad type)."""
    if isinstance(exc, _CLIENT_DATA_ERROR):
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, asyncpg.PostgresError) and state[:2] in ("22", "23")


class CdrWriter:
    """Background writer: ``submit`` items, ``start()``, ``await stop()``.

    ``spool_dir``: where accepted items wait for PostgreSQL (the service uses
    ``state_dir / "spool"``). Without one (tests of the database path only), items
    live in memory: a crash loses them and more than ``max_queue`` drops the oldest.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        spool_dir: Path | None = None,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        max_queue: int = 20_000,
        max_pending: int = 200_000,
        replay_batch: int = 5_000,
        retry_seconds: float = 1.0,
        max_retry_seconds: float = 10.0,
        db_timeout: float = 30.0,
        method: Method = "copy",
        segment_records: int = 50_000,
        pipeline: bool = True,
    ) -> None:
        self._pool = pool
        self._spool = Spool(spool_dir, segment_records=segment_records) if spool_dir is not None else None
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.max_pending = max_pending
        self.replay_batch = replay_batch
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.db_timeout = db_timeout
        self.method: Method = method
        self.pipeline = pipeline  # two chunks in flight on two connections

        self._pending: list[CdrItem] = []
        self._in_flight = 0  # taken from pending, being appended to the spool
        # Accepted, not yet in PostgreSQL, a suffix by seq: (first seq, rows) per accepted batch, so
        # queueing, taking and acknowledging cost a list slice per batch, not a tuple per item.
        self._queue: deque[tuple[int, list[Row]]] = deque()
        self._queued = 0  # items in _queue
        self._accepted_seq = 0  # the last seq accepted (fsync'd)
        self._acked_seq = 0  # every seq <= this one is in PostgreSQL
        self._reader: SpoolReader | None = None
        self._have_pending = asyncio.Event()
        self._batch_full = asyncio.Event()
        self._db_wakeup = asyncio.Event()
        self._progress = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

        self.written = 0
        self.failures = 0  # failed write attempts (each retried)
        self.lost = 0
        self.dropped = 0
        self.rejected = 0
        self.last_error: str | None = None
        self.replayed_from_spool = 0

    # --- the caller's side -------------------------------------------------
    def submit(self, item: CdrItem) -> None:
        """Accept ``item`` for writing; never blocks, never raises on database trouble."""
        if len(self._pending) >= self.max_pending:
            # The disk itself cannot keep up (or is failing): memory must stay bounded.
            self.dropped += 1
            log.error("cdr.pending_full_dropped", item=_describe(item), pending=len(self._pending))
            return
        pending = self._pending
        if not pending:  # the spooler clears the event when it takes the list: set it again once
            self._have_pending.set()
        pending.append(item)
        if len(pending) >= self.batch_size:
            self._batch_full.set()

    # --- metrics -------------------------------------------------------------
    @property
    def backlog(self) -> int:
        """Items submitted and not yet in PostgreSQL (memory + spool)."""
        return len(self._pending) + self._in_flight + (self._accepted_seq - self._acked_seq)

    @property
    def spooled(self) -> int:
        """Items accepted in the spool (fsync'd) and not yet acknowledged by PostgreSQL."""
        return self._accepted_seq - self._acked_seq if self._spool is not None else 0

    @property
    def in_memory(self) -> int:
        """Items held in memory (pending + queued): bounded by ``max_pending + max_queue``."""
        return len(self._pending) + self._in_flight + self._queued

    @property
    def accepted_seq(self) -> int:
        """The last sequence number accepted (fsync'd in the spool); items get them in submit order."""
        return self._accepted_seq

    # --- lifetime ------------------------------------------------------------
    def start(self) -> None:
        """Open the spool (replaying what a previous run left) and start the two background tasks."""
        if self._spool is not None:
            first, last = self._spool.open()
            if last:
                log.warning("cdr.spool_replay", first_seq=first, last_seq=last, records=last - first + 1)
                self._acked_seq = first - 1
                self._accepted_seq = last
                self._db_wakeup.set()
            else:
                self._acked_seq = self._accepted_seq = self._spool.next_seq - 1
        else:
            log.warning("cdr.writer_without_spool", effect="a crash or a long outage loses records")
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._spool_loop(), name="cdr-spooler"),
            asyncio.create_task(self._db_loop(), name="cdr-db-writer"),
        ]

    async def stop(self, flush_timeout: float = 5.0) -> None:
        """Spool what is pending, give PostgreSQL ``flush_timeout`` s to take the rest, then stop.

        What PostgreSQL did not take stays in the spool for the next start.
        """
        if not self._tasks:
            return
        self._stopping = True
        self._have_pending.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + flush_timeout
        try:
            await asyncio.wait_for(self._wait_spooled(), flush_timeout)
            if self.last_error is None:  # PostgreSQL is answering: let it take the rest
                await asyncio.wait_for(self.drain(), max(deadline - loop.time(), 0.01))
        except TimeoutError:
            pass
        if self.backlog:
            log.warning("cdr.stopped_with_backlog", backlog=self.backlog, spooled=self.spooled,
                        error=self.last_error)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._pending and self._spool is not None:
            # Submitted after the last flush: accept them now (blocking is fine at shutdown).
            items, self._pending = [i for i in self._pending if self._encodable(i)], []
            try:
                rows = to_rows(items)
                self._enqueue(rows, self._spool.append_rows(rows))
            except OSError as exc:
                self.dropped += len(items)
                log.error("cdr.stop_spool_failed", error=str(exc), lost=len(items))
        if self._spool is not None:
            self._spool.close()

    async def drain(self) -> None:
        """Wait until everything submitted so far is in PostgreSQL (flushing the spooler now)."""
        if self._pending:
            self._batch_full.set()
        async with self._progress:
            await self._progress.wait_for(
                lambda: not self._pending and not self._in_flight and self._acked_seq >= self._accepted_seq)

    async def _wait_spooled(self) -> None:
        self._batch_full.set()
        async with self._progress:
            await self._progress.wait_for(lambda: not self._pending and not self._in_flight)

    # --- spooler: pending -> spool (fsync) -> queue ----------------------------
    async def _spool_loop(self) -> None:
        while True:
            await self._have_pending.wait()
            if len(self._pending) < self.batch_size and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._batch_full.wait(), self.flush_interval)
            self._have_pending.clear()
            self._batch_full.clear()
            items, self._pending = self._pending, []
            if not items:
                continue
            self._in_flight = len(items)
            if self._spool is not None:
                try:
                    rows, last = await asyncio.to_thread(self._append, self._spool, items)
                except OSError as exc:
                    self._in_flight = 0
                    # The disk failed: keep the items pending (bounded by max_pending) and retry.
                    self.last_error = f"spool: {exc}"
                    log.error("cdr.spool_write_failed", error=str(exc), items=len(items))
                    self._pending[:0] = items
                    await asyncio.sleep(self.retry_seconds)
                    self._have_pending.set()
                    continue
                except Exception as exc:
                    # An item the spool cannot encode (a bug upstream): set it aside, keep the others.
                    self._in_flight = 0
                    log.exception("cdr.spool_encode_failed", error=str(exc), items=len(items))
                    self._pending[:0] = [item for item in items if self._encodable(item)]
                    self._have_pending.set()
                    continue
            else:
                rows, last = to_rows(items), self._accepted_seq + len(items)
            self._enqueue(rows, last)
            self._in_flight = 0
            self._db_wakeup.set()
            async with self._progress:
                self._progress.notify_all()

    @staticmethod
    def _append(spool: Spool, items: list[CdrItem]) -> tuple[list[Row], int]:
        """In a thread: take the values out of the items once, spool them (fsync)."""
        rows = to_rows(items)
        return rows, spool.append_rows(rows)

    def _encodable(self, item: CdrItem) -> bool:
        try:
            encode(0, item)
        except Exception as exc:
            self._reject(item, exc)
            return False
        return True

    def _enqueue(self, rows: list[Row], last: int) -> None:
        """Queue accepted ``rows`` (sequence numbers up to ``last``) for PostgreSQL, within ``max_queue``."""
        if rows:
            self._queue.append((last - len(rows) + 1, rows))
            self._queued += len(rows)
        self._accepted_seq = last
        overflow = self._queued - self.max_queue
        if overflow > 0:
            first = self._queue[0][0]
            removed = self._unqueue(first + overflow - 1)
            if self._spool is None:
                self.dropped += len(removed)
                self._acked_seq = max(self._acked_seq, first + len(removed) - 1)
                for row in removed:
                    log.error("cdr.backlog_full_dropped", item=_describe(row_item(row)))
            # with a spool they stay on disk: the database loop reads them back from there

    def _unqueue(self, last_seq: int) -> list[Row]:
        """Take the queued rows up to seq ``last_seq`` out of the queue; return them."""
        removed: list[Row] = []
        while self._queue and self._queue[0][0] <= last_seq:
            first, rows = self._queue.popleft()
            keep = first + len(rows) - 1 - last_seq
            if keep > 0:  # a batch only partly taken: its end stays first in line
                self._queue.appendleft((last_seq + 1, rows[-keep:]))
                rows = rows[:-keep]
            removed.extend(rows)
            self._queued -= len(rows)
        return removed

    # --- database loop: queue or spool -> PostgreSQL ---------------------------
    def _next_in_memory(self) -> int:
        return self._queue[0][0] if self._queue else self._accepted_seq + 1

    async def _db_loop(self) -> None:
        delay = self.retry_seconds
        while True:
            await self._db_wakeup.wait()
            self._db_wakeup.clear()
            while self._acked_seq < self._accepted_seq:
                try:
                    if not await self._write_next():
                        break
                    delay = self.retry_seconds
                except Exception as exc:  # never let the loop die: the spool keeps the items
                    self.failures += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    if not isinstance(exc, TRANSIENT_ERRORS):
                        log.exception("cdr.write_bug_retrying")
                    log.warning("cdr.write_failed_retrying", backlog=self.backlog, spooled=self.spooled,
                                error=self.last_error, retry_in=delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_retry_seconds)
            async with self._progress:
                self._progress.notify_all()

    async def _write_next(self) -> bool:
        """Write the chunks there are, two at a time on two connections when they are independent
        (no call in both): each connection takes the next chunk as soon as it is done with its own,
        so PostgreSQL inserts one while we send the other and neither waits for the slower of a pair.
        Acknowledged in order; on any failure the loop writes again from the last acknowledged
        seq (idempotent), after the chunk still running has finished. False when there was none."""
        lanes = 2 if self.pipeline else 1
        window: deque[tuple[_Chunk, asyncio.Task[None]]] = deque()  # taken, in seq order
        held: _Chunk | None = None  # taken, waiting for the chunk it shares a call with
        taken = self._acked_seq
        wrote = False
        try:
            while True:
                while window and window[0][1].done():
                    done, task = window.popleft()
                    task.result()  # raises the chunk's error: the rest is written again
                    await self._acknowledge_chunk(done)
                    wrote = True
                running = [chunk for chunk, task in window if not task.done()]
                while len(running) < lanes:
                    nxt = held or await self._take(taken)
                    held = None
                    if nxt is None:
                        break
                    if any(_share_a_call(other, nxt) for other in running):
                        held = nxt  # the later version of a call must be written after the earlier
                        break
                    window.append((nxt, asyncio.create_task(self._write_batch(nxt.items))))
                    running.append(nxt)
                    taken = nxt.last_seq
                if not window:
                    return wrote
                await asyncio.wait([task for _chunk, task in window if not task.done()],
                                   return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # stop(): so are the writes (the spool keeps their items)
            for _chunk, task in window:
                task.cancel()
            await asyncio.gather(*(task for _chunk, task in window), return_exceptions=True)
            raise
        except Exception:
            # Let the others end (their writes are idempotent, done again) and consume their errors.
            await asyncio.gather(*(task for _chunk, task in window), return_exceptions=True)
            raise

    async def _take(self, after: int) -> _Chunk | None:
        """The items following seq ``after``: from the spool while they are only there, else from memory."""
        on_disk_until = self._next_in_memory() - 1
        if after < on_disk_until:
            # Items only in the spool (a previous run's, or beyond max_queue): read them back, in order.
            assert self._spool is not None
            if self._reader is None or self._reader.position != after:
                self._reader = self._spool.reader(after)
            read = await asyncio.to_thread(self._reader.read, self.replay_batch, on_disk_until)
            if not read and self._reader.position <= after:
                return _Chunk(on_disk_until, [], from_disk=True, gap=on_disk_until - after)
            return _Chunk(max(self._reader.position, after), [item for _seq, item in read], from_disk=True)
        available = self._accepted_seq - after  # the queue ends at the last accepted seq
        if not self._queue or after + 1 < self._queue[0][0] or available <= 0:
            return None
        size = min(self.batch_size if available <= self.batch_size else self.replay_batch, available)
        items: list[Row] = []
        for first, rows in self._queue:
            start = after + 1 + len(items) - first
            if start >= len(rows):
                continue
            items.extend(rows[start:start + size - len(items)])
            if len(items) >= size:
                break
        return _Chunk(after + len(items), items, from_disk=False)

    async def _acknowledge_chunk(self, chunk: _Chunk) -> None:
        if chunk.gap:
            # Accepted items missing from the spool files (removed by hand?): say so, go on.
            self.lost += chunk.gap
            log.error("cdr.spool_gap", first_seq=chunk.last_seq - chunk.gap + 1, last_seq=chunk.last_seq)
        if chunk.from_disk:
            self.replayed_from_spool += len(chunk.items)
        else:
            # The queue may have been trimmed from the left meanwhile: take out what was written only.
            self._unqueue(chunk.last_seq)
        await self._acknowledge(chunk.last_seq, len(chunk.items))

    async def _write_batch(self, items: list[Row]) -> None:
        if not items:
            return
        try:
            await asyncio.wait_for(write_rows(self._pool, items, method=self.method), self.db_timeout)
        except (asyncpg.PostgresError, _CLIENT_DATA_ERROR) as exc:
            if not _is_data_error(exc):
                raise
            log.error("cdr.batch_refused_row_by_row", error=str(exc), items=len(items))
            await self._write_one_by_one(items)

    async def _write_one_by_one(self, items: list[Row]) -> None:
        for row in items:
            try:
                await asyncio.wait_for(write_rows(self._pool, [row], method="executemany"), self.db_timeout)
            except (asyncpg.PostgresError, _CLIENT_DATA_ERROR) as exc:
                if not _is_data_error(exc):
                    raise
                self._reject(row_item(row), exc)

    def _reject(self, item: CdrItem, exc: BaseException) -> None:
        self.rejected += 1
        self.last_error = f"rejected: {exc}"
        log.error("cdr.item_rejected", item=_describe(item), error=str(exc))
        if self._spool is not None:
            try:
                line = as_json(item, error=f"{type(exc).__name__}: {exc}")
            except (TypeError, ValueError, KeyError):
                line = json.dumps({"error": f"{type(exc).__name__}: {exc}", "repr": repr(item)})
            with (self._spool.directory / "rejected.jsonl").open("a", encoding="utf-8") as out:
                out.write(line + "\n")

    async def _acknowledge(self, last_seq: int, count: int) -> None:
        self._acked_seq = max(self._acked_seq, last_seq)
        self.written += count
        self.last_error = None
        if self._spool is not None and self._spool.releasable(self._acked_seq):
            await asyncio.to_thread(self._spool.release, self._acked_seq)
        async with self._progress:
            self._progress.notify_all()


@dataclasses.dataclass
class _Chunk:
    last_seq: int
    items: list[Row]
    from_disk: bool
    gap: int = 0  # accepted items the spool no longer has
    _calls: frozenset[Any] | None = None

    def calls(self) -> frozenset[Any]:
        """The ``(node, linkedid)`` of the call records in the chunk (built once)."""
        if self._calls is None:
            self._calls = frozenset(map(CDR_ROW_KEY, [values for kind, values in self.items if kind == CDR_KIND]))
        return self._calls


def _share_a_call(first: _Chunk, second: _Chunk) -> bool:
    """Two chunks written at once must not hold two versions of one call (the later must win)."""
    return not first.calls().isdisjoint(second.calls())


def _describe(item: CdrItem) -> dict[str, Any]:
    if isinstance(item, CallRecord):
        return {"node": item.node, "linkedid": item.linkedid, "outcome": item.outcome}
    if isinstance(item, QueueLogEntry):
        return {"callid": item.callid, "event": item.event}
    return {"repr": repr(item)[:200]}
