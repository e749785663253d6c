"""The router on the real rules (``config/hotline.yaml``): who rings first, when the pool widens,
what a live outlook changes.

Callers follow the seeds' mix (2020 cell: 50 % of calls from firms of 1-9 staff, 30 %
self-employed, crafts 20 %, commerce and industry 50 %; 2003 line: commerce 54 %, services 32 %).
The partner a sector rings first is written here by name *and* checked against the YAML, so a
config change that moves a partner's role fails loudly instead of silently re-routing callers.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.loader import load_hotline
from config.models import Hotline
from config.settings import REPO_ROOT
from ivr.machine import ExitReason
from routing.router import (
    REPEAT_CALLER_PRIORITY,
    CallerProfile,
    QueueOutlook,
    RoutingDecision,
    decide,
    member_penalties,
    queue_names,
)

EVERY_PARTNER = frozenset({"direccte", "region", "cma", "cci", "mel"})
NOBODY_WAITING = None


# --------------------------------------------------------------------------- helpers


def caller(sector: str | None = None, **answers: Any) -> CallerProfile:
    """A typical caller of the 2020 cell: a 1-9 staff firm in difficulty, in the Nord."""
    values: dict[str, Any] = {"need": "difficulty", "size": "micro", "departement": "nord", **answers}
    return CallerProfile(caller_number="0321000000", sector=sector, **values)


def partner_of(hotline: Hotline, line: str) -> str:
    partner = hotline.partner_of(line)
    assert partner is not None, f"line {line} belongs to no partner"
    return partner.id


def partners_within(hotline: Hotline, penalties: Mapping[str, int], max_penalty: int) -> frozenset[str]:
    """The partners whose lines may ring while the queue rule allows ``max_penalty``."""
    return frozenset(partner_of(hotline, line) for line, penalty in penalties.items() if penalty <= max_penalty)


def best_in_yaml(hotline: Hotline, skill: str) -> frozenset[str]:
    """Read straight from the config: the partners with the highest level for ``skill``."""
    levels = {p.id: p.skills[skill] for p in hotline.partners if skill in p.skills}
    return frozenset(pid for pid, level in levels.items() if level == max(levels.values()))


def lines_of(hotline: Hotline, partner_ids: Iterable[str]) -> frozenset[str]:
    wanted = set(partner_ids)
    return frozenset(line for line, p in hotline.lines() if p.id in wanted)


def every_line(hotline: Hotline) -> frozenset[str]:
    return frozenset(line for line, _ in hotline.lines())


def variant(hotline: Hotline, *, queues: dict[str, Any] | None = None, routing: dict[str, Any] | None = None,
            skills: dict[str, dict[str, int]] | None = None, version: int | None = None) -> Hotline:
    """The real config with a few changes, validated like an applied edit."""
    data = hotline.model_dump(mode="json")
    data["queues"].update(queues or {})
    data["routing"].update(routing or {})
    for partner in data["partners"]:
        if skills is not None and partner["id"] in skills:
            partner["skills"] = skills[partner["id"]]
    if version is not None:
        data["version"] = version
    return Hotline.model_validate(data)


# --------------------------------------------------------------------------- whole profile


def yaml_best(hotline: Hotline, answers: dict[str, str]) -> frozenset[str]:
    """Recomputed here from the YAML, not with the router's code: the partners whose summed
    (weighted) skill levels over the caller's answers are the highest."""
    weights = hotline.routing.weights
    totals = {
        p.id: sum(weights[dim] * p.skills.get(f"{dim}:{value}", 0) for dim, value in answers.items())  # type: ignore[index]
        for p in hotline.partners
    }
    return frozenset(pid for pid, total in totals.items() if total == max(totals.values()))


# The callers who reached the wrong partner with sector routing, by name.
WHOLE_PROFILE_CASES = {
    "large firm in difficulty, industry, Oise -> Région": (
        {"need": "difficulty", "sector": "industry", "size": "large", "departement": "oise"}, {"region"}),
    "10-49 services firm in difficulty, Somme -> DIRECCTE": (
        {"need": "difficulty", "sector": "services", "size": "small", "departement": "somme"}, {"direccte"}),
    "self-employed creator in services, Nord -> MEL": (
        {"need": "creation", "sector": "services", "size": "self_employed", "departement": "nord"}, {"mel"}),
    "craftsman creating a micro firm, Aisne -> CMA": (
        {"need": "creation", "sector": "crafts", "size": "micro", "departement": "aisne"}, {"cma"}),
}


