"""Read the stored call records for ``aiguilleur sim fit`` (the one I/O module of ``sim``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import asyncpg

from aiguilleur.database import resolve
from sim.fit import CdrRow

QUERY = """
SELECT start, outcome, ivr_exit, need, sector, size, departement, queue, wait_seconds, talk_seconds
FROM cdr
WHERE ($1::timestamptz IS NULL OR start >= $1) AND ($2::timestamptz IS NULL OR start < $2)
ORDER BY start
"""


async def fetch_rows(
    database_url: str | None, state_dir: Path, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[CdrRow]:
    """Every ``cdr`` row in [since, until); an empty list when the table does not exist yet."""
    database = await resolve(database_url, state_dir)
    try:
        conn = await asyncpg.connect(database.url)
        try:
            if await conn.fetchval("SELECT to_regclass('public.cdr')") is None:
                return []
            records = await conn.fetch(QUERY, since, until)
        finally:
            await conn.close()
    finally:
        database.close()
    return [
        CdrRow(
            start=r["start"], outcome=r["outcome"], ivr_exit=r["ivr_exit"], need=r["need"], sector=r["sector"],
            size=r["size"], departement=r["departement"], queue=r["queue"], wait_seconds=r["wait_seconds"],
            talk_seconds=r["talk_seconds"],
        )
        for r in records
    ]
