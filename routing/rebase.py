"""Availability for callers already waiting: re-base a queue's penalties while its best tier is away.

The router starts a *new* caller at the best tier with a line present (``decide(...).max_penalty``);
a caller *already waiting* keeps the ``QUEUE_MAX_PENALTY`` of their arrival and would wait for the
next escalation step (30 s) when the best tier all pauses. app_queue cannot change a waiting
caller's maximum, but it can change members' penalties (``QueuePenalty``) without moving anyone:
so the members are shifted down instead.

Rules:

- A line is **present** in a queue when it is a member (logged in) and not paused there. Logged
  out and paused are the same absence; a busy, ringing or wrapping-up line is present.
- A queue's **base** is the lowest config penalty (tier) among its present configured lines.
  The **shift** is ``base`` minus the lowest config penalty of the queue (0 for every queue of
  the default hotline): the number of tiers that are away at the top.
- Target of every member line: ``max(0, config penalty - shift)``. With nothing away the shift
  is 0 and the targets are the config's: the same function re-bases and restores.
- A queue with no present line is left as it is (nobody can be rung whatever the penalties;
  the first line back decides).
- Only members are changed (``QueuePenalty`` on a non-member fails); lines the config does not
  know (guests) are neither counted nor changed. Changes are only where the live penalty
  differs from the target, so planning again on the result gives nothing (idempotent).
- Queues: the ranking queues (``rank-...``) and the partner queues (``partner-...``). Partner
  queues too, because the router already starts a repeat caller past their partner when that
  partner has nobody present: a caller who arrived a second before the partner paused must not
  wait 90 s longer than one who arrived a second after. The general queue has one tier (every
  line 0): it never needs a re-base, and is skipped.
- Intermediate tiers are not compressed: with tier 0 present and tier 1 all away, tier 2 still
  waits for its step (the rule is about the caller's *first* pool, as at entry).

Pure: no I/O. ``aiguilleur.availability`` reads the live state and sends the changes over AMI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from config.models import Hotline
from routing.ranking import RANK_QUEUE_PREFIX
from routing.router import PARTNER_QUEUE_PREFIX, member_penalties, queue_names
from routing.rules import SetPenalty

REBASED_PREFIXES = (RANK_QUEUE_PREFIX, PARTNER_QUEUE_PREFIX)


@dataclass(frozen=True)
class QueueMembers:
    """One queue as app_queue has it now: each member line's current penalty, and the paused ones."""

    penalties: Mapping[str, int]  # member (logged-in) line -> penalty in this queue
    paused: frozenset[str] = field(default_factory=frozenset)

    def present(self) -> frozenset[str]:
        return frozenset(self.penalties) - self.paused


def rebased_queue(queue: str) -> bool:
    """Whether ``queue`` is one whose penalties follow the tiers present (ranking, partner)."""
    return queue.startswith(REBASED_PREFIXES)


def shift_of(config: Mapping[str, int], present: Iterable[str]) -> int | None:
    """Tiers away at the top of a queue (``config``: line -> config penalty); None: nobody present."""
    tiers = [config[line] for line in present if line in config]
    if not tiers or not config:
        return None
    return min(tiers) - min(config.values())


def target_penalties(hotline: Hotline, queue: str, members: QueueMembers) -> dict[str, int] | None:
    """Each configured member's penalty in ``queue`` given who is present; None: leave it as it is."""
    config = member_penalties(hotline, queue)
    shift = shift_of(config, members.present())
    if shift is None:
        return None
    return {line: max(0, config[line] - shift) for line in members.penalties if line in config}


def plan_rebase(hotline: Hotline, live: Mapping[str, QueueMembers]) -> list[SetPenalty]:
    """The ``QueuePenalty`` changes that bring every ranking and partner queue to its targets.

    ``live``: queue -> its members now (queues the config does not have, and the general
    queue, are ignored). Ordered by queue name, then by the config's line order.
    """
    known = set(queue_names(hotline))
    changes: list[SetPenalty] = []
    for queue in sorted(live):
        if queue not in known or not rebased_queue(queue):
            continue
        members = live[queue]
        targets = target_penalties(hotline, queue, members)
        if targets is None:
            continue
        changes.extend(
            SetPenalty(line, queue, penalty) for line, penalty in targets.items()
            if members.penalties[line] != penalty
        )
    return changes


def apply_plan(live: Mapping[str, QueueMembers], changes: Iterable[SetPenalty]) -> dict[str, QueueMembers]:
    """``live`` with ``changes`` made, as app_queue would have it (tests, simulations)."""
    penalties = {queue: dict(members.penalties) for queue, members in live.items()}
    for change in changes:
        if change.line in penalties.get(change.queue, {}):
            penalties[change.queue][change.line] = change.penalty
    return {queue: QueueMembers(penalties[queue], members.paused) for queue, members in live.items()}