@pytest.mark.parametrize(("answers", "first"), WHOLE_PROFILE_CASES.values(), ids=WHOLE_PROFILE_CASES)
def test_the_whole_profile_chooses_who_rings_first(
    hotline: Hotline, answers: dict[str, str], first: set[str]
) -> None:
    decision = decide(CallerProfile("0321000000", **answers), hotline)

    assert yaml_best(hotline, answers) == first, "hotline.yaml changed this profile's best partner"
    assert partners_within(hotline, decision.penalties, 0) == first
    assert decision.queue.startswith("rank-") and decision.queue.split("-")[1] == "_".join(sorted(
        first, key=[p.id for p in hotline.partners].index))
    assert decision.skills == tuple(f"{k}:{v}" for k, v in answers.items())
    assert decision.priority == 0 and decision.action == "queue" and decision.max_penalty == 0
    assert max(decision.scores.values()) == decision.scores[next(iter(first))]


# (the profile, the answer changed, partners first before, partners first after)
ONE_ANSWER_APART = {
    "size": ({"need": "other", "sector": "services", "size": "micro", "departement": "somme"},
             {"size": "large"}, {"cci"}, {"direccte"}),
    "need": ({"need": "creation", "sector": "services", "size": "small", "departement": "somme"},
             {"need": "difficulty"}, {"cci"}, {"direccte"}),
    "departement": ({"need": "other", "sector": "services", "size": "micro", "departement": "somme"},
                    {"departement": "nord"}, {"cci"}, {"mel"}),
}


@pytest.mark.parametrize(("base", "change", "before", "after"), ONE_ANSWER_APART.values(), ids=ONE_ANSWER_APART)
def test_profiles_that_differ_in_one_answer_only_reach_different_partners(
    hotline: Hotline, base: dict[str, str], change: dict[str, str], before: set[str], after: set[str]
) -> None:
    """Sector routing sent each pair to the same partner: the answer now counts."""
    first = decide(CallerProfile("0321000000", **base), hotline)
    second = decide(CallerProfile("0321000000", **{**base, **change}), hotline)

    assert (yaml_best(hotline, base), yaml_best(hotline, {**base, **change})) == (before, after)
    assert partners_within(hotline, first.penalties, 0) == before
    assert partners_within(hotline, second.penalties, 0) == after
    assert first.queue != second.queue


def test_every_profile_the_menu_can_produce_rings_first_its_best_partners(hotline: Hotline) -> None:
    """All 450 full profiles and every early exit ("0" after some answers): tier 0 = YAML's best."""
    from routing.ranking import rankable_answers

    count = 0
    for answers in rankable_answers(hotline):
        decision = decide(CallerProfile("0321000000", **answers), hotline)
        assert decision.queue in queue_names(hotline)
        assert partners_within(hotline, decision.penalties, 0) == yaml_best(hotline, answers), answers
        count += 1
    assert count == 3 + 15 + 75 + 450 + 5


def test_a_weight_of_zero_makes_that_answer_count_for_nothing(hotline: Hotline) -> None:
    no_departement = variant(hotline, routing={"weights": {"need": 1, "sector": 1, "size": 1, "departement": 0}})
    nord = CallerProfile("0321000000", need="creation", sector="services", size="self_employed", departement="nord")

    assert partners_within(hotline, decide(nord, hotline).penalties, 0) == {"mel"}
    assert partners_within(no_departement, decide(nord, no_departement).penalties, 0) == {"cma", "cci"}


def test_need_weighted_above_sector_changes_the_first_partner(hotline: Hotline) -> None:
    """A craftsman in difficulty (1-9 staff): CMA on the sum (12 to 5); DIRECCTE when need counts
    five times (25 to 24)."""
    profile = CallerProfile("0321000000", need="difficulty", sector="crafts", size="micro", departement="somme")
    need_first = variant(hotline, routing={"weights": {"need": 5, "sector": 1, "size": 1, "departement": 1}})

    assert partners_within(hotline, decide(profile, hotline).penalties, 0) == {"cma"}
    assert partners_within(need_first, decide(profile, need_first).penalties, 0) == {"direccte"}


