"""Chaos suite (issue #16): faults injected one at a time into the real sandbox stack, with figures.

    python -m bench.chaos            # the long form (make chaos): 50 calls through a kill -9, ...
    python -m bench.chaos --short    # the short form (also run by tests/chaos in make test's pbx tier)
    python -m bench.chaos --only kill9,pg_outage

The stack: a private PostgreSQL (tests/db/private_postgres.py: the machine's shared server is never
stopped), the sandbox Asterisk 22 with the generated configuration, a SIPp UAS playing the 36
advisors, the whole service as a child process (``python -m bench.chaos_service``: ``aiguilleur serve``, so that kill -9
is a real one) reaching Asterisk's AMI through a small TCP proxy that can stop forwarding without
closing (the half-open fault), its spool on a tmpfs of its own (the disk-full fault). SIPp callers go
through the IVR: half of them answer the four questions, half press 0 at once (the queue).

For each fault one line of figures:

- offered: SIPp callers placed; answered: calls an advisor's softphone answered (the UAS's log);
- dropped: offered - answered; lost_pbx: callers Asterisk itself cut (only the Asterisk restart);
- records expected (one per caller), present (callers with a ``cdr`` row), duplicated (extra rows),
  recovered (rows rebuilt from Asterisk's files), degraded (calls that went through the fallback);
- recover_s: from the end of the fault (service restarted, PostgreSQL back, space back, link cut
  detected...) to the last record in PostgreSQL; calls_s: how long the SIPp run took.

The goal for every fault: dropped == lost_pbx, present == expected, duplicated == 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import errno
import json
import os
import random
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from aiguilleur.confgen import render
from aiguilleur.logs import configure
from cdr.recovery import CDR_FILE, QUEUE_LOG_FILE
from config.loader import load_hotline
from config.models import Hotline
from config.settings import REPO_ROOT, AmiSettings, FastAgiSettings, PbxSettings
from ivr.prompt_audio import generate as generate_prompts
from ivr.prompts import SOUNDS_SUBDIR, catalogue
from sandbox.pbx import SandboxPbx, default_cache_dir, ensure_root
from sandbox.ports import free_tcp_port
from sandbox.service_process import ServiceProcess, log_events, service_environment
from sandbox.sipp import AgentsUas, CallScript, SippResult, free_udp_port, run_calls
from tests.db.private_postgres import PrivatePostgres
from tests.pbx.logins import log_every_line_in

OPEN_INSTANT = "2026-11-23T10:00:00+01:00"  # a Monday 10:00 in Paris: the line is open
PING_INTERVAL = 2.0  # the service's AMI keep-alive in this stack
PONG_TIMEOUT = 1.5
SPOOL_TMPFS = "8m"
CALLER_PATIENCE_MS = 240_000
# need, sector, size, département: the best partner is CMA, CCI, Région, DIRECCTE, MEL (README's table)
MENU_PROFILES = (["1", "2", "2", "59"], ["2", "1", "3", "62"], ["2", "3", "5", "60"], ["2", "4", "3", "80"],
                 ["1", "4", "1", "59"])



# --------------------------------------------------------------------------- the AMI proxy


class StallingProxy:
    """Loopback TCP proxy to ``upstream_port``. ``stall()`` freezes every open link: no byte moves
    either way, nothing is closed (a half-open peer). Links accepted afterwards forward normally."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self.accepted: list[float] = []  # monotonic time of each accepted link
        self._links: list[tuple[socket.socket, socket.socket, threading.Event]] = []
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._spawn(self._accept_loop)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                conn.close()
                continue
            upstream.settimeout(None)
            frozen = threading.Event()
            self._links.append((conn, upstream, frozen))
            self.accepted.append(time.monotonic())
            self._spawn(self._pump, conn, upstream, frozen)
            self._spawn(self._pump, upstream, conn, frozen)

    def _pump(self, src: socket.socket, dst: socket.socket, frozen: threading.Event) -> None:
        while not self._closing.is_set():
            if frozen.is_set():  # read nothing: the kernel buffers fill, the peer sees silence
                time.sleep(0.1)
                continue
            try:
                ready, _, _ = select.select([src], [], [], 0.2)
                if not ready:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
            except OSError:
                break
        if not frozen.is_set():
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def stall(self) -> None:
        for _conn, _upstream, frozen in self._links:
            frozen.set()

    def close(self) -> None:
        self._closing.set()
        self._server.close()
        for conn, upstream, _frozen in self._links:
            conn.close()
            upstream.close()
        for thread in self._threads:
            thread.join(2)


