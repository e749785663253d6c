"""The CDR correlator on AMI traffic recorded from the real sandbox Asterisk 22.

The ``*.queue_log`` fixtures are the lines Asterisk's app_queue wrote to its own
queue_log file during the very calls whose AMI traffic is in the ``*.raw`` next
to them (``tests/fixtures/ami/record_queue_traces.py``): our queue_log rows must
be the same lines, verb for verb and field for field.
"""

from pathlib import Path

import pytest

from cdr.correlator import CallRecord, CdrCorrelator, CdrItem
from cdr.queue_log import QueueLogEntry, parse_queue_log_file
from queues.ami_parse import parse_ami_stream

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
ESCALATION_AFTER = (0, 30, 90)  # config/hotline.yaml's queue rule steps


def partner_of(line: str) -> str | None:
    return line.rsplit("-", 1)[0]


def feed_all(name: str) -> tuple[list[CdrItem], CdrCorrelator]:
    correlator = CdrCorrelator(partner_of=partner_of, escalation_after=ESCALATION_AFTER)
    items: list[CdrItem] = []
    for event in parse_ami_stream((FIXTURES / name).read_bytes()):
        items.extend(correlator.feed(event))
    return items, correlator


def replay(name: str) -> tuple[list[CallRecord], CdrCorrelator]:
    items, correlator = feed_all(name)
    return [i for i in items if isinstance(i, CallRecord)], correlator


def queue_log_of(name: str) -> list[QueueLogEntry]:
    items, correlator = feed_all(name)
    assert correlator.queue_log.pending() == 0
    return [i for i in items if isinstance(i, QueueLogEntry)]


def asterisk_queue_log(name: str) -> list[str]:
    """Asterisk's own lines for the recorded calls (QUEUESTART is app_queue's boot line)."""
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if "|QUEUESTART|" not in line]


def test_answered_call_gives_one_complete_record() -> None:
    records, correlator = replay("answered_call.raw")
    assert len(records) == 1 and correlator.open_calls() == 0
    record = records[0]
    assert record.src == "0320123456"
    assert record.clid == '"José Test" <0320123456>'
    assert (record.need, record.sector, record.size, record.departement) == ("creation", "crafts", "micro", "nord")
    assert record.ivr_exit == "completed" and record.rule_version == 1
    assert record.queue == "sector-crafts"
    assert record.line is not None and record.line.startswith("cma-") and record.partner == "cma"
    assert record.outcome == "answered" and record.disposition == "ANSWERED"
    assert record.answer is not None and record.start < record.answer < record.end
    assert record.talk_seconds is not None and record.talk_seconds >= 5
    assert record.duration >= record.billsec >= record.talk_seconds - 1  # Asterisk counts whole seconds
    assert record.dstchannel.startswith("PJSIP/cma-")
    assert not record.degraded
    # issue 5's columns: rang 0 s (SIPp answers in 300 ms), wrap-up 15 s (queues.conf), first pool
    assert (record.ring_seconds, record.wrapup_seconds, record.escalation_step) == (0, 15, 0)
    assert record.abandon_position is None and not record.callback_requested and not record.recovered


def test_caller_hanging_up_in_the_menu_is_abandoned_in_ivr() -> None:
    records, _ = replay("ivr_hangup_call.raw")
    assert len(records) == 1
    record = records[0]
    assert record.outcome == "abandoned_in_ivr"
    assert record.queue is None and record.answer is None and record.disposition == "NO ANSWER"
    assert record.billsec == 0 and record.duration >= 5
    assert record.escalation_step is None and record.wrapup_seconds is None


def test_call_with_the_service_down_is_marked_degraded_and_still_answered() -> None:
    records, _ = replay("degraded_call.raw")
    assert len(records) == 1
    record = records[0]
    assert record.degraded and record.ivr_exit == "degraded"
    assert record.queue == "hotline" and record.outcome == "answered"


