"""Promised callbacks: the state machine of one callback, when it is due, how many may be dialled,
and what a try's AMI events say. Pure: no clock, no I/O; the dialer (``aiguilleur.callbacks``)
passes ``now``, the live snapshot and the events in, and stores what comes out.

The rules
---------
- A callback is **advisor first**: a try waits in the caller's ranking queue (the profile the
  caller gave in the IVR), and only once an advisor answered does Asterisk dial the caller.
- States: ``pending`` (due at ``next_try_at``) -> ``dialling`` (claimed and placed) ->
  ``connected`` (the caller answered) -> ``done`` (that call ended). A try whose caller does
  not answer (``no_answer``, ``busy``, ``unavailable``, or the advisor hung up while it rang,
  ``advisor_hangup``, or a try whose result was lost with its service, ``lost``) counts:
  the callback goes to ``no_answer`` and is due again ``spacing_seconds`` later, until
  ``max_tries`` tries, then ``failed`` with the reason. A try that found no advisor
  (``no_advisor``) does not count against the caller: ``pending`` again, ``spacing_seconds``
  later. ``cancelled`` (by the caller calling in again, or an operator) ends it.
- Due only while the line is open (``ivr.hours``): a due time in closed hours moves to the
  next opening.
- Pacing: a callback is dialled only when a line of its queue is free (logged in, not paused,
  available) at the best tier present (``decision.max_penalty``), and each free line is
  counted once, for the tries already waiting for an advisor first: never more tries waiting
  than free advisors.
- **Queued callback (keep my place)**: a caller offered a callback for a long expected wait
  who takes it (reason ``queued``) hangs up but keeps their place. Its first try is not paced:
  it is placed at once in the queue the caller would have joined, with their priority and
  starting tier, at their place (``place_in_queue``: right behind the callers who were ahead
  of them when they accepted and still wait; app_queue keeps higher priorities ahead), and
  waits as long as an inbound caller may (``queues.max_wait_seconds``): a virtual caller
  like the others. When an advisor answers it, the caller is dialled as for any callback.
  If it is not answered in time, or the caller does not pick up, the ordinary rules take
  over (retried after the spacing, paced, in the ranking queue of the stored profile).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from config.models import CallbackPolicy, OpeningHours
from ivr.hours import state_at
from queues.snapshot import LiveSnapshot
from routing.router import CallerProfile

CallbackStatus = Literal["pending", "dialling", "connected", "done", "no_answer", "failed", "cancelled"]
TryResult = Literal["answered", "no_answer", "busy", "unavailable", "advisor_hangup", "no_advisor", "lost"]

DUE_STATUSES: Final = ("pending", "no_answer")  # may be claimed once next_try_at has come
IN_FLIGHT_STATUSES: Final = ("dialling", "connected")  # a try is placed (claimed by a service)
FINAL_STATUSES: Final = ("done", "failed", "cancelled")
RETRYABLE_STATUSES: Final = ("failed", "cancelled", "no_answer", "pending")  # an operator's retry

# Tries that count against the caller (the callback was offered to them, or may have been).
CALLER_RESULTS: Final = frozenset({"no_answer", "busy", "unavailable", "advisor_hangup", "lost"})

# Asterisk's DIALSTATUS of the caller leg -> the try's result.
_DIAL_RESULTS: Final[Mapping[str, TryResult]] = {
    "ANSWER": "answered", "NOANSWER": "no_answer", "BUSY": "busy", "CONGESTION": "unavailable",
    "CHANUNAVAIL": "unavailable", "CANCEL": "advisor_hangup", "DONTCALL": "unavailable",
    "TORTURE": "unavailable", "INVALIDARGS": "unavailable",
}

# What may be dialled back: digits, an optional leading +. Caller ID is untrusted; anything
# else is never put into a dial string.
DIALLABLE: Final = re.compile(r"^\+?[0-9]{3,20}$")
TRY_PREFIX: Final = "cb-"
QUEUED: Final = "queued"  # the reason of a callback that keeps the caller's place in the queue


class CallbackError(ValueError):
    """A transition the state machine refuses (code: ``callback.<what>``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Callback:
    """One promised callback, keyed by the original call's linkedid."""

    id: str
    caller_number: str
    status: CallbackStatus
    tries: int
    next_try_at: dt.datetime | None
    need: str | None = None
    sector: str | None = None
    size: str | None = None
    departement: str | None = None
    reason: str | None = None  # why it was promised: closed | queued (long wait, keeps the place) | nobody_logged_in
    last_result: str | None = None
    outcome: str | None = None
    try_channel: str | None = None  # the uniqueid (ChannelId) of the latest try's originated channel
    kind: str = "callback"  # callback | followup (queues.followup)
    origin: str | None = None  # the inbound call whose IVR answers travel with it
    partner: str | None = None  # set: offered to that partner's queue, not the profile's ranking
    followup_outcome: str | None = None  # what the advisor recorded after a follow-up
    # A queued callback (reason ``queued``): the queue the caller would have joined, their
    # priority and starting tier there, and the callers (uniqueids) ahead of them when they accepted.
    queue: str | None = None
    queue_priority: int = 0
    queue_max_penalty: int = 0
    ahead: tuple[str, ...] = ()

    def profile(self) -> CallerProfile:
        """The profile the caller gave in the IVR: the same routing as their inbound call."""
        return CallerProfile(self.caller_number, need=self.need, sector=self.sector, size=self.size,
                             departement=self.departement, ivr_exit="callback")


# ----------------------------------------------------------------------------- time


def due_time(hours: OpeningHours, at: dt.datetime) -> dt.datetime | None:
    """``at`` if the line is open then, else its next opening (None: no opening within 14 days)."""
    state = state_at(hours, at)
    return at if state.open else state.next_opening


def is_due(callback: Callback, now: dt.datetime, hours: OpeningHours) -> bool:
    """May be claimed now: a due status, its time has come, and the line is open."""
    return (callback.status in DUE_STATUSES and callback.next_try_at is not None
            and callback.next_try_at <= now and state_at(hours, now).open)


# ----------------------------------------------------------------------------- transitions


@dataclass(frozen=True)
class Claim:
    """A service took the callback and places a try (``try_channel``: its originated channel)."""

    now: dt.datetime
    try_channel: str


@dataclass(frozen=True)
class CallerAnswered:
    """The caller picked up after an advisor had answered."""


@dataclass(frozen=True)
class TryEnded:
    result: TryResult
    now: dt.datetime


@dataclass(frozen=True)
class Cancel:
    reason: str = "cancelled"


@dataclass(frozen=True)
class Retry:
    """An operator asks for a new round of tries, due at once (or at the next opening)."""

    now: dt.datetime


CallbackEvent = Claim | CallerAnswered | TryEnded | Cancel | Retry


def transition(callback: Callback, event: CallbackEvent, policy: CallbackPolicy,
               hours: OpeningHours) -> Callback:
    """The callback after ``event``; ``CallbackError`` when the event is not allowed in its state."""
    status = callback.status
    replace = dataclasses.replace
    if isinstance(event, Claim):
        if not is_due(callback, event.now, hours):
            raise CallbackError("callback.not_due", f"callback {callback.id} is {status}, not due")
        return replace(callback, status="dialling", try_channel=event.try_channel)
    if isinstance(event, CallerAnswered):
        if status != "dialling":
            raise CallbackError("callback.not_dialling", f"callback {callback.id} is {status}")
        return replace(callback, status="connected", last_result="answered")
    if isinstance(event, TryEnded):
        return _after_try(callback, event, policy, hours)
    if isinstance(event, Cancel):
        if status not in DUE_STATUSES:
            raise CallbackError("callback.not_cancellable", f"callback {callback.id} is {status}")
        return replace(callback, status="cancelled", outcome=event.reason)
    if status not in RETRYABLE_STATUSES:
        raise CallbackError("callback.not_retryable", f"callback {callback.id} is {status}")
    return replace(callback, status="pending", tries=0, outcome=None,
                   next_try_at=due_time(hours, event.now))


def _after_try(callback: Callback, event: TryEnded, policy: CallbackPolicy,
               hours: OpeningHours) -> Callback:
    replace = dataclasses.replace
    if callback.status not in IN_FLIGHT_STATUSES:
        raise CallbackError("callback.no_try", f"callback {callback.id} is {callback.status}: no try to end")
    if callback.status == "connected" or event.result == "answered":
        return replace(callback, status="done", tries=callback.tries + 1, last_result="answered",
                       outcome="answered", next_try_at=None)
    later = due_time(hours, event.now + dt.timedelta(seconds=policy.spacing_seconds))
    if event.result == "no_advisor":  # not the caller's fault: does not count
        return replace(callback, status="pending", last_result="no_advisor", next_try_at=later)
    tries = callback.tries + 1
    if tries >= policy.max_tries:
        return replace(callback, status="failed", tries=tries, last_result=event.result,
                       outcome=f"{event.result} after {tries} tries", next_try_at=None)
    return replace(callback, status="no_answer", tries=tries, last_result=event.result, next_try_at=later)


# ----------------------------------------------------------------------------- pacing


def free_lines(snapshot: LiveSnapshot, queue: str, max_penalty: int) -> frozenset[str]:
    """Lines of ``queue`` that could take a callback now: logged in, not paused, available, and at a
    penalty the try would ring at once (``max_penalty``: the best tier present)."""
    view = snapshot.queues.get(queue)
    if view is None or not snapshot.synced:
        return frozenset()
    return frozenset(
        line for line, member in view.members.items()
        if not member.paused and member.penalty <= max_penalty
        and (state := snapshot.lines.get(line)) is not None and state.status == "available"
    )


@dataclass(frozen=True)
class Candidate:
    """A due callback, the queue the router chose for its profile, and the lines free there."""

    callback_id: str
    queue: str
    free: frozenset[str]


def plan_dials(candidates: Sequence[Candidate], waiting: Iterable[Candidate]) -> list[str]:
    """Which due callbacks to dial now, in the order given (oldest due first).

    ``waiting``: tries already placed and not yet answered by an advisor. Each free line is
    counted once across queues (every line is in every queue): a waiting try holds one free
    line of its queue first, then each candidate needs one of its own.
    """
    held: set[str] = set()
    for entry in waiting:
        spare = sorted(entry.free - held)
        if spare:
            held.add(spare[0])
    chosen: list[str] = []
    for candidate in candidates:
        spare = sorted(candidate.free - held)
        if spare:
            held.add(spare[0])
            chosen.append(candidate.callback_id)
    return chosen


# ----------------------------------------------------------------------------- keeping the place


def keeps_place(callback: Callback) -> bool:
    """A queued callback whose first try is still to place: at once, at the caller's place, not paced.
    After a try (no advisor in time, no answer) it is an ordinary callback."""
    return (callback.reason == QUEUED and callback.queue is not None and callback.tries == 0
            and callback.last_result is None and callback.status == "pending")


def place_in_queue(ahead: Sequence[str], waiting: Sequence[str] | None) -> int:
    """The position (1 = next served) to enter a queued callback at: right behind the last caller
    still waiting (``waiting``: uniqueids in queue order, now) who was ahead of the caller when they
    accepted (``ahead``). Callers who joined since stay behind it; app_queue never places it ahead
    of a higher priority. ``waiting`` unknown (the live state is not synced): the position it held
    when accepted, which never puts it ahead of anyone who was ahead of it."""
    if waiting is None:
        return len(ahead) + 1
    before = set(ahead)
    last = max((index for index, uniqueid in enumerate(waiting, start=1) if uniqueid in before), default=0)
    return last + 1


# ----------------------------------------------------------------------------- try tracking


def try_channel_id(callback_id: str, attempt: int) -> str:
    """The uniqueid given to a try's originated channel (AMI Originate ``ChannelId``): it becomes
    the try's linkedid, so every event of the try names it, and Asterisk refuses a second
    channel with the same id while the first lives."""
    return f"{TRY_PREFIX}{callback_id}-{attempt}"


def callback_of_try(channel_or_linkedid: str) -> str | None:
    """The callback id of a try's channel (``cb-<id>-<n>``, or its Local ``;2`` half), else None."""
    if not channel_or_linkedid.startswith(TRY_PREFIX):
        return None
    base = channel_or_linkedid.removeprefix(TRY_PREFIX).split(";", 1)[0]
    callback_id, _, attempt = base.rpartition("-")
    return callback_id if callback_id and attempt.isdigit() else None


@dataclass
class _Try:
    callback_id: str
    advisor: bool = False  # an advisor answered (AgentConnect)
    dial_status: str | None = None  # DIALSTATUS of the caller leg (DialEnd)


@dataclass(frozen=True)
class TryUpdate:
    """What the events of a try said: the caller answered, or the try is over with a result."""

    callback_id: str
    try_channel: str
    answered: bool = False
    result: TryResult | None = None


@dataclass
class TryTracker:
    """Feed AMI events; returns what they say about the tries being followed.

    A try is the originated Local channel's ``;1`` half (uniqueid = ``try_channel``, the
    linkedid of every leg): AgentConnect on its linkedid = an advisor answered; DialEnd of
    its trunk leg = the caller's DIALSTATUS; the Hangup of ``try_channel`` ends the try
    (an Originate that no advisor answered in time hangs it up too: ``no_advisor``).
    """

    trunk_prefix: str = "PJSIP/pstn"
    tries: dict[str, _Try] = field(default_factory=dict)

    def follow(self, try_channel: str, callback_id: str, *, advisor: bool = False,
               caller_answered: bool = False) -> None:
        self.tries[try_channel] = _Try(callback_id, advisor=advisor or caller_answered,
                                       dial_status="ANSWER" if caller_answered else None)

    def forget(self, try_channel: str) -> None:
        self.tries.pop(try_channel, None)

    def waiting_for_advisor(self) -> list[str]:
        """Callback ids of the tries placed that no advisor answered yet."""
        return [t.callback_id for t in self.tries.values() if not t.advisor]

    def feed(self, event: Mapping[str, str]) -> list[TryUpdate]:
        name = event.get("Event", "")
        linkedid = event.get("Linkedid", "")
        if name == "Hangup" and event.get("Uniqueid", "") in self.tries:
            channel = event["Uniqueid"]
            ended = self.tries.pop(channel)
            return [TryUpdate(ended.callback_id, channel, result=try_result(ended.advisor, ended.dial_status))]
        current = self.tries.get(linkedid)
        if current is None:
            return []
        if name == "AgentConnect":
            current.advisor = True
        elif name == "DialEnd" and event.get("DestChannel", "").startswith(self.trunk_prefix + "-"):
            current.dial_status = event.get("DialStatus", "")
            if current.dial_status == "ANSWER":
                return [TryUpdate(current.callback_id, linkedid, answered=True)]
        return []


def try_result(advisor: bool, dial_status: str | None) -> TryResult:
    """A finished try's result from what was seen: an advisor answered, the caller leg's DIALSTATUS."""
    if dial_status is not None:
        return _DIAL_RESULTS.get(dial_status, "unavailable")
    return "advisor_hangup" if advisor else "no_advisor"
