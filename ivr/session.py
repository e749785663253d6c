"""One caller's IVR session: drives the pure menu machine over an AGI channel.

Thin glue: the machine decides, this module plays, reads and sets variables;
the router chooses the queue. Nothing the caller sent (caller ID, digits)
is ever placed into an AGI command unescaped: values set here are our own
slugs and numbers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo

import structlog

from cdr.asterisk_fields import ANSWERS, cdr_variable
from cdr.vocabulary import IVR_USER_EVENT, CallVar, answer_var
from config.models import Hotline
from ivr.hours import state_at
from ivr.machine import (
    QUEUED_CALLBACK_STEP,
    Action,
    Ask,
    Digits,
    Event,
    Finish,
    Hangup,
    MenuMachine,
    Play,
    Routed,
    SayDateTime,
    Timeout,
)
from ivr.prompts import say_datetime_format, sound_name
from queues.callback import QUEUED
from routing.router import CallerProfile, QueueOutlook, RoutingDecision, choose_queue, decide

log = structlog.get_logger(__name__)

Clock = Callable[[], dt.datetime]


class ChannelHungUp(Exception):
    """The caller is gone; raised by the channel adapter."""


class IvrChannel(Protocol):
    """What the IVR needs from an AGI channel (implemented by the FastAGI adapter)."""

    async def stream_file(self, file: str, interruptible: bool = False) -> str | None:
        """Play ``file``; with ``interruptible``, return the key that stopped it."""
        ...

    async def read_digits(self, files: list[str], timeout_ms: int, max_digits: int) -> str | None:
        """Play ``files`` (interruptible) and read digits; None on timeout."""
        ...

    async def more_digits(self, first: str, timeout_ms: int, max_digits: int) -> str:
        """Complete an answer whose first key stopped a prompt."""
        ...

    async def say_datetime(self, at: dt.datetime, fmt: str, timezone: str, interruptible: bool = False) -> str | None:
        ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def user_event(self, name: str, fields: Mapping[str, str]) -> None: ...


@dataclass(frozen=True)
class CallbackRequest:
    """A caller who asked to be called back (line closed, or a long expected wait).

    ``answers``: what they answered in the menu, so the callback is routed like their call;
    ``reason``: ``closed``, ``queued`` (long wait: the caller keeps their place) or
    ``nobody_logged_in``. A queued request carries its ``place``.
    """

    linkedid: str
    caller_number: str
    requested_at: dt.datetime
    next_opening: dt.datetime | None
    answers: Mapping[str, str] = field(default_factory=dict)
    reason: str = "closed"
    place: QueuePlace | None = None


@dataclass(frozen=True)
class QueuePlace:
    """Where a caller who took the queued callback would be waiting: the queue, their priority and
    starting tier (``QUEUE_MAX_PENALTY``), and the callers (uniqueids) ahead of them when they accepted."""

    queue: str
    priority: int
    max_penalty: int
    ahead: tuple[str, ...] = ()

    @property
    def position(self) -> int:
        """Their position in the queue when they accepted (1 = next served)."""
        return len(self.ahead) + 1


RecentPartner = Callable[[str], Awaitable[str | None]]
CallbackSink = Callable[[CallbackRequest], Awaitable[None]]
Outlook = Callable[[str], QueueOutlook | None]  # queue -> what the live state says about it


def no_outlook(queue: str) -> QueueOutlook | None:
    return None


async def no_recent_partner(caller_number: str) -> str | None:
    return None


async def drop_callback(request: CallbackRequest) -> None:
    log.warning("ivr.callback_not_stored", caller=request.caller_number)


def profile_from(finish: Finish, caller_number: str) -> CallerProfile:
    answers = finish.answers
    return CallerProfile(
        caller_number=caller_number,
        need=answers.get("need"),
        sector=answers.get("sector"),
        size=answers.get("size"),
        departement=answers.get("departement"),
        ivr_exit=finish.exit_reason,
        partner=finish.partner,
    )


async def _record_answers(channel: IvrChannel, known: Mapping[str, str], answers: Mapping[str, str]) -> bool:
    """Put each new answer into Asterisk's own CDR at once (recovery reads it if we die); False: hung up."""
    hung_up = False
    for step, value in answers.items():
        if step in ANSWERS and known.get(step) != value:
            try:
                await channel.set_variable(f"CDR({cdr_variable(step)})", value)
            except ChannelHungUp:  # reported by this command, not carried out: a dead channel takes it
                hung_up = True
                with contextlib.suppress(ChannelHungUp):
                    await channel.set_variable(f"CDR({cdr_variable(step)})", value)
    return not hung_up


