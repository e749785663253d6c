"""Issue 17 §2: a service that fails to start half-way leaves nothing running; one that starts stops it all.

The real PostgreSQL, no Asterisk: the AMI link keeps retrying a port where nothing listens
(a task that must not survive), and a later step is made to fail by a port the test holds.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from aiguilleur.service import start_service
from config.models import Hotline
from config.settings import AmiSettings, FastAgiSettings, HttpSettings, Settings
from sandbox.ports import free_tcp_port
from tests.conftest import recreate_database

pytestmark = pytest.mark.db


@contextmanager
def held_port() -> Iterator[int]:
    """A loopback TCP port another socket listens on, for as long as the block runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def service_settings(database_url: str, state_dir: Path, *, fastagi_port: int, http_port: int) -> Settings:
    # sslmode=disable: these services stop a moment after they start, maybe while the rules engine
    # connects its listener; asyncpg (0.32) cancelled during its SSL negotiation (sslmode "prefer")
    # leaves a future whose ConnectionError nobody retrieves (cf. MagicStack/asyncpg#1211), which
    # this suite reports as an unhandled loop exception. Not what these tests are about.
    return Settings(database_url=f"{database_url}?sslmode=disable", state_dir=state_dir,
                    ami=AmiSettings(port=free_tcp_port()),  # nothing listens: the link retries in a task
                    fastagi=FastAgiSettings(port=fastagi_port), http=HttpSettings(port=http_port))


def running_tasks(before: set[asyncio.Task[object]]) -> list[str]:
    """The tasks started since ``before`` that still run, by name."""
    return sorted(t.get_name() for t in asyncio.all_tasks() - before if not t.done())


async def connections_to(database_url: str) -> int:
    """Sessions still open on the test database (the pool's, the rules engine's listener), after a moment
    for a closed one's backend to exit."""
    server, _, name = database_url.rpartition("/")
    conn = await asyncpg.connect(f"{server}/postgres")
    try:
        for _ in range(50):
            count: int = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name)
            if count == 0:
                break
            await asyncio.sleep(0.1)
        return count
    finally:
        await conn.close()


def bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def test_a_busy_fastagi_port_fails_the_start_and_stops_what_was_started(
    database_url: str, hotline: Hotline, tmp_path: Path
) -> None:
    """The pool, the writer, the AMI link, the rules engine and the other background tasks were
    started before FastAGI binds: all of them are stopped again, and the error is the bind's."""
    await recreate_database(database_url)
    (tmp_path / "asterisk_log").mkdir()  # recovery runs too
    http_port = free_tcp_port()
    before = asyncio.all_tasks()
    with held_port() as fastagi_port:
        settings = service_settings(database_url, tmp_path, fastagi_port=fastagi_port, http_port=http_port)
        with pytest.raises(OSError):
            await start_service(settings, hotline, asterisk_log_dir=tmp_path / "asterisk_log")

        assert running_tasks(before) == []
        assert await connections_to(database_url) == 0
    assert bindable(http_port)  # the web never started


async def test_a_busy_http_port_leaves_the_telephony_running_and_no_web_task_behind(
    database_url: str, hotline: Hotline, tmp_path: Path
) -> None:
    """Callers matter more than the pages: the service starts without its web, whose background
    tasks (the live feed) are stopped with it; stop() then ends everything else."""
    await recreate_database(database_url)
    fastagi_port = free_tcp_port()
    before = asyncio.all_tasks()
    with held_port() as http_port:
        service = await start_service(
            service_settings(database_url, tmp_path, fastagi_port=fastagi_port, http_port=http_port), hotline)
        try:
            assert service.web is None
            assert not bindable(fastagi_port)  # FastAGI listens: calls are taken
            started = running_tasks(before)
            assert "rules-engine" in started and "ami-link" in started
            assert not [name for name in started if name.startswith("web-")]
        finally:
            await service.stop()

    assert running_tasks(before) == []
    assert await connections_to(database_url) == 0
    assert bindable(fastagi_port)