def test_a_line_penalty_is_its_partners_tier_and_every_line_is_a_member(hotline: Hotline) -> None:
    """Large firm in difficulty, industry: Région 13, DIRECCTE 12, then everyone else (tier 2)."""
    profile = CallerProfile("0321000000", need="difficulty", sector="industry", size="large", departement="oise")
    decision = decide(profile, hotline)
    by_partner = {partner_of(hotline, line): p for line, p in decision.penalties.items()}

    assert set(decision.penalties) == every_line(hotline)
    assert by_partner == {"region": 0, "direccte": 1, "cci": 2, "cma": 2, "mel": 2}
    assert decision.queue == "rank-region-direccte" and decision.tiers == (("region",), ("direccte",))
    assert dict(decision.scores) == {"direccte": 12, "region": 13, "cma": 3, "cci": 7, "mel": 0}


def test_one_tier_is_one_pool_of_every_line(hotline: Hotline) -> None:
    pooled = variant(hotline, routing={"tiers": 1})
    decision = decide(caller("crafts"), pooled)

    assert [q for q in queue_names(pooled) if q.startswith("rank-")] == ["rank-all"]
    assert decision.queue == "rank-all" and set(decision.penalties.values()) == {0}


def test_the_queues_are_every_distinct_ranking_bounded_by_the_tiers(hotline: Hotline) -> None:
    names = queue_names(hotline)
    ranked = [q for q in names if q.startswith("rank-")]

    assert len(names) == len(set(names))
    assert names[0] == "hotline" and names[-5:] == [f"partner-{p.id}" for p in hotline.partners]
    assert len(ranked) == 52  # hotline.yaml's comment says so; tiers: 3
    assert len([q for q in queue_names(variant(hotline, routing={"tiers": 2})) if q.startswith("rank-")]) == 13
    for queue in ranked:
        assert {p for _, p in member_penalties(hotline, queue).items()} <= {0, 1, 2}


# --------------------------------------------------------------------------- general queue, repeat callers


def test_caller_who_pressed_0_before_answering_goes_to_the_general_queue(hotline: Hotline) -> None:
    decision = decide(CallerProfile("0321000000", ivr_exit="advisor"), hotline)

    assert decision.queue == hotline.queues.general_queue == "hotline"
    assert decision.priority == 0 and decision.skills == ()
    assert decision.reason == "advisor requested"
    assert set(decision.penalties.values()) == {0}  # no answer to rank by: every line rings at once
    assert set(decision.penalties) == every_line(hotline)


def test_caller_who_pressed_0_after_some_answers_is_ranked_on_those(hotline: Hotline) -> None:
    """Need only: DIRECCTE has difficulty 5; need and sector: crafts makes CMA (3 + 5) first."""
    need_only = decide(CallerProfile("0321000000", need="difficulty", ivr_exit="advisor"), hotline)
    need_and_sector = decide(
        CallerProfile("0321000000", need="difficulty", sector="crafts", ivr_exit="advisor"), hotline)

    assert partners_within(hotline, need_only.penalties, 0) == {"direccte"}
    assert partners_within(hotline, need_and_sector.penalties, 0) == {"cma"}
    assert need_only.skills == ("need:difficulty",)


def test_the_degraded_fallbacks_sector_alone_has_its_queue(hotline: Hotline) -> None:
    for option in hotline.menu.step("sector").options:
        decision = decide(CallerProfile("0321000000", sector=option.value), hotline)
        assert decision.queue in queue_names(hotline)
        assert partners_within(hotline, decision.penalties, 0) == best_in_yaml(hotline, f"sector:{option.value}")


def test_answers_no_skill_knows_rank_nobody_up(hotline: Hotline) -> None:
    decision = decide(caller("agriculture"), hotline)

    assert decision.queue in queue_names(hotline)
    assert partners_within(hotline, decision.penalties, 0) == yaml_best(
        hotline, {"need": "difficulty", "size": "micro", "departement": "nord"})


