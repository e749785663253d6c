"""Skill-based routing: a caller's profile and the hotline rules in, a decision out.

Pure: no I/O, no clock. Penalties follow app_queue's convention (lower rings
first); a line's penalty in a queue comes from its partner's skill level, and
the queue rule widens the allowed penalty over time (``queuerules.conf``), so
the caller keeps their place while the pool grows.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from config.models import Hotline, Partner

QUEUE_RULE = "escalation"
SECTOR_QUEUE_PREFIX = "sector-"
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
    ivr_exit: str = "completed"
    partner: str | None = None  # a recent caller who asked for the same partner again

    def answers(self) -> dict[str, str]:
        values = {
            "need": self.need, "sector": self.sector, "size": self.size,
            "departement": self.departement,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class QueueOutlook:
    """What the live state says about the queue a caller would join (from ``queues.state``)."""

    logged_in: frozenset[str]  # lines logged in to the queue, paused or not
    paused: frozenset[str]
    expected_wait_seconds: float | None


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


def queue_names(hotline: Hotline) -> list[str]:
    """Every queue: the general one, one per business sector, one per partner (recent callers)."""
    sectors = [o.value for o in hotline.menu.step("sector").options]
    return [
        hotline.queues.general_queue,
        *(SECTOR_QUEUE_PREFIX + s for s in sectors),
        *(PARTNER_QUEUE_PREFIX + p.id for p in hotline.partners),
    ]


def skill_of_queue(queue: str) -> str | None:
    """The skill a queue is about (``sector:crafts`` for ``sector-crafts``), None for general."""
    if queue.startswith(SECTOR_QUEUE_PREFIX):
        return "sector:" + queue.removeprefix(SECTOR_QUEUE_PREFIX)
    return None


def penalty_for(partner: Partner, skill: str | None, best_level: int, floor: int) -> int:
    """The best level present rings first (penalty 0); a line without the skill gets the floor."""
    if skill is None:
        return 0
    level = partner.skills.get(skill)
    return floor if level is None else best_level - level


def member_penalties(hotline: Hotline, queue: str) -> dict[str, int]:
    """Each line's penalty in ``queue``; every line is a member so the pool can widen to all.

    Penalties are relative to the best skill level any partner has for the queue, so
    a queue whose best advisors are level 3 does not wait for the first escalation step.
    (A fresh dict: the caller may change it.)
    """
    return dict(_members(hotline, queue)[0])


class _Derived:
    """What routing derives from one ``Hotline`` object, computed once instead of per call.

    A Hotline is frozen and a rule change is a new Hotline, hence a new memo; so is a
    ``model_copy``. (Mutating a validated Hotline's inner dicts in place is not supported.)
    """

    __slots__ = ("escalation", "lines", "lines_by_partner", "members", "partner_ids", "queues")

    def __init__(self, hotline: Hotline) -> None:
        self.queues = frozenset(queue_names(hotline))
        self.partner_ids = frozenset(p.id for p in hotline.partners)
        self.escalation = tuple((s.after_seconds, s.max_penalty) for s in hotline.queues.escalation)
        self.lines_by_partner = tuple((p, tuple(p.line_ids())) for p in hotline.partners)
        # Every line is a member of every queue (the pool can widen to all).
        self.lines = frozenset(line for _, lines in self.lines_by_partner for line in lines)
        self.members: dict[str, dict[str, int]] = {}  # queue -> member penalties, on first use


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


def _members(hotline: Hotline, queue: str) -> tuple[dict[str, int], frozenset[str]]:
    """Member penalties (memoised per Hotline for its own queues) and the member lines. Shared: never mutate."""
    derived = _derived(hotline)
    penalties = derived.members.get(queue)
    if penalties is None:
        penalties = _compute_member_penalties(hotline, queue, derived)
        if queue in derived.queues:
            derived.members[queue] = penalties
    return penalties, derived.lines


def _compute_member_penalties(hotline: Hotline, queue: str, derived: _Derived) -> dict[str, int]:
    floor = hotline.queues.skill_penalty_floor
    if queue.startswith(PARTNER_QUEUE_PREFIX):
        wanted = queue.removeprefix(PARTNER_QUEUE_PREFIX)
        by_partner = [(lines, 0 if partner.id == wanted else floor) for partner, lines in derived.lines_by_partner]
    else:
        skill = skill_of_queue(queue)
        levels = [p.skills[skill] for p in hotline.partners if skill is not None and skill in p.skills]
        best = max(levels, default=5)
        by_partner = [(lines, penalty_for(partner, skill, best, floor)) for partner, lines in derived.lines_by_partner]
    penalties: dict[str, int] = {}
    for lines, penalty in by_partner:  # a partner's lines share its penalty; config order kept
        penalties.update(dict.fromkeys(lines, penalty))
    return penalties


def eligible_penalties(
    hotline: Hotline, queue: str, outlook: QueueOutlook | None
) -> dict[str, int]:
    """Penalty of each line that may be offered the call: logged in and not paused.

    Without a live outlook (simulator, service just started) every configured line counts.
    """
    penalties, members = _members(hotline, queue)
    if outlook is None:
        return dict(penalties)
    # Same result either way, in config order; mostly logged in and unpaused: copy, then drop
    # the few (C-level set work and a short loop), else keep the few.
    dropped = (members - outlook.logged_in) | (members & outlook.paused)
    if 2 * len(dropped) > len(members):
        return {line: penalties[line] for line in penalties if line not in dropped}
    eligible = dict(penalties)
    for line in dropped:
        del eligible[line]
    return eligible


def _queue_plan(profile: CallerProfile, hotline: Hotline) -> tuple[str, int, str, tuple[str, ...]]:
    policy = hotline.queues
    derived = _derived(hotline)
    if profile.partner is not None and profile.partner in derived.partner_ids:
        return (PARTNER_QUEUE_PREFIX + profile.partner, REPEAT_CALLER_PRIORITY,
                f"same partner as a recent call: {profile.partner}", ())
    if profile.sector is not None and SECTOR_QUEUE_PREFIX + profile.sector in derived.queues:
        return (SECTOR_QUEUE_PREFIX + profile.sector, 0, f"sector:{profile.sector}",
                (f"sector:{profile.sector}",))
    reason = "advisor requested" if profile.ivr_exit == "advisor" else "no sector"
    return policy.general_queue, 0, reason, ()


def choose_queue(profile: CallerProfile, hotline: Hotline) -> str:
    """The queue ``decide`` will choose for this caller (to look up its live outlook first)."""
    return _queue_plan(profile, hotline)[0]


def decide(
    profile: CallerProfile, hotline: Hotline, outlook: QueueOutlook | None = None
) -> RoutingDecision:
    """Choose the queue for a caller (their sector's, else the general one) and what to do there.

    With a live ``outlook``: nobody logged in at all means no queue (the caller is offered
    a callback); an expected wait above ``callback_offer_seconds`` offers a callback before
    queueing. Paused lines stay members (they keep their place in rotation) but are not eligible.
    """
    policy = hotline.queues
    queue, priority, reason, skills = _queue_plan(profile, hotline)
    action: RoutingAction = "queue"
    expected = outlook.expected_wait_seconds if outlook is not None else None
    if outlook is not None and not outlook.logged_in:
        action, reason = "nobody_logged_in", reason + "; nobody logged in"
    elif (expected is not None and policy.callback_offer_seconds is not None
          and expected > policy.callback_offer_seconds):
        action = "offer_callback"
        reason += f"; expected wait {expected:.0f}s > {policy.callback_offer_seconds}s"
    return RoutingDecision(
        queue=queue,
        priority=priority,
        max_wait_seconds=policy.max_wait_seconds,
        queue_rule=QUEUE_RULE,
        reason=reason,
        rule_version=hotline.version,
        skills=skills,
        action=action,
        penalties=eligible_penalties(hotline, queue, outlook),
        escalation=_derived(hotline).escalation,
        expected_wait_seconds=expected,
    )
