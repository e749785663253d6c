"""Simulated callers: arrivals from the traffic model, and their walk through the real IVR menu.

A ``Call`` is what a caller *wants* (hotline-independent, so the same traffic
can be replayed against two rule sets); ``walk`` runs it through the real
``ivr.machine.MenuMachine`` of a given hotline and returns the menu's exit,
the time spent in the menu and the ``CallerProfile`` the router sees.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from config.models import Menu
from ivr.machine import Ask, Digits, Event, Finish, Hangup, MenuMachine, Play, Timeout, step_prompt
from routing.router import CallerProfile
from sim.calendar import DAY
from sim.traffic import Distribution, Traffic, lognormal_params

REAL = 0
PRANK_SILENT = 1
PRANK_KEYS = 2
NOT_A_KEY = "#"  # never an option, the advisor digit or the repeat digit: an invalid answer


@dataclass(slots=True)
class Call:
    """One simulated call, as the caller intends it."""

    id: int
    arrival: float
    kind: int = REAL
    answers: tuple[tuple[str, str], ...] = ()
    advisor_first: bool = False
    hangup_at: int = -1  # index of the question the caller hangs up on; -1: never
    misdials: int = 0  # bit i: a wrong key first at question i
    patience: float = math.inf
    handle: float = 0.0  # talk seconds with an on-skill advisor

    def intent(self) -> tuple[object, ...]:
        return (self.kind, self.answers, self.advisor_first, self.hangup_at, self.misdials)

    @property
    def need(self) -> str | None:
        return next((v for k, v in self.answers if k == "need"), None)


class Categorical:
    """Draw one of ``values`` with the given weights (a binary search on cumulated weights)."""

    def __init__(self, weights: dict[str, float]) -> None:
        self.values = list(weights)
        total = sum(weights.values())
        acc = 0.0
        self.cum: list[float] = []
        for v in self.values:
            acc += weights[v] / total
            self.cum.append(acc)
        self.cum[-1] = 1.0

    def draw(self, rng: random.Random) -> str:
        return self.values[bisect.bisect_right(self.cum, rng.random())]


def sampler(dist: Distribution) -> tuple[str, float, float]:
    """Pre-computed parameters of a distribution for ``draw``."""
    if dist.law == "lognormal":
        mu, sigma = lognormal_params(dist.mean, dist.cv)
        return ("lognormal", mu, sigma)
    if dist.law == "gamma":
        if dist.cv == 0:
            return ("fixed", dist.mean, 0.0)
        shape = 1.0 / (dist.cv * dist.cv)
        return ("gamma", shape, dist.mean / shape)
    return (dist.law, dist.mean, 0.0)


def draw(params: tuple[str, float, float], rng: random.Random) -> float:
    law, a, b = params
    if law == "exponential":
        return rng.expovariate(1.0 / a)
    if law == "lognormal":
        return rng.lognormvariate(a, b)
    if law == "gamma":
        return rng.gammavariate(a, b)
    if law == "infinite":
        return math.inf
    return a


@dataclass
class TrafficSampler:
    """Draws calls of a traffic model; one instance per random stream."""

    traffic: Traffic
    steps: Sequence[str]  # the menu's step ids, in order (answers are drawn for these)
    answers: dict[str, Categorical] = field(init=False)
    times: dict[str | None, tuple[tuple[str, float, float], tuple[str, float, float]]] = field(init=False)

    def __post_init__(self) -> None:
        self.answers = {s: Categorical(self.traffic.mix.answers[s]) for s in self.steps
                        if s in self.traffic.mix.answers}
        self.times = {}

    def _times(self, need: str | None) -> tuple[tuple[str, float, float], tuple[str, float, float]]:
        cached = self.times.get(need)
        if cached is None:
            nt = self.traffic.times_for(need)
            cached = self.times[need] = (sampler(nt.handle), sampler(nt.patience))
        return cached

    def caller(self, rng: random.Random, call_id: int, arrival: float) -> Call:
        mix = self.traffic.mix
        if rng.random() < mix.prank:
            kind = PRANK_SILENT if rng.random() < 0.5 else PRANK_KEYS
            return Call(call_id, arrival, kind)
        answers = tuple((s, c.draw(rng)) for s, c in self.answers.items())
        advisor_first = rng.random() < mix.advisor_first
        hangup_at = rng.randrange(len(self.steps)) if rng.random() < mix.ivr_hangup else -1
        misdials = 0
        if mix.misdial > 0:
            for i in range(len(self.steps)):
                if rng.random() < mix.misdial:
                    misdials |= 1 << i
        need = next((v for k, v in answers if k == "need"), None)
        handle_p, patience_p = self._times(need)
        return Call(
            call_id, arrival, REAL, answers, advisor_first, hangup_at, misdials,
            patience=draw(patience_p, rng), handle=max(draw(handle_p, rng), 1e-3),
        )


def generate_calls(traffic: Traffic, start: dt.date, days: int, rng: random.Random) -> list[Call]:
    """Every call of ``days`` days from ``start``: Poisson arrivals, piecewise constant per hour.

    Independent of any hotline (answers are drawn for the traffic's mix steps), so the
    same calls can be replayed against two rule sets (common random numbers).
    """
    draw_caller = TrafficSampler(traffic, list(traffic.mix.answers))
    shares = traffic.hour_shares()
    calls: list[Call] = []
    for d in range(days):
        day_calls = traffic.day_volume(start + dt.timedelta(days=d))
        if day_calls <= 0:
            continue
        for hour, share in enumerate(shares):
            if share <= 0:
                continue
            rate = day_calls * share / 3600.0
            t0 = d * DAY + hour * 3600.0
            t = t0 + rng.expovariate(rate)
            while t < t0 + 3600.0:
                calls.append(draw_caller.caller(rng, len(calls), t))
                t += rng.expovariate(rate)
    return calls


# --- the menu walk --------------------------------------------------------------
@dataclass(frozen=True)
class Walk:
    route: bool
    exit: str
    seconds: float
    profile: CallerProfile | None


def _prompt_text(menu: Menu, prompt: str) -> str:
    for step in menu.steps:
        if prompt == step_prompt(step.id):
            return step.prompt
    value = getattr(menu, prompt, "")
    return value if isinstance(value, str) else ""


@dataclass
class MenuWalker:
    """Walks calls through the real menu machine of one hotline; results cached by intent."""

    menu: Menu
    chars_per_second: float
    listen_share: float
    key_seconds: float
    _cache: dict[tuple[object, ...], Walk] = field(default_factory=dict)
    _durations: dict[str, float] = field(default_factory=dict)

    @classmethod
    def for_traffic(cls, menu: Menu, traffic: Traffic) -> MenuWalker:
        return cls(menu, traffic.ivr_chars_per_second, traffic.ivr_listen_share, traffic.ivr_key_seconds)

    def _heard(self, prompt: str) -> float:
        seconds = self._durations.get(prompt)
        if seconds is None:
            seconds = self._durations[prompt] = len(_prompt_text(self.menu, prompt)) / self.chars_per_second
        return seconds

    def walk(self, call: Call) -> Walk:
        key = call.intent()
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._walk(call)
        return cached

    def _answer(self, call: Call, ask: Ask, index: int, asked: dict[str, int]) -> tuple[Event, float]:
        """The caller's reply to one question and the seconds it took."""
        prompt = sum(self._heard(p) for p in ask.prompts)
        silence = prompt + ask.timeout_ms / 1000.0
        keyed = prompt * self.listen_share + self.key_seconds
        if call.kind == PRANK_SILENT:
            return Timeout(), silence
        if call.kind == PRANK_KEYS:
            return Digits(NOT_A_KEY), keyed
        if index == call.hangup_at:
            return Hangup(), prompt * 0.5
        if index == 0 and call.advisor_first:
            return Digits(self.menu.advisor_digit), keyed
        step = next((s for s in self.menu.steps if s.id == ask.step), None)
        if step is None:  # an offer outside the menu steps: decline it
            return Timeout(), silence
        tries = asked.get(step.id, 0)
        asked[step.id] = tries + 1
        if tries == 0 and call.misdials >> index & 1:
            return Digits(NOT_A_KEY), keyed
        wanted = dict(call.answers).get(step.id, step.default)
        option = next((o for o in step.options if o.value == wanted), None)
        if option is None:
            option = next(o for o in step.options if o.value == step.default)
        return Digits(option.digits), keyed

    def _walk(self, call: Call) -> Walk:
        machine = MenuMachine(menu=self.menu)
        actions = machine.start()
        seconds = 0.0
        asked: dict[str, int] = {}
        order: dict[str, int] = {s.id: i for i, s in enumerate(self.menu.steps)}
        for _ in range(200):  # the machine ends every call within len(steps) * 2 * max_tries reads
            event: Event | None = None
            for action in actions:
                if isinstance(action, Play):
                    seconds += self._heard(action.prompt)
                elif isinstance(action, Ask):
                    event, spent = self._answer(call, action, order.get(action.step, -1), asked)
                    seconds += spent
                elif isinstance(action, Finish):
                    return self._finished(action, seconds)
            if event is None:
                break
            actions = machine.feed(event)
        raise RuntimeError("the menu did not finish")  # pragma: no cover - the machine guarantees it

    @staticmethod
    def _finished(finish: Finish, seconds: float) -> Walk:
        if not finish.route:
            return Walk(False, finish.exit_reason, seconds, None)
        a = finish.answers
        profile = CallerProfile(
            need=a.get("need"), sector=a.get("sector"), size=a.get("size"),
            departement=a.get("departement"), ivr_exit=finish.exit_reason,
        )
        return Walk(True, finish.exit_reason, seconds, profile)
