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


def test_every_definition_states_a_formula() -> None:
    assert set(kpi.DEFINITIONS) == {
        "service_level_answered", "service_level_inclusive", "asa_seconds", "aht_seconds", "abandonment_rate",
        "abandonment_rate_excluding_short", "prank_share", "occupancy",
    }
    assert all(":" in text and "/" in text for text in kpi.DEFINITIONS.values())


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
