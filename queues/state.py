"""Live queue and line state: a pure reducer over AMI events, resynced from QueueStatus.

Pure: AMI events (plain ``dict[str, str]``) in, frozen snapshots
(``queues.snapshot``) out. No asyncio, no panoramisk, no clock: times come
from the events' ``Timestamp`` field (``timestampevents=yes`` in
manager.conf); ``expire(now)`` lets the adapter end wrap-ups when no event
comes. ``queues.resync`` is the adapter that asks Asterisk for
``QueueStatus`` after every (re)login; ``queues.state_seed`` sorts the reply
into the seed ``load`` takes.

What is kept is what a snapshot shows (``queues.snapshot``: callers,
members, lines, recent handle times, Asterisk's counters), and two indexes
keyed by call: the queue of each waiting caller, the lines ringing for it.

A line's status, first match wins:

1. ``logged_out``: a member of no queue (a configured line Asterisk does not
   list, or a dynamic member removed everywhere);
2. ``unavailable``: device state INVALID (4) or UNAVAILABLE (5), e.g. a
   softphone not registered;
3. ``busy``: connected to a queue caller (AgentConnect until AgentComplete),
   a member with ``InCall: 1``, or device state INUSE/BUSY/RINGINUSE/ONHOLD;
4. ``ringing``: rung by a queue (AgentCalled until connect, no answer, dump
   or the caller leaving) or device state RINGING;
5. ``paused``: paused in every queue it is a member of (paused in some
   queues only, it still takes calls: see ``LineState.paused_queues``);
6. ``wrapup``: until ``wrapup_until`` (call end + the member's wrap-up time);
7. ``available``.

Device state codes are app_queue's ``Status`` (AST_DEVICE_*): 0 UNKNOWN,
1 NOT_INUSE, 2 INUSE, 3 BUSY, 4 INVALID, 5 UNAVAILABLE, 6 RINGING,
7 RINGINUSE, 8 ONHOLD; app_queue treats UNKNOWN as available, so do we.

Events used (Asterisk 22 field names, checked on recorded traffic):
QueueCallerJoin/Leave/Abandon; AgentCalled, AgentConnect, AgentComplete,
AgentRingNoAnswer, AgentDump; QueueMemberStatus/Added/Removed/Pause/Penalty/
Ringinuse (all carry the member's ``Penalty, CallsTaken, LastCall,
LastPause, InCall, Status, Paused, PausedReason, Wrapuptime``); Hangup (a
caller whose QueueCallerLeave was lost is still removed, so nothing keyed by
a call outlives it); FullyBooted and Shutdown (the state is no longer
``synced`` until the next resync). DeviceStateChange is not used: every
QueueMemberStatus already carries the member's device state, and a line's
status only depends on it while it is a member.

Wrap-up: app_queue does not ring a member until ``LastCall + Wrapuptime``.
At AgentComplete the line is in wrap-up until the event's time plus the
member's ``Wrapuptime`` as Asterisk last reported it, else the line's
``wrapup_seconds`` from the hotline config (``partner.wrapup_seconds``, the
value confgen writes into queues.conf). A QueueMember* event whose
``LastCall + Wrapuptime`` is still ahead also sets it (that is how a resync
learns a wrap-up in progress; ``LastCall`` has whole seconds).

Resync: ``load(seed)`` replaces the live state wholesale with what
QueueStatus said (``LiveStateSeed``), so nothing stale survives a dropped
AMI link or an Asterisk restart. The recent handle times are kept: they are
past observations used for the expected wait, not live state. Between
``begin_resync()`` and ``load()`` the handled events are also buffered and
replayed on top of the seed: AMI may deliver events the snapshot does not
include after the list (the same TCP read, or while the list is awaited).
Replaying a contiguous run of events that starts before the snapshot is safe:
member events set absolute values, and a join of a caller already listed or
a leave of one not listed changes nothing.

Memory is bounded by the configuration (queues, lines, members) and the
callers waiting now: callers leave on QueueCallerLeave/Abandon (or Hangup),
per-call references on lines are overwritten by the next call, and the
handle-time rings have a fixed length.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from config.models import Hotline
from queues.snapshot import (
    ANY_PENALTY,
    LineState,
    LineStatus,
    LiveSnapshot,
    QueueCaller,
    QueueMember,
    QueueView,
    queue_outlook,
)
from queues.state_seed import LiveStateSeed, seed_from_queue_status
from routing.router import QueueOutlook

AmiEvent = Mapping[str, str]

DEVICE_UNKNOWN: Final = 0
DEVICE_NOT_INUSE: Final = 1
DEVICE_RINGING: Final = 6
UNAVAILABLE_DEVICE_STATES: Final = frozenset({4, 5})  # INVALID, UNAVAILABLE
BUSY_DEVICE_STATES: Final = frozenset({2, 3, 7, 8})  # INUSE, BUSY, RINGINUSE, ONHOLD
RINGING_DEVICE_STATES: Final = frozenset({DEVICE_RINGING})
DEFAULT_HANDLE_TIME_WINDOW: Final = 50
DEFAULT_RESYNC_BUFFER: Final = 20_000
_NO_EXPIRY: Final = math.inf
# A resynced caller already known in the same queue keeps its exact join time and linkedid
# when QueueEntry's whole-second Wait agrees with it (else it left and joined again).
_SAME_JOIN_SECONDS: Final = 1.5


@dataclass(frozen=True)
class StateConfig:
    """What the reducer needs from the hotline; ``from_hotline`` builds it."""

    # line -> wrap-up seconds, used when Asterisk has not reported the member's Wrapuptime;
    # these lines are always listed (logged_out until Asterisk lists them as members).
    wrapup_seconds: Mapping[str, int] = field(default_factory=dict)
    # the queue rule: (after_seconds, max_penalty) steps, the first at 0 (queuerules.conf)
    escalation: tuple[tuple[int, int], ...] = ((0, ANY_PENALTY),)
    handle_time_window: int = DEFAULT_HANDLE_TIME_WINDOW
    max_resync_buffer: int = DEFAULT_RESYNC_BUFFER

    def __post_init__(self) -> None:
        if self.handle_time_window < 1:
            raise ValueError("handle_time_window must be >= 1")
        if not self.escalation or self.escalation[0][0] != 0:
            raise ValueError("escalation must start with a step at 0 seconds")
        times = [after for after, _ in self.escalation]
        if times != sorted(times):
            raise ValueError("escalation steps must be in time order")

    @classmethod
    def from_hotline(
        cls,
        hotline: Hotline,
        *,
        handle_time_window: int = DEFAULT_HANDLE_TIME_WINDOW,
        max_resync_buffer: int = DEFAULT_RESYNC_BUFFER,
    ) -> StateConfig:
        """Every line with its partner's ``wrapup_seconds``, and the queue rule's steps."""
        return cls(
            wrapup_seconds={line: partner.wrapup_seconds for line, partner in hotline.lines()},
            escalation=tuple((s.after_seconds, s.max_penalty) for s in hotline.queues.escalation),
            handle_time_window=handle_time_window,
            max_resync_buffer=max_resync_buffer,
        )


# ----------------------------------------------------------------------------- the reducer


class _Member:
    __slots__ = (
        "calls_taken", "dynamic", "in_call", "interface", "last_call", "line", "paused",
        "paused_reason", "penalty", "wrapup",
    )

    def __init__(self, line: str, interface: str) -> None:
        self.line = line
        self.interface = interface
        self.penalty = 0
        self.paused = False
        self.paused_reason = ""
        self.in_call = False
        self.calls_taken = 0
        self.last_call = 0.0
        self.wrapup = -1  # unknown until Asterisk reports it
        self.dynamic = False


class _Caller:
    __slots__ = ("caller_name", "caller_number", "channel", "joined_at", "linkedid", "uniqueid")

    def __init__(
        self, uniqueid: str, linkedid: str | None, number: str, name: str, channel: str, joined_at: float
    ) -> None:
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.caller_number = number
        self.caller_name = name
        self.channel = channel
        self.joined_at = joined_at


class _Queue:
    __slots__ = (
        "abandoned", "callers", "completed", "handle_times", "members", "name", "strategy", "talk_time",
    )

    def __init__(self, name: str, window: int) -> None:
        self.name = name
        self.callers: list[_Caller] = []
        self.members: dict[str, _Member] = {}
        self.handle_times: deque[float] = deque(maxlen=window)
        self.strategy = ""
        self.completed = 0
        self.abandoned = 0
        self.talk_time = 0

    def index_of(self, uniqueid: str) -> int:
        for index, caller in enumerate(self.callers):
            if caller.uniqueid == uniqueid:
                return index
        return -1


class _Line:
    __slots__ = (
        "call_queue", "call_uniqueid", "calls_taken", "device", "in_call_queues", "in_call_since", "interface",
        "last_call", "line", "pause_reason", "paused_in", "paused_since", "queues", "ringing_for",
        "ringing_queue", "ringing_since", "status", "status_since", "wrapup_until",
    )

    def __init__(self, line: str, interface: str) -> None:
        self.line = line
        self.interface = interface
        self.device = DEVICE_UNKNOWN
        self.queues: set[str] = set()
        self.paused_in: set[str] = set()
        self.pause_reason = ""
        self.paused_since: float | None = None
        self.in_call_queues: set[str] = set()  # queues whose member says InCall: 1
        self.call_uniqueid: str | None = None  # AgentConnect .. AgentComplete
        self.call_queue: str | None = None
        self.in_call_since: float | None = None
        self.ringing_for: str | None = None  # AgentCalled .. connect / no answer / caller gone
        self.ringing_queue: str | None = None
        self.ringing_since: float | None = None
        self.wrapup_until: float | None = None
        self.calls_taken = 0
        self.last_call = 0.0
        self.status: LineStatus = "logged_out"
        self.status_since: float | None = None

    def derive(self) -> LineStatus:
        if not self.queues:
            return "logged_out"
        device = self.device
        if device in UNAVAILABLE_DEVICE_STATES:
            return "unavailable"
        if self.call_uniqueid is not None or self.in_call_queues or device in BUSY_DEVICE_STATES:
            return "busy"
        if self.ringing_for is not None or device in RINGING_DEVICE_STATES:
            return "ringing"
        if len(self.paused_in) == len(self.queues):
            return "paused"
        if self.wrapup_until is not None:
            return "wrapup"
        return "available"


def _int(value: str | None, default: int = 0) -> int:
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        return default


def member_line(event: AmiEvent) -> tuple[str, str]:
    """(line, interface) of a member event: member name = line id, else the interface's resource."""
    interface = event.get("Interface") or event.get("Location") or ""
    name = event.get("MemberName") or event.get("Name") or interface.partition("/")[2] or interface
    return name, interface