def test_repeat_caller_goes_to_their_partners_queue_with_priority_1(hotline: Hotline) -> None:
    decision = decide(caller("commerce", partner="cma", ivr_exit="same_partner"), hotline)

    assert decision.queue == "partner-cma"
    assert decision.priority == REPEAT_CALLER_PRIORITY == 1  # ahead of first-time callers (priority 0)
    assert decision.reason == "same partner as a recent call: cma" and decision.skills == ()
    assert partners_within(hotline, decision.penalties, 0) == {"cma"}
    assert partners_within(hotline, decision.penalties, hotline.queues.skill_penalty_floor - 1) == {"cma"}
    assert set(decision.penalties) == every_line(hotline)


def test_repeat_caller_of_a_partner_no_longer_configured_is_routed_by_profile(hotline: Hotline) -> None:
    decision = decide(caller("crafts", partner="boutique", ivr_exit="same_partner"), hotline)

    assert decision.queue.startswith("rank-") and decision.priority == 0


# --------------------------------------------------------------------------- escalation


def test_escalation_widens_by_tiers_from_where_the_caller_starts(hotline: Hotline) -> None:
    decision = decide(caller("commerce"), hotline)

    assert decision.escalation == ((0, 0), (30, 1), (90, 9))
    assert decision.max_penalty == 0
    widths = [width for _, width in decision.escalation]
    assert widths == sorted(widths) and widths[-1] >= max(decision.penalties.values())


ALL = set(EVERY_PARTNER)
# profile -> the partners that may ring at each escalation step (0 s, 30 s, 90 s).
RING_ORDER = {
    "large industry in difficulty, Oise": (
        {"need": "difficulty", "sector": "industry", "size": "large", "departement": "oise"},
        [{"region"}, {"region", "direccte"}, ALL]),
    "micro crafts in difficulty, Nord": (
        {"need": "difficulty", "sector": "crafts", "size": "micro", "departement": "nord"},
        [{"cma"}, {"cma", "cci"}, ALL]),
    "self-employed creator, services, Nord": (
        {"need": "creation", "sector": "services", "size": "self_employed", "departement": "nord"},
        [{"mel"}, {"mel", "cma", "cci"}, ALL]),
}


@pytest.mark.parametrize(("answers", "waves"), RING_ORDER.values(), ids=RING_ORDER)
def test_escalation_rings_the_best_tier_first_then_the_second_then_everyone(
    hotline: Hotline, answers: dict[str, str], waves: list[set[str]]
) -> None:
    decision = decide(CallerProfile("0321000000", **answers), hotline)
    ringing = [partners_within(hotline, decision.penalties, width) for _, width in decision.escalation]

    assert ringing == waves
    assert all(before <= after for before, after in pairwise(ringing))


# --------------------------------------------------------------------------- live outlook


def test_paused_lines_stay_members_but_are_not_offered_the_call(hotline: Hotline) -> None:
    paused = frozenset({"cma-01", "cma-02", "cma-03", "cma-04"})
    outlook = QueueOutlook(every_line(hotline), paused, NOBODY_WAITING)
    decision = decide(caller("crafts"), hotline, outlook)

    assert decision.action == "queue" and decision.max_penalty == 0
    assert set(decision.penalties) == every_line(hotline) - paused
    assert {line for line, p in decision.penalties.items() if p == 0} == {"cma-05", "cma-06", "cma-07", "cma-08"}


def test_lines_not_logged_in_are_not_offered_the_call(hotline: Hotline) -> None:
    logged_in = lines_of(hotline, {"cma", "cci"})
    decision = decide(caller("crafts"), hotline, QueueOutlook(logged_in, frozenset(), NOBODY_WAITING))

    assert set(decision.penalties) == logged_in
    assert partners_within(hotline, decision.penalties, 0) == {"cma"}


def test_best_tier_all_paused_starts_the_caller_at_the_next_tier_at_once(hotline: Hotline) -> None:
    """CMA in a team meeting: a craftsman rings the second tier (CCI) now, not after 30 s."""
    cma = lines_of(hotline, {"cma"})
    decision = decide(caller("crafts"), hotline, QueueOutlook(every_line(hotline), cma, NOBODY_WAITING))

    assert decision.max_penalty == 1
    assert partners_within(hotline, decision.penalties, decision.max_penalty) == {"cci"}
    assert decision.escalation == ((0, 1), (30, 2), (90, 10))  # the same widening, shifted
    assert "starts at tier 1" in decision.reason


