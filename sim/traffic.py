"""The traffic model as validated data (``config/traffic.yaml``): volumes, caller mix, times.

What an admin tunes (or ``aiguilleur sim fit`` estimates from the stored CDRs):

- **volume**: calls a day on a reference weekday, falling from ``start_per_day``
  on ``start`` to ``end_per_day`` on ``end`` (exponential or linear: the 2020
  surge and decay, 800 to 200), or flat (``start_per_day == end_per_day``);
- **day_of_week** and **hour_of_day** weights: a day's volume is
  ``level(day) * day_of_week[weekday]``, spread over hours in proportion to
  ``hour_of_day`` (hours outside opening hours reach the closed message);
- **mix**: wrong numbers and pranks, callers pressing 0 at once, callers
  hanging up in the menu, and each menu answer's share (need, sector, size,
  département: keys are the menu's option values);
- **needs**: handle time (talk, before wrap-up) and patience (time a caller
  waits in queue before hanging up) per need;
- **advisors**: time to pick up, unanswered rings, pauses, the share of each
  partner's lines that is staffed, slower handling off-skill.

Pure data and validation; reading the file is ``load_traffic`` at the edge.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.loader import ConfigError, parse_yaml_model, read_config_text
from config.models import WEEKDAYS, Hotline, MenuStep, Weekday

Share = Annotated[float, Field(ge=0.0, le=1.0)]
Weight = Annotated[float, Field(ge=0.0)]
SHARE_TOLERANCE = 0.02


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(Strict):
    """A positive duration in seconds: its law, mean and coefficient of variation (sd / mean)."""

    law: Literal["exponential", "lognormal", "gamma", "fixed", "infinite"] = "exponential"
    mean: float = Field(60.0, gt=0, le=86_400)
    cv: float = Field(1.0, ge=0, le=10, description="ignored by exponential (1), fixed (0) and infinite")


class NeedTimes(Strict):
    handle: Distribution = Field(description="talk time with the advisor, wrap-up excluded")
    patience: Distribution = Field(description="how long the caller waits in queue before hanging up")


class Volume(Strict):
    start: dt.date
    end: dt.date
    start_per_day: float = Field(gt=0, le=1_000_000, description="calls on a weight-1.0 weekday at start")
    end_per_day: float = Field(gt=0, le=1_000_000, description="calls on a weight-1.0 weekday at end")
    decay: Literal["exponential", "linear"] = "exponential"

    @model_validator(mode="after")
    def _ordered(self) -> Volume:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self

    def level(self, day: dt.date) -> float:
        """Calls on a weight-1.0 day; before start and after end the level stays at its bound."""
        span = (self.end - self.start).days
        x = 0.0 if span == 0 else min(max((day - self.start).days / span, 0.0), 1.0)
        if self.decay == "linear":
            return self.start_per_day + (self.end_per_day - self.start_per_day) * x
        return float(self.start_per_day * (self.end_per_day / self.start_per_day) ** x)


class Mix(Strict):
    """Who calls. Shares are of all calls (``prank``) or of real callers (the others)."""

    prank: Share = Field(0.07, description="wrong numbers and pranks: silent or keys at random")
    advisor_first: Share = Field(0.05, description="real callers who press 0 at the first question")
    ivr_hangup: Share = Field(0.02, description="real callers who hang up during the menu")
    misdial: Share = Field(0.03, description="chance of a wrong key at each question (then the right one)")
    answers: dict[str, dict[str, Share]] = Field(description="menu step id -> option value -> share")

    @field_validator("answers")
    @classmethod
    def _shares_sum_to_one(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for step, shares in value.items():
            total = sum(shares.values())
            if not shares or abs(total - 1.0) > SHARE_TOLERANCE:
                raise ValueError(f"shares of {step!r} add up to {total:.3f}, expected 1.0")
        return value


class Pauses(Strict):
    per_hour: float = Field(0.3, ge=0, le=20, description="pauses a line takes per open hour (when free)")
    mean_seconds: float = Field(300, gt=0, le=7200)


class Advisors(Strict):
    answer_seconds: tuple[float, float] = Field((2.0, 6.0), description="pick-up delay, uniform [min, max]")
    no_answer: Share = Field(0.02, description="chance a ringing line is not picked up (rings out)")
    pauses: Pauses = Pauses()
    staffed: dict[str, Share] = Field(
        default_factory=dict, description="partner id -> share of its lines logged in (default staffed_default)"
    )
    staffed_default: Share = 1.0
    skill_slowdown: float = Field(
        0.03, ge=0, le=1, description="handle time grows by this fraction per penalty point of the line"
    )

    @field_validator("answer_seconds")
    @classmethod
    def _ordered_pickup(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 <= low <= high <= 120:
            raise ValueError(f"answer_seconds must satisfy 0 <= min <= max <= 120, got {list(value)}")
        return value


class Traffic(Strict):
    version: int = Field(1, ge=1)
    name: str = ""
    volume: Volume
    day_of_week: dict[Weekday, Weight]
    hour_of_day: dict[Annotated[int, Field(ge=0, le=23)], Weight]
    mix: Mix
    needs: dict[str, NeedTimes] = Field(min_length=1, description="need value (or 'default') -> times")
    advisors: Advisors = Advisors()
    ivr_chars_per_second: float = Field(14.0, gt=0, le=100, description="speech rate of the prompts")
    ivr_listen_share: Share = Field(0.6, description="share of a question heard before keying (barge-in)")
    ivr_key_seconds: float = Field(1.5, ge=0, le=30)

    @model_validator(mode="after")
    def _some_traffic(self) -> Traffic:
        if not any(self.day_of_week.values()):
            raise ValueError("day_of_week: at least one day needs a weight > 0")
        if not any(self.hour_of_day.values()):
            raise ValueError("hour_of_day: at least one hour needs a weight > 0")
        return self

    def times_for(self, need: str | None) -> NeedTimes:
        if need is not None and need in self.needs:
            return self.needs[need]
        if "default" in self.needs:
            return self.needs["default"]
        return next(iter(self.needs.values()))

    def hour_shares(self) -> list[float]:
        """Share of a day's calls arriving in each hour 0..23."""
        total = sum(self.hour_of_day.values())
        return [self.hour_of_day.get(h, 0.0) / total for h in range(24)]

    def day_volume(self, day: dt.date) -> float:
        """Expected calls on ``day`` (all of them: pranks and closed hours included)."""
        return self.volume.level(day) * self.day_of_week.get(WEEKDAYS[day.weekday()], 0.0)

    def expected_calls(self, start: dt.date, days: int) -> float:
        return sum(self.day_volume(start + dt.timedelta(days=d)) for d in range(days))

    def scaled_to(self, calls: float, start: dt.date, days: int) -> Traffic:
        """The same shape with volumes scaled so ``days`` days from ``start`` expect ``calls`` calls."""
        factor = calls / self.expected_calls(start, days)
        volume = self.volume.model_copy(
            update={"start_per_day": self.volume.start_per_day * factor,
                    "end_per_day": self.volume.end_per_day * factor}
        )
        return self.model_copy(update={"volume": volume})


