"""Erlang B, C (M/M/N) and A (M/M/N+M): service level, ASA, abandonment, staffing.

Pure and exact (no approximation tables, no numpy): Erlang B by its stable
recursion, Erlang C from Erlang B, Erlang A from the birth-death chain of the
number of callers in the system (truncated where its tail is below 1e-16 of
the mass), as in Garnett, Mandelbaum and Reiman (2002), "Designing a call
center with impatient customers".

Units: arrivals in calls per hour at the API (what an admin reads in a
report), times in seconds. Definitions follow ``cdr.kpi``:

- service level (inclusive) = answered within T / offered;
- service level (answered)  = answered within T / answered;
- ASA = mean wait of answered calls;
- occupancy = busy lines / lines (talk + wrap-up when AHT includes wrap-up).

Erlang C has no abandonment, so both service levels are the same there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TAIL = 1e-16
MAX_EXTRA_LINES = 2000


class ErlangError(ValueError):
    """Invalid calculator input (a negative rate, no lines...)."""

    code = "erlang_invalid"


def _check(calls_per_hour: float, aht: float, servers: int | None = None) -> None:
    if calls_per_hour < 0 or not math.isfinite(calls_per_hour):
        raise ErlangError(f"calls per hour must be >= 0, got {calls_per_hour}")
    if aht <= 0 or not math.isfinite(aht):
        raise ErlangError(f"average handle time must be > 0 seconds, got {aht}")
    if servers is not None and servers < 1:
        raise ErlangError(f"lines must be >= 1, got {servers}")


def offered_load(calls_per_hour: float, aht: float) -> float:
    """Offered traffic in erlangs: arrival rate x average handle time."""
    return calls_per_hour * aht / 3600.0


def erlang_b(servers: int, traffic: float) -> float:
    """Blocking probability of N lines offered A erlangs (no queue)."""
    if servers < 0:
        raise ErlangError(f"lines must be >= 0, got {servers}")
    b = 1.0
    for k in range(1, servers + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(servers: int, traffic: float) -> float:
    """Probability that a caller waits (M/M/N, infinite patience); 1.0 when N <= A."""
    if servers < 1:
        raise ErlangError(f"lines must be >= 1, got {servers}")
    if traffic <= 0:
        return 0.0
    if servers <= traffic:
        return 1.0
    b = erlang_b(servers, traffic)
    return servers * b / (servers - traffic * (1.0 - b))


@dataclass(frozen=True)
class ErlangCResult:
    lines: int
    calls_per_hour: float
    aht: float
    threshold: float
    traffic: float
    p_wait: float
    service_level: float
    asa: float
    occupancy: float

    @property
    def stable(self) -> bool:
        return self.lines > self.traffic


def erlang_c_metrics(calls_per_hour: float, aht: float, lines: int, threshold: float = 20.0) -> ErlangCResult:
    """Service level within ``threshold`` s, ASA and occupancy of ``lines`` lines."""
    _check(calls_per_hour, aht, lines)
    a = offered_load(calls_per_hour, aht)
    c = erlang_c(lines, a)
    if lines <= a:
        sl, asa, occ = 0.0, math.inf, 1.0
    else:
        sl = 1.0 - c * math.exp(-(lines - a) * threshold / aht)
        asa = c * aht / (lines - a)
        occ = a / lines
    return ErlangCResult(lines, calls_per_hour, aht, threshold, a, c, sl, asa, occ)


@dataclass(frozen=True)
class ErlangAResult:
    lines: int
    calls_per_hour: float
    aht: float
    patience: float
    threshold: float
    traffic: float
    p_wait: float
    p_abandon: float
    service_level: float  # inclusive: answered within T / offered
    service_level_answered: float  # answered within T / answered
    asa: float  # mean wait of answered calls
    mean_wait: float  # mean time in queue over all callers (answered or abandoned)
    occupancy: float


def _stationary(lam: float, mu: float, theta: float, n: int) -> list[float]:
    """Normalised P(k callers in the system), k = 0.. until the tail is negligible."""
    probs = [1.0]
    total = 1.0
    k = 0
    while True:
        k += 1
        death = min(k, n) * mu + max(k - n, 0) * theta
        term = probs[-1] * lam / death
        probs.append(term)
        total += term
        if term > 1e250:
            probs = [p / 1e250 for p in probs]
            total /= 1e250
        if k > n and term < TAIL * total:
            break
        if k > n + 1_000_000:  # cannot happen with theta > 0; a guard, not a limit
            break
    return [p / total for p in probs]


def _served_within(n: int, mu: float, theta: float, ahead_weights: list[float], t: float) -> float:
    """Sum over j of weight[j] * P(a caller with j callers ahead reaches a line within t s).

    The tagged caller moves up at rate N*mu + j*theta (a service ends or one caller
    ahead gives up) and gives up at rate theta. Computed by uniformisation of that
    absorbing chain, forward from the weighted start distribution.
    """
    k_max = len(ahead_weights) - 1
    rate = [n * mu + j * theta for j in range(k_max + 1)]
    big = rate[-1] + theta
    if big <= 0 or t <= 0:
        return 0.0
    lt = big * t
    steps = int(lt + 12 * math.sqrt(lt) + 50)
    dist = list(ahead_weights)
    served = 0.0
    result = 0.0
    log_lt = math.log(lt)
    for step in range(1, steps + 1):
        served += dist[0] * rate[0] / big
        new = [0.0] * (k_max + 1)
        for j in range(k_max + 1):
            pj = dist[j]
            if pj == 0.0:
                continue
            new[j] += pj * (1.0 - (rate[j] + theta) / big)
            if j > 0:
                new[j - 1] += pj * rate[j] / big
        dist = new
        # P(exactly `step` uniformised jumps by t) times the mass served after them; the
        # mass served after `step` jumps counts for every later count too (cumulative).
        weight = math.exp(step * log_lt - lt - math.lgamma(step + 1))
        result += weight * served
    # Jumps beyond `steps` have negligible Poisson weight: their served mass is at most `served`.
    tail = 1.0 - sum(math.exp(s * log_lt - lt - math.lgamma(s + 1)) for s in range(0, steps + 1))
    return result + max(tail, 0.0) * served


def erlang_a_metrics(
    calls_per_hour: float, aht: float, patience: float, lines: int, threshold: float = 20.0
) -> ErlangAResult:
    """M/M/N+M (exponential patience of mean ``patience`` s): every KPI, exactly."""
    _check(calls_per_hour, aht, lines)
    if patience <= 0 or not math.isfinite(patience):
        raise ErlangError(f"mean patience must be > 0 seconds, got {patience}")
    a = offered_load(calls_per_hour, aht)
    if calls_per_hour == 0:
        return ErlangAResult(lines, 0.0, aht, patience, threshold, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0)
    lam = calls_per_hour / 3600.0
    mu = 1.0 / aht
    theta = 1.0 / patience
    probs = _stationary(lam, mu, theta, lines)
    delayed = probs[lines:]  # an arrival finding N + j callers has j callers ahead
    p_wait = sum(delayed)
    queue_length = sum(j * p for j, p in enumerate(delayed))
    p_abandon = theta * queue_length / lam
    # Per start j: P(served) and E[wait * 1{served}] by the exact recursion of the chain above.
    served_mass = 0.0
    served_wait = 0.0
    p_prev, m_prev = 1.0, 0.0
    for j, weight in enumerate(delayed):
        r = lines * mu + j * theta
        p_j = r / (r + theta) * p_prev
        m_j = p_j / (r + theta) + r / (r + theta) * m_prev
        served_mass += weight * p_j
        served_wait += weight * m_j
        p_prev, m_prev = p_j, m_j
    answered = (1.0 - p_wait) + served_mass
    within = (1.0 - p_wait) + _served_within(lines, mu, theta, delayed, threshold)
    return ErlangAResult(
        lines=lines,
        calls_per_hour=calls_per_hour,
        aht=aht,
        patience=patience,
        threshold=threshold,
        traffic=a,
        p_wait=p_wait,
        p_abandon=p_abandon,
        service_level=within,
        service_level_answered=within / answered if answered > 0 else 0.0,
        asa=served_wait / answered if answered > 0 else 0.0,
        mean_wait=queue_length / lam,
        occupancy=lam * (1.0 - p_abandon) * aht / lines,
    )


def lines_for_erlang_c(
    calls_per_hour: float,
    aht: float,
    target_sl: float,
    threshold: float = 20.0,
    *,
    max_occupancy: float = 1.0,
    max_asa: float | None = None,
) -> ErlangCResult:
    """The fewest lines meeting the service level (and occupancy / ASA caps when given)."""
    _check(calls_per_hour, aht)
    if not 0.0 <= target_sl < 1.0:
        raise ErlangError(f"target service level must be in [0, 1), got {target_sl}")
    a = offered_load(calls_per_hour, aht)
    n = max(1, math.floor(a) + 1)
    while n <= a + MAX_EXTRA_LINES:
        res = erlang_c_metrics(calls_per_hour, aht, n, threshold)
        if (
            res.service_level >= target_sl
            and res.occupancy <= max_occupancy
            and (max_asa is None or res.asa <= max_asa)
        ):
            return res
        n += 1
    raise ErlangError("no staffing within reach meets the target")


def lines_for_erlang_a(
    calls_per_hour: float,
    aht: float,
    patience: float,
    target_sl: float,
    threshold: float = 20.0,
    *,
    max_abandon: float | None = None,
) -> ErlangAResult:
    """The fewest lines whose inclusive service level meets the target (and abandonment cap)."""
    _check(calls_per_hour, aht)
    if not 0.0 <= target_sl < 1.0:
        raise ErlangError(f"target service level must be in [0, 1), got {target_sl}")
    a = offered_load(calls_per_hour, aht)
    # With abandonment the chain is stable for any N; below A/2 lines the target is out of reach.
    n = max(1, math.floor(a * 0.5))
    while n <= a + MAX_EXTRA_LINES:
        res = erlang_a_metrics(calls_per_hour, aht, patience, n, threshold)
        if res.service_level >= target_sl and (max_abandon is None or res.p_abandon <= max_abandon):
            return res
        n += 1
    raise ErlangError("no staffing within reach meets the target")
