"""The live queue and line state (``queues.state``): a pure reducer, driven by recorded Asterisk 22 traffic.

Traces (``tests/fixtures/ami``), all recorded from the real sandbox Asterisk 22:

- ``queue_state_session.raw``: ``tests/pbx/test_queue_state_real.py``'s follower link:
  the resync at login (QueueStatus, every queue x 36 lines), pauses with a reason, two
  callers waiting then abandoning in turn, a resync with both waiting (QueueEntry),
  a pause, an Asterisk restart and the resync after it;
- ``answered_call.raw`` and ``queue_abandon_call.raw``: recorded by the service; they
  start after login, so they are replayed over the login QueueStatus of the session.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.models import Hotline
from config.settings import REPO_ROOT
from queues import resync as resync_module
from queues.ami import AmiActionTimeout
from queues.ami_parse import parse_ami_stream
from queues.resync import resync_into
from queues.snapshot import (
    LineState,
    LineStatus,
    LiveSnapshot,
    QueueCaller,
    QueueMember,
    QueueView,
    expected_wait,
    queue_outlook,
)
from queues.state import LiveState, StateConfig, state_from_queue_status
from queues.state_seed import LiveStateSeed, seed_from_queue_status
from routing.router import QueueOutlook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
Event = dict[str, str]


def messages(name: str) -> list[Event]:
    return parse_ami_stream((FIXTURES / name).read_bytes())


SESSION = messages("queue_state_session.raw")
# The queues and penalties of the rules the session was recorded under (sector queues, before
# whole-profile routing): the reducer replays what Asterisk said, whatever the rules were.
RECORDED_QUEUES = sorted({e["Queue"] for e in SESSION if e.get("Event") == "QueueParams"})


def recorded_penalties(queue: str) -> dict[str, int]:
    first = next(e for e in SESSION if e.get("Event") == "QueueMember" and e["Queue"] == queue)
    listing = [e for e in SESSION if e.get("Event") == "QueueMember" and e["Queue"] == queue
               and e.get("ActionID") == first.get("ActionID")]
    return {e["Name"]: int(e["Penalty"]) for e in listing}


@pytest.fixture(scope="module")
def config(hotline: Hotline) -> StateConfig:
    return StateConfig.from_hotline(hotline)


def replay(state: LiveState, traffic: list[Event]) -> Iterator[Event]:
    """Feed recorded traffic as ``AmiClient`` + ``resync_into`` do; yield after each message.

    Events go to ``apply``; a list reply (``EventList: start`` .. ``Complete``) is a
    QueueStatus: buffering starts when it starts, the state is loaded when it ends,
    stamped with the newest event time seen (what the adapter's clock would say).
    """
    lists: dict[str, list[Event]] = {}
    for message in traffic:
        action_id = message.get("ActionID", "")
        if action_id in lists:
            lists[action_id].append(message)
            if message.get("EventList") == "Complete":
                state.load(seed_from_queue_status(lists.pop(action_id), taken_at=state.now))
        elif message.get("EventList") == "start":
            state.begin_resync()
            lists[action_id] = [message]
        elif "Event" in message:
            state.apply(message)
        yield message


def first_queue_status(traffic: list[Event]) -> list[Event]:
    """The first complete QueueStatus reply of a recording (response + list events)."""
    start = next(m for m in traffic if m.get("EventList") == "start")
    reply = [m for m in traffic if m.get("ActionID") == start["ActionID"]]
    assert reply[-1]["Event"] == "QueueStatusComplete"
    return reply


def booted_state(config: StateConfig, traffic: list[Event]) -> LiveState:
    """A state resynced at login (the session's first QueueStatus), at the trace's first time."""
    first_time = next(float(m["Timestamp"]) for m in traffic if "Timestamp" in m)
    return state_from_queue_status(first_queue_status(SESSION), taken_at=first_time, config=config)


def events_named(traffic: list[Event], name: str) -> list[Event]:
    return [m for m in traffic if m.get("Event") == name]


# ----------------------------------------------------------------------------- purity


def test_reducer_module_reaches_no_io_library() -> None:
    forbidden = {"asyncio", "socket", "asyncpg", "aiohttp", "panoramisk", "subprocess", "structlog", "time",
                 "queues.ami", "queues.resync"}
    seen: set[Path] = set()
    todo = [REPO_ROOT / "queues" / "state.py"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                assert not ({name, name.split(".")[0]} & forbidden), f"{path} imports {name}"
                local = REPO_ROOT / (name.replace(".", "/") + ".py")
                if local.is_file():
                    todo.append(local)


# ----------------------------------------------------------------------------- resync


def test_login_queue_status_lists_every_line_in_every_queue(hotline: Hotline, config: StateConfig) -> None:
    state = state_from_queue_status(first_queue_status(SESSION), taken_at=1.0e9, config=config)
    snap = state.snapshot()
    assert snap.synced and snap.drift == 0
    assert sorted(snap.queues) == RECORDED_QUEUES and len(RECORDED_QUEUES) == 11
    for name, view in snap.queues.items():
        assert {line: m.penalty for line, m in view.members.items()} == recorded_penalties(name)
        assert view.strategy == hotline.queues.strategy and view.callers == ()
    assert len(snap.lines) == 36 and {s.status for s in snap.lines.values()} == {"available"}
    assert snap.lines["mel-04"].queues == tuple(RECORDED_QUEUES)


def test_resync_with_callers_waiting_lists_them_from_queue_entry(config: StateConfig) -> None:
    entries_reply = next(
        [m for m in SESSION if m.get("ActionID") == start["ActionID"]]
        for start in SESSION
        if start.get("EventList") == "start"
        and any(m.get("Event") == "QueueEntry" and m.get("ActionID") == start["ActionID"] for m in SESSION)
    )
    entries = events_named(entries_reply, "QueueEntry")
    state = state_from_queue_status(entries_reply, taken_at=2000.0, config=config)
    view = state.snapshot().queues[entries[0]["Queue"]]
    assert [(c.uniqueid, c.position, c.caller_number) for c in view.callers] == [
        (e["Uniqueid"], int(e["Position"]), e["CallerIDNum"]) for e in entries
    ]
    assert all(c.linkedid is None for c in view.callers)  # QueueEntry does not say
    assert [c.joined_at for c in view.callers] == [2000.0 - int(e["Wait"]) for e in entries]


def test_incomplete_or_refused_queue_status_is_not_used() -> None:
    reply = first_queue_status(SESSION)
    with pytest.raises(ValueError, match="incomplete"):
        seed_from_queue_status(reply[:-1], taken_at=0)
    with pytest.raises(ValueError, match="Permission denied"):
        seed_from_queue_status([{"Response": "Error", "Message": "Permission denied"}], taken_at=0)


def test_restart_resync_replaces_stale_state_but_keeps_handle_times(config: StateConfig) -> None:
    state = LiveState(config)
    shutdown_at = SESSION.index(events_named(SESSION, "Shutdown")[0])
    replay_all = replay(state, SESSION)
    for index, _message in enumerate(replay_all):
        if index == shutdown_at - 1:
            break
    before = state.snapshot()
    assert before.synced and before.lines["mel-02"].paused_reason == "reunion"
    # Stale things of every kind: a waiting caller, a ringing line, a call, a wrap-up, a handle time.
    stamp = f"{state.now:.6f}"
    for event in (
        {"Event": "QueueCallerJoin", "Timestamp": stamp, "Queue": "hotline", "Uniqueid": "stale.1",
         "Linkedid": "stale.1", "CallerIDNum": "0320000999", "Position": "1", "Count": "1"},
        {"Event": "AgentCalled", "Timestamp": stamp, "Queue": "hotline", "Uniqueid": "stale.1",
         "MemberName": "cci-01", "Interface": "PJSIP/cci-01"},
        {"Event": "AgentConnect", "Timestamp": stamp, "Queue": "hotline", "Uniqueid": "stale.2",
         "MemberName": "cma-01", "Interface": "PJSIP/cma-01", "HoldTime": "3", "RingTime": "1"},
        {"Event": "AgentComplete", "Timestamp": stamp, "Queue": "hotline", "Uniqueid": "stale.3",
         "MemberName": "cma-02", "Interface": "PJSIP/cma-02", "HoldTime": "3", "TalkTime": "100", "Reason": "agent"},
    ):
        state.apply(event)
    stale = state.snapshot()
    assert [stale.lines[line].status for line in ("cci-01", "cma-01", "cma-02")] == ["ringing", "busy", "wrapup"]
    assert stale.queues["hotline"].callers

    next(replay_all)  # Shutdown
    assert not state.snapshot().synced
    for _message in replay_all:  # the new connection: login, FullyBooted, QueueStatus
        pass
    after = state.snapshot()
    assert after.synced and after.drift == 0
    assert {s.status for s in after.lines.values()} == {"available"}
    assert all(not s.paused_queues and s.caller_uniqueid is None for s in after.lines.values())
    assert all(v.callers == () for v in after.queues.values())
    assert after.queues["hotline"].recent_handle_times == (115.0,)  # talk 100 + wrap-up 15: history, not state
    assert state.size()["caller_index"] == 0 and state.size()["ringing_index"] == 0


def test_events_delivered_during_a_resync_are_replayed_over_the_seed(config: StateConfig) -> None:
    login = first_queue_status(SESSION)
    state = state_from_queue_status(login, taken_at=1000.0, config=config)
    state.begin_resync()
    # In the same TCP read as the list, after it: not in the snapshot, must survive.
    state.apply({"Event": "QueueCallerJoin", "Timestamp": "1001.0", "Queue": "hotline", "Uniqueid": "late.1",
                 "Linkedid": "late.1", "CallerIDNum": "0320000001", "Position": "1", "Count": "1"})
    # Before the snapshot and reflected by it: joined then left, must stay gone.
    state.apply({"Event": "QueueCallerJoin", "Timestamp": "1001.1", "Queue": "hotline", "Uniqueid": "gone.1",
                 "Linkedid": "gone.1", "CallerIDNum": "0320000002", "Position": "2", "Count": "2"})
    state.apply({"Event": "QueueCallerLeave", "Timestamp": "1001.2", "Queue": "hotline", "Uniqueid": "gone.1",
                 "Position": "2", "Count": "1"})
    state.load(seed_from_queue_status(login, taken_at=1001.5))
    assert [c.uniqueid for c in state.snapshot().queues["hotline"].callers] == ["late.1"]
    assert state.size()["resync_buffer"] == 0 and state.snapshot().drift == 0

    # More events during one QueueStatus than the buffer holds: loaded, but not synced.
    small = LiveState(dataclasses.replace(config, max_resync_buffer=2))
    small.begin_resync()
    for n in range(3):
        small.apply({"Event": "Hangup", "Timestamp": f"{1002 + n}", "Uniqueid": f"h{n}"})
    small.load(seed_from_queue_status(login, taken_at=1005.0))
    assert not small.snapshot().synced and small.snapshot().drift == 1

    # Events of a link that was lost are not replayed over the next link's snapshot.
    state.begin_resync()
    state.apply({"Event": "QueueCallerJoin", "Timestamp": "1002.0", "Queue": "hotline", "Uniqueid": "lost.1",
                 "Linkedid": "lost.1", "CallerIDNum": "0320000003", "Position": "2", "Count": "2"})
    state.mark_unsynced()
    state.load(seed_from_queue_status(login, taken_at=1003.0))
    assert state.snapshot().queues["hotline"].callers == ()


# ----------------------------------------------------------------------------- recorded calls


def test_answered_call_line_goes_ringing_busy_wrapup_then_available(config: StateConfig) -> None:
    traffic = messages("answered_call.raw")
    state = booted_state(config, traffic)
    connect = events_named(traffic, "AgentConnect")[0]
    complete = events_named(traffic, "AgentComplete")[0]
    join = events_named(traffic, "QueueCallerJoin")[0]
    line, queue = connect["MemberName"], connect["Queue"]
    statuses = ["available"]
    for message in replay(state, traffic):
        snap = state.snapshot()
        if snap.lines[line].status != statuses[-1]:
            statuses.append(snap.lines[line].status)
        if message is join:
            (caller,) = snap.queues[queue].callers
            assert (caller.uniqueid, caller.position, caller.caller_number) == (
                join["Uniqueid"], 1, join["CallerIDNum"])
            assert caller.linkedid == join["Linkedid"] and caller.joined_at == float(join["Timestamp"])
        if message is connect:
            assert snap.queues[queue].callers == ()
            assert snap.lines[line].in_call_since == float(connect["Timestamp"])
            assert snap.lines[line].caller_uniqueid == connect["Uniqueid"]
    assert statuses == ["available", "ringing", "busy", "wrapup"]
    end = state.snapshot().lines[line]
    wrapup = int(events_named(traffic, "QueueMemberStatus")[-1]["Wrapuptime"])
    assert end.wrapup_until == float(complete["Timestamp"]) + wrapup
    assert end.calls_taken == 1  # CallsTaken is 1 in each of its queues (shared_lastcall): one call
    assert end.in_call_since is None and end.caller_uniqueid is None
    assert state.snapshot().queues[queue].recent_handle_times == (float(int(complete["TalkTime"]) + wrapup),)

    assert end.wrapup_until is not None
    state.expire(end.wrapup_until - 0.01)
    assert state.snapshot().lines[line].status == "wrapup"
    state.expire(end.wrapup_until)
    assert state.snapshot().lines[line].status == "available"
    assert state.snapshot().drift == 0


def test_abandoned_caller_leaves_the_queue_and_is_counted(config: StateConfig) -> None:
    traffic = messages("queue_abandon_call.raw")
    state = booted_state(config, traffic)
    join = events_named(traffic, "QueueCallerJoin")[0]
    abandon = events_named(traffic, "QueueCallerAbandon")[0]
    queue = join["Queue"]
    rung: set[str] = set()
    for message in replay(state, traffic):
        snap = state.snapshot()
        rung |= {line for line, s in snap.lines.items() if s.status == "ringing"}
        if message is join:
            assert [c.uniqueid for c in snap.queues[queue].callers] == [join["Uniqueid"]]
        if message is abandon:
            assert snap.queues[queue].callers == ()
            assert snap.queues[queue].abandoned == 1
    assert rung == {e["MemberName"] for e in events_named(traffic, "AgentCalled")}
    assert {s.status for s in state.snapshot().lines.values()} == {"available"}
    assert state.size()["caller_index"] == 0 and state.size()["ringing_index"] == 0


def test_two_waiting_callers_are_renumbered_when_the_first_abandons(config: StateConfig) -> None:
    state = LiveState(config)
    first, second = events_named(SESSION, "QueueCallerJoin")
    queue = first["Queue"]
    abandons = events_named(SESSION, "QueueCallerAbandon")
    seen: list[list[tuple[str, int]]] = []
    for _message in replay(state, SESSION):
        view = state.snapshot().queues.get(queue)
        callers = [(c.uniqueid, c.position) for c in view.callers] if view else []
        if not seen or seen[-1] != callers:
            seen.append(callers)
    assert seen == [
        [],
        [(first["Uniqueid"], 1)],
        [(first["Uniqueid"], 1), (second["Uniqueid"], 2)],  # unchanged by the resync in between
        [(second["Uniqueid"], 1)],
        [],
    ]
    assert [a["Uniqueid"] for a in abandons] == [first["Uniqueid"], second["Uniqueid"]]
    assert state.snapshot().queues[queue].callers == ()


def test_pause_with_reason_from_real_events(config: StateConfig) -> None:
    state = LiveState(config)
    pauses = events_named(SESSION, "QueueMemberPause")
    everywhere = [p for p in pauses if p["MemberName"] == "cma-03"]
    one_queue = [p for p in pauses if p["MemberName"] == "cci-04"]
    assert len(one_queue) == 2  # paused, then unpaused, in "hotline" only
    paused = [p for p in everywhere if p["Paused"] == "1"]
    # one event per queue, then the unpause
    assert len(paused) == len(RECORDED_QUEUES) and everywhere[: len(paused)] == paused
    last_pause = paused[-1]
    checked = 0
    for message in replay(state, SESSION):
        snap = state.snapshot()
        if message is last_pause:  # cma-03 is now paused in all its queues
            line = snap.lines["cma-03"]
            assert (line.status, line.paused_reason) == ("paused", "formation")
            assert line.paused_queues == line.queues and line.paused_since == float(last_pause["LastPause"])
            checked += 1
        if message is one_queue[0]:
            line = snap.lines["cci-04"]
            assert (line.status, line.paused_queues, line.paused_reason) == ("available", ("hotline",), "dejeuner")
            member = snap.queues["hotline"].members["cci-04"]
            assert member.paused and member.paused_reason == "dejeuner"
            checked += 1
        if message is everywhere[-1]:
            line = snap.lines["cma-03"]
            assert (line.status, line.paused_reason, line.paused_queues) == ("available", "", ())
            checked += 1
    assert checked == 3


# ----------------------------------------------------------------------------- wrap-up, snapshots


def complete_event(line: str, queue: str, at: float, talk: int = 60) -> Event:
    return {"Event": "AgentComplete", "Timestamp": f"{at:.6f}", "Queue": queue, "Uniqueid": f"u{at}",
            "Linkedid": f"u{at}", "MemberName": line, "Interface": f"PJSIP/{line}", "HoldTime": "5",
            "TalkTime": str(talk), "Reason": "caller"}


def test_wrapup_comes_from_the_hotline_when_asterisk_has_not_said(hotline: Hotline) -> None:
    config = StateConfig.from_hotline(hotline)
    state = LiveState(config)  # no resync: nothing known from Asterisk
    state.apply(complete_event("region-02", "hotline", 5000.0, talk=40))
    line = state.snapshot().lines["region-02"]
    partner = hotline.partner_of("region-02")
    assert partner is not None
    assert line.wrapup_until == 5000.0 + partner.wrapup_seconds
    assert state.snapshot().queues["hotline"].recent_handle_times == (40.0 + partner.wrapup_seconds,)
    # Time passes only through events and expire(): a later event ends the wrap-up too.
    state.apply({"Event": "Hangup", "Timestamp": f"{5000.0 + partner.wrapup_seconds:.6f}", "Uniqueid": "x"})
    assert state.snapshot().lines["region-02"].wrapup_until is None


def test_snapshot_is_immutable_and_cached_until_a_change(config: StateConfig) -> None:
    state = state_from_queue_status(first_queue_status(SESSION), taken_at=1000.0, config=config)
    snap = state.snapshot()
    assert state.snapshot() is snap
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.lines["cma-01"].status = "busy"  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.queues["hotline"].members["cma-01"] = snap.queues["hotline"].members["cma-02"]  # type: ignore[index]
    state.apply(complete_event("cma-01", "hotline", 1001.0))
    assert state.snapshot() is not snap and snap.lines["cma-01"].status == "available"


def test_events_of_no_queue_change_nothing(config: StateConfig) -> None:
    state = state_from_queue_status(first_queue_status(SESSION), taken_at=1000.0, config=config)
    before = state.snapshot()
    for message in messages("ivr_hangup_call.raw"):  # a caller who hung up in the IVR: no queue event
        state.apply(message)
    state.apply({"Event": "QueueMemberStatus"})  # malformed: ignored fields, no crash
    after = state.snapshot()
    assert after.lines == before.lines or {s.status for s in after.lines.values()} == {"available"}
    assert all(v.callers == () for v in after.queues.values()) and after.drift == 0
    assert state.size()["caller_index"] == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["join", "leave", "abandon", "hangup"]), st.integers(0, 6)),
                max_size=60))
def test_positions_stay_1_to_n_and_nothing_outlives_its_call(ops: list[tuple[str, int]]) -> None:
    state = LiveState()
    waiting: list[str] = []
    for at, (kind, n) in enumerate(ops):
        uid = f"c{n}"
        stamp = f"{1000 + at}.0"
        if kind == "join" and uid not in waiting:
            waiting.append(uid)
            state.apply({"Event": "QueueCallerJoin", "Timestamp": stamp, "Queue": "q", "Uniqueid": uid,
                         "Position": str(len(waiting)), "Count": str(len(waiting))})
        elif kind in ("leave", "abandon") and uid in waiting:
            position = waiting.index(uid) + 1
            waiting.remove(uid)
            name = "QueueCallerLeave" if kind == "leave" else "QueueCallerAbandon"
            state.apply({"Event": name, "Timestamp": stamp, "Queue": "q", "Uniqueid": uid,
                         "Position": str(position), "Count": str(len(waiting))})
        elif kind == "hangup":
            if uid in waiting:
                waiting.remove(uid)
            state.apply({"Event": "Hangup", "Timestamp": stamp, "Uniqueid": uid})
        view = state.snapshot().queues.get("q")
        callers = view.callers if view else ()
        assert [c.uniqueid for c in callers] == waiting
        assert [c.position for c in callers] == list(range(1, len(waiting) + 1))
        assert state.size()["caller_index"] == len(waiting)


# ----------------------------------------------------------------------------- bounded memory


def synthetic_traffic(hotline: Hotline, total: int) -> Iterator[Event]:
    """Calls shaped like the recorded ones (same events and fields), with fresh ids and times.

    Three callers wait at any time; 70 % are answered (ring, connect, complete, wrap-up),
    20 % abandon after a ring with no answer, 10 % lose their QueueCallerLeave (only the
    Hangup tells), and every 50 calls a line pauses with a reason, then resumes.
    Dicts are reused: the reducer must keep no reference to an event.
    """
    lines = [line for line, _ in hotline.lines()]
    queues = RECORDED_QUEUES
    member = dict(events_named(messages("answered_call.raw"), "QueueMemberStatus")[0])
    waiting: dict[str, list[str]] = {q: [] for q in queues}
    clock = 1.8e9
    sent = 0
    call = 0

    def stamp() -> str:
        nonlocal clock
        clock += 0.01
        return f"{clock:.6f}"

    def member_event(name: str, line: str, queue: str, **fields: str) -> Event:
        event = dict(member, Event=name, Timestamp=stamp(), Queue=queue, MemberName=line,
                     Interface=f"PJSIP/{line}", StateInterface=f"PJSIP/{line}")
        event.update(fields)
        return event

    def caller(name: str, uid: str, queue: str, position: int) -> Event:
        return {"Event": name, "Timestamp": stamp(), "Channel": f"PJSIP/pstn-{uid}", "CallerIDNum": "0320000000",
                "CallerIDName": "Appelant", "Uniqueid": uid, "Linkedid": uid, "Queue": queue,
                "Position": str(position), "Count": str(len(waiting[queue]))}

    def agent(name: str, uid: str, queue: str, line: str, **fields: str) -> Event:
        event = {"Event": name, "Timestamp": stamp(), "Uniqueid": uid, "Linkedid": uid, "Queue": queue,
                 "DestUniqueid": uid + "-a", "Interface": f"PJSIP/{line}", "MemberName": line}
        event.update(fields)
        return event

    pending: list[tuple[str, str]] = []
    while sent < total:
        call += 1
        uid, queue, line = f"{clock:.0f}.{call}", queues[call % len(queues)], lines[call % len(lines)]
        waiting[queue].append(uid)
        burst = [caller("QueueCallerJoin", uid, queue, len(waiting[queue])),
                 agent("AgentCalled", uid, queue, line),
                 member_event("QueueMemberStatus", line, queue, Status="6")]
        pending.append((uid, queue))
        if len(pending) > 3:
            old, old_queue = pending.pop(0)
            old_line = lines[int(old.rsplit(".", 1)[1]) % len(lines)]
            position = waiting[old_queue].index(old) + 1
            waiting[old_queue].remove(old)
            kind = int(old.rsplit(".", 1)[1]) % 10
            if kind < 7:
                burst += [caller("QueueCallerLeave", old, old_queue, position),
                          agent("AgentConnect", old, old_queue, old_line, HoldTime="20", RingTime="2"),
                          member_event("QueueMemberStatus", old_line, old_queue, Status="2", InCall="1"),
                          agent("AgentComplete", old, old_queue, old_line, HoldTime="20", TalkTime="180",
                                Reason="caller"),
                          {"Event": "Hangup", "Timestamp": stamp(), "Uniqueid": old},
                          member_event("QueueMemberStatus", old_line, old_queue, Status="1",
                                       LastCall=f"{clock:.0f}", CallsTaken=str(call))]
            elif kind < 9:
                burst += [agent("AgentRingNoAnswer", old, old_queue, old_line, RingTime="15000"),
                          caller("QueueCallerAbandon", old, old_queue, position),
                          caller("QueueCallerLeave", old, old_queue, position),
                          {"Event": "Hangup", "Timestamp": stamp(), "Uniqueid": old},
                          member_event("QueueMemberStatus", old_line, old_queue, Status="1")]
            else:
                burst += [{"Event": "Hangup", "Timestamp": stamp(), "Uniqueid": old},
                          member_event("QueueMemberStatus", old_line, old_queue, Status="1")]
        if call % 50 == 0:
            burst += [member_event("QueueMemberPause", line, q, Paused="1", PausedReason=f"pause {call}")
                      for q in queues]
            burst += [member_event("QueueMemberPause", line, q, Paused="0", PausedReason="") for q in queues]
        yield from burst
        sent += len(burst)


def test_a_million_events_keep_the_state_bounded(hotline: Hotline, config: StateConfig) -> None:
    state = state_from_queue_status(first_queue_status(SESSION), taken_at=1.8e9, config=config)
    sizes: list[dict[str, int]] = []
    started = time.perf_counter()
    for count, event in enumerate(synthetic_traffic(hotline, 1_000_000), start=1):
        state.apply(event)
        if count % 100_000 == 0:
            sizes.append(state.size())
    elapsed = time.perf_counter() - started
    assert len(sizes) == 10
    for size in sizes:
        queues = len(RECORDED_QUEUES)
        assert size["queues"] == queues and size["lines"] == 36 and size["members"] == 36 * queues
        assert size["callers"] == size["caller_index"] <= 4  # the three waiting (+ the one joining)
        assert size["ringing_index"] <= 4 and size["resync_buffer"] == 0
        assert size["handle_times"] <= len(RECORDED_QUEUES) * config.handle_time_window
    full = len(RECORDED_QUEUES) * config.handle_time_window
    assert sizes[-1]["handle_times"] == sizes[4]["handle_times"] == full  # full rings
    snap = state.snapshot()
    assert snap.drift > 0  # the lost leaves were noticed (and their callers dropped at Hangup)
    assert max(s.calls_taken for s in snap.lines.values()) > 0
    print(f"\n1,000,000 synthetic events (generation included): {1_000_000 / elapsed:,.0f} events/s")


# ----------------------------------------------------------------------------- expected wait


def line_state(line: str, status: LineStatus) -> LineState:
    return LineState(line=line, status=status, interface=f"PJSIP/{line}", device_state=1,
                     queues=("q",), paused_queues=(), paused_reason="", paused_since=None, call_queue=None,
                     caller_uniqueid=None, ringing_since=None, in_call_since=None, wrapup_until=None,
                     calls_taken=0, last_call=None)


def queue_of(members: Mapping[str, tuple[int, str]], callers: int = 0) -> tuple[QueueView, dict[str, LineState]]:
    """A queue whose members are ``{line: (penalty, line status)}``; a status 'paused-here' pauses it here only."""
    view_members = {
        line: QueueMember(line=line, interface=f"PJSIP/{line}", penalty=penalty, paused=status == "paused-here",
                          paused_reason="", in_call=False, calls_taken=0, last_call=None, wrapup_seconds=15,
                          dynamic=False)
        for line, (penalty, status) in members.items()
    }
    lines = {line: line_state(line, "available" if status == "paused-here" else status)  # type: ignore[arg-type]
             for line, (_penalty, status) in members.items()}
    queued = tuple(QueueCaller(f"c{i}", f"c{i}", "0320000000", i + 1, 0.0) for i in range(callers))
    return QueueView(name="q", callers=queued, members=view_members, recent_handle_times=()), lines


def test_expected_wait_is_none_when_nobody_can_answer() -> None:
    view, lines = queue_of({"a": (0, "logged_out"), "b": (0, "unavailable"), "c": (0, "paused"),
                            "d": (0, "paused-here")})
    assert expected_wait(view, lines, [300.0]) is None
    empty, no_lines = queue_of({})
    assert expected_wait(empty, no_lines, [300.0]) is None


def test_expected_wait_is_zero_while_free_members_outnumber_the_callers_ahead() -> None:
    view, lines = queue_of({"a": (0, "available"), "b": (0, "available"), "c": (0, "busy")}, callers=1)
    assert expected_wait(view, lines, []) == 0.0  # position 2, two free: no handle time needed
    assert expected_wait(view, lines, [], position=3) is None  # must wait, and no handle time known


def test_expected_wait_is_callers_to_serve_over_the_service_rate() -> None:
    # 3 staffed (busy, wrap-up, ringing), none free, mean handle time 300 s: one frees every 100 s.
    view, lines = queue_of({"a": (0, "busy"), "b": (0, "wrapup"), "c": (0, "ringing"), "d": (0, "paused")},
                           callers=2)
    assert expected_wait(view, lines, [200.0, 400.0]) == pytest.approx(300.0)  # a new caller: 3rd -> 3 x 100
    assert expected_wait(view, lines, [200.0, 400.0], position=1) == pytest.approx(100.0)
    assert expected_wait(view, lines, [], default_handle_time=600.0, position=1) == pytest.approx(200.0)
    # One free line takes the first caller at once: the 3rd waits for 2 completions, 3 lines serving.
    view, lines = queue_of({"a": (0, "busy"), "b": (0, "busy"), "c": (0, "available")}, callers=2)
    assert expected_wait(view, lines, [300.0]) == pytest.approx(200.0)


def test_expected_wait_follows_the_queue_rule_as_the_pool_widens() -> None:
    # Penalty 0: one busy line. After 30 s the limit is 9: two more lines, both free.
    view, lines = queue_of({"a": (0, "busy"), "b": (9, "available"), "c": (9, "available")}, callers=2)
    rule = ((0, 1), (30, 9))
    # Position 3: 30 s at 1/300 per s serves 0.1; the two free lines take 2; 0.9 left at 3/300 per s: 90 s.
    assert expected_wait(view, lines, [300.0], escalation=rule) == pytest.approx(120.0)
    # A caller who has already waited 40 s is past the widening: 3 staffed, 2 free, position 3 -> 1 left.
    assert expected_wait(view, lines, [300.0], escalation=rule, position=3, waited=40) == pytest.approx(100.0)
    # Only the widest step has anybody: the wait starts counting there.
    view, lines = queue_of({"b": (9, "busy")})
    assert expected_wait(view, lines, [300.0], escalation=rule) == pytest.approx(330.0)
    assert expected_wait(view, lines, [300.0], escalation=((0, 1),)) is None


def test_snapshot_expected_wait_uses_the_live_queue(config: StateConfig) -> None:
    state = state_from_queue_status(first_queue_status(SESSION), taken_at=1000.0, config=config)
    assert state.snapshot().expected_wait("hotline") == 0.0  # 36 free lines
    assert state.snapshot().expected_wait("nope") is None
    for index, (line, _) in enumerate(state.snapshot().lines.items()):
        state.apply({"Event": "AgentConnect", "Timestamp": f"{1001 + index}", "Queue": "hotline",
                     "Uniqueid": f"u{index}", "MemberName": line, "Interface": f"PJSIP/{line}"})
    state.apply(complete_event("cma-01", "hotline", 1100.0, talk=345))  # 345 + 15 = 360 s handle time
    state.apply({"Event": "AgentConnect", "Timestamp": "1100.5", "Queue": "hotline", "Uniqueid": "again",
                 "MemberName": "cma-01", "Interface": "PJSIP/cma-01"})
    state.apply({"Event": "QueueCallerJoin", "Timestamp": "1101", "Queue": "hotline", "Uniqueid": "w1",
                 "Linkedid": "w1", "CallerIDNum": "0320000001", "Position": "1", "Count": "1"})
    snap = state.snapshot()
    assert {s.status for s in snap.lines.values()} == {"busy"}
    # Queue rule from the hotline: penalty <= 1 at first. In "hotline" every line has penalty 0: 36 staffed.
    assert snap.expected_wait("hotline", uniqueid="w1") == pytest.approx(360.0 / 36)
    assert snap.expected_wait("hotline") == pytest.approx(2 * 360.0 / 36)
    assert math.isfinite(snap.expected_wait("sector-crafts") or math.inf)  # pooled handle times


def test_seed_is_plain_data() -> None:
    seed = seed_from_queue_status(first_queue_status(SESSION), taken_at=12.5)
    assert isinstance(seed, LiveStateSeed) and seed.taken_at == 12.5
    assert len(seed.queues) == len(RECORDED_QUEUES) and len(seed.members) == 36 * len(seed.queues)
    assert seed.entries == ()
    assert isinstance(LiveState().snapshot(), LiveSnapshot)


# ----------------------------------------------------------------------------- the resync adapter


class StubAmi:
    """Answers QueueStatus from a recorded reply, after ``failures`` timeouts; events may arrive meanwhile."""

    def __init__(self, reply: list[Event], failures: int, during: list[Event], state: LiveState) -> None:
        self.reply, self.failures, self.during, self.state = reply, failures, during, state
        self.sent: list[tuple[dict[str, str], bool]] = []

    async def send(self, action: dict[str, str], *, idempotent: bool = False,
                   timeout: float | None = None) -> list[Event]:  # noqa: ASYNC109
        self.sent.append((action, idempotent))
        for event in self.during:  # delivered while the list is awaited
            self.state.apply(event)
        if self.failures:
            self.failures -= 1
            raise AmiActionTimeout("QueueStatus: no response within 5 s")
        return self.reply


async def test_resync_into_retries_and_replays_what_came_meanwhile(
    config: StateConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resync_module, "RETRY_DELAY", 0.0)
    state = LiveState(config)
    join = {"Event": "QueueCallerJoin", "Timestamp": "1000.5", "Queue": "hotline", "Uniqueid": "m.1",
            "Linkedid": "m.1", "CallerIDNum": "0320000001", "Position": "1", "Count": "1"}
    ami = StubAmi(first_queue_status(SESSION), failures=1, during=[join], state=state)
    await resync_into(state, ami, clock=lambda: 1001.0)  # type: ignore[arg-type]
    assert ami.sent == [({"Action": "QueueStatus"}, True)] * 2  # read-only: idempotent, re-sent after a timeout
    snap = state.snapshot()
    assert snap.synced and snap.now == 1001.0
    assert [c.uniqueid for c in snap.queues["hotline"].callers] == ["m.1"]
    assert state.size()["resync_buffer"] == 0


async def test_resync_into_gives_up_and_leaves_the_state_unsynced(
    config: StateConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resync_module, "RETRY_DELAY", 0.0)
    state = LiveState(config)
    ami = StubAmi(first_queue_status(SESSION), failures=5, during=[], state=state)
    await resync_into(state, ami, attempts=3)  # type: ignore[arg-type]
    assert len(ami.sent) == 3 and not state.synced and state.size()["resync_buffer"] == 0


def test_outlook_of_one_queue_equals_the_outlook_read_from_a_full_snapshot(config: StateConfig) -> None:
    """``LiveState.outlook`` builds only the queue asked (issue 15): same answer as the full snapshot's,
    with the queue's own handle times, with the other queues' (fallback), unsynced, unknown queue."""
    state = state_from_queue_status(first_queue_status(SESSION), taken_at=1000.0, config=config)
    names = list(state.snapshot().queues)

    def fresh(queue: str) -> QueueOutlook | None:
        state.apply({"Event": "QueueMemberStatus", "Timestamp": "1000.1", "Queue": queue, "MemberName": "cma-02",
                     "Interface": "PJSIP/cma-02", "Status": "1", "Paused": "0", "Penalty": "0"})
        return state.outlook(queue)  # the snapshot is stale here: outlook builds its own

    for queue in [*names, "nope"]:
        assert fresh(queue) == queue_outlook(state.snapshot(), queue)
    for index, (line, _) in enumerate(state.snapshot().lines.items()):
        state.apply({"Event": "AgentConnect", "Timestamp": f"{1001 + index}", "Queue": "hotline",
                     "Uniqueid": f"u{index}", "MemberName": line, "Interface": f"PJSIP/{line}"})
    state.apply(complete_event("cma-01", "hotline", 1100.0, talk=345))
    state.apply({"Event": "QueueCallerJoin", "Timestamp": "1101", "Queue": "hotline", "Uniqueid": "w1",
                 "Linkedid": "w1", "CallerIDNum": "0320000001", "Position": "1", "Count": "1"})
    other = next(n for n in names if n != "hotline")
    for queue in ("hotline", other):  # its own handle times; the pooled ones
        outlook = fresh(queue)
        assert outlook is not None and outlook == queue_outlook(state.snapshot(), queue)
        assert outlook.expected_wait_seconds is not None
    state.mark_unsynced()
    assert fresh("hotline") is None and queue_outlook(state.snapshot(), "hotline") is None
