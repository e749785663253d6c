"""Memberships mirrored between nodes (queues.member_mirror): the plan that makes a target match a source."""

from __future__ import annotations

from queues.member_mirror import EchoBook, Membership, Seat, SetPaused, membership_from, plan_mirror, ready_plan
from queues.state import LiveState
from routing.rules import JoinQueue, LeaveQueue, SetPenalty


def member(event: str, queue: str, line: str, *, penalty: int = 0, paused: bool = False, reason: str = "",
           membership: str = "dynamic", wrapup: int = 20, at: float = 1000.0) -> dict[str, str]:
    """A QueueMember* event as Asterisk 22 sends it (the fields the reducer reads)."""
    return {
        "Event": event, "Timestamp": f"{at:.6f}", "Queue": queue, "MemberName": line,
        "Interface": f"PJSIP/{line}", "StateInterface": f"PJSIP/{line}", "Membership": membership,
        "Penalty": str(penalty), "CallsTaken": "0", "LastCall": "0", "LastPause": "0", "LoginTime": "0",
        "InCall": "0", "Status": "1", "Paused": "1" if paused else "0", "PausedReason": reason,
        "Ringinuse": "0", "Wrapuptime": str(wrapup),
    }


SOURCE: Membership = {
    "cma-01": {"cma": Seat(0, wrapup_seconds=20), "commerce": Seat(2, wrapup_seconds=20)},
    "ccid-01": {"commerce": Seat(0, True, "repas", 30)},
}


def test_a_node_that_already_matches_gets_nothing_to_do() -> None:
    """The echo of a mirrored change finds both sides alike: that is what makes mirroring loop-free."""
    assert plan_mirror(SOURCE, SOURCE) == []
    assert plan_mirror({}, {}) == []


def test_a_line_logged_in_on_the_source_joins_every_queue_with_its_penalty_and_wrapup() -> None:
    assert plan_mirror(SOURCE, {}, {"cma-01"}) == [JoinQueue("cma-01", "cma", 0, 20),
                                                   JoinQueue("cma-01", "commerce", 2, 20)]


def test_a_paused_seat_is_created_then_paused_with_its_reason() -> None:
    assert plan_mirror(SOURCE, {}, {"ccid-01"}) == [JoinQueue("ccid-01", "commerce", 0, 30),
                                                    SetPaused("ccid-01", "commerce", True, "repas")]


def test_a_line_logged_out_on_the_source_leaves_every_queue_of_the_target() -> None:
    assert plan_mirror({}, SOURCE, {"cma-01"}) == [LeaveQueue("cma-01", "cma"), LeaveQueue("cma-01", "commerce")]


def test_penalty_pause_reason_and_unpause_are_set_where_they_differ_only() -> None:
    target: Membership = {
        "cma-01": {"cma": Seat(1, True, "formation", 20), "commerce": Seat(2, wrapup_seconds=20)},
        "ccid-01": {"commerce": Seat(0, True, "pause", 30)},
    }
    assert plan_mirror(SOURCE, target) == [
        SetPenalty("cma-01", "cma", 0),
        SetPaused("ccid-01", "commerce", True, "repas"),  # another reason: paused again with the source's
        SetPaused("cma-01", "cma", False, ""),
    ]


def test_the_wrapup_of_an_existing_seat_is_not_a_difference() -> None:
    """app_queue cannot change a member's wrap-up in place: comparing it would re-plan forever."""
    target = {"cma-01": {"cma": Seat(0, wrapup_seconds=0), "commerce": Seat(2, wrapup_seconds=5)}}
    assert plan_mirror(SOURCE, target, {"cma-01"}) == []


def test_order_is_joins_penalties_pauses_then_leaves_so_a_line_is_never_in_no_queue() -> None:
    source = {"cma-01": {"commerce": Seat(1, True, "repas")}}
    target = {"cma-01": {"cma": Seat(0)}, "ccid-01": {"cma": Seat(3)}}
    kinds = [type(action).__name__ for action in plan_mirror(source, target)]
    assert kinds == ["JoinQueue", "SetPaused", "LeaveQueue", "LeaveQueue"]


