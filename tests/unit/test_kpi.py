"""KPI definitions on a small crafted set of calls, every value computed by hand."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from cdr import kpi
from cdr.kpi import CallFacts, KpiSettings
from config.models import Closure, Holidays, OpeningHours, TimeRange
from config.settings import REPO_ROOT

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
DEFAULT = KpiSettings()  # T = 20 s, S = 5 s


def call(n: int, outcome: str, **fields: object) -> CallFacts:
    return CallFacts(linkedid=f"c{n}", start=T0 + dt.timedelta(minutes=n), outcome=outcome, **fields)  # type: ignore[arg-type]


# 14 calls: every outcome, the threshold edges (20 s / 21 s, abandon after 4 s / 5 s),
# a missing wait, a missing talk time, a degraded call.
CALLS = [
    call(1, "answered", wait_seconds=0, talk_seconds=100, wrapup_seconds=10, line="cma-01", partner="cma"),
    call(2, "answered", wait_seconds=20, talk_seconds=200, wrapup_seconds=10, line="cma-01", partner="cma"),
    call(3, "answered", wait_seconds=21, talk_seconds=60, wrapup_seconds=20, line="cci-01", partner="cci"),
    call(4, "answered", wait_seconds=45, talk_seconds=None, billsec=90, wrapup_seconds=15, line="cci-01",
         partner="cci"),
    call(5, "abandoned_in_queue", wait_seconds=4),
    call(6, "abandoned_in_queue", wait_seconds=5),
    call(7, "abandoned_in_queue", wait_seconds=30),
    call(8, "timeout", wait_seconds=600),
    call(9, "abandoned_in_ivr", ivr_exit="hangup"),
    call(10, "closed", ivr_exit="closed"),
    call(11, "no_input", ivr_exit="no_input"),
    call(12, "invalid", ivr_exit="invalid"),
    call(13, "answered", wait_seconds=10, talk_seconds=50, wrapup_seconds=0, line="mel-01", partner="mel",
         ivr_exit="degraded", degraded=True),
    call(14, "abandoned_in_queue", wait_seconds=None),
]
# answered: 1, 2, 3, 4, 13 (5)        within 20 s: 1 (0 s), 2 (exactly 20 s), 13 (10 s) -> 3
# abandoned in queue: 5, 6, 7, 14 (4) short (< 5 s): 5 (4 s), 14 (no wait = 0 s) -> 2; 6 (exactly 5 s) is not
# timeout: 8 (1)                      offered = 5 + 4 + 1 = 10
# pranks: 11, 12 (2) out of 14 calls


def test_service_level_on_answered_counts_a_wait_of_exactly_the_threshold_as_within() -> None:
    assert kpi.service_level_answered(CALLS, DEFAULT) == pytest.approx(3 / 5)


def test_service_level_inclusive_divides_by_every_call_offered_to_a_queue() -> None:
    assert kpi.service_level_inclusive(CALLS, DEFAULT) == pytest.approx(3 / 10)


def test_asa_is_the_mean_wait_of_answered_calls() -> None:
    assert kpi.average_speed_of_answer(CALLS, DEFAULT) == pytest.approx((0 + 20 + 21 + 45 + 10) / 5)  # 19.2


def test_aht_is_the_mean_of_talk_plus_wrapup_and_falls_back_to_billsec() -> None:
    # 110 + 210 + 80 + (90 + 15) + 50 = 555
    assert kpi.average_handle_time(CALLS, DEFAULT) == pytest.approx(555 / 5)


def test_abandonment_rate_is_abandoned_in_queue_over_offered() -> None:
    assert kpi.abandonment_rate(CALLS, DEFAULT) == pytest.approx(4 / 10)


def test_abandonment_without_short_abandons_removes_them_from_both_sides() -> None:
    # short: 4 s and a missing wait; an abandon after exactly 5 s is not short
    assert kpi.abandonment_rate_excluding_short(CALLS, DEFAULT) == pytest.approx((4 - 2) / (10 - 2))


def test_prank_share_is_no_input_and_invalid_over_all_calls() -> None:
    assert kpi.prank_share(CALLS, DEFAULT) == pytest.approx(2 / 14)


def test_thresholds_are_settings() -> None:
    settings = KpiSettings(service_level_seconds=21, short_abandon_seconds=6)
    assert kpi.service_level_answered(CALLS, settings) == pytest.approx(4 / 5)
    assert kpi.abandonment_rate_excluding_short(CALLS, settings) == pytest.approx((4 - 3) / (10 - 3))


def test_negative_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="service_level_seconds"):
        KpiSettings(service_level_seconds=-1)
    with pytest.raises(ValueError, match="short_abandon_seconds"):
        KpiSettings(short_abandon_seconds=-1)


def test_compute_kpis_gathers_counts_and_ratios() -> None:
    k = kpi.compute_kpis(CALLS, DEFAULT, logged_seconds=3600)
    counts = (k.calls, k.offered, k.answered, k.answered_within_threshold, k.abandoned, k.short_abandons,
              k.timeouts, k.pranks, k.degraded)
    assert counts == (14, 10, 5, 3, 4, 2, 1, 2, 1)
    assert k.service_level_answered == pytest.approx(0.6) and k.service_level_inclusive == pytest.approx(0.3)
    assert k.asa_seconds == pytest.approx(19.2) and k.aht_seconds == pytest.approx(111.0)
    assert k.abandonment_rate == pytest.approx(0.4) and k.abandonment_rate_excluding_short == pytest.approx(0.25)
    assert k.prank_share == pytest.approx(1 / 7)
    assert (k.work_seconds, k.logged_seconds) == (555, 3600)
    assert k.occupancy == pytest.approx(555 / 3600)


def test_ratios_without_a_denominator_are_none_not_zero() -> None:
    k = kpi.compute_kpis([call(1, "closed", ivr_exit="closed")], DEFAULT)
    assert k.service_level_answered is None and k.service_level_inclusive is None
    assert k.asa_seconds is None and k.aht_seconds is None and k.abandonment_rate is None
    assert k.occupancy is None and k.prank_share == 0.0
    assert kpi.compute_kpis([], DEFAULT).prank_share is None


def test_a_prank_call_that_reached_an_advisor_stays_out_of_queue_kpis() -> None:
    """The declared rule holds even if the IVR one day routes silent callers."""
    calls = [
        call(1, "answered", wait_seconds=60, talk_seconds=10, ivr_exit="no_input"),
        call(2, "answered", wait_seconds=5, talk_seconds=10),
    ]
    k = kpi.compute_kpis(calls, DEFAULT)
    assert (k.offered, k.answered, k.pranks) == (1, 1, 1)
    assert k.service_level_answered == 1.0 and k.asa_seconds == 5.0


def test_degraded_calls_count_like_any_other_and_are_flagged() -> None:
    k = kpi.compute_kpis([c for c in CALLS if c.degraded], DEFAULT)
    assert (k.answered, k.degraded, k.service_level_answered) == (1, 1, 1.0)


def test_partner_scope_leaves_the_unanswered_side_undefined() -> None:
    k = kpi.answered_side_only(kpi.compute_kpis([c for c in CALLS if c.partner == "cci"], DEFAULT))
    assert (k.answered, k.service_level_answered) == (2, 0.0) and k.asa_seconds == pytest.approx(33.0)
    assert k.offered is None and k.abandoned is None and k.abandonment_rate is None
    assert k.service_level_inclusive is None and k.prank_share is None


def test_occupancy_is_work_over_logged_time() -> None:
    assert kpi.occupancy(900, 3600) == 0.25
    assert kpi.occupancy(10, 0) is None


def test_volume_counts_each_outcome_once_and_degraded_apart() -> None:
    v = kpi.volume([*CALLS, call(15, "degraded_unanswered")])
    assert v == kpi.Volume(calls=15, answered=5, abandoned_in_queue=4, timeout=1, abandoned_in_ivr=1, closed=1,
                           no_input=1, invalid=1, other=1, degraded=1)


def test_group_by_puts_missing_values_under_none_key() -> None:
    groups = kpi.group_by(CALLS, lambda c: c.partner)
    assert {k: len(v) for k, v in groups.items()} == {"cma": 2, "cci": 2, "(none)": 9, "mel": 1}


def test_recorded_wrapup_wins_over_the_partner_configuration() -> None:
    calls = [
        call(1, "answered", partner="cma", wrapup_seconds=None),
        call(2, "answered", partner="cma", wrapup_seconds=3),
        call(3, "answered", partner="unknown"),
        call(4, "abandoned_in_queue"),
    ]
    filled = kpi.with_wrapup(calls, {"cma": 15})
    assert [c.wrapup_seconds for c in filled] == [15, 3, None, None]


WEEKDAYS_8_TO_21 = OpeningHours(
    week={
        "monday": [TimeRange(open=dt.time(8), close=dt.time(21))],
        "tuesday": [TimeRange(open=dt.time(8), close=dt.time(21))],
        "wednesday": [TimeRange(open=dt.time(8), close=dt.time(21))],
        "thursday": [TimeRange(open=dt.time(8), close=dt.time(21))],
        "friday": [TimeRange(open=dt.time(8), close=dt.time(21))],
        "saturday": [TimeRange(open=dt.time(8), close=dt.time(12))],
        "sunday": [],
    },
)


def test_open_seconds_of_a_week_follow_the_weekly_hours() -> None:
    # Mon 23 to Sun 29 November 2026: 5 x 13 h + 4 h
    assert kpi.open_seconds(WEEKDAYS_8_TO_21, dt.date(2026, 11, 23), dt.date(2026, 11, 29)) == 69 * 3600


def test_open_seconds_skip_public_holidays() -> None:
    # Mon 9 to Sun 15 November 2026; Wednesday 11 is Armistice day
    assert kpi.open_seconds(WEEKDAYS_8_TO_21, dt.date(2026, 11, 9), dt.date(2026, 11, 15)) == (4 * 13 + 4) * 3600


def test_open_seconds_subtract_overlapping_closures_once() -> None:
    hours = WEEKDAYS_8_TO_21.model_copy(update={"closures": [
        Closure(start=dt.datetime(2026, 11, 23, 10), end=dt.datetime(2026, 11, 23, 12)),
        Closure(start=dt.datetime(2026, 11, 23, 11), end=dt.datetime(2026, 11, 23, 13)),
    ]})
    assert kpi.open_seconds(hours, dt.date(2026, 11, 23), dt.date(2026, 11, 23)) == 10 * 3600


def test_open_seconds_count_real_time_across_a_dst_change() -> None:
    # Sunday 29 March 2026, clocks go from 02:00 to 03:00 in Paris: 01:00-04:00 lasts 2 h
    hours = OpeningHours(week={"sunday": [TimeRange(open=dt.time(1), close=dt.time(4))]},
                         holidays=Holidays(enabled=False))
    assert kpi.open_seconds(hours, dt.date(2026, 3, 29), dt.date(2026, 3, 29)) == 2 * 3600


RATIOS = {
    "service_level_answered", "service_level_inclusive", "service_level", "asa_seconds", "aht_seconds",
    "abandonment_rate", "abandonment_rate_excluding_short", "prank_share", "occupancy",
    "callbacks_placed_within_opening", "callback_connect_rate", "followup_reach_rate", "lines_available",
}
COUNTS = {
    "followup_outcomes", "appointments_booked", "waiting_past_threshold", "logged_seconds", "calls", "offered",
    "answered", "answered_within_threshold", "callers_waiting", "longest_wait", "expected_wait",
    "abandoned_in_queue", "abandoned_in_ivr", "closed", "prank", "lost_by_pbx",
}


def test_every_definition_states_a_formula() -> None:
    assert set(kpi.DEFINITIONS) == RATIOS | COUNTS
    assert all(":" in text for text in kpi.DEFINITIONS.values())
    assert all("/" in kpi.DEFINITIONS[name] for name in RATIOS)


def test_every_definition_has_its_french_text_for_the_pages() -> None:
    assert set(kpi.DEFINITIONS_FR) == set(kpi.DEFINITIONS)
    assert all(" : " in text for text in kpi.DEFINITIONS_FR.values())  # "Libellé : formule"
    assert kpi.definition_fr("service_level", KpiSettings(service_level_seconds=30)).endswith("(T = 30 s)")
    assert "(S = 5 s)" in kpi.definition_fr("abandonment_rate_excluding_short", DEFAULT)


def test_the_service_level_definition_counts_callers_still_waiting_past_the_threshold() -> None:
    assert kpi.DEFINITIONS["service_level"] == (
        "Service level: answered with wait <= T / (offered + callers still waiting with wait > T).")


# --- the live service level (issue 14, defect 6) -----------------------------------------------
def test_live_service_level_counts_callers_waiting_past_the_threshold_against_it() -> None:
    # 3 within / 10 offered; waiting now: 5 s and exactly 20 s (undecided), 21 s and 300 s (already missed)
    waiting = [5, 20, 21, 300]
    assert kpi.waiting_past_threshold(waiting, DEFAULT) == 2
    assert kpi.service_level_live(CALLS, DEFAULT, waiting) == pytest.approx(3 / 12)
    assert kpi.service_level_live(CALLS, DEFAULT) == kpi.service_level_inclusive(CALLS, DEFAULT)


def test_live_service_level_of_a_day_with_134_callers_past_the_threshold_is_not_98_percent() -> None:
    """The crisis day of the issue: 98 % of the finished calls, 134 callers already past T."""
    day = [call(n, "answered", wait_seconds=5) for n in range(98)] + [call(98, "answered", wait_seconds=60),
                                                                       call(99, "timeout", wait_seconds=600)]
    assert kpi.service_level_inclusive(day, DEFAULT) == pytest.approx(0.98)
    assert kpi.service_level_live(day, DEFAULT, [90.0] * 134) == pytest.approx(98 / 234)
    k = kpi.compute_kpis(day, DEFAULT, waiting=[90.0] * 134 + [3.0])
    assert (k.waiting_past_threshold, k.service_level) == (134, pytest.approx(98 / 234))


def test_live_service_level_with_only_callers_past_the_threshold_is_zero_not_no_data() -> None:
    assert kpi.service_level_live([], DEFAULT, [45.0]) == 0.0
    assert kpi.service_level_live([], DEFAULT, [10.0]) is None


def test_a_partner_has_no_live_service_level() -> None:
    k = kpi.answered_side_only(kpi.compute_kpis(CALLS, DEFAULT, waiting=[60.0]))
    assert k.service_level is None and k.waiting_past_threshold is None


# --- logged-in time (the occupancy's base) ----------------------------------------------------
DAY = dt.datetime(2026, 11, 23, 0, 0, tzinfo=dt.UTC)


def member(hour: float, line: str, queue: str, event: str) -> kpi.MemberEvent:
    return kpi.MemberEvent(DAY + dt.timedelta(hours=hour), line, queue, event)


def test_logged_in_time_is_the_union_of_queue_memberships_minus_pauses_in_every_queue() -> None:
    events = [
        member(8, "cma-01", "q1", "ADDMEMBER"), member(8.5, "cma-01", "q2", "ADDMEMBER"),
        member(10, "cma-01", "q1", "PAUSE"),  # still in q2 unpaused: logged in
        member(11, "cma-01", "q2", "PAUSE"),  # paused everywhere: out from 11:00
        member(12, "cma-01", "q1", "UNPAUSE"),  # back at 12:00
        member(16, "cma-01", "q1", "REMOVEMEMBER"),  # only in q2, paused: out at 16:00
        member(17, "cma-01", "q2", "REMOVEMEMBER"),
        member(9, "cci-01", "q1", "PAUSE"),  # a pause of a queue it is not in changes nothing
    ]
    seconds = kpi.logged_in_seconds(events, DAY, DAY + dt.timedelta(days=1))
    assert seconds == {"cma-01": (3 + 4) * 3600.0, "cci-01": 0.0}


def test_logged_in_time_takes_the_state_at_the_start_and_stops_at_the_end() -> None:
    start, end = DAY + dt.timedelta(hours=9), DAY + dt.timedelta(hours=12)
    events = [
        member(-20, "cma-01", "q1", "ADDMEMBER"),  # logged in since yesterday
        member(10, "cma-01", "q1", "REMOVEMEMBER"),
        member(11, "cma-02", "q1", "ADDMEMBER"),  # still in at the end of the window
        member(13, "cma-03", "q1", "ADDMEMBER"),  # after the window
    ]
    assert kpi.logged_in_seconds(events, start, end) == {"cma-01": 3600.0, "cma-02": 3600.0}


def test_occupancy_definition_divides_by_logged_in_time_not_open_hours() -> None:
    assert "logged-in time" in kpi.DEFINITIONS["occupancy"]
    assert "open hours" not in kpi.DEFINITIONS["occupancy"]


FORBIDDEN = {"asyncio", "socket", "asyncpg", "aiohttp", "panoramisk", "subprocess", "structlog", "sandbox"}


def test_kpi_module_reaches_no_io_library() -> None:
    seen: set[Path] = set()
    todo = [REPO_ROOT / "cdr" / "kpi.py"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN and name not in {"cdr.writer", "cdr.reports"}, (
                    f"cdr/kpi.py reaches {name} through {path.relative_to(REPO_ROOT)}")
                local = REPO_ROOT / (name.replace(".", "/") + ".py")
                if local.is_file():
                    todo.append(local)


# --- callbacks and follow-ups ------------------------------------------------------
def _cb(id_: str, kind: str = "callback", status: str = "done", *, reason: str | None = "closed",
        due: str | None = "2026-11-23T08:00:00+01:00", first_try: str | None = None,
        outcome: str | None = None) -> kpi.CallbackFacts:
    def at(text: str | None) -> dt.datetime | None:
        return dt.datetime.fromisoformat(text) if text else None
    return kpi.CallbackFacts(id_, kind, reason, status, at(due), at(first_try), followup_outcome=outcome)


def test_placed_within_opening_counts_first_tries_up_to_n_minutes_after_the_due_time() -> None:
    calls = [
        _cb("a", first_try="2026-11-23T08:30:00+01:00"),  # exactly 30 min: on time
        _cb("b", first_try="2026-11-23T08:31:00+01:00"),  # late
        _cb("c", status="pending"),  # never tried: late
        _cb("d", status="cancelled"),  # left out
        _cb("e", reason="long_wait", first_try="2026-11-23T08:00:00+01:00"),  # not a closed-hours request
    ]
    assert kpi.placed_within_opening(calls, 30) == pytest.approx(1 / 3)
    assert kpi.placed_within_opening(calls, 31) == pytest.approx(2 / 3)
    assert kpi.placed_within_opening([], 30) is None


def test_connect_and_reach_rates_are_done_over_ended_per_kind() -> None:
    calls = [_cb("a"), _cb("b", status="failed"), _cb("c", status="pending"),
             _cb("f1", "followup", outcome="satisfied"), _cb("f2", "followup", outcome="needs_more_help"),
             _cb("f3", "followup"), _cb("f4", "followup", status="failed")]
    assert kpi.callback_connect_rate(calls) == 0.5
    assert kpi.followup_reach_rate(calls) == 0.75
    assert kpi.followup_outcomes(calls) == {"reached": 0, "satisfied": 1, "needs_more_help": 1,
                                            "wrong_number": 0, "refused": 0, "none": 1}
    k = kpi.compute_callback_kpis(calls, 30)
    assert (k.callbacks, k.callbacks_done, k.callbacks_failed, k.followups, k.followups_done) == (3, 1, 1, 4, 3)
    assert kpi.callback_connect_rate([_cb("x", status="pending")]) is None


def test_callback_kpis_are_defined_by_their_formula() -> None:
    assert kpi.DEFINITIONS["callback_connect_rate"].startswith("Callback connect rate: ")
    assert kpi.DEFINITIONS["followup_reach_rate"].startswith("Follow-up reach rate: ")
    assert "N min" in kpi.DEFINITIONS["callbacks_placed_within_opening"]


# --- appointments booked -----------------------------------------------------------------
def _rdv(partner: str, office: str) -> kpi.AppointmentFacts:
    return kpi.AppointmentFacts(partner, office, T0)


def test_appointments_booked_count_per_partner_and_office_listing_the_configured_ones_first() -> None:
    booked = [_rdv("cma", "cma_arras"), _rdv("cma", "cma_arras"), _rdv("cma", "cma_lille"),
              _rdv("cci", "cci_lille"), _rdv("cci", "cci_old")]  # cci_old: an office since removed
    k = kpi.compute_appointment_kpis(
        booked, {"cma_lille": "cma", "cma_arras": "cma", "cci_lille": "cci", "mel_lille": "mel"},
        ["direccte", "cma", "cci", "mel"])
    assert k.booked == 5
    assert k.by_partner == {"direccte": 0, "cma": 3, "cci": 2, "mel": 0}
    assert list(k.by_office.items()) == [("cma_lille", 1), ("cma_arras", 2), ("cci_lille", 1), ("mel_lille", 0),
                                         ("cci_old", 1)]
    assert k.office_partner["cci_old"] == "cci" and k.office_partner["mel_lille"] == "mel"
    assert kpi.compute_appointment_kpis([]).by_office == {}
    assert kpi.DEFINITIONS["appointments_booked"].startswith("Appointments booked: ")


# --- where callers leave the menu (the reports' IVR path) ----------------------------------------
STEPS = ("need", "sector", "size", "departement")


@pytest.mark.parametrize(("facts", "path"), [
    (call(1, "closed", ivr_exit="closed"), "closed"),
    (call(2, "no_input", ivr_exit="no_input"), "no_valid_answer"),
    (call(3, "invalid", ivr_exit="invalid"), "no_valid_answer"),
    (call(4, "abandoned_in_ivr", ivr_exit="hangup", need="creation"), "hung_up_at_sector"),
    (call(5, "abandoned_in_ivr", ivr_exit="hangup"), "hung_up_at_need"),
    (call(6, "answered", ivr_exit="advisor", need="difficulty", sector="crafts"), "advisor_at_size"),
    (call(7, "answered", ivr_exit="completed", need="creation", sector="crafts", size="micro",
          departement="nord"), "completed"),
    (call(8, "abandoned_in_queue", ivr_exit="same_partner"), "same_partner"),
    (call(9, "answered", ivr_exit="degraded", sector="crafts"), "degraded"),
])
def test_menu_path_says_where_a_caller_left_the_menu(facts: CallFacts, path: str) -> None:
    assert kpi.menu_path(facts, STEPS) == path


def pause(hour: float, line: str, queue: str, reason: str) -> kpi.MemberEvent:
    return kpi.MemberEvent(DAY + dt.timedelta(hours=hour), line, queue, "PAUSE", reason)


def test_paused_time_is_counted_under_its_reason_while_paused_in_every_queue() -> None:
    events = [
        member(8, "cma-01", "q1", "ADDMEMBER"), member(8, "cma-01", "q2", "ADDMEMBER"),
        pause(10, "cma-01", "q1", "repas"),  # still free in q2: not paused yet
        pause(10.5, "cma-01", "q2", "repas"),  # paused everywhere from 10:30
        member(11.5, "cma-01", "q1", "UNPAUSE"),  # back at 11:30: 1 h of "repas"
        pause(14, "cma-01", "q1", "formation"), pause(14, "cma-01", "q2", "formation"),
        member(15, "cma-01", "q2", "REMOVEMEMBER"),  # still paused in q1, the only queue left
        member(16, "cma-01", "q1", "REMOVEMEMBER"),  # logged out: 2 h of "formation"
        member(8, "cci-01", "q1", "ADDMEMBER"), pause(9, "cci-01", "q1", "repas"),  # paused to the end (12 h)
    ]
    seconds = kpi.pause_seconds_by_reason(events, DAY, DAY + dt.timedelta(hours=21))
    assert seconds == {"repas": 3600.0 + 12 * 3600.0, "formation": 2 * 3600.0}
