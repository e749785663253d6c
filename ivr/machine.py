"""The IVR menu as a pure state machine: events in, actions out, no sockets.

Rules (the caller's side of a well-run public line):
- Closed (hours, holiday, closure): say the hours and the next opening, offer a
  callback (one key, one try), say goodbye, hang up.
- A caller recognised from a recent call is first offered the same partner
  (1: yes, anything else: the normal menu).
- Each step asks once and reads digits; ``0`` reaches an advisor with what is
  known so far; ``*`` repeats the step.
- A timeout or an invalid answer costs a try; after the step's last try the
  call goes on with the step's default, never a loop.
- On the first step only, a caller who never gave a valid answer is a
  no-input (silent) or invalid (keeps pressing wrong keys) call: goodbye, hang up.
- ``*`` repeats are capped like tries, so every session ends within
  ``len(steps) * 2 * max_tries`` reads.
- Once the menu routes the call, the router's decision comes back as ``Routed``: a long
  expected wait offers to keep the caller's place and call them back ("tapez 1"), nobody
  logged in offers an ordinary callback; one key, one try: 1 takes it, anything else queues.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from cdr.vocabulary import IvrExit
from config.models import Menu, MenuStep


# --- events (in) -----------------------------------------------------------
@dataclass(frozen=True)
class Digits:
    """What GET DATA returned: one or more DTMF digits (may be garbled)."""

    value: str


@dataclass(frozen=True)
class Timeout:
    """GET DATA returned with no digit."""


@dataclass(frozen=True)
class Hangup:
    """The caller hung up."""


@dataclass(frozen=True)
class Routed:
    """The router's decision for a menu that routes the call (``RoutingDecision.action``)."""

    action: str  # "queue", "offer_callback" (long expected wait) or "nobody_logged_in"


Event = Digits | Timeout | Hangup | Routed


# --- actions (out) ---------------------------------------------------------
@dataclass(frozen=True)
class Play:
    prompt: str


@dataclass(frozen=True)
class SayDateTime:
    """Say a date and time (Asterisk's own French number and date sounds)."""

    at: dt.datetime


@dataclass(frozen=True)
class Ask:
    """Play ``prompts`` (interruptible) then read up to ``max_digits`` digits."""

    step: str
    prompts: tuple[str, ...]
    timeout_ms: int
    max_digits: int


@dataclass(frozen=True)
class Finish:
    """The menu is over; the adapter routes the call (``route``) or hangs up."""

    exit_reason: IvrExit
    answers: dict[str, str]
    route: bool
    steps_taken: int
    retries: int
    callback: bool = False
    partner: str | None = None


Action = Play | SayDateTime | Ask | Finish


ExitReason = IvrExit  # the call vocabulary's exits (the machine never returns ``degraded``)


def step_prompt(step_id: str) -> str:
    """The prompt id of a step's question."""
    return f"step-{step_id}"


def repeat_prompt(partner_id: str) -> str:
    """The prompt id offering a recent caller the same partner."""
    return f"repeat-{partner_id}"


CALLBACK_STEP = "callback"
REPEAT_STEP = "repeat"
QUEUED_CALLBACK_STEP = "queued_callback"  # long wait: "rappelé sans perdre votre place"
NOBODY_CALLBACK_STEP = "nobody_callback"  # nobody logged in: an ordinary callback
YES = "1"
LONG_WAIT = "offer_callback"  # the router's action for a long expected wait


class Phase(StrEnum):
    """Where the machine is: the menu's steps, or a one-key offer."""

    MENU = "menu"
    CALLBACK = CALLBACK_STEP
    REPEAT = REPEAT_STEP
    ROUTED = "routed"  # the menu routed the call; waiting for the router's decision
    QUEUED_CALLBACK = QUEUED_CALLBACK_STEP
    NOBODY_CALLBACK = NOBODY_CALLBACK_STEP


