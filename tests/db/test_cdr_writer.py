"""The CDR writer on the real PostgreSQL: idempotent batches, the spool, outages, bad rows."""

import asyncio
import datetime as dt
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from cdr.correlator import CallRecord, CdrItem
from cdr.migrate import migrate
from cdr.queue_log import QueueLogEntry
from cdr.record_sql import Method, write_items, write_records
from cdr.spool import SUFFIX
from cdr.writer import CdrWriter

pytestmark = pytest.mark.db

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1


def record(linkedid: str, outcome: str = "answered") -> CallRecord:
    return CallRecord(
        linkedid=linkedid, uniqueid=linkedid, src="0320123456", clid='"José" <0320123456>',
        dst="0800596280", channel="PJSIP/pstn-00000001", dstchannel="PJSIP/cma-01-00000002",
        start=T0, answer=T0 + dt.timedelta(seconds=20), end=T0 + dt.timedelta(seconds=200),
        duration=200, billsec=180, disposition="ANSWERED", need="creation", sector="crafts",
        size="micro", departement="nord", ivr_exit="completed", ivr_steps=4, ivr_retries=0,
        hours_state="open", queue="sector-crafts", rule_version=1, line="cma-01", partner="cma",
        wait_seconds=5, talk_seconds=178, outcome=outcome, degraded=False,
        ring_seconds=2, wrapup_seconds=15, escalation_step=0,
    )


def entry(callid: str, event: str = "ENTERQUEUE", micro: int = 0) -> QueueLogEntry:
    return QueueLogEntry(time=T0 + dt.timedelta(microseconds=micro), callid=callid, queuename="sector-crafts",
                         agent="NONE", event=event, data2="0320123456", data3="1")


def spool_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}"))