def test_best_tier_logged_out_counts_as_away(hotline: Hotline) -> None:
    present = every_line(hotline) - lines_of(hotline, {"cma"})
    decision = decide(caller("crafts"), hotline, QueueOutlook(present, frozenset(), NOBODY_WAITING))

    assert decision.max_penalty == 1


def test_live_penalties_already_rebased_are_not_shifted_twice(hotline: Hotline) -> None:
    """While CMA is away the service re-bases the queue (CCI at 0): the caller starts at 0."""
    cma = lines_of(hotline, {"cma"})
    queue = decide(caller("crafts"), hotline).queue
    rebased = {line: max(0, p - 1) for line, p in member_penalties(hotline, queue).items()}
    decision = decide(caller("crafts"), hotline, QueueOutlook(every_line(hotline), cma, NOBODY_WAITING, rebased))

    assert decision.max_penalty == 0
    assert partners_within(hotline, decision.penalties, 0) == {"cci"}


def test_logged_in_lines_all_paused_leave_no_eligible_line_but_still_queue_the_caller(hotline: Hotline) -> None:
    crafts_lines = lines_of(hotline, {"cma"})
    decision = decide(caller("crafts"), hotline, QueueOutlook(crafts_lines, crafts_lines, NOBODY_WAITING))

    assert decision.penalties == {}
    assert decision.action == "queue"  # a pause ends: the caller keeps their place meanwhile
    assert decision.queue == decide(caller("crafts"), hotline).queue and decision.max_penalty == 0


def test_every_line_paused_still_queues_the_caller(hotline: Hotline) -> None:
    lines = every_line(hotline)
    decision = decide(caller("commerce"), hotline, QueueOutlook(lines, lines, 45.0))

    assert decision.penalties == {} and decision.action == "queue"


def test_nobody_logged_in_means_no_queue_to_join(hotline: Hotline) -> None:
    decision = decide(caller("crafts"), hotline, QueueOutlook(frozenset(), frozenset(), NOBODY_WAITING))

    assert decision.action == "nobody_logged_in"
    assert decision.penalties == {}
    assert decision.reason == "profile ranks cma first; nobody logged in"


def test_nobody_logged_in_wins_over_a_long_expected_wait(hotline: Hotline) -> None:
    decision = decide(caller("crafts"), hotline, QueueOutlook(frozenset(), frozenset(), 1800.0))

    assert decision.action == "nobody_logged_in"


@pytest.mark.parametrize(
    ("expected_wait", "action"),
    [(None, "queue"), (0.0, "queue"), (120.0, "queue"), (300.0, "queue"),
     (300.5, "offer_callback"), (301.0, "offer_callback"), (3600.0, "offer_callback")],
)
def test_callback_is_offered_only_when_the_expected_wait_is_above_callback_offer_seconds(
    hotline: Hotline, expected_wait: float | None, action: str
) -> None:
    assert hotline.queues.callback_offer_seconds == 300
    outlook = QueueOutlook(every_line(hotline), frozenset(), expected_wait)
    decision = decide(caller("commerce"), hotline, outlook)

    assert decision.action == action
    assert decision.expected_wait_seconds == expected_wait
    assert set(decision.penalties) == every_line(hotline)  # a caller who declines still queues
    if action == "offer_callback":
        assert decision.reason.endswith(f"; expected wait {expected_wait:.0f}s > 300s")


@pytest.mark.parametrize("expected_wait", [301.0, 3600.0, 7200.0])
def test_callback_is_never_offered_when_callback_offer_seconds_is_null(
    hotline: Hotline, expected_wait: float
) -> None:
    never = variant(hotline, queues={"callback_offer_seconds": None})
    decision = decide(caller("commerce"), never, QueueOutlook(every_line(never), frozenset(), expected_wait))

    assert decision.action == "queue"


def test_without_an_outlook_every_configured_line_counts_and_no_callback_is_offered(hotline: Hotline) -> None:
    decision = decide(caller("industry"), hotline)

    assert decision.action == "queue" and decision.expected_wait_seconds is None
    assert decision.penalties == member_penalties(hotline, decision.queue)


# --------------------------------------------------------------------------- rule changes