def channel_variables(
    finish: Finish, decision: RoutingDecision | None, hotline: Hotline, hours: str = ""
) -> dict[str, str]:
    """The variables the dialplan reads after the AGI returns (and copies into the CDR)."""
    values: dict[str, str] = {
        CallVar.EXIT: finish.exit_reason,
        CallVar.HOURS: hours,
        CallVar.STEPS: str(finish.steps_taken),
        CallVar.RETRIES: str(finish.retries),
        **{answer_var(k): v for k, v in finish.answers.items()},
    }
    if finish.partner is not None:
        values[CallVar.PARTNER] = finish.partner
    if finish.callback:
        values[CallVar.CALLBACK] = "1"
    if decision is None:
        values[CallVar.ACTION] = "hangup"
        return values
    values.update({
        CallVar.QUEUE: decision.queue,
        CallVar.PRIORITY: str(decision.priority),
        CallVar.MAX_PENALTY: str(decision.max_penalty),
        CallVar.RULE: decision.queue_rule,
        CallVar.TIMEOUT: str(decision.max_wait_seconds),
        CallVar.RULE_VERSION: str(decision.rule_version),
        # Set last: the dialplan queues the call only when this is present.
        CallVar.ACTION: "queue",
    })
    return values


def ivr_event_fields(finish: Finish, decision: RoutingDecision | None, open_reason: str) -> dict[str, str]:
    """The UserEvent the AMI follower correlates into the call record."""
    fields = {
        "Exit": finish.exit_reason,
        "Steps": str(finish.steps_taken),
        "Retries": str(finish.retries),
        "Hours": open_reason,
        **{k.capitalize(): v for k, v in finish.answers.items()},
    }
    if finish.partner is not None:
        fields["Partner"] = finish.partner
    if finish.callback:
        fields["Callback"] = "1"
    if decision is not None:
        fields.update(Queue=decision.queue, RuleVersion=str(decision.rule_version))
    return fields


async def _perform(
    channel: IvrChannel, action: Play | SayDateTime | Ask, next_ask: Ask | None, timezone: str
) -> Event | None:
    """Carry out one action; a key pressed during a message that leads to a question answers it."""
    try:
        key: str | None = None
        if isinstance(action, Play):
            key = await channel.stream_file(sound_name(action.prompt), interruptible=next_ask is not None)
        elif isinstance(action, SayDateTime):
            local = action.at.astimezone(ZoneInfo(timezone))
            key = await channel.say_datetime(action.at, say_datetime_format(local), timezone,
                                             interruptible=next_ask is not None)
        else:
            files = [sound_name(p) for p in action.prompts]
            digits = await channel.read_digits(files, action.timeout_ms, action.max_digits)
            return Timeout() if not digits else Digits(digits)
        if key is None or next_ask is None:
            return None
        return Digits(await channel.more_digits(key, next_ask.timeout_ms, next_ask.max_digits))
    except ChannelHungUp:
        return Hangup()


