"""Snapshots of the live queue and line state: the frozen views the rest of the code reads.

Pure: no I/O, no clock. The reducer (``queues.state.LiveState``) folds AMI
events and hands out a ``LiveSnapshot``; everything else reads these views,
never the reducer's internals. Read from a snapshot here: the expected wait
of a new or waiting caller (``expected_wait``), what the router needs to know
about one queue (``queue_outlook``) and every line's queues and penalties
(``penalties_by_line``).

What a snapshot holds
---------------------
- per queue (``QueueView``): the callers in order (position 1 first,
  renumbered like app_queue when one leaves), each member's penalty and
  pause, the recent handle times (talk + wrap-up, a bounded ring),
  Asterisk's counters;
- per line (``LineState``; member name = line id, ``PJSIP/<line>``): a
  status, the pause reason, the call or ringing in progress, the wrap-up
  end, calls taken (the highest ``CallsTaken`` of its memberships: with
  ``shared_lastcall=yes``, as confgen writes, app_queue copies a member's
  calls and last call to every queue it is in, so a sum would count each
  call once per queue).

A line's ``status`` is derived by the reducer from its memberships, calls and
device state; the rules (first match wins) are stated in ``queues.state``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from routing.router import QueueOutlook

LineStatus = Literal["logged_out", "available", "ringing", "busy", "wrapup", "paused", "unavailable"]

ANY_PENALTY: Final = 1_000_000


# ----------------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class QueueCaller:
    """A caller waiting in a queue; ``position`` 1 is answered first."""

    uniqueid: str
    linkedid: str | None  # None for a caller first seen in a resync: QueueEntry does not carry it
    caller_number: str
    position: int
    joined_at: float
    caller_name: str = ""
    channel: str = ""


@dataclass(frozen=True, slots=True)
class QueueMember:
    """One line's membership of one queue, as app_queue last reported it."""

    line: str
    interface: str
    penalty: int
    paused: bool
    paused_reason: str
    in_call: bool
    calls_taken: int
    last_call: float | None
    wrapup_seconds: int
    dynamic: bool


@dataclass(frozen=True, slots=True)
class LineState:
    """One partner line (member name = line id), across all its queues."""

    line: str
    status: LineStatus
    interface: str
    device_state: int
    queues: tuple[str, ...]
    paused_queues: tuple[str, ...]
    paused_reason: str
    paused_since: float | None
    call_queue: str | None  # the queue of the call being rung or talked
    caller_uniqueid: str | None
    ringing_since: float | None
    in_call_since: float | None  # None when busy but the start is unknown (after a resync, direct calls)
    wrapup_until: float | None
    calls_taken: int
    last_call: float | None
    # When the line entered ``status`` (an event's time); None when unknown: since a resync loaded
    # the line in a new status (QueueStatus does not say since when) or before any change was seen.
    status_since: float | None = None


