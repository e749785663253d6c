"""Textbook set-ups on the real engine: one pool of N lines, Poisson arrivals, exponential times.

``single_pool`` turns a hotline into an M/M/N (infinite patience) or M/M/N+M
(exponential patience) system: one partner of N lines, no skills, no wrap-up,
one escalation step letting every line ring at once, open around the clock;
``poisson_traffic`` gives flat Poisson arrivals with no pranks, no menu losses,
instant pick-up and no pauses. The engine, router and menu are the production
ones: only the data is textbook. Used to check the simulator against Erlang C/A.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from config.models import WEEKDAYS, EscalationStep, Holidays, Hotline, OpeningHours, Partner, TimeRange
from sim import erlang
from sim.caller import Call
from sim.kpi import t95
from sim.traffic import Advisors, Distribution, Mix, NeedTimes, Pauses, Traffic, Volume

ALWAYS_OPEN = OpeningHours(
    timezone="UTC",
    week={day: [TimeRange(open=dt.time(0, 0), close=dt.time(23, 59, 59, 999_999))] for day in WEEKDAYS},
    holidays=Holidays(enabled=False),
)


def single_pool(hotline: Hotline, lines: int) -> Hotline:
    pool = Partner(id="pool", name="Pool", lines=lines, skills={}, wrapup_seconds=0)
    queues = hotline.queues.model_copy(update={
        "escalation": [EscalationStep(after_seconds=0, max_penalty=9)],
        "max_wait_seconds": 7200,
    })
    return hotline.model_copy(update={"partners": [pool], "queues": queues, "hours": ALWAYS_OPEN})


def poisson_traffic(
    hotline: Hotline, calls_per_hour: float, aht: float, patience: float | None, start: dt.date
) -> Traffic:
    """Flat Poisson arrivals of ``calls_per_hour``; exponential handle (and patience when given)."""
    answers = {step.id: {step.default: 1.0} for step in hotline.menu.steps}
    times = NeedTimes(
        handle=Distribution(law="exponential", mean=aht),
        patience=Distribution(law="infinite") if patience is None else Distribution(law="exponential", mean=patience),
    )
    return Traffic(
        name="textbook",
        volume=Volume(start=start, end=start, start_per_day=calls_per_hour * 24, end_per_day=calls_per_hour * 24),
        day_of_week=dict.fromkeys(WEEKDAYS, 1.0),
        hour_of_day=dict.fromkeys(range(24), 1.0),
        mix=Mix(prank=0.0, advisor_first=0.0, ivr_hangup=0.0, misdial=0.0, answers=answers),
        needs={"default": times},
        advisors=Advisors(answer_seconds=(0.0, 0.0), no_answer=0.0, pauses=Pauses(per_hour=0.0),
                          skill_slowdown=0.0),
    )


# --- control variates for the checks against Erlang C / A ------------------------------
@dataclass(frozen=True)
class Companion:
    """KPIs of the *companion* queue: one server N times faster, fed the very same calls.

    Its exact means are known (Erlang C / A with one line of handle time AHT/N), and
    its run is strongly correlated with the simulated pool's (both see the same bursts
    of arrivals and long calls), which makes it a control variate (Law & Kelton,
    "Simulation Modeling and Analysis", ch. 11): the replication-to-replication noise
    of the inputs is removed, the simulator's own behaviour is not.
    """

    asa: float
    service_level: float
    abandonment: float


def companion_run(calls: Sequence[Call], lines: int, threshold: float, warmup: float = 0.0) -> Companion:
    """FCFS single server of rate N/AHT with abandonment (Lindley's recursion on the workload)."""
    workload = 0.0
    last = None
    answered = within = abandoned = 0
    wait_sum = 0.0
    for call in calls:
        if last is not None:
            workload = max(0.0, workload - (call.arrival - last))
        last = call.arrival
        counted = call.arrival >= warmup
        if call.patience > workload:
            if counted:
                answered += 1
                wait_sum += workload
                within += workload <= threshold
            workload += call.handle / lines
        elif counted:
            abandoned += 1
    offered = answered + abandoned
    return Companion(wait_sum / answered, within / offered, abandoned / offered)


def companion_expected(calls_per_hour: float, aht: float, patience: float | None, lines: int,
                       threshold: float) -> Companion:
    if patience is None:
        c = erlang.erlang_c_metrics(calls_per_hour, aht / lines, 1, threshold)
        return Companion(c.asa, c.service_level, 0.0)
    a = erlang.erlang_a_metrics(calls_per_hour, aht / lines, patience, 1, threshold)
    return Companion(a.asa, a.service_level, a.p_abandon)


def controlled_mean(values: Sequence[float], controls: Sequence[float], expected: float) -> tuple[float, float]:
    """Control-variate estimate of the mean of ``values`` and its 95% half width."""
    n = len(values)
    if n < 3:
        raise ValueError("a control-variate estimate needs at least 3 replications")
    my, mx = statistics.fmean(values), statistics.fmean(controls)
    sxx = sum((x - mx) ** 2 for x in controls)
    beta = sum((x - mx) * (y - my) for x, y in zip(controls, values, strict=True)) / sxx if sxx > 0 else 0.0
    adjusted = [y - beta * (x - expected) for x, y in zip(controls, values, strict=True)]
    mean = statistics.fmean(adjusted)
    residual = sum((y - my - beta * (x - mx)) ** 2 for x, y in zip(controls, values, strict=True)) / (n - 2)
    var_mean = residual * (1.0 / n + (mx - expected) ** 2 / sxx) if sxx > 0 else statistics.variance(values) / n
    return mean, t95(n - 2) * math.sqrt(var_mean)
