"""One hotline view over several Asterisk nodes' live states (issue 13). Pure: snapshots in, a snapshot out.

Kamailio fronts the nodes: a caller waits on one node only, a line registered to Kamailio
talks on one node only, but a line's memberships are mirrored on every node (the same
queues.conf, the same logins). Each node's ``LiveState`` (``aiguilleur.service``: the first,
acting node's; ``aiguilleur.nodes.NodeFollower``: the others') gives its own snapshot;
``merge_snapshots`` makes the one view the web renders, as if one Asterisk held every call.

The rules
---------
1. **Which nodes count.** The *contributing* nodes are the synced ones; when none is synced,
   every node (the view then reads ``synced=False``, as one node's unsynced state does). A node
   whose link is down keeps its last state, calls and all; after a kill those calls are gone, so
   its state must not hide or double what the surviving node says: the merged view then matches
   ``queue show`` on the surviving node.
2. **Callers.** A queue's callers are every contributing node's callers of that queue, ordered
   by join time (the longest wait first; ties: the followed order, then each node's position),
   renumbered 1..n. Caller ``uniqueid``s are not deduplicated: each caller is on one node.
3. **A line's status.** The strongest of its statuses on the contributing nodes, in this order:
   busy, ringing, paused, wrap-up, available, unavailable, logged out (ties: the followed
   order). Talking or ringing on one node wins over available on the other (the other node's
   device state does not see a call it does not carry); a line paused on one synced node is
   paused even if the other node was never told (the desk acts through the first node). The
   winning node gives the line's call, times and device state; ``queues`` and
   ``paused_queues`` are the union (in the followed order), the pause reason and start come
   from a node where it is paused, ``calls_taken`` is the sum (each call was taken on one
   node) and ``last_call`` the latest.
4. **A queue's members.** The union of the contributing nodes' members by line; the line's
   winning node gives the membership (penalty, interface, wrap-up), else the first node that
   lists it. ``paused`` and ``in_call`` when so on any contributing node (reason: the first
   paused one's), ``calls_taken`` summed, ``last_call`` the latest.
5. **Counters and figures.** A queue's ``completed`` and ``abandoned`` are summed, its recent
   handle times concatenated (followed order), Asterisk's talk time averaged weighted by
   ``completed``, its strategy the first one known. ``drift`` is the contributing nodes' sum.
6. **The snapshot.** ``synced``: at least one node is synced; ``nodes`` gives every node's
   ``NodeStatus`` (``unsynced_nodes`` names those that are not). ``now``: the newest time of
   any node. ``version``: the sum of the nodes' versions (each only grows, so the sum changes
   whenever any node's state does: the web's live feed polls it). ``escalation``: the first
   node's (the same hotline rules run everywhere).

A merge of one node is that node's snapshot itself, unchanged (no ``nodes``): the single-node
service sees no difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Final, Protocol

from queues.snapshot import LineState, LineStatus, LiveSnapshot, NodeStatus, QueueMember, QueueView

# Rule 3: the lower, the stronger.
STATUS_STRENGTH: Final[Mapping[LineStatus, int]] = MappingProxyType({
    "busy": 0, "ringing": 1, "paused": 2, "wrapup": 3, "available": 4, "unavailable": 5, "logged_out": 6,
})


class SnapshotSource(Protocol):
    """``queues.state.LiveState``, as far as the merge reads it."""

    def snapshot(self) -> LiveSnapshot: ...


def node_status(node: str, snapshot: LiveSnapshot) -> NodeStatus:
    """One node's own figures: callers waiting, lines logged in (a member somewhere), lines talking."""
    return NodeStatus(
        node=node,
        synced=snapshot.synced,
        waiting=sum(len(view.callers) for view in snapshot.queues.values()),
        lines_logged_in=sum(1 for line in snapshot.lines.values() if line.status != "logged_out"),
        lines_busy=sum(1 for line in snapshot.lines.values() if line.status == "busy"),
    )


def _union(groups: Iterable[Iterable[str]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for group in groups for item in group))


def _latest(values: Iterable[float | None]) -> float | None:
    return max((v for v in values if v is not None), default=None)


def _merge_line(states: list[LineState]) -> LineState:
    """Rule 3; ``states`` in the followed order."""
    winner = min(states, key=lambda s: STATUS_STRENGTH.get(s.status, len(STATUS_STRENGTH)))
    paused_on = next((s for s in ([winner, *states]) if s.paused_queues), winner)
    return replace(
        winner,
        queues=_union(s.queues for s in states),
        paused_queues=_union(s.paused_queues for s in states),
        paused_reason=paused_on.paused_reason,
        paused_since=paused_on.paused_since,
        calls_taken=sum(s.calls_taken for s in states),
        last_call=_latest(s.last_call for s in states),
    )