# --------------------------------------------------------------------------- figures


@dataclass
class Figures:
    fault: str
    offered: int = 0
    answered: int = 0
    lost_pbx: int = 0  # callers Asterisk itself dropped (it was restarted under them)
    expected: int = 0
    present: int = 0
    duplicated: int = 0
    recovered: int = 0
    degraded: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    recover_s: float | None = None
    settle_s: float | None = None  # from the last caller's end to the last record
    calls_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        return self.offered - self.answered

    @property
    def ok(self) -> bool:
        return (self.dropped == self.lost_pbx and self.present == self.expected and self.duplicated == 0
                and not self.failures)

    def line(self) -> str:
        recover = "-" if self.recover_s is None else f"{self.recover_s:.1f} s"
        settle = "-" if self.settle_s is None else f"{self.settle_s:.1f} s"
        text = (f"{self.fault:<16} offered {self.offered:>3}  answered {self.answered:>3}  dropped {self.dropped:>3}"
                f" (by Asterisk {self.lost_pbx})  records expected {self.expected:>3} present {self.present:>3}"
                f" duplicated {self.duplicated}  recovered {self.recovered} degraded {self.degraded}"
                f"  recover {recover} (after the last call {settle})  calls {self.calls_s:.1f} s"
                f"  {'OK' if self.ok else 'FAIL'}")
        details = [f"outcomes {dict(sorted(self.outcomes.items()))}", *self.notes, *self.failures]
        return text + "".join(f"\n{'':<16} {d}" for d in details)


# --------------------------------------------------------------------------- the stack


