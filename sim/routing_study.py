"""Routing variants on the same calls: how often the best partner answers, at what service cost.

Issue #11 asks whether ranking partners on the caller's whole profile (need, sector,
size, département) gets callers to the partner that fits them best without hurting the
service level. This module builds the routing variants from one hotline, replays the
same simulated calls against each (``sim.engine``, the real router), and measures:

- **best-partner share**: of the answered callers who gave at least one menu answer, the
  share answered by a partner in the first tier of *their* ranking, computed on the
  reference hotline's whole profile (``routing.ranking.partner_scores`` and
  ``rank_scores`` with its ``routing.weights`` and ``routing.tiers``), whatever the
  variant routed on; callers who pressed 0 at once have no ranking and are left out;
- **top-two share**: the same with the first two tiers;
- **service level** (answered within the threshold / offered), **ASA** and
  **abandonment**, as ``cdr.kpi`` defines them (measured by ``sim.kpi``);
- the paired difference of service level against the pooled variant (same calls, same
  engine stream per replication, as ``sim compare``).

Variants (``variants``): ``whole`` the hotline as is; ``sector`` the sector alone ranks
(weights ``{sector: 1}``: the old sector queues, in tiers); ``pooled`` one queue of every
line (``routing.tiers = 1``); ``static`` per-partner queues: the caller rings their best
tier only, never widened, and the router is not given the live state (else, with that
whole tier paused, it would start the caller at the next one); ``widen-N`` the hotline
with its widening steps shifted so the first one comes after N seconds (the later
steps keep their spacing).

Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from cdr.vocabulary import Outcome
from config.models import EscalationStep, Hotline
from routing.ranking import Ranking, partner_scores, rank_scores
from sim.calendar import Calendar
from sim.caller import generate_calls
from sim.engine import RunResult, simulate
from sim.kpi import Estimate, estimate, summarize
from sim.report import Block, Table, plain
from sim.traffic import Traffic, check_against

METRICS = ("best", "top2", "sl", "asa", "abandonment", "offered", "ranked")
LABELS = {
    "best": "best partner",
    "top2": "top 2 tiers",
    "sl": "service level",
    "asa": "ASA (s)",
    "abandonment": "abandonment",
    "offered": "offered",
    "ranked": "ranked answered",
}
POOLED = "pooled"
DEFAULT_WIDENINGS = (10, 20, 30, 45, 60, 90)
GOAL_BEST = 0.95  # share of answered callers taken by their best partner
GOAL_SL_GAP = 0.05  # service level at most this far below the pooled queue's

# (fraction done 0..1, what is running)
ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    hotline: Hotline
    live_state: bool = True  # the router sees who is logged in and paused, as in the service
    first_widening: int | None = None  # seconds: a point of the trade-off curve
    in_table: bool = True  # False: on the curve only


# --- the variants ------------------------------------------------------------------
def _with_routing(hotline: Hotline, **changes: object) -> Hotline:
    return hotline.model_copy(update={"routing": hotline.routing.model_copy(update=changes)})


def _with_escalation(hotline: Hotline, steps: Sequence[EscalationStep]) -> Hotline:
    return hotline.model_copy(update={"queues": hotline.queues.model_copy(update={"escalation": list(steps)})})


def sector_only(hotline: Hotline) -> Hotline:
    """The sector alone ranks the partners (the other answers weigh 0)."""
    return _with_routing(hotline, weights={"need": 0, "sector": 1, "size": 0, "departement": 0})


def pooled(hotline: Hotline) -> Hotline:
    """One tier: every line in one pool for every caller."""
    return _with_routing(hotline, tiers=1)


def with_tiers(hotline: Hotline, tiers: int) -> Hotline:
    if not 1 <= tiers <= 9:
        raise ValueError(f"tiers must be 1 to 9, got {tiers}")
    return _with_routing(hotline, tiers=tiers)


def static(hotline: Hotline) -> Hotline:
    """The caller's best tier only, for as long as they wait (one step at 0 s, no widening)."""
    return _with_escalation(hotline, [EscalationStep(after_seconds=0, max_penalty=0)])


def widened(hotline: Hotline, first: int) -> Hotline:
    """The widening steps shifted so the first comes after ``first`` seconds (spacing kept)."""
    steps = hotline.queues.escalation
    if len(steps) < 2:
        raise ValueError("the hotline's escalation never widens: no first widening to move")
    if first < 1:
        raise ValueError(f"the first widening must come after at least 1 s, got {first}")
    shift = first - steps[1].after_seconds
    return _with_escalation(
        hotline,
        [steps[0], *(s.model_copy(update={"after_seconds": s.after_seconds + shift}) for s in steps[1:])],
    )


