"""The CDR correlator on AMI traffic recorded from the real sandbox Asterisk 22."""

from pathlib import Path

from cdr.correlator import CallRecord, CdrCorrelator
from queues.ami_parse import parse_ami_stream

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"


def partner_of(line: str) -> str | None:
    return line.rsplit("-", 1)[0]


def replay(name: str) -> tuple[list[CallRecord], CdrCorrelator]:
    correlator = CdrCorrelator(partner_of=partner_of)
    records: list[CallRecord] = []
    for event in parse_ami_stream((FIXTURES / name).read_bytes()):
        records.extend(correlator.feed(event))
    return records, correlator


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


def test_caller_hanging_up_in_the_menu_is_abandoned_in_ivr() -> None:
    records, _ = replay("ivr_hangup_call.raw")
    assert len(records) == 1
    record = records[0]
    assert record.outcome == "abandoned_in_ivr"
    assert record.queue is None and record.answer is None and record.disposition == "NO ANSWER"
    assert record.billsec == 0 and record.duration >= 5


def test_call_with_the_service_down_is_marked_degraded_and_still_answered() -> None:
    records, _ = replay("degraded_call.raw")
    assert len(records) == 1
    record = records[0]
    assert record.degraded and record.ivr_exit == "degraded"
    assert record.queue == "hotline" and record.outcome == "answered"


def test_replaying_the_same_trace_twice_gives_the_same_record() -> None:
    first, _ = replay("answered_call.raw")
    second, _ = replay("answered_call.raw")
    assert first == second
