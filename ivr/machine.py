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
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

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


Event = Digits | Timeout | Hangup


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

    exit_reason: str
    answers: dict[str, str]
    route: bool
    steps_taken: int
    retries: int
    callback: bool = False
    partner: str | None = None


Action = Play | SayDateTime | Ask | Finish


class ExitReason(StrEnum):
    COMPLETED = "completed"
    SAME_PARTNER = "same_partner"
    ADVISOR = "advisor"
    CLOSED = "closed"
    NO_INPUT = "no_input"
    INVALID = "invalid"
    HANGUP = "hangup"


def step_prompt(step_id: str) -> str:
    """The prompt id of a step's question."""
    return f"step-{step_id}"


def repeat_prompt(partner_id: str) -> str:
    """The prompt id offering a recent caller the same partner."""
    return f"repeat-{partner_id}"


CALLBACK_STEP = "callback"
REPEAT_STEP = "repeat"
YES = "1"


@dataclass
class MenuMachine:
    """One caller's walk through the menu."""

    menu: Menu
    is_open: bool = True
    next_opening: dt.datetime | None = None
    repeat_partner: str | None = None
    answers: dict[str, str] = field(default_factory=dict)
    finished: Finish | None = None
    _index: int = 0
    _tries: int = 0
    _repeats: int = 0
    _timeouts_on_step: int = 0
    _steps_taken: int = 0
    _retries: int = 0
    _phase: str = "menu"

    def start(self) -> list[Action]:
        """The first actions of the call."""
        if not self.is_open:
            self._phase = CALLBACK_STEP
            actions: list[Action] = [Play("closed")]
            if self.next_opening is not None:
                actions += [Play("next_opening"), SayDateTime(self.next_opening)]
            return [*actions, self._offer(CALLBACK_STEP, ("callback_offer",))]
        if self.repeat_partner is not None:
            self._phase = REPEAT_STEP
            return [self._offer(REPEAT_STEP, ("welcome", repeat_prompt(self.repeat_partner)))]
        return [self._ask(with_welcome=True)]

    def _offer(self, step: str, prompts: tuple[str, ...]) -> Ask:
        self._steps_taken += 1
        return Ask(step, prompts, int(self.menu.timeout_seconds * 1000), 1)

    def _feed_offer(self, event: Event) -> list[Action]:
        """Callback and same-partner offers: one key, one try, never a loop."""
        accepted = isinstance(event, Digits) and event.value == YES
        if self._phase == CALLBACK_STEP:
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
        self._phase = "menu"
        return [self._ask()]

    def feed(self, event: Event) -> list[Action]:
        """Advance on one event; after ``Finish`` every further event is ignored."""
        if self.finished is not None:
            return []
        if self._phase != "menu":
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
        self.finished = Finish(
            exit_reason=reason.value,
            answers=dict(self.answers),
            route=route,
            steps_taken=self._steps_taken,
            retries=self._retries,
            callback=callback,
            partner=partner,
        )
        return self.finished