class LiveState:
    """The reducer: ``apply(event)`` for every AMI event, ``load(seed)`` after every login.

    Not thread-safe; meant to live on the event loop that delivers the events.
    """

    def __init__(self, config: StateConfig | None = None) -> None:
        self.config = config or StateConfig()
        self._handlers: dict[str, Callable[[AmiEvent], None]] = {
            "QueueCallerJoin": self._on_join,
            "QueueCallerLeave": self._on_leave,
            "QueueCallerAbandon": self._on_abandon,
            "AgentCalled": self._on_agent_called,
            "AgentConnect": self._on_agent_connect,
            "AgentComplete": self._on_agent_complete,
            "AgentRingNoAnswer": self._on_ring_ended,
            "AgentDump": self._on_ring_ended,
            "QueueMemberStatus": self._on_member,
            "QueueMemberAdded": self._on_member,
            "QueueMemberPause": self._on_member,
            "QueueMemberPenalty": self._on_member,
            "QueueMemberRinginuse": self._on_member,
            "QueueMemberRemoved": self._on_member_removed,
            "Hangup": self._on_hangup,
            "FullyBooted": self._on_unsynced,
            "Shutdown": self._on_unsynced,
        }
        self._now = 0.0
        self._version = 0
        self._snapshot: LiveSnapshot | None = None
        self._buffer: list[AmiEvent] | None = None
        self._buffer_overflowed = False
        self._loading = False  # a resync's QueueStatus is being loaded: status changes have no known time
        self._replaying = False
        self.synced = False
        self.drift = 0
        self._reset()

    # ------------------------------------------------------------------ public API

    @property
    def now(self) -> float:
        """The newest time seen (event ``Timestamp``, ``expire``, resync)."""
        return self._now

    @property
    def handled_events(self) -> frozenset[str]:
        """The AMI event names this reducer reads (others are ignored at once)."""
        return frozenset(self._handlers)

    def apply(self, event: AmiEvent) -> None:
        """Fold one AMI event into the state; unknown events are ignored."""
        handler = self._handlers.get(event.get("Event", ""))
        if handler is None:
            return
        buffer = self._buffer
        if buffer is not None:
            if len(buffer) < self.config.max_resync_buffer:
                buffer.append(event)
            else:  # too much traffic during one QueueStatus: a partial replay would be wrong
                self._buffer = None
                self._buffer_overflowed = True
        handler(event)
        self._version += 1

    def expire(self, now: float) -> None:
        """Advance time to ``now`` (wall clock, epoch seconds): wrap-ups that ended are over."""
        if now > self._now:
            self._now = now
            if now >= self._next_expiry:
                self._expire_due()

    def begin_resync(self) -> None:
        """From now until ``load`` (or ``abort_resync``), handled events are also kept for replay."""
        self._buffer = []
        self._buffer_overflowed = False

    def abort_resync(self) -> None:
        """The resync failed or was cancelled: stop buffering, keep the state (not synced)."""
        self._buffer = None

    def mark_unsynced(self) -> None:
        """The AMI link is down: the state may be missing events until the next ``load``."""
        self.synced = False
        if self._buffer is not None:
            self._buffer.clear()  # events of a lost link must not be replayed over a later snapshot
        self._version += 1

    def load(self, seed: LiveStateSeed) -> None:
        """Replace the live state with what QueueStatus said, then replay events buffered meanwhile."""
        history = {name: queue.handle_times for name, queue in self._queues.items()}
        # Facts about a channel that do not go stale: QueueEntry has no Linkedid and a Wait in whole seconds.
        known = {(name, c.uniqueid): c for name, queue in self._queues.items() for c in queue.callers}
        buffered, self._buffer = self._buffer, None
        since = {line_id: (line.status, line.status_since) for line_id, line in self._lines.items()}
        self._reset()
        self._loading = True  # a load that fails is followed by another (the adapter resyncs): it clears this
        # More events came during the QueueStatus than the buffer holds: some are lost, so the
        # state is loaded but not synced, and drift says why (the adapter may resync again).
        lost = self._buffer_overflowed
        self._buffer_overflowed = False
        self.drift = 1 if lost else 0
        self.expire(seed.taken_at)
        for params in seed.queues:
            queue = self._queue(params.get("Queue", ""))
            queue.strategy = params.get("Strategy", "")
            queue.completed = _int(params.get("Completed"))
            queue.abandoned = _int(params.get("Abandoned"))
            queue.talk_time = _int(params.get("TalkTime"))
        for member in seed.members:
            self._upsert_member(member.get("Queue", ""), member, seed.taken_at)
        for entry in sorted(seed.entries, key=lambda e: (e.get("Queue", ""), _int(e.get("Position")))):
            queue = self._queue(entry.get("Queue", ""))
            uniqueid = entry.get("Uniqueid", "")
            if not uniqueid or uniqueid in self._caller_queue:
                continue
            joined = seed.taken_at - _int(entry.get("Wait"))
            linkedid = entry.get("Linkedid")
            before = known.get((queue.name, uniqueid))
            if before is not None and abs(before.joined_at - joined) <= _SAME_JOIN_SECONDS:
                joined = before.joined_at
                linkedid = linkedid or before.linkedid
            queue.callers.append(
                _Caller(uniqueid, linkedid, entry.get("CallerIDNum", ""),
                        entry.get("CallerIDName", ""), entry.get("Channel", ""), joined)
            )
            self._caller_queue[uniqueid] = queue.name
        for name, times in history.items():
            if name in self._queues:
                self._queues[name].handle_times.extend(times)
        self._loading = False
        for line_id, line in self._lines.items():  # a line the resync found in the same status keeps its time
            status, at = since.get(line_id, (None, None))
            if line.status_since is None and status == line.status:
                line.status_since = at
        if buffered:
            self._replaying = True
            try:
                for event in buffered:
                    self.apply(event)
            finally:
                self._replaying = False
        self.synced = not lost
        self._version += 1

    def snapshot(self) -> LiveSnapshot:
        """An immutable view of the state now (cached until the next change)."""
        if self._snapshot is not None and self._snapshot.version == self._version:
            return self._snapshot
        lines = {line_id: self._line_state(line) for line_id, line in self._lines.items()}
        queues = {name: self._queue_view(queue) for name, queue in self._queues.items()}
        self._snapshot = LiveSnapshot(
            queues=MappingProxyType(queues),
            lines=MappingProxyType(lines),
            now=self._now,
            synced=self.synced,
            version=self._version,
            drift=self.drift,
            escalation=self.config.escalation,
        )
        return self._snapshot

    def outlook(self, queue: str) -> QueueOutlook | None:
        """``queue_outlook(self.snapshot(), queue)`` without building every other queue's view.

        The IVR asks once per call, and a full snapshot after a change is every queue's member
        views (58 queues x 36 lines: about 10 ms, issue 15); this one builds ``queue``'s view, the
        lines, and the other queues' views only when ``queue`` has no handle times of its own
        (``LiveSnapshot.expected_wait`` then falls back to theirs, in the same order).
        """
        if self._snapshot is not None and self._snapshot.version == self._version:
            return queue_outlook(self._snapshot, queue)
        wanted = self._queues.get(queue)
        if wanted is None or not self.synced:
            return None
        fallback = not wanted.handle_times
        views = {name: self._queue_view(q) for name, q in self._queues.items()
                 if name == queue or (fallback and q.handle_times)}
        partial = LiveSnapshot(
            queues=MappingProxyType(views),
            lines=MappingProxyType({line_id: self._line_state(line) for line_id, line in self._lines.items()}),
            now=self._now,
            synced=self.synced,
            version=self._version,
            drift=self.drift,
            escalation=self.config.escalation,
        )
        return queue_outlook(partial, queue)

    def size(self) -> dict[str, int]:
        """How many things the state holds, by kind (for tests and metrics: all bounded)."""
        return {
            "queues": len(self._queues),
            "lines": len(self._lines),
            "members": sum(len(q.members) for q in self._queues.values()),
            "callers": sum(len(q.callers) for q in self._queues.values()),
            "caller_index": len(self._caller_queue),
            "ringing_index": sum(len(v) for v in self._ringing.values()),
            "handle_times": sum(len(q.handle_times) for q in self._queues.values()),
            "resync_buffer": len(self._buffer or ()),
        }

    # ------------------------------------------------------------------ internals

    def _reset(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._lines: dict[str, _Line] = {}
        self._caller_queue: dict[str, str] = {}  # uniqueid -> queue, for callers waiting now
        self._ringing: dict[str, set[str]] = {}  # caller uniqueid -> lines ringing for it now
        self._next_expiry = _NO_EXPIRY
        for line_id in self.config.wrapup_seconds:
            self._lines[line_id] = _Line(line_id, f"PJSIP/{line_id}")

    def _time(self, event: AmiEvent) -> float:
        raw = event.get("Timestamp")
        if raw:
            try:
                stamp = float(raw)
            except ValueError:
                return self._now
            if stamp > self._now:
                self._now = stamp
                if stamp >= self._next_expiry:
                    self._expire_due()
            return stamp
        return self._now

    def _expire_due(self) -> None:
        now = self._now
        soonest = _NO_EXPIRY
        for line in self._lines.values():
            until = line.wrapup_until
            if until is None:
                continue
            if until <= now:
                line.wrapup_until = None
                self._settle(line, until)
            elif until < soonest:
                soonest = until
        self._next_expiry = soonest
        self._version += 1

    def _settle(self, line: _Line, at: float | None = None) -> None:
        """Derive the line's status; a change is stamped with the event's time (``at``: a wrap-up's end)."""
        status = line.derive()
        if status != line.status:
            line.status = status
            line.status_since = None if self._loading else (self._now if at is None else at)

    def _set_wrapup(self, line: _Line, until: float) -> None:
        if until <= self._now:
            return
        if line.wrapup_until is None or until > line.wrapup_until:
            line.wrapup_until = until
        if until < self._next_expiry:
            self._next_expiry = until

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = _Queue(name, self.config.handle_time_window)
        return queue

    def _line(self, line_id: str, interface: str = "") -> _Line:
        line = self._lines.get(line_id)
        if line is None:
            line = self._lines[line_id] = _Line(line_id, interface or f"PJSIP/{line_id}")
        elif interface:
            line.interface = interface
        return line

    def _drift(self) -> None:
        if not self._replaying:
            self.drift += 1

    # callers ------------------------------------------------------------

    def _on_join(self, event: AmiEvent) -> None:
        stamp = self._time(event)
        uniqueid = event.get("Uniqueid", "")
        name = event.get("Queue", "")
        queue = self._queue(name)
        previous = self._caller_queue.get(uniqueid)
        if previous == name:
            return  # replayed after a resync that already lists this caller
        if previous is not None:
            self._remove_caller(previous, uniqueid)
        caller = _Caller(uniqueid, event.get("Linkedid"), event.get("CallerIDNum", ""),
                         event.get("CallerIDName", ""), event.get("Channel", ""), stamp)
        position = _int(event.get("Position"), len(queue.callers) + 1)
        queue.callers.insert(max(0, min(position - 1, len(queue.callers))), caller)
        self._caller_queue[uniqueid] = name
        if _int(event.get("Count"), -1) not in (-1, len(queue.callers)):
            self._drift()

    def _remove_caller(self, name: str, uniqueid: str) -> bool:
        queue = self._queues.get(name)
        self._caller_queue.pop(uniqueid, None)
        if queue is None:
            return False
        index = queue.index_of(uniqueid)
        if index < 0:
            return False
        del queue.callers[index]
        return True

    def _caller_gone(self, event: AmiEvent) -> _Queue | None:
        self._time(event)
        uniqueid = event.get("Uniqueid", "")
        name = event.get("Queue", "")
        removed = self._remove_caller(name, uniqueid)
        self._stop_ringing_for(uniqueid)
        queue = self._queues.get(name)
        if queue is not None and removed and _int(event.get("Count"), -1) not in (-1, len(queue.callers)):
            self._drift()
        return queue if removed else None

    def _on_leave(self, event: AmiEvent) -> None:
        self._caller_gone(event)

    def _on_abandon(self, event: AmiEvent) -> None:
        queue = self._caller_gone(event)
        if queue is not None:
            queue.abandoned += 1

    def _on_hangup(self, event: AmiEvent) -> None:
        self._time(event)
        uniqueid = event.get("Uniqueid", "")
        name = self._caller_queue.get(uniqueid)
        if name is not None:  # its QueueCallerLeave never came
            self._remove_caller(name, uniqueid)
            self._drift()
        if uniqueid in self._ringing:
            self._stop_ringing_for(uniqueid)

    # agents -------------------------------------------------------------

    def _stop_ringing_for(self, uniqueid: str) -> None:
        lines = self._ringing.pop(uniqueid, None)
        if not lines:
            return
        for line_id in lines:
            line = self._lines.get(line_id)
            if line is not None and line.ringing_for == uniqueid:
                line.ringing_for = line.ringing_queue = line.ringing_since = None
                self._settle(line)

    def _clear_ringing(self, line: _Line) -> None:
        uniqueid = line.ringing_for
        if uniqueid is None:
            return
        ringing = self._ringing.get(uniqueid)
        if ringing is not None:
            ringing.discard(line.line)
            if not ringing:
                del self._ringing[uniqueid]
        line.ringing_for = line.ringing_queue = line.ringing_since = None

    def _agent_line(self, event: AmiEvent) -> _Line:
        line_id, interface = member_line(event)
        return self._line(line_id, interface)

    def _on_agent_called(self, event: AmiEvent) -> None:
        stamp = self._time(event)
        line = self._agent_line(event)
        self._clear_ringing(line)
        uniqueid = event.get("Uniqueid", "")
        line.ringing_for = uniqueid
        line.ringing_queue = event.get("Queue")
        line.ringing_since = stamp
        self._ringing.setdefault(uniqueid, set()).add(line.line)
        if not line.queues:
            self._drift()
        self._settle(line)

    def _on_ring_ended(self, event: AmiEvent) -> None:
        self._time(event)
        line = self._agent_line(event)
        if line.ringing_for == event.get("Uniqueid", ""):
            self._clear_ringing(line)
            self._settle(line)

    def _on_agent_connect(self, event: AmiEvent) -> None:
        stamp = self._time(event)
        line = self._agent_line(event)
        self._clear_ringing(line)
        line.call_uniqueid = event.get("Uniqueid", "")
        line.call_queue = event.get("Queue")
        line.in_call_since = stamp
        line.wrapup_until = None
        self._settle(line)

    def _on_agent_complete(self, event: AmiEvent) -> None:
        stamp = self._time(event)
        line = self._agent_line(event)
        name = event.get("Queue", "")
        queue = self._queue(name)
        member = queue.members.get(line.line)
        wrapup = member.wrapup if member is not None and member.wrapup >= 0 else -1
        if wrapup < 0:
            wrapup = self.config.wrapup_seconds.get(line.line, 0)
        queue.handle_times.append(float(_int(event.get("TalkTime")) + wrapup))
        queue.completed += 1
        if line.call_uniqueid == event.get("Uniqueid", ""):
            line.call_uniqueid = line.call_queue = line.in_call_since = None
        if wrapup > 0:
            self._set_wrapup(line, stamp + wrapup)
        self._settle(line)

    # members ------------------------------------------------------------

    def _on_member(self, event: AmiEvent) -> None:
        stamp = self._time(event)
        self._upsert_member(event.get("Queue", ""), event, stamp)

    def _upsert_member(self, name: str, event: AmiEvent, stamp: float) -> None:
        line_id, interface = member_line(event)
        queue = self._queue(name)
        member = queue.members.get(line_id)
        if member is None:
            member = queue.members[line_id] = _Member(line_id, interface)
        line = self._line(line_id, interface)
        member.interface = interface or member.interface
        member.penalty = _int(event.get("Penalty"), member.penalty)
        member.dynamic = event.get("Membership") == "dynamic"
        member.wrapup = _int(event.get("Wrapuptime"), member.wrapup)
        member.calls_taken = _int(event.get("CallsTaken"), member.calls_taken)
        if member.calls_taken > line.calls_taken:
            line.calls_taken = member.calls_taken
        last_call = float(_int(event.get("LastCall")))
        member.last_call = last_call
        if last_call > line.last_call:
            line.last_call = last_call
        paused = event.get("Paused") == "1"
        reason = event.get("PausedReason", "") if paused else ""
        line.queues.add(name)
        if paused:
            if name not in line.paused_in or reason != member.paused_reason:
                line.pause_reason = reason  # a new pause, or its reason changed (not a device update)
            line.paused_in.add(name)
            last_pause = float(_int(event.get("LastPause")))
            line.paused_since = last_pause or line.paused_since or stamp
        else:
            line.paused_in.discard(name)
            if not line.paused_in:
                line.pause_reason = ""
                line.paused_since = None
        member.paused = paused
        member.paused_reason = reason
        member.in_call = event.get("InCall") == "1"
        if member.in_call:
            line.in_call_queues.add(name)
        else:
            line.in_call_queues.discard(name)
        device = _int(event.get("Status"), line.device)
        if line.device in RINGING_DEVICE_STATES and device == DEVICE_NOT_INUSE and line.ringing_for is not None:
            self._clear_ringing(line)  # the ring was cancelled without an event of its own
        line.device = device
        if last_call > 0 and member.wrapup > 0:
            self._set_wrapup(line, last_call + member.wrapup)
        self._settle(line)

    def _on_member_removed(self, event: AmiEvent) -> None:
        self._time(event)
        line_id, _interface = member_line(event)
        name = event.get("Queue", "")
        queue = self._queues.get(name)
        if queue is not None:
            queue.members.pop(line_id, None)
        line = self._lines.get(line_id)
        if line is None:
            return
        line.queues.discard(name)
        line.paused_in.discard(name)
        line.in_call_queues.discard(name)
        if not line.paused_in:
            line.pause_reason = ""
            line.paused_since = None
        if not line.queues and line_id not in self.config.wrapup_seconds:
            self._clear_ringing(line)
            del self._lines[line_id]  # a dynamic guest gone: nothing kept
            return
        self._settle(line)

    def _on_unsynced(self, event: AmiEvent) -> None:
        self._time(event)
        self.synced = False

    # snapshots ----------------------------------------------------------

    def _line_state(self, line: _Line) -> LineState:
        busy = line.call_uniqueid is not None
        return LineState(
            line=line.line,
            status=line.status,
            interface=line.interface,
            device_state=line.device,
            queues=tuple(sorted(line.queues)),
            paused_queues=tuple(sorted(line.paused_in)),
            paused_reason=line.pause_reason if line.paused_in else "",
            paused_since=line.paused_since if line.paused_in else None,
            call_queue=line.call_queue if busy else line.ringing_queue,
            caller_uniqueid=line.call_uniqueid if busy else line.ringing_for,
            ringing_since=line.ringing_since,
            in_call_since=line.in_call_since,
            wrapup_until=line.wrapup_until,
            calls_taken=line.calls_taken,
            last_call=line.last_call or None,
            status_since=line.status_since,
        )

    @staticmethod
    def _queue_view(queue: _Queue) -> QueueView:
        callers = tuple(
            QueueCaller(c.uniqueid, c.linkedid, c.caller_number, position, c.joined_at, c.caller_name, c.channel)
            for position, c in enumerate(queue.callers, start=1)
        )
        members = {
            line_id: QueueMember(
                line=m.line, interface=m.interface, penalty=m.penalty, paused=m.paused,
                paused_reason=m.paused_reason, in_call=m.in_call, calls_taken=m.calls_taken,
                last_call=m.last_call or None, wrapup_seconds=max(m.wrapup, 0), dynamic=m.dynamic,
            )
            for line_id, m in queue.members.items()
        }
        return QueueView(
            name=queue.name,
            callers=callers,
            members=MappingProxyType(members),
            recent_handle_times=tuple(queue.handle_times),
            strategy=queue.strategy,
            completed=queue.completed,
            abandoned=queue.abandoned,
            asterisk_talk_time=queue.talk_time,
        )


# ----------------------------------------------------------------------------- from QueueStatus


def state_from_queue_status(
    replies: Iterable[AmiEvent], *, taken_at: float, config: StateConfig | None = None
) -> LiveState:
    """A fresh reducer holding what one QueueStatus reply said (``taken_at``: when it was asked)."""
    state = LiveState(config)
    state.load(seed_from_queue_status(replies, taken_at=taken_at))
    return state
