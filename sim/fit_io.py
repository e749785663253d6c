"""Read the stored call records for ``aiguilleur sim fit`` (the one I/O module of ``sim``).

The query is the reports' (``cdr.reports.fetch_calls_between``): the same inbound calls, as
``cdr.kpi.CallFacts``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import asyncpg

from aiguilleur.database import resolve
from cdr.kpi import CallFacts
from cdr.reports import EARLIEST, LATEST, fetch_calls_between, has_wrapup_column


async def fetch_rows(
    database_url: str | None, state_dir: Path, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[CallFacts]:
    """Every inbound call record in [since, until); an empty list when the table does not exist yet."""
    database = await resolve(database_url, state_dir)
    try:
        conn = await asyncpg.connect(database.url)
        try:
            if await conn.fetchval("SELECT to_regclass('public.cdr')") is None:
                return []
            return await fetch_calls_between(conn, since or EARLIEST, until or LATEST,
                                             wrapup_column=await has_wrapup_column(conn))
        finally:
            await conn.close()
    finally:
        database.close()
