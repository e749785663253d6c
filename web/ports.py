"""What the web layer needs from the rest of the service, as small Protocols.

The composition root (``web.wiring``) adapts the running service to these; the
handlers see only them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from appointments.offices import Commune
from config.models import Hotline
from queues.snapshot import LiveSnapshot
from web.screen import CallInfo


class LiveSource(Protocol):
    def snapshot(self) -> LiveSnapshot: ...


class HotlineSource(Protocol):
    @property
    def hotline(self) -> Hotline: ...


class AgentDesk(Protocol):
    """``queues.advisors.AdvisorDesk``: raises a ValueError (``AdvisorError``) for an unknown line."""

    async def login(self, line: str) -> None: ...
    async def logout(self, line: str) -> None: ...
    async def pause(self, line: str, reason: str) -> None: ...
    async def unpause(self, line: str) -> None: ...
    async def transfer(self, line: str, partner: str) -> str:
        """Send the line's caller to ``partner``'s queue; ``queues.transfers`` errors (ValueErrors)."""
        ...

    async def listen(self, supervisor_line: str, line: str, mode: str) -> str:
        """Ring the supervisor's softphone into the line's call (listen, whisper, barge); the spied channel."""
        ...


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    request_id: int
    status: str  # pending | applied | failed
    version: int | None
    result: str


class RulesGateway(Protocol):
    """``aiguilleur.rules`` + ``routing.rules.diff_rules``: the same path as ``aiguilleur rules apply``."""

    async def request_apply(self, hotline: Hotline, *, by: str, source: str) -> int: ...
    async def request_rollback(self, *, by: str) -> int: ...
    async def wait_outcome(self, request_id: int, timeout: float) -> RuleOutcome: ...  # noqa: ASYNC109
    def diff(self, old: Hotline | None, new: Hotline) -> list[str]: ...
    async def check(self, hotline: Hotline) -> tuple[list[str], list[str]]:
        """(diff against what runs, reasons an apply would be refused)."""
        ...


class CommuneFinder(Protocol):
    """``appointments.communes.CommuneIndex``: the communes of a postcode (optionally of that name)."""

    def find(self, postcode: str, name: str | None = None) -> list[Commune]: ...


class CallInfoSource(Protocol):
    def call_info(self, uniqueid: str) -> CallInfo | None: ...


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    ami_connected: bool
    spool_depth: int
    backlog: int
    written_total: int
    write_failures_total: int
    dropped_total: int
    open_calls: int


class FixedHotline:
    """A ``HotlineSource`` that never changes (no rules holder yet, tests)."""

    def __init__(self, hotline: Hotline) -> None:
        self._hotline = hotline

    @property
    def hotline(self) -> Hotline:
        return self._hotline


HealthProbe = Callable[[], ServiceHealth]
CommunesProbe = Callable[[], CommuneFinder | None]  # None: the dataset is not installed (make communes)
