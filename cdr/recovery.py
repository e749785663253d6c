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

What a recovered record knows, from Asterisk alone: caller, times, queue,
answering line and partner, wait/ring/talk seconds, abandon position, outcome
``answered`` / ``abandoned_in_queue`` / ``timeout`` from the queue_log, else
``abandoned_in_ivr`` (the call never reached a queue: a hang-up in the menu,
closed hours and a silent caller are not told apart), ``escalation_step`` from
the wait. Unknown (NULL): the IVR answers and exit, rule version, wrap-up.

Run it once the writer has replayed its spool (``run_recovery`` waits for that),
and only on calls that ended ``settle_seconds`` ago, so a record the live
follower is about to write is not rebuilt beside it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from cdr.correlator import CallRecord, CdrItem
from cdr.queue_log import QueueLogEntry, parse_queue_log_file
from cdr.writer import CdrWriter, Connection, write_items

log = structlog.get_logger(__name__)

CDR_FILE = Path("cdr-custom") / "aiguilleur-cdr.json"  # aiguilleur.confgen.CDR_CUSTOM_FILE
QUEUE_LOG_FILE = Path("queue_log")
HOTLINE_MARK = "aiguilleur"  # the CDR variable [hotline-in] sets to 1

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


def _epoch(value: Any) -> dt.datetime | None:
    try:
        stamp = float(value)
    except (TypeError, ValueError):
        return None
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC) if stamp > 0 else None


def parse_cdr_file(lines: Iterable[str]) -> list[AsteriskCdr]:
    """cdr_custom's JSON lines; a torn or foreign line is skipped."""
    found: list[AsteriskCdr] = []
    for line in lines:
        try:
            row = json.loads(line)
            start, end = _epoch(row["start"]), _epoch(row["end"])
            if start is None or end is None:
                continue
            found.append(AsteriskCdr(
                linkedid=str(row["linkedid"]), uniqueid=str(row["uniqueid"]), sequence=int(row.get("sequence", 0)),
                src=str(row.get("src", "")), clid=str(row.get("clid", "")), dst=str(row.get("dst", "")),
                channel=str(row.get("channel", "")), dstchannel=str(row.get("dstchannel", "")),
                lastapp=str(row.get("lastapp", "")), start=start, answer=_epoch(row.get("answer")), end=end,
                hotline=str(row.get(HOTLINE_MARK, "")) == "1",
            ))
        except (ValueError, KeyError, TypeError):
            continue
    return found


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


@dataclass
class _Rebuilt:
    cdrs: list[AsteriskCdr]
    queue_rows: list[QueueLogEntry] = field(default_factory=list)


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
    for row in queue_log:
        by_callid[row.callid].append(row)
    records: list[CallRecord] = []
    for linkedid, call in calls.items():
        call.cdrs.sort(key=lambda c: c.sequence)
        own = [c for c in call.cdrs if c.uniqueid == linkedid] or call.cdrs
        if not own[0].hotline:
            continue
        records.append(_record(linkedid, call.cdrs, own[0], by_callid.get(own[0].uniqueid, []),
                               partner_of, escalation_after))
    return records


