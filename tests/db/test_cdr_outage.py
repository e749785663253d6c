"""Nothing lost, nothing duplicated: PostgreSQL stopped mid-burst, the service killed mid-burst.

Real PostgreSQL only. The stop/start test runs its own private cluster
(``private_postgres``), never the machine's shared server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from cdr.correlator import CallRecord
from cdr.migrate import migrate
from cdr.queue_log import QueueLogEntry
from cdr.spool import SUFFIX
from cdr.writer import CdrWriter
from config.settings import REPO_ROOT
from tests.conftest import recreate_database
from tests.db.private_postgres import PrivatePostgres

pytestmark = pytest.mark.db

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
OUTCOMES = ("answered", "abandoned_in_queue", "timeout", "abandoned_in_ivr", "closed")


def numbered(n: int) -> CallRecord:
    """Record number ``n``: its fields vary with n, so the checksum sees any mix-up."""
    start = T0 + dt.timedelta(seconds=n)
    answered = n % 5 == 0
    return CallRecord(
        linkedid=f"k.{n:06d}", uniqueid=f"k.{n:06d}", src=f"03{n:08d}", clid=f'"Appelant {n}" <03{n:08d}>',
        dst="0800596280", channel=f"PJSIP/pstn-{n:08x}", dstchannel="", start=start,
        answer=start + dt.timedelta(seconds=7) if answered else None, end=start + dt.timedelta(seconds=60 + n % 90),
        duration=60 + n % 90, billsec=53 + n % 90 if answered else 0,
        disposition="ANSWERED" if answered else "NO ANSWER", need="creation", sector="crafts", size="micro",
        departement="nord", ivr_exit="completed", ivr_steps=4, ivr_retries=n % 3, hours_state="open",
        queue="sector-crafts", rule_version=1, line="cma-01" if answered else None,
        partner="cma" if answered else None, wait_seconds=n % 120, talk_seconds=None,
        outcome=OUTCOMES[n % 5], degraded=n % 17 == 0, escalation_step=n % 3,
    )


def enterqueue(n: int) -> QueueLogEntry:
    return QueueLogEntry(time=T0 + dt.timedelta(seconds=n, microseconds=n % 997), callid=f"k.{n:06d}",
                         queuename="sector-crafts", agent="NONE", event="ENTERQUEUE",
                         data2=f"03{n:08d}", data3=str(1 + n % 4))


CDR_DIGEST_SQL = """SELECT count(*), count(DISTINCT linkedid),
    md5(string_agg(concat_ws('|', linkedid, src, clid, start, answer, "end", duration, billsec, outcome,
                             wait_seconds, degraded, escalation_step), E'\\n' ORDER BY linkedid))
    FROM cdr"""
QL_DIGEST_SQL = """SELECT count(*), count(DISTINCT (callid, time, event)),
    md5(string_agg(concat_ws('|', callid, time, event, data), E'\\n' ORDER BY callid, time))
    FROM queue_log"""


async def expected_digests(numbers: list[int]) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """The digests PostgreSQL computes over exactly these records, in a scratch schema of the shared server."""
    url = "postgresql://postgres@127.0.0.1:5432/aiguilleur_test_digest"
    await recreate_database(url)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        from cdr.record_sql import write_items
        await write_items(conn, [numbered(n) for n in numbers] + [enterqueue(n) for n in numbers])
        return tuple(await conn.fetchrow(CDR_DIGEST_SQL)), tuple(await conn.fetchrow(QL_DIGEST_SQL))
    finally:
        await conn.close()


def spool_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}"))


def run_and_kill_child(
    database_url: str, spool: Path, kill_after: int, halfway: Callable[[], None]
) -> tuple[int, int]:
    """Start ``tests.db.writer_child``; call ``halfway()`` once it has accepted ``kill_after // 3``
    records, SIGKILL it once it has accepted ``kill_after``. Returns (accepted, return code)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.db.writer_child", database_url, str(spool), "200000"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    accepted = 0
    called = False
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("accepted "):
                accepted = int(line.split()[1])
            if accepted >= kill_after // 3 and not called:
                halfway()
                called = True
            if accepted >= kill_after:
                break
        os.kill(child.pid, signal.SIGKILL)  # our own child, by pid
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    return accepted, child.returncode


