"""Lines that do not answer and advisors who transfer, live on the sandbox Asterisk 22.

Each test runs one scenario of ``tests/fixtures/ami/record_agent_traces.py`` (the
script that recorded the fixtures the unit tests replay): real Asterisk, SIPp caller
and lines, the whole service writing to its own PostgreSQL database. Then what the
service stored must be one record for the call, saying who answered and where the
caller went, and queue_log rows equal to the lines Asterisk wrote to its own file.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest

from tests.fixtures.ami.record_agent_traces import (
    FIRST_RUNG,
    SCENARIOS,
    SERVER,
    TRANSFER_CONTEXT,
    TRANSFER_TO,
    Scenario,
    drop_database,
    prepare_prompts,
    record_one,
    rows_of,
    same_queue_log,
    short_hotline,
    transfer_code,
)

pytestmark = [pytest.mark.pbx, pytest.mark.asyncio(loop_scope="module")]

BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
DATABASE = f"aiguilleur_agent_traces_{os.getpid()}"
CRAFTS_QUEUE = "rank-cma-mel"  # creation, crafts, micro, Nord: CMA first, MEL second (Nord)
TRANSFER_COLUMNS = ("transfer_type", "transfer_target", "transfer_queue", "transfer_line", "transfer_partner")


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_prompts(short_hotline(), tmp_path_factory.mktemp("prompts"))


async def run(scenario: Scenario, prompts: Path, out: Path) -> tuple[list[asyncpg.Record], list[str], list[str]]:
    """Record ``scenario`` live; return the service's cdr rows, its queue_log lines and Asterisk's."""
    await record_one(scenario, short_hotline(), prompts, out, out / "work", database=DATABASE)
    conn = await asyncpg.connect(f"{SERVER}/{DATABASE}")
    try:
        cdr = await conn.fetch("SELECT * FROM cdr")
        queue_log = await conn.fetch(
            """SELECT floor(extract(epoch FROM time))::bigint AS stamp, callid, queuename, agent, event, data
               FROM queue_log ORDER BY time, id""")
    finally:
        await conn.close()
        await drop_database(DATABASE)
    ours = [f"{r['stamp']}|{r['callid']}|{r['queuename']}|{r['agent']}|{r['event']}|{r['data']}" for r in queue_log]
    asterisk = ["|".join(row) for row in rows_of(out / f"{scenario.name}.queue_log")]
    return cdr, ours, asterisk


async def test_line_that_does_not_answer_is_recorded_and_the_next_line_answers(prompts: Path, tmp_path: Path) -> None:
    cdr, ours, asterisk = await run(BY_NAME["ring_no_answer_call"], prompts, tmp_path)
    assert same_queue_log(ours, asterisk), (ours, asterisk)
    assert any(f"|{FIRST_RUNG}|RINGNOANSWER|" in line for line in ours)
    assert len(cdr) == 1
    row = cdr[0]
    assert row["outcome"] == "answered" and row["queue"] == CRAFTS_QUEUE
    assert row["line"].startswith("cma-") and row["line"] != FIRST_RUNG and row["partner"] == "cma"
    assert row["wait_seconds"] >= 5  # the 5 s ring time of the line that did not answer
    assert all(row[c] is None for c in TRANSFER_COLUMNS)


@pytest.mark.parametrize(("name", "kind"), [("blind_transfer_call", "blind"), ("attended_transfer_call", "attended")])
async def test_transferred_call_keeps_one_record_naming_the_first_line_and_the_target(
    prompts: Path, tmp_path: Path, name: str, kind: str
) -> None:
    cdr, ours, asterisk = await run(BY_NAME[name], prompts, tmp_path)
    assert same_queue_log(ours, asterisk), (ours, asterisk)
    assert len(cdr) == 1
    row = cdr[0]
    assert row["outcome"] == "answered" and row["queue"] == CRAFTS_QUEUE
    assert row["line"] == FIRST_RUNG and row["partner"] == "cma"
    assert row["talk_seconds"] >= 3  # talked before transferring
    assert tuple(row[c] for c in TRANSFER_COLUMNS) == (
        kind, f"{transfer_code(short_hotline(), TRANSFER_TO)}@{TRANSFER_CONTEXT}", TRANSFER_TO, "cci-01", "cci")
