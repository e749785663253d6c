"""The J+8 follow-up's pure rules: due day and time, who calls, outcomes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from config.models import FollowupPolicy, Holidays, Hotline, OpeningHours, TimeRange
from queues.callback import Callback, CallbackError
from queues.followup import (
    AnsweredCall,
    allowed_hours,
    due_day,
    followup_due_at,
    hours_for,
    is_working_day,
    plan_followups,
    record_outcome,
)

PARIS = ZoneInfo("Europe/Paris")
DAY = [TimeRange(open=dt.time(8), close=dt.time(18))]
HOURS = OpeningHours(week={"monday": DAY, "tuesday": DAY, "wednesday": DAY, "thursday": DAY, "friday": DAY,
                           "saturday": [TimeRange(open=dt.time(9), close=dt.time(11))], "sunday": []},
                     holidays=Holidays(enabled=True))
WORKING = FollowupPolicy(enabled=True)  # 8 working days, 10-12 and 14-17
# Thursday 5 November 2026, 15:00 Paris; Wednesday 11 November is a public holiday.
CALL = dt.datetime(2026, 11, 5, 15, 0, tzinfo=PARIS)


def test_working_days_skip_sundays_and_public_holidays() -> None:
    assert not is_working_day(HOURS, dt.date(2026, 11, 8))  # Sunday
    assert not is_working_day(HOURS, dt.date(2026, 11, 11))  # Armistice
    assert is_working_day(HOURS, dt.date(2026, 11, 7))  # Saturday morning is open
    # Fri 6, Sat 7, Mon 9, Tue 10, (Wed 11 off), Thu 12, Fri 13, Sat 14, Mon 16
    assert due_day(CALL.date(), WORKING, HOURS) == dt.date(2026, 11, 16)


def test_calendar_days_count_every_day() -> None:
    policy = FollowupPolicy(enabled=True, day_kind="calendar")
    assert due_day(CALL.date(), policy, HOURS) == dt.date(2026, 11, 13)


def test_due_at_the_first_follow_up_hour_within_opening_hours() -> None:
    assert followup_due_at(CALL, WORKING, HOURS) == dt.datetime(2026, 11, 16, 10, 0, tzinfo=PARIS)
    # Due on a Saturday (09:00-11:00 open): the follow-up hours 10-12 give 10:00-11:00.
    saturday = FollowupPolicy(enabled=True, interval_days=2, day_kind="calendar")
    assert followup_due_at(CALL, saturday, HOURS) == dt.datetime(2026, 11, 7, 10, 0, tzinfo=PARIS)
    sat = allowed_hours(HOURS, WORKING).week["saturday"]
    assert [(r.open, r.close) for r in sat] == [(dt.time(10), dt.time(11))]
    # Calendar day landing on a Sunday: the next allowed moment, Monday 10:00.
    sunday = FollowupPolicy(enabled=True, interval_days=3, day_kind="calendar")
    assert followup_due_at(CALL, sunday, HOURS) == dt.datetime(2026, 11, 9, 10, 0, tzinfo=PARIS)


def test_who_calls_is_the_answering_partner_or_the_team() -> None:
    calls = [AnsweredCall("1.1", CALL, "0320000001", "cma", need="difficulty"),
             AnsweredCall("1.2", CALL, "anonymous", "cci"),  # not diallable: no follow-up
             AnsweredCall("1.3", CALL, "0320000003", None)]
    same = plan_followups(calls, WORKING, HOURS)
    assert [(r.id, r.partner, r.kind, r.origin, r.need) for r in same] == [
        ("fu-1.1", "cma", "followup", "1.1", "difficulty")]
    team = plan_followups(calls, FollowupPolicy(enabled=True, caller="team", team="region"), HOURS)
    assert [(r.id, r.partner) for r in team] == [("fu-1.1", "region"), ("fu-1.3", "region")]


def test_the_config_refuses_an_unclear_team(hotline: Hotline) -> None:
    with pytest.raises(ValidationError, match=r"set followups\.team"):
        FollowupPolicy(caller="team")
    with pytest.raises(ValidationError, match="only used with caller: team"):
        FollowupPolicy(team="cci")
    with pytest.raises(ValidationError, match="lookback_days"):
        FollowupPolicy(interval_days=40, lookback_days=30)
    data = hotline.model_dump(mode="json")
    data["followups"] = {"caller": "team", "team": "nobody"}
    with pytest.raises(ValidationError, match=r"followups\.team: no partner 'nobody'"):
        Hotline.model_validate(data)


def followup(status: str = "done", outcome: str | None = None) -> Callback:
    return Callback("fu-9.1", "0320000009", status, 1, None, need="creation", sector="crafts", kind="followup",  # type: ignore[arg-type]
                    origin="9.1", partner="cma", followup_outcome=outcome)


def test_needs_more_help_makes_a_routed_callback_request() -> None:
    now = dt.datetime(2026, 11, 16, 10, 5, tzinfo=PARIS)
    after, request = record_outcome(followup(), "needs_more_help", HOURS, now)
    assert after.followup_outcome == "needs_more_help"
    assert request is not None
    assert (request.id, request.kind, request.partner, request.origin, request.need, request.due_at) == (
        "mh-9.1", "callback", None, "9.1", "creation", now)
    assert record_outcome(followup(), "satisfied", HOURS, now)[1] is None


@pytest.mark.parametrize(("callback", "code", "error"), [
    (followup("pending"), "reached", "followup.not_reached"),
    (followup(outcome="refused"), "reached", "followup.already_recorded"),
    (followup(), "happy", "followup.unknown_outcome"),
    (Callback("9.2", "0320000009", "done", 1, None), "reached", "followup.not_a_followup"),
])
def test_an_outcome_is_refused_when_it_cannot_be_true(callback: Callback, code: str, error: str) -> None:
    with pytest.raises(CallbackError) as info:
        record_outcome(callback, code, HOURS, dt.datetime(2026, 11, 16, 10, tzinfo=PARIS))
    assert info.value.code == error


def test_a_followup_is_placed_only_within_the_followup_hours(hotline: Hotline) -> None:
    configured = hotline.model_copy(update={"followups": WORKING})
    hours = hours_for(followup("pending"), configured)
    assert all(r.open >= dt.time(10) and r.close <= dt.time(17) for day in hours.week.values() for r in day)
    assert hours_for(Callback("9.2", "0320000009", "pending", 0, None), configured) is configured.hours
