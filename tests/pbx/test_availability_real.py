"""Availability for callers, new and already waiting, on the real PBX (issue #11).

Real peers only: the sandbox Asterisk 22, SIPp callers typing their answers by DTMF, one SIPp
UAS answering for the 36 lines, the whole service on its own PostgreSQL database. The hotline
is the default one, with its real escalation (the pool widens by one tier after 30 s, to
everyone after 90 s); only the wrap-up is cut to 1 s so lines are free again between tests,
and the lines talk 20 s so a line can be kept busy.

A craftsman in difficulty (2 difficulty, 2 crafts, 2 1-9 staff, 59 Nord) ranks CMA first, CCI
second, everyone else third: queue ``rank-cma-cci``, CMA lines at penalty 0, CCI at 1.

- With every CMA line paused, the service re-bases the queue (CCI at 0, the others at 1); a
  craftsman who calls then starts at 0 (no double shift) and a CCI line is offered the call at
  once, not after the 30 s step.
- A craftsman already waiting for the one CMA line present (busy) when that line pauses too:
  a CCI line is offered the call within seconds, before the 30 s step, the caller never left
  the queue; when CMA is back, every queue has the config's tiers again (QueueStatus).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from config.models import Hotline
from config.settings import Settings
from queues.advisors import read_members
from queues.ami import AmiClient
from routing.router import CallerProfile, choose_queue, member_penalties
from routing.rules import all_memberships
from sandbox.sipp import AgentsUas, CallScript, SippResult, run_calls
from tests.fixtures.ami.record_agent_traces import OPEN_INSTANT
from tests.pbx.real_stack import RunningStack, running_pbx, running_service, sandbox_settings

pytestmark = [pytest.mark.pbx, pytest.mark.asyncio(loop_scope="module")]

CRAFTSMAN = ["2", "2", "2", "59"]  # difficulty, crafts, 1-9 staff, Nord
CRAFTSMAN_PROFILE = CallerProfile("", need="difficulty", sector="crafts", size="micro", departement="nord")
QUEUE = "rank-cma-cci"
TALK_MS = 20_000


def quick_wrapup(hotline: Hotline) -> Hotline:
    data: dict[str, Any] = hotline.model_dump(mode="json")
    for partner in data["partners"]:
        partner["wrapup_seconds"] = 1
    return Hotline.model_validate(data)


@dataclass
class Stack(RunningStack):
    agents: AgentsUas
    events: list[dict[str, str]] = field(default_factory=list)  # every AMI event, seen by a second client

    def partner_of(self, line: str) -> str:
        partner = self.hotline.partner_of(line)
        assert partner is not None, line
        return partner.id


@pytest.fixture(scope="module")
def availability_hotline(hotline: Hotline) -> Hotline:
    return quick_wrapup(hotline)


@pytest.fixture(scope="module")
def pbx_and_lines(
    availability_hotline: Hotline, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, AgentsUas]]:
    settings = sandbox_settings(
        tmp_path_factory.mktemp("availability"),
        f"aiguilleur_availability_{os.getpid()}",
        now=OPEN_INSTANT,  # Monday 10:00 in Paris: open
        rtp_start=34000,
        ami={"ping_interval": 1, "pong_timeout": 10, "backoff_initial": 0.2, "backoff_max": 1},
        web=True,
    )
    assert settings.pbx.line_contact_port is not None
    agents = AgentsUas(settings.pbx.line_contact_port, ring_ms=300, talk_ms=TALK_MS)
    with running_pbx(settings, availability_hotline, f"availability-{os.getpid()}", agents) as pbx:
        yield settings.model_copy(update={"asterisk_etc_dirs": [pbx.instance_dir / "etc", pbx.conf_dir]}), agents


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(pbx_and_lines: tuple[Settings, AgentsUas], availability_hotline: Hotline) -> AsyncIterator[Stack]:
    settings, agents = pbx_and_lines
    events: list[dict[str, str]] = []
    recorder = AmiClient(settings.ami, on_event=events.append)
    async with running_service(settings, availability_hotline) as service:
        try:
            await recorder.start()
            await recorder.wait_ready(timeout=15)
            yield Stack(settings, service, availability_hotline, agents, events)
        finally:
            await recorder.stop()


# ----------------------------------------------------------------------------- helpers


def now() -> float:
    return asyncio.get_running_loop().time()


async def until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    deadline = now() + timeout
    while not check():
        if now() > deadline:
            raise AssertionError(f"not true after {timeout} s: {what}")
        await asyncio.sleep(0.05)


async def queue_penalties(stack: Stack) -> dict[str, dict[str, int]]:
    """What app_queue says now (QueueStatus), queue -> line -> penalty."""
    out: dict[str, dict[str, int]] = {}
    for line, queues in (await read_members(stack.service.ami)).penalties.items():
        for queue, penalty in queues.items():
            out.setdefault(queue, {})[line] = penalty
    return out


def config_penalties(stack: Stack) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for line, membership in all_memberships(stack.service.rules.hotline).items():
        for queue, penalty in membership.penalties.items():
            out.setdefault(queue, {})[line] = penalty
    return out


async def until_asterisk_has(stack: Stack, want: Callable[[dict[str, dict[str, int]]], bool], what: str,
                             timeout: float = 15.0) -> float:  # noqa: ASYNC109
    """Poll QueueStatus until ``want``; return how long it took."""
    started = now()
    while not want(await queue_penalties(stack)):
        if now() - started > timeout:
            raise AssertionError(f"not true after {timeout} s: {what}")
        await asyncio.sleep(0.1)
    return now() - started


def by_partner(stack: Stack, penalties: dict[str, int]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for line, penalty in penalties.items():
        out.setdefault(stack.partner_of(line), set()).add(penalty)
    return out


def live_members_ok(stack: Stack) -> bool:
    snapshot = stack.service.live.snapshot()
    lines = snapshot.lines
    return snapshot.synced and all(lines[line].queues and not lines[line].paused_queues for line in stack.lines)


async def reset_desk(stack: Stack) -> None:
    """Every line logged in and unpaused, no call left, and every queue at the config's tiers."""
    await until(lambda: not any(state.caller_uniqueid or state.status in ("busy", "ringing")
                                for state in stack.service.live.snapshot().lines.values()),
                "the calls of earlier tests are over", timeout=60)
    desk = stack.service.desk
    await desk.login_all()
    for line in stack.lines:
        await desk.unpause(line)
    await until(lambda: live_members_ok(stack), "every line logged in and unpaused in the live state")
    config = config_penalties(stack)
    await until_asterisk_has(stack, lambda penalties: penalties == config, "every queue at the config's tiers")


