"""Whole-profile ranking: which partners fit a caller best, from every answer they gave.

Rules (``config.models.RoutingPolicy``):

- A partner's **score** is the sum, over the caller's answers, of the answer's weight times
  the partner's skill level for it (``need:difficulty: 5``); a skill the partner lacks counts 0.
  Unanswered questions count for nobody (a caller who pressed 0 after the sector is ranked on
  need and sector); an answer the menu filled in after the last try counts like a typed one,
  as it did for the sector queue. "Hors région" is an answer no partner has a skill for, so it
  ranks nobody up.
- Partners are grouped in **tiers** by score, best first; equal scores share a tier. Tiers
  past ``tiers - 1`` are merged into the last one ("everyone else").
- app_queue penalties are per member and queue, not per caller, so each distinct ranking is
  one queue (``rank-<tier 0>-<tier 1>...``, ties joined by ``_``, the last tier implied) in
  which a line's penalty is its partner's tier. The set of queues is every ranking that the
  menu (each prefix of its questions, as "0" can end it early) or the degraded fallback
  (sector only) can produce: finite, computed from the config, bounded by ``tiers``.

Pure: no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

from config.models import Hotline

RANK_QUEUE_PREFIX = "rank-"
TIER_SEP = "-"
TIE_SEP = "_"
ALL_TIED = "all"


@dataclass(frozen=True)
class Ranking:
    """Partners in tiers, best first. ``named`` tiers are listed; everyone else shares the next."""

    named: tuple[tuple[str, ...], ...]

    @cached_property
    def queue(self) -> str:
        if not self.named:
            return RANK_QUEUE_PREFIX + ALL_TIED
        return RANK_QUEUE_PREFIX + TIER_SEP.join(TIE_SEP.join(tier) for tier in self.named)

    @property
    def rest_tier(self) -> int:
        return len(self.named)

    def tier_of(self, partner_id: str) -> int:
        for index, tier in enumerate(self.named):
            if partner_id in tier:
                return index
        return self.rest_tier

    def best(self, partner_ids: tuple[str, ...]) -> tuple[str, ...]:
        """The first tier (``partner_ids``: every partner, for the everyone-tied case)."""
        return self.named[0] if self.named else partner_ids


def parse_queue(queue: str) -> Ranking | None:
    """The ranking a ``rank-...`` queue name stands for; None for any other queue."""
    if not queue.startswith(RANK_QUEUE_PREFIX):
        return None
    body = queue.removeprefix(RANK_QUEUE_PREFIX)
    if body == ALL_TIED:
        return Ranking(())
    return Ranking(tuple(tuple(tier.split(TIE_SEP)) for tier in body.split(TIER_SEP)))


class Scorer:
    """Scores partners for answers; built once per Hotline (the skills indexed by skill key, so a
    score costs the partners that have the caller's skills, not every partner times every answer)."""

    __slots__ = ("_by_skill", "_ids", "_weights")

    def __init__(self, hotline: Hotline) -> None:
        self._ids = tuple(p.id for p in hotline.partners)
        self._weights: dict[str, int] = {str(dim): weight for dim, weight in hotline.routing.weights.items()}
        by_skill: dict[str, list[tuple[int, int]]] = {}
        for index, partner in enumerate(hotline.partners):
            for skill, level in partner.skills.items():
                by_skill.setdefault(skill, []).append((index, level))
        self._by_skill = by_skill

    def scores(self, answers: Mapping[str, str]) -> dict[str, int]:
        """Each partner's score for these answers (``{"need": "difficulty", ...}``), config order."""
        totals = [0] * len(self._ids)
        for dim, value in answers.items():
            weight = self._weights.get(dim, 0)
            if weight:
                for index, level in self._by_skill.get(f"{dim}:{value}", ()):
                    totals[index] += weight * level
        return dict(zip(self._ids, totals, strict=True))


def partner_scores(hotline: Hotline, answers: Mapping[str, str]) -> dict[str, int]:
    """Each partner's score for these answers (``{"need": "difficulty", ...}``), config order."""
    return Scorer(hotline).scores(answers)


def rank_scores(scores: Mapping[str, int], tiers: int) -> Ranking:
    """Tiers from scores: equal scores share a tier, best first; at most ``tiers`` tiers in all."""
    distinct = sorted(set(scores.values()), reverse=True)
    # The last tier (whatever is left once ``tiers - 1`` are named) is implied, not named.
    named = distinct[: min(tiers - 1, len(distinct) - 1)]
    if not named:
        return Ranking(())
    index = {score: i for i, score in enumerate(named)}
    groups: list[list[str]] = [[] for _ in named]
    for partner, score in scores.items():  # config order within a tier
        i = index.get(score)
        if i is not None:
            groups[i].append(partner)
    return Ranking(tuple(tuple(group) for group in groups))


def rank(hotline: Hotline, answers: Mapping[str, str]) -> Ranking:
    """The caller's ranking of the partners from their answers."""
    return rank_scores(partner_scores(hotline, answers), hotline.routing.tiers)


def rankable_answers(hotline: Hotline) -> Iterator[dict[str, str]]:
    """Every set of answers a caller can leave: each prefix of the menu, and the fallback's sector alone."""
    steps = hotline.menu.steps
    for depth in range(1, len(steps) + 1):
        asked = steps[:depth]
        for values in itertools.product(*([o.value for o in s.options] for s in asked)):
            yield dict(zip((s.id for s in asked), values, strict=True))
    if any(s.id == "sector" for s in steps):
        for option in hotline.menu.step("sector").options:
            yield {"sector": option.value}


def ranking_queues(hotline: Hotline, scorer: Scorer | None = None) -> dict[str, Ranking]:
    """Every ranking queue the config needs, by name, in a stable order (sorted by name)."""
    scorer = scorer or Scorer(hotline)
    tiers = hotline.routing.tiers
    found: dict[str, Ranking] = {}
    for answers in rankable_answers(hotline):
        ranking = rank_scores(scorer.scores(answers), tiers)
        found.setdefault(ranking.queue, ranking)
    return dict(sorted(found.items()))
