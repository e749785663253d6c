"""The CDR correlator on AMI traffic recorded from the real sandbox Asterisk 22.

The ``*.queue_log`` fixtures are the lines Asterisk's app_queue wrote to its own
queue_log file during the very calls whose AMI traffic is in the ``*.raw`` next
to them (``tests/fixtures/ami/record_queue_traces.py``): our queue_log rows must
be the same lines, verb for verb and field for field.
"""

from pathlib import Path

import pytest

from cdr.correlator import CallRecord, CdrCorrelator, CdrItem, ami_unescape
from cdr.queue_log import QueueLogEntry, parse_queue_log_file
from queues.ami_parse import parse_ami_stream

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
ESCALATION_AFTER = (0, 30, 90)  # config/hotline.yaml's queue rule steps


def partner_of(line: str) -> str | None:
    return line.rsplit("-", 1)[0]


def feed_all(name: str) -> tuple[list[CdrItem], CdrCorrelator]:
    # As the service runs it: only calls born in the hotline's context are records.
    correlator = CdrCorrelator(partner_of=partner_of, escalation_after=ESCALATION_AFTER,
                               call_contexts=frozenset({"hotline-in"}))
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


def test_callers_cut_as_asterisk_stops_are_lost_by_the_pbx_not_abandons() -> None:
    """Recorded: ``core stop now`` with one caller in the queue and one in the menu. Asterisk's own
    queue_log says ABANDON for the first; its SoftHangupRequest with the SHUTDOWN flag says who cut."""
    records, correlator = replay("asterisk_stopped_call.raw")
    assert correlator.open_calls() == 0
    by_caller = {r.src: r for r in records}
    assert set(by_caller) == {"0320000031", "0320000032"}
    queued, in_menu = by_caller["0320000031"], by_caller["0320000032"]
    assert queued.outcome == "lost_by_pbx" and queued.queue == "hotline" and queued.wait_seconds == 8
    assert queued.abandon_position is None and queued.answer is None
    assert in_menu.outcome == "lost_by_pbx" and in_menu.need == "creation" and in_menu.queue is None
    assert "|ABANDON|" in (FIXTURES / "asterisk_stopped_call.queue_log").read_text(encoding="utf-8")


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
    "ring_no_answer_call",  # ENTERQUEUE, RINGNOANSWER, PAUSEALL + PAUSE in each queue (autopause), CONNECT, ...
    "blind_transfer_call",  # ENTERQUEUE, CONNECT, BLINDTRANSFER, then the second queue: ENTERQUEUE, CONNECT, ...
    "attended_transfer_call",  # the consulted queue's ENTERQUEUE, CONNECT (a Local channel), ATTENDEDTRANSFER
    "attended_transfer_without_target_call",  # the same; Asterisk's AttendedTransfer event had no target channel
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


def test_line_that_does_not_answer_is_recorded_and_the_next_line_answers() -> None:
    """cma-02 rings 5 s unanswered: app_queue logs it, pauses it in every queue (autopause) and cma-01 answers."""
    records, correlator = replay("ring_no_answer_call.raw")
    assert len(records) == 1 and correlator.open_calls() == 0
    record = records[0]
    assert record.outcome == "answered" and record.queue == "sector-crafts"
    assert (record.line, record.partner) == ("cma-01", "cma")
    assert record.dstchannel.startswith("PJSIP/cma-01-")
    # 5 s ringing cma-02, the 1 s retry, then cma-01 answered at once: the caller waited 7 s
    assert (record.wait_seconds, record.ring_seconds, record.talk_seconds) == (7, 0, 4)
    assert record.transfer_type is None and record.transfer_line is None

    rows = queue_log_of("ring_no_answer_call.raw")
    unanswered = [r for r in rows if r.event == "RINGNOANSWER"]
    assert [(r.agent, r.queuename, r.data1, r.callid) for r in unanswered] == [
        ("cma-02", "sector-crafts", "5000", record.linkedid)]
    paused = [r for r in rows if r.event in ("PAUSEALL", "PAUSE")]
    assert paused[0].event == "PAUSEALL" and paused[0].queuename == "NONE"
    assert {r.agent for r in paused} == {"cma-02"} and {r.data1 for r in paused} == {"Auto-Pause"}
    assert len({r.queuename for r in paused[1:]}) == len(paused) - 1 == 11  # every queue cma-02 is in
    connect = next(r for r in rows if r.event == "CONNECT")
    assert (connect.agent, connect.data1) == ("cma-01", "7")


