"""The J+8 follow-up on the real PBX (issue #12): the same peers as ``test_callbacks_real`` (the
sandbox Asterisk 22, a SIPp UAS for the 36 lines, a SIPp UAS on the trunk side playing the callers),
the service clock set to Monday 23 November 2026, 10:00 Paris (``Settings(now=...)``, running).

An inbound call answered by a CCI line on Friday 13 November is due for its follow-up 8 working
days later (Saturdays open, Wednesday 11 a holiday): Monday 23 at 10:00, the start of the
follow-up hours. The dialer's sweep makes it, places it in ``partner-cci`` (the partner that
answered), a CCI line answers first, then the caller on the trunk; the try's record is outbound
and names the follow-up; the advisor's outcome is recorded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aiguilleur.callbacks import CallbackStore
from config.models import Hotline
from tests.pbx.test_callbacks_real import (  # noqa: F401  (fixtures, used by name)
    Stack,
    callback_hotline,
    outbound_records,
    pbx_and_peers,
    row,
    stack,
    status_is,
    trunk_answered,
    until,
)

pytestmark = [pytest.mark.pbx, pytest.mark.asyncio(loop_scope="module")]

PARIS = dt.timezone(dt.timedelta(hours=1))
ANSWERED_CALL = dt.datetime(2026, 11, 13, 15, 0, tzinfo=PARIS)  # Friday
NUMBER = "0699000081"


@pytest.fixture(scope="module")
def cb_hotline(hotline: Hotline) -> Hotline:
    data: dict[str, Any] = callback_hotline(hotline).model_dump(mode="json")
    data["followups"] = {"enabled": True, "interval_days": 8, "day_kind": "working", "caller": "same_partner",
                         "hours": [{"open": "10:00", "close": "12:00"}]}
    return Hotline.model_validate(data)


async def test_a_j8_followup_is_placed_in_the_answering_partners_queue_and_its_outcome_recorded(
    stack: Stack,  # noqa: F811  (the fixture imported above)
) -> None:
    assert stack.service.dialer is not None
    now = stack.service.dialer.clock()
    assert dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS) <= now < dt.datetime(2026, 11, 23, 12, 0, tzinfo=PARIS)
    await stack.service.pool.execute(
        """INSERT INTO cdr (linkedid, uniqueid, src, dst, start, "end", duration, billsec, disposition, outcome,
                            queue, line, partner, need, sector, size, departement, ivr_exit, direction)
           VALUES ('1699000000.8', '1699000000.8', $1, '0800596280', $2, $2, 300, 280, 'ANSWERED', 'answered',
                   'sector-commerce', 'cci-02', 'cci', 'difficulty', 'commerce', 'micro', 'nord', 'completed',
                   'inbound')""", NUMBER, ANSWERED_CALL)
    answered_before = len(stack.agents.answered_lines())
    stack.service.dialer._last_sweep = None  # sweep now, not within the minute
    stack.service.dialer.wake.set()

    fid = "fu-1699000000.8"
    made = await until(lambda: stack.service.pool.fetchrow("SELECT * FROM callbacks WHERE linkedid = $1", fid),
                       "the sweep made the follow-up")
    assert (made["kind"], made["partner"], made["origin"]) == ("followup", "cci", "1699000000.8")
    assert made["due_at"] == dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)
    await until(lambda: status_is(stack, fid, "connected", "done"), "the caller answered the follow-up")
    advisor_lines = stack.agents.answered_lines()[answered_before:]
    assert len(advisor_lines) == 1 and advisor_lines[0].startswith("cci-"), advisor_lines
    assert trunk_answered(stack, NUMBER) == 1
    await until(lambda: status_is(stack, fid, "done"), "the follow-up call ended", timeout=30)
    (record,) = await until(lambda: outbound_records(stack, fid), "the try's record")
    assert (record["direction"], record["callback_of"], record["queue"], record["partner"]) == (
        "outbound", fid, "partner-cci", "cci")

    store = CallbackStore(stack.service.pool, "test")
    after, new_request = await store.record_outcome(fid, "satisfied", "cci-advisor", stack.hotline, now)
    assert (after.followup_outcome, new_request) == ("satisfied", None)
    final = await row(stack, fid)
    assert (final["status"], final["followup_outcome"], final["outcome_by"]) == ("done", "satisfied", "cci-advisor")
    # Still one follow-up for that call: the sweep made it once.
    assert await stack.service.pool.fetchval("SELECT count(*) FROM callbacks WHERE origin = '1699000000.8'") == 1
