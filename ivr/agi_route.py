"""The ``ivr`` FastAGI route: binds the menu session to a real AGI channel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import structlog

from config.models import Hotline
from ivr.fastagi import AgiHangup, AgiRequest
from ivr.session import ChannelHungUp, Clock, run_ivr

log = structlog.get_logger(__name__)

# Asterisk's getdata plays a prompt list joined with '&' before reading digits.
PROMPT_SEPARATOR = "&"


class AgiIvrChannel:
    """``IvrChannel`` over our hardened FastAGI request."""

    def __init__(self, request: AgiRequest) -> None:
        self._request = request

    async def stream_file(self, file: str) -> None:
        try:
            await self._request.stream_file(file)
        except AgiHangup:
            raise ChannelHungUp from None

    async def read_digits(self, files: list[str], timeout_ms: int, max_digits: int) -> str | None:
        try:
            result = await self._request.get_data(PROMPT_SEPARATOR.join(files), timeout_ms, max_digits)
        except AgiHangup:
            raise ChannelHungUp from None
        return None if result.timed_out or not result.digits else result.digits

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


def make_route(hotline: Hotline, clock: Clock) -> Callable[[AgiRequest], Awaitable[None]]:
    """The coroutine panoramisk calls for each ``agi://.../ivr`` session."""

    async def ivr(request: AgiRequest) -> None:
        # The caller number is untrusted text: used as data only, never in a command.
        caller_number = request.headers.get("agi_callerid", "")
        log.info("ivr.call", caller=caller_number)
        await run_ivr(AgiIvrChannel(request), hotline, clock, caller_number)

    return ivr
