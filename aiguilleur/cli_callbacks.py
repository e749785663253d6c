"""``aiguilleur callbacks list|cancel|retry|outcome``: promised callbacks and J+8 follow-ups.

Wired into ``aiguilleur.cli``.

Straight to PostgreSQL with the core's rules (``queues.callback``): a try being placed
(``dialling``/``connected``) can be neither cancelled nor retried; the running service's
dialer places what ``retry`` makes due (at once if the line is open, else at the next opening).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import get_args

import asyncpg

from aiguilleur.callbacks import CallbackStore
from aiguilleur.cli_common import out as _out
from aiguilleur.database import Database, resolve
from cdr.migrate import migrate
from config.loader import load_hotline
from config.models import FOLLOWUP_OUTCOMES
from config.settings import Settings
from queues.callback import CallbackError, CallbackStatus, Cancel, Retry


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("callbacks", help="promised callbacks: list, cancel, retry")
    sub = p.add_subparsers(dest="callbacks_action", required=True)
    lst = sub.add_parser("list", help="callbacks by due time (all, or --status ...)")
    lst.add_argument("--status", action="append", choices=get_args(CallbackStatus), default=[])
    lst.add_argument("--limit", type=int, default=100)
    lst.add_argument("--kind", choices=("callback", "followup"), help="only callbacks, or only J+8 follow-ups")
    lst.add_argument("--partner", help="only those offered to this partner's queue")
    lst.set_defaults(func=cmd_callbacks_list)
    cancel = sub.add_parser("cancel", help="cancel a pending callback (by the original call's linkedid)")
    cancel.add_argument("linkedid")
    cancel.add_argument("--reason", default="cancelled by an operator")
    cancel.set_defaults(func=cmd_callbacks_cancel)
    retry = sub.add_parser("retry", help="a new round of tries for a failed, cancelled or waiting callback")
    retry.add_argument("linkedid")
    retry.add_argument("--partner", help="reassign: offer it to this partner's queue from now on")
    retry.set_defaults(func=cmd_callbacks_retry)
    outcome = sub.add_parser("outcome", help="record a J+8 follow-up's outcome (needs_more_help: a new callback)")
    outcome.add_argument("linkedid", help="the follow-up's id (fu-<linkedid of the answered call>)")
    outcome.add_argument("code", choices=FOLLOWUP_OUTCOMES)
    outcome.add_argument("--by", default="cli", help="who records it (default %(default)s)")
    outcome.set_defaults(func=cmd_callbacks_outcome)


async def _pool(settings: Settings) -> tuple[asyncpg.Pool, Database]:
    database = await resolve(settings.database_url, settings.state_dir)
    pool = await asyncpg.create_pool(database.url, min_size=1, max_size=2)
    async with pool.acquire() as conn:
        await migrate(conn)
    return pool, database


def _now(settings: Settings) -> dt.datetime:
    """``AIGUILLEUR_NOW`` (with its offset) when set, else the real clock."""
    return dt.datetime.fromisoformat(settings.now) if settings.now else dt.datetime.now(dt.UTC)


def _when(at: dt.datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at is not None else "-"


async def _list(settings: Settings, statuses: list[str], limit: int, kind: str | None = None,
                partner: str | None = None) -> int:
    pool, database = await _pool(settings)
    try:
        rows = await CallbackStore(pool, "cli").listing(statuses, limit, kind=kind, partner=partner)
    finally:
        await pool.close()
        database.close()
    # Kept by hand: tab-separated on a terminal too, so the same listing pastes into cut, awk or a spreadsheet.
    _out("linkedid\tkind\tpartner\tnumber\tstatus\ttries\tnext_try_at\tlast_result\toutcome\tprofile")
    for row in rows:
        c = row.callback
        profile = ",".join(f"{k}={v}" for k, v in c.profile().answers().items()) or "-"
        _out(f"{c.id}\t{c.kind}\t{c.partner or '-'}\t{c.caller_number}\t{c.status}\t{c.tries}\t{_when(c.next_try_at)}\t"
             f"{c.last_result or '-'}\t{c.followup_outcome or c.outcome or '-'}\t{profile}")
    return 0


async def _operate(settings: Settings, linkedid: str, event: Cancel | Retry, partner: str | None = None) -> int:
    hotline = load_hotline(settings.hotline_file)
    now = _now(settings)
    pool, database = await _pool(settings)
    try:
        after = await CallbackStore(pool, "cli").operate(linkedid, event, hotline, now, partner=partner)
    except CallbackError as error:
        sys.stderr.write(f"{error} ({error.code})\n")
        return 1
    finally:
        await pool.close()
        database.close()
    to = f", to partner {after.partner}" if after.partner else ""
    _out(f"callback {after.id}: {after.status}, next try {_when(after.next_try_at)}{to}")
    return 0


async def _outcome(settings: Settings, linkedid: str, code: str, by: str) -> int:
    hotline = load_hotline(settings.hotline_file)
    pool, database = await _pool(settings)
    try:
        after, made = await CallbackStore(pool, "cli").record_outcome(linkedid, code, by, hotline, _now(settings))
    except CallbackError as error:
        sys.stderr.write(f"{error} ({error.code})\n")
        return 1
    finally:
        await pool.close()
        database.close()
    _out(f"follow-up {after.id}: {code}" + (f"; new callback request {made}" if made else ""))
    return 0


def cmd_callbacks_list(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_list(settings, args.status, args.limit, args.kind, args.partner))


def cmd_callbacks_cancel(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_operate(settings, args.linkedid, Cancel(args.reason)))


def cmd_callbacks_retry(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_operate(settings, args.linkedid, Retry(_now(settings)), args.partner))


def cmd_callbacks_outcome(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_outcome(settings, args.linkedid, args.code, args.by))
