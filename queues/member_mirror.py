"""Advisors' memberships mirrored between Asterisk nodes (issue 13): the standby is ready.

Pure: no I/O, no clock. Each node's app_queue holds its own dynamic members; a login,
logout, pause or penalty change reaches one node only (the acting one over AMI, or the node
a softphone's feature code reached). ``plan_mirror`` returns the member changes that make a
target node's memberships equal to a source node's; the adapter (``aiguilleur.mirror``)
reads both from each node's live state and sends the changes over the target's AMI link.

The rules (the adapter applies them; ``tests/unit/test_member_mirror.py`` checks this part):

- a membership is a line's seat in one queue: penalty, paused and the pause reason (the
  wrap-up comes along when a seat is created: app_queue cannot change it afterwards);
- only dynamic members are compared: static ones come from queues.conf, alike on every node
  and not removable over AMI;
- nothing is planned where the two sides already agree: mirroring an echo of a mirrored
  change yields no work, which is what keeps two-way mirroring from looping; and the echo is
  known as such (``EchoBook``): it never starts a copy back, even from a half-done login;
- order: joins, penalties, pauses, then leaves (a line is never in no queue on the way);
- when a node becomes ready (``ready_plan``): at start the configured order decides (the
  first node's memberships win); afterwards the node that comes back takes those of a node
  that stayed up.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from queues.snapshot import LiveSnapshot
from routing.rules import JoinQueue, LeaveQueue, MemberChange, SetPenalty


@dataclass(frozen=True, slots=True)
class Seat:
    """One line's membership of one queue, as far as mirroring cares."""

    penalty: int
    paused: bool = False
    reason: str = ""  # the pause reason; meaningless when not paused
    wrapup_seconds: int = 0  # 0: the queue's own (app_queue's rule for a member's zero)


# line -> queue -> seat
Membership = Mapping[str, Mapping[str, Seat]]


@dataclass(frozen=True, slots=True)
class SetPaused:
    """Pause (with ``reason``) or unpause ``line`` in one queue."""

    line: str
    queue: str
    paused: bool
    reason: str = ""


MirrorAction = MemberChange | SetPaused


def membership_from(snapshot: LiveSnapshot, lines: Collection[str] | None = None) -> dict[str, dict[str, Seat]]:
    """The dynamic memberships of a live snapshot (only ``lines`` when given)."""
    out: dict[str, dict[str, Seat]] = {}
    for name, view in snapshot.queues.items():
        for line, member in view.members.items():
            if not member.dynamic or (lines is not None and line not in lines):
                continue
            out.setdefault(line, {})[name] = Seat(member.penalty, member.paused,
                                                  member.paused_reason if member.paused else "",
                                                  member.wrapup_seconds)
    return out


def plan_mirror(source: Membership, target: Membership, lines: Collection[str] | None = None) -> list[MirrorAction]:
    """The changes that make ``target`` match ``source`` (for ``lines`` only, when given)."""
    scope = sorted(set(source) | set(target)) if lines is None else sorted(lines)
    joins: list[MirrorAction] = []
    penalties: list[MirrorAction] = []
    pauses: list[MirrorAction] = []
    leaves: list[MirrorAction] = []
    for line in scope:
        want = source.get(line, {})
        have = target.get(line, {})
        for queue in sorted(want):
            seat = want[queue]
            current = have.get(queue)
            if current is None:
                joins.append(JoinQueue(line, queue, seat.penalty, seat.wrapup_seconds))
                if seat.paused:  # a new seat starts unpaused
                    pauses.append(SetPaused(line, queue, True, seat.reason))
                continue
            if current.penalty != seat.penalty:
                penalties.append(SetPenalty(line, queue, seat.penalty))
            if current.paused != seat.paused or (seat.paused and current.reason != seat.reason):
                pauses.append(SetPaused(line, queue, seat.paused, seat.reason if seat.paused else ""))
        leaves.extend(LeaveQueue(line, queue) for queue in sorted(have) if queue not in want)
    return [*joins, *penalties, *pauses, *leaves]


# The event app_queue sends for each change (the echo of a change we made).
_ECHO_EVENT: dict[type, str] = {JoinQueue: "QueueMemberAdded", LeaveQueue: "QueueMemberRemoved",
                                SetPenalty: "QueueMemberPenalty", SetPaused: "QueueMemberPause"}


class EchoBook:
    """The member events our own changes will cause on a node, told apart from the node's own.

    Before a change is sent to a node, ``expect`` books the event app_queue will send for it
    (``QueueMemberAdded`` for a join...); ``take`` consumes a booked event when it comes: that
    event is our echo and starts no copy. Any other event is a change made on the node (an
    advisor, the other service instance), even one that comes while we are changing the node.
    A booking lapses after ``ttl`` seconds: a change that causes no event (a join of a line
    already there, app_queue's MEMBERALREADY) must not hide a later real one for long.
    """

    def __init__(self, ttl: float = 5.0) -> None:
        self._ttl = ttl
        self._booked: dict[tuple[str, str, str, str], list[float]] = {}  # (node, event, line, queue) -> until

    def expect(self, node: str, action: MirrorAction, now: float) -> None:
        self._booked.setdefault(self._key(node, action), []).append(now + self._ttl)

    def forget(self, node: str, action: MirrorAction) -> None:
        """The change was refused: no event will come for it."""
        until = self._booked.get(self._key(node, action))
        if until:
            until.pop()

    def take(self, node: str, event: str, line: str, queue: str, now: float) -> bool:
        """True (and the booking consumed) when this event is the echo of a change of ours."""
        key = (node, event, line, queue)
        until = [t for t in self._booked.pop(key, []) if t > now]
        if not until:
            return False
        until.pop(0)
        if until:
            self._booked[key] = until
        return True

    @staticmethod
    def _key(node: str, action: MirrorAction) -> tuple[str, str, str, str]:
        return node, _ECHO_EVENT[type(action)], action.line, action.queue


def ready_plan(node: str, synced: Sequence[str], compared: AbstractSet[str]) -> list[tuple[str, str]]:
    """Who takes whose memberships when ``node`` becomes ready: ``(target, source)`` pairs.

    ``synced``: the nodes up and resynced, ``node`` included, in the configured order;
    ``compared``: the nodes already reconciled with another one since the service started.
    At start nobody has been compared: the order decides, every other node takes the first
    one's. Afterwards the node that comes back takes the first other synced node's (one
    already compared, if any): it stayed up, it is the truth. Alone, nothing is planned.
    """
    others = [other for other in synced if other != node]
    if not others:
        return []
    if node not in compared and not any(other in compared for other in others):
        order = [n for n in synced if n == node or n in others]
        return [(target, order[0]) for target in order[1:]]
    truth = next((other for other in others if other in compared), others[0])
    return [(node, truth)]
