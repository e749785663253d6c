"""Calls that ended while the service was down, rebuilt from Asterisk's own records.

Asterisk keeps writing two files whatever happens to the service (``aiguilleur
conf generate`` configures them):

- ``LOG_DIR/cdr-custom/aiguilleur-cdr.json``: cdr_custom, one JSON object per
  Asterisk CDR (``linkedid``, ``uniqueid``, times as epoch floats, and our
  ``aiguilleur`` CDR variable, set to 1 by the ``[hotline-in]`` dialplan);
- ``LOG_DIR/queue_log``: app_queue's own queue_log (whole-second times).

``recover`` reads both, and for each hotline call (``aiguilleur`` = 1) whose
``linkedid`` has no row in ``cdr`` it inserts a record with ``recovered = true``;
it inserts the queue_log lines that have no counterpart in the table (same
callid, event, queue, agent, within a second: our rows carry microseconds).
Idempotent: running it twice inserts nothing the second time, and a live record
arriving later (a spool replay) replaces a recovered one, never the reverse.
The files are one Asterisk node's (``node``, issue 13): records and rows carry it, and
"already in the table" means of that node (a linkedid is unique on one node only).

What a recovered record knows, from Asterisk alone: caller, times, the first queue
and answering line and partner, wait/ring/talk seconds, abandon position, outcome
``answered`` / ``abandoned_in_queue`` / ``timeout`` from the queue_log, a transfer
(type, target, the queue and line the caller went to next), ``escalation_step`` from
the wait. From our CDR variables (``cdr.asterisk_fields``; the IVR and the fallback set
the answers as they arrive, the dialplan the rest when they return): the answers, the
IVR's exit (so ``degraded``, and the ``closed`` / ``no_input`` / ``invalid`` outcomes),
steps, retries, hours, rule version, callback. Unknown (NULL): the wrap-up time.

Run it once the writer has replayed its spool (``run_recovery`` waits for that),
and only on calls that ended ``settle_seconds`` ago, so a record the live
follower is about to write is not rebuilt beside it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from cdr.asterisk_fields import ANSWERS, CALLER_NAME, CALLER_NUMBER, HOTLINE_MARK, ROUTING, cdr_variable
from cdr.correlator import DEFAULT_NODE, CallRecord, CdrItem, caller_clid, channel_target
from cdr.queue_log import QueueLogEntry, parse_queue_log_file
from cdr.record_sql import Connection, write_items
from cdr.vocabulary import IvrExit, outcome_of
from cdr.writer import CdrWriter

log = structlog.get_logger(__name__)

CDR_FILE = Path("cdr-custom") / "aiguilleur-cdr.json"  # aiguilleur.confgen.CDR_CUSTOM_FILE
QUEUE_LOG_FILE = Path("queue_log")

PartnerOf = Callable[[str], str | None]


# --- pure: files in, items out ------------------------------------------------------------
@dataclass(frozen=True)
class AsteriskCdr:
    linkedid: str
    uniqueid: str
    sequence: int
    src: str
    clid: str
    dst: str
    channel: str
    dstchannel: str
    lastapp: str
    start: dt.datetime
    answer: dt.datetime | None
    end: dt.datetime
    hotline: bool
    # our CDR variables (cdr.asterisk_fields), by short name, where set
    recorded: Mapping[str, str] = field(default_factory=dict)


def _epoch(value: Any) -> dt.datetime | None:
    """A cdr_custom time (epoch double); None when unset (0) or not a time datetime can hold."""
    try:
        stamp = float(value)
        return dt.datetime.fromtimestamp(stamp, tz=dt.UTC) if stamp > 0 else None
    except (TypeError, ValueError, OverflowError, OSError):  # inf, nan, 1e300: fuzz-found (tests/fuzz)
        return None


def _unbase64(value: Any) -> str:
    return base64.b64decode(str(value), validate=True).decode("utf-8", errors="replace")


def parse_cdr_file(lines: Iterable[str]) -> list[AsteriskCdr]:
    """cdr_custom's JSON lines; a torn or foreign line is skipped (whatever it holds: tests/fuzz)."""
    found: list[AsteriskCdr] = []
    for line in lines:
        try:
            row = json.loads(line)
            start, end = _epoch(row["start"]), _epoch(row["end"])
            if start is None or end is None:
                continue
            recorded = {name: str(row[cdr_variable(name)]) for name in (*ANSWERS, *ROUTING)
                        if row.get(cdr_variable(name)) not in (None, "")}
            src, clid = str(row.get("src", "")), str(row.get("clid", ""))  # files written before the base64
            if cdr_variable(CALLER_NUMBER) in row:
                src = _unbase64(row[cdr_variable(CALLER_NUMBER)])
                clid = caller_clid(_unbase64(row.get(cdr_variable(CALLER_NAME), "")), src)
            found.append(AsteriskCdr(
                linkedid=str(row["linkedid"]), uniqueid=str(row["uniqueid"]), sequence=int(row.get("sequence", 0)),
                src=src, clid=clid, dst=str(row.get("dst", "")),
                channel=str(row.get("channel", "")), dstchannel=str(row.get("dstchannel", "")),
                lastapp=str(row.get("lastapp", "")), start=start, answer=_epoch(row.get("answer")), end=end,
                hotline=str(row.get(HOTLINE_MARK, "")) == "1", recorded=recorded,
            ))
        # OverflowError: "sequence": Infinity; RecursionError: a line of 100,000 "[" (fuzz-found).
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError, binascii.Error):
            continue
    return found


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass
class _Rebuilt:
    cdrs: list[AsteriskCdr]


