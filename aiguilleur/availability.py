"""Availability for callers already waiting: the service's side of ``routing.rebase``.

After a live-state change that can move a queue's best tier present (a member added, removed,
paused or unpaused, or its penalty changed by someone else), wait a moment for the burst to end
(``debounce``: 0.2 s of quiet, at most ``max_delay`` after the first change), plan from the live
snapshot and send the ``QueuePenalty`` changes: queues with callers waiting first, a few at a
time. A change that fails is logged and skipped (the member logged out meanwhile, say); the AMI
link going down stops the round (the resync after the next login plans again).

It must not fight the rules engine: ``reconcile_members`` (after every AMI login and every
rules apply) puts the config's tiers back. ``RebasingRulesEngine`` runs each reconcile under
the same lock as a round and asks for a round right after it, with the hotline that then runs.
Our own ``QueueMemberPenalty`` events ask for a round too: it plans nothing once the state has
caught up, which is what ends the exchange.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog

from aiguilleur.rules import RulesEngine
from config.models import Hotline
from queues.ami import AmiError, AmiNotConnected
from queues.snapshot import LiveSnapshot
from routing.rebase import QueueMembers, plan_rebase, rebased_queue
from routing.rules import MemberChange, SetPenalty

log = structlog.get_logger(__name__)

# Member events after which the best tier present may have changed. (QueueMemberStatus is a
# device-state change of a member: it neither pauses nor logs anyone in or out.)
TRIGGER_EVENTS = frozenset({"QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause", "QueueMemberPenalty"})
DEBOUNCE_SECONDS = 0.2
MAX_DELAY_SECONDS = 1.0
IN_FLIGHT = 16


def members_by_queue(snapshot: LiveSnapshot) -> dict[str, QueueMembers]:
    """The planner's input from the live snapshot: ranking and partner queues only."""
    return {
        name: QueueMembers(
            {line: member.penalty for line, member in view.members.items()},
            frozenset(line for line, member in view.members.items() if member.paused),
        )
        for name, view in snapshot.queues.items() if rebased_queue(name)
    }


class AvailabilityRebaser:
    """Keeps each queue's penalties based on its best tier present (``routing.rebase``)."""

    def __init__(
        self,
        snapshot: Callable[[], LiveSnapshot],
        rules: Callable[[], Hotline],
        apply_change: Callable[[MemberChange], Awaitable[None]],
        *,
        debounce: float = DEBOUNCE_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        self._snapshot = snapshot
        self._rules = rules
        self._apply_change = apply_change
        self._debounce = debounce
        self._max_delay = max_delay
        self._in_flight = in_flight
        self._poked = asyncio.Event()
        self._last_poke = 0.0
        # One round at a time, and never during a reconcile (``RebasingRulesEngine``).
        self.lock = asyncio.Lock()
        self.rounds = 0  # rounds that sent something (tests, logs)

    def on_event(self, event: Mapping[str, str]) -> None:
        """Feed every AMI event (after the live state took it); member changes ask for a round."""
        if event.get("Event") in TRIGGER_EVENTS:
            self.poke()

    def poke(self) -> None:
        """Ask for a round soon (after the debounce)."""
        self._last_poke = asyncio.get_running_loop().time()
        self._poked.set()

    async def run(self) -> None:
        """Rounds until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await self._poked.wait()
            first = loop.time()
            # Trailing debounce, bounded: a steady stream of changes still gets a round every max_delay.
            while (quiet := self._last_poke + self._debounce - loop.time()) > 0:
                await asyncio.sleep(min(quiet, max(0.0, first + self._max_delay - loop.time())))
                if loop.time() >= first + self._max_delay:
                    break
            self._poked.clear()
            try:
                await self.rebase_once()
            except Exception:  # a bug in one round must not stop the next ones
                log.exception("availability.round_failed")

    async def rebase_once(self) -> int:
        """Plan from the live state now and send the changes; return how many were sent."""
        async with self.lock:
            snapshot = self._snapshot()
            if not snapshot.synced:
                return 0  # AMI down or resyncing: the reconcile after the resync asks again
            changes = plan_rebase(self._rules(), members_by_queue(snapshot))
            if not changes:
                return 0
            waiting = {name for name, view in snapshot.queues.items() if view.callers}
            changes.sort(key=lambda change: change.queue not in waiting)  # stable: callers waiting first
            started = asyncio.get_running_loop().time()
            sent = await self._send(changes)
            took = asyncio.get_running_loop().time() - started
        self.rounds += 1
        log.info("availability.rebased", changes=len(changes), sent=sent, ms=round(took * 1000, 1),
                 queues=len({c.queue for c in changes}),
                 waiting=sorted({c.queue for c in changes} & waiting))
        return sent

    async def _send(self, changes: list[SetPenalty]) -> int:
        slots = asyncio.Semaphore(self._in_flight)
        link_down = asyncio.Event()
        sent = 0

        async def one(change: SetPenalty) -> None:
            nonlocal sent
            async with slots:
                if link_down.is_set():
                    return
                try:
                    await self._apply_change(change)
                except AmiNotConnected:
                    link_down.set()
                except AmiError as error:  # e.g. the line logged out since the snapshot
                    log.warning("availability.change_failed", line=change.line, queue=change.queue,
                                penalty=change.penalty, error=str(error))
                else:
                    sent += 1

        await asyncio.gather(*(one(change) for change in changes))
        if link_down.is_set():
            log.warning("availability.link_down", planned=len(changes), sent=sent)
        return sent


class RebasingRulesEngine(RulesEngine):
    """The rules engine, with each reconcile kept out of a rebase round and followed by one."""

    def __init__(self, *args: Any, rebaser: AvailabilityRebaser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rebaser = rebaser

    async def reconcile_members(
        self, hotline: Hotline | None = None, running: Mapping[str, Mapping[str, int]] | None = None
    ) -> int:
        try:
            async with self._rebaser.lock:
                return await super().reconcile_members(hotline, running)
        finally:
            # Reconcile put the config's tiers back: base them again on who is present. The
            # debounce lets a rules apply swap the hotline first (it does right after this).
            self._rebaser.poke()
