"""A real SIP call through the sandbox Asterisk 22, our IVR and queues, into PostgreSQL.

Real peers only: Asterisk 22 (sid chroot), SIPp callers (DTMF by SIP INFO and
RFC 2833), one SIPp UAS answering for the 36 lines, the local PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
import pytest_asyncio

from aiguilleur.caller_history import CallerHistory
from aiguilleur.service import make_clock
from cdr.queue_log import parse_queue_log_file
from cdr.recovery import CDR_FILE, QUEUE_LOG_FILE, parse_cdr_file, rebuild_records
from config.models import Hotline
from config.settings import Settings
from ivr.agi_route import make_route
from ivr.fastagi import stop as stop_fastagi
from sandbox.pbx import SandboxPbx
from sandbox.sipp import AgentsUas, CallScript, run_calls
from tests.pbx.real_stack import RunningStack, running_pbx, running_service, sandbox_settings

pytestmark = [pytest.mark.pbx, pytest.mark.asyncio(loop_scope="module")]



@dataclass
class Stack(RunningStack):
    pbx: SandboxPbx


@pytest.fixture(scope="module")
def pbx_and_lines(hotline: Hotline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, SandboxPbx]]:
    settings = sandbox_settings(
        tmp_path_factory.mktemp("e2e"),
        # Its own database: the db tier recreates aiguilleur_test, maybe at the same time.
        f"aiguilleur_e2e_{os.getpid()}",
        # A fixed open instant (Monday 10:00 in Paris): the tests must not depend on when they run.
        now="2026-11-23T10:00:00+01:00",
        rtp_start=32000,
        ami={"ping_interval": 1, "pong_timeout": 10},
    )
    assert settings.pbx.line_contact_port is not None
    agents = AgentsUas(settings.pbx.line_contact_port, ring_ms=300, talk_ms=3000)
    with running_pbx(settings, hotline, f"e2e-{os.getpid()}", agents) as pbx:
        yield settings, pbx


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(pbx_and_lines: tuple[Settings, SandboxPbx], hotline: Hotline) -> AsyncIterator[Stack]:
    settings, pbx = pbx_and_lines
    settings = settings.model_copy(update={"asterisk_etc_dirs": [pbx.instance_dir / "etc"]})
    async with running_service(settings, hotline, asterisk_log_dir=pbx.instance_dir / "log") as service:
        await service.desk.login_all()
        yield Stack(settings, service, hotline, pbx)


async def call(stack: Stack, *scripts: CallScript) -> None:
    result = await asyncio.to_thread(
        run_calls, list(scripts), port=stack.settings.pbx.sip_port, number=stack.hotline.number, timeout_s=90
    )
    assert result.ok, result.describe()


async def records_for(stack: Stack, numbers: list[str], wait_s: float = 20.0) -> dict[str, asyncpg.Record]:
    """Wait until every caller number has its record (the writer is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    assert stack.settings.database_url is not None
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        while True:
            rows = await conn.fetch("SELECT * FROM cdr WHERE src = ANY($1::text[])", numbers)
            found = {r["src"]: r for r in rows}
            if len(found) == len(numbers) or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.3)
    finally:
        await conn.close()


async def test_callers_are_sorted_queued_answered_and_recorded(stack: Stack) -> None:
    await call(
        stack,
        CallScript(digits=["1", "2", "2", "59"], dtmf="info", caller_number="0320000001", hold_after_ms=5000),
        CallScript(digits=["2", "1", "3", "62"], dtmf="rfc2833", caller_number="0320000002", hold_after_ms=5000),
        CallScript(digits=["3", "0"], dtmf="info", caller_number="0320000003", hold_after_ms=5000),
        CallScript(digits=["1"], dtmf="info", caller_number="0320000004", hangup_early_after_ms=4500),
    )
    rows = await records_for(stack, ["0320000001", "0320000002", "0320000003", "0320000004"])

    crafts = rows["0320000001"]  # SIP INFO: creation, crafts, 1-9, Nord -> CMA
    assert (crafts["need"], crafts["sector"], crafts["size"], crafts["departement"]) == (
        "creation", "crafts", "micro", "nord")
    assert crafts["ivr_exit"] == "completed" and crafts["queue"] == "rank-cma-mel"
    assert crafts["outcome"] == "answered" and crafts["partner"] == "cma" and crafts["line"].startswith("cma-")
    assert crafts["talk_seconds"] >= 2 and crafts["wait_seconds"] is not None
    assert crafts["disposition"] == "ANSWERED" and crafts["linkedid"] == crafts["uniqueid"]

    commerce = rows["0320000002"]  # RFC 2833: difficulty, commerce, 10-49, Pas-de-Calais -> CCI
    assert (commerce["need"], commerce["sector"], commerce["size"], commerce["departement"]) == (
        "difficulty", "commerce", "small", "pas_de_calais")
    assert commerce["queue"] == "rank-cci-direccte" and commerce["partner"] == "cci"
    assert commerce["outcome"] == "answered"

    advisor = rows["0320000003"]  # "0" on the second step: an advisor, ranked on what is known
    assert advisor["ivr_exit"] == "advisor" and advisor["need"] == "other" and advisor["sector"] is None
    assert advisor["queue"] == "rank-direccte" and advisor["outcome"] == "answered"  # need:other 3

    gone = rows["0320000004"]  # hung up during the menu
    assert gone["outcome"] == "abandoned_in_ivr" and gone["queue"] is None and gone["answer"] is None

    # Every answered call has its queue_log lines, in Asterisk's realtime layout.
    assert stack.settings.database_url is not None
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        for number in ("0320000001", "0320000002", "0320000003"):
            row = rows[number]
            events = [r["event"] for r in await conn.fetch(
                "SELECT event FROM queue_log WHERE callid = $1 ORDER BY time, id", row["uniqueid"])]
            assert events[0] == "ENTERQUEUE" and "CONNECT" in events, (number, events)
            assert events[-1] in ("COMPLETECALLER", "COMPLETEAGENT"), (number, events)
            agents = {r["agent"] for r in await conn.fetch(
                "SELECT agent FROM queue_log WHERE callid = $1 AND event = 'CONNECT'", row["uniqueid"])}
            assert agents == {row["line"]}
        assert await conn.fetchval("SELECT count(*) FROM queue_log WHERE callid = $1",
                                   gone["uniqueid"]) == 0
    finally:
        await conn.close()


