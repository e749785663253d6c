"""Adapt the running service to the web layer's ports (``web.ports``); used by ``start_service``.

The web reads the live state of every followed Asterisk node at once (issue 13): its
``LiveSource`` is ``queues.state_merge.MergedLive`` over ``Service.live_by_node``, the merge of
each node's snapshot (one node: that node's snapshot, unchanged).

The rules editor reaches the running rules through ``aiguilleur.rules`` (PostgreSQL
``rule_versions``) and says what changes with ``routing.rules.diff_rules``, the one rule diff.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import asyncpg
import structlog

from aiguilleur import rules
from appointments.communes import CommunesMissing, load_communes
from cdr.correlator import CdrCorrelator
from cdr.writer import CdrWriter
from config.models import Hotline
from config.settings import DEFAULT_NODE, SmtpSettings
from queues.ami import AmiClient
from queues.state import LiveState
from queues.state_merge import MergedLive, SnapshotSource
from routing.rules import diff_rules
from web.deps import WebDeps
from web.ports import AgentDesk, CommuneFinder, RuleOutcome, RulesGateway, ServiceHealth
from web.screen import CallInfo

log = structlog.get_logger(__name__)


class CorrelatorCalls:
    """``CallInfoSource`` over the CDR correlators' calls in progress (IVR answers included).

    One correlator per followed node (the first node's first): a caller is on one node, so the
    first that knows the channel answers (after a failover the calls are the second node's)."""

    def __init__(self, correlator: CdrCorrelator, *others: CdrCorrelator) -> None:
        self._correlators = (correlator, *others)

    def call_info(self, uniqueid: str) -> CallInfo | None:
        for correlator in self._correlators:
            info = self._call_info(correlator, uniqueid)
            if info is not None:
                return info
        return None

    @staticmethod
    def _call_info(correlator: CdrCorrelator, uniqueid: str) -> CallInfo | None:
        calls = correlator.calls
        call = calls.get(uniqueid)  # the caller's channel starts the call: linkedid == uniqueid
        if call is None or call.uniqueid != uniqueid:
            call = next((c for c in calls.values() if c.uniqueid == uniqueid), None)
        if call is None:  # another channel of the call: the Local channel an attended transfer queued
            call = next((c for c in calls.values() if uniqueid in c.open_channels), None)
        if call is None:
            return None
        return CallInfo(call.uniqueid, call.linkedid, call.src, call.clid, dict(call.ivr),
                        call.queue or call.ivr.get("Queue"))


class RunningService(Protocol):
    """What the web reads from ``aiguilleur.service.Service``: its advisor desk (the rules: ``ServiceHotline``)."""

    @property
    def desk(self) -> AgentDesk: ...


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


class DatabaseRulesGateway:
    """``RulesGateway`` over ``aiguilleur.rules`` (PostgreSQL ``rule_versions``): the service's rules
    engine applies what is requested there; ``routing.rules.diff_rules`` says what changes."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def request_apply(self, hotline: Hotline, *, by: str, source: str) -> int:
        return await rules.request_apply(self._pool, hotline, by=by, source=source)

    async def request_rollback(self, *, by: str) -> int:
        return await rules.request_rollback(self._pool, by=by)

    async def wait_outcome(self, request_id: int, timeout: float) -> RuleOutcome:  # noqa: ASYNC109
        try:
            row = await rules.wait_outcome(self._pool, request_id, timeout)
        except TimeoutError:
            return RuleOutcome(request_id, "pending", None, "no outcome yet: see the history")
        return RuleOutcome(request_id, row.status, row.version, row.result)

    def diff(self, old: Hotline | None, new: Hotline) -> list[str]:
        return diff_rules(old, new)

    async def check(self, hotline: Hotline) -> tuple[list[str], list[str]]:
        result = await rules.check(self._pool, hotline)
        return list(result.diff), list(result.problems)


def load_rules_gateway(pool: asyncpg.Pool) -> RulesGateway:
    """The rules editor's way to the running service's rules (through the database)."""
    return DatabaseRulesGateway(pool)


class LazyCommunes:
    """``CommunesProbe``: Etalab's communes read once, on first use (~0.5 s, the views call it in a thread).

    None while the dataset is not installed (``make communes``): the appointment routes answer 503 and
    the rest of the web works; it is looked for again on the next call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index: CommuneFinder | None = None

    def __call__(self) -> CommuneFinder | None:
        with self._lock:
            if self._index is None:
                try:
                    self._index = load_communes()
                except CommunesMissing as exc:
                    log.warning("web.communes_missing", error=str(exc))
            return self._index


def merged_live(service: object, live: LiveState) -> MergedLive:
    """Every node the service follows (``service.live_by_node``, read at each snapshot), else ``live`` alone."""
    def nodes() -> Mapping[str, SnapshotSource]:
        by_node = getattr(service, "live_by_node", None)
        return by_node if isinstance(by_node, Mapping) and by_node else {DEFAULT_NODE: live}

    return MergedLive(nodes)


def followed_correlators(service: object) -> list[CdrCorrelator]:
    """The correlators of the nodes the service follows besides the first (``Service.followers``)."""
    found = [getattr(follower, "correlator", None) for follower in getattr(service, "followers", ())]
    return [c for c in found if isinstance(c, CdrCorrelator)]


def deps_from_service(
    service: RunningService,
    hotline: Hotline,
    *,
    pool: asyncpg.Pool,
    live: LiveState,
    correlator: CdrCorrelator,
    writer: CdrWriter,
    ami: AmiClient,
    smtp: SmtpSettings | None = None,
    asterisk_files: Callable[[Hotline, Hotline], list[str]] | None = None,
    asterisk_conf_dirs: Sequence[Path] = (),
) -> WebDeps:
    """``asterisk_files`` and ``asterisk_conf_dirs``: what a rules change rewrites for Asterisk, and
    where the service's rules engine writes it (the preview says what will reach Asterisk).

    The pages read the merge of every followed node's live state (``merged_live``); ``live`` is the
    first node's, used alone when the service has no ``live_by_node``."""
    def health() -> ServiceHealth:
        return ServiceHealth(
            ami_connected=ami.connected, spool_depth=writer.spooled, backlog=writer.backlog,
            written_total=writer.written, write_failures_total=writer.failures, dropped_total=writer.dropped,
            open_calls=correlator.open_calls(),
        )

    return WebDeps(pool=pool, live=merged_live(service, live), hotline=ServiceHotline(service, hotline),
                   desk=service.desk, rules=load_rules_gateway(pool),
                   calls=CorrelatorCalls(correlator, *followed_correlators(service)), health=health,
                   communes=LazyCommunes(), smtp=smtp or SmtpSettings(), asterisk_files=asterisk_files,
                   asterisk_conf_dirs=tuple(asterisk_conf_dirs))
