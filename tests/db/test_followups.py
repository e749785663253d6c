"""J+8 follow-ups on the real PostgreSQL: made once per answered inbound call by the dialer's
sweep, placed in the partner's queue only within the follow-up hours, outcome recorded under a
lock, needs_more_help makes one routed callback; a supervisor's reassignment moves a callback."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from aiguilleur.callbacks import CallbackDialer, CallbackStore
from aiguilleur.cli import main
from config.models import FollowupPolicy, Hotline
from queues.callback import CallbackError, Retry
from queues.snapshot import LiveSnapshot

pytestmark = pytest.mark.db

PARIS = ZoneInfo("Europe/Paris")
CALL = dt.datetime(2026, 11, 5, 15, 0, tzinfo=PARIS)  # Thursday; Wednesday 11 November is off
DUE = dt.datetime(2026, 11, 16, 10, 0, tzinfo=PARIS)  # 8 working days later (Saturdays open), 10:00



@pytest.fixture
def fu_hotline(hotline: Hotline) -> Hotline:
    return hotline.model_copy(update={"followups": FollowupPolicy(enabled=True)})


async def cdr(pool: asyncpg.Pool, linkedid: str, outcome: str = "answered", *, direction: str = "inbound",
              partner: str | None = "cma", start: dt.datetime = CALL) -> None:
    await pool.execute(
        """INSERT INTO cdr (linkedid, uniqueid, src, dst, start, "end", duration, billsec, disposition, outcome,
                            partner, need, sector, size, departement, ivr_exit, direction)
           VALUES ($1, $1, '0612345678', '0800596280', $2, $2, 60, 50, 'ANSWERED', $3, $4, 'difficulty',
                   'crafts', 'micro', 'nord', 'completed', $5)""", linkedid, start, outcome, partner, direction)


class _NoAmi:
    async def send(self, *_: Any, **__: Any) -> list[dict[str, str]]:
        raise AssertionError("nothing is dialled in these tests")


def dialer(store: CallbackStore, hotline: Hotline, now: dt.datetime) -> CallbackDialer:
    snapshot = LiveSnapshot(queues={}, lines={}, now=0.0, synced=False, version=0, drift=0)
    return CallbackDialer(store, _NoAmi(), lambda: hotline, lambda: snapshot, lambda: now)  # type: ignore[arg-type]


async def test_the_sweep_makes_one_followup_per_answered_inbound_call(
    pool: asyncpg.Pool, fu_hotline: Hotline
) -> None:
    await cdr(pool, "1.1")
    await cdr(pool, "1.2", "abandoned_in_queue", partner=None)  # not answered
    await cdr(pool, "cb-1.3-1", direction="outbound")  # a callback try: no follow-up
    await cdr(pool, "1.4", start=CALL - dt.timedelta(days=60))  # older than lookback_days
    store = CallbackStore(pool, "a")
    now = CALL + dt.timedelta(hours=1)
    await dialer(store, fu_hotline, now)._sweep_followups(fu_hotline, now)
    await dialer(store, fu_hotline, now)._sweep_followups(fu_hotline, now)  # idempotent
    rows = await pool.fetch("SELECT * FROM callbacks")
    assert [(r["linkedid"], r["kind"], r["origin"], r["partner"], r["status"], r["need"]) for r in rows] == [
        ("fu-1.1", "followup", "1.1", "cma", "pending", "difficulty")]
    assert rows[0]["next_try_at"] == rows[0]["due_at"] == DUE
    assert await store.due(DUE - dt.timedelta(seconds=1)) == []
    (due,) = await store.due(DUE)
    assert (due.kind, due.partner) == ("followup", "cma")


async def test_a_followup_goes_to_its_partner_queue_without_widening(pool: asyncpg.Pool, fu_hotline: Hotline) -> None:
    await cdr(pool, "2.1")
    store = CallbackStore(pool, "a")
    d = dialer(store, fu_hotline, DUE)
    await d._sweep_followups(fu_hotline, DUE)
    (due,) = await store.due(DUE)
    decision = d._decision(fu_hotline, d.snapshot(), due)
    assert (decision.queue, decision.max_penalty, decision.queue_rule) == ("partner-cma", 0, "")


async def test_an_outcome_is_recorded_once_and_needs_more_help_makes_a_routed_callback(
    pool: asyncpg.Pool, fu_hotline: Hotline
) -> None:
    await cdr(pool, "3.1")
    store = CallbackStore(pool, "a")
    await dialer(store, fu_hotline, DUE)._sweep_followups(fu_hotline, DUE)
    with pytest.raises(CallbackError) as info:
        await store.record_outcome("fu-3.1", "satisfied", "alice", fu_hotline, DUE)
    assert info.value.code == "followup.not_reached"
    await pool.execute("UPDATE callbacks SET status = 'done' WHERE linkedid = 'fu-3.1'")
    after, made = await store.record_outcome("fu-3.1", "needs_more_help", "alice", fu_hotline, DUE)
    assert (after.followup_outcome, made) == ("needs_more_help", "mh-3.1")
    row = await pool.fetchrow("SELECT * FROM callbacks WHERE linkedid = 'fu-3.1'")
    assert (row["followup_outcome"], row["outcome_by"], row["outcome_at"]) == ("needs_more_help", "alice", DUE)
    more = await pool.fetchrow("SELECT * FROM callbacks WHERE linkedid = 'mh-3.1'")
    assert (more["kind"], more["partner"], more["origin"], more["sector"], more["status"], more["next_try_at"]) == (
        "callback", None, "3.1", "crafts", "pending", DUE)
    with pytest.raises(CallbackError) as again:
        await store.record_outcome("fu-3.1", "satisfied", "bob", fu_hotline, DUE)
    assert again.value.code == "followup.already_recorded"
    with pytest.raises(asyncpg.CheckViolationError):  # the database refuses an unknown code too
        await pool.execute("UPDATE callbacks SET followup_outcome = 'happy' WHERE linkedid = 'fu-3.1'")


async def test_a_supervisor_reassigns_a_failed_callback_to_another_partner(
    pool: asyncpg.Pool, fu_hotline: Hotline
) -> None:
    await cdr(pool, "4.1")
    store = CallbackStore(pool, "a")
    await dialer(store, fu_hotline, DUE)._sweep_followups(fu_hotline, DUE)
    await pool.execute("UPDATE callbacks SET status = 'failed', tries = 3 WHERE linkedid = 'fu-4.1'")
    with pytest.raises(CallbackError) as info:
        await store.operate("fu-4.1", Retry(DUE), fu_hotline, DUE, partner="nobody")
    assert info.value.code == "callback.unknown_partner"
    after = await store.operate("fu-4.1", Retry(DUE), fu_hotline, DUE, partner="cci")
    assert (after.status, after.tries, after.partner) == ("pending", 0, "cci")
    (listed,) = await store.listing(["pending"], kind="followup", partner="cci")
    assert listed.callback.id == "fu-4.1"
    assert await store.listing(["pending"], kind="callback") == []


async def test_the_cli_records_an_outcome_and_lists_followups(
    pool: asyncpg.Pool, fu_hotline: Hotline, database_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await cdr(pool, "5.1")
    await dialer(CallbackStore(pool, "a"), fu_hotline, DUE)._sweep_followups(fu_hotline, DUE)
    await pool.execute("UPDATE callbacks SET status = 'done' WHERE linkedid = 'fu-5.1'")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("AIGUILLEUR_NOW", DUE.isoformat())
    # main() runs its own event loop: run it in a thread, away from the test's loop.
    assert await asyncio.to_thread(main, ["callbacks", "list", "--kind", "followup"]) == 0
    assert "fu-5.1\tfollowup\tcma\t0612345678\tdone" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["callbacks", "outcome", "fu-5.1", "needs_more_help", "--by", "ana"]) == 0
    assert "new callback request mh-5.1" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["callbacks", "outcome", "fu-5.1", "refused"]) == 1
    assert "followup.already_recorded" in capsys.readouterr().err
