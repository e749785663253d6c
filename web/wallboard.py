"""The wallboard's view model, built from a ``LiveSnapshot``. Pure.

Per queue: callers waiting (in order, with how long each has waited), the
longest wait, the expected wait of a new caller, and today's service level
(from the call records, ``cdr.kpi``'s definition: answered within the threshold
over calls offered, abandons included). Per partner: its lines by state
(available, ringing, busy, wrap-up, paused with the reason, logged out,
unavailable). Times are whole seconds against the wall clock ``now``.

Caller names and numbers are untrusted text: the view model carries them as
plain strings; every renderer escapes them (``web.pages``) or sets them as
text (the wallboard's JavaScript uses ``textContent``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from queues.state import LineState, LiveSnapshot

LINE_STATUSES: Final = ("available", "ringing", "busy", "wrapup", "paused", "logged_out", "unavailable")
MAX_CALLERS_SHOWN: Final = 20


@dataclass(frozen=True, slots=True)
class TodayStats:
    """One queue's calls today (local day), per ``cdr.kpi``."""

    offered: int
    answered: int
    answered_within_threshold: int
    abandoned: int
    service_level: float | None  # inclusive: within threshold / offered


@dataclass(frozen=True, slots=True)
class PartnerInfo:
    id: str
    name: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WaitingCaller:
    position: int
    number: str
    name: str
    waited_seconds: int


@dataclass(frozen=True, slots=True)
class QueueRow:
    name: str
    waiting: int
    longest_wait_seconds: int
    expected_wait_seconds: int | None
    lines_available: int
    lines_staffed: int
    service_level_today: float | None
    offered_today: int
    answered_today: int
    abandoned_today: int
    callers: tuple[WaitingCaller, ...]


@dataclass(frozen=True, slots=True)
class LineRow:
    line: str
    status: str
    paused_reason: str
    seconds_in_status: int | None
    calls_taken: int


@dataclass(frozen=True, slots=True)
class PartnerRow:
    id: str
    name: str
    counts: Mapping[str, int]
    lines: tuple[LineRow, ...]


@dataclass(frozen=True, slots=True)
class Wallboard:
    version: int
    synced: bool
    as_of: float
    waiting: int
    longest_wait_seconds: int
    service_level_today: float | None
    queues: tuple[QueueRow, ...]
    partners: tuple[PartnerRow, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _since(line: LineState, now: float) -> int | None:
    start: float | None = None
    if line.status == "ringing":
        start = line.ringing_since
    elif line.status == "busy":
        start = line.in_call_since
    elif line.status == "paused":
        start = line.paused_since
    elif line.status == "wrapup" and line.wrapup_until is not None:
        return max(0, round(line.wrapup_until - now))  # seconds left
    return None if start is None else max(0, round(now - start))


def build(
    snapshot: LiveSnapshot,
    partners: Sequence[PartnerInfo],
    today: Mapping[str, TodayStats],
    now: float,
    *,
    today_overall: TodayStats | None = None,
) -> Wallboard:
    queues: list[QueueRow] = []
    for name in sorted(snapshot.queues):
        view = snapshot.queues[name]
        waits = [max(0, round(now - c.joined_at)) for c in view.callers]
        callers = tuple(
            WaitingCaller(c.position, c.caller_number, c.caller_name, wait)
            for c, wait in zip(view.callers[:MAX_CALLERS_SHOWN], waits, strict=False)
        )
        staffed = available = 0
        for member in view.members.values():
            line = snapshot.lines.get(member.line)
            if line is None or member.paused or line.status in ("logged_out", "unavailable", "paused"):
                continue
            staffed += 1
            available += line.status == "available"
        expected = snapshot.expected_wait(name)
        stats = today.get(name)
        queues.append(QueueRow(
            name=name,
            waiting=len(view.callers),
            longest_wait_seconds=max(waits, default=0),
            expected_wait_seconds=None if expected is None else round(expected),
            lines_available=available,
            lines_staffed=staffed,
            service_level_today=stats.service_level if stats else None,
            offered_today=stats.offered if stats else 0,
            answered_today=stats.answered if stats else 0,
            abandoned_today=stats.abandoned if stats else 0,
            callers=callers,
        ))
    rows: list[PartnerRow] = []
    listed: set[str] = set()
    for partner in partners:
        lines = []
        counts = dict.fromkeys(LINE_STATUSES, 0)
        for line_id in partner.lines:
            listed.add(line_id)
            state = snapshot.lines.get(line_id)
            if state is None:
                lines.append(LineRow(line_id, "logged_out", "", None, 0))
                counts["logged_out"] += 1
                continue
            counts[state.status] = counts.get(state.status, 0) + 1
            lines.append(LineRow(line_id, state.status, state.paused_reason, _since(state, now), state.calls_taken))
        rows.append(PartnerRow(partner.id, partner.name, counts, tuple(lines)))
    guests = [line for line_id, line in sorted(snapshot.lines.items()) if line_id not in listed]
    if guests:  # dynamic members Asterisk lists but the hotline does not (a guest softphone)
        counts = dict.fromkeys(LINE_STATUSES, 0)
        for state in guests:
            counts[state.status] = counts.get(state.status, 0) + 1
        rows.append(PartnerRow("other", "Autres lignes", counts, tuple(
            LineRow(s.line, s.status, s.paused_reason, _since(s, now), s.calls_taken) for s in guests)))
    return Wallboard(
        version=snapshot.version,
        synced=snapshot.synced,
        as_of=now,
        waiting=sum(q.waiting for q in queues),
        longest_wait_seconds=max((q.longest_wait_seconds for q in queues), default=0),
        service_level_today=today_overall.service_level if today_overall else None,
        queues=tuple(queues),
        partners=tuple(rows),
    )
