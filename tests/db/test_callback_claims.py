"""Callback claims on the real PostgreSQL (``aiguilleur.callbacks.CallbackStore``): a callback is
claimed by one instance only, even when two claim at once; a claim its service stopped
refreshing is taken over once; the IVR stores the caller's profile with the request."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest

from aiguilleur.callbacks import CallbackStore
from aiguilleur.caller_history import CallerHistory
from config.models import Hotline
from ivr.session import CallbackRequest
from queues.callback import CallbackError, Cancel, Retry, TryEnded, transition
from tests.db.test_followups import dialer

pytestmark = pytest.mark.db

PARIS = dt.timezone(dt.timedelta(hours=1))
SUNDAY_20 = dt.datetime(2026, 11, 22, 20, 0, tzinfo=PARIS)
MONDAY_8 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=PARIS)
MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)



async def request(pool: asyncpg.Pool, linkedid: str, number: str = "0612345678") -> None:
    """A closed-hours request, stored by the IVR's own path."""
    await CallerHistory(pool, 8).store_callback(CallbackRequest(
        linkedid, number, SUNDAY_20, MONDAY_8,
        {"need": "creation", "sector": "crafts", "size": "micro", "departement": "nord"}, "closed"))


async def test_the_ivr_stores_the_profile_and_the_due_time_with_the_request(pool: asyncpg.Pool) -> None:
    await request(pool, "1.1")
    row = await pool.fetchrow("SELECT * FROM callbacks WHERE linkedid = '1.1'")
    assert row is not None
    assert (row["need"], row["sector"], row["size"], row["departement"], row["reason"]) == (
        "creation", "crafts", "micro", "nord", "closed")
    assert row["next_try_at"] == MONDAY_8 and row["status"] == "pending" and row["tries"] == 0
    store = CallbackStore(pool, "a")
    assert await store.due(MONDAY_8 - dt.timedelta(seconds=1)) == []
    (due,) = await store.due(MONDAY_10)
    assert due.profile().answers()["sector"] == "crafts"


async def test_two_claimers_at_once_one_wins(pool: asyncpg.Pool) -> None:
    for n in range(20):
        await request(pool, f"2.{n}")
    ids = [f"2.{n}" for n in range(20)]
    a, b = CallbackStore(pool, "a"), CallbackStore(pool, "b")
    for _ in range(5):  # several rounds of concurrent claims on the same rows
        got_a, got_b = await asyncio.gather(a.claim(ids, MONDAY_10), b.claim(ids, MONDAY_10))
        assert not {c.id for c in got_a} & {c.id for c in got_b}
    rows = await pool.fetch("SELECT claimed_by, attempts, try_channel FROM callbacks")
    assert all(r["attempts"] == 1 for r in rows), "a callback was claimed twice"
    assert {r["claimed_by"] for r in rows} <= {"a", "b"}
    assert sorted(r["try_channel"] for r in rows) == sorted(f"cb-{i}-1" for i in ids)


async def test_a_claimed_callback_is_not_due_and_cannot_be_claimed_again(pool: asyncpg.Pool) -> None:
    await request(pool, "3.1")
    a, b = CallbackStore(pool, "a"), CallbackStore(pool, "b")
    assert [c.id for c in await a.claim(["3.1"], MONDAY_10)] == ["3.1"]
    assert await b.due(MONDAY_10) == []
    assert await b.claim(["3.1"], MONDAY_10) == []
    assert await a.claim(["3.1"], MONDAY_10) == []


async def test_a_stale_claim_is_taken_over_once_and_a_fresh_one_never(pool: asyncpg.Pool) -> None:
    await request(pool, "4.1")
    a, b, c = CallbackStore(pool, "a"), CallbackStore(pool, "b"), CallbackStore(pool, "c")
    await a.claim(["4.1"], MONDAY_10)
    later = MONDAY_10 + dt.timedelta(seconds=30)
    assert await b.stale(later, 60) == []
    assert await b.take_over("4.1", later, 60) is None  # a's claim is fresh
    await a.heartbeat(["4.1"], later)
    much_later = later + dt.timedelta(seconds=61)
    assert [s.id for s in await b.stale(much_later, 60)] == ["4.1"]
    taken = await asyncio.gather(b.take_over("4.1", much_later, 60), c.take_over("4.1", much_later, 60))
    winners = [t for t in taken if t is not None]
    assert len(winners) == 1 and winners[0].try_channel == "cb-4.1-1"
    assert await pool.fetchval("SELECT claimed_by FROM callbacks") in ("b", "c")
    # the instance that lost its claim can no longer write the try's end
    assert not await a.save_try(winners[0], much_later)


