"""Skill-based routing: a caller's whole profile and the hotline rules in, a decision out.

Pure: no I/O, no clock. Penalties follow app_queue's convention (lower rings first).
The caller's answers (need, sector, size, département) rank the partners
(``routing.ranking``); the caller joins the queue of that ranking, where each line's
penalty is its partner's tier, and the queue rule widens the allowed penalty over time
(``queuerules.conf``, steps relative to where the caller starts), so the caller keeps their
place while the pool grows. With a live outlook the caller starts at the best tier that has
a line present (logged in, not paused) instead of waiting for the first widening.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cdr.vocabulary import IvrExit
from config.models import Hotline
from routing.ranking import Ranking, Scorer, parse_queue, rank_scores, ranking_queues

QUEUE_RULE = "escalation"
PARTNER_QUEUE_PREFIX = "partner-"
REPEAT_CALLER_PRIORITY = 1


@dataclass(frozen=True)
class CallerProfile:
    """What the IVR learned about a caller; ``None`` where the caller did not say."""

    caller_number: str = ""
    need: str | None = None
    sector: str | None = None
    size: str | None = None
    departement: str | None = None
    ivr_exit: str = IvrExit.COMPLETED.value
    partner: str | None = None  # a recent caller who asked for the same partner again

    def answers(self) -> dict[str, str]:
        values = {
            "need": self.need, "sector": self.sector, "size": self.size,
            "departement": self.departement,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class QueueOutlook:
    """What the live state says about the queue a caller would join (``queues.snapshot.queue_outlook``)."""

    logged_in: frozenset[str]  # lines logged in to the queue, paused or not
    paused: frozenset[str]
    expected_wait_seconds: float | None
    # The members' penalties as app_queue has them now (they may be re-based while a tier is
    # away); None: the config's.
    penalties: Mapping[str, int] | None = None
    # The callers waiting there now (uniqueids, in queue order): who is ahead of a caller joining now.
    waiting: tuple[str, ...] = ()


RoutingAction = Literal["queue", "offer_callback", "nobody_logged_in"]


@dataclass(frozen=True)
class RoutingDecision:
    queue: str
    priority: int
    max_wait_seconds: int
    queue_rule: str
    reason: str
    rule_version: int
    skills: tuple[str, ...] = field(default_factory=tuple)
    action: RoutingAction = "queue"
    # Eligible lines (logged in, not paused) and their penalty: who may ring, in what order.
    penalties: Mapping[str, int] = field(default_factory=dict)
    # (after_seconds, max_penalty): how the pool widens while the caller keeps their place.
    escalation: tuple[tuple[int, int], ...] = ()
    expected_wait_seconds: float | None = None
    # QUEUE_MAX_PENALTY at entry: the best tier with a line present, widened by the first step.
    max_penalty: int = 0
    # The caller's ranking of the partners (best tier first) and each partner's score.
    tiers: tuple[tuple[str, ...], ...] = ()
    scores: Mapping[str, int] = field(default_factory=dict)


def queue_names(hotline: Hotline) -> list[str]:
    """Every queue: the general one, one per partner ranking, one per partner (recent callers)."""
    return [
        hotline.queues.general_queue,
        *_derived(hotline).rankings,
        *(PARTNER_QUEUE_PREFIX + p.id for p in hotline.partners),
    ]


def member_penalties(hotline: Hotline, queue: str) -> dict[str, int]:
    """Each line's penalty in ``queue``; every line is a member so the pool can widen to all.

    In a ranking queue the penalty is the line's partner's tier (0: best for the caller's
    profile); in a partner queue 0 for that partner, the floor for the others; 0 in the
    general queue. (A fresh dict: the caller may change it.)
    """
    return dict(_members(hotline, queue))


class _Derived:
    """What routing derives from one ``Hotline`` object, computed once instead of per call.

    A Hotline is frozen and a rule change is a new Hotline, hence a new memo; so is a
    ``model_copy``. (Mutating a validated Hotline's inner dicts in place is not supported.)
    """

    __slots__ = (
        "escalation", "lines_by_partner", "members", "partner_ids", "partner_penalties", "queues",
        "rankings", "ranks", "scorer", "tiers",
    )

    def __init__(self, hotline: Hotline) -> None:
        self.scorer = Scorer(hotline)
        self.tiers = hotline.routing.tiers
        self.rankings = ranking_queues(hotline, self.scorer)
        self.partner_ids = frozenset(p.id for p in hotline.partners)
        self.queues = frozenset(
            [hotline.queues.general_queue, *self.rankings, *(PARTNER_QUEUE_PREFIX + p for p in self.partner_ids)]
        )
        # Relative widening: (after_seconds, tiers past the caller's starting tier).
        first = hotline.queues.escalation[0].max_penalty
        self.escalation = tuple((s.after_seconds, s.max_penalty - first) for s in hotline.queues.escalation)
        self.ranks: dict[tuple[tuple[str, str], ...], tuple[Ranking, dict[str, int]]] = {}
        self.lines_by_partner = tuple((p, tuple(p.line_ids())) for p in hotline.partners)
        self.members: dict[str, dict[str, int]] = {}  # queue -> member penalties, on first use
        # queue -> each partner's penalty there (config order): small, the per-call path builds from it
        self.partner_penalties: dict[str, tuple[int, ...]] = {}


# id(hotline) -> (weak ref to that very object, its memo). Hotline is unhashable (it holds
# lists and dicts), so the memo is found by identity, checked against the weak ref, and
# dropped when the Hotline is collected: a new Hotline at a reused address gets a new memo.
_DERIVED: dict[int, tuple[weakref.ref[Hotline], _Derived]] = {}


def _derived(hotline: Hotline) -> _Derived:
    key = id(hotline)
    entry = _DERIVED.get(key)
    if entry is not None and entry[0]() is hotline:
        return entry[1]
    derived = _Derived(hotline)

    def forget(ref: weakref.ref[Hotline]) -> None:
        current = _DERIVED.get(key)
        if current is not None and current[0] is ref:
            del _DERIVED[key]

    _DERIVED[key] = (weakref.ref(hotline, forget), derived)
    return derived


def _members(hotline: Hotline, queue: str) -> dict[str, int]:
    """Member penalties (memoised per Hotline for its own queues). Shared: never mutate."""
    derived = _derived(hotline)
    penalties = derived.members.get(queue)
    if penalties is None:
        penalties = _compute_member_penalties(hotline, queue, derived)
        if queue in derived.queues:
            derived.members[queue] = penalties
    return penalties


def _partner_penalties(hotline: Hotline, queue: str, derived: _Derived) -> tuple[int, ...]:
    """Each partner's penalty in ``queue``, in config order (memoised for the hotline's own queues)."""
    found = derived.partner_penalties.get(queue)
    if found is not None:
        return found
    floor = hotline.queues.skill_penalty_floor
    if queue.startswith(PARTNER_QUEUE_PREFIX):
        wanted = queue.removeprefix(PARTNER_QUEUE_PREFIX)
        found = tuple(0 if partner.id == wanted else floor for partner, _ in derived.lines_by_partner)
    elif (ranking := derived.rankings.get(queue) or parse_queue(queue)) is not None:
        found = tuple(ranking.tier_of(partner.id) for partner, _ in derived.lines_by_partner)
    else:
        found = tuple(0 for _ in derived.lines_by_partner)
    if queue in derived.queues:
        derived.partner_penalties[queue] = found
    return found


def _compute_member_penalties(hotline: Hotline, queue: str, derived: _Derived) -> dict[str, int]:
    penalties: dict[str, int] = {}
    by_partner = zip(derived.lines_by_partner, _partner_penalties(hotline, queue, derived), strict=True)
    for (_, lines), penalty in by_partner:  # a partner's lines share its penalty; config order kept
        penalties.update(dict.fromkeys(lines, penalty))
    return penalties


def eligible_penalties(
    hotline: Hotline, queue: str, outlook: QueueOutlook | None
) -> dict[str, int]:
    """Penalty of each line that may be offered the call: logged in and not paused.

    Without a live outlook (simulator, service just started) every configured line counts.
    Built per call from each partner's penalty (no per-line map of the queue is needed, so a
    queue's first use costs what any call costs, even with thousands of ranking queues).
    """
    if outlook is None:
        return dict(_members(hotline, queue))
    derived = _derived(hotline)
    by_partner = zip(derived.lines_by_partner, _partner_penalties(hotline, queue, derived), strict=True)
    present = outlook.logged_in - outlook.paused
    live = outlook.penalties
    if live is None:
        return {line: penalty for (_, lines), penalty in by_partner for line in lines if line in present}
    return {line: live.get(line, penalty) for (_, lines), penalty in by_partner for line in lines if line in present}


def profile_ranking(hotline: Hotline, profile: CallerProfile) -> tuple[Ranking, dict[str, int]] | None:
    """The caller's ranking and the partners' scores; None when they answered nothing."""
    return _ranked(_derived(hotline), profile.answers())


def _ranked(derived: _Derived, answers: dict[str, str]) -> tuple[Ranking, dict[str, int]] | None:
    if not answers:
        return None
    key = tuple(sorted(answers.items()))
    found = derived.ranks.get(key)
    if found is None:
        scores = derived.scorer.scores(answers)
        found = derived.ranks[key] = (rank_scores(scores, derived.tiers), scores)
    return found


@dataclass(frozen=True)
class _Plan:
    queue: str
    priority: int
    reason: str
    skills: tuple[str, ...] = ()
    ranking: Ranking | None = None
    scores: Mapping[str, int] = field(default_factory=dict)


def _queue_plan(profile: CallerProfile, hotline: Hotline, derived: _Derived) -> _Plan:
    if profile.partner is not None and profile.partner in derived.partner_ids:
        return _Plan(PARTNER_QUEUE_PREFIX + profile.partner, REPEAT_CALLER_PRIORITY,
                     f"same partner as a recent call: {profile.partner}")
    answers = profile.answers()
    ranked = _ranked(derived, answers)
    if ranked is None:
        reason = "advisor requested" if profile.ivr_exit == IvrExit.ADVISOR else "no answers"
        return _Plan(hotline.queues.general_queue, 0, reason)
    ranking, scores = ranked
    if ranking.queue not in derived.queues:
        # Answers the menu cannot produce together (no such queue is provisioned).
        return _Plan(hotline.queues.general_queue, 0, "no ranking queue for these answers")
    skills = tuple(f"{dim}:{value}" for dim, value in answers.items())
    best = "+".join(ranking.named[0]) if ranking.named else "every partner"
    return _Plan(ranking.queue, 0, f"profile ranks {best} first", skills, ranking, scores)


def choose_queue(profile: CallerProfile, hotline: Hotline) -> str:
    """The queue ``decide`` will choose for this caller (to look up its live outlook first)."""
    return _queue_plan(profile, hotline, _derived(hotline)).queue


def decide(
    profile: CallerProfile, hotline: Hotline, outlook: QueueOutlook | None = None
) -> RoutingDecision:
    """Choose the queue for a caller (their profile's ranking, else the general one) and what to do there.

    With a live ``outlook``: nobody logged in at all means no queue (the caller is offered
    a callback); an expected wait above ``callback_offer_seconds`` offers a callback before
    queueing; the caller starts at the best tier with a line present. Paused lines stay
    members (they keep their place in rotation) but are not eligible.
    """
    policy = hotline.queues
    derived = _derived(hotline)
    plan = _queue_plan(profile, hotline, derived)
    reason = plan.reason
    action: RoutingAction = "queue"
    expected = outlook.expected_wait_seconds if outlook is not None else None
    if outlook is not None and not outlook.logged_in:
        action, reason = "nobody_logged_in", reason + "; nobody logged in"
    elif (expected is not None and policy.callback_offer_seconds is not None
          and expected > policy.callback_offer_seconds):
        action = "offer_callback"
        reason += f"; expected wait {expected:.0f}s > {policy.callback_offer_seconds}s"
    penalties = eligible_penalties(hotline, plan.queue, outlook)
    start = min(penalties.values(), default=0) if outlook is not None else 0
    if start > 0:
        reason += f"; tiers below {start} away: starts at tier {start}"
    first = policy.escalation[0].max_penalty
    return RoutingDecision(
        queue=plan.queue,
        priority=plan.priority,
        max_wait_seconds=policy.max_wait_seconds,
        queue_rule=QUEUE_RULE,
        reason=reason,
        rule_version=hotline.version,
        skills=plan.skills,
        action=action,
        penalties=penalties,
        escalation=tuple((after, start + first + extra) for after, extra in derived.escalation),
        expected_wait_seconds=expected,
        max_penalty=start + first,
        tiers=plan.ranking.named if plan.ranking is not None else (),
        scores=plan.scores,
    )
