"""Fitting the traffic model to call records: records made by the simulator from a known model give it back."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from cdr.kpi import CallFacts
from config.models import Hotline
from config.settings import REPO_ROOT
from sim.calendar import Calendar
from sim.caller import generate_calls
from sim.engine import RunResult, simulate
from sim.fit import fit_traffic
from sim.traffic import Distribution, NeedTimes, Traffic, check_against, load_traffic

START = dt.date(2020, 3, 26)
DAYS = 35


def as_cdr_rows(result: RunResult, answers: dict[int, dict[str, str]]) -> list[CallFacts]:
    """Simulated calls in the shape the ``cdr`` table stores them (answers only for routed calls)."""
    rows = []
    for r in result.records:
        given = answers.get(r.call_id, {}) if r.queue is not None and r.ivr_exit == "completed" else {}
        rows.append(CallFacts(
            linkedid=str(r.call_id), start=result.calendar.to_datetime(r.arrival), outcome=r.outcome,
            ivr_exit=r.ivr_exit,
            need=given.get("need"), sector=given.get("sector"), size=given.get("size"),
            departement=given.get("departement"), queue=r.queue,
            wait_seconds=round(r.wait) if r.queue else None, talk_seconds=round(r.talk) if r.talk else None,
        ))
    return rows


@pytest.fixture(scope="module")
def truth() -> Traffic:
    base = load_traffic(REPO_ROOT / "config" / "traffic.yaml")
    # Impatient callers and fewer lines, so that abandons are common enough to be measured.
    needs = {k: NeedTimes(handle=v.handle, patience=Distribution(law="exponential", mean=90.0))
             for k, v in base.needs.items()}
    advisors = base.advisors.model_copy(update={"staffed_default": 0.4})
    return base.model_copy(update={"needs": needs, "advisors": advisors})


@pytest.fixture(scope="module")
def rows(truth: Traffic, hotline: Hotline) -> list[CallFacts]:
    calls = generate_calls(truth, START, DAYS, random.Random("fit"))
    result = simulate(hotline, truth, Calendar.build(hotline.hours, START, DAYS), calls, seed=1)
    return as_cdr_rows(result, {c.id: dict(c.answers) for c in calls})


def test_fit_recovers_the_model_that_made_the_records(truth: Traffic, rows: list[CallFacts], hotline: Hotline) -> None:
    base = load_traffic(REPO_ROOT / "config" / "traffic.yaml")
    report = fit_traffic(rows, base, hotline.hours.timezone)
    fitted = report.traffic
    check_against(fitted, hotline)
    assert report.rows == len(rows) > 10_000
    assert (report.first, report.last) == (START, START + dt.timedelta(days=DAYS - 1))

    mix = fitted.mix
    assert mix.prank == pytest.approx(0.07, abs=0.01)
    assert mix.advisor_first == pytest.approx(0.05, abs=0.01)
    assert mix.ivr_hangup == pytest.approx(0.02, abs=0.006)
    for step in ("need", "sector", "size"):
        for value, share in truth.mix.answers[step].items():
            # Callers who press 0 at once give no answers; the others' shares are the model's.
            assert mix.answers[step][value] == pytest.approx(share, abs=0.02), (step, value)

    v = fitted.volume
    # Volumes count every call; the weekday weights are re-estimated, so compare the level of a Wednesday.
    wednesday = fitted.day_of_week["wednesday"]
    assert v.start_per_day * wednesday == pytest.approx(truth.volume.level(START), rel=0.12)
    assert v.end_per_day * wednesday == pytest.approx(truth.volume.level(report.last or START), rel=0.12)
    assert fitted.day_of_week["saturday"] < 0.4 < fitted.day_of_week["monday"]
    assert fitted.hour_of_day[10] > fitted.hour_of_day[13] > fitted.hour_of_day[20]

    for need, times in truth.needs.items():
        got = fitted.needs[need]
        # Handle times: measured talk includes the off-skill slowdown of escalated calls (a few %).
        assert got.handle.mean == pytest.approx(times.handle.mean, rel=0.1), need
        assert got.patience.mean == pytest.approx(90.0, rel=0.15), need


def test_fit_without_records_keeps_the_model(hotline: Hotline) -> None:
    base = load_traffic(REPO_ROOT / "config" / "traffic.yaml")
    report = fit_traffic([], base, hotline.hours.timezone)
    assert report.traffic == base
    assert report.notes == ("no call records: the model is unchanged",)


def test_fit_keeps_what_too_few_records_cannot_tell(rows: list[CallFacts], hotline: Hotline) -> None:
    base = load_traffic(REPO_ROOT / "config" / "traffic.yaml")
    report = fit_traffic(rows[:20], base, hotline.hours.timezone)
    assert report.traffic.needs == base.needs
    assert report.traffic.hour_of_day == base.hour_of_day
    assert any("kept" in note for note in report.notes)
