"""Build one call record per call from AMI events. Pure: events in, records out.

A call is everything sharing a ``Linkedid`` (the caller's channel, the lines
rung, local channels). Its record is emitted when the last of those channels
hangs up, so events arriving after the caller's own hangup (AgentComplete,
the advisor's leg ending) are still counted. Times come from the events'
``Timestamp`` field (``timestampevents=yes`` in manager.conf), never a clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

AmiEvent = Mapping[str, str]


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
    wait_seconds: int | None = None
    talk_seconds: int | None = None
    abandoned: bool = False
    timed_out: bool = False
    end: dt.datetime | None = None


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


def _clid(name: str, number: str) -> str:
    name = "" if name in ("", "<unknown>") else name
    number = "" if number == "<unknown>" else number
    return f'"{name}" <{number}>' if name else number


PartnerOf = Callable[[str], str | None]


@dataclass
class CdrCorrelator:
    """Feed AMI events in arrival order; collect finished records from ``feed``'s return."""

    partner_of: PartnerOf
    calls: dict[str, _Call] = field(default_factory=dict)

    def feed(self, event: AmiEvent) -> list[CallRecord]:
        name = event.get("Event", "")
        handler = getattr(self, f"_on_{name.lower()}", None)
        if handler is None:
            return []
        result: list[CallRecord] = handler(event)
        return result

    def open_calls(self) -> int:
        return len(self.calls)

    # --- handlers --------------------------------------------------------
    def _on_newchannel(self, event: AmiEvent) -> list[CallRecord]:
        linkedid, uniqueid = event.get("Linkedid", ""), event.get("Uniqueid", "")
        if not linkedid or not uniqueid:
            return []
        call = self.calls.get(linkedid)
        if call is None:
            if uniqueid != linkedid:
                return []  # a leg of a call that started before we were listening
            call = self.calls[linkedid] = _Call(linkedid=linkedid, start=_time(event))
            call.uniqueid = uniqueid
            call.channel = event.get("Channel", "")
            call.src = "" if event.get("CallerIDNum") == "<unknown>" else event.get("CallerIDNum", "")
            call.clid = _clid(event.get("CallerIDName", ""), event.get("CallerIDNum", ""))
            call.dst = event.get("Exten", "")
        call.open_channels.add(uniqueid)
        return []

    def _on_userevent(self, event: AmiEvent) -> list[CallRecord]:
        call = self.calls.get(event.get("Linkedid", ""))
        if call is None or event.get("UserEvent") != "AiguilleurIvr":
            return []
        skip = {"Event", "UserEvent", "Privilege", "Timestamp"}
        call.ivr.update({k: v for k, v in event.items() if k not in skip and not k[0].islower()})
        return []

    def _on_queuecallerjoin(self, event: AmiEvent) -> list[CallRecord]:
        call = self.calls.get(event.get("Linkedid", ""))
        if call is not None and event.get("Uniqueid") == call.uniqueid:
            call.queue = event.get("Queue")
            call.joined_at = _time(event)
        return []

    def _on_agentconnect(self, event: AmiEvent) -> list[CallRecord]:
        call = self.calls.get(event.get("Linkedid", ""))
        if call is not None:
            call.answer = _time(event)
            call.line = event.get("MemberName") or event.get("Interface", "").removeprefix("PJSIP/")
            call.dstchannel = event.get("DestChannel", "")
            call.wait_seconds = _int(event.get("HoldTime"))
        return []

    def _on_agentcomplete(self, event: AmiEvent) -> list[CallRecord]:
        call = self.calls.get(event.get("Linkedid", ""))
        if call is not None:
            call.talk_seconds = _int(event.get("TalkTime"))
        return []

    def _on_queuecallerabandon(self, event: AmiEvent) -> list[CallRecord]:
        call = self.calls.get(event.get("Linkedid", ""))
        if call is not None:
            call.abandoned = True
            call.wait_seconds = _int(event.get("HoldTime"))
        return []

    def _on_queuecallerleave(self, event: AmiEvent) -> list[CallRecord]:
        call = self.calls.get(event.get("Linkedid", ""))
        if call is not None and call.answer is None and call.joined_at is not None:
            # Leaving unanswered without an abandon = the queue's timeout expired.
            call.timed_out = not call.abandoned
            if call.wait_seconds is None:
                call.wait_seconds = int((_time(event) - call.joined_at).total_seconds())
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

    # --- the record ------------------------------------------------------
    def _outcome(self, call: _Call) -> str:
        exit_reason = call.ivr.get("Exit")
        if call.answer is not None:
            return "answered"
        if exit_reason in ("closed", "no_input", "invalid"):
            return exit_reason
        if call.queue is None:
            return "abandoned_in_ivr"
        if call.timed_out and not call.abandoned:
            return "timeout"
        return "abandoned_in_queue"

    def _record(self, call: _Call) -> CallRecord:
        end = call.end or call.start
        ivr = call.ivr
        talk = call.talk_seconds
        if talk is None and call.answer is not None:
            talk = int((end - call.answer).total_seconds())
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
            need=ivr.get("Need"),
            sector=ivr.get("Sector"),
            size=ivr.get("Size"),
            departement=ivr.get("Departement"),
            ivr_exit=ivr.get("Exit"),
            ivr_steps=_int(ivr.get("Steps")),
            ivr_retries=_int(ivr.get("Retries")),
            hours_state=ivr.get("Hours"),
            queue=call.queue or ivr.get("Queue"),
            rule_version=_int(ivr.get("RuleVersion")),
            line=call.line,
            partner=self.partner_of(call.line) if call.line else None,
            wait_seconds=call.wait_seconds,
            talk_seconds=talk,
            outcome=self._outcome(call),
            degraded=ivr.get("Exit") == "degraded",
        )
