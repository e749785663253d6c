"""Live listening on the real PBX (issue 14): a supervisor's softphone is rung into an advisor's call.

The sandbox Asterisk 22 with the generated configuration (the supervisors' softphones sup-01 and
sup-02 are PJSIP endpoints beside the 36 lines), one SIPp UAS answering for every line and softphone
(the lines talk 20 s), a SIPp caller through the IVR to a CMA line, the whole service on its own
PostgreSQL. The desk's ``listen`` makes Asterisk ring sup-01, which answers into ChanSpy on the
advisor's channel; the supervisor's leg ends with the advisor's call and is no hotline record.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.pbx.test_availability_real import (  # noqa: F401  (fixtures)
    Stack,
    availability_hotline,
    call,
    craftsman,
    pbx_and_lines,
    reset_desk,
    stack,
    until,
)

pytestmark = [pytest.mark.pbx, pytest.mark.asyncio(loop_scope="module")]


async def channels(stack: Stack) -> list[dict[str, str]]:  # noqa: F811
    replies = await stack.service.ami.send({"Action": "CoreShowChannels"}, idempotent=True)
    return [r for r in replies if r.get("Event") == "CoreShowChannel"]


def lines_in_calls(stack: Stack) -> dict[str, str]:  # noqa: F811
    return {line: state.status for line, state in stack.service.live.snapshot().lines.items()
            if state.caller_uniqueid or state.status in ("busy", "ringing")}


@pytest.mark.parametrize("mode", ["listen", "barge"])
async def test_a_supervisor_s_softphone_listens_to_an_advisor_s_call(stack: Stack, mode: str) -> None:  # noqa: F811
    try:  # a loaded machine: the previous test's call may still be ending
        await until(lambda: not lines_in_calls(stack), "no line in a call", timeout=120)
    except AssertionError as error:
        raise AssertionError(f"{error}: {lines_in_calls(stack)}") from None
    await reset_desk(stack)
    number = "0320990001" if mode == "listen" else "0320990002"
    caller = asyncio.create_task(call(stack, craftsman(number, hold_after_ms=25_000)))
    talking: list[str] = []

    def a_line_talks() -> bool:
        talking[:] = [line for line, state in stack.service.live.snapshot().lines.items() if state.status == "busy"]
        return bool(talking)

    await until(a_line_talks, "a line answered the caller", timeout=60)
    line = talking[0]
    spied = await stack.service.desk.listen("sup-01", line, mode)
    assert spied.startswith(f"PJSIP/{line}-")

    spy: list[dict[str, str]] = []

    async def wait_spy() -> None:
        deadline = asyncio.get_running_loop().time() + 30  # a loaded machine: the softphone's answer takes a while
        while asyncio.get_running_loop().time() < deadline:
            spy[:] = [c for c in await channels(stack) if c["Channel"].startswith("PJSIP/sup-01-")]
            if spy and spy[0].get("Application") == "ChanSpy":
                return
            await asyncio.sleep(0.1)

    await wait_spy()
    assert spy and spy[0]["Application"] == "ChanSpy", spy
    options = {"listen": "qE", "barge": "qEB"}[mode]
    assert spy[0]["ApplicationData"] == f"{spied},{options}"
    assert spy[0]["ChannelStateDesc"] == "Up"

    await caller  # the caller hangs up after 25 s (the line's 20 s of talk end first)
    for _ in range(300):  # E: the supervisor's leg ends with the advisor's call
        if not any(c["Channel"].startswith("PJSIP/sup-01-") for c in await channels(stack)):
            break
        await asyncio.sleep(0.1)
    assert not any(c["Channel"].startswith("PJSIP/sup-01-") for c in await channels(stack))
    await asyncio.sleep(1.0)
    rows = await stack.service.pool.fetch("SELECT src, outcome, line FROM cdr WHERE src = $1 OR channel LIKE "
                                          "'PJSIP/sup-%' OR dstchannel LIKE 'PJSIP/sup-%'", number)
    assert [(r["src"], r["outcome"], r["line"]) for r in rows] == [(number, "answered", line)]
