"""Queued callbacks on the real PostgreSQL: the IVR's request keeps the caller's place (queue,
priority, starting tier, callers ahead), due at once; after a try it is an ordinary callback."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from aiguilleur.callbacks import CallbackStore
from aiguilleur.caller_history import CallerHistory
from config.models import Hotline
from ivr.session import CallbackRequest, QueuePlace
from queues.callback import QUEUED, TryEnded, keeps_place, transition

pytestmark = pytest.mark.db

PARIS = dt.timezone(dt.timedelta(hours=1))
MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)
ANSWERS = {"need": "difficulty", "sector": "crafts", "size": "micro", "departement": "nord"}


async def test_a_queued_request_keeps_the_place_until_its_first_try_ends(pool: asyncpg.Pool, hotline: Hotline) -> None:
    place = QueuePlace("rank-cma-cci", 1, 2, ("1764.3", "1764.5"))
    await CallerHistory(pool, 8).store_callback(
        CallbackRequest("1764.9", "0612345678", MONDAY_10, None, ANSWERS, QUEUED, place))
    row = await pool.fetchrow("SELECT * FROM callbacks WHERE linkedid = '1764.9'")
    assert row is not None
    assert (row["reason"], row["kind"], row["queue"], row["queue_priority"], row["queue_max_penalty"],
            row["queue_position"], row["ahead"]) == (QUEUED, "callback", "rank-cma-cci", 1, 2, 3, ["1764.3", "1764.5"])
    store = CallbackStore(pool, "a")
    (due,) = await store.due(MONDAY_10)  # due at once
    assert (due.queue, due.queue_priority, due.queue_max_penalty, due.ahead) == (
        "rank-cma-cci", 1, 2, ("1764.3", "1764.5"))
    assert keeps_place(due)
    (claimed,) = await store.claim([due.id], MONDAY_10)
    assert claimed.ahead == due.ahead and claimed.try_channel == "cb-1764.9-1"
    # Nobody answered the placeholder within the queue's max wait: an ordinary (paced) callback now.
    after = transition(claimed, TryEnded("no_advisor", MONDAY_10), hotline.callbacks, hotline.hours)
    assert await store.save_try(after, MONDAY_10)
    again = await store.get("1764.9")
    assert again is not None and again.status == "pending" and not keeps_place(again)


async def test_an_ordinary_request_has_no_place(pool: asyncpg.Pool) -> None:
    await CallerHistory(pool, 8).store_callback(
        CallbackRequest("1764.10", "0612345678", MONDAY_10, None, ANSWERS, "nobody_logged_in"))
    (due,) = await CallbackStore(pool, "a").due(MONDAY_10)
    assert (due.queue, due.ahead, keeps_place(due)) == (None, (), False)