async def test_hostile_caller_id_is_recorded_as_data(stack: Stack) -> None:
    name = 'x" <sip:evil@h>\\ ${SHELL(id)}; DROP TABLE cdr; -- <script>'
    await call(stack, CallScript(digits=["1", "5", "1", "9"], caller_number="0320000005", caller_name=name,
                                 hold_after_ms=12000))
    rows = await records_for(stack, ["0320000005"])
    row = rows["0320000005"]
    assert row["sector"] == "liberal" and row["outcome"] == "answered"
    assert "${SHELL(id)}" in row["clid"]  # kept as text, never evaluated


def set_clock(stack: Stack, now: str) -> None:
    """Inject the IVR's clock the way an operator does: AIGUILLEUR_NOW -> make_clock."""
    history = CallerHistory(stack.service.pool, stack.hotline.menu.repeat_days)
    app = stack.service.agi_app
    app.del_route("ivr")
    app.add_route("ivr", make_route(stack.hotline, make_clock(now), recent_partner=history.recent_partner,
                                    on_callback=history.store_callback))


def prompt_ms(stack: Stack, *names: str) -> int:
    total = 0.0
    for name in names:
        with wave.open(str(stack.settings.state_dir / "prompts" / f"{name}.wav")) as audio:
            total += audio.getnframes() / audio.getframerate()
    return int(total * 1000)


async def latest_record(stack: Stack, number: str) -> asyncpg.Record:
    await records_for(stack, [number])
    assert stack.settings.database_url is not None
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM cdr WHERE src = $1 ORDER BY start DESC LIMIT 1", number)
    finally:
        await conn.close()
    assert row is not None
    return row


async def test_recent_caller_is_offered_and_given_the_same_partner(stack: Stack) -> None:
    # 0320000001 was answered by a CMA line in the first test of this module.
    set_clock(stack, "2026-11-23T10:00:00+01:00")
    await call(stack, CallScript(digits=["1"], caller_number="0320000001", hold_after_ms=6000))
    await asyncio.sleep(1.0)
    row = await latest_record(stack, "0320000001")
    assert row["ivr_exit"] == "same_partner" and row["queue"] == "partner-cma"
    assert row["partner"] == "cma" and row["outcome"] == "answered"


async def test_closed_line_gives_next_opening_and_takes_a_callback_request(stack: Stack) -> None:
    set_clock(stack, "2026-11-23T22:30:00+01:00")  # Monday evening, after 21:00
    # The key is pressed while the next opening is said: the callback question follows, so it answers it.
    press_at = prompt_ms(stack, "closed") + 1000
    await call(stack, CallScript(digits=["1"], caller_number="0320000007", pause_before_ms=press_at,
                                 hold_after_ms=8000))
    row = await latest_record(stack, "0320000007")
    assert row["ivr_exit"] == "closed" and row["outcome"] == "closed" and row["queue"] is None
    assert row["hours_state"] == "hours"
    assert stack.settings.database_url is not None
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        callback = await conn.fetchrow("SELECT * FROM callbacks WHERE caller_number = '0320000007'")
    finally:
        await conn.close()
    assert callback is not None and callback["status"] == "pending"
    assert callback["due_at"] == dt.datetime(2026, 11, 24, 7, 0, tzinfo=dt.UTC)  # Tuesday 08:00 Paris


