"""Erlang B, C and A calculators against published values and exact identities."""

from __future__ import annotations

import math

import pytest

from sim import erlang


# --- Erlang C: published worked examples, to 3 decimals ----------------------------------
# Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example"
# (callcentrehelper.com/erlang-c-formula-example-121281.htm): 100 calls in 30 minutes,
# AHT 180 s (A = 10 erlangs), target 80% in 20 s. Its first step, 11 agents, gives a
# probability of waiting of 68.21% (service level about 39%, ASA about 123 s); the answer,
# 14 agents, gives 17.41%, a service level of 88.8% and an occupancy of 71.4%. The
# 14-agent figures 0.174 / 0.888 / 0.714 are also asserted for that example by
# pyworkforce (rodrigo-arenas/pyworkforce, pyworkforce/queuing/tests/test_erlang.py).
@pytest.mark.parametrize(
    ("lines", "p_wait", "service_level", "asa", "occupancy"),
    [
        (11, 0.682, 0.390, 122.8, 0.909),
        (14, 0.174, 0.888, 7.8, 0.714),
    ],
)
def test_erlang_c_matches_the_call_centre_helper_worked_example(
    lines: int, p_wait: float, service_level: float, asa: float, occupancy: float
) -> None:
    res = erlang.erlang_c_metrics(calls_per_hour=200, aht=180, lines=lines, threshold=20)
    assert res.traffic == pytest.approx(10.0)
    assert round(res.p_wait, 3) == p_wait
    assert round(res.service_level, 3) == service_level
    assert round(res.asa, 1) == asa
    assert round(res.occupancy, 3) == occupancy


def test_erlang_c_staffing_of_the_worked_example_is_14_lines() -> None:
    res = erlang.lines_for_erlang_c(calls_per_hour=200, aht=180, target_sl=0.8, threshold=20)
    assert res.lines == 14
    assert round(res.service_level, 3) == 0.888


# Textbook values: C(3 servers, 2 erlangs) = 4/9 (the ErlangC[3, 2] example of the Wolfram
# Language reference; by hand: (8/6 * 3) / (1 + 2 + 2 + 4) = 4/9); M/M/1: C(1, a) = a.
@pytest.mark.parametrize(
    ("lines", "traffic", "expected"),
    [(3, 2.0, 4 / 9), (1, 0.5, 0.5), (1, 0.8, 0.8), (2, 1.0, 1 / 3)],
)
def test_erlang_c_textbook_values(lines: int, traffic: float, expected: float) -> None:
    assert erlang.erlang_c(lines, traffic) == pytest.approx(expected, abs=5e-4)


# Erlang B tables (any teletraffic handbook): B(5 lines, 2 E) = 0.0367, B(10, 5) = 0.0184.
@pytest.mark.parametrize(("lines", "traffic", "expected"), [(5, 2.0, 0.0367), (10, 5.0, 0.0184), (1, 1.0, 0.5)])
def test_erlang_b_table_values(lines: int, traffic: float, expected: float) -> None:
    assert erlang.erlang_b(lines, traffic) == pytest.approx(expected, abs=5e-4)


def test_erlang_c_overload_waits_for_ever() -> None:
    res = erlang.erlang_c_metrics(calls_per_hour=200, aht=180, lines=10)
    assert res.p_wait == 1.0
    assert res.asa == math.inf
    assert not res.stable


# --- Erlang A -------------------------------------------------------------------------
def test_erlang_a_matches_an_independent_implementation() -> None:
    """Reference values of pyworkforce's ErlangA (tests/test_abandonment.py, an exact birth-death
    implementation written independently): 100 calls / 30 min, AHT 3 min, patience 5 min, 14 lines."""
    res = erlang.erlang_a_metrics(calls_per_hour=200, aht=180, patience=300, lines=14, threshold=20)
    assert round(res.p_wait, 5) == 0.14526
    assert round(res.p_abandon, 6) == 0.013984
    assert round(res.occupancy, 6) == 0.704297
    assert round(res.mean_wait / 60, 6) == 0.069919  # their ASA: mean wait over all callers, in minutes
    assert round(res.service_level, 6) == 0.916792  # answered within 20 s / offered


def test_erlang_a_tends_to_erlang_c_when_callers_never_give_up() -> None:
    a = erlang.erlang_a_metrics(calls_per_hour=200, aht=180, patience=1e9, lines=14, threshold=20)
    c = erlang.erlang_c_metrics(calls_per_hour=200, aht=180, lines=14, threshold=20)
    assert a.p_wait == pytest.approx(c.p_wait, abs=1e-6)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-6)
    assert a.asa == pytest.approx(c.asa, rel=1e-5)
    assert a.p_abandon == pytest.approx(0.0, abs=1e-6)


def test_erlang_a_with_patience_equal_to_handle_time_is_a_poisson_count() -> None:
    """theta = mu: the number of callers in the system is Poisson(A), so P(wait) = P(Poisson(A) >= N)."""
    a_erl, lines = 10.0, 12
    res = erlang.erlang_a_metrics(calls_per_hour=200, aht=180, patience=180, lines=lines)
    poisson_below = sum(math.exp(-a_erl) * a_erl**k / math.factorial(k) for k in range(lines))
    assert res.p_wait == pytest.approx(1 - poisson_below, abs=1e-12)


def test_erlang_a_little_law_and_balance() -> None:
    res = erlang.erlang_a_metrics(calls_per_hour=150, aht=240, patience=90, lines=9, threshold=30)
    # Answered share x ASA + abandoned share x their mean wait = mean wait of everyone; abandoned waits are
    # shorter than patience on average, so the mean over everyone lies between 0 and the answered ASA + patience.
    assert 0 < res.mean_wait < res.asa + 90
    # Throughput balance: occupancy x lines = answered traffic.
    assert res.occupancy * 9 == pytest.approx(150 / 3600 * (1 - res.p_abandon) * 240, rel=1e-9)
    assert 0 < res.service_level < res.service_level_answered < 1


def test_erlang_a_staffing_needs_fewer_lines_than_erlang_c() -> None:
    """Impatient callers leave, so the same target needs fewer lines (the 120 calls/h example of the CLI)."""
    c = erlang.lines_for_erlang_c(calls_per_hour=120, aht=300, target_sl=0.8, threshold=20)
    a = erlang.lines_for_erlang_a(calls_per_hour=120, aht=300, patience=60, target_sl=0.8, threshold=20)
    assert (c.lines, a.lines) == (14, 12)
    assert a.service_level >= 0.8 > erlang.erlang_a_metrics(120, 300, 60, a.lines - 1, 20).service_level


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"calls_per_hour": -1, "aht": 300, "lines": 5}, "calls per hour"),
        ({"calls_per_hour": 10, "aht": 0, "lines": 5}, "handle time"),
        ({"calls_per_hour": 10, "aht": 300, "lines": 0}, "lines"),
    ],
)
def test_bad_input_is_a_named_error(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(erlang.ErlangError, match=message):
        erlang.erlang_c_metrics(**kwargs)  # type: ignore[arg-type]