@pytest.mark.parametrize("stop_mode", ["fast", "immediate"])
async def test_postgresql_stopped_and_restarted_during_a_burst_loses_and_duplicates_nothing(
    tmp_path: Path, stop_mode: str
) -> None:
    """20,000 records + 20,000 queue_log rows at ~5,000/s; PostgreSQL goes down for 2 s in the middle
    (clean shutdown, or an immediate one = a crash with recovery); count and checksum must be exact."""
    total = 20_000
    pg = PrivatePostgres()
    try:
        pg.start()
        conn = await asyncpg.connect(pg.url())
        await conn.execute("CREATE DATABASE hotline")
        await conn.close()
        conn = await asyncpg.connect(pg.url("hotline"))
        await migrate(conn)
        await conn.close()

        pool = await asyncpg.create_pool(pg.url("hotline"), min_size=1, max_size=2)
        writer = CdrWriter(pool, spool_dir=tmp_path / "spool", retry_seconds=0.1, max_retry_seconds=0.5,
                           max_queue=2_000)
        writer.start()
        spooled_while_down = 0
        try:
            for n in range(total):
                writer.submit(numbered(n))
                writer.submit(enterqueue(n))
                if n % 500 == 499:
                    await asyncio.sleep(0.1)
                if n == 6_000:
                    await asyncio.to_thread(pg.stop, stop_mode)
                if 6_000 < n < 16_000:
                    spooled_while_down = max(spooled_while_down, writer.spooled)
                if n == 16_000:
                    await asyncio.to_thread(pg.start)
            await asyncio.wait_for(writer.drain(), 60)
        finally:
            await writer.stop()
            await pool.close()

        # the outage really happened and was ridden out
        state = {k: getattr(writer, k) for k in ("failures", "last_error", "backlog", "dropped", "rejected",
                                                  "lost", "written", "replayed_from_spool")}
        assert writer.failures > 0 and spooled_while_down > 4_000, (spooled_while_down, state)
        assert writer.last_error is None and writer.backlog == 0, state
        assert writer.dropped == writer.rejected == writer.lost == 0, state
        assert spool_files(tmp_path / "spool") == []

        conn = await asyncpg.connect(pg.url("hotline"))
        try:
            cdr = tuple(await conn.fetchrow(CDR_DIGEST_SQL))
            qlog = tuple(await conn.fetchrow(QL_DIGEST_SQL))
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(pg.close)

    expected_cdr, expected_qlog = await expected_digests(list(range(total)))
    assert cdr[:2] == (total, total) and qlog[:2] == (total, total)
    assert cdr == expected_cdr and qlog == expected_qlog


async def test_kill_9_mid_burst_loses_nothing_that_was_accepted(
    empty_db: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    """A process feeding the writer is SIGKILLed mid-burst; a new writer on the same spool
    (the restarted service) brings PostgreSQL to every record the dead one had accepted."""
    await migrate(empty_db)
    spool = tmp_path / "spool"
    loop = asyncio.get_running_loop()
    locker = await asyncpg.connect(database_url)
    lock = locker.transaction()
    locked: list[bool] = []

    async def block_writes() -> None:
        # From a third of the burst on, the child's writes wait on this lock: what it accepts
        # after that is only in its spool when it dies (reads stay allowed).
        await lock.start()
        locked.append(True)
        await locker.execute("LOCK TABLE cdr IN EXCLUSIVE MODE")

    def halfway() -> None:
        asyncio.run_coroutine_threadsafe(block_writes(), loop).result(timeout=30)

    try:
        accepted, returncode = await asyncio.to_thread(run_and_kill_child, database_url, spool, 30_000, halfway)
        in_db_at_kill = await locker.fetchval("SELECT count(*) FROM cdr")
    finally:
        if locked:
            await lock.rollback()
        await locker.close()
    assert returncode == -signal.SIGKILL and accepted >= 30_000
    assert 0 < in_db_at_kill < accepted  # some written, the rest left to the spool

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    writer = CdrWriter(pool, spool_dir=spool)
    writer.start()
    try:
        await asyncio.wait_for(writer.drain(), 60)
    finally:
        await writer.stop()
        await pool.close()

    rows = await empty_db.fetch("SELECT linkedid FROM cdr ORDER BY linkedid")
    present = [int(r["linkedid"].split(".")[1]) for r in rows]
    # every accepted record is there, once; the ones after are a gap-free prefix beyond it (never holes)
    assert present[:accepted] == list(range(accepted))
    assert present == list(range(len(present)))
    assert len(present) >= accepted
