"""Shared fixtures: a clean environment, the default hotline, the real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog

from config.loader import load_hotline
from config.models import Hotline
from config.settings import REPO_ROOT

TEST_DATABASE = "aiguilleur_test"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment: a developer's AIGUILLEUR_* must not change a test."""
    for name in list(os.environ):
        if name.startswith("AIGUILLEUR_") and name != "AIGUILLEUR_CACHE":
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def fail_on_unhandled_loop_exception(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a test when an event loop reports an exception nobody handled (as asyncpg's test base does).

    "Task exception was never retrieved", "Exception in callback ...": asyncio only logs
    them, so a task that died in the background would otherwise pass unseen. Caught at the
    loops' default handler (every loop a test runs, ``asyncio.run`` included); a loop given
    its own handler (the code under test chose to handle them) is left alone. Reported
    still, then the test fails at teardown.
    """
    unhandled: list[dict[str, Any]] = []
    default = asyncio.BaseEventLoop.default_exception_handler

    def record(loop: asyncio.BaseEventLoop, context: dict[str, Any]) -> None:
        if not _cpython_311_cancelled_connection_callback(context):
            unhandled.append(context)
        default(loop, context)

    monkeypatch.setattr(asyncio.BaseEventLoop, "default_exception_handler", record)
    yield
    if unhandled:
        pytest.fail("unhandled exception in the event loop: " + "; ".join(
            f"{c.get('message')}: {c.get('exception')!r}" for c in unhandled), pytrace=False)


def _cpython_311_cancelled_connection_callback(context: dict[str, Any]) -> bool:
    """Python 3.11's ``asyncio.start_server`` reports a cancelled connection handler as an error.

    Its done-callback (``StreamReaderProtocol.connection_made.<locals>.callback``) calls
    ``task.exception()``, which raises on a cancelled task; 3.12 checks ``task.cancelled()``
    first. Cancelling sessions is how the FastAGI server stops (``ivr/fastagi.py``): noise, not
    a lost exception (the sockets are closed by the server, its tests check it)."""
    return (sys.version_info < (3, 12) and isinstance(context.get("exception"), asyncio.CancelledError)
            and "StreamReaderProtocol.connection_made" in str(context.get("message")))


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture(scope="session")
def hotline() -> Hotline:
    return load_hotline(REPO_ROOT / "config" / "hotline.yaml")


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="session")
def database_url() -> str:
    """The real PostgreSQL: $AIGUILLEUR_TEST_DATABASE_URL, else aiguilleur_test on the local server."""
    return os.environ.get("AIGUILLEUR_TEST_DATABASE_URL") or f"postgresql://postgres@127.0.0.1:5432/{TEST_DATABASE}"


async def recreate_database(url: str) -> None:
    server, _, name = url.rpartition("/")
    conn = await asyncpg.connect(f"{server}/postgres")
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(url: str) -> None:
    server, _, name = url.rpartition("/")
    conn = await asyncpg.connect(f"{server}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def empty_db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a freshly created, empty test database."""
    await recreate_database(database_url)
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()
