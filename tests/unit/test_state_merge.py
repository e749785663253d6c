"""The one hotline view over two Asterisk nodes (``queues.state_merge``, issue 13), and the screen pop's calls.

Both nodes' states are booted from the same recorded QueueStatus (memberships are mirrored:
the same queues.conf, the same logins), then fed AMI traffic recorded on the sandbox
Asterisk 22, as each node's follower does.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from cdr.correlator import CdrCorrelator
from config.models import Hotline
from queues.ami_parse import parse_ami_stream
from queues.snapshot import LiveSnapshot
from queues.state import LiveState
from queues.state_merge import MergedLive, merge_snapshots
from tests.web.conftest import booted_live
from web.metrics import Health, render
from web.wallboard import PartnerInfo, build, node_rows
from web.wiring import CorrelatorCalls, followed_correlators

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
Event = dict[str, str]


def recorded(name: str, *, until: str | None = None) -> list[Event]:
    """The events of a recorded trace, up to and including the first ``until`` event; without the
    login's FullyBooted (the trace's own link: replayed into a synced state, it would unsync it)."""
    events: list[Event] = []
    for message in parse_ami_stream((FIXTURES / name).read_bytes()):
        if message.get("Event") in (None, "FullyBooted"):
            continue
        events.append(dict(message))
        if message["Event"] == until:
            break
    return events


def feed(live: LiveState, events: list[Event]) -> None:
    for event in events:
        live.apply(event)


def pause_everywhere(live: LiveState, line: str, reason: str) -> None:
    """The line paused in each of its queues (the recorded QueueMemberPause, re-addressed)."""
    template = next(e for e in recorded("member_changes.raw") if e["Event"] == "QueueMemberPause")
    for queue in live.snapshot().lines[line].queues:
        live.apply({**template, "Queue": queue, "MemberName": line, "Interface": f"PJSIP/{line}",
                    "StateInterface": f"PJSIP/{line}", "Status": "1", "PausedReason": reason,
                    "Membership": "static"})


@pytest.fixture
def nodes(hotline: Hotline) -> dict[str, LiveState]:
    return {"a": booted_live(hotline), "b": booted_live(hotline)}


def merged(nodes: dict[str, LiveState]) -> LiveSnapshot:
    return merge_snapshots({name: live.snapshot() for name, live in nodes.items()})


def partners(hotline: Hotline) -> list[PartnerInfo]:
    return [PartnerInfo(p.id, p.name, tuple(p.line_ids())) for p in hotline.partners]


def test_caller_waiting_on_the_standby_shows_on_the_wallboard(nodes: dict[str, LiveState], hotline: Hotline) -> None:
    feed(nodes["b"], recorded("answered_call.raw", until="QueueCallerJoin"))
    view = merged(nodes)
    [caller] = view.queues["sector-crafts"].callers
    assert (caller.uniqueid, caller.caller_number, caller.position) == ("1795457944.3", "0320123456", 1)
    board = build(view, partners(hotline), {}, view.now + 5)
    assert board.waiting == 1 and board.synced
    assert [c.number for q in board.queues if q.name == "sector-crafts" for c in q.callers] == ["0320123456"]


def test_callers_of_both_nodes_wait_in_one_queue_longest_wait_first(nodes: dict[str, LiveState]) -> None:
    early = recorded("queue_abandon_call.raw", until="QueueCallerJoin")  # joined at ...026, on b
    late = recorded("answered_call.raw", until="QueueCallerJoin")  # joined at ...951 (earlier), on a
    feed(nodes["b"], early)
    feed(nodes["a"], late)
    callers = merged(nodes).queues["sector-crafts"].callers
    assert [(c.uniqueid, c.position) for c in callers] == [("1795457944.3", 1), ("1795460017.0", 2)]
    assert [c.position for c in nodes["b"].snapshot().queues["sector-crafts"].callers] == [1]


def test_a_line_talking_on_the_standby_is_busy_though_available_on_the_active(nodes: dict[str, LiveState]) -> None:
    feed(nodes["b"], recorded("answered_call.raw", until="AgentConnect"))
    assert nodes["a"].snapshot().lines["cma-07"].status == "available"
    line = merged(nodes).lines["cma-07"]
    assert line.status == "busy" and line.caller_uniqueid == "1795457944.3" and line.call_queue == "sector-crafts"
    assert merged(nodes).queues["sector-crafts"].callers == ()  # answered: it left the queue


def test_a_line_ringing_on_one_node_is_ringing(nodes: dict[str, LiveState]) -> None:
    feed(nodes["a"], recorded("answered_call.raw", until="AgentCalled"))
    assert merged(nodes).lines["cma-07"].status == "ringing"


def test_a_line_paused_on_the_acting_node_only_is_paused(nodes: dict[str, LiveState]) -> None:
    """The desk pauses through the first node: the other one never hears of it."""
    pause_everywhere(nodes["a"], "cci-02", "dejeuner")
    view = merged(nodes)
    line = view.lines["cci-02"]
    assert line.status == "paused" and line.paused_reason == "dejeuner"
    assert set(line.paused_queues) == set(line.queues)
    assert all(view.queues[q].members["cci-02"].paused for q in line.queues)
    assert nodes["b"].snapshot().lines["cci-02"].status == "available"


def test_a_line_talking_on_one_node_and_paused_on_the_other_is_busy(nodes: dict[str, LiveState]) -> None:
    pause_everywhere(nodes["a"], "cma-07", "dejeuner")
    feed(nodes["b"], recorded("answered_call.raw", until="AgentConnect"))
    line = merged(nodes).lines["cma-07"]
    assert line.status == "busy" and line.paused_reason == "dejeuner" and line.paused_queues


def test_a_node_whose_link_is_lost_is_left_out_and_named(nodes: dict[str, LiveState], hotline: Hotline) -> None:
    """After a kill of node a its last state (callers, calls) is stale: the view is node b's."""
    feed(nodes["a"], recorded("queue_abandon_call.raw", until="QueueCallerJoin"))
    feed(nodes["a"], recorded("answered_call.raw", until="AgentConnect"))
    feed(nodes["b"], recorded("answered_call.raw", until="QueueCallerJoin"))
    nodes["a"].mark_unsynced()  # what the follower does when the link drops
    view = merged(nodes)
    assert view.synced and view.unsynced_nodes == ("a",)
    assert [c.uniqueid for c in view.queues["sector-crafts"].callers] == ["1795457944.3"]  # b's only
    assert view.lines["cma-07"].status == "available"  # a's call died with it
    [a, b] = view.nodes
    assert (a.node, a.synced, b.node, b.synced, b.waiting) == ("a", False, "b", True, 1)
    board = build(view, partners(hotline), {}, view.now)
    assert board.waiting == 1
    assert [(n.node, n.synced, n.text) for n in board.nodes] == [
        ("a", False, "nœud a : injoignable"),
        ("b", True, "nœud b : 1 en attente, 36 ligne(s) connectée(s), 0 en communication")]


