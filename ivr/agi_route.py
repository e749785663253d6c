"""The ``ivr`` FastAGI route: binds the menu session to a real AGI channel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping

import structlog

from cdr.asterisk_fields import ANSWERS
from config.models import Hotline
from ivr.agi_codec import AgiHangup
from ivr.fastagi import AgiRequest
from ivr.session import (
    CallbackSink,
    ChannelHungUp,
    Clock,
    Outlook,
    RecentPartner,
    drop_callback,
    no_outlook,
    no_recent_partner,
    run_ivr,
)

log = structlog.get_logger(__name__)

# Any key interrupts an introductory prompt and counts as the first digit of the answer.
ALL_KEYS = "0123456789*#"


class AgiIvrChannel:
    """``IvrChannel`` over our hardened FastAGI request."""

    def __init__(self, request: AgiRequest) -> None:
        self._request = request

    async def stream_file(self, file: str, interruptible: bool = False) -> str | None:
        try:
            return await self._request.stream_file(file, ALL_KEYS if interruptible else "")
        except AgiHangup:
            raise ChannelHungUp from None

    async def read_digits(self, files: list[str], timeout_ms: int, max_digits: int) -> str | None:
        """Play the prompts, any of them interruptible, then read up to ``max_digits`` digits.

        GET DATA plays a single file (no '&' list), so the prompts before the
        question are played with STREAM FILE and a key pressed there starts the answer.
        """
        try:
            for intro in files[:-1]:
                first = await self._request.stream_file(intro, ALL_KEYS)
                if first is not None:
                    return await self._more_digits(first, timeout_ms, max_digits)
            result = await self._request.get_data(files[-1], timeout_ms, max_digits)
        except AgiHangup:
            raise ChannelHungUp from None
        # "200 result=9 (timeout)": digits typed, then the wait for more ran out. Still an answer.
        return result.digits or None

    async def more_digits(self, first: str, timeout_ms: int, max_digits: int) -> str:
        try:
            return await self._more_digits(first, timeout_ms, max_digits)
        except AgiHangup:
            raise ChannelHungUp from None

    async def _more_digits(self, first: str, timeout_ms: int, max_digits: int) -> str:
        digits = first
        while len(digits) < max_digits and digits[-1] != "#":
            response = await self._request.command("WAIT FOR DIGIT", timeout_ms)
            code = int(response.result) if response.result.lstrip("-").isdigit() else 0
            if code <= 0:
                break
            digits += chr(code)
        return digits.rstrip("#")

    async def say_datetime(self, at: dt.datetime, fmt: str, timezone: str, interruptible: bool = False) -> str | None:
        try:
            keys = ALL_KEYS if interruptible else ""
            response = await self._request.command("SAY DATETIME", int(at.timestamp()), keys, fmt, timezone)
        except AgiHangup:
            raise ChannelHungUp from None
        code = int(response.result) if response.result.lstrip("-").isdigit() else 0
        return chr(code) if code > 0 else None

    async def set_variable(self, name: str, value: str) -> None:
        try:
            await self._request.set_variable(name, value)
        except AgiHangup:
            raise ChannelHungUp from None

    async def user_event(self, name: str, fields: Mapping[str, str]) -> None:
        try:
            await self._request.exec_app("UserEvent", name, *(f"{k}: {v}" for k, v in fields.items()))
        except AgiHangup:
            raise ChannelHungUp from None


def resumed_answers(headers: Mapping[str, str]) -> dict[str, str]:
    """The answers the dialplan hands a backup session (``agi_arg_N`` = ``step=value``, read from the
    call's CDR: ``aiguilleur.confgen``), for the menu's steps only. Untrusted text: the machine keeps
    a value only if it is one of the step's options."""
    found: dict[str, str] = {}
    for key, text in headers.items():
        if key.startswith("agi_arg_"):
            step, sep, value = text.partition("=")
            if sep and step in ANSWERS:
                found[step] = value
    return found


def make_route(
    rules: Hotline | Callable[[], Hotline],
    clock: Clock,
    *,
    recent_partner: RecentPartner = no_recent_partner,
    on_callback: CallbackSink = drop_callback,
    outlook: Outlook = no_outlook,
) -> Callable[[AgiRequest], Awaitable[None]]:
    """The coroutine panoramisk calls for each ``agi://.../ivr`` session.

    ``rules``: the hotline, or a function returning the one that runs now (applied rules
    take effect at the next call, never in the middle of one).
    """
    current: Callable[[], Hotline] = (lambda: rules) if isinstance(rules, Hotline) else rules

    async def ivr(request: AgiRequest) -> None:
        # The caller number is untrusted text: used as data only, never in a command.
        caller_number = request.headers.get("agi_callerid", "")
        log.info("ivr.call", caller=caller_number)
        await run_ivr(
            AgiIvrChannel(request), current(), clock, caller_number,
            linkedid=request.linkedid or request.uniqueid or "",
            recent_partner=recent_partner, on_callback=on_callback, outlook=outlook,
            resumed=resumed_answers(request.headers),
        )

    return ivr