async def _drive(
    channel: IvrChannel, machine: MenuMachine, pending: list[Action], timezone: str,
    on_accept: Callable[[], None] | None = None,
) -> None:
    """Carry out the machine's actions, feeding it what the caller does, until it has no more.

    ``on_accept``: called as soon as the machine records that the caller took a callback."""
    pending = list(pending)
    while pending:
        action = pending.pop(0)
        if isinstance(action, Finish):
            continue
        next_ask = next((a for a in pending if isinstance(a, Ask)), None)
        event = await _perform(channel, action, next_ask, timezone)
        if event is not None:
            log.debug("ivr.event", step=getattr(action, "step", None), got=type(event).__name__)
            known = dict(machine.answers)
            pending = machine.feed(event)
            if not await _record_answers(channel, known, machine.answers):
                event = Hangup()
                pending = machine.feed(event)
            if on_accept is not None and machine.finished is not None and machine.finished.callback:
                on_accept()
                on_accept = None
        if isinstance(event, Hangup):
            break


async def run_ivr(
    channel: IvrChannel,
    hotline: Hotline,
    clock: Clock,
    caller_number: str,
    *,
    linkedid: str = "",
    recent_partner: RecentPartner = no_recent_partner,
    on_callback: CallbackSink = drop_callback,
    outlook: Outlook = no_outlook,
    resumed: Mapping[str, str] | None = None,
) -> Finish:
    """Walk the caller through the menu, then set the routing variables for the dialplan.

    ``resumed``: the answers a previous session of this call recorded (its service instance
    died in the middle): the menu goes on from there."""
    now = clock()
    opening = state_at(hotline.hours, now)
    resumed = {k: v for k, v in (resumed or {}).items() if v}
    if resumed:
        log.info("ivr.resumed", answers=resumed)
    repeat = opening.open and hotline.menu.repeat_days and not resumed
    partner = await recent_partner(caller_number) if repeat else None
    machine = MenuMachine(
        hotline.menu, is_open=opening.open, next_opening=opening.next_opening, repeat_partner=partner,
        resumed=resumed,
    )
    await _drive(channel, machine, machine.start(), hotline.hours.timezone)
    finish = machine.finished
    if finish is None:  # pragma: no cover - the machine always finishes; a guard for future edits
        raise RuntimeError("IVR machine stopped without finishing")
    decision = None
    if finish.route:
        profile = profile_from(finish, caller_number)
        decision = decide(profile, hotline, outlook(choose_queue(profile, hotline)))
    log.info(
        "ivr.finished", exit=finish.exit_reason, answers=finish.answers,
        queue=decision.queue if decision else None, hours=opening.reason,
        action=decision.action if decision else None,
    )
    reason = "closed" if not opening.open else "advisor"
    place: QueuePlace | None = None
    if decision is not None:
        routed = decision

        def keep_place() -> None:
            # The callers ahead are read the moment the caller accepts: their place is behind them.
            nonlocal place
            queue_now = outlook(routed.queue)
            place = QueuePlace(routed.queue, routed.priority, routed.max_penalty,
                               queue_now.waiting if queue_now is not None else ())

        offer = machine.feed(Routed(decision.action))
        offered = machine.offered_callback
        await _drive(channel, machine, offer, hotline.hours.timezone,
                     on_accept=keep_place if offered == QUEUED_CALLBACK_STEP else None)
        finish = machine.finished or finish
        if offered is not None:
            reason = QUEUED if offered == QUEUED_CALLBACK_STEP else decision.action
            log.info("ivr.callback_accepted" if finish.callback else "ivr.callback_declined",
                     action=decision.action, expected_wait=decision.expected_wait_seconds,
                     position=place.position if place is not None else None)
        if not finish.route:
            decision = None
    if finish.callback:
        await on_callback(CallbackRequest(linkedid, caller_number, now, opening.next_opening,
                                          dict(finish.answers), reason, place))
    # Even for a caller who hung up: a dead channel still takes SET VARIABLE and EXEC, so the
    # record (live, and Asterisk's own through the dialplan's h extension) keeps what they said.
    # The first command after a hang-up only reports it: try once more.
    for _ in range(2):
        try:
            for name, value in channel_variables(finish, decision, hotline, opening.reason).items():
                await channel.set_variable(name, value)
            await channel.user_event(IVR_USER_EVENT, ivr_event_fields(finish, decision, opening.reason))
            break
        except ChannelHungUp:
            log.info("ivr.hangup_after_menu")
    return finish
