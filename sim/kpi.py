"""KPIs of simulated calls, their confidence intervals over replications, and deltas.

The definitions are those of ``cdr.kpi`` (the reports on real CDRs), on
exact simulated seconds instead of whole seconds:

- offered = answered + abandoned in queue + timeout (pranks, calls lost in the
  menu and closed-hours calls never reach a queue: counted apart);
- service level (inclusive) = answered with wait <= T / offered;
- service level (answered) = answered with wait <= T / answered;
- ASA = mean wait of answered calls; AHT = mean talk + wrap-up of answered calls;
- abandonment = abandoned in queue / offered;
- occupancy = (talk + wrap-up) / staffed time, staffed time = staffed lines x
  open hours - pauses.

Scopes: ``overall``, ``queue:<name>`` (caller side) and ``partner:<id>``
(answered side only: a call has a partner once an advisor answered it).
Calls arriving before ``warmup`` seconds are left out (steady-state checks).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sim.engine import ABANDONED_IN_QUEUE, ANSWERED, CLOSED, INVALID, NO_INPUT, TIMEOUT, RunResult

METRICS = ("offered", "answered", "sl", "sl_answered", "asa", "aht", "abandonment", "occupancy")
LABELS = {
    "offered": "offered calls",
    "answered": "answered calls",
    "sl": "service level (inclusive)",
    "sl_answered": "service level (answered)",
    "asa": "ASA (s)",
    "aht": "AHT talk+wrap (s)",
    "abandonment": "abandonment rate",
    "occupancy": "occupancy",
}
# A higher value is better for these (for the "better/worse" word of a delta).
HIGHER_IS_BETTER = {"sl": True, "sl_answered": True, "asa": False, "abandonment": False, "aht": False}

# Two-sided 95% Student t quantiles by degrees of freedom.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
        20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
        29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t95(df: int) -> float:
    if df <= 0:
        return math.inf
    if df in _T95:
        return _T95[df]
    for bound in (40, 60, 120):
        if df < bound:
            return _T95[bound]
    return 1.960


@dataclass
class _Acc:
    offered: int = 0
    answered: int = 0
    within: int = 0
    abandoned: int = 0
    wait: float = 0.0
    work: float = 0.0

    def values(self) -> dict[str, float | None]:
        def ratio(a: float, b: float) -> float | None:
            return a / b if b else None

        return {
            "offered": float(self.offered),
            "answered": float(self.answered),
            "sl": ratio(self.within, self.offered),
            "sl_answered": ratio(self.within, self.answered),
            "asa": ratio(self.wait, self.answered),
            "aht": ratio(self.work, self.answered),
            "abandonment": ratio(self.abandoned, self.offered),
        }


@dataclass
class Summary:
    """One run's KPIs by scope, its volumes, and an hour-of-day profile."""

    kpis: dict[str, dict[str, float | None]]
    volumes: dict[str, int]
    days: int
    hourly: dict[str, list[float]] = field(default_factory=dict)


