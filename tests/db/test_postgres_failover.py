"""A real PostgreSQL failover under the CDR writer: the primary is killed mid-burst, its standby promoted.

Two private servers (``tests.db.replication``): a primary and a synchronous
streaming standby, on free loopback ports, never the machine's shared server.
The writer is built as the service builds it (a pool of 1-4 on DATABASE_URL, its
spool, default retries) on the multi-host DSN
``postgresql://...@127.0.0.1:P1,127.0.0.1:P2/hotline?target_session_attrs=read-write``.
Nothing in the writer knows about hosts: a new connection of the pool tries the
hosts in order and keeps the first that accepts writes, which after the failover
is the promoted standby. The test promotes it itself (no Patroni here).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import asyncpg
import pytest

from cdr.migrate import migrate
from cdr.record_sql import write_items
from cdr.writer import CdrWriter
from tests.db.replication import StreamingPair
from tests.db.test_cdr_outage import CDR_DIGEST_SQL, QL_DIGEST_SQL, enterqueue, numbered, spool_files

pytestmark = pytest.mark.db

TOTAL = 30_000  # records, and as many queue_log rows
KILL_AT = 6_000  # the primary is killed when this record is submitted...
PROMOTE_AT = 11_000  # ...and its standby promoted at this one, about 1 s later


async def rows_in(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        count: int = await conn.fetchval("SELECT (SELECT count(*) FROM cdr) + (SELECT count(*) FROM queue_log)")
        return count
    finally:
        await conn.close()


async def until_server_says(url: str, sql: str, interval: float) -> None:
    """Until ``sql`` (one value) is true on the server at ``url``: its own state, no event to wait on."""
    conn = await asyncpg.connect(url)
    try:
        async with asyncio.timeout(10):
            while not await conn.fetchval(sql):  # noqa: ASYNC110 (the server's state: no event to wait on)
                await asyncio.sleep(interval)
    finally:
        await conn.close()


async def replayed_all_it_received(standby_url: str) -> None:
    """Until the standby has applied all the WAL it has on disk: its rows are then what it will promote with."""
    await until_server_says(standby_url, "SELECT pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()", 0.02)


async def a_commit_waits_for_the_standby(primary_url: str) -> None:
    """Until a backend of the primary waits for the standby's acknowledgement (wait event ``SyncRep``):
    a commit the primary has on disk and has not acknowledged to the writer."""
    await until_server_says(primary_url, "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
                            0.01)


async def digests(url: str) -> tuple[tuple[object, ...], tuple[object, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return tuple(await conn.fetchrow(CDR_DIGEST_SQL)), tuple(await conn.fetchrow(QL_DIGEST_SQL))
    finally:
        await conn.close()


async def test_records_keep_landing_after_the_primary_dies_and_the_standby_is_promoted(tmp_path: Path) -> None:
    """30,000 records + 30,000 queue_log rows at ~5,000 records/s; kill -9 of the primary's postmaster
    after 6,000 while a commit waits for the standby, the standby promoted 1 s later: every record
    is on the new primary, once."""
    pair = StreamingPair()
    try:
        await asyncio.to_thread(pair.start)
        await pair.wait_synchronous()
        admin = await asyncpg.connect(pair.primary.url())
        await admin.execute("CREATE DATABASE hotline")
        await admin.close()
        dsn = pair.dsn("hotline")
        conn = await asyncpg.connect(dsn)
        await migrate(conn)
        await conn.close()
        assert pair.standby is not None
        standby = pair.standby

        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)  # as aiguilleur.service does
        writer = CdrWriter(pool, spool_dir=tmp_path / "spool")  # the service's spool and retry defaults
        writer.start()
        killed_at = promoted_at = first_write_at = 0.0
        acked_before_promotion = on_standby_at_promotion = spooled_at_promotion = backlog_at_kill = 0

        async def watch_first_write() -> None:
            # Nothing can be acknowledged between the kill and the promotion (the old primary is dead,
            # the standby read-only): the first acknowledgement after it is a commit of the new primary.
            nonlocal first_write_at
            while writer.written == acked_before_promotion:  # noqa: ASYNC110 (a counter, polled 200 times/s)
                await asyncio.sleep(0.005)
            first_write_at = time.monotonic()

        watcher: asyncio.Task[None] | None = None
        try:
            for n in range(TOTAL):
                writer.submit(numbered(n))
                writer.submit(enterqueue(n))
                if n % 500 == 499:
                    await asyncio.sleep(0.1)
                if n == KILL_AT:
                    # The standby lags (its WAL receiver frozen) when the primary dies: the writer's
                    # commit in flight is on the primary's disk, maybe not on the standby's, and was
                    # not acknowledged. Synchronous replication is what makes that safe.
                    receiver = await pair.walreceiver_pid()
                    os.kill(receiver, signal.SIGSTOP)
                    try:
                        await a_commit_waits_for_the_standby(pair.primary.url())
                        assert writer.written > 0  # the old primary had acknowledged some
                        backlog_at_kill = writer.backlog
                        await asyncio.to_thread(pair.primary.kill)
                        killed_at = time.monotonic()
                    finally:
                        os.kill(receiver, signal.SIGCONT)
                if n == PROMOTE_AT:
                    await replayed_all_it_received(standby.url("hotline"))
                    acked_before_promotion = writer.written
                    spooled_at_promotion = writer.spooled
                    on_standby_at_promotion = await rows_in(standby.url("hotline"))
                    watcher = asyncio.create_task(watch_first_write())
                    await asyncio.to_thread(standby.promote)
                    promoted_at = time.monotonic()
            await asyncio.wait_for(writer.drain(), 120)
            assert watcher is not None
            await asyncio.wait_for(watcher, 1)
        finally:
            if watcher is not None:
                watcher.cancel()
            await writer.stop()
            await pool.close()

        state = {k: getattr(writer, k) for k in ("written", "failures", "last_error", "backlog", "dropped",
                                                  "rejected", "lost", "replayed_from_spool")}
        # The failover really happened under load, and was ridden out.
        assert writer.failures > 0 and spooled_at_promotion > 1_000, (spooled_at_promotion, state)
        assert writer.last_error is None and writer.backlog == 0, state
        assert writer.dropped == writer.rejected == writer.lost == 0, state
        assert spool_files(tmp_path / "spool") == []
        # Synchronous replication: what the dead primary acknowledged was on the standby before it was promoted.
        assert on_standby_at_promotion >= acked_before_promotion > 0, (on_standby_at_promotion, state)

        new_primary = standby.url("hotline")
        cdr, qlog = await digests(new_primary)
        # The same records written once, by the same statements, in a scratch database of the new primary.
        admin = await asyncpg.connect(standby.url())
        await admin.execute("CREATE DATABASE expected")
        await admin.close()
        scratch = await asyncpg.connect(standby.url("expected"))
        try:
            await migrate(scratch)
            await write_items(scratch, [numbered(n) for n in range(TOTAL)] + [enterqueue(n) for n in range(TOTAL)])
        finally:
            await scratch.close()
        expected_cdr, expected_qlog = await digests(standby.url("expected"))
    finally:
        await asyncio.to_thread(pair.close)

    print(f"\nfailover: {TOTAL} records + {TOTAL} queue_log rows; killed with {backlog_at_kill} items "
          f"not acknowledged yet (a commit waiting for the standby); before the promotion the old primary "
          f"had acknowledged {acked_before_promotion}, the standby held {on_standby_at_promotion} rows; "
          f"{spooled_at_promotion} waited in the spool; promoted {promoted_at - killed_at:.2f} s after the kill; "
          f"first write on the new primary {first_write_at - killed_at:.2f} s after the kill "
          f"({first_write_at - promoted_at:.2f} s after the promotion); "
          f"{writer.failures} failed attempts; {writer.replayed_from_spool} read back from the spool files")
    assert cdr[:2] == (TOTAL, TOTAL) and qlog[:2] == (TOTAL, TOTAL)
    assert cdr == expected_cdr and qlog == expected_qlog