async def test_public_holiday_is_closed_even_in_opening_hours(stack: Stack) -> None:
    set_clock(stack, "2026-12-25T10:00:00+01:00")  # Christmas, a Friday
    await call(stack, CallScript(digits=[], caller_number="0320000008", hold_after_ms=4000))
    row = await latest_record(stack, "0320000008")
    assert row["outcome"] == "closed" and row["hours_state"] == "holiday:Noël"


async def test_caller_pressing_only_wrong_keys_is_told_goodbye_and_recorded_invalid(stack: Stack) -> None:
    set_clock(stack, "2026-11-23T10:00:00+01:00")
    await call(stack, CallScript(digits=["9", "8", "7"], caller_number="0320000009", pause_between_ms=1500,
                                 hold_after_ms=9000))
    row = await latest_record(stack, "0320000009")
    assert row["ivr_exit"] == "invalid" and row["outcome"] == "invalid"
    assert row["queue"] is None and row["ivr_retries"] == 2


async def test_service_down_still_answers_the_caller_and_marks_it_degraded(stack: Stack) -> None:
    # Last in the module: the FastAGI server is stopped, the AMI follower keeps writing records.
    await stop_fastagi(stack.service.agi_server, stack.service.agi_app)
    # The pyst2 fallback script (agi_scripts/fallback.py) asks the sector: 3 = industry.
    await call(stack, CallScript(digits=["3"], caller_number="0320000006", hold_after_ms=6000))
    rows = await records_for(stack, ["0320000006"])
    row = rows["0320000006"]
    assert row["degraded"] and row["ivr_exit"] == "degraded"
    assert row["sector"] == "industry" and row["outcome"] == "answered"
    # The ranking the router gives the sector alone: Région and CCI (industry 4), then DIRECCTE.
    assert row["queue"] == "rank-region_cci-direccte" and row["partner"] in ("region", "cci")


async def test_advisor_logins_leave_no_call_records(stack: Stack) -> None:
    """The 36 logins at start run Local channels through the dialplan: none is a hotline call."""
    await stack.service.desk.login("cma-01")  # once more, now that the writer surely runs
    await asyncio.sleep(2)  # past the writer's flush interval
    assert stack.settings.database_url is not None
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        strays = await conn.fetch("SELECT channel, outcome FROM cdr WHERE channel NOT LIKE 'PJSIP/pstn-%'")
    finally:
        await conn.close()
    assert strays == []


# What nobody but the live follower can know: the wrap-up time (the member's, from AMI).
ONLY_LIVE = {"id", "recovered", "wrapup_seconds", "received_at", "written_at"}


def _same(name: str, mine: object, theirs: object) -> bool:
    """Equal, but for the queue_log's whole seconds (times and durations within a second or so)."""
    if isinstance(mine, dt.datetime) and isinstance(theirs, dt.datetime):
        return abs((mine - theirs).total_seconds()) < 2
    if name in ("duration", "billsec", "talk_seconds", "wait_seconds") and isinstance(mine, int) \
            and isinstance(theirs, int):
        return abs(mine - theirs) <= 1
    return mine == theirs


async def test_records_rebuilt_from_asterisks_own_files_match_the_live_ones(stack: Stack) -> None:
    """Every call of this module, rebuilt from cdr_custom and the queue_log as if the service had
    missed it, equals the live record but for ``recovered`` and what only the live follower knows."""
    log_dir = stack.pbx.instance_dir / "log"
    await asyncio.sleep(2)  # Asterisk writes a CDR when the call's channels are gone
    cdrs = parse_cdr_file((log_dir / CDR_FILE).read_text(encoding="utf-8").splitlines())
    rows = parse_queue_log_file((log_dir / QUEUE_LOG_FILE).read_text(encoding="utf-8").splitlines())

    def partner_of(line: str) -> str | None:
        partner = stack.hotline.partner_of(line)
        return partner.id if partner else None

    escalation_after = [s.after_seconds for s in stack.hotline.queues.escalation]
    rebuilt = {r.linkedid: r for r in rebuild_records(cdrs, rows, partner_of, escalation_after)}
    assert stack.settings.database_url is not None
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        live = await conn.fetch("SELECT * FROM cdr ORDER BY start")
    finally:
        await conn.close()
    assert len(live) >= 8 and {r["linkedid"] for r in live} == set(rebuilt)
    differences = {}
    for row in live:
        recovered = rebuilt[row["linkedid"]]
        for name, mine in dict(row).items():
            if name in ONLY_LIVE or not hasattr(recovered, name):
                continue
            theirs = getattr(recovered, name)
            if not _same(name, mine, theirs):
                differences[(row["src"], name)] = (mine, theirs)
    assert differences == {}, "\n".join(f"{k}: {v!r}" for k, v in differences.items())
