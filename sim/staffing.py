"""Lines needed per partner for a service-level target (Erlang C, and Erlang A with patience).

The traffic of each queue comes from the traffic model's caller mix walked
through the real menu and the real router (every combination of answers,
weighted by its share, plus the callers who press 0 at once). A queue's calls
go to the partners whose lines ring first there (lowest penalty, per
``routing.router.member_penalties``), split by their staffed lines; each
partner is then sized as its own pool. This ignores the overflow that
escalation gives (it only helps), so it is the conservative per-partner need.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass

from config.models import Hotline
from routing import router
from sim import erlang
from sim.caller import Call, MenuWalker
from sim.traffic import Distribution, Traffic


@dataclass(frozen=True)
class QueueLoad:
    queue: str
    share: float  # of offered calls
    talk: float  # mean talk seconds of its callers
    patience: float | None  # mean patience (exponential) of its callers; None = infinite


def _mean(dist: Distribution) -> float | None:
    return None if dist.law == "infinite" else dist.mean


def queue_loads(hotline: Hotline, traffic: Traffic) -> list[QueueLoad]:
    """Share of the offered calls, mean talk and patience, per queue."""
    walker = MenuWalker.for_traffic(hotline.menu, traffic)
    steps = list(traffic.mix.answers)
    acc: dict[str, list[float]] = {}  # queue -> [weight, weight*talk, weight*patience, weight of finite patience]

    def add(call: Call, weight: float) -> None:
        path = walker.walk(call)
        if not path.route or path.profile is None:
            return
        queue = router.decide(path.profile, hotline).queue
        times = traffic.times_for(path.profile.need or call.need)
        row = acc.setdefault(queue, [0.0, 0.0, 0.0, 0.0])
        row[0] += weight
        row[1] += weight * times.handle.mean
        patience = _mean(times.patience)
        if patience is not None:
            row[2] += weight * patience
            row[3] += weight

    combos = itertools.product(*(traffic.mix.answers[s].items() for s in steps))
    first = traffic.mix.advisor_first
    for combo in combos:
        weight = math.prod(share for _, share in combo)
        if weight <= 0:
            continue
        answers = tuple((s, value) for s, (value, _) in zip(steps, combo, strict=True))
        add(Call(0, 0.0, answers=answers), weight * (1 - first))
        add(Call(0, 0.0, answers=answers, advisor_first=True), weight * first)
    total = sum(row[0] for row in acc.values()) or 1.0
    return [
        QueueLoad(q, row[0] / total, row[1] / row[0], row[2] / row[3] if row[3] > 0 else None)
        for q, row in sorted(acc.items(), key=lambda kv: -kv[1][0])
    ]


def offered_per_hour_at_peak(traffic: Traffic, day: dt.date) -> float:
    """Calls per hour offered to the queues at the busiest hour of ``day`` (pranks and menu losses out)."""
    mix = traffic.mix
    return traffic.day_volume(day) * max(traffic.hour_shares()) * (1 - mix.prank) * (1 - mix.ivr_hangup)


@dataclass(frozen=True)
class PartnerNeed:
    partner: str
    name: str
    calls_per_hour: float
    aht: float  # talk + wrap-up
    patience: float | None
    configured: int
    staffed: int
    erlang_c: erlang.ErlangCResult | None
    erlang_a: erlang.ErlangAResult | None


def partner_needs(
    hotline: Hotline,
    traffic: Traffic,
    calls_per_hour: float,
    *,
    target_sl: float = 0.8,
    threshold: float = 20.0,
    patience: float | None = None,
    use_traffic_patience: bool = False,
) -> list[PartnerNeed]:
    """Lines each partner needs for ``calls_per_hour`` offered calls in all.

    ``patience`` (seconds) sizes with Erlang A as well; ``use_traffic_patience`` takes
    each queue's mean patience from the traffic model instead.
    """
    advisors = traffic.advisors
    staffed = {
        p.id: round(p.lines * advisors.staffed.get(p.id, advisors.staffed_default)) for p in hotline.partners
    }
    # partner -> [calls/h, calls*talk, calls*patience, calls with finite patience]
    load: dict[str, list[float]] = {p.id: [0.0, 0.0, 0.0, 0.0] for p in hotline.partners}
    for q in queue_loads(hotline, traffic):
        penalties = router.member_penalties(hotline, q.queue)
        lines = [(line, partner) for line, partner in hotline.lines() if line in penalties]
        best = min(penalties[line] for line, _ in lines)
        first = {p.id for line, p in lines if penalties[line] == best and staffed[p.id] > 0}
        weights = {pid: staffed[pid] for pid in first}
        total = sum(weights.values()) or 1
        q_patience = patience if patience is not None else (q.patience if use_traffic_patience else None)
        for pid, w in weights.items():
            calls = calls_per_hour * q.share * w / total
            row = load[pid]
            row[0] += calls
            row[1] += calls * q.talk * (1 + advisors.skill_slowdown * best)
            if q_patience is not None:
                row[2] += calls * q_patience
                row[3] += calls
    out: list[PartnerNeed] = []
    for p in hotline.partners:
        calls, talk_w, pat_w, pat_n = load[p.id]
        if calls <= 0:
            out.append(PartnerNeed(p.id, p.name, 0.0, 0.0, None, p.lines, staffed[p.id], None, None))
            continue
        aht = talk_w / calls + p.wrapup_seconds
        mean_patience = pat_w / pat_n if pat_n > 0 else None
        c = erlang.lines_for_erlang_c(calls, aht, target_sl, threshold)
        a = (erlang.lines_for_erlang_a(calls, aht, mean_patience, target_sl, threshold)
             if mean_patience is not None else None)
        out.append(PartnerNeed(p.id, p.name, calls, aht, mean_patience, p.lines, staffed[p.id], c, a))
    return out
