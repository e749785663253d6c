"""Rule versions in PostgreSQL, and their application to the running Asterisk.

The admin's path (CLI ``aiguilleur rules``, web rule editor) records a *pending*
version (who, when, the whole validated document, the diff) and notifies the
service; the service (``RulesEngine``) is the only one that applies: it rewrites
``queues.conf``/``queuerules.conf``/``extensions.conf`` where Asterisk reads them,
reloads queue parameters and rules (never members: waiting callers keep their
place) and the dialplan, re-ranks the logged-in lines over AMI, then swaps the
hotline the IVR reads for the next call. The newest ``applied`` row is what runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from aiguilleur.confgen import render
from cdr.writer import TRANSIENT_ERRORS
from config.models import Hotline
from config.settings import Settings
from queues.advisors import AdvisorDesk, read_members
from queues.ami import AmiClient, AmiError
from routing.router import queue_names
from routing.rules import LeaveQueue, diff_rules, plan_member_changes, restart_needed

log = structlog.get_logger(__name__)

CHANNEL = "aiguilleur_rules"
# Files a live apply rewrites; the others (pjsip, modules, manager) need a restart.
LIVE_FILES = ("queues.conf", "queuerules.conf", "extensions.conf")


class RulesError(ValueError):
    """A rules request that cannot be made: nothing changed, version not bumped, restart needed."""


def files_needed(running: Hotline, proposed: Hotline, settings: Settings) -> list[str]:
    """The live files (``LIVE_FILES``) that differ between the two versions: what an apply must
    rewrite and reload for Asterisk to see the change (strategy, ring time, escalation, queues...).
    Empty when the change is the service's alone (hours, closures, menu texts read at each call)."""
    before = render(running, settings.pbx, settings.ami, settings.fastagi)
    after = render(proposed, settings.pbx, settings.ami, settings.fastagi)
    return [name for name in LIVE_FILES if before[name] != after[name]]


@dataclass(frozen=True)
class RuleVersionRow:
    id: int
    version: int
    action: str
    requested_by: str
    requested_at: dt.datetime
    source: str
    diff: str
    status: str
    applied_at: dt.datetime | None
    result: str
    hotline: Hotline


def _row(record: asyncpg.Record) -> RuleVersionRow:
    document = record["document"]
    data: Any = json.loads(document) if isinstance(document, str) else document
    return RuleVersionRow(
        id=record["id"], version=record["version"], action=record["action"],
        requested_by=record["requested_by"], requested_at=record["requested_at"],
        source=record["source"], diff=record["diff"], status=record["status"],
        applied_at=record["applied_at"], result=record["result"],
        hotline=Hotline.model_validate(data),
    )


async def active_rules(pool: asyncpg.Pool) -> RuleVersionRow | None:
    """The version that runs: the newest applied one."""
    record = await pool.fetchrow(
        "SELECT * FROM rule_versions WHERE status = 'applied' ORDER BY id DESC LIMIT 1"
    )
    return _row(record) if record is not None else None


async def history(pool: asyncpg.Pool, limit: int = 50) -> list[RuleVersionRow]:
    """Newest first: every request, applied, failed or pending."""
    records = await pool.fetch("SELECT * FROM rule_versions ORDER BY id DESC LIMIT $1", limit)
    return [_row(r) for r in records]


@dataclass(frozen=True)
class RulesCheck:
    running: RuleVersionRow | None
    diff: list[str]
    problems: list[str]  # why ``apply`` would be refused

    @property
    def applicable(self) -> bool:
        return bool(self.diff) and not self.problems


async def check(pool: asyncpg.Pool, hotline: Hotline) -> RulesCheck:
    """The diff between ``hotline`` (already validated) and what runs, and what would block applying it."""
    running = await active_rules(pool)
    old = running.hotline if running is not None else None
    diff = diff_rules(old, hotline)
    problems: list[str] = []
    if running is not None:
        if not diff:
            problems.append(f"nothing to apply: identical to version {running.version}, which runs")
        elif hotline.version <= running.version:
            problems.append(
                f"version: {hotline.version} must be above {running.version} (the version that runs); bump it"
            )
        problems += [f"{reason}: needs `make run` again, not a live apply"
                     for reason in restart_needed(running.hotline, hotline)]
    return RulesCheck(running, diff, problems)


async def _insert(pool: asyncpg.Pool, hotline: Hotline, *, action: str, by: str, source: str,
                  diff: list[str], status: str = "pending", result: str = "") -> int:
    async with pool.acquire() as conn, conn.transaction():
        request_id: int = await conn.fetchval(
            """INSERT INTO rule_versions (version, action, requested_by, source, document, diff, status,
                                          applied_at, result)
               VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7,
                       CASE WHEN $7 = 'applied' THEN now() END, $8)
               RETURNING id""",
            hotline.version, action, by, source, hotline.model_dump_json(), "\n".join(diff), status, result,
        )
        await conn.execute(f"NOTIFY {CHANNEL}, '{request_id}'")
    return request_id