def test_with_no_node_synced_the_view_is_unsynced_and_shows_every_node(nodes: dict[str, LiveState]) -> None:
    feed(nodes["a"], recorded("queue_abandon_call.raw", until="QueueCallerJoin"))
    feed(nodes["b"], recorded("answered_call.raw", until="QueueCallerJoin"))
    for live in nodes.values():
        live.mark_unsynced()
    view = merged(nodes)
    assert not view.synced and view.unsynced_nodes == ("a", "b")
    assert len(view.queues["sector-crafts"].callers) == 2


def test_counters_and_calls_taken_add_up_over_the_nodes(nodes: dict[str, LiveState]) -> None:
    feed(nodes["a"], recorded("queue_abandon_call.raw"))
    feed(nodes["b"], recorded("answered_call.raw"))
    view = merged(nodes)
    crafts = view.queues["sector-crafts"]
    a, b = (nodes[n].snapshot().queues["sector-crafts"] for n in "ab")
    assert (crafts.completed, crafts.abandoned) == (a.completed + b.completed, a.abandoned + b.abandoned) == (1, 1)
    assert crafts.recent_handle_times == a.recent_handle_times + b.recent_handle_times
    taken = sum(nodes[n].snapshot().lines["cma-07"].calls_taken for n in "ab")
    assert taken >= 1 and view.lines["cma-07"].calls_taken == taken
    assert crafts.members["cma-07"].calls_taken == a.members["cma-07"].calls_taken + b.members["cma-07"].calls_taken