def check_against(traffic: Traffic, hotline: Hotline, source: str = "traffic") -> None:
    """Every mix key must be a menu step and option of this hotline; needs must be menu needs."""
    problems: list[str] = []
    steps: dict[str, MenuStep] = {s.id: s for s in hotline.menu.steps}
    for step_id, shares in traffic.mix.answers.items():
        step = steps.get(step_id)
        if step is None:
            problems.append(f"mix.answers.{step_id}: not a menu step; allowed: {', '.join(steps)}")
            continue
        values = [o.value for o in step.options]
        problems += [
            f"mix.answers.{step_id}.{value}: not an option of the menu step; allowed: {', '.join(values)}"
            for value in shares if value not in values
        ]
    need_step = steps.get("need")
    if need_step is not None:
        allowed = {o.value for o in need_step.options} | {"default"}
        problems += [f"needs.{need}: not a need of the menu; allowed: {', '.join(sorted(allowed))}"
                     for need in traffic.needs if need not in allowed]
    partners = {p.id for p in hotline.partners}
    problems += [f"advisors.staffed.{pid}: not a partner; allowed: {', '.join(sorted(partners))}"
                 for pid in traffic.advisors.staffed if pid not in partners]
    if problems:
        raise ConfigError(f"{source}: does not fit the hotline:\n" + "\n".join(f"  - {p}" for p in problems))


def parse_traffic(text: str, source: str) -> Traffic:
    """Validate YAML text; ``source`` names the file in error messages."""
    return parse_yaml_model(text, source, Traffic)


def load_traffic(path: Path) -> Traffic:
    return parse_traffic(read_config_text(path), str(path))


def dump_traffic(traffic: Traffic, header: str = "") -> str:
    """YAML text of a traffic model (what ``sim fit`` writes)."""
    data = traffic.model_dump(mode="json")
    data["advisors"]["answer_seconds"] = list(data["advisors"]["answer_seconds"])
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
    prefix = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return prefix + body


def lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of the underlying normal for a lognormal of this mean and cv."""
    sigma2 = math.log(1.0 + cv * cv)
    return math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)


def weekday_name(day: dt.date) -> Weekday:
    return WEEKDAYS[day.weekday()]
