"""Booked appointments in PostgreSQL (``appointments`` table, migration 0009).

The slot is held by the row itself: ``UNIQUE (office_id, starts_at)``. Two advisors booking
the same slot at once both INSERT; PostgreSQL lets one in and gives the other a unique
violation, raised here as ``SlotTaken`` (HTTP 409 ``slot_taken``). Nothing is held in memory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg


class SlotTaken(Exception):
    code = "slot_taken"


@dataclass(frozen=True, slots=True)
class Booking:
    id: int
    partner_id: str
    office_id: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    linkedid: str | None
    caller_email: str
    postcode: str
    commune_code: str | None
    booked_by: str


async def booked_starts(
    pool: asyncpg.Pool, office_id: str, since: dt.datetime, until: dt.datetime,
) -> list[dt.datetime]:
    rows = await pool.fetch(
        "SELECT starts_at FROM appointments WHERE office_id = $1 AND starts_at >= $2 AND starts_at < $3",
        office_id, since, until)
    return [r["starts_at"] for r in rows]


async def book(pool: asyncpg.Pool, *, partner_id: str, office_id: str, starts_at: dt.datetime,
               ends_at: dt.datetime, linkedid: str | None, caller_email: str, postcode: str,
               commune_code: str | None, booked_by: str) -> Booking:
    try:
        row = await pool.fetchrow(
            """INSERT INTO appointments (partner_id, office_id, starts_at, ends_at, linkedid, caller_email,
                                         postcode, commune_code, booked_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
            partner_id, office_id, starts_at, ends_at, linkedid, caller_email, postcode, commune_code, booked_by)
    except asyncpg.UniqueViolationError:
        raise SlotTaken(f"the slot {starts_at.isoformat()} at {office_id} was just booked by someone else") from None
    assert row is not None
    return Booking(row["id"], partner_id, office_id, starts_at, ends_at, linkedid, caller_email, postcode,
                   commune_code, booked_by)


async def mark_sent(pool: asyncpg.Pool, booking_id: int, error: str | None) -> None:
    await pool.execute(
        "UPDATE appointments SET email_sent_at = CASE WHEN $2::text IS NULL THEN now() END, email_error = $2 "
        "WHERE id = $1", booking_id, error)