async def pause(stack: Stack, lines: list[str], reason: str) -> None:
    for line in lines:
        await stack.service.desk.pause(line, reason)


def craftsman(number: str, *, hold_after_ms: int, pause_before_ms: int = 2000) -> CallScript:
    return CallScript(digits=CRAFTSMAN, caller_number=number, hold_after_ms=hold_after_ms,
                      pause_before_ms=pause_before_ms)


async def call(stack: Stack, *scripts: CallScript) -> SippResult:
    result = await asyncio.to_thread(
        run_calls, list(scripts), port=stack.settings.pbx.sip_port, number=stack.hotline.number,
        concurrent=len(scripts), timeout_s=150,
    )
    assert result.ok, result.describe()
    return result


def events_of(stack: Stack, name: str, since: int = 0, **fields: str) -> list[dict[str, str]]:
    """Recorded AMI events named ``name`` with these fields, from index ``since`` on."""
    return [e for e in stack.events[since:]
            if e.get("Event") == name and all(e.get(k) == v for k, v in fields.items())]


def joined(stack: Stack, number: str) -> dict[str, str] | None:
    found = events_of(stack, "QueueCallerJoin", CallerIDNum=number)
    return found[0] if found else None


def stamp(event: dict[str, str]) -> float:
    return float(event["Timestamp"])


