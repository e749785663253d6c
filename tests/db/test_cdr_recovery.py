"""Calls the service missed, rebuilt from Asterisk's own files (cdr_custom + queue_log).

The files are what the real sandbox Asterisk 22 wrote during the recorded calls of
``tests/fixtures/ami`` (``record_queue_traces.py``): the recovered records are compared
with what the live correlator made of the same calls' AMI traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
from pathlib import Path

import asyncpg
import pytest

from cdr.correlator import CallRecord, CdrCorrelator, CdrItem
from cdr.migrate import migrate
from cdr.record_sql import write_items
from cdr.recovery import CDR_FILE, QUEUE_LOG_FILE, RecoveryReport, parse_cdr_file, recover, run_recovery
from cdr.writer import CdrWriter
from queues.ami_parse import parse_ami_stream

pytestmark = pytest.mark.db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
CALLS = ("asterisk_records_calls", "queue_abandon_call", "queue_timeout_call")
ESCALATION_AFTER = (0, 30, 90)


def partner_of(line: str) -> str | None:
    return line.rsplit("-", 1)[0]


def asterisk_log_dir(tmp_path: Path, traces: tuple[str, ...] = (*CALLS, "member_changes")) -> Path:
    """An Asterisk log directory holding the files written during the recorded traces."""
    (tmp_path / CDR_FILE).parent.mkdir(parents=True)
    with (tmp_path / CDR_FILE).open("w", encoding="utf-8") as cdr, (tmp_path / QUEUE_LOG_FILE).open("w") as qlog:
        for trace in traces:
            if (FIXTURES / f"{trace}.cdr.json").exists():
                cdr.write((FIXTURES / f"{trace}.cdr.json").read_text(encoding="utf-8"))
            qlog.write((FIXTURES / f"{trace}.queue_log").read_text(encoding="utf-8"))
        cdr.write('{"linkedid": "torn')  # Asterisk killed mid-line
    return tmp_path


def after_the_calls(log_dir: Path) -> dt.datetime:
    cdrs = parse_cdr_file((log_dir / CDR_FILE).read_text(encoding="utf-8").splitlines())
    return max(c.end for c in cdrs) + dt.timedelta(minutes=5)


def live_items(trace: str) -> list[CdrItem]:
    correlator = CdrCorrelator(partner_of=partner_of, escalation_after=ESCALATION_AFTER)
    items: list[CdrItem] = []
    for event in parse_ami_stream((FIXTURES / f"{trace}.raw").read_bytes()):
        items.extend(correlator.feed(event))
    return items


async def recover_now(conn: asyncpg.Connection, log_dir: Path) -> tuple[int, int, int]:
    report = await recover(conn, log_dir, partner_of, escalation_after=ESCALATION_AFTER,
                           now=after_the_calls(log_dir))
    return report.calls_in_files, report.records_recovered, report.queue_log_recovered


async def test_calls_the_service_never_saw_are_rebuilt_like_the_live_follower_would(
    empty_db: asyncpg.Connection, tmp_path: Path
) -> None:
    await migrate(empty_db)
    log_dir = asterisk_log_dir(tmp_path)
    calls, records, rows = await recover_now(empty_db, log_dir)
    assert (calls, records) == (5, 5)
    assert rows == 28  # every line of the four queue_log files (4 QUEUESTART lines included)

    compared = ("linkedid", "src", "clid", "queue", "line", "partner", "outcome", "wait_seconds",
                "ring_seconds", "abandon_position", "escalation_step", "disposition")
    for trace in CALLS:
        for live in (i for i in live_items(trace) if isinstance(i, CallRecord)):
            row = await empty_db.fetchrow("SELECT * FROM cdr WHERE linkedid = $1", live.linkedid)
            assert row is not None and row["recovered"], live.linkedid
            assert {k: row[k] for k in compared} == {k: getattr(live, k) for k in compared}, live.src
            assert abs((row["start"] - live.start).total_seconds()) < 1
            assert abs((row["end"] - live.end).total_seconds()) < 1
            if live.outcome == "answered":
                assert row["dstchannel"] == live.dstchannel
                assert abs(row["talk_seconds"] - (live.talk_seconds or 0)) <= 1
            assert row["ivr_exit"] is None and row["need"] is None  # the IVR's answers are the service's alone

    outcomes = dict(await empty_db.fetch("SELECT src, outcome FROM cdr"))
    assert outcomes == {"0320000021": "answered", "0320000022": "abandoned_in_ivr", "0320000023": "answered",
                        "0320000011": "abandoned_in_queue", "0320000012": "timeout"}


TRANSFERS = ("blind_transfer_call", "attended_transfer_call", "attended_transfer_without_target_call")


async def test_a_transferred_call_is_recovered_as_its_first_answer_with_the_transfer(
    empty_db: asyncpg.Connection, tmp_path: Path
) -> None:
    await migrate(empty_db)
    log_dir = asterisk_log_dir(tmp_path, TRANSFERS)
    calls, records, _rows = await recover_now(empty_db, log_dir)
    assert (calls, records) == (3, 3)
    compared = ("linkedid", "src", "queue", "line", "partner", "outcome", "wait_seconds", "ring_seconds",
                "talk_seconds", "transfer_type", "transfer_target", "transfer_queue", "transfer_line",
                "transfer_partner")
    for trace in TRANSFERS:
        (live,) = (i for i in live_items(trace) if isinstance(i, CallRecord))
        assert live.transfer_type is not None and live.transfer_line is not None, trace
        row = await empty_db.fetchrow("SELECT * FROM cdr WHERE linkedid = $1", live.linkedid)
        assert row is not None and row["recovered"], trace
        assert {k: row[k] for k in compared} == {k: getattr(live, k) for k in compared}, trace
        assert (row["queue"], row["line"]) == ("sector-crafts", "cma-02")  # the first answer, not the second leg


async def test_recovery_twice_inserts_nothing_the_second_time(empty_db: asyncpg.Connection, tmp_path: Path) -> None:
    await migrate(empty_db)
    log_dir = asterisk_log_dir(tmp_path)
    await recover_now(empty_db, log_dir)
    before = await empty_db.fetchval("SELECT count(*) FROM queue_log")
    assert await recover_now(empty_db, log_dir) == (5, 0, 0)
    assert await empty_db.fetchval("SELECT count(*) FROM queue_log") == before
    assert await empty_db.fetchval("SELECT count(*) FROM cdr") == 5


async def test_calls_the_service_did_see_are_left_alone(empty_db: asyncpg.Connection, tmp_path: Path) -> None:
    """The live rows carry microseconds, Asterisk's lines whole seconds: still no duplicate."""
    await migrate(empty_db)
    for trace in (*CALLS, "member_changes"):
        await write_items(empty_db, live_items(trace))
    live_rows = await empty_db.fetchval("SELECT count(*) FROM queue_log")
    _, records, rows = await recover_now(empty_db, asterisk_log_dir(tmp_path))
    assert records == 0
    assert rows == 4  # only app_queue's QUEUESTART lines, which have no AMI event
    assert await empty_db.fetchval("SELECT count(*) FROM queue_log") == live_rows + 4
    assert await empty_db.fetchval("SELECT count(*) FROM cdr WHERE recovered") == 0


