"""The engine's app_queue behaviour on small hand-made call lists: penalties and escalation steps,
ringinuse=no, wrap-up, strategies, pauses, unanswered rings, abandon and timeout, priorities."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import random
from collections import defaultdict

import pytest

from cdr.vocabulary import Outcome
from config.models import Hotline
from routing import router
from sim.calendar import Calendar
from sim.caller import Call, generate_calls
from sim.engine import Decide, Record, RunResult, Simulation, simulate
from sim.textbook import single_pool
from sim.traffic import Advisors, Pauses, Traffic, load_traffic

MONDAY = dt.date(2021, 1, 4)
NINE = 9 * 3600.0
CRAFTS = (("need", "difficulty"), ("sector", "crafts"), ("size", "micro"), ("departement", "nord"))
COMMERCE = (("need", "creation"), ("sector", "commerce"), ("size", "large"), ("departement", "oise"))


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    from config.settings import REPO_ROOT

    return load_traffic(REPO_ROOT / "config" / "traffic.yaml")


def quiet(traffic: Traffic, **changes: object) -> Traffic:
    """Instant pick-up, no unanswered rings, no pauses, no off-skill slowdown, unless changed."""
    base = {"answer_seconds": (0.0, 0.0), "no_answer": 0.0, "pauses": Pauses(per_hour=0.0), "skill_slowdown": 0.0}
    return traffic.model_copy(update={"advisors": Advisors.model_validate({**base, **changes})})


def only(**shares: float) -> dict[str, object]:
    """Staff only these partners (share of their lines)."""
    return {"staffed": shares, "staffed_default": 0.0}


def call(n: int, at: float, answers: tuple[tuple[str, str], ...] = CRAFTS, *, handle: float = 300.0,
         patience: float = math.inf) -> Call:
    return Call(n, at, answers=answers, handle=handle, patience=patience)


def run(
    hotline: Hotline, traffic: Traffic, calls: list[Call], days: int = 1, seed: int = 0,
    decide: Decide = router.decide,
) -> RunResult:
    return simulate(hotline, traffic, Calendar.build(hotline.hours, MONDAY, days), calls, seed=seed, decide=decide)


def by_id(result: RunResult) -> dict[int, Record]:
    return {r.call_id: r for r in result.records}


def test_a_caller_rings_only_lines_allowed_by_the_current_escalation_step(hotline: Hotline, traffic: Traffic) -> None:
    """A crafts caller ranks CMA first, CCI second, everyone else (Région) last. CMA's line is busy:
    the next caller may ring CCI (tier 1) only after the 30 s step, Région (tier 2) after 90 s."""
    t = quiet(traffic, **only(cma=0.125, cci=0.125, region=0.125))
    result = by_id(run(hotline, t, [call(1, NINE, handle=3000), call(2, NINE + 10), call(3, NINE + 20)]))
    assert router.decide(router.CallerProfile(**dict(CRAFTS)), hotline).queue == "rank-cma-cci"
    assert (result[1].partner, result[1].penalty, result[1].wait) == ("cma", 0, 0.0)
    assert (result[2].partner, result[2].penalty) == ("cci", 1)
    assert result[2].wait == pytest.approx(30.0)
    assert (result[3].partner, result[3].penalty) == ("region", 2)
    assert result[3].wait == pytest.approx(90.0)


def test_the_first_step_lets_the_best_skilled_lines_ring_at_once(hotline: Hotline, traffic: Traffic) -> None:
    """A commerce caller (creation, large): CCI (tier 0) rings at once; Région (tier 1) only after 30 s."""
    t = quiet(traffic, **only(cci=0.125, region=0.125))
    result = by_id(run(hotline, t, [call(1, NINE, COMMERCE, handle=3000), call(2, NINE + 5, COMMERCE)]))
    assert (result[1].partner, result[1].penalty) == ("cci", 0)
    assert (result[2].partner, result[2].penalty) == ("region", 1)
    assert result[2].wait == pytest.approx(30.0)


def test_a_caller_starts_at_the_best_tier_with_a_line_present(hotline: Hotline, traffic: Traffic) -> None:
    """The router's live outlook: CMA logged out, so a crafts caller starts at CCI's tier (+0) and
    widens from there (+1 after 30 s: Région); without the live state the first waits 30 s for CCI
    and the second 90 s for Région."""
    t = quiet(traffic, **only(cci=0.125, region=0.125))
    calls = [call(1, NINE, handle=3000), call(2, NINE + 10)]
    live = by_id(run(hotline, t, calls))
    assert (live[1].partner, live[1].penalty, live[1].wait) == ("cci", 1, 0.0)
    assert (live[2].partner, live[2].penalty) == ("region", 2)
    assert live[2].wait == pytest.approx(30.0)
    blind = by_id(simulate(hotline, t, Calendar.build(hotline.hours, MONDAY, 1), calls, live_state=False))
    assert blind[1].partner == "cci" and blind[1].wait == pytest.approx(30.0)
    assert blind[2].partner == "region" and blind[2].wait == pytest.approx(90.0)


def test_a_paused_best_tier_moves_the_start_to_the_next_tier(hotline: Hotline, traffic: Traffic) -> None:
    """Every CMA line paused when the caller arrives: the decision starts them at CCI's tier at once."""
    t = quiet(traffic, **only(cma=0.125, cci=0.125))
    simulation = Simulation(hotline, t, Calendar.build(hotline.hours, MONDAY, 1), [call(1, NINE)])
    cma = next(line for line in simulation.lines if line.partner == "cma" and line.staffed)
    simulation.free.remove(cma)
    simulation._pause(cma, 1e9)  # paused for good
    decision = simulation._decide(router.CallerProfile(**dict(CRAFTS)))
    assert (decision.max_penalty, decision.escalation) == (1, ((0, 1), (30, 2), (90, 10)))
    (rec,) = simulation.run().records
    assert (rec.partner, rec.penalty, rec.wait) == ("cci", 1, 0.0)