def _record(
    linkedid: str,
    cdrs: list[AsteriskCdr],
    first: AsteriskCdr,
    rows: list[QueueLogEntry],
    partner_of: PartnerOf,
    escalation_after: Sequence[int],
) -> CallRecord:
    start = min(c.start for c in cdrs)
    end = max(c.end for c in cdrs)
    events = {row.event: row for row in sorted(rows, key=lambda r: r.time)}
    enter, connect = events.get("ENTERQUEUE"), events.get("CONNECT")
    complete = events.get("COMPLETECALLER") or events.get("COMPLETEAGENT") or events.get("TRANSFER")
    abandon, timeout = events.get("ABANDON"), events.get("EXITWITHTIMEOUT")
    queue = enter.queuename if enter else None
    line = connect.agent if connect else None
    answer = connect.time if connect else None
    left = abandon or timeout
    wait: int | None = None
    if connect:
        wait = _int(connect.data1)
    elif left is not None:
        wait = _int(left.data3)
    talk = _int(complete.data2 if complete.event != "TRANSFER" else complete.data4) if complete else None
    if connect:
        outcome = "answered"
    elif timeout:
        outcome = "timeout"
    elif enter:
        outcome = "abandoned_in_queue"
    else:
        outcome = "abandoned_in_ivr"
    dstchannel = ""
    if line:
        dstchannel = next((c.dstchannel for c in cdrs if c.dstchannel.startswith(f"PJSIP/{line}-")), "")
    step = None
    if escalation_after and queue is not None:
        step = max((i for i, after in enumerate(escalation_after) if after <= (wait or 0)), default=0)
    return CallRecord(
        linkedid=linkedid, uniqueid=first.uniqueid, src=first.src, clid=first.clid, dst=first.dst,
        channel=first.channel, dstchannel=dstchannel, start=start, answer=answer, end=end,
        duration=round((end - start).total_seconds()),
        billsec=max(round((end - answer).total_seconds()), 0) if answer else 0,
        disposition="ANSWERED" if answer else "NO ANSWER",
        need=None, sector=None, size=None, departement=None, ivr_exit=None, ivr_steps=None, ivr_retries=None,
        hours_state=None, queue=queue, rule_version=None, line=line,
        partner=partner_of(line) if line else None, wait_seconds=wait, talk_seconds=talk, outcome=outcome,
        degraded=False, ring_seconds=_int(connect.data3) if connect else None, wrapup_seconds=None,
        escalation_step=step, abandon_position=_int(abandon.data1) if abandon and not connect else None,
        recovered=True,
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


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
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
) -> RecoveryReport:
    """Insert what Asterisk recorded in ``log_dir`` and the tables lack (calls ended in the window)."""
    now = now or dt.datetime.now(dt.UTC)
    low, high = now - lookback, now - dt.timedelta(seconds=settle_seconds)
    cdr_lines, ql_lines = await asyncio.gather(
        asyncio.to_thread(_read_lines, log_dir / CDR_FILE), asyncio.to_thread(_read_lines, log_dir / QUEUE_LOG_FILE))
    cdrs = [c for c in parse_cdr_file(cdr_lines) if low <= c.end <= high]
    rows = [r for r in parse_queue_log_file(ql_lines) if low <= r.time <= high]
    records = rebuild_records(cdrs, rows, partner_of, escalation_after)
    known = await _known_linkedids(conn, [r.linkedid for r in records])
    new_records = [r for r in records if r.linkedid not in known]
    present = await _present_queue_log(conn, low, high) if rows else set()
    new_rows = missing_queue_log(rows, present)
    items: list[CdrItem] = [*new_rows, *new_records]
    if items:
        await write_items(conn, items)
    report = RecoveryReport(len({c.linkedid for c in cdrs}), len(new_records), len(new_rows))
    log.info("cdr.recovery", log_dir=str(log_dir), **report.__dict__,
             linkedids=[r.linkedid for r in new_records][:50])
    return report


async def _fetch(conn: Connection, sql: str, *args: object) -> list[Mapping[str, Any]]:
    rows: list[Mapping[str, Any]] = await conn.fetch(sql, *args)
    return rows


async def _known_linkedids(conn: Connection, linkedids: list[str]) -> set[str]:
    if not linkedids:
        return set()
    rows = await _fetch(conn, "SELECT linkedid FROM cdr WHERE linkedid = ANY($1::text[])", linkedids)
    return {r["linkedid"] for r in rows}


async def _present_queue_log(
    conn: Connection, low: dt.datetime, high: dt.datetime
) -> set[tuple[str, str, str, str, int]]:
    rows = await _fetch(
        conn,
        """SELECT callid, event, queuename, agent, floor(extract(epoch FROM time))::bigint AS second
           FROM queue_log WHERE time >= $1 AND time < $2""",
        low - dt.timedelta(seconds=2), high + dt.timedelta(seconds=2),
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
    settle_seconds: float = 60.0,
    on_pass: Callable[[RecoveryReport], None] | None = None,
) -> None:
    """Background task: after the writer's spool is replayed, recover; again every ``interval`` s.

    The later passes catch calls that were in progress when the service started
    (the live follower ignores calls it did not see begin). Errors are logged, the
    next pass retries; cancel the task to stop it.
    """
    while True:
        try:
            await asyncio.wait_for(writer.drain(), drain_timeout)
            report = await recover(pool, log_dir, partner_of, escalation_after=escalation_after,
                                   lookback=lookback, settle_seconds=settle_seconds)
            if on_pass is not None:
                on_pass(report)
        except TimeoutError:
            log.warning("cdr.recovery_postponed", reason="writer backlog not drained", backlog=writer.backlog)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cdr.recovery_failed", error=str(exc))
        await asyncio.sleep(interval)
