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
    queued_callback_offer: str = Field(
        "L'attente risque d'être longue. Pour être rappelé sans perdre votre place, tapez 1. "
        "Pour patienter, restez en ligne.",
        description="said when the expected wait exceeds queues.callback_offer_seconds: 1 keeps the caller's place",
    )
    queued_callback_recorded: str = Field(
        "C'est noté, vous gardez votre place dans la file. Vous pouvez raccrocher : "
        "un conseiller vous rappellera quand votre tour viendra.",
        description="said when the caller took the queued callback, before the call ends",
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


class OfficeHours(Strict):
    """One weekly stretch of appointment slots at an office (``slot_minutes`` each, from ``start``)."""

    weekday: Weekday
    start: dt.time
    end: dt.time
    slot_minutes: int = Field(45, ge=10, le=240, description="length of one appointment")

    @model_validator(mode="after")
    def _fits_one_slot(self) -> OfficeHours:
        minutes = (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)
        if minutes < self.slot_minutes:
            raise ValueError(
                f"{self.weekday} {self.start:%H:%M}-{self.end:%H:%M} is shorter than one slot ({self.slot_minutes} min)"
            )
        return self


class Office(Strict):
    """A partner's office where a caller can be received (appointments, ``appointments.offices``)."""

    id: Slug
    name: str = Field(min_length=1)
    address: str = Field(min_length=1, description="street and number, as printed on the invitation")
    commune: str = Field(min_length=1)
    postcode: Annotated[str, StringConstraints(pattern=r"^[0-9]{5}$")]
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    slots: list[OfficeHours] = Field(min_length=1, description="weekly appointment hours")


class WrapupCode(Strict):
    """A wrap-up code the advisor picks at the end of a call, saved on its record (``cdr.wrapup_code``)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    label: str = Field(min_length=1, max_length=80)


DEFAULT_WRAPUP_CODES: tuple[WrapupCode, ...] = (
    WrapupCode(id="information", label="Information donnée"),
    WrapupCode(id="orientation", label="Orienté vers un dispositif"),
    WrapupCode(id="a_rappeler", label="À rappeler"),
    WrapupCode(id="hors_champ", label="Hors champ"),
)


class Partner(Strict):
    id: PartnerId
    name: str = Field(min_length=1)
    lines: int = Field(ge=1, le=99, description="number of softphone lines (advisors)")
    skills: dict[str, SkillLevel] = {}
    wrapup_seconds: int = Field(10, ge=0, le=600)
    wrapup_codes: list[WrapupCode] = Field(
        default_factory=list, max_length=30,
        description="wrap-up codes offered to this partner's advisors; none: DEFAULT_WRAPUP_CODES",
    )
    spoken_name: str | None = Field(None, description="how the IVR says the partner's name; defaults to name")
    offices: list[Office] = Field(default_factory=list, description="where callers get appointments")
    brochure: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_./-]+\.pdf$",
        description="PDF sent to callers, relative to the repository root (e.g. docs/brochures/cci.pdf)",
    )

    def line_ids(self) -> list[str]:
        return [f"{self.id}-{n:02d}" for n in range(1, self.lines + 1)]

    def wrapup_choices(self) -> tuple[WrapupCode, ...]:
        return tuple(self.wrapup_codes) or DEFAULT_WRAPUP_CODES

    @model_validator(mode="after")
    def _unique_wrapup_codes(self) -> Partner:
        seen = [c.id for c in self.wrapup_codes]
        twice = sorted({c for c in seen if seen.count(c) > 1})
        if twice:
            raise ValueError(f"wrapup_codes: each id once (twice: {', '.join(twice)})")
        return self


class EscalationStep(Strict):
    """After ``after_seconds`` of waiting, lines up to ``max_penalty`` tiers past the caller's best
    available tier may be rung (0: the best tier only). Relative, so a caller who starts at the
    next tier because the best one is away keeps the same widening (``penaltychange => N,+k``)."""

    after_seconds: int = Field(ge=0, le=3600)
    max_penalty: int = Field(ge=0, le=9)


Dimension = Literal["need", "sector", "size", "departement"]
_DIMENSIONS: tuple[Dimension, ...] = ("need", "sector", "size", "departement")


class RoutingPolicy(Strict):
    """How a caller's whole profile ranks the partners (``routing.ranking``).

    A partner's score is the sum, over the caller's answers, of ``weights[dimension]`` times
    its skill level for that answer; partners are then grouped in tiers by score (equal
    scores share a tier), best first, and everyone past ``tiers - 1`` shares the last tier.
    """

    weights: dict[Dimension, Annotated[int, Field(ge=0, le=10)]] = Field(
        default_factory=lambda: dict.fromkeys(_DIMENSIONS, 1),
        description="how much each answer counts in a partner's score; 0 ignores that question",
    )
    tiers: int = Field(
        3, ge=1, le=9,
        description="tiers a caller's queue tells apart (1: one pool; 3: best, second, everyone else); "
        "each extra tier adds queues (aiguilleur route matrix prints how many)",
    )


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
    supervisor_lines: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")]] = Field(
        default_factory=lambda: ["sup-01", "sup-02"],
        description="the supervisors' softphone lines: they listen to, whisper to or join an advisor's call "
        "(ChanSpy); never queue members",
    )


class CallbackPolicy(Strict):
    """How promised callbacks are placed (``queues.callback``): advisor first, then the caller.

    A try offers the callback to the caller's ranking queue (an advisor answers first), then
    dials the caller through the operator trunk. A caller who does not answer (no answer,
    busy, unreachable) is tried again ``spacing_seconds`` later, at most ``max_tries`` times,
    and only while the line is open; then the callback is ``failed`` with the reason.
    """

    enabled: bool = Field(True, description="false: requests are stored, nobody is called back")
    max_tries: int = Field(3, ge=1, le=10, description="calls to the caller before the callback is failed")
    spacing_seconds: int = Field(900, ge=1, le=86400, description="wait between two tries")
    caller_ring_seconds: int = Field(30, ge=5, le=120, description="how long the caller's phone rings")
    advisor_wait_seconds: int = Field(
        300, ge=10, le=3600, description="how long a try waits in the queue for an advisor; then retried later"
    )
    claim_timeout_seconds: int = Field(
        120, ge=2, le=3600,
        description="a try claimed by a service that stopped refreshing it this long is taken over",
    )
    poll_seconds: float = Field(2.0, gt=0, le=60, description="how often due callbacks are looked for")


FollowupOutcome = Literal["reached", "satisfied", "needs_more_help", "wrong_number", "refused"]
FOLLOWUP_OUTCOMES: tuple[FollowupOutcome, ...] = ("reached", "satisfied", "needs_more_help", "wrong_number", "refused")


class FollowupPolicy(Strict):
    """The J+8 follow-up (``queues.followup``): some days after an answered inbound call, an
    advisor calls the caller back to check they got what they needed, and records an outcome.

    Placed by the callback dialer (advisor first, the same tries and spacing as
    ``callbacks``), only within ``hours`` on days the line is open, offered to the queue of
    the partner that answered the call (``caller: same_partner``) or of a dedicated team
    (``caller: team``, ``team``: a partner id).
    """

    enabled: bool = Field(False, description="true: every answered inbound call gets a follow-up")
    interval_days: int = Field(8, ge=1, le=90, description="days after the answered call")
    day_kind: Literal["working", "calendar"] = Field(
        "working", description="working: days the line is open (no weekend, holiday, closure); calendar: every day"
    )
    hours: list[TimeRange] = Field(
        default_factory=lambda: [TimeRange(open=dt.time(10), close=dt.time(12)),
                                 TimeRange(open=dt.time(14), close=dt.time(17))],
        min_length=1, description="when follow-ups may be placed, within the line's opening hours",
    )
    caller: Literal["same_partner", "team"] = Field(
        "same_partner", description="who calls: the partner that answered, or the team below"
    )
    team: str | None = Field(None, description="the partner id of the follow-up team (caller: team)")
    lookback_days: int = Field(
        30, ge=1, le=365, description="answered calls older than this get no follow-up (first enable, outages)"
    )

    @model_validator(mode="after")
    def _team_when_team(self) -> FollowupPolicy:
        if self.caller == "team" and not self.team:
            raise ValueError("followups.caller is 'team': set followups.team to the partner id of the team")
        if self.caller == "same_partner" and self.team:
            raise ValueError(f"followups.team ({self.team!r}) is only used with caller: team")
        if self.lookback_days < self.interval_days:
            raise ValueError(f"followups.lookback_days ({self.lookback_days}) must be >= interval_days "
                             f"({self.interval_days})")
        return self


class WallboardThresholds(Strict):
    """When a wallboard figure turns amber (warn) or red (alarm), for a wall screen read across a room.

    The service level and the lines free alarm when they fall *below* their limit (lines free:
    at or below, ``0`` = no line free); the longest wait and the callers waiting when they rise
    *above* theirs. An alarm is also said aloud by screen readers (``aria-live``).
    """

    service_level_warn: float = Field(0.8, gt=0, le=1, description="warn below this share (0.8 = 80 %)")
    service_level_alarm: float = Field(0.6, ge=0, le=1, description="alarm below this share")
    longest_wait_warn_seconds: int = Field(60, ge=0, le=7200, description="warn when a caller waited longer")
    longest_wait_alarm_seconds: int = Field(120, ge=0, le=7200, description="alarm when a caller waited longer")
    callers_waiting_warn: int = Field(5, ge=0, le=10000, description="warn with more callers waiting")
    callers_waiting_alarm: int = Field(15, ge=0, le=10000, description="alarm with more callers waiting")
    lines_free_warn: int = Field(3, ge=0, le=1000, description="warn with fewer lines free")
    lines_free_alarm: int = Field(0, ge=0, le=1000, description="alarm with this many lines free or fewer")

    @model_validator(mode="after")
    def _alarm_beyond_warn(self) -> WallboardThresholds:
        # An alarm limit on the near side of its warning would never show the amber step.
        if self.service_level_alarm > self.service_level_warn:
            raise ValueError("wallboard.service_level_alarm must be <= service_level_warn")
        if self.longest_wait_alarm_seconds < self.longest_wait_warn_seconds:
            raise ValueError("wallboard.longest_wait_alarm_seconds must be >= longest_wait_warn_seconds")
        if self.callers_waiting_alarm < self.callers_waiting_warn:
            raise ValueError("wallboard.callers_waiting_alarm must be >= callers_waiting_warn")
        if self.lines_free_alarm >= self.lines_free_warn:
            raise ValueError("wallboard.lines_free_alarm must be < lines_free_warn")
        return self


class Hotline(Strict):
    """The whole hotline: what an admin edits, validated as one piece."""

    version: int = Field(ge=1, description="rule version, bumped at every applied change")
    name: str
    number: Annotated[str, StringConstraints(pattern=r"^[0-9]{3,15}$")]
    hours: OpeningHours
    menu: Menu
    partners: list[Partner] = Field(min_length=1)
    queues: QueuePolicy
    routing: RoutingPolicy = RoutingPolicy()
    advisors: AdvisorPolicy = AdvisorPolicy()
    callbacks: CallbackPolicy = CallbackPolicy()
    followups: FollowupPolicy = FollowupPolicy()
    wallboard: WallboardThresholds = WallboardThresholds()

    @model_validator(mode="after")
    def _supervisor_lines_are_not_partner_lines(self) -> Hotline:
        taken = {line for line, _ in self.lines()} & set(self.advisors.supervisor_lines)
        if taken:
            raise ValueError(f"advisors.supervisor_lines: {sorted(taken)} are partner lines already")
        return self

    @model_validator(mode="after")
    def _followup_team_exists(self) -> Hotline:
        team = self.followups.team
        if team is not None and team not in [p.id for p in self.partners]:
            raise ValueError(f"followups.team: no partner {team!r}; partners: {[p.id for p in self.partners]}")
        return self

    @model_validator(mode="after")
    def _skills_exist(self) -> Hotline:
        known = self.menu.skill_keys()
        ids = [p.id for p in self.partners]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two partners share an id: {ids}")
        office_ids = [o.id for p in self.partners for o in p.offices]
        if len(set(office_ids)) != len(office_ids):
            twice = sorted({i for i in office_ids if office_ids.count(i) > 1})
            raise ValueError(f"partners[].offices: office ids must be unique across partners; twice: {twice}")
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

    def partner(self, partner_id: str) -> Partner | None:
        return next((p for p in self.partners if p.id == partner_id), None)

    def partner_of(self, line_id: str) -> Partner | None:
        partner_id = re.sub(r"-\d+$", "", line_id)
        return next((p for p in self.partners if p.id == partner_id), None)
