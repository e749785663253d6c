"""``aiguilleur rules`` (check, apply, rollback, history) and ``aiguilleur advisor``
(login, logout, pause, unpause, status): the telecom admin's and supervisor's commands.

Rules requests go through PostgreSQL to the running service, which applies them
(``aiguilleur.rules``); advisor actions go straight to Asterisk over AMI, like the
softphone's feature codes.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg

from aiguilleur import rules
from aiguilleur.cli_common import out
from aiguilleur.database import resolve
from cdr.migrate import migrate
from config.loader import load_hotline
from config.models import Hotline
from config.settings import Settings
from queues.advisors import AdvisorDesk, AdvisorError, read_members
from queues.ami import AmiClient, AmiError

T = TypeVar("T")


def _requester(args: argparse.Namespace) -> str:
    return str(args.by or os.environ.get("SUDO_USER") or getpass.getuser())


async def _with_pool(settings: Settings, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    database = await resolve(settings.database_url, settings.state_dir)
    try:
        pool = await asyncpg.create_pool(database.url, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            return await work(pool)
        finally:
            await pool.close()
    finally:
        database.close()


def _print_diff(lines: list[str]) -> None:
    for line in lines or ["(no change)"]:
        out(f"  {line}")


async def _check(pool: asyncpg.Pool, hotline: Hotline) -> int:
    result = await rules.check(pool, hotline)
    running = result.running
    out(f"file version {hotline.version}; running: "
        + (f"version {running.version} (request {running.id}, by {running.requested_by}, "
           f"{running.applied_at:%Y-%m-%d %H:%M:%S %Z})" if running and running.applied_at else "nothing yet"))
    out("diff against what runs:")
    _print_diff(result.diff)
    for problem in result.problems:
        out(f"cannot apply: {problem}")
    return 0 if not result.problems else 1


def _outcome(row: rules.RuleVersionRow) -> int:
    out(f"request {row.id}: {row.status} (version {row.version}, {row.action} by {row.requested_by})")
    if row.result:
        out(f"  {row.result}")
    return 0 if row.status == "applied" else 1


async def _apply(pool: asyncpg.Pool, hotline: Hotline, path: Path, by: str, wait: float) -> int:
    try:
        request_id = await rules.request_apply(pool, hotline, by=by, source=str(path))
    except rules.RulesError as error:
        out(f"refused: {error}")
        return 1
    out(f"request {request_id} recorded; waiting for the service to apply it...")
    return _outcome(await rules.wait_outcome(pool, request_id, wait))


async def _rollback(pool: asyncpg.Pool, by: str, wait: float) -> int:
    try:
        request_id = await rules.request_rollback(pool, by=by)
    except rules.RulesError as error:
        out(f"refused: {error}")
        return 1
    out(f"rollback request {request_id} recorded; waiting for the service...")
    return _outcome(await rules.wait_outcome(pool, request_id, wait))


async def _history(pool: asyncpg.Pool, limit: int) -> int:
    for row in await rules.history(pool, limit):  # kept by hand: one fixed-width line per version, greppable
        when = f"{row.requested_at:%Y-%m-%d %H:%M:%S}"
        out(f"{row.id:>5}  v{row.version:<4} {row.action:<8} {row.status:<8} {when}  {row.requested_by}"
            + (f"  ({row.diff.count(chr(10)) + 1 if row.diff else 0} changes)"))
    return 0


def cmd_rules(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else settings.hotline_file
    action = args.action

    async def work(pool: asyncpg.Pool) -> int:
        if action == "check":
            return await _check(pool, load_hotline(path))
        if action == "apply":
            return await _apply(pool, load_hotline(path), path, _requester(args), args.wait)
        if action == "rollback":
            return await _rollback(pool, _requester(args), args.wait)
        return await _history(pool, args.limit)

    try:
        return asyncio.run(_with_pool(settings, work))
    except TimeoutError as error:
        out(str(error))
        return 1


async def _advisor(settings: Settings, args: argparse.Namespace) -> int:
    active = await _with_pool(settings, rules.active_rules)
    hotline = active.hotline if active else load_hotline(settings.hotline_file)
    ami = AmiClient(settings.ami, on_event=lambda event: None)
    await ami.start()
    try:
        await ami.wait_ready(timeout=settings.ami.action_timeout)
        desk = AdvisorDesk(ami, lambda: hotline)
        if args.action == "status":
            members = await read_members(ami)
            for line, _ in hotline.lines():
                if args.line and line != args.line:
                    continue
                queues = members.penalties.get(line)
                state = "logged out" if not queues else (
                    f"paused ({members.paused[line]})" if line in members.paused else "logged in")
                out(f"{line:<14} {state}" + (f"  {len(queues)} queues" if queues else ""))
            return 0
        if not args.line:
            out("a line is required (e.g. cma-01)")
            return 2
        if args.action == "login":
            await desk.login(args.line)
        elif args.action == "logout":
            await desk.logout(args.line)
        elif args.action == "pause":
            reasons = hotline.advisors.pause_reasons
            reason = reasons.get(args.reason, args.reason) if args.reason else reasons["1"]
            await desk.pause(args.line, reason)
        else:
            await desk.unpause(args.line)
        out(f"{args.line}: {args.action} done")
        return 0
    finally:
        await ami.stop()


def cmd_advisor(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_advisor(settings, args))
    except AdvisorError as error:
        out(f"refused: {error}")
        return 1
    except (AmiError, TimeoutError) as error:
        out(f"Asterisk not reachable over AMI at {settings.ami.host}:{settings.ami.port}: {error}")
        return 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``rules`` and ``advisor`` to ``aiguilleur``'s parser."""
    p = subparsers.add_parser("rules", help="check, apply, roll back the routing rules (versioned in PostgreSQL)")
    p.add_argument("action", choices=["check", "apply", "rollback", "history"])
    p.add_argument("--file", help="hotline YAML (default: the configured one)")
    p.add_argument("--by", help="who asks (recorded); default: your login name")
    p.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the service to apply")
    p.add_argument("--limit", type=int, default=20, help="history: how many versions")
    p.set_defaults(func=cmd_rules)

    p = subparsers.add_parser("advisor", help="log a line in or out, pause or unpause it, show status")
    p.add_argument("action", choices=["login", "logout", "pause", "unpause", "status"])
    p.add_argument("line", nargs="?", help="line id, e.g. cma-01")
    p.add_argument("--reason", help="pause reason: a configured digit (1-9) or a word (default: reason 1)")
    p.set_defaults(func=cmd_advisor)
