"""Issue 13: a correlator follows one node; a node that dies under its calls gets them recorded lost_by_pbx."""

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from cdr.correlator import DEFAULT_NODE, CallRecord, CdrCorrelator
from cdr.queue_log import QueueLogEntry
from config.settings import Settings
from queues.ami_parse import parse_ami_stream

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"


def correlator(node: str = DEFAULT_NODE) -> CdrCorrelator:
    return CdrCorrelator(partner_of=lambda line: line.rsplit("-", 1)[0], call_contexts=frozenset({"hotline-in"}),
                         node=node)


def events_until_answered(name: str) -> list[dict[str, str]]:
    """The recorded traffic of a call up to the advisor's answer: the call is up, talking."""
    events = parse_ami_stream((FIXTURES / name).read_bytes())
    cut = next(i for i, e in enumerate(events) if e.get("Event") == "AgentConnect")
    return events[: cut + 1]


def test_records_and_queue_log_rows_carry_the_correlators_node() -> None:
    items: list[CallRecord | QueueLogEntry] = []
    follower = correlator("b")
    for event in parse_ami_stream((FIXTURES / "answered_call.raw").read_bytes()):
        items.extend(follower.feed(event))
    records = [i for i in items if isinstance(i, CallRecord)]
    rows = [i for i in items if isinstance(i, QueueLogEntry)]
    assert len(records) == 1 and rows
    assert {r.node for r in records} == {"b"} and {r.node for r in rows} == {"b"}


def test_a_call_up_when_its_node_died_is_recorded_lost_by_pbx_at_the_link_loss() -> None:
    follower = correlator("a")
    events = events_until_answered("answered_call.raw")
    assert not [i for e in events for i in follower.feed(e) if isinstance(i, CallRecord)]
    assert follower.open_calls() == 1
    answered_at = dt.datetime.fromtimestamp(float(events[-1]["Timestamp"]), tz=dt.UTC)
    lost_at = answered_at + dt.timedelta(seconds=7)

    [record] = follower.close_all_lost(lost_at)

    assert record.outcome == "lost_by_pbx" and record.node == "a"
    assert record.end == lost_at and record.answer == answered_at  # the record says it was answered, then cut
    assert record.line is not None and record.talk_seconds == 7 and record.billsec == 7
    assert follower.open_calls() == 0 and follower.queue_log.pending() == 0
    assert follower.close_all_lost(lost_at) == []  # nothing twice


def test_a_caller_waiting_in_queue_when_the_node_died_is_lost_by_pbx_not_an_abandon() -> None:
    follower = correlator()
    events = parse_ami_stream((FIXTURES / "answered_call.raw").read_bytes())
    cut = next(i for i, e in enumerate(events) if e.get("Event") == "QueueCallerJoin")
    for event in events[: cut + 1]:
        follower.feed(event)
    joined = dt.datetime.fromtimestamp(float(events[cut]["Timestamp"]), tz=dt.UTC)
    [record] = follower.close_all_lost(joined + dt.timedelta(seconds=3))
    assert record.outcome == "lost_by_pbx" and record.answer is None and record.abandon_position is None
    assert record.queue is not None and record.node == DEFAULT_NODE


def test_a_call_begun_after_the_loss_is_the_restarted_nodes_and_stays_open() -> None:
    follower = correlator()
    events = events_until_answered("answered_call.raw")
    for event in events:
        follower.feed(event)
    [started] = [call.start for call in follower.calls.values()]
    assert follower.close_all_lost(started - dt.timedelta(seconds=1)) == []
    assert follower.open_calls() == 1


def test_a_new_call_after_the_loss_is_followed_as_before() -> None:
    follower = correlator()
    events = events_until_answered("answered_call.raw")
    for event in events:
        follower.feed(event)
    follower.close_all_lost(dt.datetime.fromtimestamp(float(events[-1]["Timestamp"]), tz=dt.UTC))
    # The restarted node's next call (here: the same trace again, as a node hands out new ids)
    records = [i for e in parse_ami_stream((FIXTURES / "answered_call.raw").read_bytes())
               for i in follower.feed(e) if isinstance(i, CallRecord)]
    assert [r.outcome for r in records] == ["answered"]


def test_old_records_without_a_node_read_as_the_default_node() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(CallRecord)}
    assert fields["node"] == DEFAULT_NODE == "a"
    assert {f.name: f.default for f in dataclasses.fields(QueueLogEntry)}["node"] == DEFAULT_NODE
    assert [name for name, _ in Settings().followed_nodes()] == [DEFAULT_NODE]


def test_nodes_inherit_the_ami_login_and_refuse_a_name_twice() -> None:
    settings = Settings(ami_nodes=[{"name": "a", "host": "127.0.0.1", "port": 5038},
                                   {"name": "b", "host": "127.0.0.3", "port": 5039, "username": "other"}])
    [(a, ami_a), (b, ami_b)] = settings.followed_nodes()
    assert (a, ami_a.host, ami_a.port, ami_a.username) == ("a", "127.0.0.1", 5038, settings.ami.username)
    assert (b, ami_b.host, ami_b.port, ami_b.username) == ("b", "127.0.0.3", 5039, "other")
    assert ami_b.ping_interval == settings.ami.ping_interval
    with pytest.raises(ValidationError):
        Settings(ami_nodes=[{"name": "a", "host": "127.0.0.1"}, {"name": "a", "host": "127.0.0.3"}])


def test_each_node_reads_back_its_own_log_dir_and_the_first_defaults_to_the_single_one(tmp_path: Path) -> None:
    single = Settings(asterisk_log_dir=tmp_path / "log")
    assert single.node_log_dir(DEFAULT_NODE) == tmp_path / "log"
    both = Settings(asterisk_log_dir=tmp_path / "log",
                    ami_nodes=[{"name": "a", "host": "127.0.0.1"},
                               {"name": "b", "host": "127.0.0.3", "log_dir": str(tmp_path / "log-b")}])
    assert both.node_log_dir("a") == tmp_path / "log"  # the first node: the service's own setting
    assert both.node_log_dir("b") == tmp_path / "log-b"
    neither = Settings(ami_nodes=[{"name": "a", "host": "127.0.0.1"}, {"name": "b", "host": "127.0.0.3"}])
    assert neither.node_log_dir("b") is None  # another machine's disk: no recovery for it here


def test_the_ivr_reads_the_queue_outlook_of_the_first_synced_node_so_the_standby_after_a_failover() -> None:
    from aiguilleur.nodes import first_synced_outlook
    from config.loader import load_hotline
    from config.settings import REPO_ROOT
    from queues.state import LiveState, StateConfig
    from tests.web.conftest import booted_live

    hotline = load_hotline(REPO_ROOT / "config" / "hotline.yaml")
    a, b = booted_live(hotline), booted_live(hotline)
    queue = next(iter(a.snapshot().queues))
    b.apply({"Event": "QueueCallerJoin", "Timestamp": str(b.now + 1), "Uniqueid": "b.1", "Linkedid": "b.1",
             "Queue": queue, "CallerIDNum": "0320", "CallerIDName": "Appelant", "Position": "1"})
    outlook = first_synced_outlook([a, b])
    seen = outlook(queue)
    assert seen is not None and seen.waiting == ()  # node a (the active one): nobody waits there
    a.mark_unsynced()  # node a's link lost: b took the calls
    seen = outlook(queue)
    assert seen is not None and len(seen.waiting) == 1
    assert first_synced_outlook([LiveState(StateConfig.from_hotline(hotline))])(queue) is None
