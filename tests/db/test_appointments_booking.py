"""Slot booking on the real PostgreSQL: two bookings of one slot at once, one wins, one is refused."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest

from appointments.store import SlotTaken, book, booked_starts

pytestmark = pytest.mark.db

PARIS = dt.timezone(dt.timedelta(hours=1))
SLOT = dt.datetime(2026, 11, 23, 11, 15, tzinfo=PARIS)



async def _book(pool: asyncpg.Pool, who: str, office: str = "cci_lille") -> object:
    return await book(pool, partner_id="cci", office_id=office, starts_at=SLOT,
                      ends_at=SLOT + dt.timedelta(minutes=45), linkedid=f"{who}.1",
                      caller_email=f"{who}@example.org", postcode="59000", commune_code="59350", booked_by=who)


async def test_two_advisors_booking_one_slot_at_once_one_wins_one_is_told(pool: asyncpg.Pool) -> None:
    for _ in range(5):  # several rounds: the race is real, every round must end the same way
        await pool.execute("TRUNCATE appointments")
        gate = asyncio.Event()

        async def racer(who: str, gate: asyncio.Event = gate) -> object:
            await gate.wait()
            try:
                return await _book(pool, who)
            except SlotTaken as exc:
                return exc

        tasks = [asyncio.create_task(racer(name)) for name in ("anne", "bruno", "chloe")]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(*tasks)
        won = [r for r in results if not isinstance(r, SlotTaken)]
        lost = [r for r in results if isinstance(r, SlotTaken)]
        assert len(won) == 1 and len(lost) == 2
        assert "just booked by someone else" in str(lost[0])
        assert await pool.fetchval("SELECT count(*) FROM appointments") == 1


async def test_the_same_time_at_another_office_is_free(pool: asyncpg.Pool) -> None:
    await _book(pool, "anne", "cci_lille")
    await _book(pool, "bruno", "cci_arras")
    assert await booked_starts(pool, "cci_lille", SLOT - dt.timedelta(days=1), SLOT + dt.timedelta(days=1)) == [SLOT]
    with pytest.raises(SlotTaken):
        await _book(pool, "chloe", "cci_arras")
