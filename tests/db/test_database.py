from pathlib import Path

import asyncpg
import pytest

from aiguilleur.database import resolve

pytestmark = pytest.mark.db


async def test_database_url_is_honoured_when_set(database_url: str, tmp_path: Path) -> None:
    database = await resolve(database_url, tmp_path)
    assert database.url == database_url and database.private_server is None


async def test_without_a_reachable_server_a_private_one_is_started(tmp_path: Path) -> None:
    """A machine with no PostgreSQL: the embedded default starts its own, and stops it."""
    database = await resolve(None, tmp_path, local_server="postgresql://postgres@127.0.0.1:1")
    try:
        assert database.private_server is not None
        conn = await asyncpg.connect(database.url)
        try:
            assert await conn.fetchval("SELECT current_database()") == "aiguilleur"
        finally:
            await conn.close()
    finally:
        database.close()
    assert database.private_server is None