async def record_of(stack: Stack, number: str, wait_s: float = 20.0) -> asyncpg.Record:
    deadline = now() + wait_s
    while True:
        row = await stack.service.pool.fetchrow("SELECT * FROM cdr WHERE src = $1", number)
        if row is not None or now() > deadline:
            assert row is not None, f"no record for {number}"
            return row
        await asyncio.sleep(0.3)


async def getvar(stack: Stack, channel: str, variable: str) -> str:
    reply = await stack.service.ami.send({"Action": "Getvar", "Channel": channel, "Variable": variable},
                                         idempotent=True)
    return reply[0].get("Value", "")


# ----------------------------------------------------------------------------- tests


async def test_the_craftsman_ranks_cma_then_cci(availability_hotline: Hotline) -> None:
    assert choose_queue(CRAFTSMAN_PROFILE, availability_hotline) == QUEUE
    penalties = member_penalties(availability_hotline, QUEUE)
    assert {penalties["cma-01"], penalties["cci-01"], penalties["mel-01"]} == {0, 1, 2}
    assert [s.after_seconds for s in availability_hotline.queues.escalation] == [0, 30, 90]


async def test_best_tier_all_paused_a_new_caller_is_answered_by_the_next_tier_without_waiting_for_the_step(
    stack: Stack,
) -> None:
    await reset_desk(stack)
    step = stack.hotline.queues.escalation[1].after_seconds
    paused_at = now()
    await pause(stack, stack.partner_lines("cma"), "reunion")
    rebased_in = await until_asterisk_has(
        stack, lambda p: by_partner(stack, p[QUEUE]) == {"cma": {0}, "cci": {0}, "direccte": {1}, "region": {1},
                                                         "mel": {1}},
        f"{QUEUE} re-based: CCI at 0, the third tier at 1")
    print(f"\n[availability] 8 CMA pauses sent + {QUEUE} re-based in {now() - paused_at:.2f} s "
          f"(QueueStatus polled, {rebased_in:.2f} s after the last pause)")

    number = "0321001101"
    placed = asyncio.create_task(call(stack, craftsman(number, hold_after_ms=8000)))
    try:
        await until(lambda: joined(stack, number) is not None, f"{number} in a queue", timeout=40)
        join = joined(stack, number)
        assert join is not None and join["Queue"] == QUEUE
        # The router read the re-based penalties: the caller starts at 0, not shifted once more.
        assert await getvar(stack, join["Channel"], "AIGUILLEUR_MAX_PENALTY") == "0"
        await until(lambda: bool(events_of(stack, "AgentConnect", Uniqueid=join["Uniqueid"])),
                    f"{number} answered", timeout=step + 5)
        await placed
    finally:
        if not placed.done():
            placed.cancel()

    called = events_of(stack, "AgentCalled", Uniqueid=join["Uniqueid"])
    connect = events_of(stack, "AgentConnect", Uniqueid=join["Uniqueid"])[0]
    answered_after = stamp(connect) - stamp(join)
    print(f"[availability] best tier paused: first ring {stamp(called[0]) - stamp(join):.2f} s, "
          f"answered {answered_after:.2f} s after joining {QUEUE} (the step is at {step} s)")
    assert {stack.partner_of(e["MemberName"]) for e in called} == {"cci"}  # never the third tier
    assert answered_after < step
    row = await record_of(stack, number)
    assert row["outcome"] == "answered" and row["partner"] == "cci" and row["queue"] == QUEUE
    assert row["escalation_step"] == 0