def _merge_member(members: list[QueueMember], preferred: QueueMember | None) -> QueueMember:
    """Rule 4; ``members`` in the followed order, ``preferred`` the line's winning node's one."""
    base = preferred or members[0]
    paused = next((m for m in members if m.paused), None)
    return replace(
        base,
        paused=paused is not None,
        paused_reason=paused.paused_reason if paused is not None else base.paused_reason,
        in_call=any(m.in_call for m in members),
        calls_taken=sum(m.calls_taken for m in members),
        last_call=_latest(m.last_call for m in members),
    )


def _merge_queue(name: str, nodes: list[tuple[int, LiveSnapshot]], winner_of: Mapping[str, int]) -> QueueView:
    """Rules 2, 4 and 5 for one queue; ``nodes``: (followed index, snapshot) of the contributing ones."""
    views = [(index, snap.queues[name]) for index, snap in nodes if name in snap.queues]
    ordered = sorted(((c.joined_at, index, c.position, c) for index, view in views for c in view.callers),
                     key=lambda entry: entry[:3])
    callers = tuple(replace(c, position=position)
                    for position, (_joined, _index, _pos, c) in enumerate(ordered, start=1))
    by_line: dict[str, list[tuple[int, QueueMember]]] = {}
    for index, view in views:
        for line, member in view.members.items():
            by_line.setdefault(line, []).append((index, member))
    members = {}
    for line, found in by_line.items():
        preferred = next((m for index, m in found if index == winner_of.get(line)), None)
        members[line] = _merge_member([m for _index, m in found], preferred)
    completed = sum(view.completed for _index, view in views)
    talk_time = (round(sum(view.asterisk_talk_time * view.completed for _index, view in views) / completed)
                 if completed else max((view.asterisk_talk_time for _index, view in views), default=0))
    return QueueView(
        name=name,
        callers=callers,
        members=MappingProxyType(members),
        recent_handle_times=tuple(t for _index, view in views for t in view.recent_handle_times),
        strategy=next((view.strategy for _index, view in views if view.strategy), ""),
        completed=completed,
        abandoned=sum(view.abandoned for _index, view in views),
        asterisk_talk_time=talk_time,
    )


def merge_snapshots(by_node: Mapping[str, LiveSnapshot]) -> LiveSnapshot:
    """The one hotline view of every followed node's snapshot (the rules: this module's docstring).

    ``by_node`` in the followed order (the acting node first); a single node's snapshot is
    returned as it is.
    """
    if not by_node:
        raise ValueError("no node to merge")
    snapshots = list(by_node.values())
    if len(snapshots) == 1:
        return snapshots[0]
    indexed = list(enumerate(snapshots))
    contributing = [(i, s) for i, s in indexed if s.synced] or indexed
    lines: dict[str, list[tuple[int, LineState]]] = {}
    for index, snap in contributing:
        for line_id, state in snap.lines.items():
            lines.setdefault(line_id, []).append((index, state))
    merged_lines: dict[str, LineState] = {}
    winner_of: dict[str, int] = {}
    for line_id, found in lines.items():
        index, _state = min(found, key=lambda f: STATUS_STRENGTH.get(f[1].status, len(STATUS_STRENGTH)))
        winner_of[line_id] = index
        merged_lines[line_id] = _merge_line([state for _index, state in found])
    names = _union(snap.queues for _index, snap in contributing)
    return LiveSnapshot(
        queues=MappingProxyType({name: _merge_queue(name, contributing, winner_of) for name in names}),
        lines=MappingProxyType(merged_lines),
        now=max(s.now for s in snapshots),
        synced=any(s.synced for s in snapshots),
        version=sum(s.version for s in snapshots),
        drift=sum(s.drift for _index, s in contributing),
        escalation=snapshots[0].escalation,
        nodes=tuple(node_status(node, snap) for node, snap in by_node.items()),
    )


class MergedLive:
    """A ``LiveSource`` over every followed node: ``snapshot()`` merges theirs, rebuilt only when one changed.

    ``nodes`` is read on every call (``aiguilleur.service.Service.live_by_node``): each node's
    ``LiveState.snapshot()`` is itself cached until its state changes, so an unchanged poll
    (the web's live feed, every 0.1 s) costs one comparison per node.
    """

    def __init__(self, nodes: Callable[[], Mapping[str, SnapshotSource]]) -> None:
        self._nodes = nodes
        self._key: tuple[tuple[str, int], ...] | None = None
        self._merged: LiveSnapshot | None = None

    def by_node(self) -> dict[str, LiveSnapshot]:
        """Each node's own snapshot now, in the followed order."""
        return {node: source.snapshot() for node, source in self._nodes().items()}

    def snapshot(self) -> LiveSnapshot:
        snapshots = self.by_node()
        key = tuple((node, snap.version) for node, snap in snapshots.items())
        if self._merged is None or key != self._key:
            self._merged, self._key = merge_snapshots(snapshots), key
        return self._merged
