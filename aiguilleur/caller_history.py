"""What the IVR may ask the database about a caller: a recent partner, and storing callbacks.

Both are bounded in time: a slow or absent database never holds a caller in the menu.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from ivr.session import CallbackRequest

log = structlog.get_logger(__name__)

# Numbers that identify nobody: never matched to an earlier call.
_ANONYMOUS = {"", "anonymous", "unknown", "<unknown>", "restricted", "private"}


class CallerHistory:
    def __init__(self, pool: asyncpg.Pool, repeat_days: int, *, timeout_s: float = 0.5) -> None:
        self._pool = pool
        self._repeat_days = repeat_days
        self._timeout_s = timeout_s

    async def recent_partner(self, caller_number: str) -> str | None:
        """The partner that answered this number's latest call in the last ``repeat_days``."""
        if caller_number.strip().lower() in _ANONYMOUS or self._repeat_days <= 0:
            return None
        try:
            async with asyncio.timeout(self._timeout_s):
                partner: str | None = await self._pool.fetchval(
                    """SELECT partner FROM cdr
                       WHERE src = $1 AND partner IS NOT NULL
                         AND start > now() - make_interval(days => $2)
                       ORDER BY start DESC LIMIT 1""",
                    caller_number, self._repeat_days,
                )
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("ivr.history_unavailable", error=str(exc) or type(exc).__name__)
            return None
        return partner

    async def store_callback(self, request: CallbackRequest) -> None:
        """Record the callback request; a failure is logged with everything needed to call back."""
        try:
            async with asyncio.timeout(2.0):
                # Due at the next opening (closed), else at once; with the answers, so the
                # callback is routed like the call (aiguilleur.callbacks).
                # A queued request (long wait) keeps the caller's place: its queue, priority,
                # starting tier and the callers ahead of them travel with it.
                answers = request.answers
                place = request.place
                await self._pool.execute(
                    """INSERT INTO callbacks (linkedid, caller_number, requested_at, due_at, next_try_at,
                                              need, sector, size, departement, reason,
                                              queue, queue_priority, queue_max_penalty, queue_position, ahead)
                       VALUES ($1, $2, $3::timestamptz, $4::timestamptz, COALESCE($4::timestamptz, $3::timestamptz),
                               $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::text[])
                       ON CONFLICT (linkedid) DO NOTHING""",
                    request.linkedid, request.caller_number, request.requested_at, request.next_opening,
                    answers.get("need"), answers.get("sector"), answers.get("size"), answers.get("departement"),
                    request.reason, place.queue if place else None, place.priority if place else 0,
                    place.max_penalty if place else 0, place.position if place else None,
                    list(place.ahead) if place else [],
                )
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.error("ivr.callback_not_stored", caller=request.caller_number,
                      due=request.next_opening.isoformat() if request.next_opening else None, error=str(exc))
            return
        log.info("ivr.callback_stored", caller=request.caller_number, reason=request.reason,
                 queue=request.place.queue if request.place else None,
                 position=request.place.position if request.place else None)
