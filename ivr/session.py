"""One caller's IVR session: drives the pure menu machine over an AGI channel.

Thin glue: the machine decides, this module plays, reads and sets variables;
the router chooses the queue. Nothing the caller sent (caller ID, digits)
is ever placed into an AGI command unescaped: values set here are our own
slugs and numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol
from zoneinfo import ZoneInfo

import structlog

from config.models import Hotline
from ivr.hours import state_at
from ivr.machine import Action, Ask, Digits, Event, Finish, Hangup, MenuMachine, Play, SayDateTime, Timeout
from ivr.prompts import say_datetime_format, sound_name
from routing.router import CallerProfile, QueueOutlook, RoutingDecision, choose_queue, decide

log = structlog.get_logger(__name__)

Clock = Callable[[], dt.datetime]
USER_EVENT = "AiguilleurIvr"


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
    """A caller who asked, while the line was closed, to be called back."""

    linkedid: str
    caller_number: str
    requested_at: dt.datetime
    next_opening: dt.datetime | None


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


def channel_variables(finish: Finish, decision: RoutingDecision | None, hotline: Hotline) -> dict[str, str]:
    """The variables the dialplan reads after the AGI returns."""
    values = {
        "AIGUILLEUR_EXIT": finish.exit_reason,
        "AIGUILLEUR_STEPS": str(finish.steps_taken),
        "AIGUILLEUR_RETRIES": str(finish.retries),
        **{f"AIGUILLEUR_{k.upper()}": v for k, v in finish.answers.items()},
    }
    if finish.partner is not None:
        values["AIGUILLEUR_PARTNER"] = finish.partner
    if finish.callback:
        values["AIGUILLEUR_CALLBACK"] = "1"
    if decision is None:
        values["AIGUILLEUR_ACTION"] = "hangup"
        return values
    values.update(
        AIGUILLEUR_QUEUE=decision.queue,
        AIGUILLEUR_PRIORITY=str(decision.priority),
        AIGUILLEUR_MAX_PENALTY=str(hotline.queues.escalation[0].max_penalty),
        AIGUILLEUR_RULE=decision.queue_rule,
        AIGUILLEUR_TIMEOUT=str(decision.max_wait_seconds),
        AIGUILLEUR_RULE_VERSION=str(decision.rule_version),
        # Set last: the dialplan queues the call only when this is present.
        AIGUILLEUR_ACTION="queue",
    )
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
) -> Finish:
    """Walk the caller through the menu, then set the routing variables for the dialplan."""
    now = clock()
    opening = state_at(hotline.hours, now)
    partner = await recent_partner(caller_number) if opening.open and hotline.menu.repeat_days else None
    machine = MenuMachine(
        hotline.menu, is_open=opening.open, next_opening=opening.next_opening, repeat_partner=partner
    )
    pending: list[Action] = machine.start()
    while machine.finished is None or pending:
        if not pending:
            break
        action = pending.pop(0)
        if isinstance(action, Finish):
            continue
        next_ask = next((a for a in pending if isinstance(a, Ask)), None)
        event = await _perform(channel, action, next_ask, hotline.hours.timezone)
        if event is not None:
            log.debug("ivr.event", step=getattr(action, "step", None), got=type(event).__name__)
            pending = machine.feed(event)
        if isinstance(event, Hangup):
            break
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
    if decision is not None and decision.action != "queue":
        finish, decision = await _offer_callback(channel, hotline, finish, decision)
    if finish.callback:
        await on_callback(CallbackRequest(linkedid, caller_number, now, opening.next_opening))
    if finish.exit_reason == "hangup":
        return finish
    try:
        for name, value in channel_variables(finish, decision, hotline).items():
            await channel.set_variable(name, value)
        await channel.user_event(USER_EVENT, ivr_event_fields(finish, decision, opening.reason))
    except ChannelHungUp:
        log.info("ivr.hangup_after_menu")
    return finish


async def _offer_callback(
    channel: IvrChannel, hotline: Hotline, finish: Finish, decision: RoutingDecision
) -> tuple[Finish, RoutingDecision | None]:
    """Long expected wait or nobody logged in: offer a callback; 1 takes it, else the caller queues."""
    timeout_ms = int(hotline.menu.timeout_seconds * 1000)
    files = [sound_name("long_wait_offer")]
    if decision.action == "nobody_logged_in":
        files.insert(0, sound_name("nobody_available"))
    try:
        digits = await channel.read_digits(files, timeout_ms, 1)
        if digits != "1":
            log.info("ivr.callback_declined", action=decision.action)
            return finish, decision
        await channel.stream_file(sound_name("callback_recorded"))
    except ChannelHungUp:
        return replace(finish, exit_reason="hangup"), None
    log.info("ivr.callback_accepted", action=decision.action, expected_wait=decision.expected_wait_seconds)
    return replace(finish, callback=True, route=False), None