def widening_key(first: int) -> str:
    return f"widen-{first}"


def variants(
    hotline: Hotline, widenings: Iterable[int] = DEFAULT_WIDENINGS, tiers: int | None = None
) -> list[Variant]:
    """The variants of the study; ``tiers`` overrides ``routing.tiers`` of the ranking variants."""
    ranked = hotline if tiers is None else with_tiers(hotline, tiers)
    first = hotline.queues.escalation[1].after_seconds if len(hotline.queues.escalation) > 1 else None
    out = [
        Variant("whole", "whole-profile ranking (the config)", ranked, first_widening=first),
        Variant("sector", "sector-only ranking (old behaviour)", sector_only(ranked)),
        Variant(POOLED, "one pooled queue of all lines", pooled(hotline)),
        Variant("static", "static per-partner queues (best tier only)", static(ranked), live_state=False),
    ]
    for seconds in widenings:
        if seconds == first:
            continue  # the config itself: the "whole" row
        out.append(Variant(widening_key(seconds), f"whole profile, first widening at {seconds} s",
                           widened(ranked, seconds), first_widening=seconds, in_table=False))
    return out


# --- one run's figures ----------------------------------------------------------------
class ReferenceRanking:
    """Each caller's ranking on the reference hotline's whole profile (weights, tiers), memoised."""

    def __init__(self, reference: Hotline) -> None:
        self.reference = reference
        self._ranks: dict[tuple[tuple[str, str], ...], Ranking] = {}

    def ranking(self, answers: Mapping[str, str]) -> Ranking:
        key = tuple(sorted(answers.items()))
        found = self._ranks.get(key)
        if found is None:
            scores = partner_scores(self.reference, answers)
            found = self._ranks[key] = rank_scores(scores, self.reference.routing.tiers)
        return found

    def tier(self, answers: Mapping[str, str], partner: str) -> int:
        return self.ranking(answers).tier_of(partner)


def figures(result: RunResult, reference: ReferenceRanking, threshold: float) -> dict[str, float | None]:
    """One run: best-partner and top-two shares, service level, ASA, abandonment, volumes."""
    ranked = best = top2 = 0
    for rec in result.records:
        if rec.outcome != Outcome.ANSWERED or rec.partner is None:
            continue
        answers = {k: v for k, v in (("need", rec.need), ("sector", rec.sector), ("size", rec.size),
                                     ("departement", rec.departement)) if v is not None}
        if not answers:
            continue  # pressed 0 at once: no ranking to match
        tier = reference.tier(answers, rec.partner)
        ranked += 1
        best += tier == 0
        top2 += tier <= 1
    overall = summarize(result, threshold).kpis["overall"]
    return {
        "best": best / ranked if ranked else None,
        "top2": top2 / ranked if ranked else None,
        "sl": overall["sl"],
        "asa": overall["asa"],
        "abandonment": overall["abandonment"],
        "offered": overall["offered"],
        "ranked": float(ranked),
    }


# --- replications ----------------------------------------------------------------------
@dataclass(frozen=True)
class Study:
    day: dt.date
    replications: int
    seed: int
    threshold: float
    variants: tuple[Variant, ...]
    runs: Mapping[str, list[dict[str, float | None]]]  # variant key -> one figures dict per replication

    def estimate(self, key: str, metric: str) -> Estimate:
        return estimate(run[metric] for run in self.runs[key])

    def sl_gap(self, key: str) -> Estimate:
        """Service level minus the pooled variant's, paired replication by replication."""
        if POOLED not in self.runs:
            return Estimate(None, None, 0)
        diffs: list[float | None] = []
        for mine, pool in zip(self.runs[key], self.runs[POOLED], strict=True):
            a, b = mine["sl"], pool["sl"]
            diffs.append(None if a is None or b is None else a - b)
        return estimate(diffs)

    def meets_goal(self, key: str) -> bool:
        best, gap = self.estimate(key, "best").mean, self.sl_gap(key).mean
        return best is not None and gap is not None and best >= GOAL_BEST and gap >= -GOAL_SL_GAP