def rebuild_records(
    cdrs: Iterable[AsteriskCdr],
    queue_log: Iterable[QueueLogEntry],
    partner_of: PartnerOf,
    escalation_after: Sequence[int] = (),
) -> list[CallRecord]:
    """One ``recovered`` record per hotline call (linkedid) of Asterisk's CDRs, completed by its queue_log."""
    calls: dict[str, _Rebuilt] = {}
    for cdr in cdrs:
        calls.setdefault(cdr.linkedid, _Rebuilt([])).cdrs.append(cdr)
    by_callid: dict[str, list[QueueLogEntry]] = defaultdict(list)
    for row in queue_log:  # file order kept: rows of one second stay in the order Asterisk wrote them
        by_callid[row.callid].append(row)
    records: list[CallRecord] = []
    for linkedid, call in calls.items():
        call.cdrs.sort(key=lambda c: c.sequence)
        own = [c for c in call.cdrs if c.uniqueid == linkedid] or call.cdrs
        if not own[0].hotline:
            continue
        # The caller's rows, then those of the call's other channels (an attended transfer's Local channel).
        legs = dict.fromkeys([own[0].uniqueid, *(c.uniqueid for c in call.cdrs)])
        rows = [row for leg in legs for row in by_callid.get(leg, [])]
        records.append(_record(linkedid, call.cdrs, own, rows, partner_of, escalation_after))
    return records


def _first(rows: Iterable[QueueLogEntry], *events: str) -> QueueLogEntry | None:
    return next((row for row in rows if row.event in events), None)


