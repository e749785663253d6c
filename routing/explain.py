"""What the router does and what it costs, as data an admin can read before applying a change.

``explain``: one profile's scores, tiers and queue. ``matrix``: the best partners for every
profile the menu can produce. ``footprint``: how many app_queue queues and memberships the
rules need, and the AMI member-status events one line state change then emits. Pure.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

from config.models import Hotline
from routing.ranking import rank, rankable_answers
from routing.router import CallerProfile, RoutingDecision, decide, queue_names


@dataclass(frozen=True)
class Explanation:
    answers: dict[str, str]
    decision: RoutingDecision
    # (partner id, score, tier), best first
    partners: tuple[tuple[str, int, int], ...]


def explain(hotline: Hotline, answers: dict[str, str]) -> Explanation:
    """The decision for a caller who gave ``answers``, with every partner's score and tier."""
    profile = CallerProfile(
        need=answers.get("need"), sector=answers.get("sector"), size=answers.get("size"),
        departement=answers.get("departement"),
    )
    decision = decide(profile, hotline)
    ranking = rank(hotline, answers)
    rows = sorted(
        ((p.id, decision.scores.get(p.id, 0), ranking.tier_of(p.id)) for p in hotline.partners),
        key=lambda row: (row[2], -row[1]),
    )
    return Explanation(dict(answers), decision, tuple(rows))


@dataclass(frozen=True)
class MatrixRow:
    answers: dict[str, str]
    best: tuple[str, ...]
    queue: str


def matrix(hotline: Hotline) -> list[MatrixRow]:
    """Best partners (tier 0) and queue for every full profile of the menu, in menu order."""
    steps = hotline.menu.steps
    rows: list[MatrixRow] = []
    every = tuple(p.id for p in hotline.partners)
    for values in itertools.product(*([o.value for o in s.options] for s in steps)):
        answers: dict[str, str] = dict(zip((str(s.id) for s in steps), values, strict=True))
        ranking = rank(hotline, answers)
        rows.append(MatrixRow(answers, ranking.best(every), ranking.queue))
    return rows


@dataclass(frozen=True)
class Footprint:
    queues: int
    ranking_queues: int
    lines: int
    memberships: int
    # app_queue reports a device state change once per queue the device is a member of
    member_events_per_line_change: int
    profiles: int


def footprint(hotline: Hotline) -> Footprint:
    """What the rules cost on app_queue: queues, memberships (every line is in every queue)."""
    names = queue_names(hotline)
    lines = len(hotline.lines())
    return Footprint(
        queues=len(names),
        ranking_queues=sum(1 for n in names if n.startswith("rank-")),
        lines=lines,
        memberships=len(names) * lines,
        member_events_per_line_change=len(names),
        profiles=sum(1 for _ in rankable_answers(hotline)),
    )


def best_partner_share(hotline: Hotline) -> Counter[str]:
    """How many full profiles have each partner in their best tier (ties count for each)."""
    return Counter(partner for row in matrix(hotline) for partner in row.best)


def answer_errors(hotline: Hotline, answers: object) -> list[tuple[str, str]]:
    """What is wrong with ``answers`` against the menu: (question, message) pairs, none when valid.

    Every question is optional (a caller can press 0 at any step); an answer is an option's
    value (``difficulty``, not its digits), and each message names the allowed values.
    """
    if not isinstance(answers, dict):
        return [("", "answers must be an object: {question: value}")]
    steps = {str(s.id): s for s in hotline.menu.steps}
    errors: list[tuple[str, str]] = []
    for question, value in answers.items():
        step = steps.get(question)
        if step is None:
            errors.append((str(question), f"not a question of the menu; questions: {', '.join(steps)}"))
            continue
        values = [o.value for o in step.options]
        if not isinstance(value, str) or value not in values:
            errors.append((question, f"{value!r} is not an answer of the menu; allowed: {', '.join(values)}"))
    return errors


@dataclass(frozen=True)
class RingStep:
    after_seconds: int
    max_penalty: int
    # every partner ringing from this step on, and the ones this step adds
    partners: tuple[str, ...]
    added: tuple[str, ...]


def ring_steps(explanation: Explanation) -> tuple[RingStep, ...]:
    """When each partner's lines start to ring for this caller (no live state: every tier present)."""
    steps: list[RingStep] = []
    seen: set[str] = set()
    for after, width in explanation.decision.escalation:
        ringing = tuple(pid for pid, _score, tier in explanation.partners if tier <= width)
        added = tuple(pid for pid in ringing if pid not in seen)
        seen.update(ringing)
        steps.append(RingStep(after, width, ringing, added))
    return tuple(steps)


@dataclass(frozen=True)
class ChangedProfile:
    answers: dict[str, str]
    before: tuple[str, ...]
    after: tuple[str, ...]


@dataclass(frozen=True)
class RoutingEffect:
    queues_before: int
    queues_after: int
    memberships_after: int
    # the profiles whose best partners differ, in the proposed menu's order (at most ``limit``)
    changed: tuple[ChangedProfile, ...]
    changed_count: int
    profiles: int


def routing_effect(before: Hotline, after: Hotline, limit: int = 100) -> RoutingEffect:
    """What replacing ``before`` by ``after`` does: the app_queue cost and the profiles whose first partner changes.

    A profile only one menu can produce counts as changed (from or to nobody).
    """
    old = {tuple(row.answers.items()): row.best for row in matrix(before)}
    new_rows = matrix(after)
    changed: list[ChangedProfile] = []
    count = 0
    seen: set[tuple[tuple[str, str], ...]] = set()
    for row in new_rows:
        key = tuple(row.answers.items())
        seen.add(key)
        was = old.get(key, ())
        if was != row.best:
            count += 1
            if len(changed) < limit:
                changed.append(ChangedProfile(dict(row.answers), was, row.best))
    for key, was in old.items():
        if key not in seen:
            count += 1
            if len(changed) < limit:
                changed.append(ChangedProfile(dict(key), was, ()))
    cost_before, cost_after = footprint(before), footprint(after)
    return RoutingEffect(
        queues_before=cost_before.queues,
        queues_after=cost_after.queues,
        memberships_after=cost_after.memberships,
        changed=tuple(changed),
        changed_count=count,
        profiles=len(new_rows),
    )