class ChaosStack:
    """Everything the faults act on; each part stopped by its own pid or handle on ``close``."""

    def __init__(self, hotline: Hotline, work: Path, *, ring_ms: int = 2500, talk_ms: int = 4000) -> None:
        self.hotline = hotline
        self.work = work
        self.state = work / "state"
        self.spool = self.state / "spool"
        self.service_log = work / "service.log"
        self.pbx_settings = PbxSettings(sip_port=free_udp_port(), line_contact_port=free_udp_port(),
                                        rtp_start=36000, rtp_end=36999)
        self.ami = AmiSettings(port=free_tcp_port())  # Asterisk's own AMI port
        self.fastagi = FastAgiSettings(port=free_tcp_port())
        self.http_port = free_tcp_port()
        self.ring_ms, self.talk_ms = ring_ms, talk_ms
        self.pg: PrivatePostgres | None = None
        self.pbx: SandboxPbx | None = None
        self.agents: AgentsUas | None = None
        self.proxy: StallingProxy | None = None
        self.service: ServiceProcess | None = None
        self._mounted = False
        self._batch = 0
        self.calls_done = 0.0  # when the last SIPp run ended (monotonic)
        self.settle_s: float | None = None  # from then to the last record in PostgreSQL (wait_records)

    # --- life ------------------------------------------------------------
    def start(self) -> None:
        self.state.mkdir(parents=True)
        self.spool.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SPOOL_TMPFS},mode=0700", "tmpfs", str(self.spool)],
                       check=True, capture_output=True)
        self._mounted = True
        self.pg = PrivatePostgres()
        self.pg.start()
        asyncio.run(self._create_database())
        conf_dir = self.work / "asterisk_conf"
        conf_dir.mkdir()
        for name, text in render(self.hotline, self.pbx_settings, self.ami, self.fastagi).items():
            (conf_dir / name).write_text(text, encoding="utf-8")
        prompts = REPO_ROOT / "var" / "chaos-prompts"  # regenerated only when a text changes
        generate_prompts(catalogue(self.hotline), prompts)
        self.pbx = SandboxPbx(ensure_root(default_cache_dir()), f"chaos-{os.getpid()}", conf_dir)
        self.pbx.install_sounds(prompts, SOUNDS_SUBDIR)
        log_dir = self.pbx.instance_dir / "log"
        for old in (log_dir / CDR_FILE, log_dir / QUEUE_LOG_FILE):
            old.unlink(missing_ok=True)
        (log_dir / CDR_FILE).parent.mkdir(parents=True, exist_ok=True)  # Asterisk does not create it
        self.pbx.start()
        assert self.pbx_settings.line_contact_port is not None
        self.agents = AgentsUas(self.pbx_settings.line_contact_port, ring_ms=self.ring_ms, talk_ms=self.talk_ms,
                                work_dir=self.work / "agents")
        self.agents.start()
        log_every_line_in(self.ami, self.hotline)
        self.proxy = StallingProxy(self.ami.port)
        self.proxy.start()
        self.start_service()

    async def _create_database(self) -> None:
        assert self.pg is not None
        conn = await asyncpg.connect(self.pg.url("postgres"))
        try:
            await conn.execute('CREATE DATABASE "aiguilleur"')
        finally:
            await conn.close()

    @property
    def database_url(self) -> str:
        assert self.pg is not None
        return self.pg.url("aiguilleur")

    def service_env(self) -> dict[str, str]:
        assert self.pbx is not None and self.proxy is not None
        return service_environment(**{
            "DATABASE_URL": self.database_url,
            "AIGUILLEUR_STATE_DIR": str(self.state),
            "AIGUILLEUR_NOW": OPEN_INSTANT,
            "AIGUILLEUR_ASTERISK_LOG_DIR": str(self.pbx.instance_dir / "log"),
            "AIGUILLEUR_ASTERISK_ETC_DIRS": json.dumps([str(self.pbx.instance_dir / "etc")]),
            "AIGUILLEUR_AMI__PORT": str(self.proxy.port),
            "AIGUILLEUR_AMI__PING_INTERVAL": str(PING_INTERVAL),
            "AIGUILLEUR_AMI__PONG_TIMEOUT": str(PONG_TIMEOUT),
            "AIGUILLEUR_FASTAGI__PORT": str(self.fastagi.port),
            "AIGUILLEUR_HTTP__PORT": str(self.http_port),
            "AIGUILLEUR_PBX__SIP_PORT": str(self.pbx_settings.sip_port),
            "AIGUILLEUR_PBX__LINE_CONTACT_PORT": str(self.pbx_settings.line_contact_port),
            "AIGUILLEUR_PBX__RTP_START": str(self.pbx_settings.rtp_start),
            "AIGUILLEUR_PBX__RTP_END": str(self.pbx_settings.rtp_end),
        })

    def start_service(self, timeout: float = 30.0) -> float:
        """Start the service (``bench.chaos_service``); return once its AMI link is up and FastAGI
        listens (the seconds taken)."""
        self.service = ServiceProcess("service", self.service_env(), self.service_log, self.fastagi.port,
                                      module="bench.chaos_service")
        return self.service.start(timeout)

    def kill_service(self) -> None:
        assert self.service is not None
        self.service.kill()

    def stop_service(self) -> None:
        if self.service is not None:
            self.service.stop()

    def close(self) -> None:
        steps: list[Callable[[], None]] = [self.stop_service]
        if self.proxy is not None:
            steps.append(self.proxy.close)
        if self.agents is not None:
            steps.append(self.agents.stop)
        if self.pbx is not None:
            steps.append(self.pbx.stop)
        if self.pg is not None:
            steps.append(self.pg.close)
        if self._mounted:
            steps.append(self._unmount)
        for step in steps:
            try:
                step()
            except Exception as exc:  # stop everything else anyway
                sys.stderr.write(f"chaos: {step} failed at close: {exc!r}\n")

    def _unmount(self) -> None:
        if subprocess.run(["umount", str(self.spool)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(self.spool)], check=True, capture_output=True)
        self._mounted = False

    def __enter__(self) -> ChaosStack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- observing -------------------------------------------------------
    def log_offset(self) -> int:
        return self.service_log.stat().st_size if self.service_log.exists() else 0

    def log_events(self, offset: int, *names: str) -> list[dict[str, object]]:
        """The service's log events named ``names`` written after byte ``offset``."""
        return log_events(self.service_log, offset, *names)

    def metrics(self) -> dict[str, float]:
        """The service's /metrics (unlabelled gauges and counters), {} when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=3) as reply:
                text = reply.read().decode()
        except OSError:
            return {}
        values: dict[str, float] = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if line and not line.startswith("#") and "{" not in name:
                with contextlib.suppress(ValueError):
                    values[name] = float(value)
        return values

    def answered(self) -> int:
        assert self.agents is not None
        return self.agents.answered()

    def offered(self) -> int:
        assert self.agents is not None
        return self.agents.offered()

    def wait_offered(self, before: int, count: int, timeout: float = 30.0) -> int:
        """Wait until ``count`` more calls ring the advisors' lines (callers in a queue); return how many."""
        deadline = time.monotonic() + timeout
        while self.offered() - before < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.offered() - before

    def ivr_started(self, offset: int) -> set[str]:
        return {str(e.get("linkedid") or e.get("uniqueid")) for e in self.log_events(offset, "ivr.call")}

    def ivr_finished(self, offset: int) -> set[str]:
        return {str(e.get("linkedid") or e.get("uniqueid")) for e in self.log_events(offset, "ivr.finished")}

    # --- calls -----------------------------------------------------------
    def scripts(self, count: int) -> list[CallScript]:
        """Half answer the four questions (the menu, five profiles: CMA, CCI, Région, DIRECCTE and MEL
        first), half press 0 at once (straight to the queue). Callers wait as long as it takes (4 min):
        one not answered was dropped, not impatient."""
        self._batch += 1
        scripts = []
        for i in range(count):
            digits = MENU_PROFILES[(i // 2) % len(MENU_PROFILES)] if i % 2 == 0 else ["0"]
            scripts.append(CallScript(digits=digits, caller_number=f"03{self._batch:02d}{i:06d}",
                                      pause_before_ms=1500, pause_between_ms=1500, hold_after_ms=CALLER_PATIENCE_MS))
        return scripts

    def place(self, pool: ThreadPoolExecutor, scripts: list[CallScript], rate_cps: float = 10.0) -> Future[SippResult]:
        def timed(*args: object, **kwargs: object) -> SippResult:
            try:
                return run_calls(*args, **kwargs)  # type: ignore[arg-type]
            finally:
                self.calls_done = time.monotonic()

        return pool.submit(timed, scripts, port=self.pbx_settings.sip_port, number=self.hotline.number,
                           concurrent=len(scripts), rate_cps=rate_cps,
                           timeout_s=CALLER_PATIENCE_MS / 1000 + 120)

    async def _records(self, numbers: list[str]) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url, timeout=5)
        try:
            return list(await conn.fetch(
                "SELECT src, outcome, recovered, degraded FROM cdr WHERE src = ANY($1::text[])", numbers))
        finally:
            await conn.close()

    def records(self, numbers: list[str]) -> list[asyncpg.Record]:
        return asyncio.run(self._records(numbers))

    def wait_records(
        self, numbers: list[str], since: float, timeout: float = 120.0
    ) -> tuple[list[asyncpg.Record], float | None]:
        """Poll until every number has a record; return the rows and the seconds since ``since``."""
        deadline = time.monotonic() + timeout
        rows: list[asyncpg.Record] = []
        while True:
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                rows = self.records(numbers)
            if len({r["src"] for r in rows}) >= len(numbers):
                self.settle_s = time.monotonic() - self.calls_done
                return rows, time.monotonic() - since
            if time.monotonic() > deadline:
                self.settle_s = None
                return rows, None
            time.sleep(0.25)


def tally(figures: Figures, numbers: list[str], rows: list[asyncpg.Record], settle_s: float | None = None) -> None:
    if figures.settle_s is None:
        figures.settle_s = settle_s
    per_caller = Counter(r["src"] for r in rows)
    figures.expected += len(numbers)
    figures.present += sum(1 for n in numbers if per_caller[n] > 0)
    figures.duplicated += sum(c - 1 for c in per_caller.values() if c > 1)
    figures.recovered += sum(1 for r in rows if r["recovered"])
    figures.degraded += sum(1 for r in rows if r["degraded"])
    for r in rows:
        figures.outcomes[r["outcome"] or "none"] = figures.outcomes.get(r["outcome"] or "none", 0) + 1


def check_calls(figures: Figures, result: SippResult) -> None:
    figures.calls_s += result.elapsed_s
    if result.returncode not in (0, 1) and not result.calls:
        figures.failures.append(f"SIPp failed: {result.describe()}")


# --------------------------------------------------------------------------- the faults


def fault_kill9(stack: ChaosStack, calls: int, down_s: float = 3.0) -> Figures:
    """kill -9 of the service while callers are in the menu and in the queue; restarted ``down_s`` later."""
    figures = Figures("kill9")
    scripts = stack.scripts(calls)
    numbers = [s.caller_number for s in scripts]
    before = stack.answered()
    offered_before = stack.offered()
    log_offset = stack.log_offset()
    with ThreadPoolExecutor(1) as pool:
        running = stack.place(pool, scripts)
        # Killed once a quarter of the callers (some of those who pressed 0) ring a line, in the queue;
        # those who answer the four questions are still in the menu.
        queued = stack.wait_offered(offered_before, max(2, calls // 4))
        stack.kill_service()
        in_menu = sum(1 for n in stack.ivr_started(log_offset) if n not in stack.ivr_finished(log_offset))
        figures.notes.append(f"at the kill: {queued} callers ringing a line (in the queue), {in_menu} in the menu")
        time.sleep(down_s)
        restart = time.monotonic()
        figures.notes.append(f"service killed with -9, down {down_s:.0f} s, ready "
                             f"{stack.start_service():.1f} s after its restart")
        result = running.result()
    check_calls(figures, result)
    figures.offered, figures.answered = calls, stack.answered() - before
    rows, figures.recover_s = stack.wait_records(numbers, restart)
    tally(figures, numbers, rows, stack.settle_s)
    return figures


def fault_pg_outage(stack: ChaosStack, calls: int, down_s: float = 30.0) -> Figures:
    """The private PostgreSQL stopped ``down_s`` then started again, during the calls."""
    assert stack.pg is not None
    figures = Figures("pg_outage")
    scripts = stack.scripts(calls)
    numbers = [s.caller_number for s in scripts]
    before = stack.answered()
    offset = stack.log_offset()
    with ThreadPoolExecutor(1) as pool:
        running = stack.place(pool, scripts)
        time.sleep(2.0)
        stack.pg.stop("fast")
        time.sleep(down_s)
        stack.pg.start()
        back = time.monotonic()
        result = running.result()
    check_calls(figures, result)
    figures.offered, figures.answered = calls, stack.answered() - before
    rows, figures.recover_s = stack.wait_records(numbers, back)
    tally(figures, numbers, rows, stack.settle_s)
    retries = len(stack.log_events(offset, "cdr.write_failed_retrying"))
    figures.notes.append(f"PostgreSQL down {down_s:.0f} s; writer retries logged: {retries}")
    return figures


def fault_asterisk_restart(stack: ChaosStack, calls: int, after: int = 4) -> Figures:
    """Asterisk restarted while callers wait in the queue: they are lost with it; then ``after`` calls."""
    assert stack.pbx is not None
    figures = Figures("asterisk_restart")
    scripts = [CallScript(digits=["0"], caller_number=s.caller_number, pause_before_ms=1000,
                          hold_after_ms=CALLER_PATIENCE_MS) for s in stack.scripts(calls)]
    numbers = [s.caller_number for s in scripts]
    before = stack.answered()
    offered_before = stack.offered()
    offset = stack.log_offset()
    with ThreadPoolExecutor(1) as pool:
        running = stack.place(pool, scripts)
        queued = stack.wait_offered(offered_before, calls)  # every caller pressed 0: queued, ringing a line
        stack.pbx.restart()
        figures.notes.append(f"at the restart: {queued} callers ringing a line (in the queue)")
        restarted = time.monotonic()
        result = running.result()
    check_calls(figures, result)
    answered_before = stack.answered() - before
    # Every caller was on the node when it restarted: Asterisk itself cut them all.
    figures.lost_pbx = calls - sum(1 for c in result.calls if c.ended_by == "caller")
    deadline = time.monotonic() + 30
    while not stack.log_events(offset, "ami.connected") and time.monotonic() < deadline:
        time.sleep(0.1)
    reconnected = stack.log_events(offset, "ami.connected")
    figures.notes.append(f"{answered_before} of the {calls} were talking to an advisor when Asterisk restarted; "
                         f"AMI reconnected: {'yes' if reconnected else 'NO'}")
    rows, figures.recover_s = stack.wait_records(numbers, restarted)
    tally(figures, numbers, rows, stack.settle_s)
    # Every caller Asterisk cut (waiting, or talking to an advisor) is recorded as its doing.
    recorded_lost = sum(1 for r in rows if r["outcome"] == "lost_by_pbx")
    figures.notes.append(f"{recorded_lost} of the {figures.lost_pbx} callers Asterisk cut recorded lost_by_pbx")
    if recorded_lost != figures.lost_pbx:
        figures.failures.append(f"{figures.lost_pbx} callers cut by Asterisk, {recorded_lost} recorded lost_by_pbx")
    # The node serves again: new callers through the IVR reach an advisor.
    scripts2 = stack.scripts(after)
    numbers2 = [s.caller_number for s in scripts2]
    before2 = stack.answered()
    with ThreadPoolExecutor(1) as pool:
        result2 = stack.place(pool, scripts2).result()
    check_calls(figures, result2)
    figures.offered = calls + after
    figures.answered = calls - figures.lost_pbx + stack.answered() - before2
    rows2, _ = stack.wait_records(numbers2, time.monotonic(), timeout=30)
    tally(figures, numbers2, rows2, stack.settle_s)
    figures.notes.append(f"after the restart {stack.answered() - before2}/{after} new callers answered")
    return figures


def fault_ami_half_open(stack: ChaosStack, calls: int) -> Figures:
    """The AMI link stops carrying bytes without closing; the service must notice within 2 pings."""
    assert stack.proxy is not None
    figures = Figures("ami_half_open")
    scripts = stack.scripts(calls)
    numbers = [s.caller_number for s in scripts]
    before = stack.answered()
    links = len(stack.proxy.accepted)
    offset = stack.log_offset()
    with ThreadPoolExecutor(1) as pool:
        running = stack.place(pool, scripts)
        time.sleep(3.0)
        stack.proxy.stall()
        stalled = time.monotonic()
        while len(stack.proxy.accepted) == links and time.monotonic() - stalled < 30:
            time.sleep(0.05)
        detected = stack.proxy.accepted[-1] - stalled if len(stack.proxy.accepted) > links else None
        result = running.result()
    check_calls(figures, result)
    figures.offered, figures.answered = calls, stack.answered() - before
    if detected is None:
        figures.failures.append("the service never opened a new AMI link")
    else:
        figures.notes.append(f"half-open link replaced {detected:.1f} s after the stall (ping every "
                             f"{PING_INTERVAL:g} s, pong timeout {PONG_TIMEOUT:g} s; goal < {2 * PING_INTERVAL:g} s)")
        if detected > 2 * PING_INTERVAL:
            figures.failures.append(f"detected after {detected:.1f} s > 2 ping intervals")
    pong = len(stack.log_events(offset, "ami.pong_timeout"))
    ready = len(stack.log_events(offset, "ami.connected"))
    figures.notes.append(f"log: ami.pong_timeout x{pong}, ami.connected x{ready}")
    rows, figures.recover_s = stack.wait_records(numbers, stalled)
    tally(figures, numbers, rows, stack.settle_s)
    return figures


def fill(directory: Path) -> Path:
    """Fill the file system of ``directory`` to the last byte; return the filler file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        chunk = b"\0" * 65536
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)
    return filler


def fault_spool_full(stack: ChaosStack, calls: int, full_s: float = 5.0) -> Figures:
    """The spool's file system is full during the calls (and ``full_s`` after); then space returns."""
    figures = Figures("spool_full")
    scripts = stack.scripts(calls)
    numbers = [s.caller_number for s in scripts]
    before = stack.answered()
    offset = stack.log_offset()
    filler = fill(stack.spool)
    with ThreadPoolExecutor(1) as pool:
        result = stack.place(pool, scripts).result()
    time.sleep(full_s)
    check_calls(figures, result)
    figures.offered, figures.answered = calls, stack.answered() - before
    during = len({r["src"] for r in stack.records(numbers)})
    loud = stack.log_events(offset, "cdr.spool_write_failed")
    filler.unlink()
    space = time.monotonic()
    rows, figures.recover_s = stack.wait_records(numbers, space)
    tally(figures, numbers, rows, stack.settle_s)
    if figures.recover_s is None:
        metrics = stack.metrics()
        figures.notes.append(f"backlog {metrics.get('aiguilleur_cdr_backlog')} spool "
                             f"{metrics.get('aiguilleur_cdr_spool_depth')}; spool dir: "
                             f"{sorted((p.name, p.stat().st_size) for p in stack.spool.iterdir())}")
    level = loud[0].get("level") if loud else "-"
    figures.notes.append(f"disk full: cdr.spool_write_failed logged x{len(loud)} (level {level}), "
                         f"{during} records in PostgreSQL before space returned")
    if not loud:
        figures.failures.append("the writer did not say the spool was full")
    assert stack.service is not None
    if not stack.service.running():
        figures.failures.append(f"the service exited {stack.service.returncode}")
    return figures


def garbage_payloads(rng: random.Random) -> list[tuple[str, bytes, bytes]]:
    """(what, FastAGI bytes, AMI bytes)."""
    huge = b"x" * (1 << 20)
    return [
        ("random bytes", rng.randbytes(8192), rng.randbytes(8192)),
        ("truncated frame", b"agi_network: yes\nagi_request: agi://127.0.0.1/ivr\nagi_chan",
         b"Action: Login\r\nUsername: aiguil"),
        ("1 MB line", b"agi_request: " + huge + b"\n\n", b"Action: Ping\r\nActionID: " + huge + b"\r\n\r\n"),
        ("invalid UTF-8",
         b"agi_request: agi://127.0.0.1/ivr\nagi_channel: \xff\xfe\xc3(\nagi_callerid: \xed\xa0\x80\n\n",
         b"Action: \xff\xfe\r\nUsername: \xc3(\r\nSecret: \xed\xa0\x80\r\n\r\n"),
        ("header flood", b"".join(b"agi_x%d: y\n" % i for i in range(50_000)) + b"\n",
         b"".join(b"X%d: y\r\n" % i for i in range(50_000)) + b"\r\n"),
    ]


def send_garbage(port: int, payload: bytes, linger_s: float) -> bool:
    """Send ``payload`` on a new connection, read what comes for ``linger_s``; False if refused."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            with contextlib.suppress(OSError):
                sock.sendall(payload)
            sock.settimeout(0.2)
            end = time.monotonic() + linger_s
            while time.monotonic() < end:
                try:
                    if not sock.recv(65536):
                        break
                except TimeoutError:
                    continue
                except OSError:
                    break
        return True
    except OSError:
        return False


def fault_garbage(stack: ChaosStack, calls: int, rounds: int = 3) -> Figures:
    """Garbage on the FastAGI port (the service's) and the AMI port while real calls go through."""
    figures = Figures("garbage")
    scripts = stack.scripts(calls)
    numbers = [s.caller_number for s in scripts]
    before = stack.answered()
    rng = random.Random(16)
    sent = refused = 0
    with ThreadPoolExecutor(1) as pool:
        running = stack.place(pool, scripts)
        for _ in range(rounds):
            for _what, agi, ami in garbage_payloads(rng):
                for port, payload in ((stack.fastagi.port, agi), (stack.ami.port, ami)):
                    sent += 1
                    refused += not send_garbage(port, payload, 0.3)
        result = running.result()
    check_calls(figures, result)
    figures.offered, figures.answered = calls, stack.answered() - before
    done = time.monotonic()
    rows, figures.recover_s = stack.wait_records(numbers, done)
    tally(figures, numbers, rows, stack.settle_s)
    figures.notes.append(f"{sent} garbage connections ({refused} refused): random bytes, truncated frames, "
                         "1 MB lines, invalid UTF-8, 50,000 headers, on FastAGI and AMI")
    assert stack.service is not None
    if not stack.service.running():
        figures.failures.append(f"the service exited {stack.service.returncode}")
    if refused:
        figures.failures.append(f"{refused} garbage connections refused: a port stopped listening")
    return figures


# --------------------------------------------------------------------------- the suite


@dataclass(frozen=True)
class Plan:
    kill9: int
    pg_outage: int
    pg_down_s: float
    asterisk_restart: int
    ami_half_open: int
    spool_full: int
    garbage: int


LONG = Plan(kill9=50, pg_outage=100, pg_down_s=30.0, asterisk_restart=20, ami_half_open=20, spool_full=20,
            garbage=20)
SHORT = Plan(kill9=8, pg_outage=8, pg_down_s=6.0, asterisk_restart=6, ami_half_open=6, spool_full=6, garbage=6)
ORDER = ("garbage", "ami_half_open", "spool_full", "pg_outage", "kill9", "asterisk_restart")


def run_fault(stack: ChaosStack, name: str, plan: Plan) -> Figures:
    if name == "kill9":
        return fault_kill9(stack, plan.kill9)
    if name == "pg_outage":
        return fault_pg_outage(stack, plan.pg_outage, plan.pg_down_s)
    if name == "asterisk_restart":
        return fault_asterisk_restart(stack, plan.asterisk_restart)
    if name == "ami_half_open":
        return fault_ami_half_open(stack, plan.ami_half_open)
    if name == "spool_full":
        return fault_spool_full(stack, plan.spool_full)
    if name == "garbage":
        return fault_garbage(stack, plan.garbage)
    raise ValueError(f"unknown fault {name!r}: one of {', '.join(ORDER)}")


@contextlib.contextmanager
def chaos_stack(work: Path | None = None) -> Iterator[ChaosStack]:
    hotline = load_hotline(REPO_ROOT / "config" / "hotline.yaml")
    with contextlib.ExitStack() as exits:
        if work is None:
            work = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="aiguilleur-chaos-")))
        stack = exits.enter_context(ChaosStack(hotline, work))
        yield stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the short form (as in make test)")
    parser.add_argument("--only", default=",".join(ORDER), help=f"comma-separated faults among {','.join(ORDER)}")
    parser.add_argument("--keep", type=Path, help="keep the work directory (service log, SIPp logs) there")
    args = parser.parse_args(argv)
    configure("warning")  # this process's own AMI session (the logins) stays quiet; the service logs to its file
    plan = SHORT if args.short else LONG
    names = [n for n in args.only.split(",") if n]
    results: list[Figures] = []
    started = time.monotonic()
    print(f"chaos {'short' if args.short else 'long'} form, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: "
          f"{', '.join(names)}", flush=True)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=False)
    with chaos_stack(args.keep) as stack:
        print(f"stack up in {time.monotonic() - started:.1f} s (service log: {stack.service_log})", flush=True)
        for name in names:
            figures = run_fault(stack, name, plan)
            results.append(figures)
            print(figures.line(), flush=True)
    failed = [f.fault for f in results if not f.ok]
    print(f"{len(results) - len(failed)}/{len(results)} faults met the goal in {time.monotonic() - started:.0f} s"
          + (f"; missed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
