"""One caller's IVR session: drives the pure menu machine over an AGI channel.

Thin glue: the machine decides, this module plays, reads and sets variables;
the router chooses the queue. Nothing the caller sent (caller ID, digits)
is ever placed into an AGI command unescaped: values set here are our own
slugs and numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Protocol

import structlog

from config.models import Hotline
from ivr.hours import state_at
from ivr.machine import Action, Ask, Digits, Event, Finish, Hangup, MenuMachine, Play, Timeout
from ivr.prompts import sound_name
from routing.router import CallerProfile, RoutingDecision, decide

log = structlog.get_logger(__name__)

Clock = Callable[[], dt.datetime]
USER_EVENT = "AiguilleurIvr"


class ChannelHungUp(Exception):
    """The caller is gone; raised by the channel adapter."""


class IvrChannel(Protocol):
    """What the IVR needs from an AGI channel (implemented by the FastAGI adapter)."""

    async def stream_file(self, file: str) -> None: ...

    async def read_digits(self, files: list[str], timeout_ms: int, max_digits: int) -> str | None:
        """Play ``files`` (interruptible) and read digits; None on timeout."""
        ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def user_event(self, name: str, fields: Mapping[str, str]) -> None: ...


def profile_from(finish: Finish, caller_number: str) -> CallerProfile:
    answers = finish.answers
    return CallerProfile(
        caller_number=caller_number,
        need=answers.get("need"),
        sector=answers.get("sector"),
        size=answers.get("size"),
        departement=answers.get("departement"),
        ivr_exit=finish.exit_reason,
    )


def channel_variables(finish: Finish, decision: RoutingDecision | None, hotline: Hotline) -> dict[str, str]:
    """The variables the dialplan reads after the AGI returns."""
    values = {
        "AIGUILLEUR_EXIT": finish.exit_reason,
        "AIGUILLEUR_STEPS": str(finish.steps_taken),
        "AIGUILLEUR_RETRIES": str(finish.retries),
        **{f"AIGUILLEUR_{k.upper()}": v for k, v in finish.answers.items()},
    }
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
    if decision is not None:
        fields.update(Queue=decision.queue, RuleVersion=str(decision.rule_version))
    return fields


async def _perform(channel: IvrChannel, action: Play | Ask) -> Event | None:
    try:
        if isinstance(action, Play):
            await channel.stream_file(sound_name(action.prompt))
            return None
        files = [sound_name(p) for p in action.prompts]
        digits = await channel.read_digits(files, action.timeout_ms, action.max_digits)
    except ChannelHungUp:
        return Hangup()
    return Timeout() if not digits else Digits(digits)


async def run_ivr(channel: IvrChannel, hotline: Hotline, clock: Clock, caller_number: str) -> Finish:
    """Walk the caller through the menu, then set the routing variables for the dialplan."""
    opening = state_at(hotline.hours, clock())
    machine = MenuMachine(hotline.menu, is_open=opening.open)
    pending: list[Action] = machine.start()
    while machine.finished is None or pending:
        if not pending:
            break
        action = pending.pop(0)
        if isinstance(action, Finish):
            continue
        event = await _perform(channel, action)
        if event is not None:
            log.debug("ivr.event", step=getattr(action, "step", None), got=type(event).__name__)
            pending = machine.feed(event)
        if isinstance(event, Hangup):
            break
    finish = machine.finished
    if finish is None:  # pragma: no cover - the machine always finishes; a guard for future edits
        raise RuntimeError("IVR machine stopped without finishing")
    decision = decide(profile_from(finish, caller_number), hotline) if finish.route else None
    log.info(
        "ivr.finished", exit=finish.exit_reason, answers=finish.answers,
        queue=decision.queue if decision else None, hours=opening.reason,
    )
    if finish.exit_reason == "hangup":
        return finish
    try:
        for name, value in channel_variables(finish, decision, hotline).items():
            await channel.set_variable(name, value)
        await channel.user_event(USER_EVENT, ivr_event_fields(finish, decision, opening.reason))
    except ChannelHungUp:
        log.info("ivr.hangup_after_menu")
    return finish
