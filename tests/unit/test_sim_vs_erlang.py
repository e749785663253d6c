"""The simulator (real engine, router and menu) on textbook systems against Erlang C and Erlang A.

Waiting times of a heavily loaded pool are strongly autocorrelated: the plain
replication mean of ASA needs millions of calls to be within 2%. The checks use
a control variate (Law & Kelton, "Simulation Modeling and Analysis", ch. 11):
the same calls fed to one server N times faster (Lindley's recursion, a few
lines in ``sim.textbook``) whose exact mean is known. It removes the noise of
the inputs (bursts of arrivals, long calls), not the simulator's behaviour: a
simulator with a wrong queue discipline lands just as far from Erlang.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random

import pytest

from cdr.vocabulary import Outcome
from config.models import Hotline
from sim import erlang
from sim.calendar import Calendar
from sim.caller import generate_calls
from sim.engine import simulate
from sim.kpi import estimate, summarize
from sim.textbook import companion_expected, companion_run, controlled_mean, poisson_traffic, single_pool

START = dt.date(2021, 1, 4)
THRESHOLD = 20.0
WARMUP = 3600.0


def _replications(
    hotline: Hotline, lines: int, calls_per_hour: float, aht: float, patience: float | None,
    days: int, replications: int, seed: str,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    pool = single_pool(hotline, lines)
    traffic = poisson_traffic(pool, calls_per_hour, aht, patience, START)
    calendar = Calendar.build(pool.hours, START, days)
    sim: dict[str, list[float]] = {"asa": [], "sl": [], "abandonment": [], "occupancy": []}
    comp: dict[str, list[float]] = {"asa": [], "sl": [], "abandonment": []}
    for rep in range(replications):
        calls = generate_calls(traffic, START, days, random.Random(f"{seed}:{rep}"))
        kpis = summarize(simulate(pool, traffic, calendar, calls, seed=rep), THRESHOLD, WARMUP).kpis["overall"]
        for metric in sim:
            value = kpis[metric]
            assert value is not None
            sim[metric].append(value)
        c = companion_run(calls, lines, THRESHOLD, WARMUP)
        comp["asa"].append(c.asa)
        comp["sl"].append(c.service_level)
        comp["abandonment"].append(c.abandonment)
    return sim, comp


def test_single_pool_matches_erlang_c_within_2_percent(hotline: Hotline) -> None:
    """M/M/5 at 90% load: 54 calls/h, AHT 300 s, 24 replications of 10 days (~310,000 calls)."""
    lines, calls_per_hour, aht = 5, 54.0, 300.0
    ref = erlang.erlang_c_metrics(calls_per_hour, aht, lines, THRESHOLD)
    expected = companion_expected(calls_per_hour, aht, None, lines, THRESHOLD)
    sim, comp = _replications(hotline, lines, calls_per_hour, aht, None, days=10, replications=24, seed="erlang-c")

    asa, asa_half = controlled_mean(sim["asa"], comp["asa"], expected.asa)
    sl, sl_half = controlled_mean(sim["sl"], comp["sl"], expected.service_level)
    occupancy = estimate(sim["occupancy"])
    assert asa == pytest.approx(ref.asa, rel=0.02)  # Erlang C: 457.5 s
    assert sl == pytest.approx(ref.service_level, rel=0.02)  # Erlang C: 26.3%
    assert occupancy.mean == pytest.approx(ref.occupancy, rel=0.02)
    # The estimate is precise enough for the 2% to mean something, and agrees within its own CI.
    assert asa_half < 0.02 * ref.asa and sl_half < 0.02 * ref.service_level
    assert abs(asa - ref.asa) <= 2 * asa_half
    assert all(a == 0.0 for a in sim["abandonment"])


def test_single_pool_with_impatient_callers_matches_erlang_a_within_2_percent(hotline: Hotline) -> None:
    """M/M/5+M at 100% offered load: 60 calls/h, AHT 300 s, mean patience 180 s, 30 x 10 days (~430,000 calls)."""
    lines, calls_per_hour, aht, patience = 5, 60.0, 300.0, 180.0
    ref = erlang.erlang_a_metrics(calls_per_hour, aht, patience, lines, THRESHOLD)
    expected = companion_expected(calls_per_hour, aht, patience, lines, THRESHOLD)
    sim, comp = _replications(hotline, lines, calls_per_hour, aht, patience, days=10, replications=30,
                              seed="erlang-a")

    asa, _ = controlled_mean(sim["asa"], comp["asa"], expected.asa)
    sl, _ = controlled_mean(sim["sl"], comp["sl"], expected.service_level)
    abandon, _ = controlled_mean(sim["abandonment"], comp["abandonment"], expected.abandonment)
    assert asa == pytest.approx(ref.asa, rel=0.02)  # Erlang A: 28.7 s (answered callers)
    assert sl == pytest.approx(ref.service_level, rel=0.02)  # Erlang A: 55.5% of offered within 20 s
    assert abandon == pytest.approx(ref.p_abandon, rel=0.02)  # Erlang A: 19.7%
    assert estimate(sim["occupancy"]).mean == pytest.approx(ref.occupancy, rel=0.02)


def test_pool_waits_equal_the_fcfs_multi_server_recursion_call_by_call(hotline: Hotline) -> None:
    """With instant pick-up and no wrap-up, every caller's wait is the FCFS M/M/N one (Kiefer-Wolfowitz)."""
    lines = 3
    pool = single_pool(hotline, lines)
    traffic = poisson_traffic(pool, 32.0, 300.0, None, START)
    calls = generate_calls(traffic, START, 3, random.Random("fcfs"))
    result = simulate(pool, traffic, Calendar.build(pool.hours, START, 3), calls, seed=0)
    records = {r.call_id: r for r in result.records}
    free_at = [0.0] * lines
    checked = 0
    for call in calls:
        rec = records[call.id]
        joined = call.arrival + rec.ivr_seconds
        start = max(joined, heapq.heappop(free_at))
        heapq.heappush(free_at, start + call.handle)
        assert rec.outcome == Outcome.ANSWERED
        assert rec.wait == pytest.approx(start - joined, abs=1e-6)
        checked += rec.wait > 0
    assert checked > 500  # the pool really queued
