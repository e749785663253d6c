"""Transferred and ring-no-answer calls recorded from the real Asterisk 22, stored in the real PostgreSQL.

The traces are tests/fixtures/ami/{ring_no_answer,blind_transfer,attended_transfer}_call.*
(``record_agent_traces.py``): the correlator's items go through the writer's COPY +
upsert path into the migrated schema (0006 adds the transfer columns).
"""

from pathlib import Path

import asyncpg
import pytest

from cdr.correlator import CdrCorrelator, CdrItem
from cdr.migrate import migrate
from cdr.record_sql import write_items
from queues.ami_parse import parse_ami_stream

pytestmark = pytest.mark.db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
TRANSFER_COLUMNS = ("transfer_type", "transfer_target", "transfer_queue", "transfer_line", "transfer_partner")


def items_of(trace: str) -> list[CdrItem]:
    correlator = CdrCorrelator(partner_of=lambda line: line.rsplit("-", 1)[0], escalation_after=(0, 30, 90))
    items: list[CdrItem] = []
    for event in parse_ami_stream((FIXTURES / f"{trace}.raw").read_bytes()):
        items.extend(correlator.feed(event))
    return items


def asterisk_lines(trace: str) -> list[str]:
    lines = (FIXTURES / f"{trace}.queue_log").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if "|QUEUESTART|" not in line]


async def stored_queue_log(conn: asyncpg.Connection) -> list[str]:
    """The table's rows as Asterisk's file lines (whole seconds), in time order."""
    rows = await conn.fetch(
        """SELECT floor(extract(epoch FROM time))::bigint AS stamp, callid, queuename, agent, event, data
           FROM queue_log ORDER BY time, id""")
    return [f"{r['stamp']}|{r['callid']}|{r['queuename']}|{r['agent']}|{r['event']}|{r['data']}" for r in rows]


async def test_transfer_columns_exist_and_are_empty_for_a_call_not_transferred(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    await write_items(empty_db, items_of("ring_no_answer_call"))
    row = await empty_db.fetchrow("SELECT * FROM cdr")
    assert (row["line"], row["partner"], row["wait_seconds"], row["ring_seconds"]) == ("cma-01", "cma", 7, 0)
    assert all(row[c] is None for c in TRANSFER_COLUMNS)
    assert await stored_queue_log(empty_db) == asterisk_lines("ring_no_answer_call")


@pytest.mark.parametrize(("trace", "kind"), [("blind_transfer_call", "blind"), ("attended_transfer_call", "attended")])
async def test_transferred_call_is_one_row_saying_who_answered_and_where_the_caller_went(
    empty_db: asyncpg.Connection, trace: str, kind: str
) -> None:
    await migrate(empty_db)
    items = items_of(trace)
    await write_items(empty_db, items)
    await write_items(empty_db, items)  # a replay (spool after a crash) duplicates nothing
    rows = await empty_db.fetch("SELECT * FROM cdr")
    assert len(rows) == 1
    row = rows[0]
    assert (row["outcome"], row["queue"], row["line"], row["partner"]) == ("answered", "sector-crafts", "cma-02", "cma")
    assert tuple(row[c] for c in TRANSFER_COLUMNS) == (
        kind, "701@aiguilleur-transfer", "sector-commerce", "cci-01", "cci")
    assert await stored_queue_log(empty_db) == asterisk_lines(trace)
