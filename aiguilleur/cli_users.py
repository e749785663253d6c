"""``aiguilleur users``: web accounts (admin, supervisor, advisor). Wired into ``aiguilleur.cli``.

The password is read from the terminal without echo (twice), or from one line of
standard input when it is not a terminal (``--password-stdin`` style): never from
the command line, never a default.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
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
    p = subparsers.add_parser("users", help="web accounts: add, passwd, list; failed logins")
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
    failures = sub.add_parser("failures", help="failed web logins: who was tried, from where, when",
                              description="Failed web logins of the last hours, newest first, and the counts "
                                          "per name and per client address (table login_failures).")
    failures.add_argument("--hours", type=_hours, default=24, help="the last N hours (default %(default)s)")
    failures.add_argument("--name", default=None, help="only this name")
    failures.add_argument("--address", default=None, help="only this client address")
    failures.add_argument("--limit", type=int, default=50, help="rows per table (default %(default)s)")
    failures.set_defaults(func=cmd_users_failures)


def _hours(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 24 * 90:
        raise argparse.ArgumentTypeError(f"a whole number of hours from 1 to {24 * 90} (kept 90 days): {text!r}")
    return int(text)


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
        softphones = hotline.advisors.supervisor_lines
        if args.role == "advisor" and args.line not in known:
            sys.stderr.write(f"--line {args.line!r}: not a line of the hotline (e.g. {known[0]})\n")
            return 2
        if args.role != "advisor" and args.line not in softphones:
            sys.stderr.write(f"--line {args.line!r}: a supervisor's line is a supervision softphone "
                             f"({', '.join(softphones)})\n")
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
    for user in users:  # kept by hand: four short fixed-width columns, rich would add nothing
        _out(f"{user['name']:20} {user['role']:10} {user['line'] or '':8} {'disabled' if user['disabled'] else ''}")
    _out(f"({len(users)} user(s))")
    return 0


def cmd_users_list(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_list(settings))


def _shown(text: str) -> str:
    # Typed by anyone: shown as data, never as terminal control.
    return text.encode("unicode_escape").decode("ascii")


async def _failures(settings: Settings, hours: int, name: str | None, address: str | None, limit: int) -> int:
    pool, database = await _with_pool(settings)
    try:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
        found = await store.login_failures(pool, since, name=name, address=address, limit=limit)
    finally:
        await pool.close()
        database.close()
    # Kept by hand: three short lists of sentences ("3 failure(s) from 2 address(es)"), not a grid of figures.
    _out(f"Failed logins in the last {hours} h")
    _out("per name:")
    for r in found.by_name:
        account = "account" if r["account_exists"] else "no such account"
        _out(f"  {_shown(r['name']):24} {r['failures']:5} failure(s) from {r['addresses']} address(es), "
             f"{account}, last {r['last'].isoformat(timespec='seconds')}")
    _out("per address:")
    for r in found.by_address:
        _out(f"  {_shown(r['address']):24} {r['failures']:5} failure(s) on {r['names']} name(s), "
             f"last {r['last'].isoformat(timespec='seconds')}")
    _out("latest:")
    for r in found.rows:
        _out(f"  {r['at'].isoformat(timespec='seconds')}  {_shown(r['name']):24} {_shown(r['address']):16} "
             f"{r['reason']:13} {r['client']:5} {_shown(r['user_agent'])[:60]}")
    _out(f"({len(found.rows)} failure(s) listed)")
    return 0


def cmd_users_failures(settings: Settings, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 500:
        sys.stderr.write("--limit: from 1 to 500\n")
        return 2
    return asyncio.run(_failures(settings, args.hours, args.name, args.address, args.limit))
