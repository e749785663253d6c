"""The advisor's screen pop: who is calling this line, what they chose, their history, the memo. Pure.

Built when a queue call rings or is connected on the advisor's line, from the
live line state, what the CDR correlator knows of the call in progress (the
IVR's answers), the caller's earlier call records and the memo sections that
match the caller's need and sector (a section with no need and no sector
listed matches everyone).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from config.models import Menu
from queues.state import LineState

STEP_LABELS: Final = {"need": "Besoin", "sector": "Secteur", "size": "Taille", "departement": "Département"}
IVR_KEYS: Final = {"need": "Need", "sector": "Sector", "size": "Size", "departement": "Departement"}
OUTCOME_LABELS: Final = {
    "answered": "répondu", "abandoned_in_queue": "raccroché en attente", "timeout": "attente trop longue",
    "abandoned_in_ivr": "raccroché dans le menu", "closed": "fermé", "no_input": "sans réponse",
    "invalid": "choix invalides",
}


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What the service knows of a call in progress (from the CDR correlator)."""

    uniqueid: str
    linkedid: str
    number: str
    clid: str  # '"Name" <number>' as Asterisk's CDR writes it: untrusted text
    ivr: Mapping[str, str]
    queue: str | None


@dataclass(frozen=True, slots=True)
class EarlierCall:
    start: str  # ISO 8601
    outcome: str
    partner: str | None
    line: str | None
    need: str | None
    sector: str | None
    talk_seconds: int | None


@dataclass(frozen=True, slots=True)
class MemoSection:
    id: int
    title: str
    body: str
    needs: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    updated_by: str = ""
    updated_at: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    step: str
    label: str
    value: str
    value_label: str


@dataclass(frozen=True, slots=True)
class ScreenPop:
    line: str
    line_status: str
    call_state: str | None  # "ringing" | "connected" | None (no queue call on the line)
    queue: str | None = None
    number: str = ""
    clid: str = ""
    answers: tuple[Answer, ...] = ()
    earlier_calls: tuple[EarlierCall, ...] = ()
    earlier_outcomes: Mapping[str, int] = field(default_factory=dict)
    memo: tuple[MemoSection, ...] = ()
    caller_uniqueid: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def call_state(line: LineState) -> str | None:
    if line.caller_uniqueid is None:
        return None
    if line.status == "ringing":
        return "ringing"
    if line.status == "busy":
        return "connected"
    return None


def answers(menu: Menu, ivr: Mapping[str, str]) -> tuple[Answer, ...]:
    """The caller's IVR answers in menu order, with the French labels the caller heard."""
    found: list[Answer] = []
    for step in menu.steps:
        value = ivr.get(IVR_KEYS.get(step.id, ""), "")
        if not value:
            continue
        label = next((o.label for o in step.options if o.value == value), value)
        found.append(Answer(step.id, STEP_LABELS.get(step.id, step.id), value, label))
    return tuple(found)


def relevant_memo(sections: Sequence[MemoSection], need: str | None, sector: str | None) -> tuple[MemoSection, ...]:
    return tuple(
        s for s in sections
        if (not s.needs or (need is not None and need in s.needs))
        and (not s.sectors or (sector is not None and sector in s.sectors))
    )


def build(
    line: LineState,
    call: CallInfo | None,
    earlier: Sequence[EarlierCall],
    memo: Sequence[MemoSection],
    menu: Menu,
) -> ScreenPop:
    state = call_state(line)
    if state is None:
        return ScreenPop(line=line.line, line_status=line.status, call_state=None)
    ivr: Mapping[str, str] = call.ivr if call else {}
    outcomes: dict[str, int] = {}
    for item in earlier:
        outcomes[item.outcome] = outcomes.get(item.outcome, 0) + 1
    return ScreenPop(
        line=line.line,
        line_status=line.status,
        call_state=state,
        queue=line.call_queue,
        number=call.number if call else "",
        clid=call.clid if call else "",
        answers=answers(menu, ivr),
        earlier_calls=tuple(earlier),
        earlier_outcomes=outcomes,
        memo=relevant_memo(memo, ivr.get("Need"), ivr.get("Sector")),
        caller_uniqueid=line.caller_uniqueid,
    )
