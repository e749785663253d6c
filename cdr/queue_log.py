"""Asterisk's queue_log, rebuilt from AMI events. Pure: events in, rows out.

A row has the columns of Asterisk's realtime ``queue_log`` table (``time,
callid, queuename, agent, event, data1..data5``) and the verbs and data fields
app_queue writes to its own queue_log file, checked line by line against that
file on traces recorded from the real Asterisk 22 (``tests/fixtures/ami/*.queue_log``):

=============== =================================== ======================================
AMI event        verb                                data1 | data2 | data3 ...
=============== =================================== ======================================
QueueCallerJoin  ENTERQUEUE                          url ('') | caller number | position
AgentConnect     CONNECT                             holdtime s | member channel uniqueid | ringtime s
AgentComplete    COMPLETECALLER / COMPLETEAGENT      holdtime s | talk time s | original position
BlindTransfer +  BLINDTRANSFER                       exten | context | holdtime | talk time | original position
 AgentComplete (Reason: transfer)
AttendedTransfer ATTENDEDTRANSFER                    BRIDGE | bridge id (or APP | app, LINK | chan | chan)
 + AgentComplete (Reason: transfer)                  | holdtime | talk time | original position
QueueCallerAbandon ABANDON (the caller hung up)      position | original position | wait s
QueueCallerAbandon EXITWITHTIMEOUT (QUEUESTATUS=TIMEOUT) position | original position | wait s
AgentRingNoAnswer RINGNOANSWER                       ring time ms
(caller hangs up while a line rings) RINGCANCELED   ring time ms (AgentCalled to HangupRequest)
QueueMemberAdded  ADDMEMBER (callid MANAGER)         ''
QueueMemberRemoved REMOVEMEMBER (callid MANAGER)     ''
QueueMemberPenalty PENALTY (callid NONE, agent = the  new penalty
 member's interface, as app_queue writes it)
QueueMemberPause  PAUSE / UNPAUSE                    reason
 (a burst, one per queue) PAUSEALL / UNPAUSEALL      reason (callid and queue NONE), then one PAUSE per queue
=============== =================================== ======================================

``callid`` is the caller channel's uniqueid (``NONE`` for member events, as
app_queue writes them), ``agent`` the member name (``log_membername_as_agent=yes``)
or ``NONE``. ``time`` is the AMI event's Timestamp (microseconds), where
Asterisk's file has whole seconds.

app_queue publishes QueueCallerAbandon both when the caller hangs up and when the
queue's timeout expires; only the channel variable it sets next
(``QUEUESTATUS=TIMEOUT``) tells them apart, so that row is held until the
channel's QUEUESTATUS (or its hang-up, or the dialplan going on) says which it was.

A transfer by the advisor ends the queue call with AgentComplete ``Reason: transfer``;
the BlindTransfer or AttendedTransfer event just before it says where the caller went,
which app_queue writes in the row (Asterisk 22 writes no plain ``TRANSFER`` verb; this
builder falls back to it only when it missed the transfer event).

A member paused or unpaused in every queue at once (``autopause=all``, QueuePause
without a queue, PauseQueueMember without a queue) gets a PAUSEALL/UNPAUSEALL row
before its PAUSE rows; AMI has no event for it, only the burst of QueueMemberPause
events (one per queue, same member, same state and reason, within ``PAUSE_BURST``).
So the rows of a QueueMemberPause are held until the next event shows whether the
burst goes on. Known gap: a member in a single queue paused "in all queues" shows as
one plain PAUSE (Asterisk's file has PAUSEALL then PAUSE).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

AmiEvent = Mapping[str, str]
NONE = "NONE"
MANAGER = "MANAGER"
# The QueueMemberPause events of one pause-all come within microseconds of each other.
PAUSE_BURST = dt.timedelta(milliseconds=50)


@dataclass(frozen=True)
class QueueLogEntry:
    """One queue_log row; (node, callid, time, event, queuename, agent) is its identity."""

    time: dt.datetime
    callid: str
    queuename: str
    agent: str
    event: str
    data1: str = ""
    data2: str = ""
    data3: str = ""
    data4: str = ""
    data5: str = ""
    recovered: bool = False
    node: str = "a"  # the Asterisk node it happened on (issue 13): part of the identity, as callid is per node

    @property
    def data(self) -> str:
        """``data1|...|data5`` without trailing empty fields, as Asterisk's file and ``data`` column."""
        return "|".join((self.data1, self.data2, self.data3, self.data4, self.data5)).rstrip("|")

    def key(self) -> tuple[str, dt.datetime, str, str, str]:
        return (self.callid, self.time, self.event, self.queuename, self.agent)

    def file_line(self) -> str:
        """The line Asterisk's queue_log file would hold (whole seconds)."""
        stamp = int(self.time.timestamp())
        head = f"{stamp}|{self.callid}|{self.queuename}|{self.agent}|{self.event}"
        return f"{head}|{self.data}"


