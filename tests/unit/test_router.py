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


def variant(hotline: Hotline, *, queues: dict[str, Any] | None = None,
            skills: dict[str, dict[str, int]] | None = None, version: int | None = None) -> Hotline:
    """The real config with a few changes, validated like an applied edit."""
    data = hotline.model_dump(mode="json")
    data["queues"].update(queues or {})
    for partner in data["partners"]:
        if skills is not None and partner["id"] in skills:
            partner["skills"] = skills[partner["id"]]
    if version is not None:
        data["version"] = version
    return Hotline.model_validate(data)


# --------------------------------------------------------------------------- sector callers

# sector -> the partners whose lines ring first (penalty 0), by name.
FIRST_BY_SECTOR = {
    "crafts": {"cma"},               # CMA, crafts level 5; nobody else has the skill
    "commerce": {"cci"},             # CCI level 5, ahead of MEL level 3
    "industry": {"region", "cci"},   # Région/HDFID and CCI level 4, DIRECCTE 3
    "services": {"cci"},             # CCI level 4, DIRECCTE and MEL 3, Région 2
    "liberal": {"direccte", "cci"},  # DIRECCTE and CCI level 3, Région 2
}


@pytest.mark.parametrize(("sector", "first"), FIRST_BY_SECTOR.items(), ids=FIRST_BY_SECTOR)
def test_each_sector_rings_first_the_partner_with_the_best_level_for_it(
    hotline: Hotline, sector: str, first: set[str]
) -> None:
    decision = decide(caller(sector), hotline)

    assert decision.queue == f"sector-{sector}"
    assert decision.skills == (f"sector:{sector}",)
    assert decision.priority == 0 and decision.action == "queue"
    assert decision.reason == f"sector:{sector}"
    assert best_in_yaml(hotline, f"sector:{sector}") == first, "hotline.yaml changed this sector's best partner"
    assert partners_within(hotline, decision.penalties, 0) == first


def test_every_menu_sector_has_its_queue_and_a_partner_to_ring_first(hotline: Hotline) -> None:
    sectors = {o.value for o in hotline.menu.step("sector").options}
    assert sectors == set(FIRST_BY_SECTOR)
    assert set(queue_names(hotline)) == {
        hotline.queues.general_queue, *(f"sector-{s}" for s in sectors), *(f"partner-{p}" for p in EVERY_PARTNER)
    }


def test_a_craftsman_rings_cma_lines_at_penalty_0_and_the_others_only_at_the_floor(hotline: Hotline) -> None:
    penalties = decide(caller("crafts"), hotline).penalties
    floor = hotline.queues.skill_penalty_floor

    assert set(penalties) == every_line(hotline)  # every line is a member: the pool can widen to all
    assert {line for line, p in penalties.items() if p == 0} == lines_of(hotline, {"cma"})
    assert {line for line, p in penalties.items() if p == floor} == lines_of(hotline, EVERY_PARTNER - {"cma"})


def test_penalty_is_the_distance_to_the_best_level_present(hotline: Hotline) -> None:
    """Services: CCI 4 -> 0, DIRECCTE and MEL 3 -> 1, Région 2 -> 2, CMA (no skill) -> floor."""
    penalties = decide(caller("services"), hotline).penalties
    by_partner = {partner_of(hotline, line): p for line, p in penalties.items()}

    assert by_partner == {"cci": 0, "direccte": 1, "mel": 1, "region": 2, "cma": hotline.queues.skill_penalty_floor}


@pytest.mark.parametrize("size", ["self_employed", "micro", "small", "medium", "large"])
@pytest.mark.parametrize("departement", ["aisne", "nord", "oise", "pas_de_calais", "somme", "hors_region"])
def test_the_queue_follows_the_sector_alone(hotline: Hotline, size: str, departement: str) -> None:
    """Need, size and département skills (MEL's ``departement:nord``) do not choose the queue today."""
    decision = decide(caller("commerce", size=size, departement=departement, need="creation"), hotline)

    assert decision.queue == "sector-commerce"
    assert decision.penalties == member_penalties(hotline, "sector-commerce")


# --------------------------------------------------------------------------- general queue, repeat callers


def test_caller_who_pressed_0_before_the_sector_goes_to_the_general_queue(hotline: Hotline) -> None:
    decision = decide(CallerProfile("0321000000", need="difficulty", ivr_exit="advisor"), hotline)

    assert decision.queue == hotline.queues.general_queue == "hotline"
    assert decision.priority == 0 and decision.skills == ()
    assert decision.reason == "advisor requested"
    assert set(decision.penalties.values()) == {0}  # no skill to rank by: every line rings at once
    assert set(decision.penalties) == every_line(hotline)


