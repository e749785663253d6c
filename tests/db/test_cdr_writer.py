import asyncio
import datetime as dt
from dataclasses import replace

import asyncpg
import pytest

from cdr.correlator import CallRecord
from cdr.migrate import migrate
from cdr.writer import CdrWriter, write_records

pytestmark = pytest.mark.db

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def record(linkedid: str, outcome: str = "answered") -> CallRecord:
    return CallRecord(
        linkedid=linkedid, uniqueid=linkedid, src="0320123456", clid='"José" <0320123456>',
        dst="0800596280", channel="PJSIP/pstn-00000001", dstchannel="PJSIP/cma-01-00000002",
        start=T0, answer=T0 + dt.timedelta(seconds=20), end=T0 + dt.timedelta(seconds=200),
        duration=200, billsec=180, disposition="ANSWERED", need="creation", sector="crafts",
        size="micro", departement="nord", ivr_exit="completed", ivr_steps=4, ivr_retries=0,
        hours_state="open", queue="sector-crafts", rule_version=1, line="cma-01", partner="cma",
        wait_seconds=5, talk_seconds=178, outcome=outcome, degraded=False,
    )


async def test_writing_the_same_record_twice_leaves_one_row(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    await write_records(empty_db, [record("1.1")])
    await write_records(empty_db, [record("1.1"), record("1.2")])
    assert await empty_db.fetchval("SELECT count(*) FROM cdr") == 2
    row = await empty_db.fetchrow("SELECT * FROM cdr WHERE linkedid = '1.1'")
    assert row["clid"] == '"José" <0320123456>' and row["partner"] == "cma" and row["billsec"] == 180


async def test_a_corrected_record_replaces_the_first_version(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    await write_records(empty_db, [record("2.1", outcome="abandoned_in_queue")])
    await write_records(empty_db, [replace(record("2.1"), outcome="answered")])
    assert await empty_db.fetchval("SELECT outcome FROM cdr WHERE linkedid = '2.1'") == "answered"


async def test_writer_keeps_records_while_the_table_is_missing_then_writes_them(
    empty_db: asyncpg.Connection, database_url: str
) -> None:
    """A database error (here: no schema yet) is retried; nothing is lost."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    writer = CdrWriter(pool, retry_seconds=0.1)
    writer.start()
    try:
        writer.submit(record("3.1"))
        writer.submit(record("3.2"))
        await asyncio.sleep(0.3)
        assert writer.backlog == 2
        await migrate(empty_db)
        for _ in range(50):
            if writer.backlog == 0:
                break
            await asyncio.sleep(0.1)
        assert await empty_db.fetchval("SELECT count(*) FROM cdr") == 2
    finally:
        await writer.stop()
        await pool.close()
