"""db tier: a pool on a freshly created, migrated test database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from cdr.migrate import migrate
from tests.conftest import recreate_database


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """Every migration applied; room for a few concurrent writers (claims, bookings)."""
    await recreate_database(database_url)
    created = await asyncpg.create_pool(database_url, min_size=2, max_size=8)
    async with created.acquire() as conn:
        await migrate(conn)
    try:
        yield created
    finally:
        await created.close()
