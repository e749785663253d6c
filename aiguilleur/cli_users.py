"""``aiguilleur users``: web accounts (admin, supervisor, advisor). Wired into ``aiguilleur.cli``.

The password is read from the terminal without echo (twice), or from one line of
standard input when it is not a terminal (``--password-stdin`` style): never from
the command line, never a default.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys

import asyncpg

from aiguilleur.cli_common import out as _out
from aiguilleur.database import Database, resolve
from cdr.migrate import migrate
from config.loader import load_hotline
from config.settings import Settings
from web import store
from web.passwords import WeakPassword, check_strength, hash_password
from web.roles import ROLES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("users", help="web accounts: add, passwd, list")
    sub = p.add_subparsers(dest="users_action", required=True)
    add = sub.add_parser("add", help="create a web account (password from a prompt or stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--line", default=None, help="an advisor's partner line, e.g. cma-01")
    add.set_defaults(func=cmd_users_add)
    passwd = sub.add_parser("passwd", help="set a new password (ends the user's sessions)")
    passwd.add_argument("name")
    passwd.set_defaults(func=cmd_users_passwd)
    lst = sub.add_parser("list", help="every account and its role")
    lst.set_defaults(func=cmd_users_list)


def read_password() -> str:
    """From the terminal (asked twice, no echo), else one line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise WeakPassword("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def _with_pool(settings: Settings) -> tuple[asyncpg.Pool, Database]:
    database = await resolve(settings.database_url, settings.state_dir)
    pool = await asyncpg.create_pool(database.url, min_size=1, max_size=2)
    async with pool.acquire() as conn:
        await migrate(conn)
    return pool, database


async def _add(settings: Settings, name: str, role: str, line: str | None, password: str) -> int:
    pool, database = await _with_pool(settings)
    try:
        password_hash = await asyncio.to_thread(hash_password, password)
        user = await store.add_user(pool, name, role, line, password_hash)
    finally:
        await pool.close()
        database.close()
    _out(f"user {user.name} created, role {user.role}" + (f", line {user.line}" if user.line else ""))
    return 0


def _check_name(name: str) -> str | None:
    if not re.fullmatch(r"[a-z][a-z0-9._-]{1,31}", name):
        return "a name is 2-32 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter"
    return None


def cmd_users_add(settings: Settings, args: argparse.Namespace) -> int:
    problem = _check_name(args.name)
    if problem:
        sys.stderr.write(f"{problem}\n")
        return 2
    if args.role == "advisor" and not args.line:
        sys.stderr.write("an advisor needs --line (their partner line, e.g. cma-01)\n")
        return 2
    if args.line is not None:
        hotline = load_hotline(settings.hotline_file)
        known = [line for line, _ in hotline.lines()]
        if args.line not in known:
            sys.stderr.write(f"--line {args.line!r}: not a line of the hotline (e.g. {known[0]})\n")
            return 2
    try:
        password = read_password()
        check_strength(password)
    except WeakPassword as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    try:
        return asyncio.run(_add(settings, args.name, args.role, args.line, password))
    except store.UserExists as exc:
        sys.stderr.write(f"{exc}\n")
        return 1


async def _passwd(settings: Settings, name: str, password: str) -> int:
    pool, database = await _with_pool(settings)
    try:
        done = await store.set_password(pool, name, await asyncio.to_thread(hash_password, password))
    finally:
        await pool.close()
        database.close()
    if not done:
        sys.stderr.write(f"no user named {name!r}\n")
        return 1
    _out(f"password of {name} changed; their sessions are ended")
    return 0


def cmd_users_passwd(settings: Settings, args: argparse.Namespace) -> int:
    try:
        password = read_password()
        check_strength(password)
    except WeakPassword as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    return asyncio.run(_passwd(settings, args.name, password))


async def _list(settings: Settings) -> int:
    pool, database = await _with_pool(settings)
    try:
        users = await store.list_users(pool)
    finally:
        await pool.close()
        database.close()
    for user in users:
        _out(f"{user['name']:20} {user['role']:10} {user['line'] or '':8} {'disabled' if user['disabled'] else ''}")
    _out(f"({len(users)} user(s))")
    return 0


def cmd_users_list(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_list(settings))
