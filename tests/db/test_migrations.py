import asyncpg
import pytest

from cdr.migrate import available, current_version, migrate

pytestmark = pytest.mark.db


async def test_migrations_create_the_cdr_table_from_empty(empty_db: asyncpg.Connection) -> None:
    assert await current_version(empty_db) == 0
    applied = await migrate(empty_db)
    assert applied == [m.version for m in available()]
    columns = {r["column_name"] for r in await empty_db.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'cdr'")}
    assert {"src", "clid", "dst", "channel", "dstchannel", "start", "answer", "end", "duration",
            "billsec", "disposition", "uniqueid", "linkedid", "sector", "queue", "line", "partner",
            "wait_seconds", "talk_seconds", "outcome"} <= columns


async def test_running_migrations_again_is_a_no_op(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    version = await current_version(empty_db)
    assert await migrate(empty_db) == []
    assert await current_version(empty_db) == version


async def columns_of(conn: asyncpg.Connection, table: str) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1", table)
    return {r["column_name"]: r["data_type"] for r in rows}


async def test_queue_log_has_asterisks_realtime_layout(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    columns = await columns_of(empty_db, "queue_log")
    assert {"id", "time", "callid", "queuename", "agent", "event",
            "data1", "data2", "data3", "data4", "data5", "data"} <= set(columns)
    assert columns["time"] == "timestamp with time zone" and columns["id"] == "bigint"
    await empty_db.execute(
        """INSERT INTO queue_log (time, callid, queuename, agent, event, data1, data2, data3)
           VALUES ('2026-11-23 09:00:00+00', '17.1', 'hotline', 'cci-08', 'CONNECT', '3', '17.2', '0')""")
    assert await empty_db.fetchval("SELECT data FROM queue_log") == "3|17.2|0"  # as Asterisk's file writes it


async def test_queue_log_natural_key_refuses_the_same_event_twice(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    insert = """INSERT INTO queue_log (time, callid, queuename, agent, event)
                VALUES ('2026-11-23 09:00:00.5+00', '17.1', 'hotline', 'NONE', 'ENTERQUEUE')"""
    await empty_db.execute(insert)
    with pytest.raises(asyncpg.UniqueViolationError):
        await empty_db.execute(insert)


async def test_cdr_has_the_columns_issue_5_adds(empty_db: asyncpg.Connection) -> None:
    await migrate(empty_db)
    columns = await columns_of(empty_db, "cdr")
    assert {"ring_seconds", "wrapup_seconds", "escalation_step", "abandon_position",
            "callback_requested", "recovered"} <= set(columns)
    assert columns["callback_requested"] == columns["recovered"] == "boolean"


async def test_migrating_from_version_1_adds_the_rest_and_keeps_the_rows(empty_db: asyncpg.Connection) -> None:
    """A database made by the first release: 0001 only, with a call in it."""
    first = available()[0]
    await empty_db.execute(first.sql)
    await empty_db.execute(
        """CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
                                           applied_at timestamptz NOT NULL DEFAULT now());
           INSERT INTO schema_migrations (version, name) VALUES (1, 'cdr');
           INSERT INTO cdr (linkedid, uniqueid, start, "end", duration, billsec, disposition, outcome)
           VALUES ('1.1', '1.1', now(), now(), 0, 0, 'NO ANSWER', 'abandoned_in_ivr')""")
    applied = await migrate(empty_db)
    assert applied == [m.version for m in available()][1:]
    row = await empty_db.fetchrow("SELECT outcome, recovered, callback_requested FROM cdr")
    assert tuple(row) == ("abandoned_in_ivr", False, False)
