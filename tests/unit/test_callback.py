"""The callback core (``queues.callback``): states, due times in opening hours, pacing, try tracking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pytest

from config.models import CallbackPolicy, Hotline
from queues.callback import (
    Callback,
    CallbackError,
    CallerAnswered,
    Cancel,
    Candidate,
    Claim,
    Retry,
    TryEnded,
    TryTracker,
    due_time,
    free_lines,
    is_due,
    plan_dials,
    transition,
    try_channel_id,
    try_result,
)
from queues.snapshot import LiveSnapshot, QueueMember, QueueView
from tests.unit.test_queue_state import line_state

PARIS = dt.timezone(dt.timedelta(hours=1))
MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)
SUNDAY_20 = dt.datetime(2026, 11, 22, 20, 0, tzinfo=PARIS)
MONDAY_8 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=PARIS)
MONDAY_2059 = dt.datetime(2026, 11, 23, 20, 59, tzinfo=PARIS)
TUESDAY_8 = dt.datetime(2026, 11, 24, 8, 0, tzinfo=PARIS)
POLICY = CallbackPolicy(max_tries=3, spacing_seconds=600)


def pending(at: dt.datetime = MONDAY_8, **changes: object) -> Callback:
    values: dict[str, object] = {"id": "1732.1", "caller_number": "0612345678", "status": "pending",
                                 "tries": 0, "next_try_at": at, "need": "creation", "sector": "crafts",
                                 "size": "micro", "departement": "nord"}
    values.update(changes)
    return Callback(**values)  # type: ignore[arg-type]


def claimed(hotline: Hotline, callback: Callback | None = None, now: dt.datetime = MONDAY_10) -> Callback:
    callback = callback or pending()
    return transition(callback, Claim(now, try_channel_id(callback.id, callback.tries + 1)),
                      POLICY, hotline.hours)


# ----------------------------------------------------------------------------- due times


def test_a_request_made_in_closed_hours_is_due_at_the_next_opening(hotline: Hotline) -> None:
    assert due_time(hotline.hours, SUNDAY_20) == MONDAY_8
    assert due_time(hotline.hours, MONDAY_10) == MONDAY_10
    assert due_time(hotline.hours, MONDAY_2059 + dt.timedelta(minutes=5)) == TUESDAY_8


def test_a_callback_is_due_only_once_its_time_has_come_and_while_the_line_is_open(hotline: Hotline) -> None:
    callback = pending(MONDAY_8)
    assert is_due(callback, MONDAY_10, hotline.hours)
    assert not is_due(callback, MONDAY_8 - dt.timedelta(seconds=1), hotline.hours)
    assert not is_due(callback, SUNDAY_20 + dt.timedelta(days=7), hotline.hours)  # a Sunday: closed
    assert not is_due(pending(MONDAY_8, status="dialling"), MONDAY_10, hotline.hours)
    assert is_due(pending(MONDAY_8, status="no_answer"), MONDAY_10, hotline.hours)


# ----------------------------------------------------------------------------- transitions


def test_claim_answer_and_hang_up_is_done_after_one_try(hotline: Hotline) -> None:
    dialling = claimed(hotline)
    assert dialling.status == "dialling" and dialling.try_channel == "cb-1732.1-1"
    connected = transition(dialling, CallerAnswered(), POLICY, hotline.hours)
    done = transition(connected, TryEnded("advisor_hangup", MONDAY_10), POLICY, hotline.hours)
    assert (done.status, done.tries, done.outcome, done.next_try_at) == ("done", 1, "answered", None)


def test_a_callback_not_yet_due_cannot_be_claimed(hotline: Hotline) -> None:
    with pytest.raises(CallbackError) as error:
        claimed(hotline, pending(TUESDAY_8))
    assert error.value.code == "callback.not_due"


@pytest.mark.parametrize("result", ["no_answer", "busy", "unavailable", "advisor_hangup", "lost"])
def test_an_unanswered_try_is_retried_after_the_spacing_then_failed_after_max_tries(
    hotline: Hotline, result: str
) -> None:
    callback, now = pending(), MONDAY_10
    for attempt in range(1, POLICY.max_tries + 1):
        callback = transition(claimed(hotline, callback, now), TryEnded(result, now), POLICY,  # type: ignore[arg-type]
                              hotline.hours)
        assert callback.tries == attempt and callback.last_result == result
        if attempt < POLICY.max_tries:
            assert callback.status == "no_answer"
            assert callback.next_try_at == now + dt.timedelta(seconds=POLICY.spacing_seconds)
            assert not is_due(callback, now + dt.timedelta(seconds=POLICY.spacing_seconds - 1), hotline.hours)
            now = callback.next_try_at
    assert callback.status == "failed" and callback.outcome == f"{result} after 3 tries"
    assert callback.next_try_at is None


def test_a_retry_that_would_fall_after_closing_waits_for_the_next_opening(hotline: Hotline) -> None:
    late = claimed(hotline, pending(), MONDAY_2059)
    after = transition(late, TryEnded("no_answer", MONDAY_2059), POLICY, hotline.hours)
    assert after.next_try_at == TUESDAY_8


def test_no_advisor_does_not_count_against_the_caller(hotline: Hotline) -> None:
    after = transition(claimed(hotline), TryEnded("no_advisor", MONDAY_10), POLICY, hotline.hours)
    assert (after.status, after.tries, after.last_result) == ("pending", 0, "no_advisor")
    assert after.next_try_at == MONDAY_10 + dt.timedelta(seconds=600)


def test_cancel_and_retry(hotline: Hotline) -> None:
    cancelled = transition(pending(), Cancel("caller called again"), POLICY, hotline.hours)
    assert (cancelled.status, cancelled.outcome) == ("cancelled", "caller called again")
    with pytest.raises(CallbackError):
        transition(claimed(hotline), Cancel(), POLICY, hotline.hours)  # a try is being placed
    again = transition(cancelled, Retry(SUNDAY_20), POLICY, hotline.hours)
    assert (again.status, again.tries, again.next_try_at, again.outcome) == ("pending", 0, MONDAY_8, None)
    with pytest.raises(CallbackError):
        transition(claimed(hotline), Retry(MONDAY_10), POLICY, hotline.hours)


def test_a_try_cannot_end_twice(hotline: Hotline) -> None:
    done = transition(claimed(hotline), TryEnded("answered", MONDAY_10), POLICY, hotline.hours)
    with pytest.raises(CallbackError):
        transition(done, TryEnded("no_answer", MONDAY_10), POLICY, hotline.hours)


def test_the_profile_travels_with_the_callback() -> None:
    profile = pending().profile()
    assert profile.answers() == {"need": "creation", "sector": "crafts", "size": "micro", "departement": "nord"}


# ----------------------------------------------------------------------------- pacing


def snapshot_of(members: Mapping[str, tuple[int, str]], *, synced: bool = True) -> LiveSnapshot:
    """Queue 'q' with members ``{line: (penalty, status)}``; 'paused-here' pauses the member."""
    view_members = {
        line: QueueMember(line=line, interface=f"PJSIP/{line}", penalty=penalty, paused=status == "paused-here",
                          paused_reason="", in_call=False, calls_taken=0, last_call=None, wrapup_seconds=15,
                          dynamic=True)
        for line, (penalty, status) in members.items()
    }
    lines = {line: line_state(line, "available" if status == "paused-here" else status)  # type: ignore[arg-type]
             for line, (_p, status) in members.items()}
    view = QueueView(name="q", callers=(), members=view_members, recent_handle_times=())
    return LiveSnapshot(queues={"q": view}, lines=lines, now=0.0, synced=synced, version=1, drift=0)


def test_free_lines_are_available_unpaused_members_at_the_tier_a_try_rings_first() -> None:
    snapshot = snapshot_of({"a": (0, "available"), "b": (0, "busy"), "c": (0, "paused-here"),
                            "d": (0, "wrapup"), "e": (1, "available"), "f": (0, "ringing")})
    assert free_lines(snapshot, "q", 0) == {"a"}
    assert free_lines(snapshot, "q", 1) == {"a", "e"}
    assert free_lines(snapshot, "nope", 9) == frozenset()
    assert free_lines(snapshot_of({"a": (0, "available")}, synced=False), "q", 0) == frozenset()


def test_never_more_tries_waiting_for_an_advisor_than_free_lines() -> None:
    two = frozenset({"a", "b"})
    candidates = [Candidate("1", "q", two), Candidate("2", "q", two), Candidate("3", "q", two)]
    assert plan_dials(candidates, []) == ["1", "2"]
    assert plan_dials(candidates, [Candidate("0", "q", two)]) == ["1"]
    assert plan_dials(candidates, [Candidate("0", "q", two)] * 2) == []
    assert plan_dials(candidates, [Candidate("0", "q", frozenset())]) == ["1", "2"]


def test_a_free_line_shared_by_two_queues_is_counted_once() -> None:
    shared = frozenset({"cma-01"})
    assert plan_dials([Candidate("1", "rank-cma", shared), Candidate("2", "rank-cma-cci", shared)], []) == ["1"]
    other = plan_dials([Candidate("1", "rank-cma", shared),
                        Candidate("2", "rank-cci", frozenset({"cci-01"}))], [])
    assert other == ["1", "2"]


# ----------------------------------------------------------------------------- try tracking


def ev(name: str, **fields: str) -> dict[str, str]:
    return {"Event": name, **fields}


def test_tracker_reads_an_answered_try_from_the_events() -> None:
    tracker = TryTracker()
    tracker.follow("cb-1-1", "1")
    assert tracker.waiting_for_advisor() == ["1"]
    assert tracker.feed(ev("AgentConnect", Linkedid="cb-1-1")) == []
    assert tracker.waiting_for_advisor() == []
    answered = tracker.feed(ev("DialEnd", Linkedid="cb-1-1", DestChannel="PJSIP/pstn-00000004",
                               DialStatus="ANSWER"))
    assert [(u.callback_id, u.answered) for u in answered] == [("1", True)]
    assert tracker.feed(ev("Hangup", Uniqueid="cb-1-1;2", Linkedid="cb-1-1")) == []
    (ended,) = tracker.feed(ev("Hangup", Uniqueid="cb-1-1", Linkedid="cb-1-1"))
    assert (ended.callback_id, ended.result) == ("1", "answered")
    assert tracker.tries == {}


def test_tracker_ignores_other_calls_and_other_dials() -> None:
    tracker = TryTracker()
    tracker.follow("cb-1-1", "1")
    assert tracker.feed(ev("DialEnd", Linkedid="other", DestChannel="PJSIP/pstn-1", DialStatus="ANSWER")) == []
    assert tracker.feed(ev("DialEnd", Linkedid="cb-1-1", DestChannel="PJSIP/cma-01-1", DialStatus="ANSWER")) == []
    assert tracker.feed(ev("Hangup", Uniqueid="other", Linkedid="other")) == []
    (ended,) = tracker.feed(ev("Hangup", Uniqueid="cb-1-1", Linkedid="cb-1-1"))
    assert ended.result == "no_advisor"


@pytest.mark.parametrize(("advisor", "status", "result"), [
    (False, None, "no_advisor"), (True, None, "advisor_hangup"), (True, "ANSWER", "answered"),
    (True, "NOANSWER", "no_answer"), (True, "BUSY", "busy"), (True, "CHANUNAVAIL", "unavailable"),
    (True, "CONGESTION", "unavailable"), (True, "CANCEL", "advisor_hangup"), (True, "???", "unavailable"),
])
def test_try_result(advisor: bool, status: str | None, result: str) -> None:
    assert try_result(advisor, status) == result


def test_an_adopted_try_whose_caller_answered_ends_answered() -> None:
    tracker = TryTracker()
    tracker.follow("cb-1-2", "1", caller_answered=True)
    (ended,) = tracker.feed(ev("Hangup", Uniqueid="cb-1-2", Linkedid="cb-1-2"))
    assert ended.result == "answered"