async def request_apply(pool: asyncpg.Pool, hotline: Hotline, *, by: str, source: str) -> int:
    """Record ``hotline`` as a pending version for the service to apply; return the request id."""
    if not by.strip():
        raise RulesError("who applies the rules must be named (--by)")
    result = await check(pool, hotline)
    if result.problems:
        raise RulesError("; ".join(result.problems))
    return await _insert(pool, hotline, action="apply", by=by, source=source, diff=result.diff)


async def request_rollback(pool: asyncpg.Pool, *, by: str) -> int:
    """Ask for the previous applied version (the one before what runs) to run again."""
    records = await pool.fetch(
        "SELECT * FROM rule_versions WHERE status = 'applied' ORDER BY id DESC LIMIT 50"
    )
    rows = [_row(r) for r in records]
    if not rows:
        raise RulesError("no version has been applied yet: nothing to roll back to")
    running = rows[0]
    previous = next((r for r in rows[1:] if r.hotline != running.hotline), None)
    if previous is None:
        raise RulesError(f"version {running.version} is the only one applied: nothing to roll back to")
    reasons = restart_needed(running.hotline, previous.hotline)
    if reasons:
        raise RulesError("; ".join(reasons) + ": needs `make run` again, not a live rollback")
    return await _insert(pool, previous.hotline, action="rollback", by=by,
                         source=f"rollback to request {previous.id}",
                         diff=diff_rules(running.hotline, previous.hotline))


