"""The J+8 follow-up: when it is due, who places it, what the advisor records. Pure: no clock,
no I/O; the dialer (``aiguilleur.callbacks``) passes the answered calls and ``now`` in.

The rules
---------
- Every **answered inbound** call gets one follow-up (id ``fu-<linkedid>``), due
  ``interval_days`` after the call's local day: counted in working days (days the line opens:
  not a weekend with no hours, not a public holiday, not closed by a closure) or calendar days,
  at the first moment of ``followups.hours`` (intersected with the opening hours) on or after
  that day.
- It is a row of ``callbacks`` (kind ``followup``) placed by the same dialer, with the same tries
  and spacing (``queues.callback``), but only within the follow-up hours, and offered to one
  partner's queue (``partner-<id>``): the partner that answered the call
  (``caller: same_partner``), or the follow-up team (``caller: team``).
- Rows are made by a sweep over ``cdr`` (``plan_followups``), not when the record is written:
  the sweep is idempotent (the id is derived from the call), so records written late (CDR
  recovery after an outage) or a service restart lose nothing and make nothing twice.
- The advisor records one outcome code (``FOLLOWUP_OUTCOMES``) once the caller was reached
  (``connected`` or ``done``). ``needs_more_help`` makes a new callback request
  (``mh-<linkedid>``, kind ``callback``) with the caller's stored profile: routed by its
  ranking like any callback, due at once (or at the next opening).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo

from config.models import FOLLOWUP_OUTCOMES, WEEKDAYS, FollowupPolicy, Hotline, OpeningHours, TimeRange
from ivr.hours import state_at
from queues.callback import DIALLABLE, Callback, CallbackError, due_time
from routing.router import PARTNER_QUEUE_PREFIX

FOLLOWUP_PREFIX: Final = "fu-"
MORE_HELP_PREFIX: Final = "mh-"
MORE_HELP_REASON: Final = "followup_needs_more_help"
OUTCOME_STATUSES: Final = ("connected", "done")  # the caller was reached: an outcome may be recorded


def followup_id(linkedid: str) -> str:
    return FOLLOWUP_PREFIX + linkedid


def more_help_id(origin: str) -> str:
    return MORE_HELP_PREFIX + origin


# ----------------------------------------------------------------------------- hours


def _intersect(a: Sequence[TimeRange], b: Sequence[TimeRange]) -> list[TimeRange]:
    out = []
    for x in a:
        for y in b:
            start, end = max(x.open, y.open), min(x.close, y.close)
            if start < end:
                out.append(TimeRange(open=start, close=end))
    return sorted(out, key=lambda r: r.open)


def allowed_hours(hours: OpeningHours, policy: FollowupPolicy) -> OpeningHours:
    """When follow-ups may be placed: ``policy.hours`` within each open day's opening hours
    (same holidays, closures and time zone)."""
    week = {day: _intersect(ranges, policy.hours) for day, ranges in hours.week.items()}
    return hours.model_copy(update={"week": week})


def hours_for(callback: Callback, hotline: Hotline) -> OpeningHours:
    """The hours a callback may be placed in: the follow-up hours for a follow-up."""
    if callback.kind == "followup":
        return allowed_hours(hotline.hours, hotline.followups)
    return hotline.hours


def is_working_day(hours: OpeningHours, day: dt.date) -> bool:
    """The line opens that day (at the start of one of its ranges: no holiday, no closure then)."""
    tz = ZoneInfo(hours.timezone)
    return any(state_at(hours, dt.datetime.combine(day, r.open, tzinfo=tz)).open
               for r in hours.week.get(WEEKDAYS[day.weekday()], []))


def due_day(call_day: dt.date, policy: FollowupPolicy, hours: OpeningHours) -> dt.date:
    """The local day the follow-up is due: ``interval_days`` working or calendar days later."""
    if policy.day_kind == "calendar":
        return call_day + dt.timedelta(days=policy.interval_days)
    day, counted = call_day, 0
    for _ in range(policy.interval_days * 7 + 30):  # bounded: a line closed for weeks
        day += dt.timedelta(days=1)
        if is_working_day(hours, day):
            counted += 1
            if counted == policy.interval_days:
                return day
    return day


def followup_due_at(call_start: dt.datetime, policy: FollowupPolicy, hours: OpeningHours) -> dt.datetime | None:
    """The first moment of the follow-up hours on or after the due day (None: none in 14 days)."""
    tz = ZoneInfo(hours.timezone)
    day = due_day(call_start.astimezone(tz).date(), policy, hours)
    return due_time(allowed_hours(hours, policy), dt.datetime.combine(day, dt.time(0), tzinfo=tz))


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class AnsweredCall:
    """An answered inbound call record (``cdr``) with no follow-up yet."""

    linkedid: str
    start: dt.datetime
    caller_number: str
    partner: str | None
    need: str | None = None
    sector: str | None = None
    size: str | None = None
    departement: str | None = None


@dataclass(frozen=True)
class FollowupRequest:
    """A follow-up (or a new callback after one) to store as a ``callbacks`` row."""

    id: str
    origin: str
    caller_number: str
    kind: str
    reason: str
    partner: str | None
    due_at: dt.datetime
    need: str | None = None
    sector: str | None = None
    size: str | None = None
    departement: str | None = None


def who_calls(policy: FollowupPolicy, answered_by: str | None) -> str | None:
    """The partner whose queue places the follow-up (None: nobody known, no follow-up)."""
    return policy.team if policy.caller == "team" else answered_by


def plan_followups(calls: Iterable[AnsweredCall], policy: FollowupPolicy,
                   hours: OpeningHours) -> list[FollowupRequest]:
    """The follow-ups the answered calls make (none for an undiallable number or no partner)."""
    out = []
    for call in calls:
        partner = who_calls(policy, call.partner)
        if not DIALLABLE.fullmatch(call.caller_number) or partner is None:
            continue
        due = followup_due_at(call.start, policy, hours)
        if due is None:
            continue
        out.append(FollowupRequest(
            followup_id(call.linkedid), call.linkedid, call.caller_number, "followup", "followup", partner, due,
            need=call.need, sector=call.sector, size=call.size, departement=call.departement))
    return out


# ----------------------------------------------------------------------------- outcome


def record_outcome(callback: Callback, code: str, hours: OpeningHours,
                   now: dt.datetime) -> tuple[Callback, FollowupRequest | None]:
    """The follow-up with its outcome, and the new callback request ``needs_more_help`` makes.

    ``CallbackError``: not a follow-up, the caller was not reached, an unknown code, or an
    outcome already recorded (a second one would hide the first)."""
    if callback.kind != "followup":
        raise CallbackError("followup.not_a_followup", f"{callback.id} is a callback, not a follow-up")
    if code not in FOLLOWUP_OUTCOMES:
        raise CallbackError("followup.unknown_outcome", f"unknown outcome {code!r}; known: {list(FOLLOWUP_OUTCOMES)}")
    if callback.status not in OUTCOME_STATUSES:
        raise CallbackError("followup.not_reached",
                            f"follow-up {callback.id} is {callback.status}: the caller was not reached")
    if callback.followup_outcome is not None:
        raise CallbackError("followup.already_recorded",
                            f"follow-up {callback.id} already has the outcome {callback.followup_outcome}")
    after = dataclasses.replace(callback, followup_outcome=code)
    if code != "needs_more_help":
        return after, None
    origin = callback.origin or callback.id.removeprefix(FOLLOWUP_PREFIX)
    due = due_time(hours, now) or now
    return after, FollowupRequest(
        more_help_id(origin), origin, callback.caller_number, "callback", MORE_HELP_REASON, None, due,
        need=callback.need, sector=callback.sector, size=callback.size, departement=callback.departement)


def partner_queue(partner: str) -> str:
    return PARTNER_QUEUE_PREFIX + partner
