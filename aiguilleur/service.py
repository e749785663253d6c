"""Composition root: every object built by hand and passed in, no magic.

The service = FastAGI IVR server + AMI follower (CDR correlator) + CDR writer.
With several Asterisk nodes (``settings.ami_nodes``, issue 13) the first one is followed and
acted on as before; every other one is followed by an ``aiguilleur.nodes.NodeFollower`` (its
own AMI link, resync, correlator and live state) into the same writer; advisors' memberships are
mirrored between them (``aiguilleur.mirror``) and each node's own files are read back by a
recovery task of its own. Two instances may run this side by side on the same nodes and database
(records upserted by node and linkedid, callbacks claimed by row).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import structlog

from aiguilleur.availability import AvailabilityRebaser, RebasingRulesEngine
from aiguilleur.callbacks import CallbackDialer, CallbackStore
from aiguilleur.caller_history import CallerHistory
from aiguilleur.confgen import CALLBACK_CALLER_CONTEXT, CALLBACK_CONTEXT, HOTLINE_CONTEXT
from aiguilleur.database import Database, resolve
from aiguilleur.mirror import MembershipMirror
from aiguilleur.nodes import NodeFollower, NodeWatch, first_synced_outlook
from aiguilleur.rules import RulesEngine, RulesHolder, files_needed
from cdr.correlator import CdrCorrelator
from cdr.migrate import migrate
from cdr.recovery import run_recovery
from cdr.writer import CdrWriter
from config.models import Hotline
from config.settings import Settings
from ivr.agi_route import make_route
from ivr.fastagi import AgiApplication, serve
from ivr.fastagi import stop as stop_fastagi
from ivr.session import Clock
from queues.advisors import AdvisorDesk
from queues.ami import AmiClient, AmiError
from queues.resync import expire_periodically, resync_into
from queues.snapshot import penalties_by_line
from queues.state import LiveState, StateConfig
from web.server import WebServer, start_web
from web.wiring import deps_from_service

log = structlog.get_logger(__name__)


def make_clock(fixed: str | None) -> Clock:
    """The real clock, or a fixed instant (demos, tests of closed hours)."""
    if fixed is None:
        return lambda: dt.datetime.now(dt.UTC)
    instant = dt.datetime.fromisoformat(fixed)
    if instant.tzinfo is None:
        raise ValueError(f"AIGUILLEUR_NOW must include a UTC offset, got {fixed!r}")
    return lambda: instant


def make_running_clock(fixed: str | None) -> Clock:
    """The real clock, or one that starts at a fixed instant and runs (the callback dialer's
    spacing between tries must elapse under a test clock too)."""
    if fixed is None:
        return lambda: dt.datetime.now(dt.UTC)
    instant = make_clock(fixed)()
    started = time.monotonic()
    return lambda: instant + dt.timedelta(seconds=time.monotonic() - started)


@dataclass
class Service:
    """The running parts; ``stop()`` stops them in reverse order of their start."""

    database: Database
    pool: asyncpg.Pool
    writer: CdrWriter
    correlator: CdrCorrelator
    ami: AmiClient
    agi_app: AgiApplication
    agi_server: asyncio.Server
    live: LiveState
    tasks: list[asyncio.Task[None]]
    rules: RulesHolder
    desk: AdvisorDesk
    rules_engine: RulesEngine
    rebaser: AvailabilityRebaser | None = None  # penalties follow the best tier present (routing.rebase)
    web: WebServer | None = None  # the web interface (web/), on settings.http
    dialer: CallbackDialer | None = None  # places the promised callbacks (aiguilleur.callbacks)
    node: str = "a"  # the first (acting) node: ``ami``, ``correlator`` and ``live`` are its
    watch: NodeWatch | None = None  # the first node's restarts (its calls cut by them)
    followers: list[NodeFollower] = field(default_factory=list)  # the other nodes, followed only
    # How each started part is stopped, entered as it started (``start_service``).
    exits: AsyncExitStack = field(default_factory=AsyncExitStack, repr=False)

    @property
    def live_by_node(self) -> dict[str, LiveState]:
        """Every followed node's live state, by node name."""
        return {self.node: self.live, **{f.node: f.live for f in self.followers}}

    async def stop(self) -> None:
        """Stop taking calls and events, then the background work, then flush the writer and close the pool."""
        await self.exits.aclose()
        log.info("service.stopped", open_calls=self.correlator.open_calls())


