"""Build one call record per call, and the queue_log, from AMI events. Pure: events in, rows out.

A call is everything sharing a ``Linkedid`` (the caller's channel, the lines
rung, local channels). Its record is emitted when the last of those channels
hangs up, so events arriving after the caller's own hangup (AgentComplete,
the advisor's leg ending) are still counted. Times come from the events'
``Timestamp`` field (``timestampevents=yes`` in manager.conf), never a clock.

``feed`` returns, in order, the queue_log rows (``cdr.queue_log``) the event
completes, then the call record it completes, if any: both kinds go to the writer.

Fields beyond Asterisk's cdr columns:

- ``ring_seconds``: how long the answering line rang (AgentConnect ``RingTime``);
- ``wrapup_seconds``: the wrap-up app_queue gives the answering member after the
  call (its ``Wrapuptime`` in the last QueueMember* event seen for that queue);
- ``escalation_step``: 0 for the first pool, n when the caller waited long enough
  for the n-th widening of the queue rule (``escalation_after``: the steps'
  ``after_seconds``); derived from the wait, as Asterisk reports no event for it;
- ``abandon_position``: the caller's position when they hung up in queue;
- ``callback_requested``: the IVR's ``Callback: 1``; like ``degraded``, a flag
  beside the outcome (a closed-hours call that asked for a callback stays ``closed``);
- ``recovered``: False here; True for records rebuilt by ``cdr.recovery``;
- ``direction``: ``inbound``, or ``outbound`` for a callback try (a call born in one of
  ``callback_contexts``: the service's Originate); ``callback_of``: the original call's
  linkedid, and the profile columns the stored answers, from the try's ``AiguilleurCallback``
  UserEvent. Its ``src`` is the caller called back; ``answer`` is still when an advisor answered;
- ``transfer_type`` (``blind`` | ``attended``), ``transfer_target``, ``transfer_queue``,
  ``transfer_line``, ``transfer_partner``: set when the call was transferred after a
  line answered (BlindTransfer / AttendedTransfer event, Result Success). The target
  is where the transfer was dialled: ``exten@context``, or the line for a transfer
  straight to a line's channel (attended: the event's TransferTargetChannel, or, as
  Asterisk 22 sometimes leaves it out, the advisor's consultation call); the queue
  and line are where the caller then went (the last queue joined and the last line
  that answered on the call after the first one: for an attended transfer, the party
  the advisor consulted). After a transfer the record still describes the first
  answer: ``queue``, ``line``, ``partner``, ``wait_seconds``, ``ring_seconds`` and
  ``talk_seconds`` (until the transfer) are the first line's; ``billsec`` runs from
  that answer to the end of the whole call.

A line that rings without answering is not in the record: app_queue's RINGNOANSWER
row (and the PAUSE rows of ``autopause``) in the queue_log name it; the record names
the line that answered, its ``ring_seconds``, and ``wait_seconds`` includes the time
lost on the lines that did not answer.

A queue timeout is told from an abandon by the queue_log builder (app_queue sends
QueueCallerAbandon for both), so ``timeout`` and ``abandoned_in_queue`` are exact.

A call Asterisk itself hangs up as it stops or restarts (its ``SoftHangupRequest`` carries
the SHUTDOWN flag) is ``lost_by_pbx``, not the caller's abandon, answered or not (the record
keeps the answer time and the line).

One correlator follows one Asterisk node (issue 13): its records and queue_log rows carry
``node``, and (node, linkedid) is a record's identity, as a linkedid is unique on one node
only. A node that dies (kill -9, power) sends no hang-up for the calls it was running: when
the adapter learns it (the node came back with a new start time, or stayed unreachable too
long), ``close_all_lost(at)`` ends every call still open as ``lost_by_pbx`` at ``at``, the
moment the link was lost, answered or not: the caller was cut by the PBX, not by anyone's
choice; the record keeps the answer time and line when a line had answered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import ClassVar

from cdr.queue_log import QueueLogBuilder, QueueLogEntry, transfer_of
from cdr.vocabulary import (
    CALLBACK_USER_EVENT,
    IVR_USER_EVENT,
    SOFTHANGUP_SHUTDOWN,
    IvrExit,
    IvrField,
    Outcome,
    outcome_of,
)

AmiEvent = Mapping[str, str]
# The node of a single-node set-up, and of every record written before nodes were recorded
# (cdr/migrations/0013_node.sql's default; config.settings' first AMI node).
DEFAULT_NODE = "a"


@dataclass(frozen=True)
class CallRecord:
    linkedid: str
    uniqueid: str
    src: str
    clid: str
    dst: str
    channel: str
    dstchannel: str
    start: dt.datetime
    answer: dt.datetime | None
    end: dt.datetime
    duration: int
    billsec: int
    disposition: str
    need: str | None
    sector: str | None
    size: str | None
    departement: str | None
    ivr_exit: str | None
    ivr_steps: int | None
    ivr_retries: int | None
    hours_state: str | None
    queue: str | None
    rule_version: int | None
    line: str | None
    partner: str | None
    wait_seconds: int | None
    talk_seconds: int | None
    outcome: str
    degraded: bool
    ring_seconds: int | None = None
    wrapup_seconds: int | None = None
    escalation_step: int | None = None
    abandon_position: int | None = None
    callback_requested: bool = False
    recovered: bool = False
    transfer_type: str | None = None
    transfer_target: str | None = None
    transfer_queue: str | None = None
    transfer_line: str | None = None
    transfer_partner: str | None = None
    direction: str = "inbound"  # outbound: a callback try (aiguilleur.callbacks)
    callback_of: str | None = None  # for a callback try: the original call's linkedid
    node: str = DEFAULT_NODE  # the Asterisk node the call was on: (node, linkedid) is the record's identity


CdrItem = CallRecord | QueueLogEntry


@dataclass
class _Call:
    linkedid: str
    start: dt.datetime
    open_channels: set[str] = field(default_factory=set)
    uniqueid: str = ""
    src: str = ""
    clid: str = ""
    dst: str = ""
    channel: str = ""
    dstchannel: str = ""
    ivr: dict[str, str] = field(default_factory=dict)
    queue: str | None = None
    joined_at: dt.datetime | None = None
    answer: dt.datetime | None = None
    line: str | None = None
    answered_by: str = ""  # uniqueid of the first answering line's channel
    wait_seconds: int | None = None
    talk_seconds: int | None = None
    ring_seconds: int | None = None
    abandon_position: int | None = None
    abandoned: bool = False
    timed_out: bool = False
    end: dt.datetime | None = None
    # after the first queue and the first answer: where the call went next (transfers, consultations)
    later_queues: list[str] = field(default_factory=list)
    later_lines: list[str] = field(default_factory=list)
    transfer_type: str | None = None
    transfer_target: str | None = None
    consulted: str = ""  # the channel of the latest consultation call after the first answer
    outbound: bool = False
    callback_of: str | None = None
    cut_by_pbx: bool = False  # Asterisk hung the call up as it shut down


def _time(event: AmiEvent) -> dt.datetime:
    stamp = event.get("Timestamp")
    if stamp is None:
        raise ValueError("AMI event without Timestamp: set timestampevents=yes in manager.conf")
    return dt.datetime.fromtimestamp(float(stamp), tz=dt.UTC)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _line_of(event: AmiEvent) -> str:
    return event.get("MemberName") or event.get("Interface", "").removeprefix("PJSIP/")


def channel_target(channel: str) -> str:
    """Where a channel leads: ``Local/701@ctx-0000002a;1`` -> ``701@ctx``, ``PJSIP/cci-01-00000003`` -> ``cci-01``."""
    tech, _, name = channel.partition("/")
    if tech == "Local":
        name = name.rsplit(";", 1)[0]
    return name.rsplit("-", 1)[0] if "-" in name else name


def _transfer(event: AmiEvent) -> tuple[str, str] | None:
    """(type, target) of a successful transfer event."""
    if transfer_of(event) is None:
        return None
    if event.get("Event") == "BlindTransfer":
        return "blind", f"{event.get('Extension', '')}@{event.get('Context', '')}"
    target = event.get("TransferTargetChannel") or event.get("DestApp", "")
    return "attended", channel_target(target) if "/" in target else target  # "": see the consultation


_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
              "\\": "\\", "'": "'", '"': '"', "?": "?"}


def ami_unescape(value: str) -> str:
    """A caller or connected-line name as Asterisk holds it: AMI sends them C-escaped (ast_escape_c)."""
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append(_C_ESCAPES.get(following, "\\" + following))
    return "".join(out)


def caller_clid(name: str, number: str) -> str:
    """Asterisk's ``clid`` of a caller: ``"name" <number>``, or the number alone."""
    name = "" if name in ("", "<unknown>") else name
    number = "" if number == "<unknown>" else number
    return f'"{name}" <{number}>' if name else number