def test_a_line_never_carries_two_calls_and_rests_for_its_wrap_up(hotline: Hotline, traffic: Traffic) -> None:
    """ringinuse=no and per-member wrapuptime, on a loaded surge day (and a higher wrap-up for CMA)."""
    partners = [p.model_copy(update={"wrapup_seconds": 60}) if p.id == "cma" else p for p in hotline.partners]
    rules = hotline.model_copy(update={"partners": partners})
    t = traffic.model_copy(update={"advisors": traffic.advisors.model_copy(update={"staffed_default": 0.5})})
    calls = generate_calls(t.scaled_to(900, MONDAY, 1), MONDAY, 1, random.Random("busy"))
    result = run(rules, t, calls)
    busy: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for r in result.records:
        if r.outcome == Outcome.ANSWERED and r.line is not None:
            start = r.arrival + r.ivr_seconds + r.wait
            busy[r.line].append((start, start + r.talk, r.wrapup))
    assert sum(len(v) for v in busy.values()) > 300
    for line, spans in busy.items():
        spans.sort()
        for (_, end, wrapup), (next_start, _, _) in itertools.pairwise(spans):
            assert next_start >= end + wrapup - 1e-6, line
    assert {w for spans in busy.values() for _, _, w in spans} == {15.0, 60.0}


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("leastrecent", ["pool-01", "pool-02", "pool-03", "pool-01", "pool-02"]),
        ("linear", ["pool-01"] * 5),
        ("fewestcalls", ["pool-01", "pool-02", "pool-03", "pool-01", "pool-02"]),
        ("rrmemory", ["pool-01", "pool-02", "pool-03", "pool-01", "pool-02"]),
    ],
)
def test_strategy_picks_the_line_among_equal_penalties(
    hotline: Hotline, traffic: Traffic, strategy: str, expected: list[str]
) -> None:
    pool = single_pool(hotline, 3)
    rules = pool.model_copy(update={"queues": pool.queues.model_copy(update={"strategy": strategy})})
    calls = [call(n, NINE + 600 * n, handle=60) for n in range(5)]
    result = by_id(run(rules, quiet(traffic), calls))
    assert [result[n].line for n in range(5)] == expected


