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
