"""Advisors' logins and pauses applied to every node, so the standby is ready (issue 13).

Each followed node has its own AMI link and live state (``aiguilleur.nodes``); this adapter
reads memberships from the live states and sends what ``queues.member_mirror.plan_mirror``
plans through an ``AdvisorDesk`` on the target node's link. The policy, symmetric:

- **a change on a node** (``QueueMemberAdded/Removed/Pause/Penalty`` from node X, once X's
  live state took it): after ``settle`` seconds without a member event of that line, every
  other synced node is reconciled to X for that line. The settle lets a login loop (one
  AddQueueMember per queue) finish, so no node is copied half-way;
- **a node ready** (AMI login + resync done: it restarted, or its link came back): the node is
  reconciled, every line, to another node that is up and synced: the node that stayed up is
  the truth. At start (no node compared with another yet) the configured order decides, not
  who logged in first: every node takes the first node's memberships
  (``queues.member_mirror.ready_plan``);
- **loop-free**: a change is planned only where the live states differ, so the echo of a
  mirrored change (its events on the target) yields no work; and each change sent books the
  event it will cause (``queues.member_mirror.EchoBook``): that event, when it comes, starts
  no copy back (a copy back from a half-done login would undo its end). Events of a node not
  synced start nothing either: the node is reconciled as a whole when it is ready;
- **idempotent**: two service instances may mirror the same change at once. Joining a line
  already in the queue is app_queue's MEMBERALREADY (the dialplan goes on), leaving twice is
  "not there" (ignored by the desk); any other refusal (a penalty or pause of a member that
  just left) is logged and skipped: the next event reconciles again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from config.models import Hotline
from queues.advisors import AdvisorDesk, AdvisorError
from queues.ami import AmiClient, AmiError
from queues.member_mirror import EchoBook, MirrorAction, membership_from, plan_mirror, ready_plan
from queues.state import LiveState, member_line

log = structlog.get_logger(__name__)

# The events after which a line's memberships may differ between nodes (QueueMemberStatus
# and Ringinuse change neither penalty, pause nor membership).
MEMBER_EVENTS = frozenset({"QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause", "QueueMemberPenalty"})
SETTLE_SECONDS = 0.5
ECHO_TTL_SECONDS = 5.0


@dataclass
class _Node:
    name: str
    ami: AmiClient
    live: LiveState
    desk: AdvisorDesk


class MembershipMirror:
    """Keeps the dynamic memberships of every followed node alike (see the module docstring).

    Built empty before the AMI clients (their callbacks call it), then each node is
    ``attach``-ed, in the configured order, before its link starts.
    """

    def __init__(self, rules: Callable[[], Hotline], *, settle: float = SETTLE_SECONDS,
                 echo_ttl: float = ECHO_TTL_SECONDS) -> None:
        self._rules = rules
        self._settle = settle
        self._echoes = EchoBook(echo_ttl)
        self._nodes: dict[str, _Node] = {}
        self._source: dict[str, str] = {}  # line -> the node whose change is to be copied
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._compared: set[str] = set()  # nodes reconciled with another since the start (ready_plan)
        self._stopped = False

    def attach(self, name: str, ami: AmiClient, live: LiveState) -> None:
        self._nodes[name] = _Node(name, ami, live, AdvisorDesk(ami, self._rules))

    def event_hook(self, name: str) -> Callable[[dict[str, str]], None]:
        """``on_event`` of node ``name``, for its follower (``NodeFollower.build(after_event=)``)."""
        return lambda event: self.on_event(name, event)

    def ready_hook(self, name: str) -> Callable[[], Awaitable[None]]:
        """``on_ready`` of node ``name``, for its follower (``NodeFollower.build(after_ready=)``)."""
        return lambda: self.on_ready(name)

    # ------------------------------------------------------------------ the two triggers

    def on_event(self, name: str, event: Mapping[str, str]) -> None:
        """After node ``name``'s live state took ``event``: a member change schedules its line."""
        if self._stopped or event.get("Event") not in MEMBER_EVENTS:
            return
        node = self._nodes.get(name)
        if node is None or not node.live.synced:
            return  # a node not resynced yet is reconciled as a whole when it is ready
        line, _ = member_line(event)
        if not line:
            return
        loop = asyncio.get_running_loop()
        if not self._echoes.take(name, event.get("Event", ""), line, event.get("Queue", ""), loop.time()):
            self._source[line] = name
        if line not in self._source:
            return
        # Settle: any member event of the line (echo or not) pushes the copy back.
        timer = self._timers.pop(line, None)
        if timer is not None:
            timer.cancel()
        self._timers[line] = loop.call_later(self._settle, self._fire, line)

    async def on_ready(self, name: str) -> None:
        """After node ``name``'s login and resync: reconcile it to the node that stayed up (at
        start: every node to the first one, in the configured order)."""
        if self._stopped or name not in self._nodes:
            return
        synced = [n.name for n in self._nodes.values() if n.live.synced and n.ami.connected]
        plan = ready_plan(name, synced, self._compared)
        if not plan:
            log.info("mirror.ready_alone", node=name)
            return
        for target, source in plan:
            # The target's own changes seen before now are not the truth: drop their pending copies.
            for line in [line for line, origin in self._source.items() if origin == target]:
                self._drop(line)
            self._compared |= {target, source}
            if target == name:  # the node is ready once it holds the others' members
                await self._reconcile_node(self._nodes[target], self._nodes[source])
            else:  # another node (at start, one that was ready first): not this node's readiness
                self._spawn(self._reconcile_node(self._nodes[target], self._nodes[source]), f"mirror-node-{target}")

    async def _reconcile_node(self, target: _Node, source: _Node) -> None:
        actions = plan_mirror(membership_from(source.live.snapshot()), membership_from(target.live.snapshot()))
        log.info("mirror.node_ready", node=target.name, truth=source.name, changes=_count(actions),
                 lines=len({a.line for a in actions}))
        for line in sorted({a.line for a in actions}):
            async with self._lock(line):
                await self._apply(target, [a for a in actions if a.line == line])

    # ------------------------------------------------------------------ the work

    def _fire(self, line: str) -> None:
        self._timers.pop(line, None)
        source = self._source.pop(line, None)
        if source is None or self._stopped:
            return
        self._spawn(self._copy_line(line, source), f"mirror-{line}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("mirror.failed", task=task.get_name(), error=repr(task.exception()))

    async def _copy_line(self, line: str, name: str) -> None:
        """Every other synced node takes node ``name``'s memberships of ``line``."""
        async with self._lock(line):
            source = self._nodes[name]
            if not source.live.synced:
                return
            want = membership_from(source.live.snapshot(), {line})
            for target in self._nodes.values():
                if target.name == name or not target.live.synced or not target.ami.connected:
                    continue
                actions = plan_mirror(want, membership_from(target.live.snapshot(), {line}), {line})
                if not actions:
                    continue
                log.info("mirror.copy", line=line, source=name, target=target.name, changes=_count(actions))
                self._compared |= {name, target.name}
                await self._apply(target, actions)

    async def _apply(self, target: _Node, actions: list[MirrorAction]) -> None:
        loop = asyncio.get_running_loop()
        for action in actions:
            self._echoes.expect(target.name, action, loop.time())  # booked first: the event may beat the reply
            try:
                await target.desk.apply_change(action)
            except (AmiError, AdvisorError) as error:
                self._echoes.forget(target.name, action)
                # Per-action refusals are skipped, not fatal: the next event reconciles again.
                log.warning("mirror.change_refused", node=target.name, change=repr(action), error=str(error))

    def _lock(self, line: str) -> asyncio.Lock:
        return self._locks.setdefault(line, asyncio.Lock())

    def _drop(self, line: str) -> None:
        self._source.pop(line, None)
        timer = self._timers.pop(line, None)
        if timer is not None:
            timer.cancel()

    async def stop(self) -> None:
        """Cancel the pending copies and wait for those running (after the AMI links are down)."""
        self._stopped = True
        for line in list(self._timers):
            self._drop(line)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _count(actions: list[MirrorAction]) -> dict[str, int]:
    """How many changes of each kind (a login is one join per queue: 58 in the sandbox)."""
    return dict(Counter(type(action).__name__ for action in actions))
