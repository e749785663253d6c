"""The hotline as validated data: partners, lines, skills, menu, hours, queue rules.

Loaded once from YAML at the edge (``config.loader``) and passed in; nothing
here reads files or the environment.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)]
PartnerId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*$", max_length=16)]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)
SkillLevel = Annotated[int, Field(ge=1, le=5)]

# The menu dimensions a skill can name; a skill key is "<dimension>:<value>".
DIMENSIONS = ("need", "sector", "size", "departement")


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a YAML file must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeRange(Strict):
    open: dt.time
    close: dt.time

    @model_validator(mode="after")
    def _open_before_close(self) -> TimeRange:
        if self.open >= self.close:
            raise ValueError(f"open ({self.open:%H:%M}) must be before close ({self.close:%H:%M})")
        return self


class Closure(Strict):
    """An exceptional closure (a bridge day, a strike, a training morning)."""

    start: dt.datetime
    end: dt.datetime
    reason: str = ""

    @model_validator(mode="after")
    def _start_before_end(self) -> Closure:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class Holidays(Strict):
    """Public holidays come from the ``holidays`` package for this country."""

    country: Literal["FR"] = "FR"
    enabled: bool = True


class OpeningHours(Strict):
    timezone: str = "Europe/Paris"
    week: dict[Weekday, list[TimeRange]]
    holidays: Holidays = Holidays()
    closures: list[Closure] = []

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
        return value


class MenuOption(Strict):
    digits: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,2}$")]
    value: Slug
    label: str = Field(min_length=1, description="French, as the caller hears it")


class MenuStep(Strict):
    id: Literal["need", "sector", "size", "departement"]
    prompt: str = Field(min_length=1, description="French text of the question")
    options: list[MenuOption] = Field(min_length=1)
    default: Slug = Field(description="value used when the caller gives no valid answer")
    max_digits: int = Field(1, ge=1, le=2)
    timeout_seconds: float | None = Field(None, gt=0, le=30)
    max_tries: int | None = Field(None, ge=1, le=5)

    @model_validator(mode="after")
    def _coherent_options(self) -> MenuStep:
        digits = [o.digits for o in self.options]
        if "0" in digits:
            raise ValueError(f"digit 0 is reserved for 'speak to an advisor' (step {self.id!r})")
        if len(set(digits)) != len(digits):
            raise ValueError(f"two options share the same digits in step {self.id!r}")
        values = [o.value for o in self.options]
        if self.default not in values:
            raise ValueError(f"default {self.default!r} is not one of the options {values}")
        if any(len(d) > self.max_digits for d in digits):
            raise ValueError(f"an option has more digits than max_digits={self.max_digits}")
        return self


class Menu(Strict):
    language: Literal["fr"] = "fr"
    timeout_seconds: float = Field(5.0, gt=0, le=30)
    max_tries: int = Field(3, ge=1, le=5)
    advisor_digit: Literal["0"] = "0"
    repeat_digit: Literal["*"] = "*"
    welcome: str
    closed: str
    invalid: str
    no_input: str
    goodbye: str
    to_advisor: str
    next_opening: str = Field("Nous rouvrirons", description="said before the next opening date and time")
    callback_offer: str = "Pour être rappelé dès l'ouverture, tapez 1."
    callback_recorded: str = "Votre demande de rappel est enregistrée. Un conseiller vous rappellera."
    long_wait_offer: str = Field(
        "L'attente risque d'être longue. Pour être rappelé dès qu'un conseiller se libère, tapez 1. "
        "Pour patienter, restez en ligne.",
        description="said when the expected wait exceeds queues.callback_offer_seconds",
    )
    nobody_available: str = Field(
        "Aucun conseiller n'est disponible pour le moment.",
        description="said when no advisor is logged in",
    )
    repeat_offer: str = Field(
        "Vous nous avez appelés récemment et avez été mis en relation avec {partner}. "
        "Pour parler de nouveau à cette structure, tapez 1. Sinon, tapez 2.",
        description="offered to a caller who called in the last repeat_days; {partner} is the partner's name",
    )
    repeat_days: int = Field(8, ge=0, le=90, description="0 turns repeat-caller recognition off")
    steps: list[MenuStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_steps(self) -> Menu:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError(f"a step appears twice: {ids}")
        return self

    def step(self, step_id: str) -> MenuStep:
        return next(s for s in self.steps if s.id == step_id)

    def skill_keys(self) -> set[str]:
        """Every skill a line may have: one per menu answer."""
        return {f"{s.id}:{o.value}" for s in self.steps for o in s.options}


class Partner(Strict):
    id: PartnerId
    name: str = Field(min_length=1)
    lines: int = Field(ge=1, le=99, description="number of softphone lines (advisors)")
    skills: dict[str, SkillLevel] = {}
    wrapup_seconds: int = Field(10, ge=0, le=600)
    spoken_name: str | None = Field(None, description="how the IVR says the partner's name; defaults to name")

    def line_ids(self) -> list[str]:
        return [f"{self.id}-{n:02d}" for n in range(1, self.lines + 1)]


class EscalationStep(Strict):
    """After ``after_seconds`` of waiting, lines up to ``max_penalty`` may be rung."""

    after_seconds: int = Field(ge=0, le=3600)
    max_penalty: int = Field(ge=0, le=9)


class QueuePolicy(Strict):
    strategy: Literal["rrmemory", "leastrecent", "fewestcalls", "linear", "ringall", "random"] = "leastrecent"
    ring_seconds: int = Field(15, ge=5, le=120, description="how long one line rings before the next")
    retry_seconds: int = Field(2, ge=0, le=60)
    max_wait_seconds: int = Field(600, ge=30, le=7200)
    skill_penalty_floor: int = Field(
        9, ge=5, le=9, description="penalty of a line with none of the queue's skill"
    )
    escalation: list[EscalationStep] = Field(min_length=1)
    general_queue: Slug = "hotline"
    callback_offer_seconds: int | None = Field(
        300, ge=30, le=3600,
        description="offer a callback before queueing when the expected wait is longer; null: never",
    )
    announce_every_seconds: int = Field(
        60, ge=0, le=600, description="position and hold-time announcements to waiting callers; 0: none"
    )

    @model_validator(mode="after")
    def _escalation_in_order(self) -> QueuePolicy:
        times = [s.after_seconds for s in self.escalation]
        if times != sorted(times) or len(set(times)) != len(times) or times[0] != 0:
            raise ValueError("escalation steps must start at after_seconds: 0 and strictly increase")
        if self.general_queue == "general":
            raise ValueError("general_queue cannot be 'general': it is queues.conf's settings section")
        penalties = [s.max_penalty for s in self.escalation]
        if penalties != sorted(penalties):
            raise ValueError("escalation max_penalty must never decrease (the pool only widens)")
        return self


PauseDigit = Annotated[str, StringConstraints(pattern=r"^[1-9]$")]
PauseReason = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=24)]


class AdvisorPolicy(Strict):
    """What advisors can do from their softphone; the feature codes themselves are fixed (README)."""

    pause_reasons: dict[PauseDigit, PauseReason] = Field(
        default_factory=lambda: {"1": "pause", "2": "repas", "3": "formation", "4": "back-office", "5": "reunion"},
        description="digit typed after the pause code -> reason shown on the wallboard and in queue_log",
    )


class Hotline(Strict):
    """The whole hotline: what an admin edits, validated as one piece."""

    version: int = Field(ge=1, description="rule version, bumped at every applied change")
    name: str
    number: Annotated[str, StringConstraints(pattern=r"^[0-9]{3,15}$")]
    hours: OpeningHours
    menu: Menu
    partners: list[Partner] = Field(min_length=1)
    queues: QueuePolicy
    advisors: AdvisorPolicy = AdvisorPolicy()

    @model_validator(mode="after")
    def _skills_exist(self) -> Hotline:
        known = self.menu.skill_keys()
        ids = [p.id for p in self.partners]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two partners share an id: {ids}")
        for index, partner in enumerate(self.partners):
            for skill in partner.skills:
                if skill not in known:
                    raise ValueError(
                        f"partners[{index}].skills ({partner.id}): unknown skill {skill!r}; allowed: "
                        + ", ".join(sorted(known))
                    )
        return self

    def lines(self) -> list[tuple[str, Partner]]:
        """Every line with its partner, in config order."""
        return [(line, p) for p in self.partners for line in p.line_ids()]

    def partner_of(self, line_id: str) -> Partner | None:
        partner_id = re.sub(r"-\d+$", "", line_id)
        return next((p for p in self.partners if p.id == partner_id), None)
