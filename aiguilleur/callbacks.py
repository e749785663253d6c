"""Callbacks that are placed: the PostgreSQL store (claims) and the dialer task of the service.

The rules are in ``queues.callback`` (pure); here they meet PostgreSQL and Asterisk.

- **Never placed twice.** A try is claimed in one statement (``SELECT ... FOR UPDATE SKIP
  LOCKED`` then ``UPDATE``, the due condition checked again under the lock), by one service
  instance (``claimed_by``), which refreshes ``claimed_at`` while the try runs. A claim not
  refreshed for ``claim_timeout_seconds`` (its service stopped or died) is taken over the same
  way; the taker first asks Asterisk whether the try's channel still lives (``CoreShowChannels``:
  every leg's linkedid is the try's ``ChannelId``): if it does, it follows it to its end instead
  of dialling again; if not, the try's result was lost with its service (``lost``, counted).
  Asterisk itself refuses a second channel with the same ``ChannelId``.
- **Advisor first.** AMI Originate of ``Local/s@callback/n``: its ``;2`` half queues in the
  ranking queue the router chooses for the stored profile (priority and ``QUEUE_MAX_PENALTY`` as
  for an inbound call); once an advisor answers, the ``;1`` half runs ``callback-caller`` and
  dials the caller through the operator trunk (``aiguilleur.confgen``).
- **Keeping the place.** A queued callback's first try (``queues.callback.keeps_place``) is not
  paced: it is originated at once into the queue the caller would have joined, at their place
  (``Queue()``'s position argument, from ``place_in_queue`` and the live state), waiting as long
  as an inbound caller may. Later tries are ordinary ones.
- Originate is never re-sent (``queues.ami``): a failed send is a try with ``no_advisor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import asyncpg
import structlog

from aiguilleur.confgen import CALLBACK_CALLER_CONTEXT, CALLBACK_CONTEXT, TRUNK_ENDPOINT
from cdr.vocabulary import CallVar, answer_var
from config.models import Hotline
from ivr.hours import state_at
from queues.ami import AmiClient, AmiError
from queues.callback import (
    DIALLABLE,
    DUE_STATUSES,
    IN_FLIGHT_STATUSES,
    TRY_PREFIX,
    Callback,
    CallbackError,
    CallbackEvent,
    CallerAnswered,
    Cancel,
    Candidate,
    Retry,
    TryEnded,
    TryResult,
    TryTracker,
    TryUpdate,
    free_lines,
    keeps_place,
    place_in_queue,
    plan_dials,
    transition,
)
from queues.followup import (
    AnsweredCall,
    FollowupRequest,
    hours_for,
    partner_queue,
    plan_followups,
    record_outcome,
)
from queues.snapshot import LiveSnapshot, queue_outlook
from routing.router import QUEUE_RULE, RoutingDecision, choose_queue, decide

log = structlog.get_logger(__name__)

Clock = Callable[[], dt.datetime]
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")  # the original linkedid, put into a variable

_COLUMNS = ("linkedid, caller_number, status, tries, next_try_at, need, sector, size, departement, reason, "
            "last_result, outcome, try_channel, kind, origin, partner, followup_outcome, "
            "queue, queue_priority, queue_max_penalty, ahead")
_DUE = "status IN ('pending', 'no_answer') AND next_try_at <= $2"
_IN_FLIGHT = "status IN ('dialling', 'connected')"
assert DUE_STATUSES == ("pending", "no_answer") and IN_FLIGHT_STATUSES == ("dialling", "connected")


def _callback(row: asyncpg.Record) -> Callback:
    return Callback(
        id=row["linkedid"], caller_number=row["caller_number"], status=row["status"], tries=row["tries"],
        next_try_at=row["next_try_at"], need=row["need"], sector=row["sector"], size=row["size"],
        departement=row["departement"], reason=row["reason"], last_result=row["last_result"],
        outcome=row["outcome"], try_channel=row["try_channel"], kind=row["kind"], origin=row["origin"],
        partner=row["partner"], followup_outcome=row["followup_outcome"], queue=row["queue"],
        queue_priority=row["queue_priority"], queue_max_penalty=row["queue_max_penalty"],
        ahead=tuple(row["ahead"] or ()),
    )


@dataclass(frozen=True)
class CallbackRow:
    """A callback as listed (CLI): the core's view plus who holds it and when it was asked."""

    callback: Callback
    requested_at: dt.datetime
    claimed_by: str | None
    claimed_at: dt.datetime | None


