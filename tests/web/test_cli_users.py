"""``aiguilleur users``: the first admin is made from the command line, the password read from stdin."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import asyncpg
import pytest

from tests.conftest import drop_database, recreate_database
from web.passwords import verify_password

pytestmark = pytest.mark.db


@pytest.fixture
def db_url() -> Iterator[str]:
    url = f"postgresql://postgres@127.0.0.1:5432/aiguilleur_cliusers_{os.getpid()}"
    asyncio.run(recreate_database(url))
    yield url
    asyncio.run(drop_database(url))


def users(db_url: str, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGUILLEUR_")}
    env["DATABASE_URL"] = db_url
    return subprocess.run([sys.executable, "-m", "aiguilleur.cli", "users", *args], input=password + "\n",
                          capture_output=True, text=True, env=env, timeout=60, check=False)


async def stored(db_url: str, name: str) -> asyncpg.Record | None:
    conn = await asyncpg.connect(db_url)
    try:
        if not await conn.fetchval("SELECT to_regclass('web_users') IS NOT NULL"):
            return None  # the command stopped before it even migrated
        return await conn.fetchrow("SELECT * FROM web_users WHERE name = $1", name)
    finally:
        await conn.close()


async def test_first_admin_is_created_with_a_hashed_password_read_from_stdin(db_url: str) -> None:
    done = users(db_url, "add", "--role", "admin", "chef", password="une phrase de passe")
    assert done.returncode == 0, done.stderr
    assert "user chef created, role admin" in done.stdout
    row = await stored(db_url, "chef")
    assert row is not None and row["role"] == "admin"
    assert row["password_hash"].startswith("scrypt$") and "une phrase" not in row["password_hash"]
    assert verify_password("une phrase de passe", row["password_hash"])
    again = users(db_url, "add", "--role", "admin", "chef", password="une autre phrase")
    assert again.returncode == 1 and "exists already" in again.stderr
    listing = users(db_url, "list")
    assert "chef" in listing.stdout and "admin" in listing.stdout


async def test_weak_password_missing_line_and_bad_name_are_refused(db_url: str) -> None:
    short = users(db_url, "add", "--role", "admin", "chef", password="court")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    advisor = users(db_url, "add", "--role", "advisor", "alice", password="une phrase de passe")
    assert advisor.returncode == 2 and "--line" in advisor.stderr
    unknown = users(db_url, "add", "--role", "advisor", "--line", "zz-99", "alice", password="une phrase de passe")
    assert unknown.returncode == 2 and "not a line" in unknown.stderr
    supervisor = users(db_url, "add", "--role", "supervisor", "--line", "cma-01", "sophie",
                       password="une phrase de passe")
    assert supervisor.returncode == 2 and "supervision softphone (sup-01, sup-02)" in supervisor.stderr
    bad = users(db_url, "add", "--role", "admin", "Chef Cuisinier", password="une phrase de passe")
    assert bad.returncode == 2
    assert await stored(db_url, "chef") is None and await stored(db_url, "alice") is None
    assert await stored(db_url, "sophie") is None