def test_blind_transfer_keeps_one_record_and_names_the_target() -> None:
    """cma-02 answers, talks 3 s and blind-transfers the caller to sector-commerce, where cci-01 answers."""
    records, correlator = replay("blind_transfer_call.raw")
    assert len(records) == 1 and correlator.open_calls() == 0
    record = records[0]
    # who answered first, as for any answered call
    assert record.outcome == "answered" and record.queue == "sector-crafts"
    assert (record.line, record.partner) == ("cma-02", "cma") and record.dstchannel.startswith("PJSIP/cma-02-")
    assert (record.wait_seconds, record.ring_seconds, record.talk_seconds) == (0, 0, 3)
    assert record.wrapup_seconds == 15
    # and where the caller went
    assert record.transfer_type == "blind" and record.transfer_target == "701@aiguilleur-transfer"
    assert (record.transfer_queue, record.transfer_line, record.transfer_partner) == (
        "sector-commerce", "cci-01", "cci")
    assert record.billsec >= record.talk_seconds + 8  # the whole conversation, cci-01's 8 s included

    transfer = next(r for r in queue_log_of("blind_transfer_call.raw") if r.event == "BLINDTRANSFER")
    assert (transfer.callid, transfer.queuename, transfer.agent) == (record.linkedid, "sector-crafts", "cma-02")
    assert transfer.data == "701|aiguilleur-transfer|0|3|1"  # exten|context|hold|talk|original position


def test_attended_transfer_names_the_consulted_line() -> None:
    """cma-02 consults sector-commerce (cci-01 answers a Local channel), then hangs up: the caller goes to cci-01."""
    records, correlator = replay("attended_transfer_call.raw")
    assert len(records) == 1 and correlator.open_calls() == 0  # the Local channels are the same call
    record = records[0]
    assert record.outcome == "answered" and record.queue == "sector-crafts"
    assert (record.line, record.partner, record.talk_seconds) == ("cma-02", "cma", 8)
    assert record.transfer_type == "attended" and record.transfer_target == "701@aiguilleur-transfer"
    assert (record.transfer_queue, record.transfer_line, record.transfer_partner) == (
        "sector-commerce", "cci-01", "cci")

    rows = queue_log_of("attended_transfer_call.raw")
    transfer = next(r for r in rows if r.event == "ATTENDEDTRANSFER")
    assert (transfer.callid, transfer.agent, transfer.data1) == (record.linkedid, "cma-02", "BRIDGE")
    assert (transfer.data3, transfer.data4, transfer.data5) == ("1", "8", "1")
    consulted = next(r for r in rows if r.event == "ENTERQUEUE" and r.queuename == "sector-commerce")
    assert consulted.callid != record.linkedid and consulted.data2 == "cma02"  # the advisor's Local channel


def test_attended_transfer_event_without_target_channel_takes_the_target_from_the_consultation() -> None:
    """Recorded live: Asterisk 22 sent AttendedTransfer with no TransferTargetChannel (the consultation's
    bridge was already empty); the advisor's consultation call (Local/701@aiguilleur-transfer) names it."""
    events = list(parse_ami_stream((FIXTURES / "attended_transfer_without_target_call.raw").read_bytes()))
    transfer = next(e for e in events if e.get("Event") == "AttendedTransfer")
    assert "TransferTargetChannel" not in transfer
    records, correlator = replay("attended_transfer_without_target_call.raw")
    assert len(records) == 1 and correlator.open_calls() == 0
    record = records[0]
    assert (record.line, record.transfer_type, record.transfer_target) == (
        "cma-02", "attended", "701@aiguilleur-transfer")
    assert (record.transfer_queue, record.transfer_line) == ("sector-commerce", "cci-01")


def test_a_missed_transfer_event_still_closes_the_queue_call() -> None:
    """Without the BlindTransfer event (lost by the listener), the queue call still ends: plain TRANSFER row."""
    correlator = CdrCorrelator(partner_of=partner_of, escalation_after=ESCALATION_AFTER)
    items: list[CdrItem] = []
    for event in parse_ami_stream((FIXTURES / "blind_transfer_call.raw").read_bytes()):
        if event.get("Event") != "BlindTransfer":
            items.extend(correlator.feed(event))
    records = [i for i in items if isinstance(i, CallRecord)]
    assert len(records) == 1 and records[0].line == "cma-02" and records[0].transfer_type is None
    verbs = [i.event for i in items if isinstance(i, QueueLogEntry)]
    assert verbs == ["ENTERQUEUE", "CONNECT", "TRANSFER", "ENTERQUEUE", "CONNECT", "COMPLETEAGENT"]


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