def test_a_paused_line_is_not_rung(hotline: Hotline, traffic: Traffic) -> None:
    """Same calls, one line: with long frequent pauses callers wait longer, and pause time is counted."""
    pool = single_pool(hotline, 1)
    calls = [call(n, NINE + 400 * n, handle=120) for n in range(30)]
    calm = run(pool, quiet(traffic), calls)
    pausing = run(pool, quiet(traffic, pauses=Pauses(per_hour=6.0, mean_seconds=600)), calls)
    wait = [sum(r.wait for r in res.records) for res in (calm, pausing)]
    assert wait[0] == 0.0 < wait[1]
    assert pausing.pauses > 0 and pausing.lines[0].paused > 0


def test_an_unanswered_ring_times_out_and_the_caller_retries_keeping_their_place(
    hotline: Hotline, traffic: Traffic
) -> None:
    pool = single_pool(hotline, 1)
    result = run(pool, quiet(traffic, no_answer=1.0), [call(1, NINE, patience=100.0)])
    (rec,) = result.records
    assert (rec.outcome, rec.wait) == (Outcome.ABANDONED_IN_QUEUE, pytest.approx(100.0))
    ring, retry = hotline.queues.ring_seconds, hotline.queues.retry_seconds
    assert result.rings_unanswered == 100 // (ring + retry) + 1


def test_patience_and_max_wait_end_a_wait(hotline: Hotline, traffic: Traffic) -> None:
    nobody = quiet(traffic, **only())
    result = by_id(run(hotline, nobody, [call(1, NINE, patience=42.0), call(2, NINE)]))
    assert (result[1].outcome, result[1].wait) == (Outcome.ABANDONED_IN_QUEUE, pytest.approx(42.0))
    assert (result[2].outcome, result[2].wait) == (Outcome.TIMEOUT, pytest.approx(hotline.queues.max_wait_seconds))


def test_calls_outside_opening_hours_and_on_holidays_are_closed(hotline: Hotline, traffic: Traffic) -> None:
    easter_monday = (dt.date(2021, 4, 5) - MONDAY).days * 86400.0
    calls = [call(1, 22 * 3600.0), call(2, 6 * 86400.0 + NINE), call(3, easter_monday + NINE), call(4, NINE)]
    result = by_id(run(hotline, quiet(traffic), calls, days=100))
    closed, answered = Outcome.CLOSED, Outcome.ANSWERED
    assert [result[n].outcome for n in (1, 2, 3, 4)] == [closed, closed, closed, answered]


def test_a_higher_priority_caller_goes_first(hotline: Hotline, traffic: Traffic) -> None:
    def decide(
        profile: router.CallerProfile, rules: Hotline, outlook: router.QueueOutlook | None = None
    ) -> router.RoutingDecision:
        decision = router.decide(profile, rules, outlook)
        return dataclasses.replace(decision, priority=1) if profile.size == "large" else decision

    pool = single_pool(hotline, 1)
    calls = [call(1, NINE, handle=100), call(2, NINE + 10), call(3, NINE + 20, COMMERCE)]
    result = by_id(run(pool, quiet(traffic), calls, decide=decide))
    assert result[3].wait < result[2].wait
    assert result[3].wait == pytest.approx(80.0)


def test_same_seed_same_run_and_another_seed_another(hotline: Hotline, traffic: Traffic) -> None:
    calls = generate_calls(traffic, MONDAY, 1, random.Random(5))
    first, again, other = (run(hotline, traffic, calls, seed=s) for s in (1, 1, 2))
    assert first.records == again.records
    assert first.records != other.records
