"""Issue #11's figures: best-partner share and service level per routing variant (sim.routing_study)."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
from collections.abc import Mapping

import pytest

from aiguilleur import cli_sim
from cdr.vocabulary import Outcome
from config.models import EscalationStep, Hotline
from config.settings import REPO_ROOT, Settings
from routing import router
from sim import routing_study as rs
from sim.calendar import Calendar
from sim.caller import Call, generate_calls
from sim.engine import Record, RunResult, Simulation
from sim.traffic import Advisors, Pauses, Traffic, load_traffic

DAY = dt.date(2020, 3, 30)
NINE = 9 * 3600.0
CRAFTS = {"need": "difficulty", "sector": "crafts", "size": "micro", "departement": "nord"}


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return load_traffic(REPO_ROOT / "config" / "traffic.yaml")


@pytest.fixture(scope="module")
def study(hotline: Hotline, traffic: Traffic) -> rs.Study:
    """Two replications of the busiest day, every variant, a fixed seed."""
    return rs.run_study(hotline, traffic, DAY, replications=2, seed=7)


def mean(study: rs.Study, key: str, metric: str) -> float:
    value = study.estimate(key, metric).mean
    assert value is not None
    return value


def test_the_busiest_day_of_the_model_is_the_surge_monday(traffic: Traffic) -> None:
    assert rs.busiest_day(traffic) == DAY
    assert traffic.day_volume(DAY) == pytest.approx(868, abs=1)


def test_variants_change_only_what_they_name(hotline: Hotline) -> None:
    found = {v.key: v for v in rs.variants(hotline)}
    assert list(found)[:4] == ["whole", "sector", "pooled", "static"]
    assert found["whole"].hotline is hotline and found["whole"].first_widening == 30
    assert found["sector"].hotline.routing.weights == {"need": 0, "sector": 1, "size": 0, "departement": 0}
    assert found["pooled"].hotline.routing.tiers == 1
    assert found["static"].hotline.queues.escalation == [EscalationStep(after_seconds=0, max_penalty=0)]
    assert not found["static"].live_state and found["whole"].live_state
    assert sorted(v.first_widening or 0 for v in found.values() if not v.in_table) == [10, 20, 45, 60, 90]
    steps = [(s.after_seconds, s.max_penalty) for s in found["widen-45"].hotline.queues.escalation]
    assert steps == [(0, 0), (45, 1), (105, 9)]  # the later step keeps its 60 s spacing
    assert hotline.queues.escalation[1].after_seconds == 30  # the source is untouched
    assert {v.hotline.routing.tiers for v in rs.variants(hotline, (), tiers=2) if v.key != "pooled"} == {2}
    with pytest.raises(ValueError, match="never widens"):
        rs.widened(rs.static(hotline), 20)


def test_the_pooled_queue_rings_every_line_at_once_and_the_sector_ranking_only_looks_at_the_sector(
    hotline: Hotline,
) -> None:
    crafts = router.CallerProfile(**CRAFTS)
    assert router.decide(crafts, rs.pooled(hotline)).queue == "rank-all"
    assert set(router.decide(crafts, rs.pooled(hotline)).penalties.values()) == {0}
    assert router.decide(crafts, rs.sector_only(hotline)).queue == "rank-cma"
    assert router.decide(crafts, hotline).queue == "rank-cma-cci"


def record(call_id: int, partner: str | None, answers: Mapping[str, str], *, outcome: str = Outcome.ANSWERED,
           wait: float = 0.0) -> Record:
    return Record(call_id, NINE, outcome, answers.get("need"), answers.get("sector"), queue="q", wait=wait,
                  partner=partner, size=answers.get("size"), departement=answers.get("departement"))


def test_figures_rank_each_answered_caller_on_the_reference_whole_profile(hotline: Hotline) -> None:
    """CMA is a crafts caller's best partner, CCI the second; a caller with no answer is not ranked."""
    records = [
        record(1, "cma", CRAFTS),
        record(2, "cci", CRAFTS, wait=70.0),
        record(3, "region", CRAFTS),
        record(4, "region", {}),  # pressed 0 at once
        record(5, None, CRAFTS, outcome=Outcome.ABANDONED_IN_QUEUE, wait=10.0),
    ]
    result = RunResult(records, [], 3600.0, Calendar.build(hotline.hours, DAY, 1), 0, 0)
    got = rs.figures(result, rs.ReferenceRanking(hotline), threshold=60.0)
    assert got["ranked"] == 3
    assert got["best"] == pytest.approx(1 / 3) and got["top2"] == pytest.approx(2 / 3)
    assert got["sl"] == pytest.approx(3 / 5) and got["abandonment"] == pytest.approx(1 / 5)
    assert got["asa"] == pytest.approx(70.0 / 4)
    # The reference is the whole profile whatever the variant routed on: the pooled rules see no tiers.
    assert rs.figures(result, rs.ReferenceRanking(rs.pooled(hotline)), 60.0)["best"] == 1.0


