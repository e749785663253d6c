"""Discrete-event model of the hotline on SimPy: the real router, app_queue's rules.

What is real (imported, not re-implemented): the menu (``ivr.machine`` via
``sim.caller``), the queue choice (``routing.router.decide``, the default of the
simulation's ``decide`` parameter: a study or a test passes another), every line's
penalty in every queue (``routing.router.member_penalties``), the queue list
(``routing.router.queue_names``) and the escalation steps, strategy, ring
timeout, retry, max wait and wrap-up times of the hotline config: the very
values ``aiguilleur.confgen`` writes to ``queues.conf`` / ``queuerules.conf``.

What is modelled, after app_queue (Asterisk 22, ``autofill=yes``,
``ringinuse=no``, ``shared_lastcall=yes``, per-member ``wrapuptime``):

- a line is free, ringing, talking, in wrap-up, paused or logged out; only a
  free line can ring (``ringinuse=no``); after a call it stays unavailable for
  its partner's ``wrapup_seconds``;
- a caller enters with the ``QUEUE_MAX_PENALTY`` of their routing decision
  (``decision.max_penalty``: the best tier with a line present, plus the first
  step) and each ``penaltychange`` step widens it at ``after_seconds`` from queue
  entry (``decision.escalation``: the config's relative steps made absolute for
  this caller); the router sees the live state as the service does (staffed lines
  logged in, paused lines paused; no expected wait, so no callback offer, and a
  caller told that nobody is logged in stays queued, as one declining the
  callback), unless the simulation is told to route without it (``live_state=False``);
- callers are ordered by priority then arrival; with autofill the first
  *avl* callers of a queue may ring, *avl* being the number of available
  lines (ringall: only the head);
- a caller rings the best allowed line: lowest penalty first, then the
  strategy (leastrecent: idle longest since its last call ended, a line never
  called first; fewestcalls; linear; rrmemory; random; ringall ~ random among
  the best penalty, as the first line to pick up wins);
- a ringing line picks up after ``answer_seconds``, or rings out after
  ``ring_seconds`` (the ``no_answer`` share) and the caller tries again after
  ``retry_seconds``, keeping their place;
- a caller hangs up when their patience runs out (abandon), or leaves when the
  queue's max wait (``Queue()`` timeout) expires (timeout);
- a line pauses now and then while open (after its current call).

One approximation, stated: when one line frees and callers of several queues
could take it, the highest priority then longest waiting caller gets it
(app_queue lets the callers race; each one re-checks every second).

A run's calls come out as ``cdr.kpi.CallFacts`` (``RunResult.facts``), the shape of a real
call record, with exact seconds: ``sim.kpi`` measures them with ``cdr.kpi``'s definitions.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import random
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from cdr.kpi import CallFacts
from cdr.vocabulary import IvrExit, Outcome
from config.models import Hotline
from routing import router
from sim.calendar import Calendar
from sim.caller import Call, MenuWalker
from sim.traffic import Traffic

# line states
FREE, RINGING, TALKING, WRAPUP, PAUSED, OFF = range(6)

STRATEGIES = ("leastrecent", "fewestcalls", "linear", "rrmemory", "random", "ringall")

ProcessGen = Generator[simpy.Event, Any, None]
Progress = Callable[[float], None]
# The router: a caller's profile, the rules and the live outlook in, the queue decision out.
Decide = Callable[[router.CallerProfile, Hotline, router.QueueOutlook | None], router.RoutingDecision]


@dataclass(slots=True, eq=False)
class Line:
    index: int
    id: str
    partner: str
    wrapup: float
    staffed: bool
    state: int = OFF
    last_end: float = -math.inf
    calls: int = 0
    pause_wanted: bool = False
    work: float = 0.0  # talk + wrap-up seconds
    paused: float = 0.0


@dataclass(slots=True, eq=False)
class Queue:
    name: str
    penalties: list[int]  # by line index
    waiting: list[Entry] = field(default_factory=list)
    rr_next: int = 0


@dataclass(slots=True, eq=False)
class Entry:
    call: Call
    queue: Queue
    priority: int
    seq: int
    joined: float
    max_penalty: int
    steps: tuple[tuple[int, int], ...]  # (after_seconds, max_penalty): this caller's widening
    step: int
    proc: simpy.Process | None
    line: Line | None = None
    retrying: bool = False


def _order(entry: Entry) -> tuple[int, int]:
    return (-entry.priority, entry.seq)


@dataclass(slots=True)
class Record:
    """One simulated call as the engine follows it (seconds since the calendar's start).

    ``facts`` gives it in the shape of a call record."""

    call_id: int
    arrival: float
    outcome: Outcome
    need: str | None = None
    sector: str | None = None
    ivr_exit: str | None = None
    ivr_seconds: float = 0.0
    queue: str | None = None
    wait: float = 0.0
    talk: float = 0.0
    wrapup: float = 0.0
    line: str | None = None
    partner: str | None = None
    penalty: int | None = None
    size: str | None = None
    departement: str | None = None

    def facts(self, calendar: Calendar) -> CallFacts:
        """This call as a call record: what ``cdr.kpi`` and ``sim.fit`` read from the ``cdr`` table."""
        answered = self.outcome == Outcome.ANSWERED
        return CallFacts(
            linkedid=str(self.call_id), start=calendar.to_datetime(self.arrival), outcome=self.outcome,
            ivr_exit=self.ivr_exit, need=self.need, sector=self.sector, size=self.size,
            departement=self.departement, queue=self.queue, line=self.line, partner=self.partner,
            wait_seconds=self.wait if self.queue is not None else None,
            talk_seconds=self.talk if answered else None, wrapup_seconds=self.wrapup if answered else None,
        )


@dataclass(frozen=True)
class LineStats:
    id: str
    partner: str
    staffed: bool
    work: float
    paused: float
    calls: int


@dataclass(frozen=True)
class RunResult:
    records: list[Record]
    lines: list[LineStats]
    open_seconds: float
    calendar: Calendar
    rings_unanswered: int
    pauses: int

    def facts(self, warmup: float = 0.0) -> list[CallFacts]:
        """The call records of the calls that arrived from ``warmup`` seconds on (in the engine's order)."""
        return [r.facts(self.calendar) for r in self.records if r.arrival >= warmup]


def _exit_outcome(exit_reason: str) -> Outcome:
    if exit_reason in (IvrExit.NO_INPUT, IvrExit.INVALID, IvrExit.CLOSED):
        return Outcome(exit_reason)
    return Outcome.ABANDONED_IN_IVR


class Simulation:
    """One run of one rule set over one list of calls."""

    def __init__(
        self,
        hotline: Hotline,
        traffic: Traffic,
        calendar: Calendar,
        calls: Sequence[Call],
        *,
        seed: int | str = 0,
        progress: Progress | None = None,
        live_state: bool = True,
        decide: Decide = router.decide,
    ) -> None:
        self.hotline = hotline
        self.decide = decide
        self.live_state = live_state
        self.traffic = traffic
        self.calendar = calendar
        self.calls = calls
        self.env = simpy.Environment()
        self.rng = random.Random(f"{seed}:engine")
        self.progress = progress
        self.walker = MenuWalker.for_traffic(hotline.menu, traffic)
        policy = hotline.queues
        self.strategy = STRATEGIES.index(policy.strategy) if policy.strategy in STRATEGIES else 0
        self.ring_seconds = float(policy.ring_seconds)
        self.retry_seconds = float(policy.retry_seconds)
        advisors = traffic.advisors
        self.answer_low, self.answer_high = advisors.answer_seconds
        self.no_answer = advisors.no_answer
        self.slowdown = advisors.skill_slowdown
        self.lines: list[Line] = []
        for partner in hotline.partners:
            share = advisors.staffed.get(partner.id, advisors.staffed_default)
            staffed = round(partner.lines * share)
            for n, line_id in enumerate(partner.line_ids()):
                wrapup = float(partner.wrapup_seconds)
                self.lines.append(Line(len(self.lines), line_id, partner.id, wrapup, n < staffed))
        self.logged_in = frozenset(line.id for line in self.lines if line.staffed)
        self.paused_ids: set[str] = set()
        self.free: list[Line] = []
        for line in self.lines:
            if line.staffed:
                line.state = FREE
                self.free.append(line)
        self.queues: dict[str, Queue] = {}
        for name in router.queue_names(hotline):
            self._queue(name)
        self.records: list[Record] = []
        self._decisions: dict[tuple[router.CallerProfile, frozenset[str]], router.RoutingDecision] = {}
        self.waiting = 0
        self._seq = 0
        self.rings_unanswered = 0
        self.pauses = 0

    # --- set-up -----------------------------------------------------------------
    def _queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            penalties = router.member_penalties(self.hotline, name)
            floor = self.hotline.queues.skill_penalty_floor
            queue = Queue(name, [penalties.get(line.id, floor) for line in self.lines])
            self.queues[name] = queue
        return queue

    def _decide(self, profile: router.CallerProfile) -> router.RoutingDecision:
        """The router's decision (production's unless told otherwise), with the live outlook the service would pass.

        ``decide`` is a pure function of the profile, the rules and the outlook; the outlook's
        only moving part here is which lines are paused, so decisions are cached per
        (profile, paused lines): a 30,000-call year asks the router far fewer times.
        """
        paused = frozenset(self.paused_ids) if self.live_state else frozenset()
        key = (profile, paused)
        decision = self._decisions.get(key)
        if decision is None:
            outlook = router.QueueOutlook(self.logged_in, paused, None) if self.live_state else None
            decision = self._decisions[key] = self.decide(profile, self.hotline, outlook)
        return decision

    def run(self) -> RunResult:
        env = self.env
        env.process(self._source())
        pauses = self.traffic.advisors.pauses
        if pauses.per_hour > 0:
            for line in self.lines:
                if line.staffed:
                    env.process(self._pauser(line, pauses.per_hour / 3600.0, pauses.mean_seconds))
        if self.progress is not None:
            env.process(self._ticker(self.progress))
        env.run()
        if self.progress is not None:
            self.progress(1.0)
        return RunResult(
            records=self.records,
            lines=[LineStats(li.id, li.partner, li.staffed, li.work, li.paused, li.calls) for li in self.lines],
            open_seconds=self.calendar.open_seconds(),
            calendar=self.calendar,
            rings_unanswered=self.rings_unanswered,
            pauses=self.pauses,
        )

    # --- processes --------------------------------------------------------------
    def _ticker(self, progress: Progress) -> ProcessGen:
        horizon = self.calendar.horizon
        while self.env.now < horizon:
            yield self.env.timeout(3600.0)
            progress(min(self.env.now / horizon, 0.999))

    def _source(self) -> ProcessGen:
        env = self.env
        is_open = self.calendar.is_open
        walk = self.walker.walk
        records = self.records
        for call in self.calls:
            if call.arrival > env.now:
                yield env.timeout(call.arrival - env.now)
            if not is_open(call.arrival):
                records.append(Record(call.id, call.arrival, Outcome.CLOSED, call.need, ivr_exit=IvrExit.CLOSED))
                continue
            path = walk(call)
            if not path.route or path.profile is None:
                records.append(Record(call.id, call.arrival, _exit_outcome(path.exit), call.need,
                                      ivr_exit=path.exit, ivr_seconds=path.seconds))
                continue
            env.process(self._caller(call, path.profile, path.exit, path.seconds))

    def _caller(self, call: Call, profile: router.CallerProfile, ivr_exit: str, ivr_seconds: float) -> ProcessGen:
        env = self.env
        if ivr_seconds > 0:
            yield env.timeout(ivr_seconds)
        decision = self._decide(profile)
        queue = self._queue(decision.queue)
        rec = Record(call.id, call.arrival, Outcome.ANSWERED, profile.need, profile.sector, ivr_exit, ivr_seconds,
                     decision.queue, size=profile.size, departement=profile.departement)
        self.records.append(rec)
        steps = decision.escalation
        entry = Entry(call, queue, decision.priority, self._seq, env.now, decision.max_penalty, steps, 1,
                      env.active_process)
        self._seq += 1
        if call.patience < decision.max_wait_seconds:
            give_up, lost = entry.joined + call.patience, Outcome.ABANDONED_IN_QUEUE
        else:
            give_up, lost = entry.joined + decision.max_wait_seconds, Outcome.TIMEOUT
        self._enqueue(entry)
        self._dispatch()
        while True:
            if entry.line is None:
                due = entry.joined + steps[entry.step][0] if entry.step < len(steps) else math.inf
                with contextlib.suppress(simpy.Interrupt):  # a line was assigned to this caller
                    yield env.timeout(min(give_up, due) - env.now)
                if entry.line is None:
                    if env.now >= give_up:
                        self._dequeue(entry)
                        rec.outcome, rec.wait = lost, env.now - entry.joined
                        return
                    self._widen(entry)
                    self._dispatch()
                    continue
            line = entry.line
            if self.rng.random() < self.no_answer:
                ring_for, picked_up = self.ring_seconds, False
            else:
                ring_for = self.rng.uniform(self.answer_low, self.answer_high)
                picked_up = ring_for < self.ring_seconds
                ring_for = min(ring_for, self.ring_seconds)
            if give_up < env.now + ring_for:  # the caller hangs up while the line rings
                yield env.timeout(give_up - env.now)
                entry.line = None
                self._release(line)
                rec.outcome, rec.wait = lost, env.now - entry.joined
                return
            if ring_for > 0:
                yield env.timeout(ring_for)
            if not picked_up:  # rang out: the line is free again; the caller retries, keeping their place
                self.rings_unanswered += 1
                entry.line = None
                entry.retrying = True
                self._enqueue(entry)
                self._release(line)
                pause = self.retry_seconds
                if give_up < env.now + pause:
                    yield env.timeout(give_up - env.now)
                    self._dequeue(entry)
                    rec.outcome, rec.wait = lost, env.now - entry.joined
                    return
                if pause > 0:
                    yield env.timeout(pause)
                entry.retrying = False
                self._widen(entry)
                self._dispatch()
                continue
            # connected
            penalty = queue.penalties[line.index]
            talk = call.handle * (1.0 + self.slowdown * penalty)
            rec.wait = env.now - entry.joined
            rec.talk, rec.wrapup = talk, line.wrapup
            rec.line, rec.partner, rec.penalty = line.id, line.partner, penalty
            line.state = TALKING
            yield env.timeout(talk)
            line.last_end = env.now
            line.calls += 1
            line.work += talk + line.wrapup
            if line.wrapup > 0:
                line.state = WRAPUP
                yield env.timeout(line.wrapup)
            self._release(line)
            return

    def _pauser(self, line: Line, rate: float, mean: float) -> ProcessGen:
        env = self.env
        horizon = self.calendar.horizon
        while True:
            yield env.timeout(self.rng.expovariate(rate))
            if env.now >= horizon:
                return
            if not self.calendar.is_open(env.now):
                continue
            if line.state == FREE:
                self.free.remove(line)
                self._pause(line, mean)
            elif line.state != PAUSED:
                line.pause_wanted = True

    # --- line and queue state -------------------------------------------------------
    def _pause(self, line: Line, mean: float) -> None:
        line.state = PAUSED
        self.paused_ids.add(line.id)
        self.pauses += 1
        duration = self.rng.expovariate(1.0 / mean)
        line.paused += duration
        end = self.env.timeout(duration)
        end.callbacks.append(lambda _event: self._release(line))

    def _release(self, line: Line) -> None:
        """The line is available again (or starts the pause it asked for)."""
        self.paused_ids.discard(line.id)
        if line.pause_wanted:
            line.pause_wanted = False
            if self.calendar.is_open(self.env.now):
                self._pause(line, self.traffic.advisors.pauses.mean_seconds)
                return
        line.state = FREE
        self.free.append(line)
        self._dispatch()

    def _enqueue(self, entry: Entry) -> None:
        bisect.insort(entry.queue.waiting, entry, key=_order)
        self.waiting += 1

    def _dequeue(self, entry: Entry) -> None:
        entry.queue.waiting.remove(entry)
        self.waiting -= 1

    def _widen(self, entry: Entry) -> None:
        steps = entry.steps
        now = self.env.now
        while entry.step < len(steps) and entry.joined + steps[entry.step][0] <= now:
            entry.max_penalty = max(entry.max_penalty, steps[entry.step][1])
            entry.step += 1

    def _best_line(self, entry: Entry) -> Line | None:
        penalties = entry.queue.penalties
        limit = entry.max_penalty
        strategy = self.strategy
        best: Line | None = None
        best_key: tuple[float, float] = (math.inf, math.inf)
        n_lines = len(self.lines)
        for line in self.free:
            p = penalties[line.index]
            if p > limit:
                continue
            if strategy == 0:
                key = (p, line.last_end)
            elif strategy == 1:
                key = (p, line.calls)
            elif strategy == 2:
                key = (p, line.index)
            elif strategy == 3:
                key = (p, (line.index - entry.queue.rr_next) % n_lines)
            else:
                key = (p, self.rng.random())
            if key < best_key or (key == best_key and best is not None and line.index < best.index):
                best, best_key = line, key
        return best

    def _dispatch(self) -> None:
        """Let waiting callers ring available lines until no allowed pair is left."""
        free = self.free
        while free and self.waiting:
            avl = 1 if self.strategy == 5 else len(free)
            chosen: Entry | None = None
            chosen_line: Line | None = None
            for queue in self.queues.values():
                for position, entry in enumerate(queue.waiting):
                    if position >= avl:
                        break
                    if entry.retrying:
                        continue
                    line = self._best_line(entry)
                    if line is None:
                        continue
                    if chosen is None or _order(entry) < _order(chosen):
                        chosen, chosen_line = entry, line
                    break
            if chosen is None or chosen_line is None:
                return
            self._assign(chosen, chosen_line)

    def _assign(self, entry: Entry, line: Line) -> None:
        self.free.remove(line)
        line.state = RINGING
        entry.line = line
        entry.queue.rr_next = (line.index + 1) % len(self.lines)
        self._dequeue(entry)
        proc = entry.proc
        if proc is not None and proc is not self.env.active_process:
            proc.interrupt()


def simulate(
    hotline: Hotline,
    traffic: Traffic,
    calendar: Calendar,
    calls: Sequence[Call],
    *,
    seed: int | str = 0,
    progress: Progress | None = None,
    live_state: bool = True,
    decide: Decide = router.decide,
) -> RunResult:
    return Simulation(hotline, traffic, calendar, calls, seed=seed, progress=progress, live_state=live_state,
                      decide=decide).run()
