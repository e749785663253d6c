"""Shared fixtures: a clean environment, the default hotline, the real PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

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
