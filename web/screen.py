"""The advisor's screen pop: who is calling this line, what they chose, their history, the memo. Pure.

Built when a queue call rings or is connected on the advisor's line, from the
live line state, what the CDR correlator knows of the call in progress (the
IVR's answers), the caller's earlier call records and the memo sections that
match the caller's need and sector (a section with no need and no sector
listed matches everyone).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final

from config.models import Menu
from queues.snapshot import LineState

STEP_LABELS: Final = {"need": "Besoin", "sector": "Secteur", "size": "Taille", "departement": "Département"}
IVR_KEYS: Final = {"need": "Need", "sector": "Sector", "size": "Size", "departement": "Departement"}
OUTCOME_LABELS: Final = {
    "answered": "répondu", "abandoned_in_queue": "raccroché en attente", "timeout": "attente trop longue",
    "abandoned_in_ivr": "raccroché dans le menu", "closed": "fermé", "no_input": "sans réponse",
    "invalid": "choix invalides", "lost_by_pbx": "coupé par le serveur",
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


CALLBACK_REASONS: Final = {
    "closed": "demandé en dehors des heures d'ouverture", "long_wait": "attente trop longue",
    "queued": "attente trop longue, rappelé sans perdre sa place dans la file",
    "nobody_logged_in": "aucun conseiller disponible", "followup": "suivi 8 jours après un appel répondu",
    "followup_needs_more_help": "le suivi J+8 a conclu à un besoin d'aide",
}


@dataclass(frozen=True, slots=True)
class CallbackInfo:
    """The line is called for a callback or a J+8 follow-up (an outbound call): what, why, and the
    call it comes from (whose IVR answers the pop shows)."""

    id: str
    kind: str  # callback | followup
    label: str  # "Rappel" | "Suivi J+8"
    reason: str | None
    why: str  # French, for the advisor
    tries: int
    origin: str | None  # the original call's linkedid
    origin_start: str | None  # ISO 8601
    origin_partner: str | None  # who answered the original call (a follow-up)


def callback_info(row: Mapping[str, Any]) -> CallbackInfo:
    """From ``CallbackStore.originals``' row (the callback and its original call's record)."""
    kind = row["kind"] or "callback"
    reason = row["reason"]
    start = row["origin_start"]
    return CallbackInfo(
        id=row["linkedid"], kind=kind, label="Suivi J+8" if kind == "followup" else "Rappel", reason=reason,
        why=CALLBACK_REASONS.get(reason or "", "rappel promis au client"), tries=row["tries"],
        origin=row["origin"], origin_start=start.isoformat() if start is not None else None,
        origin_partner=row["origin_partner"],
    )


def callback_answers(row: Mapping[str, Any]) -> dict[str, str]:
    """The original call's IVR answers, keyed as the correlator keys a live call's (``IVR_KEYS``)."""
    return {key: row[step] for step, key in IVR_KEYS.items() if row[step]}


@dataclass(frozen=True, slots=True)
class WrapupOption:
    """A wrap-up code offered on the pop (the line's partner's ``wrapup_choices``)."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class ScreenPop:
    line: str
    line_status: str
    call_state: str | None  # "ringing" | "connected" | None (no queue call on the line)
    queue: str | None = None
    queue_label: str | None = None  # the queue in words (``web.wallboard.queue_label``)
    number: str = ""
    clid: str = ""
    answers: tuple[Answer, ...] = ()
    earlier_calls: tuple[EarlierCall, ...] = ()
    earlier_outcomes: Mapping[str, int] = field(default_factory=dict)
    memo: tuple[MemoSection, ...] = ()
    caller_uniqueid: str | None = None
    callback: CallbackInfo | None = None  # an outbound call: a callback or a J+8 follow-up
    linkedid: str | None = None  # the call (its record's key): what the wrap-up is saved on
    wrapup_codes: tuple[WrapupOption, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def in_wrapup(pop: ScreenPop, line_status: str) -> ScreenPop:
    """The pop of a call that ended and is not wrapped up yet: kept whole, in state "wrapup"."""
    return replace(pop, call_state="wrapup", line_status=line_status)


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


def _in_words(heard: Mapping[tuple[str, str], str], call: EarlierCall) -> EarlierCall:
    """An earlier call's need and sector as the caller heard them (``heard``: (step, value) -> label)."""
    return replace(call, need=heard.get(("need", call.need or ""), call.need),
                   sector=heard.get(("sector", call.sector or ""), call.sector))


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
    callback: CallbackInfo | None = None,
    callback_ivr: Mapping[str, str] | None = None,
    wrapup_codes: Sequence[WrapupOption] = (),
) -> ScreenPop:
    """``callback``/``callback_ivr``: the line is called for a callback; the answers shown are
    those the caller gave on the original call."""
    state = call_state(line)
    if state is None:
        return ScreenPop(line=line.line, line_status=line.status, call_state=None)
    ivr: Mapping[str, str] = call.ivr if call and call.ivr else (callback_ivr or {})
    heard: dict[tuple[str, str], str] = {(step.id, o.value): o.label for step in menu.steps for o in step.options}
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
        earlier_calls=tuple(_in_words(heard, item) for item in earlier),
        earlier_outcomes=outcomes,
        memo=relevant_memo(memo, ivr.get("Need"), ivr.get("Sector")),
        caller_uniqueid=line.caller_uniqueid,
        callback=callback,
        linkedid=call.linkedid if call else None,
        wrapup_codes=tuple(wrapup_codes),
    )