class CallbackStore:
    """The ``callbacks`` table. ``instance``: this service's name in ``claimed_by``."""

    def __init__(self, pool: asyncpg.Pool, instance: str) -> None:
        self._pool = pool
        self.instance = instance

    async def due(self, now: dt.datetime, limit: int = 200) -> list[Callback]:
        """Due callbacks, oldest first (not locked: ``claim`` decides)."""
        rows = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM callbacks WHERE {_DUE.replace('$2', '$1')}
                ORDER BY next_try_at, requested_at LIMIT $2""", now, limit)
        return [_callback(r) for r in rows]

    async def claim(self, ids: Sequence[str], now: dt.datetime) -> list[Callback]:
        """Claim these callbacks if they are still due; returns those this instance now holds.

        Rows another transaction holds are skipped, and the due condition is checked again
        under the lock: two claimers never both get a row.
        """
        rows = await self._pool.fetch(
            f"""WITH picked AS (
                    SELECT linkedid FROM callbacks WHERE linkedid = ANY($1::text[]) AND {_DUE}
                    FOR UPDATE SKIP LOCKED)
                UPDATE callbacks c SET status = 'dialling', claimed_by = $3, claimed_at = $2, updated_at = $2,
                       attempts = c.attempts + 1,
                       try_channel = $4 || c.linkedid || '-' || (c.attempts + 1)::text
                FROM picked WHERE c.linkedid = picked.linkedid
                RETURNING {', '.join('c.' + col for col in _COLUMNS.split(', '))}""",
            list(ids), now, self.instance, TRY_PREFIX)
        return [_callback(r) for r in rows]

    async def stale(self, now: dt.datetime, timeout_s: float) -> list[Callback]:
        """In-flight tries whose claim was not refreshed for ``timeout_s`` (their service stopped)."""
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM callbacks WHERE {_IN_FLIGHT} AND claimed_at < $1",
            now - dt.timedelta(seconds=timeout_s))
        return [_callback(r) for r in rows]

    async def take_over(self, callback_id: str, now: dt.datetime, timeout_s: float) -> Callback | None:
        """Take a stale claim (still stale under the lock); None if another instance was first."""
        row = await self._pool.fetchrow(
            f"""WITH picked AS (
                    SELECT linkedid FROM callbacks WHERE linkedid = $1 AND {_IN_FLIGHT} AND claimed_at < $2
                    FOR UPDATE SKIP LOCKED)
                UPDATE callbacks c SET claimed_by = $3, claimed_at = $4, updated_at = $4
                FROM picked WHERE c.linkedid = picked.linkedid
                RETURNING {', '.join('c.' + col for col in _COLUMNS.split(', '))}""",
            callback_id, now - dt.timedelta(seconds=timeout_s), self.instance, now)
        return _callback(row) if row is not None else None

    async def heartbeat(self, ids: Sequence[str], now: dt.datetime) -> None:
        if ids:
            await self._pool.execute(
                f"UPDATE callbacks SET claimed_at = $2 WHERE linkedid = ANY($1::text[]) AND claimed_by = $3 "
                f"AND {_IN_FLIGHT}", list(ids), now, self.instance)

    async def get(self, callback_id: str) -> Callback | None:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM callbacks WHERE linkedid = $1", callback_id)
        return _callback(row) if row is not None else None

    async def save_try(self, callback: Callback, now: dt.datetime) -> bool:
        """Store a try's progress or end, only while this instance holds the claim; an ended try
        releases it. False when the claim was lost (another instance took it over)."""
        in_flight = callback.status in IN_FLIGHT_STATUSES
        done = await self._pool.fetchval(
            f"""UPDATE callbacks SET status = $2, tries = $3, next_try_at = $4, last_result = $5, outcome = $6,
                       updated_at = $7, done_at = CASE WHEN $2 IN ('done', 'failed') THEN $7 ELSE done_at END,
                       claimed_by = CASE WHEN $8 THEN claimed_by END,
                       claimed_at = CASE WHEN $8 THEN $7 END
                WHERE linkedid = $1 AND claimed_by = $9 AND {_IN_FLIGHT} RETURNING true""",
            callback.id, callback.status, callback.tries, callback.next_try_at, callback.last_result,
            callback.outcome, now, in_flight, self.instance)
        return bool(done)

    # --- operators (CLI) ---------------------------------------------------------------

    async def listing(self, statuses: Sequence[str] = (), limit: int = 100, *, kind: str | None = None,
                      partner: str | None = None) -> list[CallbackRow]:
        rows = await self._pool.fetch(
            f"""SELECT {_COLUMNS}, requested_at, claimed_by, claimed_at FROM callbacks
                WHERE (cardinality($1::text[]) = 0 OR status = ANY($1::text[]))
                  AND ($3::text IS NULL OR kind = $3) AND ($4::text IS NULL OR partner = $4)
                ORDER BY next_try_at NULLS LAST, requested_at LIMIT $2""", list(statuses), limit, kind, partner)
        return [CallbackRow(_callback(r), r["requested_at"], r["claimed_by"], r["claimed_at"]) for r in rows]

    async def operate(self, callback_id: str, event: Cancel | Retry, hotline: Hotline,
                      now: dt.datetime, partner: str | None = None) -> Callback:
        """Cancel or retry one callback (the core's rules, under a row lock); ``CallbackError``.

        ``partner`` (with a retry): reassign it, offered to that partner's queue from now on."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM callbacks WHERE linkedid = $1 FOR UPDATE",
                                      callback_id)
            if row is None:
                raise CallbackError("callback.unknown", f"no callback {callback_id!r}")
            current = _callback(row)
            if partner is not None:
                if partner not in {p.id for p in hotline.partners}:
                    raise CallbackError("callback.unknown_partner", f"no partner {partner!r}")
                current = replace(current, partner=partner)
            after = transition(current, event, hotline.callbacks, hours_for(current, hotline))
            await conn.execute(
                """UPDATE callbacks SET status = $2, tries = $3, next_try_at = $4, outcome = $5, updated_at = $6,
                          claimed_by = NULL, claimed_at = NULL, partner = $7 WHERE linkedid = $1""",
                after.id, after.status, after.tries, after.next_try_at, after.outcome, now, after.partner)
        log.info("callbacks.operated", callback=after.id, status=after.status, partner=after.partner)
        return after

    async def answered_again(self, limit: int = 100) -> list[tuple[str, str]]:
        """(callback id, the answered call's linkedid) for each promised callback still to place
        whose caller called in again after asking and was answered: that call did the work."""
        rows = await self._pool.fetch(
            """SELECT DISTINCT ON (cb.linkedid) cb.linkedid, c.linkedid AS answered
               FROM callbacks cb JOIN cdr c ON c.src = cb.caller_number
               WHERE cb.kind = 'callback' AND cb.status IN ('pending', 'no_answer')
                 AND c.direction = 'inbound' AND c.outcome = 'answered' AND c.start > cb.requested_at
               ORDER BY cb.linkedid, c.start LIMIT $1""", limit)
        return [(r["linkedid"], r["answered"]) for r in rows]

    async def counts(self) -> dict[tuple[str, str], int]:
        """How many callbacks per (kind, status): the supervisors' success rate."""
        rows = await self._pool.fetch("SELECT kind, status, count(*) AS n FROM callbacks GROUP BY kind, status")
        return {(r["kind"], r["status"]): r["n"] for r in rows}

    # --- follow-ups (queues.followup) ---------------------------------------------------

    async def answered_without_followup(self, since: dt.datetime, until: dt.datetime,
                                        limit: int = 1000) -> list[AnsweredCall]:
        """Answered inbound calls in [since, until) that have no follow-up row yet."""
        rows = await self._pool.fetch(
            """SELECT c.linkedid, c.start, c.src, c.partner, c.need, c.sector, c.size, c.departement FROM cdr c
               WHERE c.direction = 'inbound' AND c.outcome = 'answered' AND c.start >= $1 AND c.start < $2
                 AND NOT EXISTS (SELECT 1 FROM callbacks f WHERE f.linkedid = 'fu-' || c.linkedid)
               ORDER BY c.start LIMIT $3""", since, until, limit)
        return [AnsweredCall(r["linkedid"], r["start"], r["src"] or "", r["partner"], r["need"], r["sector"],
                             r["size"], r["departement"]) for r in rows]

    async def add_requests(self, requests: Sequence[FollowupRequest], now: dt.datetime,
                           conn: asyncpg.Connection | None = None) -> int:
        """Store follow-ups (or callbacks they made); one already stored is left as it is."""
        if not requests:
            return 0
        sql = """INSERT INTO callbacks (linkedid, caller_number, requested_at, due_at, next_try_at, status, kind,
                                        reason, origin, partner, need, sector, size, departement, updated_at)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[],
                                      $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                                      $10::text[], $11::text[], $12::text[], $13::text[], $3::timestamptz[])
                 ON CONFLICT (linkedid) DO NOTHING RETURNING linkedid"""
        args = ([r.id for r in requests], [r.caller_number for r in requests], [now] * len(requests),
                [r.due_at for r in requests], ["pending"] * len(requests), [r.kind for r in requests],
                [r.reason for r in requests], [r.origin for r in requests], [r.partner for r in requests],
                [r.need for r in requests], [r.sector for r in requests], [r.size for r in requests],
                [r.departement for r in requests])
        rows = await (conn or self._pool).fetch(sql, *args)
        return len(rows)

    async def record_outcome(self, callback_id: str, code: str, by: str, hotline: Hotline,
                             now: dt.datetime) -> tuple[Callback, str | None]:
        """Record a follow-up's outcome (``queues.followup.record_outcome``, under a row lock);
        returns it and the id of the callback request ``needs_more_help`` made. ``CallbackError``."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM callbacks WHERE linkedid = $1 FOR UPDATE",
                                      callback_id)
            if row is None:
                raise CallbackError("callback.unknown", f"no callback {callback_id!r}")
            after, request = record_outcome(_callback(row), code, hotline.hours, now)
            await conn.execute(
                """UPDATE callbacks SET followup_outcome = $2, outcome_by = $3, outcome_at = $4, updated_at = $4
                   WHERE linkedid = $1""", after.id, code, by, now)
            made = None
            if request is not None and await self.add_requests([request], now, conn):
                made = request.id
        log.info("followups.outcome", callback=callback_id, outcome=code, by=by, made=made)
        return after, made

    async def originals(self, callback_id: str) -> asyncpg.Record | None:
        """The callback a try belongs to and the answers of the call it came from (screen pop)."""
        return await self._pool.fetchrow(
            """SELECT f.linkedid, f.kind, f.reason, f.origin, f.partner, f.tries, f.requested_at, f.followup_outcome,
                      o.start AS origin_start, o.need, o.sector, o.size, o.departement, o.ivr_exit,
                      o.partner AS origin_partner, o.outcome AS origin_outcome
               FROM callbacks f LEFT JOIN cdr o ON o.linkedid = COALESCE(f.origin, f.linkedid)
               WHERE f.linkedid = $1""", callback_id)


@dataclass
class _Placed:
    callback_id: str
    queue: str
    max_penalty: int


@dataclass
class CallbackDialer:
    """The service's dialer task: every ``poll_seconds``, end tries, refresh claims, take over
    stale ones, and place the due callbacks the pacing allows. ``on_event`` is fed every AMI event."""

    store: CallbackStore
    ami: AmiClient
    hotline: Callable[[], Hotline]
    snapshot: Callable[[], LiveSnapshot]
    clock: Clock
    tracker: TryTracker = field(default_factory=lambda: TryTracker(trunk_prefix=f"PJSIP/{TRUNK_ENDPOINT}"))
    placed: dict[str, _Placed] = field(default_factory=dict)  # try channel -> what it waits for
    updates: list[TryUpdate] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    followup_sweep_seconds: float = 60.0
    _last_sweep: dt.datetime | None = None

    def on_event(self, event: Mapping[str, str]) -> None:
        found = self.tracker.feed(event)
        if found:
            self.updates.extend(found)
            self.wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.round()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, AmiError) as exc:
                log.warning("callbacks.round_failed", error=str(exc) or type(exc).__name__)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.hotline().callbacks.poll_seconds)

    async def round(self) -> None:
        """One pass; the tests call it directly too."""
        hotline = self.hotline()
        now = self.clock()
        await self._end_tries(hotline, now)
        await self.store.heartbeat([p.callback_id for p in self.placed.values()], now)
        await self._take_over_stale(hotline, now)
        await self._sweep_followups(hotline, now)
        await self._merge_answered_again(hotline, now)
        if hotline.callbacks.enabled and state_at(hotline.hours, now).open:
            await self._place_due(hotline, now)

    async def _merge_answered_again(self, hotline: Hotline, now: dt.datetime) -> None:
        """A caller who called again and was answered is not called back as well (no double work)."""
        for callback_id, answered in await self.store.answered_again():
            try:
                await self.store.operate(callback_id, Cancel(f"merged: called again, answered ({answered})"),
                                         hotline, now)
            except CallbackError:
                continue  # a try started meanwhile: it goes on
            log.info("callbacks.merged", callback=callback_id, answered=answered)

    async def _sweep_followups(self, hotline: Hotline, now: dt.datetime) -> None:
        """Make the follow-ups of answered calls (idempotent: ``fu-<linkedid>``), at most every
        ``followup_sweep_seconds`` (the service clock; a clock set back sweeps again)."""
        policy = hotline.followups
        if not policy.enabled:
            return
        last = self._last_sweep
        if last is not None and dt.timedelta(0) <= now - last < dt.timedelta(seconds=self.followup_sweep_seconds):
            return
        self._last_sweep = now
        calls = await self.store.answered_without_followup(now - dt.timedelta(days=policy.lookback_days), now)
        made = await self.store.add_requests(plan_followups(calls, policy, hotline.hours), now)
        if made:
            log.info("followups.made", count=made)

    # --- tries ending --------------------------------------------------------------------

    async def _end_tries(self, hotline: Hotline, now: dt.datetime) -> None:
        updates, self.updates = self.updates, []
        for update in updates:
            event: CallbackEvent = (CallerAnswered() if update.answered
                                    else TryEnded(update.result or "lost", now))
            if update.result is not None:
                self.placed.pop(update.try_channel, None)
            await self._apply(hotline, update.callback_id, event, now)

    async def _apply(self, hotline: Hotline, callback_id: str, event: CallbackEvent, now: dt.datetime) -> None:
        current = await self.store.get(callback_id)
        if current is None:
            return
        try:
            after = transition(current, event, hotline.callbacks, hours_for(current, hotline))
        except CallbackError as error:
            log.warning("callbacks.transition_refused", callback=callback_id, error=str(error))
            return
        if await self.store.save_try(after, now):
            log.info("callbacks.try", callback=callback_id, status=after.status, tries=after.tries,
                     result=after.last_result, next_try_at=after.next_try_at.isoformat() if after.next_try_at else None)
        else:
            log.warning("callbacks.claim_lost", callback=callback_id)

    # --- stale claims ----------------------------------------------------------------------

    async def _take_over_stale(self, hotline: Hotline, now: dt.datetime) -> None:
        timeout = hotline.callbacks.claim_timeout_seconds
        stale = await self.store.stale(now, timeout)
        if not stale:
            return
        channels = await self.ami.send({"Action": "CoreShowChannels"}, idempotent=True)
        alive: dict[str, list[Mapping[str, str]]] = {}
        for item in channels:
            if item.get("Event") == "CoreShowChannel":
                alive.setdefault(item.get("Linkedid", ""), []).append(item)
        for callback in stale:
            taken = await self.store.take_over(callback.id, now, timeout)
            if taken is None or taken.try_channel is None:
                continue
            legs = alive.get(taken.try_channel, [])
            if legs:
                # The try still runs in Asterisk: follow it to its end, never dial it again.
                caller_up = taken.status == "connected" or any(
                    leg.get("Channel", "").startswith(f"PJSIP/{TRUNK_ENDPOINT}-") and leg.get("ChannelState") == "6"
                    for leg in legs)
                self.tracker.follow(taken.try_channel, taken.id, advisor=True, caller_answered=caller_up)
                self.placed[taken.try_channel] = _Placed(taken.id, "", 0)
                if caller_up and taken.status == "dialling":
                    await self._apply(hotline, taken.id, CallerAnswered(), now)
                log.info("callbacks.try_adopted", callback=taken.id, channel=taken.try_channel)
            else:
                # The try ended while no service followed it: connected = it was served.
                result: TryResult = "answered" if taken.status == "connected" else "lost"
                log.warning("callbacks.try_lost", callback=taken.id, channel=taken.try_channel, result=result)
                await self._apply(hotline, taken.id, TryEnded(result, now), now)

    # --- placing ---------------------------------------------------------------------------

    def _decision(self, hotline: Hotline, snapshot: LiveSnapshot, callback: Callback) -> RoutingDecision:
        if callback.partner is not None and callback.partner in {p.id for p in hotline.partners}:
            # A follow-up, or a reassigned callback: that partner's queue (its lines at penalty 0), no widening.
            return RoutingDecision(queue=partner_queue(callback.partner), priority=0,
                                   max_wait_seconds=hotline.callbacks.advisor_wait_seconds, queue_rule="",
                                   reason=f"{callback.kind}:partner", rule_version=hotline.version, max_penalty=0)
        profile = callback.profile()
        return decide(profile, hotline, queue_outlook(snapshot, choose_queue(profile, hotline)))

    async def _place_due(self, hotline: Hotline, now: dt.datetime) -> None:
        due = [c for c in await self.store.due(now) if state_at(hours_for(c, hotline), now).open]
        if not due:
            return
        snapshot = self.snapshot()
        # Queued callbacks keep their place: placed at once, like a caller joining, not paced.
        queued = [c for c in due if keeps_place(c)]
        for callback in await self.store.claim([c.id for c in queued], now) if queued else []:
            await self._originate(hotline, callback, self._queued_decision(hotline, callback), now,
                                  position=self._position(snapshot, callback))
        due = [c for c in due if not keeps_place(c)]
        if not due:
            return
        decisions = {c.id: self._decision(hotline, snapshot, c) for c in due}
        candidates = [Candidate(c.id, decisions[c.id].queue,
                                free_lines(snapshot, decisions[c.id].queue, decisions[c.id].max_penalty))
                      for c in due]
        waiting = [Candidate(p.callback_id, p.queue, free_lines(snapshot, p.queue, p.max_penalty))
                   for channel, p in self.placed.items() if p.callback_id in self.tracker.waiting_for_advisor()]
        chosen = plan_dials(candidates, waiting)
        if not chosen:
            return
        for callback in await self.store.claim(chosen, now):
            await self._originate(hotline, callback, decisions[callback.id], now)

    @staticmethod
    def _queued_decision(hotline: Hotline, callback: Callback) -> RoutingDecision:
        """Where the caller of a queued callback would be waiting: their queue, priority and starting
        tier when they accepted, and as long a wait as an inbound caller's."""
        assert callback.queue is not None
        return RoutingDecision(queue=callback.queue, priority=callback.queue_priority,
                               max_wait_seconds=hotline.queues.max_wait_seconds, queue_rule=QUEUE_RULE,
                               reason="queued: keeps the caller's place", rule_version=hotline.version,
                               max_penalty=callback.queue_max_penalty)

    @staticmethod
    def _position(snapshot: LiveSnapshot, callback: Callback) -> int:
        view = snapshot.queues.get(callback.queue or "")
        waiting = [c.uniqueid for c in view.callers] if view is not None and snapshot.synced else None
        return place_in_queue(callback.ahead, waiting)

    async def _originate(self, hotline: Hotline, callback: Callback, decision: RoutingDecision,
                         now: dt.datetime, position: int | None = None) -> None:
        """Place one try; ``position``: a queued callback's place in its queue (it waits as long as
        ``decision.max_wait_seconds``), else it waits ``advisor_wait_seconds``."""
        channel = callback.try_channel
        assert channel is not None
        if not DIALLABLE.fullmatch(callback.caller_number) or not _SAFE_ID.fullmatch(callback.id):
            # Caller ID is untrusted: nothing else is put into a dial string. Not a try: failed at once.
            log.warning("callbacks.not_diallable", callback=callback.id)
            await self.store.save_try(replace(callback, status="failed", outcome="invalid_number",
                                              last_result="unavailable", next_try_at=None), now)
            return
        policy = hotline.callbacks
        wait_s = decision.max_wait_seconds if position is not None else policy.advisor_wait_seconds
        label = "Suivi J+8" if callback.kind == "followup" else "Rappel"
        profile = callback.profile().answers()
        variables = {
            CallVar.CALLBACK_OF: callback.id,
            CallVar.QUEUE: decision.queue,
            CallVar.PRIORITY: str(decision.priority),
            CallVar.MAX_PENALTY: str(decision.max_penalty),
            CallVar.RULE: decision.queue_rule,
            CallVar.TIMEOUT: str(wait_s),
            CallVar.RING: str(policy.caller_ring_seconds),
            **{answer_var(k): v for k, v in profile.items()},
        }
        if position is not None:
            variables[CallVar.POSITION] = str(position)
        self.tracker.follow(channel, callback.id)  # before sending: the events may come first
        self.placed[channel] = _Placed(callback.id, decision.queue, decision.max_penalty)
        try:
            await self.ami.send({
                "Action": "Originate",
                "Channel": f"Local/s@{CALLBACK_CONTEXT}/n",
                "Context": CALLBACK_CALLER_CONTEXT,
                "Exten": callback.caller_number,
                "Priority": "1",
                # The advisor's screen shows whom they will call.
                "CallerID": f'"{label} {callback.caller_number}" <{callback.caller_number}>',
                "ChannelId": channel,
                "Timeout": str((wait_s + 5) * 1000),
                "Async": "true",
                # "_": the Local channel's ;2 half (which queues) inherits them.
                "Variable": ",".join(f"_{k}={v}" for k, v in variables.items()),
            })
        except AmiError as error:
            self.tracker.forget(channel)
            self.placed.pop(channel, None)
            log.warning("callbacks.originate_failed", callback=callback.id, error=str(error))
            await self._apply(hotline, callback.id, TryEnded("no_advisor", now), now)
            return
        log.info("callbacks.placed", callback=callback.id, channel=channel, queue=decision.queue,
                 max_penalty=decision.max_penalty, position=position)