@dataclass
class MenuMachine:
    """One caller's walk through the menu."""

    menu: Menu
    is_open: bool = True
    next_opening: dt.datetime | None = None
    repeat_partner: str | None = None
    # Answers a previous session of this call recorded before its service instance died: the
    # menu goes on from there (issue 13), it does not start over.
    resumed: Mapping[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    finished: Finish | None = None
    _index: int = 0
    _tries: int = 0
    _repeats: int = 0
    _timeouts_on_step: int = 0
    _steps_taken: int = 0
    _retries: int = 0
    _phase: Phase = Phase.MENU

    def start(self) -> list[Action]:
        """The first actions of the call."""
        if not self.is_open:
            self._phase = Phase.CALLBACK
            actions: list[Action] = [Play("closed")]
            if self.next_opening is not None:
                actions += [Play("next_opening"), SayDateTime(self.next_opening)]
            return [*actions, self._offer(CALLBACK_STEP, ("callback_offer",))]
        if self.resumed:
            return self._resume()
        if self.repeat_partner is not None:
            self._phase = Phase.REPEAT
            return [self._offer(REPEAT_STEP, ("welcome", repeat_prompt(self.repeat_partner)))]
        return [self._ask(with_welcome=True)]

    def _resume(self) -> list[Action]:
        """Keep the answers given before, in menu order up to the first missing or unknown one, and
        ask the next question, without the welcome the caller already heard."""
        for step in self.menu.steps:
            if self.resumed.get(step.id) not in {o.value for o in step.options}:
                break
            self.answers[step.id] = self.resumed[step.id]
            self._steps_taken += 1
            self._index += 1
        if self._index >= len(self.menu.steps):
            return [self._finish(ExitReason.COMPLETED, route=True)]
        return [self._ask()]

    def _offer(self, step: str, prompts: tuple[str, ...]) -> Ask:
        self._steps_taken += 1
        return Ask(step, prompts, int(self.menu.timeout_seconds * 1000), 1)

    def _feed_offer(self, event: Event) -> list[Action]:
        """Callback and same-partner offers: one key, one try, never a loop."""
        accepted = isinstance(event, Digits) and event.value == YES
        if self._phase == Phase.CALLBACK:
            if accepted:
                return [Play("callback_recorded"), Play("goodbye"),
                        self._finish(ExitReason.CLOSED, route=False, callback=True)]
            if isinstance(event, Hangup):
                return [self._finish(ExitReason.CLOSED, route=False)]
            return [Play("goodbye"), self._finish(ExitReason.CLOSED, route=False)]
        # Same-partner offer to a recent caller.
        if isinstance(event, Hangup):
            return [self._finish(ExitReason.HANGUP, route=False)]
        if accepted:
            return [Play("to_advisor"),
                    self._finish(ExitReason.SAME_PARTNER, route=True, partner=self.repeat_partner)]
        if isinstance(event, Digits) and event.value == self.menu.advisor_digit:
            return [Play("to_advisor"), self._finish(ExitReason.ADVISOR, route=True)]
        self._phase = Phase.MENU
        return [self._ask()]

    def _feed_routed(self, event: Event) -> list[Action]:
        """The router's decision, then the caller's key on the callback it made the machine offer."""
        finished = self.finished
        assert finished is not None  # only reached after a routing Finish
        if self._phase == Phase.ROUTED:
            if not isinstance(event, Routed) or event.action == "queue":
                self._phase = Phase.MENU  # done: the caller queues
                return []
            long_wait = event.action == LONG_WAIT
            self._phase = Phase.QUEUED_CALLBACK if long_wait else Phase.NOBODY_CALLBACK
            prompts = ("queued_callback_offer",) if long_wait else ("nobody_available", "long_wait_offer")
            return [Ask(self._phase.value, prompts, int(self.menu.timeout_seconds * 1000), 1)]
        offered, self._phase = self._phase, Phase.MENU
        if isinstance(event, Hangup):
            self.finished = replace(finished, exit_reason=ExitReason.HANGUP, route=False)
            return [self.finished]
        if isinstance(event, Digits) and event.value == YES:
            recorded = "queued_callback_recorded" if offered == Phase.QUEUED_CALLBACK else "callback_recorded"
            self.finished = replace(finished, callback=True, route=False)
            return [Play(recorded), self.finished]
        return []  # declined: the caller queues

    @property
    def offered_callback(self) -> str | None:
        """The callback offer waiting for the caller's key (``QUEUED_CALLBACK_STEP``...), if any."""
        return self._phase.value if self._phase in (Phase.QUEUED_CALLBACK, Phase.NOBODY_CALLBACK) else None

    def feed(self, event: Event) -> list[Action]:
        """Advance on one event; after ``Finish`` every further event is ignored, except the
        router's decision on a routed call and the caller's answer to the callback it offers."""
        if self.finished is not None:
            routed_phases = (Phase.ROUTED, Phase.QUEUED_CALLBACK, Phase.NOBODY_CALLBACK)
            return self._feed_routed(event) if self._phase in routed_phases else []
        if isinstance(event, Routed):
            return []  # no decision before the menu is over
        if self._phase != Phase.MENU:
            return self._feed_offer(event)
        if isinstance(event, Hangup):
            return [self._finish(ExitReason.HANGUP, route=False)]
        step = self._step
        if isinstance(event, Timeout):
            self._timeouts_on_step += 1
            return self._retry(step, "no_input")
        digits = event.value
        if digits == self.menu.advisor_digit:
            return [Play("to_advisor"), self._finish(ExitReason.ADVISOR, route=True)]
        if self.menu.repeat_digit in digits:
            self._repeats += 1
            if self._repeats <= self.menu.max_tries:
                return [self._ask()]
            return self._retry(step, "invalid")
        option = next((o for o in step.options if o.digits == digits), None)
        if option is None:
            return self._retry(step, "invalid")
        self.answers[step.id] = option.value
        return self._next_step()

    @property
    def _step(self) -> MenuStep:
        return self.menu.steps[self._index]

    def _max_tries(self, step: MenuStep) -> int:
        return step.max_tries or self.menu.max_tries

    def _ask(self, *, with_welcome: bool = False) -> Ask:
        step = self._step
        self._steps_taken += 1
        timeout = step.timeout_seconds or self.menu.timeout_seconds
        prompts = ("welcome", step_prompt(step.id)) if with_welcome else (step_prompt(step.id),)
        return Ask(step.id, prompts, int(timeout * 1000), step.max_digits)

    def _retry(self, step: MenuStep, complaint: str) -> list[Action]:
        self._tries += 1
        if self._tries < self._max_tries(step):
            self._retries += 1
            return [Play(complaint), self._ask()]
        if self._index == 0 and not self.answers:
            # Nothing valid ever came: a silent line or a caller hammering keys.
            silent = self._timeouts_on_step == self._tries
            reason = ExitReason.NO_INPUT if silent else ExitReason.INVALID
            return [Play(complaint), Play("goodbye"), self._finish(reason, route=False)]
        self.answers[step.id] = step.default
        return self._next_step()

    def _next_step(self) -> list[Action]:
        self._index += 1
        self._tries = self._repeats = self._timeouts_on_step = 0
        if self._index >= len(self.menu.steps):
            return [self._finish(ExitReason.COMPLETED, route=True)]
        return [self._ask()]

    def _finish(
        self, reason: ExitReason, *, route: bool, callback: bool = False, partner: str | None = None
    ) -> Finish:
        if route:
            self._phase = Phase.ROUTED
        self.finished = Finish(
            exit_reason=reason,
            answers=dict(self.answers),
            route=route,
            steps_taken=self._steps_taken,
            retries=self._retries,
            callback=callback,
            partner=partner,
        )
        return self.finished