def test_caller_hanging_up_in_queue_is_abandoned_with_position() -> None:
    records, correlator = replay("queue_abandon_call.raw")
    assert len(records) == 1 and correlator.open_calls() == 0
    record = records[0]
    assert record.outcome == "abandoned_in_queue" and record.queue == "sector-crafts"
    assert record.abandon_position == 1 and record.wait_seconds == 15
    assert record.answer is None and record.line is None and record.wrapup_seconds is None


def test_queue_timeout_is_a_timeout_not_an_abandon() -> None:
    """app_queue sends QueueCallerAbandon for a timeout too; QUEUESTATUS=TIMEOUT tells them apart."""
    records, _ = replay("queue_timeout_call.raw")
    assert len(records) == 1
    record = records[0]
    assert record.outcome == "timeout" and record.wait_seconds == 30
    assert record.abandon_position is None
    assert record.escalation_step == 1  # waited 30 s: the first widening (after 30 s) was reached


def test_three_calls_in_parallel_give_three_records() -> None:
    records, correlator = replay("asterisk_records_calls.raw")
    by_src = {r.src: r for r in records}
    assert correlator.open_calls() == 0 and len(records) == 3
    assert by_src["0320000021"].outcome == "answered" and by_src["0320000021"].queue == "sector-crafts"
    assert by_src["0320000022"].outcome == "abandoned_in_ivr"
    assert by_src["0320000023"].outcome == "answered" and by_src["0320000023"].ivr_exit == "advisor"


@pytest.mark.parametrize("trace", [
    "queue_abandon_call",  # ENTERQUEUE, RINGNOANSWER x2, RINGCANCELED, ABANDON
    "queue_timeout_call",  # ENTERQUEUE, RINGNOANSWER x5, EXITWITHTIMEOUT
    "asterisk_records_calls",  # two calls: ENTERQUEUE, CONNECT, COMPLETECALLER / COMPLETEAGENT
    "member_changes",  # ADDMEMBER, PAUSE (reason), UNPAUSE, REMOVEMEMBER
])
def test_queue_log_rows_are_the_lines_asterisk_wrote(trace: str) -> None:
    ours = [row.file_line() for row in queue_log_of(f"{trace}.raw")]
    assert ours == asterisk_queue_log(f"{trace}.queue_log")


def test_queue_log_verbs_of_the_recorded_calls() -> None:
    verbs = {trace: [row.event for row in queue_log_of(f"{trace}.raw")]
             for trace in ("answered_call", "queue_abandon_call", "queue_timeout_call", "member_changes")}
    assert verbs["answered_call"] == ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"]
    assert verbs["queue_abandon_call"] == ["ENTERQUEUE", "RINGNOANSWER", "RINGNOANSWER", "RINGCANCELED", "ABANDON"]
    assert verbs["queue_timeout_call"] == ["ENTERQUEUE", *["RINGNOANSWER"] * 5, "EXITWITHTIMEOUT"]
    assert verbs["member_changes"] == ["ADDMEMBER", "PAUSE", "UNPAUSE", "REMOVEMEMBER", "PAUSE", "UNPAUSE"]


def test_queue_log_rows_carry_microseconds_and_the_record_comes_last() -> None:
    items, _ = feed_all("answered_call.raw")
    assert isinstance(items[-1], CallRecord)
    connect = next(i for i in items if isinstance(i, QueueLogEntry) and i.event == "CONNECT")
    assert connect.time.microsecond != 0 and connect.callid == items[-1].linkedid
    assert (connect.agent, connect.data1, connect.data2, connect.data3) == ("cma-07", "0", "1795457951.4", "0")
    assert connect.data == "0|1795457951.4|0"


def test_asterisk_queue_log_file_parses_back_to_the_same_lines() -> None:
    lines = asterisk_queue_log("queue_abandon_call.queue_log")
    rows = parse_queue_log_file([*lines, "1795459735|torn"])
    assert [row.file_line() for row in rows] == lines and all(row.recovered for row in rows)


def test_replaying_the_same_trace_twice_gives_the_same_rows() -> None:
    first, _ = feed_all("answered_call.raw")
    second, _ = feed_all("answered_call.raw")
    assert first == second
