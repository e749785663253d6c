"""Simulator speed: simulated calls per second of wall time, on one core.

    .venv/bin/python -m bench.sim_bench [--calls 30000] [--repeat 3] [--seed 1] [--json out.json]

Scenarios (default hotline, 36 lines, ``config/traffic.yaml`` shapes):

  year      the 2003 sizing: ``--calls`` calls over 365 days (flat volume), the goal
            being a 30,000-call year in <= 10 s;
  surge     the 2020 cell: 26 March to 30 June, 800 a day falling to 200 (~31,000 calls);
  tsunami   the first week of the surge with half the lines staffed: queues, escalation
            steps, abandons (the busy path of the engine).

Each is timed for traffic generation and simulation (and KPI summary) separately;
the median of ``--repeat`` runs is shown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from config.loader import load_hotline
from config.models import Hotline
from config.settings import REPO_ROOT
from sim.calendar import Calendar
from sim.caller import generate_calls
from sim.engine import simulate
from sim.kpi import summarize
from sim.traffic import Traffic, load_traffic

GOAL_SECONDS = 10.0


@dataclass(frozen=True)
class Measure:
    scenario: str
    days: int
    calls: int
    offered: int
    generate_s: float
    simulate_s: float
    summarize_s: float

    @property
    def total_s(self) -> float:
        return self.generate_s + self.simulate_s + self.summarize_s

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.total_s


def scenarios(traffic: Traffic, calls: int) -> list[tuple[str, Traffic, dt.date, int]]:
    year_start = dt.date(2021, 1, 1)
    flat = traffic.model_copy(update={"volume": traffic.volume.model_copy(
        update={"start": year_start, "end": year_start, "end_per_day": traffic.volume.start_per_day})})
    half = traffic.model_copy(update={"advisors": traffic.advisors.model_copy(update={"staffed_default": 0.5})})
    surge_days = (traffic.volume.end - traffic.volume.start).days + 1
    return [
        ("year", flat.scaled_to(calls, year_start, 365), year_start, 365),
        ("surge", traffic, traffic.volume.start, surge_days),
        ("tsunami", half, traffic.volume.start, 7),
    ]


def measure(name: str, hotline: Hotline, traffic: Traffic, start: dt.date, days: int, seed: int) -> Measure:
    t0 = time.perf_counter()
    calls = generate_calls(traffic, start, days, random.Random(f"{seed}:bench"))
    t1 = time.perf_counter()
    result = simulate(hotline, traffic, Calendar.build(hotline.hours, start, days), calls, seed=seed)
    t2 = time.perf_counter()
    summary = summarize(result)
    t3 = time.perf_counter()
    return Measure(name, days, len(calls), summary.volumes["offered"], t1 - t0, t2 - t1, t3 - t2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=30_000, help="calls in the simulated year")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    hotline = load_hotline(REPO_ROOT / "config" / "hotline.yaml")
    traffic = load_traffic(REPO_ROOT / "config" / "traffic.yaml")
    print(f"python {platform.python_version()} on {platform.machine()}, one process (one core)")
    print(f"{'scenario':8} {'days':>5} {'calls':>7} {'offered':>7} {'generate':>9} {'simulate':>9} "
          f"{'summary':>8} {'total':>7} {'calls/s':>8}")
    results: list[Measure] = []
    for name, t, start, days in scenarios(traffic, args.calls):
        runs = [measure(name, hotline, t, start, days, args.seed + r) for r in range(args.repeat)]
        m = sorted(runs, key=lambda x: x.total_s)[len(runs) // 2]
        results.append(m)
        print(f"{m.scenario:8} {m.days:5d} {m.calls:7d} {m.offered:7d} {m.generate_s:8.2f}s {m.simulate_s:8.2f}s "
              f"{m.summarize_s:7.2f}s {m.total_s:6.2f}s {m.calls_per_s:8.0f}"
              f"   (runs: {', '.join(f'{r.total_s:.2f}s' for r in runs)})")
    year = results[0]
    ok = year.total_s <= GOAL_SECONDS * year.calls / 30_000
    print(f"goal: a 30,000-call year in <= {GOAL_SECONDS:.0f} s: {year.calls} calls in {year.total_s:.2f} s -> "
          + ("met" if ok else "NOT met"))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([{**asdict(m), "total_s": m.total_s, "calls_per_s": m.calls_per_s}
                                         for m in results], indent=2), encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