def _record(
    linkedid: str,
    cdrs: list[AsteriskCdr],
    own: list[AsteriskCdr],
    rows: list[QueueLogEntry],
    partner_of: PartnerOf,
    escalation_after: Sequence[int],
) -> CallRecord:
    first = own[0]
    start = min(c.start for c in cdrs)
    end = max(c.end for c in cdrs)
    said: dict[str, str] = {}
    for cdr in own:  # later CDRs of the caller's channel carry the variables set since
        said.update(cdr.recorded)
    rows = sorted(rows, key=lambda r: r.time)  # stable: same-second rows keep the file's order
    caller_rows = [r for r in rows if r.callid == first.uniqueid]
    # The record describes the first queue and the first answer, like the live follower's.
    enter, connect = _first(caller_rows, "ENTERQUEUE"), _first(caller_rows, "CONNECT")
    transfer = _first(caller_rows, "BLINDTRANSFER", "ATTENDEDTRANSFER")
    complete = transfer or _first(caller_rows, "COMPLETECALLER", "COMPLETEAGENT")
    abandon, timeout = _first(caller_rows, "ABANDON"), _first(caller_rows, "EXITWITHTIMEOUT")
    queue = enter.queuename if enter else said.get("queue")
    line = connect.agent if connect else None
    answer = connect.time if connect else None
    left = abandon or timeout
    wait: int | None = None
    if connect:
        wait = _int(connect.data1)
    elif left is not None:
        wait = _int(left.data3)
    talk = _int(complete.data4 if complete is transfer else complete.data2) if complete else None
    exit_reason = said.get("exit")
    outcome = outcome_of(answered=connect is not None, ivr_exit=exit_reason, queued=enter is not None,
                         timed_out=timeout is not None)
    dstchannel = ""
    if line:
        dstchannel = next((c.dstchannel for c in cdrs if c.dstchannel.startswith(f"PJSIP/{line}-")), "")
    step = None
    if escalation_after and queue is not None and enter is not None:
        step = max((i for i, after in enumerate(escalation_after) if after <= (wait or 0)), default=0)
    transfer_type = transfer_target = transfer_queue = transfer_line = None
    if transfer is not None and connect is not None:
        after = rows[rows.index(connect) + 1:]
        later_queue = [r.queuename for r in after if r.event == "ENTERQUEUE"]
        later_line = [r.agent for r in after if r.event == "CONNECT"]
        transfer_queue = later_queue[-1] if later_queue else None
        transfer_line = later_line[-1] if later_line else None
        if transfer.event == "BLINDTRANSFER":
            transfer_type, transfer_target = "blind", f"{transfer.data1}@{transfer.data2}"
        else:  # where the advisor's consultation went: the dstchannel of the line's own CDR
            transfer_type = "attended"
            consulted = next((c.dstchannel for c in cdrs if c.channel.startswith(f"PJSIP/{line}-")
                              and c.dstchannel), "")
            transfer_target = channel_target(consulted) if consulted else None
    return CallRecord(
        linkedid=linkedid, uniqueid=first.uniqueid, src=first.src, clid=first.clid, dst=first.dst,
        channel=first.channel, dstchannel=dstchannel, start=start, answer=answer, end=end,
        duration=round((end - start).total_seconds()),
        billsec=max(round((end - answer).total_seconds()), 0) if answer else 0,
        disposition="ANSWERED" if answer else "NO ANSWER",
        need=said.get("need"), sector=said.get("sector"), size=said.get("size"),
        departement=said.get("departement"), ivr_exit=exit_reason, ivr_steps=_int(said.get("steps")),
        ivr_retries=_int(said.get("retries")), hours_state=said.get("hours"), queue=queue,
        rule_version=_int(said.get("rule_version")), line=line,
        partner=partner_of(line) if line else None, wait_seconds=wait, talk_seconds=talk, outcome=outcome,
        degraded=exit_reason == IvrExit.DEGRADED, ring_seconds=_int(connect.data3) if connect else None,
        wrapup_seconds=None, escalation_step=step,
        abandon_position=_int(abandon.data1) if abandon and not connect else None,
        callback_requested=said.get("callback") == "1",
        recovered=True, transfer_type=transfer_type, transfer_target=transfer_target,
        transfer_queue=transfer_queue, transfer_line=transfer_line,
        transfer_partner=partner_of(transfer_line) if transfer_line else None,
    )


def missing_queue_log(
    candidates: Iterable[QueueLogEntry], present: set[tuple[str, str, str, str, int]]
) -> list[QueueLogEntry]:
    """File rows with no table row of the same (callid, event, queue, agent) within a second."""
    out: list[QueueLogEntry] = []
    for row in candidates:
        second = int(row.time.timestamp())
        base = (row.callid, row.event, row.queuename, row.agent)
        if not any((*base, second + d) in present for d in (-1, 0, 1)):
            out.append(row)
            present.add((*base, second))
    return out


# --- I/O: files and the database ---------------------------------------------------------
@dataclass(frozen=True)
class RecoveryReport:
    calls_in_files: int
    records_recovered: int
    queue_log_recovered: int
    settling: int = 0  # calls ended too recently for this pass (the next one takes them)


def file_lines(text: str) -> list[str]:
    r"""The lines of a file Asterisk wrote: cut at ``\n`` only.

    Not ``str.splitlines``: it also cuts at ``\x0b \x0c \x1c-\x1e \x85 \u2028 \u2029``, which a
    caller's number in a queue_log row or a raw character in a cdr_custom JSON string may hold:
    the row came back torn and the record was lost (fuzz-found, tests/fuzz). A ``\r`` before the
    ``\n`` is left to the parsers (both ignore it).
    """
    return text.split("\n")


