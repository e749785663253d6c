"""Following several Asterisk nodes (issue 13): one AMI link per node, each with its own resync.

Each node has its own ``CdrCorrelator`` (records and queue_log rows carry the node) and its own
``LiveState``, all feeding the one CDR writer. The first node is the acting one: the service's
actions (logins, rules, callbacks) go to it, wired in ``aiguilleur.service``; the others are
followed here (``NodeFollower``).

A node that dies under its calls (kill -9, power) sends no hang-up for them. ``NodeWatch``
learns it and lets the correlator end them (``CdrCorrelator.close_all_lost``, the decision in
pure code): when the link comes back and Asterisk's start time (AMI ``CoreStatus``:
``CoreStartupDate`` + ``CoreStartupTime``) differs from the one seen before the loss, the node
restarted: every call still open was cut by it, at the moment the link was lost. A link lost
while Asterisk kept running (a network cut, our own ping timeout) leaves them open: their
hang-ups still come, or recovery rebuilds them. A node unreachable ``lost_after`` seconds has
its calls closed too (a machine that never comes back).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from cdr.correlator import CdrCorrelator, CdrItem
from config.settings import AmiSettings
from queues.ami import AmiClient, AmiError
from queues.resync import expire_periodically, resync_into
from queues.state import LiveState
from routing.router import QueueOutlook

log = structlog.get_logger(__name__)

Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def core_startup(ami: AmiClient) -> str | None:
    """When this Asterisk started (``CoreStatus``), as it says it; None when it would not say."""
    try:
        [reply, *_] = await ami.send({"Action": "CoreStatus"}, idempotent=True)
    except AmiError as error:
        log.warning("node.core_status_failed", error=str(error))
        return None
    date, time = reply.get("CoreStartupDate"), reply.get("CoreStartupTime")
    return f"{date} {time}" if date and time else None


def first_synced_outlook(states: Sequence[LiveState]) -> Callable[[str], QueueOutlook | None]:
    """The IVR's view of a queue (expected wait, callers ahead) on the first node in the followed
    order whose live state is synced: the active node, and after a failover the standby that took
    the calls (the dead node's state is unsynced from the moment its link drops)."""
    def outlook(queue: str) -> QueueOutlook | None:
        for state in states:
            if state.synced:
                return state.outlook(queue)
        return None

    return outlook


@dataclass
class NodeWatch:
    """Tells when a node died under its calls; the node's correlator then records them lost."""

    node: str
    correlator: CdrCorrelator
    submit: Callable[[CdrItem], None]
    lost_after: float | None = None
    clock: Clock = _utc_now
    startup: str | None = None  # the node's start time, as last seen
    lost_at: dt.datetime | None = None  # when the link was lost, until it is back
    _timer: asyncio.Task[None] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def link_down(self) -> None:
        if self.lost_at is None:
            self.lost_at = self.clock()
        # Stopping the service drops the link too: no timer may outlive the stop.
        if self.lost_after is not None and self._timer is None and not self._stopped:
            self._timer = asyncio.get_running_loop().create_task(self._close_later(self.lost_after),
                                                                 name=f"node-{self.node}-lost-after")

    async def link_up(self, ami: AmiClient) -> None:
        """After each login: close the calls a restart cut, then remember the start time."""
        startup = await core_startup(ami)
        if self.lost_at is not None and startup is not None and self.startup is not None and startup != self.startup:
            self.close_lost("restarted", started=startup)
        self.lost_at = None
        self._cancel_timer()
        if startup is not None:
            self.startup = startup

    def close_lost(self, reason: str, **context: str) -> int:
        """Record every call still open on the node as lost_by_pbx at the link loss; how many."""
        at = self.lost_at or self.clock()
        records = self.correlator.close_all_lost(at)
        for record in records:
            self.submit(record)
        log.warning("node.calls_lost", node=self.node, reason=reason, calls=len(records),
                    link_lost_at=at.isoformat(), linkedids=[r.linkedid for r in records][:50], **context)
        return len(records)

    async def _close_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._timer = None
        if self.lost_at is not None:
            self.close_lost("unreachable", after_seconds=str(delay))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def stop(self) -> None:
        """Cancel the pending loss timer and wait for it to end; later link losses start none."""
        self._stopped = True
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)


@dataclass
class NodeFollower:
    """A node followed for its records and its live state only (no actions are sent to it)."""

    node: str
    ami: AmiClient
    correlator: CdrCorrelator
    live: LiveState
    watch: NodeWatch
    # Set when recovery from the node's own files should run now (its link came back, or a call
    # we did not see begin ended): read by the node's recovery task, where it has one.
    recovery_wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, node: str, settings: AmiSettings, correlator: CdrCorrelator, live: LiveState,
              submit: Callable[[CdrItem], None], *, lost_after: float | None,
              after_event: Callable[[dict[str, str]], None] | None = None,
              after_ready: Callable[[], Awaitable[None]] | None = None) -> NodeFollower:
        """``after_event``/``after_ready``: more work once the node's own is done (``aiguilleur.mirror``)."""
        watch = NodeWatch(node, correlator, submit, lost_after)
        recovery_wake = asyncio.Event()

        def on_event(event: dict[str, str]) -> None:
            if correlator.ended_unseen(event):
                recovery_wake.set()
            for item in correlator.feed(event):
                submit(item)
            live.apply(event)
            if after_event is not None:
                after_event(event)

        def on_down() -> None:
            live.mark_unsynced()
            watch.link_down()

        async def on_ready() -> None:
            recovery_wake.set()
            await watch.link_up(ami)
            await resync_into(live, ami)
            if after_ready is not None:
                await after_ready()

        ami = AmiClient(settings, on_event=on_event, on_ready=on_ready, on_down=on_down)
        return cls(node, ami, correlator, live, watch, recovery_wake)

    async def start(self) -> None:
        await self.ami.start()
        self.tasks.append(asyncio.create_task(expire_periodically(self.live), name=f"live-expiry-{self.node}"))

    async def stop(self) -> None:
        await self.ami.stop()
        await self.watch.stop()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        log.info("node.stopped", node=self.node, open_calls=self.correlator.open_calls())