def test_an_advisor_dialling_a_feature_code_is_not_a_call_record() -> None:
    correlator = CdrCorrelator(partner_of=partner_of, call_contexts=frozenset({"hotline-in"}))
    born = {"Event": "Newchannel", "Timestamp": "1795460000.0", "Channel": "PJSIP/cma-03-00000009",
            "CallerIDNum": "cma-03", "CallerIDName": "cma-03", "Context": "lines", "Exten": "*472",
            "Uniqueid": "1795460000.9", "Linkedid": "1795460000.9"}
    gone = {**born, "Event": "Hangup", "Timestamp": "1795460002.0", "Cause": "16"}
    assert correlator.feed(born) == [] and correlator.open_calls() == 0
    assert [i for i in correlator.feed(gone) if isinstance(i, CallRecord)] == []


def test_a_penalty_change_is_logged_as_app_queue_logs_it() -> None:
    """Recorded on the sandbox Asterisk 22 (a re-base round during ring_no_answer_call): the AMI
    event and the line app_queue wrote to its own queue_log file for it."""
    event = {
        "Event": "QueueMemberPenalty", "Privilege": "agent,all", "Timestamp": "1796457608.256086",
        "Queue": "partner-direccte", "MemberName": "cma-01", "Interface": "PJSIP/cma-01",
        "StateInterface": "PJSIP/cma-01", "Membership": "static", "Penalty": "0", "CallsTaken": "0",
        "LastCall": "0", "LastPause": "0", "LoginTime": "1796457607", "InCall": "0", "Status": "1",
        "Paused": "0", "PausedReason": "", "Ringinuse": "0", "Wrapuptime": "15",
    }
    rows = [i for i in CdrCorrelator(partner_of=partner_of).feed(event) if isinstance(i, QueueLogEntry)]
    assert [row.file_line() for row in rows] == ["1796457608|NONE|partner-direccte|PJSIP/cma-01|PENALTY|0"]


def test_a_join_to_the_next_queue_published_before_the_transfer_completes_keeps_both_positions() -> None:
    """Seen on the real PBX: after a blind transfer Asterisk may publish the caller's
    QueueCallerJoin in the next queue before the first queue's AgentComplete. The recorded
    trace, with those two events swapped, must still give Asterisk's own lines."""
    events = parse_ami_stream((FIXTURES / "blind_transfer_call.raw").read_bytes())
    complete = next(i for i, e in enumerate(events)
                    if e.get("Event") == "AgentComplete" and e.get("Reason") == "transfer")
    join = next(i for i, e in enumerate(events) if i > complete and e.get("Event") == "QueueCallerJoin")
    events.insert(complete, events.pop(join))
    correlator = CdrCorrelator(partner_of=partner_of, escalation_after=ESCALATION_AFTER,
                               call_contexts=frozenset({"hotline-in"}))
    rows = [i for e in events for i in correlator.feed(e) if isinstance(i, QueueLogEntry)]
    ours = sorted(row.file_line() for row in rows)
    assert ours == sorted(asterisk_queue_log("blind_transfer_call.queue_log"))


def test_a_caller_name_is_recorded_as_asterisk_holds_it_not_as_ami_escapes_it() -> None:
    # AMI C-escapes CallerIDName (ast_escape_c): a quote and a backslash arrive doubled up.
    assert ami_unescape(r'x\\\" <sip:evil@h>\\\\ ${SHELL(id)}') == r'x\" <sip:evil@h>\\ ${SHELL(id)}'
    assert ami_unescape("Appelant SIPp") == "Appelant SIPp"
    assert ami_unescape("a\\nb\\") == "a\nb\\"  # a lone trailing backslash is kept


def test_the_end_of_a_call_that_began_before_we_listened_is_told_apart() -> None:
    correlator = CdrCorrelator(partner_of=lambda line: None, call_contexts=frozenset({"hotline-in"}))
    hangup = {"Event": "Hangup", "Uniqueid": "1.0", "Linkedid": "1.0", "Context": "hotline-in"}
    assert correlator.ended_unseen(hangup)
    assert not correlator.ended_unseen({**hangup, "Uniqueid": "1.1"})  # another leg of it
    assert not correlator.ended_unseen({**hangup, "Context": "lines"})  # an advisor's own call
    correlator.feed({"Event": "Newchannel", "Uniqueid": "1.0", "Linkedid": "1.0", "Context": "hotline-in",
                     "Timestamp": "1795466697.838137",
                     "Channel": "PJSIP/pstn-1", "CallerIDNum": "0320000001", "Exten": "0800596280"})
    assert not correlator.ended_unseen(hangup)  # followed: its record comes from the correlator


def test_every_event_handler_is_in_the_dispatch_table() -> None:
    """An ``_on_<event>`` method left out of ``HANDLERS`` would never run."""
    methods = {name for name in vars(CdrCorrelator) if name.startswith("_on_")}
    assert methods == {handler.__name__ for handler in CdrCorrelator.HANDLERS.values()}
    assert all(event == event.lower() for event in CdrCorrelator.HANDLERS)