PartnerOf = Callable[[str], str | None]


@dataclass
class CdrCorrelator:
    """Feed AMI events in arrival order; ``feed`` returns the queue_log rows and records it completes.

    ``escalation_after``: the ``after_seconds`` of the queue rule's steps, in order
    (empty: ``escalation_step`` stays None). ``call_contexts``: the dialplan contexts
    a hotline call starts in; a channel born elsewhere (an advisor dialling a feature
    code, a login's Local channel) is not a call to record. None: every channel.
    ``callback_contexts``: where a callback try starts (recorded too, as ``outbound``).
    """

    partner_of: PartnerOf
    escalation_after: tuple[int, ...] = ()
    call_contexts: frozenset[str] | None = None
    callback_contexts: frozenset[str] = frozenset()
    node: str = DEFAULT_NODE  # the Asterisk node whose events this correlator reads
    calls: dict[str, _Call] = field(default_factory=dict)
    queue_log: QueueLogBuilder = field(default_factory=QueueLogBuilder)
    wrapup: dict[tuple[str, str], int] = field(default_factory=dict)

    def feed(self, event: AmiEvent) -> list[CdrItem]:
        rows = self.queue_log.feed(event)
        if rows and self.node != DEFAULT_NODE:
            rows = [replace(row, node=self.node) for row in rows]
        for row in rows:
            self._apply(row)
        handler = self.HANDLERS.get(event.get("Event", "").lower())
        if handler is None:
            return list(rows)
        return [*rows, *handler(self, event)]

    def open_calls(self) -> int:
        return len(self.calls)

    def close_all_lost(self, at: dt.datetime) -> list[CallRecord]:
        """The node died under its calls: end every call open since before ``at`` as ``lost_by_pbx`` at ``at``.

        ``at`` is when the link to the node was lost (the last instant the calls were known
        up). No hang-up will ever come for them: the node that held their channels is gone.
        A call that began after ``at`` is the restarted node's (its events may arrive before
        the adapter learns of the restart): it stays followed. The queue_log builder forgets
        the lost calls' channels (waiting, ringing, transfers); the rows the node wrote before
        dying are in its own queue_log file (``cdr.recovery``).
        """
        lost = [call for call in self.calls.values() if call.start <= at]
        records: list[CallRecord] = []
        gone: set[str] = set()
        for call in lost:
            call.end = at
            call.cut_by_pbx = True
            records.append(self._record(call))  # cut_by_pbx: lost_by_pbx, answered or not
            gone |= call.open_channels | {call.uniqueid}
            del self.calls[call.linkedid]
        builder = self.queue_log
        builder.original_position = {k: v for k, v in builder.original_position.items() if k[0] not in gone}
        for by_channel in (builder.hangup_requested, builder.undecided, builder.ringing, builder.transfers):
            for uniqueid in gone & by_channel.keys():
                del by_channel[uniqueid]
        return records

    def ended_unseen(self, event: AmiEvent) -> bool:
        """A hotline call ended that began before we listened: no record will come from us (recovery's).

        Ask before ``feed``: the hang-up of the call's own channel, in a call context, of a
        linkedid this correlator does not follow.
        """
        linkedid = event.get("Linkedid", "")
        return (event.get("Event") == "Hangup" and bool(linkedid) and event.get("Uniqueid") == linkedid
                and linkedid not in self.calls
                and (self.call_contexts is None or event.get("Context") in self.call_contexts))

    def _apply(self, row: QueueLogEntry) -> None:
        """What the queue_log decided about a caller: an abandon or a timeout."""
        if row.event not in ("ABANDON", "EXITWITHTIMEOUT"):
            return
        for call in self.calls.values():
            if call.uniqueid == row.callid:
                call.abandoned = row.event == "ABANDON"
                call.timed_out = row.event == "EXITWITHTIMEOUT"
                return

    # --- handlers --------------------------------------------------------
    def _on_newchannel(self, event: AmiEvent) -> list[CallRecord]:
        linkedid, uniqueid = event.get("Linkedid", ""), event.get("Uniqueid", "")
        if not linkedid or not uniqueid:
            return []
        call = self.calls.get(linkedid)
        if call is None:
            if uniqueid != linkedid:
                return []  # a leg of a call that started before we were listening
            context = event.get("Context")
            outbound = context in self.callback_contexts
            if self.call_contexts is not None and context not in self.call_contexts and not outbound:
                return []
            call = self.calls[linkedid] = _Call(linkedid=linkedid, start=_time(event), outbound=outbound)
            call.uniqueid = uniqueid
            call.channel = event.get("Channel", "")
            call.src = "" if event.get("CallerIDNum") == "<unknown>" else event.get("CallerIDNum", "")
            call.clid = caller_clid(ami_unescape(event.get("CallerIDName", "")), event.get("CallerIDNum", ""))
            call.dst = event.get("Exten", "")
        call.open_channels.add(uniqueid)
        channel = event.get("Channel", "")
        if call.answer is not None and channel.startswith("Local/") and channel.endswith(";1"):
            call.consulted = channel  # an advisor dialling out of the conversation (attended transfer)
        return []

    def _on_dialbegin(self, event: AmiEvent) -> list[CallRecord]:
        # A dial with no calling channel is a bridge feature's: the consultation of an attended transfer.
        if "Channel" not in event:
            call = self.calls.get(event.get("DestLinkedid", ""))
            if call is not None and call.answer is not None and event.get("DestChannel"):
                call.consulted = event["DestChannel"]
        return []

    def _on_userevent(self, event: AmiEvent) -> list[CallRecord]:
        call = self.calls.get(event.get("Linkedid", ""))
        if call is None:
            return []
        skip = {"Event", "UserEvent", "Privilege", "Timestamp"}
        if event.get("UserEvent") == CALLBACK_USER_EVENT:
            call.outbound = True
            call.callback_of = event.get("Of") or None
            # the originated channel has no caller ID yet when it is born: the one called back
            number = event.get("CallerIDNum", "")
            if number and number != "<unknown>":
                call.src, call.clid = number, caller_clid(ami_unescape(event.get("CallerIDName", "")), number)
            # the stored profile; a question the caller did not answer comes empty
            profile = (IvrField.NEED, IvrField.SECTOR, IvrField.SIZE, IvrField.DEPARTEMENT, IvrField.QUEUE)
            call.ivr.update({k: v for k, v in event.items() if k in profile and v})
            return []
        if event.get("UserEvent") != IVR_USER_EVENT:
            return []
        call.ivr.update({k: v for k, v in event.items() if k not in skip and not k[0].islower()})
        return []

    def _on_queuecallerjoin(self, event: AmiEvent) -> list[CallRecord]:
        call = self.calls.get(event.get("Linkedid", ""))
        if call is None:
            return []
        if call.queue is None and event.get("Uniqueid") == call.uniqueid:
            call.queue = event.get("Queue")
            call.joined_at = _time(event)
        elif call.queue is not None:  # transferred (or consulted) into another queue
            call.later_queues.append(event.get("Queue", ""))
        return []

    def _on_agentconnect(self, event: AmiEvent) -> list[CallRecord]:
        call = self.calls.get(event.get("Linkedid", ""))
        if call is None:
            return []
        if call.answer is not None:  # a line answering after a transfer, or a consulted one
            call.later_lines.append(_line_of(event))
            return []
        call.answer = _time(event)
        call.line = _line_of(event)
        call.answered_by = event.get("DestUniqueid", "")
        call.dstchannel = event.get("DestChannel", "")
        call.wait_seconds = _int(event.get("HoldTime"))
        call.ring_seconds = _int(event.get("RingTime"))
        return []

    def _on_agentcomplete(self, event: AmiEvent) -> list[CallRecord]:
        call = self.calls.get(event.get("Linkedid", ""))
        # the first answering line's conversation only (not the one after a transfer)
        if call is not None and event.get("DestUniqueid", "") == call.answered_by:
            call.talk_seconds = _int(event.get("TalkTime"))
        return []

    def _on_blindtransfer(self, event: AmiEvent) -> list[CallRecord]:
        transfer = _transfer(event)
        prefixes = ("Transferee", "Transferer", "OrigTransferer", "SecondTransferer")
        calls = (self.calls.get(event.get(f"{p}Linkedid", "")) for p in prefixes)
        call = next((c for c in calls if c is not None), None)
        if call is not None and transfer is not None:
            call.transfer_type, call.transfer_target = transfer
            if not call.transfer_target:  # Asterisk sometimes leaves TransferTargetChannel out
                call.transfer_target = channel_target(call.consulted) if call.consulted else None
        return []

    def _on_queuecallerabandon(self, event: AmiEvent) -> list[CallRecord]:
        # Sent for a hang-up and for a timeout alike: the queue_log builder tells which (``_apply``).
        call = self.calls.get(event.get("Linkedid", ""))
        if call is not None and call.answer is None:
            call.wait_seconds = _int(event.get("HoldTime"))
            call.abandon_position = _int(event.get("Position"))
        return []

    def _on_queuecallerleave(self, event: AmiEvent) -> list[CallRecord]:
        call = self.calls.get(event.get("Linkedid", ""))
        if call is not None and call.answer is None and call.joined_at is not None and call.wait_seconds is None:
            call.wait_seconds = int((_time(event) - call.joined_at).total_seconds())
        return []

    def _on_queuememberstatus(self, event: AmiEvent) -> list[CallRecord]:
        wrapup = _int(event.get("Wrapuptime"))
        if wrapup is not None:
            self.wrapup[(event.get("Queue", ""), event.get("MemberName", ""))] = wrapup
        return []

    def _on_softhanguprequest(self, event: AmiEvent) -> list[CallRecord]:
        # A stop or restart of Asterisk hangs up every channel with the SHUTDOWN flag: the
        # caller did not hang up, so the call must not be counted as their abandon.
        call = self.calls.get(event.get("Linkedid", ""))
        cause = _int(event.get("Cause"))
        if call is not None and cause is not None and cause & SOFTHANGUP_SHUTDOWN:
            call.cut_by_pbx = True
        return []

    def _on_hangup(self, event: AmiEvent) -> list[CallRecord]:
        linkedid = event.get("Linkedid", "")
        call = self.calls.get(linkedid)
        if call is None:
            return []
        call.open_channels.discard(event.get("Uniqueid", ""))
        call.end = _time(event)
        if call.open_channels:
            return []
        del self.calls[linkedid]
        return [self._record(call)]

    # AMI event name (lower case) -> handler: the events a record is built from; any other is ignored.
    HANDLERS: ClassVar[Mapping[str, Callable[[CdrCorrelator, AmiEvent], list[CallRecord]]]] = {
        "newchannel": _on_newchannel,
        "dialbegin": _on_dialbegin,
        "dialend": _on_dialbegin,
        "userevent": _on_userevent,
        "queuecallerjoin": _on_queuecallerjoin,
        "agentconnect": _on_agentconnect,
        "agentcomplete": _on_agentcomplete,
        "blindtransfer": _on_blindtransfer,
        "attendedtransfer": _on_blindtransfer,
        "queuecallerabandon": _on_queuecallerabandon,
        "queuecallerleave": _on_queuecallerleave,
        "queuememberstatus": _on_queuememberstatus,
        "queuememberadded": _on_queuememberstatus,
        "queuemember": _on_queuememberstatus,  # QueueStatus's list events
        "softhanguprequest": _on_softhanguprequest,
        "hangup": _on_hangup,
    }

    # --- the record ------------------------------------------------------
    def _outcome(self, call: _Call) -> Outcome:
        # ``timed_out`` comes from an EXITWITHTIMEOUT of the caller's channel, which joined a queue.
        return outcome_of(answered=call.answer is not None, ivr_exit=call.ivr.get(IvrField.EXIT),
                          queued=call.queue is not None, timed_out=call.timed_out, cut_by_pbx=call.cut_by_pbx)

    def _escalation_step(self, call: _Call) -> int | None:
        if not self.escalation_after or call.queue is None:
            return None
        waited = call.wait_seconds or 0
        return max((i for i, after in enumerate(self.escalation_after) if after <= waited), default=0)

    def _record(self, call: _Call) -> CallRecord:
        end = call.end or call.start
        ivr = call.ivr
        talk = call.talk_seconds
        if talk is None and call.answer is not None:
            talk = int((end - call.answer).total_seconds())
        transferred = call.transfer_type is not None
        later_line = call.later_lines[-1] if transferred and call.later_lines else None
        return CallRecord(
            linkedid=call.linkedid,
            uniqueid=call.uniqueid,
            src=call.src,
            clid=call.clid,
            dst=call.dst,
            channel=call.channel,
            dstchannel=call.dstchannel,
            start=call.start,
            answer=call.answer,
            end=end,
            duration=round((end - call.start).total_seconds()),
            billsec=round((end - call.answer).total_seconds()) if call.answer else 0,
            disposition="ANSWERED" if call.answer else "NO ANSWER",
            need=ivr.get(IvrField.NEED),
            sector=ivr.get(IvrField.SECTOR),
            size=ivr.get(IvrField.SIZE),
            departement=ivr.get(IvrField.DEPARTEMENT),
            ivr_exit=ivr.get(IvrField.EXIT),
            ivr_steps=_int(ivr.get(IvrField.STEPS)),
            ivr_retries=_int(ivr.get(IvrField.RETRIES)),
            hours_state=ivr.get(IvrField.HOURS),
            queue=call.queue or ivr.get(IvrField.QUEUE),
            rule_version=_int(ivr.get(IvrField.RULE_VERSION)),
            line=call.line,
            partner=self.partner_of(call.line) if call.line else None,
            wait_seconds=call.wait_seconds,
            talk_seconds=talk,
            outcome=self._outcome(call),
            degraded=ivr.get(IvrField.EXIT) == IvrExit.DEGRADED,
            ring_seconds=call.ring_seconds,
            wrapup_seconds=self.wrapup.get((call.queue or "", call.line)) if call.line and call.answer else None,
            escalation_step=self._escalation_step(call),
            abandon_position=call.abandon_position if call.abandoned and not call.cut_by_pbx else None,
            callback_requested=ivr.get(IvrField.CALLBACK) == "1",
            transfer_type=call.transfer_type,
            transfer_target=call.transfer_target,
            transfer_queue=call.later_queues[-1] if transferred and call.later_queues else None,
            transfer_line=later_line,
            transfer_partner=self.partner_of(later_line) if later_line else None,
            direction="outbound" if call.outbound else "inbound",
            callback_of=call.callback_of,
            node=self.node,
        )