async def wait_for(predicate: object, within: float = 10.0) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_writing_the_same_record_twice_leaves_one_row(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    await write_records(empty_db, [record("1.1")])
    await write_records(empty_db, [record("1.1"), record("1.2")])
    assert await empty_db.fetchval("SELECT count(*) FROM cdr") == 2
    row = await empty_db.fetchrow("SELECT * FROM cdr WHERE linkedid = '1.1'")
    assert row["clid"] == '"José" <0320123456>' and row["partner"] == "cma" and row["billsec"] == 180
    assert (row["ring_seconds"], row["wrapup_seconds"], row["escalation_step"]) == (2, 15, 0)


async def test_a_corrected_record_replaces_the_first_version(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    await write_records(empty_db, [record("2.1", outcome="abandoned_in_queue")])
    await write_records(empty_db, [replace(record("2.1"), outcome="answered")])
    assert await empty_db.fetchval("SELECT outcome FROM cdr WHERE linkedid = '2.1'") == "answered"


@pytest.mark.parametrize("method", ["copy", "executemany"])
async def test_both_write_methods_are_idempotent_even_within_one_batch(
    empty_db: asyncpg.Connection, method: Method
) -> None:
    await migrate(empty_db)
    batch: list[CdrItem] = [record("3.1", "abandoned_in_queue"), entry("3.1"), entry("3.1", "ABANDON", 5),
                            record("3.1"), entry("3.1")]  # the same record twice, the same row twice
    await write_items(empty_db, batch, method=method)
    await write_items(empty_db, batch, method=method)
    assert await empty_db.fetchval("SELECT count(*) FROM cdr") == 1
    assert await empty_db.fetchval("SELECT outcome FROM cdr") == "answered"  # the last version wins
    rows = await empty_db.fetch("SELECT event, data FROM queue_log ORDER BY time")
    assert [tuple(r) for r in rows] == [("ENTERQUEUE", "|0320123456|1"), ("ABANDON", "|0320123456|1")]


async def test_a_recovered_record_never_replaces_a_live_one(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    await write_records(empty_db, [record("4.1")])
    await write_records(empty_db, [replace(record("4.1"), outcome="abandoned_in_queue", recovered=True)])
    assert await empty_db.fetchval("SELECT outcome FROM cdr") == "answered"
    await write_records(empty_db, [replace(record("4.2"), recovered=True)])
    await write_records(empty_db, [replace(record("4.2"), outcome="timeout")])  # the live one comes later
    assert tuple(await empty_db.fetchrow("SELECT outcome, recovered FROM cdr WHERE linkedid = '4.2'")) == (
        "timeout", False)


async def test_writer_keeps_records_while_the_table_is_missing_then_writes_them(
    empty_db: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    """A database error (here: no schema yet) is retried; nothing is lost."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    writer = CdrWriter(pool, spool_dir=tmp_path, retry_seconds=0.1, max_retry_seconds=0.2)
    writer.start()
    try:
        writer.submit(record("5.1"))
        writer.submit(entry("5.1"))
        await wait_for(lambda: writer.failures > 0)
        assert writer.backlog == 2 and writer.spooled == 2 and writer.last_error is not None
        await migrate(empty_db)
        await asyncio.wait_for(writer.drain(), 10)
        assert await empty_db.fetchval("SELECT count(*) FROM cdr") == 1
        assert await empty_db.fetchval("SELECT count(*) FROM queue_log") == 1
        assert writer.last_error is None and writer.written == 2
    finally:
        await writer.stop()
        await pool.close()
    assert spool_files(tmp_path) == []  # acknowledged: the spool is empty again


async def test_items_are_spooled_within_the_flush_interval_without_a_database(tmp_path: Path) -> None:
    pool = await asyncpg.create_pool(UNREACHABLE, min_size=0, max_size=1)
    writer = CdrWriter(pool, spool_dir=tmp_path, flush_interval=0.05, retry_seconds=0.05)
    writer.start()
    try:
        writer.submit(record("6.1"))
        assert writer.spooled == 0  # submit() itself does no I/O
        await wait_for(lambda: writer.spooled == 1, within=1.0)
        assert writer.accepted_seq == 1 and len(spool_files(tmp_path)) == 1
    finally:
        await writer.stop(flush_timeout=0.5)
        await pool.close()


async def test_a_long_outage_keeps_memory_bounded_and_the_next_run_replays_everything_in_order(
    empty_db: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    """5,000 records while PostgreSQL is unreachable: at most max_queue in memory, all on disk;
    a new writer (a service restart) replays them, in order, once."""
    await migrate(empty_db)
    dead = await asyncpg.create_pool(UNREACHABLE, min_size=0, max_size=1)
    writer = CdrWriter(dead, spool_dir=tmp_path, batch_size=100, max_queue=300, retry_seconds=0.05,
                       max_retry_seconds=0.1, segment_records=1_000)
    writer.start()
    peak = 0
    try:
        for i in range(5_000):
            writer.submit(record(f"7.{i:05d}"))
            if i % 100 == 99:
                await asyncio.sleep(0.005)  # a steady stream (the spooler fsyncs in a thread meanwhile)
                peak = max(peak, writer.in_memory)
        await wait_for(lambda: writer.spooled == 5_000)
        peak = max(peak, writer.in_memory)
    finally:
        await writer.stop(flush_timeout=0.5)
        await dead.close()
    assert peak <= 1_000 and writer.written == 0  # max_queue 300 + what arrives during one fsync
    assert len(spool_files(tmp_path)) >= 5  # rotated every 1,000 records

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    second = CdrWriter(pool, spool_dir=tmp_path, replay_batch=700)
    second.start()
    try:
        await asyncio.wait_for(second.drain(), 30)
        assert second.replayed_from_spool == 5_000 and second.written == 5_000
        second.submit(record("7.99999"))  # new items get numbers after the replayed ones
        await asyncio.wait_for(second.drain(), 10)
        assert second.accepted_seq == 5_001
    finally:
        await second.stop()
        await pool.close()
    assert await empty_db.fetchval("SELECT count(*) FROM cdr") == 5_001
    assert spool_files(tmp_path) == []


async def test_a_row_postgresql_refuses_is_set_aside_and_the_rest_is_written(
    empty_db: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    await migrate(empty_db)
    await empty_db.execute("ALTER TABLE cdr ADD CONSTRAINT sane_duration CHECK (duration >= 0)")
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    writer = CdrWriter(pool, spool_dir=tmp_path)
    writer.start()
    try:
        writer.submit(record("8.1"))
        writer.submit(replace(record("8.2"), duration=-1))  # violates the check: SQLSTATE 23514
        writer.submit(record("8.3"))
        await asyncio.wait_for(writer.drain(), 10)
    finally:
        await writer.stop()
        await pool.close()
    ids = [r["linkedid"] for r in await empty_db.fetch("SELECT linkedid FROM cdr ORDER BY 1")]
    assert ids == ["8.1", "8.3"] and writer.rejected == 1
    rejected = await asyncio.to_thread((tmp_path / "rejected.jsonl").read_text, encoding="utf-8")
    assert "CheckViolationError" in rejected and '"linkedid": "8.2"' in rejected


async def test_an_item_the_spool_cannot_encode_is_set_aside_and_the_rest_is_written(
    empty_db: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    """A bug upstream (a value that is no SQL type) must not stop the writer."""
    await migrate(empty_db)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    writer = CdrWriter(pool, spool_dir=tmp_path)
    writer.start()
    try:
        writer.submit(record("9.1"))
        writer.submit(replace(record("9.2"), src=object()))  # type: ignore[arg-type]
        writer.submit(record("9.3"))
        await asyncio.wait_for(writer.drain(), 10)
        writer.submit(record("9.4"))  # and it goes on
        await asyncio.wait_for(writer.drain(), 10)
    finally:
        await writer.stop()
        await pool.close()
    ids = [r["linkedid"] for r in await empty_db.fetch("SELECT linkedid FROM cdr ORDER BY 1")]
    assert ids == ["9.1", "9.3", "9.4"] and writer.rejected == 1


@pytest.mark.parametrize("from_disk", [False, True])
async def test_two_connections_never_let_an_earlier_version_of_a_call_overtake_a_later_one(
    empty_db: asyncpg.Connection, database_url: str, tmp_path: Path, from_disk: bool
) -> None:
    """Two chunks of 50, call 11.0 first in each (talk_seconds 1, then 2), the first one slowed down
    by a trigger: written beside it, the second would commit first and the first overwrite it.

    ``from_disk``: a queue of 10 items, so the chunks are read back from the spool."""
    await migrate(empty_db)
    await empty_db.execute("""
        CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
            IF NEW.linkedid = '11.0' AND NEW.talk_seconds = 1 THEN PERFORM pg_sleep(0.3); END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER slow_down BEFORE INSERT ON cdr FOR EACH ROW EXECUTE FUNCTION slow_down()""")
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=2)
    writer = CdrWriter(pool, spool_dir=tmp_path, batch_size=50, replay_batch=50,
                       max_queue=10 if from_disk else 20_000)
    for version in (1, 2):
        writer.submit(replace(record("11.0"), talk_seconds=version))
        for n in range(49):
            writer.submit(record(f"11.{version}.{n}"))
    writer.start()
    try:
        await asyncio.wait_for(writer.drain(), 30)
        assert writer.written == 100 and (writer.replayed_from_spool >= 90) == from_disk
    finally:
        await writer.stop()
        await pool.close()
    assert await empty_db.fetchval("SELECT talk_seconds FROM cdr WHERE linkedid = '11.0'") == 2
    assert await empty_db.fetchval("SELECT count(*) FROM cdr") == 99