async def test_only_calls_ended_before_the_settle_delay_are_recovered(
    empty_db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A call that just ended may still be on its way through the live writer: not yet."""
    await migrate(empty_db)
    log_dir = asterisk_log_dir(tmp_path, ("queue_timeout_call",))
    end = after_the_calls(log_dir) - dt.timedelta(minutes=5)
    report = await recover(empty_db, log_dir, partner_of, now=end + dt.timedelta(seconds=30), settle_seconds=60)
    assert report.records_recovered == 0
    report = await recover(empty_db, log_dir, partner_of, now=end + dt.timedelta(seconds=61), settle_seconds=60)
    assert report.records_recovered == 1


async def test_missing_files_recover_nothing(empty_db: asyncpg.Connection, tmp_path: Path) -> None:
    await migrate(empty_db)
    shutil.rmtree(tmp_path, ignore_errors=True)
    report = await recover(empty_db, tmp_path, partner_of)
    assert (report.calls_in_files, report.records_recovered, report.queue_log_recovered) == (0, 0, 0)


async def test_the_background_task_recovers_once_the_writer_has_replayed_its_spool(
    empty_db: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    await migrate(empty_db)
    log_dir = asterisk_log_dir(tmp_path / "asterisk")
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    writer = CdrWriter(pool, spool_dir=tmp_path / "spool")
    writer.start()
    passes: list[RecoveryReport] = []
    task = asyncio.create_task(run_recovery(
        writer, pool, log_dir, partner_of, interval=0.05, lookback=dt.timedelta(days=36_500),
        on_pass=passes.append))
    try:
        for _ in range(200):
            if len(passes) >= 2:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await writer.stop()
        await pool.close()
    assert [p.records_recovered for p in passes[:2]] == [5, 0]
    assert await empty_db.fetchval("SELECT count(*) FROM cdr WHERE recovered") == 5


async def test_a_wake_recovers_a_call_at_once_rather_than_at_the_next_period(
    empty_db: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    """Asterisk writes a call the service missed after the first pass: the wake (the AMI link back,
    a call we did not see begin hanging up) runs a pass after the settle delay, an hour before the period."""
    await migrate(empty_db)
    log_dir = asterisk_log_dir(tmp_path / "asterisk", ("queue_abandon_call",))
    later = asterisk_log_dir(tmp_path / "later", ("asterisk_records_calls",))
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    writer = CdrWriter(pool, spool_dir=tmp_path / "spool")
    writer.start()
    wake, passed = asyncio.Event(), asyncio.Event()
    passes: list[RecoveryReport] = []

    def on_pass(report: RecoveryReport) -> None:
        passes.append(report)
        passed.set()

    task = asyncio.create_task(run_recovery(
        writer, pool, log_dir, partner_of, interval=3600, lookback=dt.timedelta(days=36_500),
        settle_seconds=0.1, wake=wake, on_pass=on_pass))
    try:
        await asyncio.wait_for(passed.wait(), 10)
        passed.clear()
        assert passes[0].records_recovered == 1
        with (log_dir / CDR_FILE).open("a", encoding="utf-8") as cdr:
            cdr.write("\n" + (later / CDR_FILE).read_text(encoding="utf-8"))
        with (log_dir / QUEUE_LOG_FILE).open("a", encoding="utf-8") as qlog:
            qlog.write((later / QUEUE_LOG_FILE).read_text(encoding="utf-8"))
        await asyncio.sleep(0.5)
        assert len(passes) == 1  # nothing runs before the period unless woken
        wake.set()
        await asyncio.wait_for(passed.wait(), 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await writer.stop()
        await pool.close()
    assert [p.records_recovered for p in passes] == [1, 3]
    assert await empty_db.fetchval("SELECT count(*) FROM cdr WHERE recovered") == 4