def test_pooling_takes_calls_from_the_best_partner(study: rs.Study) -> None:
    assert mean(study, "pooled", "best") < 0.5 < mean(study, "whole", "best")
    assert mean(study, "pooled", "top2") < mean(study, "whole", "top2")


def test_the_sector_alone_finds_the_best_partner_less_often_than_the_whole_profile(study: rs.Study) -> None:
    for sector, whole in zip(study.runs["sector"], study.runs["whole"], strict=True):  # same calls
        assert sector["offered"] == whole["offered"]
        assert sector["best"] is not None and whole["best"] is not None
        assert sector["best"] < whole["best"] - 0.1


def test_static_partner_queues_are_never_answered_by_another_partner(study: rs.Study) -> None:
    assert all(run["best"] == 1.0 for run in study.runs["static"])
    assert mean(study, "static", "sl") < mean(study, "pooled", "sl")  # the price: no overflow


def test_a_later_first_widening_keeps_more_callers_on_their_best_partner(study: rs.Study) -> None:
    assert mean(study, "widen-10", "best") < mean(study, "whole", "best") < mean(study, "widen-90", "best")
    assert mean(study, "widen-10", "asa") < mean(study, "widen-90", "asa")


def test_static_queues_ignore_a_paused_best_tier(hotline: Hotline, traffic: Traffic) -> None:
    """CMA's only line is paused for good: the static variant's crafts caller waits for CMA (then gives
    up), where the ranking variant, given the live state, starts them at CCI at once."""
    t = traffic.model_copy(update={"advisors": Advisors(
        answer_seconds=(0.0, 0.0), no_answer=0.0, pauses=Pauses(per_hour=0.0), skill_slowdown=0.0,
        staffed={"cma": 0.125, "cci": 0.125}, staffed_default=0.0)})
    calls = [Call(1, NINE, answers=tuple(CRAFTS.items()), handle=60, patience=120.0)]
    outcomes = {}
    for v in rs.variants(hotline, ()):
        if v.key in ("whole", "static"):
            simulation = Simulation(v.hotline, t, Calendar.build(hotline.hours, DAY, 1), calls,
                                    live_state=v.live_state)
            cma = next(line for line in simulation.lines if line.partner == "cma" and line.staffed)
            simulation.free.remove(cma)
            simulation._pause(cma, 1e9)
            (rec,) = simulation.run().records
            outcomes[v.key] = (rec.outcome, rec.partner)
    assert outcomes == {"whole": (Outcome.ANSWERED, "cci"), "static": (Outcome.ABANDONED_IN_QUEUE, None)}


def test_same_seed_same_study_and_the_report_shows_every_variant(hotline: Hotline, traffic: Traffic) -> None:
    calls = generate_calls(traffic, DAY, 1, random.Random("1:0:traffic"))
    chosen = [v for v in rs.variants(hotline, (60,)) if v.key in ("whole", "pooled", "widen-60")]
    first, again = (rs.run_study(hotline, traffic, DAY, replications=1, seed=1, chosen=chosen) for _ in range(2))
    assert first.runs == again.runs
    offered = first.runs["whole"][0]["offered"]
    assert offered is not None and math.isclose(offered, sum(1 for c in calls if c.kind == 0), rel_tol=0.2)
    text = rs.report(first)
    assert "whole: whole-profile ranking" in text and "pooled: one pooled queue" in text
    assert "widen-60" not in text.split("trade-off")[0]  # curve points sit in the curve
    assert "30 s (whole)" in text and "\n60 s " in text


def test_cli_routing_prints_the_table_and_the_curve(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="aiguilleur")
    cli_sim.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sim", "routing", "--replications", "2", "--widenings", "20", "--no-progress"])
    assert args.func(Settings(), args) == 0
    out = capsys.readouterr().out
    assert "2020-03-30 (Monday), 2 replication(s), seed 1" in out and "36 lines" in out
    for key in ("whole", "sector", "pooled", "static"):
        assert f"\n{key}: " in out
    assert "trade-off" in out and "\n20 s " in out and "30 s (whole)" in out
    assert "SL 60 s" in out and "SL - pooled (pts)" in out