def test_caller_who_pressed_0_after_the_sector_keeps_the_sector_queue(hotline: Hotline) -> None:
    """hotline.yaml: the general queue is for "callers who pressed 0 before saying their sector"."""
    decision = decide(caller("crafts", ivr_exit="advisor"), hotline)

    assert decision.queue == "sector-crafts"


def test_caller_with_a_sector_not_on_the_menu_goes_to_the_general_queue(hotline: Hotline) -> None:
    decision = decide(caller("agriculture"), hotline)

    assert decision.queue == hotline.queues.general_queue
    assert decision.reason == "no sector" and decision.skills == ()


def test_repeat_caller_goes_to_their_partners_queue_with_priority_1(hotline: Hotline) -> None:
    decision = decide(caller("commerce", partner="cma", ivr_exit="same_partner"), hotline)

    assert decision.queue == "partner-cma"
    assert decision.priority == REPEAT_CALLER_PRIORITY == 1  # ahead of first-time callers (priority 0)
    assert decision.reason == "same partner as a recent call: cma" and decision.skills == ()
    assert partners_within(hotline, decision.penalties, 0) == {"cma"}
    assert partners_within(hotline, decision.penalties, hotline.queues.skill_penalty_floor - 1) == {"cma"}
    assert set(decision.penalties) == every_line(hotline)


def test_repeat_caller_of_a_partner_no_longer_configured_is_routed_by_sector(hotline: Hotline) -> None:
    decision = decide(caller("crafts", partner="boutique", ivr_exit="same_partner"), hotline)

    assert decision.queue == "sector-crafts" and decision.priority == 0


# --------------------------------------------------------------------------- escalation


def test_escalation_steps_widen_max_penalty_over_time_up_to_every_line(hotline: Hotline) -> None:
    escalation = decide(caller("commerce"), hotline).escalation

    assert escalation == ((0, 1), (30, 4), (90, 9))
    assert escalation == tuple((s.after_seconds, s.max_penalty) for s in hotline.queues.escalation)
    times = [after for after, _ in escalation]
    widths = [width for _, width in escalation]
    assert times[0] == 0 and times == sorted(set(times))
    assert widths == sorted(widths) and widths[-1] >= hotline.queues.skill_penalty_floor


ALL = set(EVERY_PARTNER)
# sector -> the partners that may ring at each escalation step (0 s, 30 s, 90 s).
RING_ORDER = {
    "commerce": [{"cci"}, {"cci", "mel"}, ALL],
    "crafts": [{"cma"}, {"cma"}, ALL],
    "industry": [{"region", "cci", "direccte"}, {"region", "cci", "direccte"}, ALL],
    "services": [{"cci", "direccte", "mel"}, {"cci", "direccte", "mel", "region"}, ALL],
    "liberal": [{"direccte", "cci", "region"}, {"direccte", "cci", "region"}, ALL],
}


@pytest.mark.parametrize(("sector", "waves"), RING_ORDER.items(), ids=RING_ORDER)
def test_escalation_rings_the_best_partner_first_then_the_next_level_then_everyone(
    hotline: Hotline, sector: str, waves: list[set[str]]
) -> None:
    decision = decide(caller(sector), hotline)
    ringing = [partners_within(hotline, decision.penalties, width) for _, width in decision.escalation]

    assert ringing == waves
    assert all(before <= after for before, after in pairwise(ringing))


# --------------------------------------------------------------------------- live outlook


def test_paused_lines_stay_members_but_are_not_offered_the_call(hotline: Hotline) -> None:
    paused = frozenset({"cci-01", "cci-02", "cci-03", "cci-04"})
    outlook = QueueOutlook(every_line(hotline), paused, NOBODY_WAITING)
    decision = decide(caller("commerce"), hotline, outlook)

    assert decision.action == "queue"
    assert set(decision.penalties) == every_line(hotline) - paused
    assert {line for line, p in decision.penalties.items() if p == 0} == {"cci-05", "cci-06", "cci-07", "cci-08"}