async def wait_outcome(pool: asyncpg.Pool, request_id: int, timeout: float = 15.0) -> RuleVersionRow:  # noqa: ASYNC109
    """Wait until the service applied (or refused) the request."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        record = await pool.fetchrow("SELECT * FROM rule_versions WHERE id = $1", request_id)
        if record is None:
            raise RulesError(f"no rules request {request_id}")
        if record["status"] != "pending":
            return _row(record)
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(
                f"request {request_id} still pending after {timeout:.0f} s: is the service running? "
                "It applies pending versions when it starts."
            )
        await asyncio.sleep(0.1)


# ----------------------------------------------------------------------------- the service's side


class RulesHolder:
    """The hotline that runs; the IVR and the advisor desk read ``.hotline`` at each use."""

    def __init__(self, hotline: Hotline) -> None:
        self.hotline = hotline

    def __call__(self) -> Hotline:
        return self.hotline


class RulesEngine:
    """Applies pending versions (on NOTIFY, at start, and every few seconds as a backstop)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        ami: AmiClient,
        desk: AdvisorDesk,
        holder: RulesHolder,
        settings: Settings,
        dsn: str,
        conf_dirs: Sequence[Path] = (),
        on_applied: Callable[[Hotline], None] = lambda hotline: None,
        on_reloaded: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._pool = pool
        self._ami = ami
        self._desk = desk
        self._holder = holder
        self._settings = settings
        self._dsn = dsn
        self._conf_dirs = tuple(conf_dirs)
        self._on_applied = on_applied
        # A reload that drops a queue drops its members without a single AMI event: whoever
        # follows app_queue (the live state) must read it again.
        self._on_reloaded = on_reloaded
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._listener: asyncpg.Connection | None = None
        # Queues an older version had and the running one does not, kept (defined, members in
        # place) because callers were waiting in them when it was applied.
        self.lingering: frozenset[str] = frozenset()

    async def adopt(self, from_file: Hotline, *, source: str) -> Hotline:
        """At start: decide what runs (file or the last applied version) and record it."""
        running = await active_rules(self._pool)
        chosen = from_file
        if (running is not None and running.hotline != from_file
                and from_file.version <= running.version and not restart_needed(running.hotline, from_file)):
            chosen = running.hotline
            log.warning("rules.file_differs_from_running", file_version=from_file.version,
                        running_version=running.version,
                        hint="`aiguilleur rules check` shows the diff; `aiguilleur rules apply` applies it")
        if running is None or running.hotline != chosen:
            await _insert(self._pool, chosen, action="start", by="service start", source=source,
                          diff=diff_rules(running.hotline if running else None, chosen),
                          status="applied", result="applied at service start")
        self._holder.hotline = chosen
        self._on_applied(chosen)
        return chosen

    async def run(self) -> None:
        """Apply pending versions until cancelled.

        A database restart or failover (``cdr.writer.TRANSIENT_ERRORS``: a query cut on a dead
        connection included) is logged and retried: an escape would end this task for good."""
        try:  # the listener is closed even when cancelled while it subscribes (a stop just after the start)
            try:
                self._listener = await asyncpg.connect(self._dsn)
                await self._listener.add_listener(CHANNEL, self._notified)
            except TRANSIENT_ERRORS as error:
                log.warning("rules.listen_failed", error=str(error))  # the poll below still applies
            while True:
                try:
                    await self.apply_pending()
                except TRANSIENT_ERRORS as error:
                    log.warning("rules.poll_failed", error=str(error))
                try:
                    await self.retire_lingering()
                except AmiError as error:
                    log.warning("rules.retire_failed", error=str(error))
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=2.0)
        finally:
            if self._listener is not None:
                with contextlib.suppress(*TRANSIENT_ERRORS):  # a listener on a server that died
                    await self._listener.close()

    def _notified(self, *args: object) -> None:
        self._wake.set()

    async def apply_pending(self) -> None:
        async with self._lock:
            records = await self._pool.fetch(
                "SELECT * FROM rule_versions WHERE status = 'pending' ORDER BY id"
            )
            for record in records:
                row = _row(record)
                try:
                    result = await self._apply(row.hotline)
                except (AmiError, OSError, ValueError) as error:
                    await self._finish(row.id, "failed", f"{type(error).__name__}: {error}")
                    log.error("rules.apply_failed", request=row.id, version=row.version, error=str(error))
                    continue
                await self._finish(row.id, "applied", result)
                log.info("rules.applied", request=row.id, version=row.version, by=row.requested_by,
                         action=row.action, result=result)

    async def _finish(self, request_id: int, status: str, result: str) -> None:
        await self._pool.execute(
            "UPDATE rule_versions SET status = $2, result = $3, applied_at = now() WHERE id = $1",
            request_id, status, result,
        )

    async def _apply(self, hotline: Hotline) -> str:
        reasons = restart_needed(self._holder.hotline, hotline)
        if reasons:
            raise ValueError("; ".join(reasons) + ": needs a restart")
        if not self._conf_dirs:
            needed = files_needed(self._holder.hotline, hotline, self._settings)
            if needed:  # applying would say "applied" while Asterisk keeps the old strategy, timers...
                raise ValueError(
                    f"this change must rewrite {', '.join(needed)} for Asterisk and no Asterisk conf dir is "
                    "configured (AIGUILLEUR_ASTERISK_ETC_DIRS): nothing applied")
        reloaded = "no Asterisk file concerned"
        self.lingering = await self._queues_with_callers() - set(queue_names(hotline))
        if self.lingering:
            log.info("rules.queues_kept_for_waiting_callers", queues=sorted(self.lingering))
        if await self._write_and_reload(hotline):
            reloaded = "queues.conf, queuerules.conf, extensions.conf reloaded"
        changes = await self.reconcile_members(hotline)
        self._holder.hotline = hotline
        self._on_applied(hotline)
        return f"{reloaded}; {changes} member changes"

    async def retire_lingering(self) -> None:
        """Drop the lingering queues whose callers are all gone: members out, then the definition."""
        if not self.lingering:
            return
        async with self._lock:
            done = self.lingering - await self._queues_with_callers()
            if not done:
                return
            running = (await read_members(self._ami)).penalties
            for line, queues in sorted(running.items()):
                for queue in sorted(done & set(queues)):
                    await self._desk.apply_change(LeaveQueue(line, queue))
            self.lingering -= done
            await self._write_and_reload(self._holder.hotline)
            log.info("rules.lingering_queues_retired", queues=sorted(done), left=sorted(self.lingering))

    async def _write_and_reload(self, hotline: Hotline) -> bool:
        """Rewrite the live files where Asterisk reads them and reload; False with no conf dir."""
        if not self._conf_dirs:
            return False
        files = render(hotline, self._settings.pbx, self._settings.ami, self._settings.fastagi,
                       lingering_queues=self.lingering)
        for conf_dir in self._conf_dirs:  # where Asterisk reads, and where a restart copies from
            for name in LIVE_FILES:
                (conf_dir / name).write_text(files[name], encoding="utf-8")
        # Members=no: dynamic members and waiting callers stay; parameters and penaltychange rules reload.
        await self._ami.send({"Action": "QueueReload", "Members": "no", "Rules": "yes", "Parameters": "yes"})
        await self._ami.send({"Action": "Command", "Command": "dialplan reload"})
        if self._on_reloaded is not None:
            await self._on_reloaded()
        return True

    async def _queues_with_callers(self) -> frozenset[str]:
        """Queues where app_queue has callers waiting now (QueueStatus: read-only, safe to resend)."""
        replies = await self._ami.send({"Action": "QueueStatus"}, idempotent=True)
        return frozenset(e.get("Queue", "") for e in replies if e.get("Event") == "QueueEntry")

    async def reconcile_members(
        self, hotline: Hotline | None = None, running: Mapping[str, Mapping[str, int]] | None = None
    ) -> int:
        """Bring the logged-in lines' penalties and queues to the rules; return how many changes.

        ``running`` (line -> queue -> penalty): what Asterisk has, if just read; else asked over AMI.
        """
        target = hotline or self._holder.hotline
        if running is None:
            running = (await read_members(self._ami)).penalties
        changes = plan_member_changes(target, running, self.lingering)
        for change in changes:
            await self._desk.apply_change(change)
        return len(changes)