def summarize(result: RunResult, threshold: float = 20.0, warmup: float = 0.0) -> Summary:
    overall = _Acc()
    by_queue: dict[str, _Acc] = {}
    by_partner: dict[str, _Acc] = {}
    volumes = {"calls": 0, "closed": 0, "pranks": 0, "lost_in_ivr": 0, "offered": 0, "timeouts": 0}
    hourly = {k: [0.0] * 24 for k in ("offered", "within", "answered", "abandoned", "wait")}
    for rec in result.records:
        if rec.arrival < warmup:
            continue
        volumes["calls"] += 1
        outcome = rec.outcome
        if outcome == CLOSED:
            volumes["closed"] += 1
            continue
        if outcome in (NO_INPUT, INVALID):
            volumes["pranks"] += 1
            continue
        if rec.queue is None:
            volumes["lost_in_ivr"] += 1
            continue
        volumes["offered"] += 1
        hour = int(rec.arrival // 3600) % 24
        q = by_queue.get(rec.queue)
        if q is None:
            q = by_queue[rec.queue] = _Acc()
        hourly["offered"][hour] += 1
        for acc in (overall, q):
            acc.offered += 1
        if outcome == ANSWERED:
            within = rec.wait <= threshold
            work = rec.talk + rec.wrapup
            p = by_partner.get(rec.partner or "")
            if p is None:
                p = by_partner[rec.partner or ""] = _Acc()
            for acc in (overall, q, p):
                acc.answered += 1
                acc.within += within
                acc.wait += rec.wait
                acc.work += work
            hourly["answered"][hour] += 1
            hourly["within"][hour] += within
            hourly["wait"][hour] += rec.wait
        elif outcome == ABANDONED_IN_QUEUE:
            overall.abandoned += 1
            q.abandoned += 1
            hourly["abandoned"][hour] += 1
        elif outcome == TIMEOUT:
            volumes["timeouts"] += 1
    kpis: dict[str, dict[str, float | None]] = {"overall": overall.values()}
    for name in sorted(by_queue):
        kpis[f"queue:{name}"] = by_queue[name].values()
    for pid in sorted(by_partner):
        values = by_partner[pid].values()
        for caller_side in ("offered", "sl", "abandonment"):
            values[caller_side] = None
        kpis[f"partner:{pid}"] = values
    # Occupancy of staffed lines over open hours, minus pauses.
    busy: dict[str, float] = {}
    staffed: dict[str, float] = {}
    for line in result.lines:
        if not line.staffed:
            continue
        busy[line.partner] = busy.get(line.partner, 0.0) + line.work
        staffed[line.partner] = staffed.get(line.partner, 0.0) + result.open_seconds - line.paused
    total_staffed = sum(staffed.values())
    kpis["overall"]["occupancy"] = sum(busy.values()) / total_staffed if total_staffed > 0 else None
    for pid, seconds in staffed.items():
        scope = kpis.setdefault(f"partner:{pid}", dict.fromkeys(METRICS))
        scope["occupancy"] = busy[pid] / seconds if seconds > 0 else None
    for scope_values in kpis.values():
        scope_values.setdefault("occupancy", None)
    return Summary(kpis, volumes, result.calendar.days, hourly)


@dataclass(frozen=True)
class Estimate:
    mean: float | None
    half_width: float | None  # 95% CI half width; None with fewer than 2 values
    n: int

    def contains(self, value: float) -> bool:
        if self.mean is None or self.half_width is None:
            return False
        return abs(value - self.mean) <= self.half_width


def estimate(values: Iterable[float | None]) -> Estimate:
    xs = [v for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return Estimate(None, None, 0)
    if len(xs) == 1:
        return Estimate(xs[0], None, 1)
    return Estimate(statistics.fmean(xs), t95(len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs)), len(xs))


def scopes(summaries: Sequence[Summary]) -> list[str]:
    seen: dict[str, None] = {}
    for s in summaries:
        for scope in s.kpis:
            seen.setdefault(scope, None)
    order = {"overall": 0, "queue": 1, "partner": 2}
    return sorted(seen, key=lambda sc: (order.get(sc.split(":")[0], 3), sc))


def aggregate(summaries: Sequence[Summary]) -> dict[str, dict[str, Estimate]]:
    """Mean and 95% CI of every KPI over replications."""
    return {
        scope: {m: estimate(s.kpis.get(scope, {}).get(m) for s in summaries) for m in METRICS}
        for scope in scopes(summaries)
    }


def paired_deltas(
    current: Sequence[Summary], proposed: Sequence[Summary]
) -> dict[str, dict[str, Estimate]]:
    """Proposed minus current, paired replication by replication (same calls, same seed)."""
    out: dict[str, dict[str, Estimate]] = {}
    for scope in scopes([*current, *proposed]):
        out[scope] = {}
        for m in METRICS:
            diffs: list[float | None] = []
            for a, b in zip(current, proposed, strict=True):
                va, vb = a.kpis.get(scope, {}).get(m), b.kpis.get(scope, {}).get(m)
                diffs.append(None if va is None or vb is None else vb - va)
            out[scope][m] = estimate(diffs)
    return out


def mean_volumes(summaries: Sequence[Summary]) -> dict[str, float]:
    keys: Mapping[str, int] = summaries[0].volumes if summaries else {}
    return {k: statistics.fmean(s.volumes[k] for s in summaries) for k in keys}


def hourly_profile(summaries: Sequence[Summary]) -> dict[str, list[float | None]]:
    """Per hour of day, over all replications: offered calls per day, SL, ASA, abandonment."""
    tot = {k: [sum(s.hourly[k][h] for s in summaries) for h in range(24)]
           for k in ("offered", "within", "answered", "abandoned", "wait")}
    day_count = sum(s.days for s in summaries) or 1
    out: dict[str, list[float | None]] = {"offered_per_day": [], "sl": [], "asa": [], "abandonment": []}
    for h in range(24):
        offered, answered = tot["offered"][h], tot["answered"][h]
        out["offered_per_day"].append(offered / day_count)
        out["sl"].append(tot["within"][h] / offered if offered else None)
        out["asa"].append(tot["wait"][h] / answered if answered else None)
        out["abandonment"].append(tot["abandoned"][h] / offered if offered else None)
    return out