def test_lines_not_logged_in_are_not_offered_the_call(hotline: Hotline) -> None:
    logged_in = lines_of(hotline, {"cma", "cci"})
    decision = decide(caller("crafts"), hotline, QueueOutlook(logged_in, frozenset(), NOBODY_WAITING))

    assert set(decision.penalties) == logged_in
    assert partners_within(hotline, decision.penalties, 0) == {"cma"}


def test_logged_in_lines_all_paused_leave_no_eligible_line_but_still_queue_the_caller(hotline: Hotline) -> None:
    crafts_lines = lines_of(hotline, {"cma"})
    decision = decide(caller("crafts"), hotline, QueueOutlook(crafts_lines, crafts_lines, NOBODY_WAITING))

    assert decision.penalties == {}
    assert decision.action == "queue"  # a pause ends: the caller keeps their place meanwhile
    assert decision.queue == "sector-crafts"


def test_every_line_paused_still_queues_the_caller(hotline: Hotline) -> None:
    lines = every_line(hotline)
    decision = decide(caller("commerce"), hotline, QueueOutlook(lines, lines, 45.0))

    assert decision.penalties == {} and decision.action == "queue"


def test_best_partner_all_paused_leaves_the_others_at_their_own_penalty(hotline: Hotline) -> None:
    """Penalties are not re-ranked by who is free: with CMA paused, a craftsman waits for the step
    that reaches the floor (90 s) although other lines are idle."""
    cma = lines_of(hotline, {"cma"})
    decision = decide(caller("crafts"), hotline, QueueOutlook(every_line(hotline), cma, NOBODY_WAITING))

    assert set(decision.penalties.values()) == {hotline.queues.skill_penalty_floor}
    first_step_reaching_them = min(after for after, width in decision.escalation
                                   if width >= hotline.queues.skill_penalty_floor)
    assert first_step_reaching_them == 90


def test_nobody_logged_in_means_no_queue_to_join(hotline: Hotline) -> None:
    decision = decide(caller("crafts"), hotline, QueueOutlook(frozenset(), frozenset(), NOBODY_WAITING))

    assert decision.action == "nobody_logged_in"
    assert decision.penalties == {}
    assert decision.reason == "sector:crafts; nobody logged in"


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
        assert decision.reason == f"sector:commerce; expected wait {expected_wait:.0f}s > 300s"


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
    assert decision.penalties == member_penalties(hotline, "sector-industry")


# --------------------------------------------------------------------------- rule changes


def test_a_new_hotline_routes_by_its_own_rules(hotline: Hotline) -> None:
    crafts_at_mel = dict(next(p for p in hotline.partners if p.id == "mel").skills, **{"sector:crafts": 5})
    edited = variant(hotline, skills={"mel": crafts_at_mel}, version=2)

    assert decide(caller("crafts"), hotline).rule_version == hotline.version
    assert partners_within(hotline, decide(caller("crafts"), hotline).penalties, 0) == {"cma"}
    assert partners_within(edited, decide(caller("crafts"), edited).penalties, 0) == {"cma", "mel"}
    assert decide(caller("crafts"), edited).rule_version == 2
    assert partners_within(hotline, decide(caller("crafts"), hotline).penalties, 0) == {"cma"}


def test_hotlines_applied_one_after_another_never_route_by_stale_rules(hotline: Hotline) -> None:
    """Each edit is a new Hotline object, possibly at the address of a discarded one."""
    partners = sorted(EVERY_PARTNER)
    for turn in range(3 * len(partners)):
        chosen = partners[turn % len(partners)]
        skills = {p.id: {k: v for k, v in p.skills.items() if k != "sector:crafts"} for p in hotline.partners}
        skills[chosen]["sector:crafts"] = 5
        edited = variant(hotline, skills=skills, version=turn + 2)

        decision = decide(caller("crafts"), edited)

        assert partners_within(edited, decision.penalties, 0) == {chosen}
        assert member_penalties(edited, "sector-crafts") == decision.penalties
        assert decision.rule_version == turn + 2
        del edited, decision
        gc.collect()


def test_changing_a_returned_penalty_map_changes_no_later_decision(hotline: Hotline) -> None:
    members = member_penalties(hotline, "sector-crafts")
    members["cma-01"] = 7
    first = decide(caller("crafts"), hotline)
    assert isinstance(first.penalties, dict)
    first.penalties["cci-01"] = 0

    assert member_penalties(hotline, "sector-crafts")["cma-01"] == 0
    assert decide(caller("crafts"), hotline).penalties["cci-01"] == hotline.queues.skill_penalty_floor


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
