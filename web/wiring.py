"""Adapt the running service to the web layer's ports (``web.ports``); used by ``start_service``.

The parts another engineer is adding (``service.desk``, ``service.rules``,
``aiguilleur.rules``, ``routing.rules``) are looked up when used, so the web
layer works before they exist and picks them up once they do.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import Any

import asyncpg

from cdr.correlator import CdrCorrelator
from cdr.writer import CdrWriter
from config.models import Hotline
from queues.ami import AmiClient
from queues.state import LiveState
from web.app import WebDeps
from web.ports import AgentDesk, RuleOutcome, RulesGateway, ServiceHealth
from web.rules_form import fallback_diff
from web.screen import CallInfo


class CorrelatorCalls:
    """``CallInfoSource`` over the CDR correlator's calls in progress (IVR answers included)."""

    def __init__(self, correlator: CdrCorrelator) -> None:
        self._correlator = correlator

    def call_info(self, uniqueid: str) -> CallInfo | None:
        calls = self._correlator.calls
        call = calls.get(uniqueid)  # the caller's channel starts the call: linkedid == uniqueid
        if call is None or call.uniqueid != uniqueid:
            call = next((c for c in calls.values() if c.uniqueid == uniqueid), None)
        if call is None:
            return None
        return CallInfo(call.uniqueid, call.linkedid, call.src, call.clid, dict(call.ivr),
                        call.queue or call.ivr.get("Queue"))


class ServiceHotline:
    """``HotlineSource``: the rules holder's active hotline (``service.rules.hotline``), else the one started with."""

    def __init__(self, service: object, initial: Hotline) -> None:
        self._service = service
        self._initial = initial

    @property
    def hotline(self) -> Hotline:
        holder = getattr(self._service, "rules", None)
        current = getattr(holder, "hotline", None)
        return current if isinstance(current, Hotline) else self._initial


class ModuleRulesGateway:
    """``RulesGateway`` over ``aiguilleur.rules`` (PostgreSQL ``rule_versions``) and ``routing.rules.diff_rules``."""

    def __init__(self, pool: asyncpg.Pool, rules: Any, diff: Callable[[Hotline | None, Hotline], list[str]]) -> None:
        self._pool = pool
        self._rules = rules
        self._diff = diff

    async def request_apply(self, hotline: Hotline, *, by: str, source: str) -> int:
        return int(await self._rules.request_apply(self._pool, hotline, by=by, source=source))

    async def request_rollback(self, *, by: str) -> int:
        return int(await self._rules.request_rollback(self._pool, by=by))

    async def wait_outcome(self, request_id: int, timeout: float) -> RuleOutcome:  # noqa: ASYNC109
        try:
            row = await self._rules.wait_outcome(self._pool, request_id, timeout)
        except TimeoutError:
            return RuleOutcome(request_id, "pending", None, "no outcome yet: see the history")
        version = getattr(row, "version", None)
        return RuleOutcome(request_id, str(getattr(row, "status", "")), int(version) if version is not None else None,
                           str(getattr(row, "result", "")))

    def diff(self, old: Hotline | None, new: Hotline) -> list[str]:
        return list(self._diff(old, new))

    async def check(self, hotline: Hotline) -> tuple[list[str], list[str]]:
        result = await self._rules.check(self._pool, hotline)
        return list(result.diff), list(result.problems)


def load_rules_gateway(pool: asyncpg.Pool) -> RulesGateway | None:
    """The gateway when ``aiguilleur.rules`` exists, else None (the editor previews but cannot apply)."""
    try:
        rules = importlib.import_module("aiguilleur.rules")
    except ModuleNotFoundError:
        return None
    if not all(hasattr(rules, name) for name in ("request_apply", "request_rollback", "wait_outcome", "check")):
        return None
    diff: Callable[[Hotline | None, Hotline], list[str]] = fallback_diff
    with contextlib.suppress(ModuleNotFoundError, AttributeError):
        diff = importlib.import_module("routing.rules").diff_rules
    return ModuleRulesGateway(pool, rules, diff)


def deps_from_service(
    service: object,
    hotline: Hotline,
    *,
    pool: asyncpg.Pool,
    live: LiveState,
    correlator: CdrCorrelator,
    writer: CdrWriter,
    ami: AmiClient,
) -> WebDeps:
    def health() -> ServiceHealth:
        return ServiceHealth(
            ami_connected=ami.connected, spool_depth=writer.spooled, backlog=writer.backlog,
            written_total=writer.written, write_failures_total=writer.failures, dropped_total=writer.dropped,
            open_calls=correlator.open_calls(),
        )

    def desk() -> AgentDesk | None:
        found: AgentDesk | None = getattr(service, "desk", None)
        return found

    gateway: list[RulesGateway | None] = []

    def rules() -> RulesGateway | None:
        if not gateway:
            gateway.append(load_rules_gateway(pool))
        return gateway[0]

    return WebDeps(pool=pool, live=live, hotline=ServiceHotline(service, hotline), calls=CorrelatorCalls(correlator),
                   health=health, desk=desk, rules=rules)