def test_a_new_hotline_routes_by_its_own_rules(hotline: Hotline) -> None:
    crafts_at_mel = dict(next(p for p in hotline.partners if p.id == "mel").skills,
                         **{"sector:crafts": 5, "size:micro": 4})  # Nord 5 + 5 + 4 = 14 > CMA's 12
    edited = variant(hotline, skills={"mel": crafts_at_mel}, version=3)
    profile = caller("crafts", departement="nord")

    assert decide(profile, hotline).rule_version == hotline.version
    assert partners_within(hotline, decide(profile, hotline).penalties, 0) == {"cma"}
    assert partners_within(edited, decide(profile, edited).penalties, 0) == {"mel"}
    assert decide(profile, edited).rule_version == 3
    assert partners_within(hotline, decide(profile, hotline).penalties, 0) == {"cma"}


def test_hotlines_applied_one_after_another_never_route_by_stale_rules(hotline: Hotline) -> None:
    """Each edit is a new Hotline object, possibly at the address of a discarded one."""
    partners = sorted(EVERY_PARTNER)
    for turn in range(3 * len(partners)):
        chosen = partners[turn % len(partners)]
        skills = {p.id: {k: v for k, v in p.skills.items() if k != "sector:crafts"} for p in hotline.partners}
        skills[chosen]["sector:crafts"] = 5
        edited = variant(hotline, skills=skills, version=turn + 3)

        decision = decide(CallerProfile("0321000000", sector="crafts"), edited)

        assert partners_within(edited, decision.penalties, 0) == {chosen}
        assert member_penalties(edited, decision.queue) == decision.penalties
        assert decision.rule_version == turn + 3
        del edited, decision
        gc.collect()


def test_changing_a_returned_penalty_map_changes_no_later_decision(hotline: Hotline) -> None:
    queue = decide(caller("crafts"), hotline).queue
    members = member_penalties(hotline, queue)
    members["cma-01"] = 7
    first = decide(caller("crafts"), hotline)
    assert isinstance(first.penalties, dict)
    first.penalties["cci-01"] = 0

    assert member_penalties(hotline, queue)["cma-01"] == 0
    assert decide(caller("crafts"), hotline).penalties["cci-01"] == 1  # CCI is a craftsman's second tier


# --------------------------------------------------------------------------- property

RULES = load_hotline(REPO_ROOT / "config" / "hotline.yaml")
LINES = sorted(every_line(RULES))


def menu_values(step: str) -> st.SearchStrategy[str | None]:
    return st.none() | st.sampled_from([o.value for o in RULES.menu.step(step).options])


profiles = st.builds(
    CallerProfile,
    caller_number=st.just("0321000000"),
    need=menu_values("need"),
    sector=menu_values("sector"),
    size=menu_values("size"),
    departement=menu_values("departement"),
    ivr_exit=st.sampled_from([e.value for e in ExitReason]),
    partner=st.none() | st.sampled_from([*sorted(EVERY_PARTNER), "boutique"]),
)
outlooks = st.none() | st.builds(
    QueueOutlook,
    logged_in=st.frozensets(st.sampled_from(LINES)),
    paused=st.frozensets(st.sampled_from(LINES)),
    expected_wait_seconds=st.none() | st.floats(min_value=0, max_value=7200),
)


def check_decision(decision: RoutingDecision, hotline: Hotline, outlook: QueueOutlook | None) -> None:
    floor = hotline.queues.skill_penalty_floor
    eligible = every_line(hotline) if outlook is None else outlook.logged_in - outlook.paused
    assert decision.queue in queue_names(hotline)
    assert set(decision.penalties) == eligible  # every eligible line is a member, no one else
    assert all(0 <= p <= floor for p in decision.penalties.values())
    # The caller starts where someone present is (never past everyone), then widens to all.
    if decision.penalties:
        assert decision.max_penalty == min(decision.penalties.values())
    assert decision.escalation[-1][1] >= max(decision.penalties.values(), default=0)
    assert decision.priority in (0, REPEAT_CALLER_PRIORITY)
    assert decision.rule_version == hotline.version
    if outlook is not None and not outlook.logged_in:
        assert decision.action == "nobody_logged_in"


@settings(max_examples=300)
@given(profile=profiles, outlook=outlooks)
def test_any_menu_profile_gets_a_known_queue_and_penalties_for_eligible_lines_only(
    hotline: Hotline, profile: CallerProfile, outlook: QueueOutlook | None
) -> None:
    check_decision(decide(profile, hotline, outlook), hotline, outlook)