@dataclass(frozen=True)
class _Acting:
    """The parts that act through the first node's AMI link: built after the client (they need it),
    which needs its callbacks first; attached before the link starts."""

    ami: AmiClient
    rules_engine: RulesEngine
    rebaser: AvailabilityRebaser
    dialer: CallbackDialer


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the background tasks and wait for their ends (their ``finally`` blocks included)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def start_service(
    settings: Settings,
    hotline: Hotline,
    *,
    record_ami: Path | None = None,
    asterisk_log_dir: Path | None = None,
) -> Service:
    """Start every part; the caller awaits ``stop()``. A part that fails to start stops those already started.

    ``asterisk_log_dir`` (or ``settings.asterisk_log_dir``): where Asterisk writes its own
    CDR and queue_log files, read back to recover calls that ended while we were down.
    """
    # Each part is entered as soon as it started, so that a failure at any step (a busy FastAGI
    # port, an unreachable database...) unwinds exactly what was started, in reverse. On
    # ``stop()`` that reverse is: web, FastAGI, AMI links, background tasks, writer, pool.
    async with AsyncExitStack() as stack:
        database = await resolve(settings.database_url, settings.state_dir)
        stack.callback(database.close)
        pool = await asyncpg.create_pool(database.url, min_size=1, max_size=4)
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            applied = await migrate(conn)
        log.info("db.ready", migrations_applied=applied)

        writer = CdrWriter(pool, spool_dir=settings.state_dir / "spool")
        writer.start()
        stack.push_async_callback(writer.stop)  # after everything that submits to it has stopped

        def partner_of(line: str) -> str | None:
            partner = hotline.partner_of(line)
            return partner.id if partner else None

        escalation_after = tuple(s.after_seconds for s in hotline.queues.escalation)

        def new_correlator(node: str) -> CdrCorrelator:
            return CdrCorrelator(partner_of=partner_of, escalation_after=escalation_after,
                                 call_contexts=frozenset({HOTLINE_CONTEXT}),
                                 callback_contexts=frozenset({CALLBACK_CONTEXT, CALLBACK_CALLER_CONTEXT}),
                                 node=node)

        [(node, ami_settings), *other_nodes] = settings.followed_nodes()
        correlator = new_correlator(node)
        live = LiveState(StateConfig.from_hotline(hotline))
        watch = NodeWatch(node, correlator, writer.submit, settings.node_lost_after)
        # Logins and pauses copied to every node (aiguilleur.mirror); with one node, nothing at all.
        mirror = MembershipMirror(lambda: rules.hotline) if other_nodes else None
        followers = [NodeFollower.build(name, other, new_correlator(name),
                                        LiveState(StateConfig.from_hotline(hotline)),
                                        writer.submit, lost_after=settings.node_lost_after,
                                        after_event=mirror.event_hook(name) if mirror else None,
                                        after_ready=mirror.ready_hook(name) if mirror else None)
                     for name, other in other_nodes]
        rules = RulesHolder(hotline)
        recovery_wake = asyncio.Event()
        acting: _Acting | None = None  # set just below the AMI client, before its link starts

        def acting_parts() -> _Acting:
            if acting is None:  # the link starts after `acting` is set: a callback before it is a bug
                raise RuntimeError("AMI callback before the service's acting parts were attached")
            return acting

        def on_event(event: Mapping[str, str]) -> None:
            if correlator.ended_unseen(event):
                recovery_wake.set()  # a call that began before we listened: only recovery records it
            # Call records and queue_log rows alike: the writer takes both.
            for item in correlator.feed(event):
                writer.submit(item)
            live.apply(event)
            if mirror is not None:
                mirror.on_event(node, event)
            parts = acting_parts()
            parts.rebaser.on_event(event)  # after the live state took it: the round reads the state
            parts.dialer.on_event(event)

        async def on_ready() -> None:
            # After every (re)login: nothing stale survives an outage or an Asterisk restart,
            # and calls that ended while we were away are recovered now, not at the next period.
            parts = acting_parts()
            recovery_wake.set()
            await watch.link_up(parts.ami)  # first: a restart under our calls records them lost
            await resync_into(live, parts.ami)
            # Logged-in lines (kept by Asterisk across its restarts) ranked by the rules that run;
            # the resync just read them, no second QueueStatus. Then re-based on who is present
            # (the rebasing engine asks for that round after every reconcile, even a failed one).
            snapshot = live.snapshot()
            try:
                await parts.rules_engine.reconcile_members(
                    running=penalties_by_line(snapshot) if snapshot.synced else None)
            except (AmiError, ValueError) as error:
                log.warning("rules.reconcile_failed", error=str(error))
            if mirror is not None:
                await mirror.on_ready(node)

        def on_down() -> None:
            live.mark_unsynced()
            watch.link_down()

        ami = AmiClient(ami_settings, on_event=on_event, on_ready=on_ready, on_down=on_down, record_to=record_ami)
        desk = AdvisorDesk(ami, rules)
        rebaser = AvailabilityRebaser(live.snapshot, rules, desk.apply_change)
        instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        dialer = CallbackDialer(CallbackStore(pool, instance), ami, rules, live.snapshot,
                                make_running_clock(settings.now))
        rules_engine = RebasingRulesEngine(pool, ami, desk, rules, settings, database.url,
                                           settings.asterisk_etc_dirs,
                                           rebaser=rebaser, on_reloaded=lambda: resync_into(live, ami))
        acting = _Acting(ami, rules_engine, rebaser, dialer)
        await rules_engine.adopt(hotline, source=str(settings.hotline_file))

        # The background tasks are cancelled after every AMI link is down (no event reaches
        # them half-stopped), so their exit is entered before the links start; the list is
        # filled below. Likewise the followers' (a follower not started yet stops as a no-op):
        # the first node's link stops first, then the others in order.
        tasks: list[asyncio.Task[None]] = []
        stack.push_async_callback(_cancel, tasks)
        if mirror is not None:
            for name, client, state in [(node, ami, live), *((f.node, f.ami, f.live) for f in followers)]:
                mirror.attach(name, client, state)
            stack.push_async_callback(mirror.stop)  # after the links: no event schedules a copy then
        stack.push_async_callback(watch.stop)
        for follower in reversed(followers):
            stack.push_async_callback(follower.stop)
        await ami.start()
        stack.push_async_callback(ami.stop)
        for follower in followers:
            await follower.start()
        tasks += [
            asyncio.create_task(expire_periodically(live), name="live-state-expiry"),
            asyncio.create_task(rules_engine.run(), name="rules-engine"),
            asyncio.create_task(rebaser.run(), name="availability-rebase"),
            asyncio.create_task(dialer.run(), name="callback-dialer"),
        ]

        # Each node's own files (cdr-custom, queue_log), read back for the calls that ended while we
        # were away from it; a node without a log dir here (another machine's disk) has no recovery.
        recovered = [(node, asterisk_log_dir or settings.node_log_dir(node), recovery_wake)]
        recovered += [(f.node, settings.node_log_dir(f.node), f.recovery_wake) for f in followers]
        for name, log_dir, wake in recovered:
            if log_dir is not None:
                tasks.append(asyncio.create_task(
                    run_recovery(writer, pool, log_dir, partner_of, escalation_after=escalation_after,
                                 wake=wake, node=name),
                    name=f"cdr-recovery-{name}",
                ))

        agi_app = AgiApplication()
        history = CallerHistory(pool, hotline.menu.repeat_days)
        agi_app.add_route(
            "ivr",
            make_route(
                rules, make_clock(settings.now),
                recent_partner=history.recent_partner, on_callback=history.store_callback,
                outlook=first_synced_outlook([live, *(f.live for f in followers)]) if followers else live.outlook,
            ),
        )
        agi_server = await serve(agi_app, settings.fastagi.host, settings.fastagi.port)
        stack.push_async_callback(stop_fastagi, agi_server, agi_app)  # first thing stopped but the web
        log.info(
            "service.started",
            fastagi=f"{settings.fastagi.host}:{settings.fastagi.port}",
            ami=f"{ami_settings.host}:{ami_settings.port}",
            nodes=[name for name, _ in settings.followed_nodes()],
            database=database.url.split("@")[-1],
        )
        service = Service(database, pool, writer, correlator, ami, agi_app, agi_server, live, tasks,
                          rules, desk, rules_engine, rebaser, dialer=dialer, node=node, watch=watch,
                          followers=followers)
        try:
            service.web = await start_web(settings.http, deps_from_service(
                service, hotline, pool=pool, live=live, correlator=correlator, writer=writer, ami=ami,
                smtp=settings.smtp, asterisk_files=lambda running, proposed: files_needed(running, proposed, settings),
                asterisk_conf_dirs=settings.asterisk_etc_dirs))
        except OSError as exc:
            # Callers matter more than the web pages: a busy port leaves the telephony running without them.
            log.error("web.not_started", http=f"{settings.http.host}:{settings.http.port}", error=str(exc))
        else:
            stack.push_async_callback(service.web.stop)
        service.exits = stack.pop_all()  # started: from now on the service's stop() unwinds them
    return service


async def serve_until_stopped(
    settings: Settings, hotline: Hotline, stop: asyncio.Event, *, record_ami: Path | None = None
) -> None:
    service = await start_service(settings, hotline, record_ami=record_ami)
    try:
        await stop.wait()
    finally:
        await service.stop()
