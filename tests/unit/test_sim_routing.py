"""The simulator routes with the production code: a change of router or of rules shows in its outcome."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter

import pytest

from cdr.vocabulary import Outcome
from config.loader import parse_hotline
from config.models import Hotline
from config.settings import REPO_ROOT
from routing import router
from sim.calendar import Calendar
from sim.caller import Call, generate_calls
from sim.engine import Decide, RunResult, simulate
from sim.traffic import Advisors, Pauses, Traffic, load_traffic

DAY = dt.date(2020, 3, 30)  # a surge Monday
NINE = 9 * 3600.0
CRAFTS = (("need", "difficulty"), ("sector", "crafts"), ("size", "micro"), ("departement", "nord"))


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return load_traffic(REPO_ROOT / "config" / "traffic.yaml")


def run(hotline: Hotline, traffic: Traffic, calls: list[Call], decide: Decide = router.decide) -> RunResult:
    return simulate(hotline, traffic, Calendar.build(hotline.hours, DAY, 1), calls, seed=3, decide=decide)


def surge_calls(traffic: Traffic) -> list[Call]:
    return generate_calls(traffic, DAY, 1, random.Random("routing"))


def answering_partners(result: RunResult, sector: str) -> Counter[str | None]:
    """Who answered the callers of one sector (whatever else they said)."""
    return Counter(r.partner for r in result.records if r.sector == sector and r.outcome == Outcome.ANSWERED)


def commerce_asa(result: RunResult) -> float:
    waits = [r.wait for r in result.records if r.sector == "commerce" and r.outcome == Outcome.ANSWERED]
    return sum(waits) / len(waits)


def test_the_simulator_asks_the_router_it_is_given(hotline: Hotline, traffic: Traffic) -> None:
    """The production router by default; another one (a study's, a test's) when passed."""
    calls = surge_calls(traffic)
    before = {r.queue for r in run(hotline, traffic, calls).records if r.queue}
    assert "rank-cma-cci" in before and len(before) > 10

    def everyone_to_the_general_queue(
        profile: router.CallerProfile, rules: Hotline, outlook: router.QueueOutlook | None = None
    ) -> router.RoutingDecision:
        decision = router.decide(profile.__class__(ivr_exit="advisor"), rules, outlook)
        assert decision.queue == rules.queues.general_queue
        return decision

    after = {r.queue for r in run(hotline, traffic, calls, everyone_to_the_general_queue).records if r.queue}
    assert after == {hotline.queues.general_queue}


def test_a_skill_change_moves_the_calls_to_the_newly_skilled_partner(hotline: Hotline, traffic: Traffic) -> None:
    """CMA loses the crafts skill, CCI gets it at level 5: crafts callers now reach CCI first.

    (Ranked on the whole profile, a few crafts callers rank DIRECCTE or Région first: a large
    firm in difficulty, say; hence 3/4 of them at CMA, not the 4/5 of the sector queue.)
    """
    calls = surge_calls(traffic)
    before = answering_partners(run(hotline, traffic, calls), "crafts")
    partners = []
    for p in hotline.partners:
        skills = dict(p.skills)
        if p.id == "cma":
            skills.pop("sector:crafts")
        if p.id == "cci":
            skills["sector:crafts"] = 5
        partners.append(p.model_copy(update={"skills": skills}))
    after = answering_partners(run(hotline.model_copy(update={"partners": partners}), traffic, calls), "crafts")
    assert before.most_common(1)[0][0] == "cma" and before["cma"] > 0.75 * before.total()
    assert after.most_common(1)[0][0] == "cci" and after["cci"] > 0.6 * after.total()
    assert after["cma"] < before["cma"] / 3


def test_a_lower_skill_level_is_a_higher_penalty_and_a_later_ring(hotline: Hotline, traffic: Traffic) -> None:
    """MEL's commerce skill from 3 to 5: for a Nord commerce caller MEL goes from the second tier
    (penalty 1, rings after 30 s) to the first (penalty 0): MEL answers at once. The first caller,
    from the Somme, ranks CCI first either way and takes CCI's only line."""
    quiet = traffic.model_copy(update={"advisors": Advisors(
        answer_seconds=(0.0, 0.0), no_answer=0.0, pauses=Pauses(per_hour=0.0), skill_slowdown=0.0,
        staffed={"cci": 0.125, "mel": 0.25}, staffed_default=0.0)})
    commerce = (("need", "creation"), ("sector", "commerce"), ("size", "micro"), ("departement", "nord"))
    somme = (*commerce[:3], ("departement", "somme"))
    calls = [Call(1, NINE, answers=somme, handle=3000), Call(2, NINE + 5, answers=commerce, handle=60)]
    waits = []
    for level in (3, 5):
        partners = [p.model_copy(update={"skills": {**p.skills, "sector:commerce": level}}) if p.id == "mel" else p
                    for p in hotline.partners]
        result = run(hotline.model_copy(update={"partners": partners}), quiet, calls)
        waits.append(next(r.wait for r in result.records if r.call_id == 2))
    assert waits == [pytest.approx(30.0), pytest.approx(0.0)]


def test_an_escalation_step_edited_in_the_yaml_text_changes_the_wait(traffic: Traffic) -> None:
    text = (REPO_ROOT / "config" / "hotline.yaml").read_text(encoding="utf-8")
    assert "{after_seconds: 90, max_penalty: 9}" in text
    edited = text.replace("{after_seconds: 90, max_penalty: 9}", "{after_seconds: 45, max_penalty: 9}")
    quiet = traffic.model_copy(update={"advisors": Advisors(
        answer_seconds=(0.0, 0.0), no_answer=0.0, pauses=Pauses(per_hour=0.0), skill_slowdown=0.0,
        staffed={"cma": 0.125, "region": 0.125}, staffed_default=0.0)})  # Région: a crafts caller's last tier
    calls = [Call(1, NINE, answers=CRAFTS, handle=3000),
             Call(2, NINE + 10, answers=CRAFTS, handle=60, patience=math.inf)]
    waits = [
        next(r.wait for r in run(parse_hotline(t, "hotline.yaml"), quiet, calls).records if r.call_id == 2)
        for t in (text, edited)
    ]
    assert waits == [pytest.approx(90.0), pytest.approx(45.0)]


def test_a_later_first_escalation_step_worsens_the_commerce_queue(hotline: Hotline, traffic: Traffic) -> None:
    """The what-if of the issue: the 30 s step at 60 s keeps commerce callers on CCI longer."""
    steps = list(hotline.queues.escalation)
    steps[1] = steps[1].model_copy(update={"after_seconds": 60})
    later = hotline.model_copy(update={"queues": hotline.queues.model_copy(update={"escalation": steps})})
    t = traffic.model_copy(update={"advisors": traffic.advisors.model_copy(update={"staffed_default": 0.5})})
    calls = surge_calls(t)
    now, then = (commerce_asa(run(h, t, calls)) for h in (hotline, later))
    assert then > now
