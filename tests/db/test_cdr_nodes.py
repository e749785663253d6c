"""Issue 13: records of several Asterisk nodes, keyed (node, linkedid) as a linkedid is unique per node only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from cdr.correlator import CdrItem
from cdr.migrate import migrate
from cdr.queue_log import QueueLogEntry
from cdr.record_sql import write_items, write_records
from cdr.recovery import recover
from tests.db.test_cdr_recovery import (
    CALLS,
    ESCALATION_AFTER,
    after_the_calls,
    asterisk_log_dir,
    live_items,
    partner_of,
)
from tests.db.test_cdr_writer import entry, record

pytestmark = pytest.mark.db


async def test_the_same_linkedid_on_two_nodes_is_two_calls_and_each_stays_idempotent(
    empty_db: asyncpg.Connection,
) -> None:
    await migrate(empty_db)
    on_a, on_b = record("1733.7"), replace(record("1733.7", outcome="abandoned_in_queue"), node="b")
    await write_records(empty_db, [on_a, on_b])  # one batch: neither replaces the other
    await write_records(empty_db, [on_b, on_a])  # replayed: still two
    rows = await empty_db.fetch("SELECT node, outcome FROM cdr WHERE linkedid = '1733.7' ORDER BY node")
    assert [tuple(r) for r in rows] == [("a", "answered"), ("b", "abandoned_in_queue")]


async def test_queue_log_rows_of_two_nodes_with_the_same_callid_are_both_kept(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    rows: list[CdrItem] = [entry("1733.7"), replace(entry("1733.7"), node="b")]
    await write_items(empty_db, rows)
    await write_items(empty_db, rows)
    assert await empty_db.fetchval("SELECT count(*) FROM queue_log") == 2


async def test_rows_written_before_the_migration_belong_to_the_default_node(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    assert await empty_db.fetchval("SELECT column_default FROM information_schema.columns "
                                   "WHERE table_name = 'cdr' AND column_name = 'node'") == "'a'::text"
    await empty_db.execute("INSERT INTO queue_log (time, callid, queuename, agent, event) "
                           "VALUES (now(), '1.1', 'q', 'NONE', 'ENTERQUEUE')")
    assert await empty_db.fetchval("SELECT node FROM queue_log") == "a"


async def test_recovery_of_node_b_files_does_not_take_node_a_records_for_its_own(
    empty_db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Node A's live follower wrote these calls; the same files read as node B's are B's calls: recovered."""
    await migrate(empty_db)
    for trace in CALLS:
        await write_items(empty_db, live_items(trace))
    log_dir = asterisk_log_dir(tmp_path, CALLS)
    report_a = await recover(empty_db, log_dir, partner_of, escalation_after=ESCALATION_AFTER,
                             now=after_the_calls(log_dir), node="a")
    assert report_a.records_recovered == 0
    report_b = await recover(empty_db, log_dir, partner_of, escalation_after=ESCALATION_AFTER,
                             now=after_the_calls(log_dir), node="b")
    assert report_b.records_recovered == report_b.calls_in_files == report_a.calls_in_files > 0
    assert await empty_db.fetchval("SELECT count(*) FROM cdr WHERE node = 'b' AND recovered") == report_b.calls_in_files
    assert await empty_db.fetchval("SELECT count(*) FROM queue_log WHERE node = 'b'") == report_b.queue_log_recovered
    again = await recover(empty_db, log_dir, partner_of, escalation_after=ESCALATION_AFTER,
                          now=after_the_calls(log_dir), node="b")
    assert (again.records_recovered, again.queue_log_recovered) == (0, 0)
    assert not [r for r in live_items(CALLS[0]) if isinstance(r, QueueLogEntry) and r.node != "a"]