@dataclass(frozen=True, slots=True)
class QueueView:
    """One queue: callers in order, members by line, recent handle times (seconds, oldest first)."""

    name: str
    callers: tuple[QueueCaller, ...]
    members: Mapping[str, QueueMember]
    recent_handle_times: tuple[float, ...]
    strategy: str = ""
    completed: int = 0  # app_queue's counters (QueueParams), then counted from events
    abandoned: int = 0
    asterisk_talk_time: int = 0  # app_queue's running average talk time at the last resync


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One followed Asterisk node in a merged view (``queues.state_merge``): is its link synced, and
    what its own state holds (the last known figures while it is not synced)."""

    node: str
    synced: bool
    waiting: int  # callers waiting in any of its queues
    lines_logged_in: int  # lines a member of at least one of its queues
    lines_busy: int  # lines talking on it


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """The whole live state at one moment; ``now`` is the newest event time seen."""

    queues: Mapping[str, QueueView]
    lines: Mapping[str, LineState]
    now: float
    synced: bool
    version: int
    drift: int  # events that contradicted the state (a missed event); a resync clears it
    escalation: tuple[tuple[int, int], ...] = ((0, ANY_PENALTY),)
    # Several Asterisk nodes followed (issue 13): each node's status, in the followed order;
    # empty for one node's own state.
    nodes: tuple[NodeStatus, ...] = ()

    @property
    def unsynced_nodes(self) -> tuple[str, ...]:
        """The followed nodes whose state is not synced (link down, or not resynced yet)."""
        return tuple(n.node for n in self.nodes if not n.synced)

    def expected_wait(self, queue: str, *, uniqueid: str | None = None) -> float | None:
        """Expected wait in seconds of a new caller of ``queue`` (or of the waiting ``uniqueid``).

        Handle times: the queue's recent ones, else every queue's, else
        app_queue's average talk time at the last resync plus the mean wrap-up
        of the members; see :func:`expected_wait` for the formula.
        """
        view = self.queues.get(queue)
        if view is None:
            return None
        position = None
        waited = 0.0
        if uniqueid is not None:
            caller = next((c for c in view.callers if c.uniqueid == uniqueid), None)
            if caller is None:
                return None
            position = caller.position
            waited = max(0.0, self.now - caller.joined_at)
        handle_times: Sequence[float] = view.recent_handle_times
        if not handle_times:
            handle_times = [h for v in self.queues.values() for h in v.recent_handle_times]
        default = None
        if view.asterisk_talk_time > 0 and view.members:
            wrapups = [m.wrapup_seconds for m in view.members.values()]
            default = view.asterisk_talk_time + sum(wrapups) / len(wrapups)
        return expected_wait(
            view, self.lines, handle_times, position=position, waited=waited,
            escalation=self.escalation, default_handle_time=default,
        )


# ----------------------------------------------------------------------------- expected wait


def expected_wait(
    queue_view: QueueView,
    lines: Mapping[str, LineState],
    recent_handle_times: Sequence[float],
    *,
    position: int | None = None,
    waited: float = 0.0,
    escalation: Sequence[tuple[int, int]] = ((0, ANY_PENALTY),),
    default_handle_time: float | None = None,
) -> float | None:
    """Expected wait (seconds) of the caller at ``position`` (default: a caller joining now).

    A fluid first-come-first-served estimate:

    - ``H`` = mean of ``recent_handle_times`` (talk + wrap-up of recent calls),
      else ``default_handle_time``;
    - at penalty limit ``P``, the *staffed* members are those with penalty
      <= P, not paused in this queue, whose line is neither logged out,
      unavailable nor paused; the *free* ones are those whose line is
      ``available``. ``P`` is the caller's limit from the queue rule
      (``escalation``: ``(after_seconds, max_penalty)`` steps, counted from
      the caller's join; ``waited`` is how long they have waited already);
    - ``k = position - free(P)``: the callers to serve before this one that
      free members cannot take at once. ``k <= 0`` gives 0;
    - otherwise members free up at the rate ``staffed(P) / H``, and the wait
      ``T`` solves ``integral over [0, T] of staffed(P(t)) / H dt = k``,
      piecewise over the steps; when the pool widens, its newly free members
      take ``k`` down at once.

    ``None`` when nobody could ever answer (no staffed member even at the
    widest step) or no handle time is known while the caller must wait.
    Ignored: ring time, callers who join later with a higher priority, and
    callers ahead abandoning (so the estimate leans long).
    """
    if position is None:
        position = len(queue_view.callers) + 1
    steps = sorted(escalation)
    limits = [penalty for _after, penalty in steps]
    staffed = [0] * len(steps)
    free = [0] * len(steps)
    for member in queue_view.members.values():
        line = lines.get(member.line)
        if member.paused or line is None or line.status in ("logged_out", "unavailable", "paused"):
            continue
        for index, limit in enumerate(limits):
            if member.penalty <= limit:
                staffed[index] += 1
                if line.status == "available":
                    free[index] += 1
    if max(staffed) == 0:
        return None
    # The step in force now, and the later ones as (starts in t seconds, index).
    current = 0
    for index, (after, _penalty) in enumerate(steps):
        if after <= waited:
            current = index
    remaining = float(position - free[current])
    if remaining <= 0:
        return 0.0
    handle_time = sum(recent_handle_times) / len(recent_handle_times) if recent_handle_times else default_handle_time
    if handle_time is None or handle_time <= 0:
        return None
    elapsed = 0.0
    index = current
    while True:
        rate = staffed[index] / handle_time
        step_end = steps[index + 1][0] - waited if index + 1 < len(steps) else math.inf
        span = step_end - elapsed
        if rate > 0 and remaining <= rate * span:
            return elapsed + remaining / rate
        if math.isinf(span):
            return None  # last step and nobody staffed
        remaining -= rate * span
        elapsed = step_end
        index += 1
        remaining -= free[index] - free[index - 1]
        if remaining <= 0:
            return elapsed


# ----------------------------------------------------------------------------- for the router and the rules


def queue_outlook(snapshot: LiveSnapshot, queue: str) -> QueueOutlook | None:
    """What the router needs to know about ``queue`` now; None when the state is not trustworthy
    (AMI down or not resynced) or the queue is unknown: the caller is then simply queued."""
    view = snapshot.queues.get(queue)
    if not snapshot.synced or view is None:
        return None
    return QueueOutlook(
        logged_in=frozenset(view.members),
        paused=frozenset(line for line, member in view.members.items() if member.paused),
        expected_wait_seconds=snapshot.expected_wait(queue),
        penalties={line: member.penalty for line, member in view.members.items()},
        waiting=tuple(caller.uniqueid for caller in view.callers),
    )


def penalties_by_line(snapshot: LiveSnapshot) -> dict[str, dict[str, int]]:
    """Every logged-in line's queues and penalties (line -> queue -> penalty), as app_queue reported."""
    out: dict[str, dict[str, int]] = {}
    for name, view in snapshot.queues.items():
        for line, member in view.members.items():
            out.setdefault(line, {})[name] = member.penalty
    return out
