"""KPIs of simulated calls, their confidence intervals over replications, and deltas.

The simulator's calls are call records (``cdr.kpi.CallFacts``, from ``RunResult.facts``)
measured with ``cdr.kpi`` itself, the definitions of the reports on real CDRs, on exact
simulated seconds instead of whole seconds:

- offered = answered + abandoned in queue + timeout (pranks, calls lost in the
  menu and closed-hours calls never reach a queue: counted apart);
- service level (inclusive) = answered with wait <= T / offered;
- service level (answered) = answered with wait <= T / answered;
- ASA = mean wait of answered calls; AHT = mean talk + wrap-up of answered calls;
- abandonment = abandoned in queue / offered;
- occupancy = (talk + wrap-up) / staffed time, staffed time = staffed lines x
  open hours - pauses (``cdr.kpi.occupancy`` over the simulated lines' own work and
  pauses: the simulator knows the logged-in time the reports default to open hours).

Scopes: ``overall``, ``queue:<name>`` (caller side) and ``partner:<id>``
(answered side only, ``cdr.kpi.answered_side_only``: a call has a partner once an
advisor answered it). Calls arriving before ``warmup`` seconds are left out (steady-state checks).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cdr.kpi import (
    CallFacts,
    Kpis,
    KpiSettings,
    answered_side_only,
    compute_kpis,
    group_by,
    is_abandoned,
    is_answered,
    is_offered,
    is_within_threshold,
    occupancy,
    volume,
    wait,
)
from sim.engine import RunResult

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


def _values(kpis: Kpis) -> dict[str, float | None]:
    """One scope's ``cdr.kpi`` figures under the simulator's metric names."""
    return {
        "offered": None if kpis.offered is None else float(kpis.offered),
        "answered": float(kpis.answered),
        "sl": kpis.service_level_inclusive,
        "sl_answered": kpis.service_level_answered,
        "asa": kpis.asa_seconds,
        "aht": kpis.aht_seconds,
        "abandonment": kpis.abandonment_rate,
    }


@dataclass
class Summary:
    """One run's KPIs by scope, its volumes, and an hour-of-day profile."""

    kpis: dict[str, dict[str, float | None]]
    volumes: dict[str, int]
    days: int
    hourly: dict[str, list[float]] = field(default_factory=dict)


def _hourly(calls: Iterable[CallFacts], settings: KpiSettings) -> dict[str, list[float]]:
    """Per local hour of arrival: offered, answered within T, answered, abandoned, summed wait of answered."""
    hourly = {k: [0.0] * 24 for k in ("offered", "within", "answered", "abandoned", "wait")}
    for call in calls:
        if not is_offered(call, settings):
            continue
        hour = call.start.hour
        hourly["offered"][hour] += 1
        if is_answered(call, settings):
            hourly["answered"][hour] += 1
            hourly["within"][hour] += is_within_threshold(call, settings)
            hourly["wait"][hour] += wait(call)
        elif is_abandoned(call, settings):
            hourly["abandoned"][hour] += 1
    return hourly


def summarize(result: RunResult, threshold: float = 20.0, warmup: float = 0.0) -> Summary:
    settings = KpiSettings(service_level_seconds=threshold)
    calls = result.facts(warmup)
    overall = compute_kpis(calls, settings)
    counts = volume(calls)
    volumes = {"calls": counts.calls, "closed": counts.closed, "pranks": overall.pranks or 0,
               "lost_in_ivr": counts.abandoned_in_ivr, "offered": overall.offered or 0,
               "timeouts": overall.timeouts or 0}
    kpis: dict[str, dict[str, float | None]] = {"overall": _values(overall)}
    by_queue = group_by((c for c in calls if is_offered(c, settings)), lambda c: c.queue)
    for name in sorted(by_queue):
        kpis[f"queue:{name}"] = _values(compute_kpis(by_queue[name], settings))
    by_partner = group_by((c for c in calls if is_answered(c, settings)), lambda c: c.partner)
    for pid in sorted(by_partner):
        kpis[f"partner:{pid}"] = _values(answered_side_only(compute_kpis(by_partner[pid], settings)))
    # Occupancy of staffed lines over open hours, minus pauses.
    busy: dict[str, float] = {}
    staffed: dict[str, float] = {}
    for line in result.lines:
        if not line.staffed:
            continue
        busy[line.partner] = busy.get(line.partner, 0.0) + line.work
        staffed[line.partner] = staffed.get(line.partner, 0.0) + result.open_seconds - line.paused
    total_staffed = sum(staffed.values())
    kpis["overall"]["occupancy"] = occupancy(sum(busy.values()), total_staffed) if total_staffed > 0 else None
    for pid, seconds in staffed.items():
        scope = kpis.setdefault(f"partner:{pid}", dict.fromkeys(METRICS))
        scope["occupancy"] = occupancy(busy[pid], seconds) if seconds > 0 else None
    for scope_values in kpis.values():
        scope_values.setdefault("occupancy", None)
    return Summary(kpis, volumes, result.calendar.days, _hourly(calls, settings))


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