def test_lines_out_of_scope_are_left_alone() -> None:
    assert plan_mirror(SOURCE, {"zzz-01": {"cma": Seat(0)}}, {"cma-01"})[-1] == JoinQueue("cma-01", "commerce", 2, 20)
    assert all(a.line == "cma-01" for a in plan_mirror(SOURCE, {"zzz-01": {"cma": Seat(0)}}, {"cma-01"}))


def test_membership_is_read_from_the_live_state_dynamic_members_only() -> None:
    state = LiveState()
    state.apply(member("QueueMemberAdded", "cma", "cma-01", penalty=0))
    state.apply(member("QueueMemberAdded", "commerce", "cma-01", penalty=2))
    state.apply(member("QueueMemberPause", "commerce", "cma-01", penalty=2, paused=True, reason="repas"))
    state.apply(member("QueueMemberAdded", "cma", "static-01", membership="static"))
    state.apply(member("QueueMemberAdded", "cma", "ccid-01", penalty=4, wrapup=30))
    state.apply(member("QueueMemberRemoved", "cma", "ccid-01"))
    assert membership_from(state.snapshot()) == {
        "cma-01": {"cma": Seat(0, False, "", 20), "commerce": Seat(2, True, "repas", 20)},
    }
    assert membership_from(state.snapshot(), {"ccid-01"}) == {}


def test_two_live_states_fed_the_same_member_events_plan_nothing_whatever_the_other_lines() -> None:
    a, b = LiveState(), LiveState()
    for state in (a, b):
        state.apply(member("QueueMemberAdded", "cma", "cma-01", penalty=1))
    b.apply(member("QueueMemberAdded", "cma", "cma-02", penalty=1))
    assert plan_mirror(membership_from(a.snapshot()), membership_from(b.snapshot()), {"cma-01"}) == []
    assert plan_mirror(membership_from(a.snapshot()), membership_from(b.snapshot())) == [LeaveQueue("cma-02", "cma")]


def test_at_start_the_order_decides_whichever_node_is_ready_first() -> None:
    assert ready_plan("a", ["a"], set()) == []  # alone: nothing to copy
    assert ready_plan("b", ["a", "b"], set()) == [("b", "a")]
    assert ready_plan("a", ["a", "b"], set()) == [("b", "a")]  # b was ready first, a still wins
    assert ready_plan("b", ["a", "b", "c"], set()) == [("b", "a"), ("c", "a")]


def test_afterwards_the_node_coming_back_takes_the_memberships_of_one_that_stayed_up() -> None:
    assert ready_plan("b", ["a", "b"], {"a", "b"}) == [("b", "a")]
    assert ready_plan("a", ["a", "b"], {"a", "b"}) == [("a", "b")]  # the first node restarted
    assert ready_plan("a", ["a", "c", "b"], {"a", "b"}) == [("a", "b")]  # c never compared: b is preferred
    assert ready_plan("a", ["a"], {"a", "b"}) == []


def test_the_echo_of_a_change_sent_is_recognised_once_and_other_events_are_the_nodes_own() -> None:
    book = EchoBook(ttl=5.0)
    book.expect("b", JoinQueue("cma-01", "cma", 0, 20), now=100.0)
    book.expect("b", SetPaused("cma-01", "cma", True, "repas"), now=100.0)
    assert not book.take("a", "QueueMemberAdded", "cma-01", "cma", 100.1)  # another node: its own change
    assert not book.take("b", "QueueMemberAdded", "cma-01", "commerce", 100.1)  # another queue
    assert book.take("b", "QueueMemberAdded", "cma-01", "cma", 100.1)
    assert not book.take("b", "QueueMemberAdded", "cma-01", "cma", 100.2)  # once only: the next is real
    assert book.take("b", "QueueMemberPause", "cma-01", "cma", 100.3)


def test_a_booking_lapses_and_a_refused_change_books_nothing() -> None:
    book = EchoBook(ttl=5.0)
    book.expect("b", LeaveQueue("cma-01", "cma"), now=100.0)
    assert not book.take("b", "QueueMemberRemoved", "cma-01", "cma", 105.5)
    book.expect("b", SetPenalty("cma-01", "cma", 3), now=200.0)
    book.forget("b", SetPenalty("cma-01", "cma", 3))
    assert not book.take("b", "QueueMemberPenalty", "cma-01", "cma", 200.1)