async def test_an_ended_try_releases_the_claim_and_is_due_again_after_the_spacing(
    pool: asyncpg.Pool, hotline: Hotline
) -> None:
    await request(pool, "5.1")
    a = CallbackStore(pool, "a")
    (claimed,) = await a.claim(["5.1"], MONDAY_10)
    after = transition(claimed, TryEnded("no_answer", MONDAY_10), hotline.callbacks, hotline.hours)
    assert await a.save_try(after, MONDAY_10)
    row = await pool.fetchrow("SELECT * FROM callbacks")
    assert row is not None
    assert (row["status"], row["tries"], row["claimed_by"], row["last_result"]) == ("no_answer", 1, None, "no_answer")
    spacing = dt.timedelta(seconds=hotline.callbacks.spacing_seconds)
    assert await a.due(MONDAY_10 + spacing - dt.timedelta(seconds=1)) == []
    (again,) = await a.claim(["5.1"], MONDAY_10 + spacing)
    assert again.try_channel == "cb-5.1-2"


async def test_operators_cancel_and_retry(pool: asyncpg.Pool, hotline: Hotline) -> None:
    await request(pool, "6.1")
    store = CallbackStore(pool, "cli")
    cancelled = await store.operate("6.1", Cancel("par l'opérateur"), hotline, MONDAY_10)
    assert cancelled.status == "cancelled"
    assert await store.due(MONDAY_10) == []
    retried = await store.operate("6.1", Retry(MONDAY_10), hotline, MONDAY_10)
    assert retried.status == "pending" and [c.id for c in await store.due(MONDAY_10)] == ["6.1"]
    await store.claim(["6.1"], MONDAY_10)
    with pytest.raises(CallbackError):
        await store.operate("6.1", Cancel(), hotline, MONDAY_10)  # a try is running
    with pytest.raises(CallbackError):
        await store.operate("nope", Cancel(), hotline, MONDAY_10)
    listed = await store.listing(["dialling"])
    assert [r.callback.id for r in listed] == ["6.1"] and listed[0].claimed_by == "cli"


async def answered_call(pool: asyncpg.Pool, linkedid: str, number: str, start: dt.datetime,
                        outcome: str = "answered") -> None:
    await pool.execute(
        """INSERT INTO cdr (linkedid, uniqueid, src, dst, start, "end", duration, billsec, disposition, outcome,
                            ivr_exit, direction)
           VALUES ($1, $1, $2, '0800596280', $3, $3, 60, 50, 'ANSWERED', $4, 'completed', 'inbound')""",
        linkedid, number, start, outcome)


async def test_a_caller_who_called_again_and_was_answered_is_not_called_back_too(
    pool: asyncpg.Pool, hotline: Hotline
) -> None:
    await request(pool, "7.1", number="0611111111")  # asked on Sunday evening
    await request(pool, "7.2", number="0622222222")
    await request(pool, "7.3", number="0633333333")
    monday_9 = MONDAY_8 + dt.timedelta(hours=1)
    await answered_call(pool, "9.1", "0611111111", monday_9)  # called again, answered: merged
    await answered_call(pool, "9.2", "0622222222", monday_9, outcome="abandoned_in_queue")  # not answered
    await answered_call(pool, "9.3", "0633333333", SUNDAY_20 - dt.timedelta(days=1))  # before the request
    store = CallbackStore(pool, "dialer")

    assert await store.answered_again() == [("7.1", "9.1")]
    await dialer(store, hotline, MONDAY_10).round()  # what the service's dialer does each round

    merged = await store.get("7.1")
    assert merged is not None and merged.status == "cancelled"
    assert merged.outcome == "merged: called again, answered (9.1)"
    assert await store.answered_again() == []
    assert {c.id for c in await store.due(MONDAY_10)} == {"7.2", "7.3"}
