"""Replications: the same traffic against one or more rule sets, reproducibly.

Replication ``r`` of seed ``s`` draws its calls from the random stream
``"s:r:traffic"`` and runs each rule set with the engine stream ``"s:r"``:
every rule set sees exactly the same callers (arrivals, answers, patience,
handle times), so the deltas are paired (common random numbers) and a rerun
with the same seed gives the same figures.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from config.models import Hotline
from sim.calendar import Calendar
from sim.caller import generate_calls
from sim.engine import simulate
from sim.kpi import Summary, summarize
from sim.traffic import Traffic, check_against

# (fraction done 0..1, what is running)
ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class Scenario:
    label: str
    hotline: Hotline


@dataclass(frozen=True)
class Plan:
    start: dt.date
    days: int
    replications: int = 10
    seed: int = 1
    threshold: float = 20.0
    warmup: float = 0.0

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError(f"days must be >= 1, got {self.days}")
        if self.replications < 1:
            raise ValueError(f"replications must be >= 1, got {self.replications}")


def run(
    scenarios: Sequence[Scenario],
    traffic: Traffic,
    plan: Plan,
    progress: ProgressFn | None = None,
) -> dict[str, list[Summary]]:
    """Summaries by scenario label, one per replication."""
    for scenario in scenarios:
        check_against(traffic, scenario.hotline, source=f"traffic model vs {scenario.label}")
    calendars = {s.label: Calendar.build(s.hotline.hours, plan.start, plan.days) for s in scenarios}
    out: dict[str, list[Summary]] = {s.label: [] for s in scenarios}
    runs = plan.replications * len(scenarios)
    done = 0
    for rep in range(plan.replications):
        calls = generate_calls(traffic, plan.start, plan.days, random.Random(f"{plan.seed}:{rep}:traffic"))
        for scenario in scenarios:
            what = f"replication {rep + 1}/{plan.replications} {scenario.label}"

            def tick(fraction: float, base: int = done, what: str = what) -> None:
                if progress is not None:
                    progress((base + fraction) / runs, what)

            result = simulate(scenario.hotline, traffic, calendars[scenario.label], calls,
                              seed=f"{plan.seed}:{rep}", progress=tick if progress is not None else None)
            out[scenario.label].append(summarize(result, plan.threshold, plan.warmup))
            done += 1
    if progress is not None:
        progress(1.0, "done")
    return out