def test_a_node_status_counts_its_callers_and_lines(nodes: dict[str, LiveState]) -> None:
    feed(nodes["b"], recorded("answered_call.raw", until="AgentConnect"))
    feed(nodes["b"], recorded("queue_abandon_call.raw", until="QueueCallerJoin"))
    a, b = merged(nodes).nodes
    logged_in = sum(1 for line in nodes["a"].snapshot().lines.values() if line.status != "logged_out")
    assert (a.waiting, a.lines_busy, a.lines_logged_in) == (0, 0, logged_in)
    assert (b.waiting, b.lines_busy, b.lines_logged_in) == (1, 1, logged_in)
    assert "1 en attente" in node_rows(merged(nodes))[1].text


def test_a_merge_of_one_node_is_that_node_s_snapshot(hotline: Hotline) -> None:
    live = booted_live(hotline)
    snapshot = live.snapshot()
    assert merge_snapshots({"a": snapshot}) is snapshot and snapshot.nodes == ()
    assert MergedLive(lambda: {"a": live}).snapshot() is snapshot
    assert build(snapshot, partners(hotline), {}, snapshot.now).nodes == ()  # no strip for one node


def test_no_node_is_an_error() -> None:
    with pytest.raises(ValueError, match="no node"):
        merge_snapshots({})


def test_the_merged_view_is_rebuilt_only_when_a_node_changed(nodes: dict[str, LiveState]) -> None:
    live = MergedLive(lambda: nodes)
    first = live.snapshot()
    assert live.snapshot() is first
    feed(nodes["b"], recorded("answered_call.raw", until="QueueCallerJoin"))
    second = live.snapshot()
    assert second is not first and second.version > first.version
    nodes["a"].mark_unsynced()
    third = live.snapshot()
    assert third.version > second.version and third.unsynced_nodes == ("a",)


def test_metrics_say_which_node_is_synced_only_with_several_nodes(nodes: dict[str, LiveState]) -> None:
    health = Health(True, 0, 0, 0.0, 0, 0, 0, 0, 0, 0)
    assert "aiguilleur_live_node_synced" not in render(nodes["a"].snapshot(), {}, {}, health, 0.0)
    nodes["a"].mark_unsynced()
    text = render(merged(nodes), {}, {}, health, 0.0)
    assert 'aiguilleur_live_node_synced{node="a"} 0.0' in text and 'aiguilleur_live_node_synced{node="b"} 1.0' in text
    assert "aiguilleur_live_synced 1.0" in text


def test_the_screen_pop_finds_a_call_of_the_standby_node() -> None:
    """``web.wiring.CorrelatorCalls`` over every node's correlator (``deps_from_service``)."""
    correlators = {name: CdrCorrelator(partner_of=lambda line: line.rsplit("-", 1)[0], node=name) for name in "ab"}
    for event in recorded("answered_call.raw", until="AgentConnect"):
        correlators["b"].feed(event)
    calls = CorrelatorCalls(correlators["a"], correlators["b"])
    info = calls.call_info("1795457944.3")
    assert info is not None and (info.number, info.linkedid) == ("0320123456", "1795457944.3")
    assert CorrelatorCalls(correlators["a"]).call_info("1795457944.3") is None  # the first node alone: not there
    followers = [SimpleNamespace(node="b", correlator=correlators["b"])]
    assert followed_correlators(SimpleNamespace(followers=followers)) == [correlators["b"]]
    assert followed_correlators(object()) == []
