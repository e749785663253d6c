"""Resync the live queue state (``queues.state``) from Asterisk after every AMI (re)login.

Events sent while the AMI link was down are lost (design.md, "Known library
gaps"), and an Asterisk restart forgets callers, pauses and calls: so after
every login the state is rebuilt from ``QueueStatus`` (read-only, so sent
with ``idempotent=True``) and replaces the old one wholesale. Wiring, in the
composition root::

    state = LiveState(StateConfig.from_hotline(hotline))
    ami = AmiClient(
        settings.ami,
        on_event=state.apply,                      # with the other consumers of events
        on_ready=lambda: resync_into(state, ami),  # awaited after each login
        on_down=state.mark_unsynced,
    )
    expiry = asyncio.create_task(expire_periodically(state))  # cancelled at shutdown

The wall clock is read here, never in the reducer: QueueStatus items carry no
``Timestamp``, so the seed is stamped when the reply arrives (QueueEntry's
``Wait`` is in whole seconds, so a resynced caller's ``joined_at`` is good to
about a second), and ``expire_periodically`` ends wrap-ups when no event does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

import structlog

from queues.ami import AmiActionError, AmiActionTimeout, AmiClient
from queues.state import LiveState
from queues.state_seed import LiveStateSeed, seed_from_queue_status

log = structlog.get_logger(__name__)

Clock = Callable[[], float]
RESYNC_ATTEMPTS: Final = 3
RETRY_DELAY: Final = 0.5


async def resync(ami: AmiClient, *, clock: Clock = time.time, timeout: float | None = None) -> LiveStateSeed:  # noqa: ASYNC109
    """Ask Asterisk for QueueStatus and return it as a seed stamped with ``clock()``.

    Raises what ``AmiClient.send`` raises, and ``ValueError`` for a reply cut
    short (no QueueStatusComplete).
    """
    replies = await ami.send({"Action": "QueueStatus"}, idempotent=True, timeout=timeout)
    return seed_from_queue_status(replies, taken_at=clock())


async def resync_into(
    state: LiveState,
    ami: AmiClient,
    *,
    clock: Clock = time.time,
    timeout: float | None = None,  # noqa: ASYNC109
    attempts: int = RESYNC_ATTEMPTS,
) -> None:
    """Replace ``state`` with Asterisk's QueueStatus, replaying the events that came meanwhile.

    Retries a timed-out or refused QueueStatus up to ``attempts`` times; if
    all fail (or the link drops: ``AmiNotConnected`` propagates, and the next
    login resyncs again) the state is left as it was, ``synced`` False.
    """
    for attempt in range(1, attempts + 1):
        state.begin_resync()
        loaded = False
        try:
            started = time.perf_counter()
            seed = await resync(ami, clock=clock, timeout=timeout)
            state.load(seed)
            loaded = True
        except (AmiActionTimeout, AmiActionError, ValueError) as exc:
            log.warning("queue_state.resync_failed", attempt=attempt, attempts=attempts, error=str(exc))
        finally:
            if not loaded:
                state.abort_resync()
        if loaded and state.synced:
            log.info(
                "queue_state.resynced",
                queues=len(seed.queues),
                members=len(seed.members),
                callers=len(seed.entries),
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
            return
        if loaded:  # loaded, but more events came meanwhile than the replay buffer holds
            log.warning("queue_state.resync_overflowed", attempt=attempt, attempts=attempts)
        if attempt < attempts:
            await asyncio.sleep(RETRY_DELAY * attempt)
    log.error("queue_state.resync_gave_up", attempts=attempts)


async def expire_periodically(state: LiveState, *, interval: float = 1.0, clock: Clock = time.time) -> None:
    """Advance the state's time every ``interval`` seconds so wrap-ups end without events; run as a task."""
    while True:
        state.expire(clock())
        await asyncio.sleep(interval)