def _read_lines(path: Path) -> list[str]:
    try:
        return file_lines(path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        return []


async def recover(
    conn: Connection,
    log_dir: Path,
    partner_of: PartnerOf,
    *,
    escalation_after: Sequence[int] = (),
    now: dt.datetime | None = None,
    lookback: dt.timedelta = dt.timedelta(days=7),
    settle_seconds: float = 60.0,
    node: str = DEFAULT_NODE,
) -> RecoveryReport:
    """Insert what Asterisk recorded in ``log_dir`` and the tables lack (calls ended in the window)."""
    now = now or dt.datetime.now(dt.UTC)
    low, high = now - lookback, now - dt.timedelta(seconds=settle_seconds)
    cdr_lines, ql_lines = await asyncio.gather(
        asyncio.to_thread(_read_lines, log_dir / CDR_FILE), asyncio.to_thread(_read_lines, log_dir / QUEUE_LOG_FILE))
    every = parse_cdr_file(cdr_lines)
    cdrs = [c for c in every if low <= c.end <= high]
    settling = len({c.linkedid for c in every if c.end > high} - {c.linkedid for c in cdrs})
    rows = [r for r in parse_queue_log_file(ql_lines) if low <= r.time <= high]
    records = rebuild_records(cdrs, rows, partner_of, escalation_after)
    if node != DEFAULT_NODE:  # rows and records as the live follower of that node writes them
        rows = [dataclasses.replace(r, node=node) for r in rows]
        records = [dataclasses.replace(r, node=node) for r in records]
    known = await _known_linkedids(conn, node, [r.linkedid for r in records])
    new_records = [r for r in records if r.linkedid not in known]
    present = await _present_queue_log(conn, node, low, high) if rows else set()
    new_rows = missing_queue_log(rows, present)
    items: list[CdrItem] = [*new_rows, *new_records]
    if items:
        await write_items(conn, items)
    report = RecoveryReport(len({c.linkedid for c in cdrs}), len(new_records), len(new_rows), settling)
    log.info("cdr.recovery", log_dir=str(log_dir), node=node, **report.__dict__,
             linkedids=[r.linkedid for r in new_records][:50])
    return report


async def _fetch(conn: Connection, sql: str, *args: object) -> list[Mapping[str, Any]]:
    rows: list[Mapping[str, Any]] = await conn.fetch(sql, *args)
    return rows


async def _known_linkedids(conn: Connection, node: str, linkedids: list[str]) -> set[str]:
    if not linkedids:
        return set()
    rows = await _fetch(conn, "SELECT linkedid FROM cdr WHERE node = $1 AND linkedid = ANY($2::text[])",
                        node, linkedids)
    return {r["linkedid"] for r in rows}


async def _present_queue_log(
    conn: Connection, node: str, low: dt.datetime, high: dt.datetime
) -> set[tuple[str, str, str, str, int]]:
    rows = await _fetch(
        conn,
        """SELECT callid, event, queuename, agent, floor(extract(epoch FROM time))::bigint AS second
           FROM queue_log WHERE node = $1 AND time >= $2 AND time < $3""",
        node, low - dt.timedelta(seconds=2), high + dt.timedelta(seconds=2),
    )
    return {(r["callid"], r["event"], r["queuename"], r["agent"], int(r["second"])) for r in rows}


async def run_recovery(
    writer: CdrWriter,
    pool: asyncpg.Pool,
    log_dir: Path,
    partner_of: PartnerOf,
    *,
    escalation_after: Sequence[int] = (),
    interval: float = 300.0,
    drain_timeout: float = 60.0,
    lookback: dt.timedelta = dt.timedelta(days=7),
    settle_seconds: float = 15.0,
    wake: asyncio.Event | None = None,
    on_pass: Callable[[RecoveryReport], None] | None = None,
    node: str = DEFAULT_NODE,
) -> None:
    """Background task: after the writer's spool is replayed, recover; again on ``wake``, and every ``interval`` s.

    Set ``wake`` when a call may have ended unrecorded: the AMI link (re)connected (calls
    that ended while we were down or cut off), or a call we did not see begin hung up (the
    live follower ignores those). A woken pass waits ``settle_seconds`` first, so Asterisk
    has written the call's CDR and the live follower's own records of that moment are in.
    The periodic pass is the safety net. Errors are logged, the next pass retries; cancel
    the task to stop it.
    """
    wake = wake or asyncio.Event()
    while True:
        try:
            await asyncio.wait_for(writer.drain(), drain_timeout)
            report = await recover(pool, log_dir, partner_of, escalation_after=escalation_after,
                                   lookback=lookback, settle_seconds=settle_seconds, node=node)
            if on_pass is not None:
                on_pass(report)
            if report.settling:
                wake.set()  # ended just now: taken once settled, not at the next period
        except TimeoutError:
            log.warning("cdr.recovery_postponed", reason="writer backlog not drained", backlog=writer.backlog)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cdr.recovery_failed", error=str(exc))
        try:
            await asyncio.wait_for(wake.wait(), interval)
        except TimeoutError:
            continue
        wake.clear()
        await asyncio.sleep(settle_seconds + 1)
