"""PostgreSQL access for the web layer: users, sessions, memo, call search, caller history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg

from web.screen import EarlierCall, MemoSection


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: str
    line: str | None
    password_hash: str
    disabled: bool


@dataclass(frozen=True, slots=True)
class Session:
    user_id: int
    name: str
    role: str
    line: str | None
    csrf: str
    expires_at: dt.datetime
    by_cookie: bool = True


class UserExists(ValueError):
    code = "user_exists"


def _user(row: asyncpg.Record) -> User:
    return User(row["id"], row["name"], row["role"], row["line"], row["password_hash"], row["disabled"])


async def add_user(pool: asyncpg.Pool, name: str, role: str, line: str | None, password_hash: str) -> User:
    try:
        row = await pool.fetchrow(
            """INSERT INTO web_users (name, role, line, password_hash) VALUES ($1, $2, $3, $4)
               RETURNING id, name, role, line, password_hash, disabled""",
            name, role, line, password_hash,
        )
    except asyncpg.UniqueViolationError:
        raise UserExists(f"a user named {name!r} exists already") from None
    assert row is not None
    return _user(row)


async def set_password(pool: asyncpg.Pool, name: str, password_hash: str) -> bool:
    done: str = await pool.execute("UPDATE web_users SET password_hash = $2 WHERE name = $1", name, password_hash)
    if done.endswith(" 0"):
        return False
    await pool.execute("DELETE FROM web_sessions s USING web_users u WHERE s.user_id = u.id AND u.name = $1", name)
    return True


async def user_by_name(pool: asyncpg.Pool, name: str) -> User | None:
    row = await pool.fetchrow(
        "SELECT id, name, role, line, password_hash, disabled FROM web_users WHERE name = $1", name)
    return _user(row) if row else None


async def list_users(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT name, role, line, disabled, created_at FROM web_users ORDER BY name")
    return [{"name": r["name"], "role": r["role"], "line": r["line"], "disabled": r["disabled"],
             "created_at": r["created_at"].isoformat()} for r in rows]


async def create_session(
    pool: asyncpg.Pool, user_id: int, digest: bytes, csrf: str, expires_at: dt.datetime
) -> None:
    await pool.execute("DELETE FROM web_sessions WHERE expires_at < now()")
    await pool.execute(
        "INSERT INTO web_sessions (token_sha256, user_id, csrf, expires_at) VALUES ($1, $2, $3, $4)",
        digest, user_id, csrf, expires_at,
    )


async def session_by_digest(pool: asyncpg.Pool, digest: bytes) -> Session | None:
    row = await pool.fetchrow(
        """SELECT u.id, u.name, u.role, u.line, s.csrf, s.expires_at
           FROM web_sessions s JOIN web_users u ON u.id = s.user_id
           WHERE s.token_sha256 = $1 AND s.expires_at > now() AND NOT u.disabled""",
        digest,
    )
    if row is None:
        return None
    return Session(row["id"], row["name"], row["role"], row["line"], row["csrf"], row["expires_at"])


async def delete_session(pool: asyncpg.Pool, digest: bytes) -> None:
    await pool.execute("DELETE FROM web_sessions WHERE token_sha256 = $1", digest)


# --- memo ---------------------------------------------------------------------------
def _memo(row: asyncpg.Record) -> MemoSection:
    return MemoSection(row["id"], row["title"], row["body"], tuple(row["needs"]), tuple(row["sectors"]),
                       row["updated_by"], row["updated_at"].isoformat())


_MEMO_COLUMNS = "id, title, body, needs, sectors, updated_by, updated_at"


async def list_memo(pool: asyncpg.Pool) -> list[MemoSection]:
    return [_memo(r) for r in await pool.fetch(f"SELECT {_MEMO_COLUMNS} FROM memo_sections ORDER BY id")]


async def add_memo(
    pool: asyncpg.Pool, title: str, body: str, needs: list[str], sectors: list[str], by: str
) -> MemoSection:
    row = await pool.fetchrow(
        f"""INSERT INTO memo_sections (title, body, needs, sectors, updated_by) VALUES ($1, $2, $3, $4, $5)
            RETURNING {_MEMO_COLUMNS}""",
        title, body, needs, sectors, by,
    )
    assert row is not None
    return _memo(row)


async def update_memo(
    pool: asyncpg.Pool, section_id: int, title: str, body: str, needs: list[str], sectors: list[str], by: str
) -> MemoSection | None:
    row = await pool.fetchrow(
        f"""UPDATE memo_sections SET title = $2, body = $3, needs = $4, sectors = $5, updated_by = $6,
                   updated_at = now() WHERE id = $1 RETURNING {_MEMO_COLUMNS}""",
        section_id, title, body, needs, sectors, by,
    )
    return _memo(row) if row else None


async def delete_memo(pool: asyncpg.Pool, section_id: int) -> bool:
    done: str = await pool.execute("DELETE FROM memo_sections WHERE id = $1", section_id)
    return not done.endswith(" 0")


# --- calls ------------------------------------------------------------------------
CDR_COLUMNS = ("linkedid", "start", "src", "clid", "need", "sector", "size", "departement", "ivr_exit", "queue",
               "line", "partner", "wait_seconds", "talk_seconds", "outcome", "degraded", "wrapup_code",
               "wrapup_notes", "wrapup_by")


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.datetime) else value


async def search_cdr(
    pool: asyncpg.Pool, start: dt.datetime, end: dt.datetime, *, number: str | None = None,
    outcome: str | None = None, partner: str | None = None, queue: str | None = None, limit: int = 100,
) -> list[dict[str, object]]:
    rows = await pool.fetch(
        f"""SELECT {", ".join(CDR_COLUMNS)} FROM cdr
            WHERE start >= $1 AND start < $2
              AND ($3::text IS NULL OR src = $3) AND ($4::text IS NULL OR outcome = $4)
              AND ($5::text IS NULL OR partner = $5) AND ($6::text IS NULL OR queue = $6)
            ORDER BY start DESC, linkedid LIMIT $7""",
        start, end, number, outcome, partner, queue, limit,
    )
    return [{k: _json_value(r[k]) for k in CDR_COLUMNS} for r in rows]


async def earlier_calls(pool: asyncpg.Pool, number: str, exclude_linkedid: str, limit: int = 10) -> list[EarlierCall]:
    if not number:
        return []
    rows = await pool.fetch(
        """SELECT start, outcome, partner, line, need, sector, talk_seconds FROM cdr
           WHERE src = $1 AND linkedid <> $2 ORDER BY start DESC LIMIT $3""",
        number, exclude_linkedid, limit,
    )
    return [EarlierCall(r["start"].isoformat(), r["outcome"], r["partner"], r["line"], r["need"], r["sector"],
                        r["talk_seconds"]) for r in rows]


async def rule_history(pool: asyncpg.Pool, limit: int = 50) -> list[dict[str, object]]:
    """Rows of ``rule_versions`` (migration 0004), newest first; empty when the table is absent."""
    if not await pool.fetchval("SELECT to_regclass('rule_versions') IS NOT NULL"):
        return []
    rows = await pool.fetch(
        """SELECT id, version, action, requested_by, requested_at, source, diff, status, applied_at, result
           FROM rule_versions ORDER BY id DESC LIMIT $1""", limit)
    return [{k: _json_value(v) for k, v in dict(r).items()} for r in rows]


# --- failed logins (migration 0011), for the admin ------------------------------------------------
LOGIN_FAILURES_KEPT_DAYS = 90


async def record_login_failure(
    pool: asyncpg.Pool, *, at: dt.datetime, name: str, user_id: int | None, address: str, reason: str,
    client: str, user_agent: str,
) -> None:
    """One checked and refused login; rows older than ``LOGIN_FAILURES_KEPT_DAYS`` go at the same time."""
    def text(value: str, limit: int) -> str:  # typed by anyone: PostgreSQL refuses NUL in text
        return value[:limit].replace("\x00", "\ufffd")

    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO login_failures (at, name, user_id, address, reason, client, user_agent)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            at, text(name, 64), user_id, text(address, 64), reason, client, text(user_agent, 200))
        await conn.execute("DELETE FROM login_failures WHERE at < $1",
                           at - dt.timedelta(days=LOGIN_FAILURES_KEPT_DAYS))


@dataclass(frozen=True, slots=True)
class LoginFailures:
    """Failed logins since a time: the latest rows, and counts per name and per address."""

    rows: list[dict[str, Any]]
    by_name: list[dict[str, Any]]
    by_address: list[dict[str, Any]]


async def login_failures(
    pool: asyncpg.Pool, since: dt.datetime, *, name: str | None = None, address: str | None = None,
    limit: int = 100,
) -> LoginFailures:
    """Newest first; ``by_name`` and ``by_address``: most failures first (with distinct addresses or names)."""
    where = "at >= $1 AND ($2::text IS NULL OR name = $2) AND ($3::text IS NULL OR address = $3)"
    rows = await pool.fetch(
        f"""SELECT at, name, user_id IS NOT NULL AS account_exists, address, reason, client, user_agent
            FROM login_failures WHERE {where} ORDER BY at DESC, id DESC LIMIT $4""",
        since, name, address, limit)
    by_name = await pool.fetch(
        f"""SELECT name, bool_or(user_id IS NOT NULL) AS account_exists, count(*) AS failures,
                   count(DISTINCT address) AS addresses, max(at) AS last
            FROM login_failures WHERE {where} GROUP BY name ORDER BY failures DESC, name LIMIT $4""",
        since, name, address, limit)
    by_address = await pool.fetch(
        f"""SELECT address, count(*) AS failures, count(DISTINCT name) AS names, max(at) AS last
            FROM login_failures WHERE {where} GROUP BY address ORDER BY failures DESC, address LIMIT $4""",
        since, name, address, limit)
    return LoginFailures([dict(r) for r in rows], [dict(r) for r in by_name], [dict(r) for r in by_address])


async def save_wrapup(pool: asyncpg.Pool, linkedid: str, code: str, notes: str, by: str, at: dt.datetime) -> bool:
    """The advisor's wrap-up on the call's record; False while the CDR writer has not written it yet."""
    done = await pool.fetchval(
        """UPDATE cdr SET wrapup_code = $2, wrapup_notes = $3, wrapup_by = $4, wrapup_done_at = $5
           WHERE linkedid = $1 RETURNING linkedid""", linkedid, code, notes, by, at)
    return done is not None