async def test_a_caller_already_waiting_is_offered_to_the_next_tier_when_the_best_tier_pauses_then_tiers_come_back(
    stack: Stack,
) -> None:
    await reset_desk(stack)
    step = stack.hotline.queues.escalation[1].after_seconds
    present = "cma-01"
    mark = len(stack.events)
    await pause(stack, [line for line in stack.partner_lines("cma") if line != present], "formation")
    await until(lambda: len(events_of(stack, "QueueMemberPause", mark, MemberName="cma-08", Paused="1")) > 0,
                "CMA pauses seen")
    await asyncio.sleep(1.0)  # a round would have run by now: cma-01 is present, nothing to re-base
    assert await queue_penalties(stack) == config_penalties(stack)

    # Caller 1 takes cma-01 (talks 20 s); caller 2, the same profile, arrives 6 s later and
    # waits for it (cma-01 busy, ringinuse=no; CCI is beyond the caller's first pool).
    first, second = "0321001201", "0321001202"
    placed = asyncio.create_task(call(
        stack,
        craftsman(first, hold_after_ms=TALK_MS + 10_000),
        craftsman(second, hold_after_ms=TALK_MS + 25_000, pause_before_ms=8000),
    ))
    try:
        await until(lambda: joined(stack, second) is not None, f"{second} in a queue", timeout=60)
        join = joined(stack, second)
        assert join is not None and join["Queue"] == QUEUE
        first_join = joined(stack, first)
        assert first_join is not None
        assert [e["MemberName"] for e in events_of(stack, "AgentConnect", Uniqueid=first_join["Uniqueid"])] == [present]
        assert await getvar(stack, join["Channel"], "AIGUILLEUR_MAX_PENALTY") == "0"
        await asyncio.sleep(3.0)
        assert not events_of(stack, "AgentCalled", Uniqueid=join["Uniqueid"]), "rung while cma-01 is busy"

        # The best tier's last line pauses (still talking to caller 1).
        await pause(stack, [present], "repas")
        await until(lambda: bool(events_of(stack, "QueueMemberPause", mark, MemberName=present, Paused="1",
                                           Queue=QUEUE)), f"{present} paused")
        paused_event = events_of(stack, "QueueMemberPause", mark, MemberName=present, Paused="1", Queue=QUEUE)[0]
        await until(lambda: bool(events_of(stack, "AgentConnect", Uniqueid=join["Uniqueid"])),
                    f"{second} answered", timeout=step + 5)
    except BaseException:
        placed.cancel()
        raise

    called = events_of(stack, "AgentCalled", Uniqueid=join["Uniqueid"])
    connect = events_of(stack, "AgentConnect", Uniqueid=join["Uniqueid"])[0]
    offered_after_pause = stamp(called[0]) - stamp(paused_event)
    waited = stamp(called[0]) - stamp(join)
    print(f"\n[availability] waiting caller: offered to {called[0]['MemberName']} "
          f"{offered_after_pause:.2f} s after the best tier's last pause, {waited:.2f} s after joining "
          f"(the step is at {step} s); answered {stamp(connect) - stamp(join):.2f} s after joining")
    assert {stack.partner_of(e["MemberName"]) for e in called} == {"cci"}
    assert waited < step  # before the 30 s widening: the re-base did it, not the queue rule
    assert len(events_of(stack, "QueueCallerJoin", Uniqueid=join["Uniqueid"])) == 1  # kept their place
    # It left the queue only when connected (app_queue's QueueCallerLeave comes with the connect).
    assert [stamp(e) >= stamp(called[0]) for e in events_of(stack, "QueueCallerLeave", Uniqueid=join["Uniqueid"])
            ] == [True]

    # CMA back: every queue has the config's tiers again, as Asterisk reports them.
    back_at = now()
    for line in stack.partner_lines("cma"):
        await stack.service.desk.unpause(line)
    config = config_penalties(stack)
    await until_asterisk_has(stack, lambda penalties: penalties == config, "config tiers restored everywhere")
    print(f"[availability] CMA back: config tiers restored in every queue {now() - back_at:.2f} s "
          "after the first unpause was sent")

    result = await asyncio.wait_for(placed, timeout=90)
    assert all(c.answered for c in result.calls), result.describe()
    row = await record_of(stack, second)
    assert row["outcome"] == "answered" and row["partner"] == "cci" and row["escalation_step"] == 0
    first_row = await record_of(stack, first)
    assert first_row["line"] == present