def with_staffing(traffic: Traffic, share: float) -> Traffic:
    """The same traffic with every partner staffing ``share`` of its lines."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"the staffed share must be between 0 and 1, got {share}")
    return traffic.model_copy(update={"advisors": traffic.advisors.model_copy(
        update={"staffed_default": share, "staffed": {}})})


def busiest_day(traffic: Traffic) -> dt.date:
    """The day of the model with the most expected calls (the first one on a tie)."""
    span = (traffic.volume.end - traffic.volume.start).days + 1
    days = [traffic.volume.start + dt.timedelta(days=d) for d in range(span)]
    return max(days, key=lambda d: (traffic.day_volume(d), -d.toordinal()))


def run_study(
    hotline: Hotline,
    traffic: Traffic,
    day: dt.date,
    *,
    replications: int = 10,
    seed: int = 1,
    threshold: float = 60.0,
    chosen: Sequence[Variant] | None = None,
    progress: ProgressFn | None = None,
) -> Study:
    """Every variant on the same calls of ``day``, ``replications`` times (streams as ``sim.runner``)."""
    if replications < 1:
        raise ValueError(f"replications must be >= 1, got {replications}")
    check_against(traffic, hotline, source="traffic model vs the hotline")
    chosen = list(chosen) if chosen is not None else variants(hotline)
    reference = ReferenceRanking(hotline)
    calendar = Calendar.build(hotline.hours, day, 1)
    runs: dict[str, list[dict[str, float | None]]] = {v.key: [] for v in chosen}
    total = replications * len(chosen)
    for rep in range(replications):
        calls = generate_calls(traffic, day, 1, random.Random(f"{seed}:{rep}:traffic"))
        for n, variant in enumerate(chosen):
            if progress is not None:
                progress((rep * len(chosen) + n) / total, f"replication {rep + 1}/{replications} {variant.key}")
            result = simulate(variant.hotline, traffic, calendar, calls, seed=f"{seed}:{rep}",
                              live_state=variant.live_state)
            runs[variant.key].append(figures(result, reference, threshold))
    if progress is not None:
        progress(1.0, "done")
    return Study(day, replications, seed, threshold, tuple(chosen), runs)


# --- text -------------------------------------------------------------------------------
def _pct(est: Estimate, *, signed: bool = False) -> str:
    if est.mean is None:
        return "-"
    text = f"{est.mean * 100:+.1f}" if signed else f"{est.mean * 100:.1f}%"
    return text + (f" ± {est.half_width * 100:.1f}" if est.half_width is not None else "")


def _seconds(est: Estimate) -> str:
    if est.mean is None:
        return "-"
    return f"{est.mean:.1f}" + (f" ± {est.half_width:.1f}" if est.half_width is not None else "")


def _row(study: Study, key: str, name: str) -> list[str]:
    return [
        name,
        _pct(study.estimate(key, "best")),
        _pct(study.estimate(key, "top2")),
        _pct(study.estimate(key, "sl")),
        _pct(study.sl_gap(key), signed=True) if key != POOLED else "0",
        _seconds(study.estimate(key, "asa")),
        _pct(study.estimate(key, "abandonment")),
        "yes" if study.meets_goal(key) else "no",
    ]


def _header(first: str, threshold: float) -> list[str]:
    return [first, "best partner", "top 2 tiers", f"SL {threshold:.0f} s", "SL - pooled (pts)", "ASA (s)",
            "abandonment", "goal"]


def report_blocks(study: Study) -> list[Block]:
    """The variants' table, then the trade-off curve (first widening -> best share, service level)."""
    offered = study.estimate(study.variants[0].key, "offered").mean or 0.0
    blocks: list[Block] = [
        f"{study.day} ({study.day:%A}), {study.replications} replication(s), seed {study.seed}: "
        f"{offered:.0f} calls offered to a queue on average; ± = 95% confidence half-width",
        "best partner / top 2 tiers: answered callers (with a menu answer) taken by a partner in the first",
        f"(two) tier(s) of their whole-profile ranking; goal: best >= {GOAL_BEST * 100:.0f}% with a service level "
        f"at most {GOAL_SL_GAP * 100:.0f} points below the pooled queue's",
        "",
    ]
    rows = [_row(study, v.key, f"{v.key}: {v.label}") for v in study.variants if v.in_table]
    blocks.append(Table(_header("variant", study.threshold), rows))
    points = sorted((v.first_widening, v.key) for v in study.variants if v.first_widening is not None)
    if points:
        curve = [_row(study, key, f"{seconds} s" + ("" if key.startswith("widen-") else f" ({key})"))
                 for seconds, key in points]
        blocks += ["", "trade-off: the whole-profile ranking with its widening steps moved",
                   Table(_header("first widening", study.threshold), curve)]
    return blocks


def report(study: Study) -> str:
    """``report_blocks`` as plain text."""
    return "\n".join(plain(report_blocks(study))) + "\n"