def ami_time(event: AmiEvent) -> dt.datetime:
    stamp = event.get("Timestamp")
    if stamp is None:
        raise ValueError("AMI event without Timestamp: set timestampevents=yes in manager.conf")
    return dt.datetime.fromtimestamp(float(stamp), tz=dt.UTC)


def _number(value: str | None) -> str:
    return "" if value in (None, "<unknown>") else str(value)


def _entry(
    event: AmiEvent, verb: str, *data: str, callid: str | None = None, agent: str | None = None
) -> QueueLogEntry:
    values = [*data, "", "", "", "", ""][:5]
    return QueueLogEntry(
        time=ami_time(event),
        callid=callid if callid is not None else event.get("Uniqueid") or NONE,
        queuename=event.get("Queue") or NONE,
        agent=agent if agent is not None else event.get("MemberName") or NONE,
        event=verb,
        data1=values[0], data2=values[1], data3=values[2], data4=values[3], data5=values[4],
    )


@dataclass
class _Waiting:
    """A caller app_queue reported as gone unanswered: abandon or timeout, not known yet."""

    event: dict[str, str]


@dataclass(frozen=True)
class Transfer:
    """Where an advisor (or the caller) sent the other party: the data of app_queue's transfer row."""

    verb: str  # BLINDTRANSFER | ATTENDEDTRANSFER
    data: tuple[str, ...]  # BLINDTRANSFER: exten, context; ATTENDEDTRANSFER: BRIDGE, id | APP, app | LINK, a, b


def transfer_of(event: AmiEvent) -> Transfer | None:
    """The transfer a successful BlindTransfer or AttendedTransfer event describes (None otherwise)."""
    if event.get("Result") != "Success":
        return None
    if event.get("Event") == "BlindTransfer":
        return Transfer("BLINDTRANSFER", (event.get("Extension", ""), event.get("Context", "")))
    if event.get("Event") != "AttendedTransfer":
        return None
    kind = event.get("DestType", "")
    if kind == "Bridge":
        return Transfer("ATTENDEDTRANSFER", ("BRIDGE", event.get("DestBridgeUniqueid", "")))
    if kind == "App":
        return Transfer("ATTENDEDTRANSFER", ("APP", event.get("DestApp", "")))
    if kind == "Link":
        links = (event.get("LocalOneChannel", ""), event.get("LocalTwoChannel", ""))
        return Transfer("ATTENDEDTRANSFER", ("LINK", *links))
    return None  # Threeway, Fail: app_queue logs no transfer


def _transfer_parties(event: AmiEvent) -> set[str]:
    """Uniqueids of the channels on either side of a transfer (the queue caller is one of them)."""
    keys = ("TransfereeUniqueid", "TransfererUniqueid", "OrigTransfererUniqueid", "SecondTransfererUniqueid")
    return {event[k] for k in keys if event.get(k)}


@dataclass
class QueueLogBuilder:
    """Feed every AMI event in arrival order; ``feed`` returns the queue_log rows it completes."""

    # (caller uniqueid, queue) -> position at entry. Per queue: after a blind transfer Asterisk may
    # publish the caller's join to the next queue before the AgentComplete of the first one.
    original_position: dict[tuple[str, str], str] = field(default_factory=dict)
    hangup_requested: dict[str, dt.datetime] = field(default_factory=dict)
    undecided: dict[str, _Waiting] = field(default_factory=dict)
    # caller uniqueid -> member name -> when app_queue started ringing it
    ringing: dict[str, dict[str, dt.datetime]] = field(default_factory=dict)
    # channel uniqueid -> the transfer it took part in, until its AgentComplete
    transfers: dict[str, Transfer] = field(default_factory=dict)
    # the QueueMemberPause events of a burst not known to be over yet
    pauses: list[dict[str, str]] = field(default_factory=list)

    def feed(self, event: AmiEvent) -> list[QueueLogEntry]:
        name = event.get("Event", "")
        uniqueid = event.get("Uniqueid", "")
        out: list[QueueLogEntry] = []
        if self.pauses and not self._same_burst(event):
            out.extend(self._pause_rows())
        if uniqueid in self.undecided and self._decisive(event):
            out.extend(self._decide(uniqueid, event))
        handler = getattr(self, f"_on_{name.lower()}", None)
        if handler is not None:
            out.extend(handler(event))
        return out

    def pending(self) -> int:
        """Callers whose queue exit, and pauses whose extent, is not decided yet (a test checks it drains to 0)."""
        return len(self.undecided) + len(self.pauses)

    # --- callers ---------------------------------------------------------
    def _on_queuecallerjoin(self, event: AmiEvent) -> list[QueueLogEntry]:
        uniqueid = event.get("Uniqueid", "")
        position = event.get("Position", "")
        self.original_position[uniqueid, event.get("Queue", "")] = position
        return [_entry(event, "ENTERQUEUE", "", _number(event.get("CallerIDNum")), position, agent=NONE)]

    def _on_agentcalled(self, event: AmiEvent) -> list[QueueLogEntry]:
        self.ringing.setdefault(event.get("Uniqueid", ""), {})[event.get("MemberName", "")] = ami_time(event)
        return []

    def _on_agentconnect(self, event: AmiEvent) -> list[QueueLogEntry]:
        self.ringing.pop(event.get("Uniqueid", ""), None)
        return [_entry(event, "CONNECT", event.get("HoldTime", ""), event.get("DestUniqueid", ""),
                       event.get("RingTime", ""))]

    def _on_agentcomplete(self, event: AmiEvent) -> list[QueueLogEntry]:
        uniqueid = event.get("Uniqueid", "")
        hold, talk = event.get("HoldTime", ""), event.get("TalkTime", "")
        position = self.original_position.pop((uniqueid, event.get("Queue", "")), "")
        reason = event.get("Reason", "")
        if reason == "transfer":
            transfer = self.transfers.pop(uniqueid, None)
            if transfer is None:  # the transfer event was missed: the pre-Asterisk 12 verb
                return [_entry(event, "TRANSFER", "", "", hold, talk, position)]
            return [_entry(event, transfer.verb, *transfer.data, hold, talk, position)]
        verb = "COMPLETEAGENT" if reason == "agent" else "COMPLETECALLER"
        return [_entry(event, verb, hold, talk, position)]

    def _on_blindtransfer(self, event: AmiEvent) -> list[QueueLogEntry]:
        transfer = transfer_of(event)
        if transfer is not None:
            self.transfers.update(dict.fromkeys(_transfer_parties(event), transfer))
        return []

    _on_attendedtransfer = _on_blindtransfer

    def _on_agentringnoanswer(self, event: AmiEvent) -> list[QueueLogEntry]:
        self.ringing.get(event.get("Uniqueid", ""), {}).pop(event.get("MemberName", ""), None)
        return [_entry(event, "RINGNOANSWER", event.get("RingTime", ""))]

    def _on_queuecallerabandon(self, event: AmiEvent) -> list[QueueLogEntry]:
        uniqueid = event.get("Uniqueid", "")
        if uniqueid in self.hangup_requested:
            return self._abandon_rows(dict(event), "ABANDON")
        self.undecided[uniqueid] = _Waiting(dict(event))
        return []

    def _on_hanguprequest(self, event: AmiEvent) -> list[QueueLogEntry]:
        self.hangup_requested.setdefault(event.get("Uniqueid", ""), ami_time(event))
        return []

    _on_softhanguprequest = _on_hanguprequest

    def _on_hangup(self, event: AmiEvent) -> list[QueueLogEntry]:
        uniqueid = event.get("Uniqueid", "")
        self.hangup_requested.pop(uniqueid, None)
        for key in [k for k in self.original_position if k[0] == uniqueid]:
            del self.original_position[key]
        self.ringing.pop(uniqueid, None)
        self.transfers.pop(uniqueid, None)
        return []

    @staticmethod
    def _decisive(event: AmiEvent) -> bool:
        """After QueueCallerAbandon app_queue sets QUEUEWAIT & co, then QUEUESTATUS; or the channel goes."""
        name = event.get("Event", "")
        if name == "VarSet":
            return event.get("Variable") == "QUEUESTATUS"
        return name in ("Newexten", "Hangup", "HangupRequest", "SoftHangupRequest", "QueueCallerJoin")

    def _decide(self, uniqueid: str, event: AmiEvent) -> list[QueueLogEntry]:
        """The caller's next event after QueueCallerAbandon: QUEUESTATUS=TIMEOUT or anything else."""
        waiting = self.undecided.pop(uniqueid)
        timed_out = (
            event.get("Event") == "VarSet"
            and event.get("Variable") == "QUEUESTATUS"
            and event.get("Value") == "TIMEOUT"
        )
        return self._abandon_rows(waiting.event, "EXITWITHTIMEOUT" if timed_out else "ABANDON")

    def _abandon_rows(self, event: AmiEvent, verb: str) -> list[QueueLogEntry]:
        uniqueid = event.get("Uniqueid", "")
        self.original_position.pop((uniqueid, event.get("Queue", "")), None)
        rows: list[QueueLogEntry] = []
        ringing = self.ringing.pop(uniqueid, {})
        if verb == "ABANDON":
            hung_up = self.hangup_requested.get(uniqueid, ami_time(event))
            for member, since in ringing.items():
                ms = int((hung_up - since).total_seconds() * 1000)
                rows.append(_entry(event, "RINGCANCELED", str(max(ms, 0)), agent=member))
        rows.append(_entry(event, verb, event.get("Position", ""), event.get("OriginalPosition", ""),
                           event.get("HoldTime", ""), agent=NONE))
        return rows

    # --- members ---------------------------------------------------------
    # Members are added and removed by AMI actions (QueueAdd/QueueRemove): app_queue logs
    # those with callid MANAGER; pauses with NONE.
    def _on_queuememberadded(self, event: AmiEvent) -> list[QueueLogEntry]:
        return [_entry(event, "ADDMEMBER", "", callid=MANAGER)]

    def _on_queuememberremoved(self, event: AmiEvent) -> list[QueueLogEntry]:
        return [_entry(event, "REMOVEMEMBER", "", callid=MANAGER)]

    def _on_queuememberpenalty(self, event: AmiEvent) -> list[QueueLogEntry]:
        # QueuePenalty (rules applied, tiers re-based): app_queue names the interface here.
        return [_entry(event, "PENALTY", event.get("Penalty", ""), callid=NONE,
                       agent=event.get("Interface") or NONE)]

    def _on_queuememberpause(self, event: AmiEvent) -> list[QueueLogEntry]:
        self.pauses.append(dict(event))  # its rows wait for the end of the burst (``feed``)
        return []

    @staticmethod
    def _pause_key(event: AmiEvent) -> tuple[str, str, str]:
        reason = event.get("PausedReason") or event.get("Reason") or ""
        return (event.get("Interface") or event.get("MemberName", ""), event.get("Paused", ""), reason)

    def _same_burst(self, event: AmiEvent) -> bool:
        first = self.pauses[0]
        return (
            event.get("Event") == "QueueMemberPause"
            and self._pause_key(event) == self._pause_key(first)
            and event.get("Queue") not in {p.get("Queue") for p in self.pauses}
            and ami_time(event) - ami_time(first) <= PAUSE_BURST
        )

    def _pause_rows(self) -> list[QueueLogEntry]:
        """PAUSE/UNPAUSE per queue, after PAUSEALL/UNPAUSEALL when the member went in several queues at once."""
        burst, self.pauses = self.pauses, []
        verb = "PAUSE" if burst[0].get("Paused") == "1" else "UNPAUSE"
        reason = self._pause_key(burst[0])[2]
        rows = [_entry(event, verb, reason, callid=NONE) for event in burst]
        if len(burst) > 1:
            everywhere = _entry(burst[0], f"{verb}ALL", reason, callid=NONE)
            rows.insert(0, dataclasses.replace(everywhere, queuename=NONE))
        return rows


def parse_queue_log_file(lines: Iterable[str], *, recovered: bool = True) -> list[QueueLogEntry]:
    """Rows of Asterisk's queue_log file (``epoch|callid|queue|agent|event|data...``).

    Lines that are not queue_log lines (a torn last line, garbage) are skipped.
    """
    rows: list[QueueLogEntry] = []
    for line in lines:
        parts = line.rstrip("\r\n").split("|")
        if len(parts) < 5 or not (parts[0].isascii() and parts[0].isdigit()) or not parts[4]:
            continue  # isascii: "²".isdigit() is true but int("²") raises (fuzz-found, tests/fuzz)
        try:
            time = dt.datetime.fromtimestamp(int(parts[0]), tz=dt.UTC)
        except (ValueError, OverflowError, OSError):  # past year 9999, or over int's 4300 digits
            continue
        data = [*parts[5:10], "", "", "", "", ""][:5]
        rows.append(QueueLogEntry(
            time=time,
            callid=parts[1], queuename=parts[2], agent=parts[3], event=parts[4],
            data1=data[0], data2=data[1], data3=data[2], data4=data[3], data5=data[4],
            recovered=recovered,
        ))
    return rows
