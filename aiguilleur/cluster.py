"""The sandbox multi-node stack: Kamailio in front of two Asterisk nodes, SIPp advisors registered to it.

Used by the pbx tests (``tests/pbx/test_kamailio_failover_real.py``) and the failover
benchmark (``bench/failover_bench.py``). Everything on loopback with ports the kernel gives
free at start, instance names unique per process, every process ours and stopped by its pid:

- two :class:`~sandbox.pbx.SandboxPbx` nodes (``a`` priority 10, ``b`` priority 5) with the
  generated hotline configuration, each on its own SIP/AMI/RTP ports; every line's contact is
  the front (Kamailio), where the lines register;
- :class:`~sandbox.kamailio.SandboxKamailio` on ``pbx.front.host`` with the generated
  ``kamailio.cfg``, its registrar in a PostgreSQL database of its own;
- one SIPp UAS (:class:`~sandbox.sipp.AgentsUas`) playing the 36 advisors, their lines
  REGISTERed to Kamailio and logged in on **both** nodes (the standby is ready).

Without ``service_ports`` no FastAGI service listens: calls take the dialplan's degraded path (the
pyst2 fallback asks the sector, then the caller queues by skill). With them, ``service()`` gives
the two service instances to start (child processes: ``sandbox.service_process``), node a's
dialplan trying the first then the second, node b's the reverse. Which node answered a call, and which line talked
with the caller, is read from each node's own call records (cdr_custom), and where Kamailio
sent each INVITE from its log (a timestamped line per routing decision).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import re
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from aiguilleur.confgen import render
from aiguilleur.kamailio_confgen import render as render_kamailio
from config.models import Hotline
from config.settings import AmiSettings, FastAgiSettings, PbxSettings, SipFrontSettings, SipNodeSettings
from queues.advisors import AdvisorDesk
from queues.ami import AmiClient
from sandbox.kamailio import SandboxKamailio, create_location_db, drop_location_db, register_lines
from sandbox.pbx import SandboxPbx, default_cache_dir, ensure_root, pid_alive
from sandbox.ports import free_tcp_port
from sandbox.service_process import ServiceProcess, service_environment
from sandbox.sipp import AgentsUas, CallScript, SippResult, free_udp_port, run_calls

CDR_FILE = Path("cdr-custom") / "aiguilleur-cdr.json"  # aiguilleur.confgen's cdr_custom file
#: ``<epoch s> ROUTE <caller> <node uri>`` (kamailio_confgen's DISPATCH and failover log lines)
_ROUTE_LINE = re.compile(r"\bat (\d+\.\d+) (?:new call \S+ from (\S+) to node|call \S+ from (\S+) failed over to node) "
                         r"(sip:\S+)")



def caller_number(row: dict[str, str]) -> str:
    """The caller's number of a cdr_custom row: ``src``, or the base64 ``aiguilleur_cid_num`` variable."""
    if "src" in row:
        return row["src"]
    return base64.b64decode(row.get("aiguilleur_cid_num", "")).decode()


async def log_every_line_in(ami: AmiSettings, hotline: Hotline) -> None:
    """Every line logs in (the login path of ``*45``), over a short-lived AMI session."""
    client = AmiClient(ami, on_event=lambda _event: None)
    await client.start()
    try:
        await client.wait_ready(15)
        await AdvisorDesk(client, lambda: hotline).login_all()
    finally:
        await client.stop()


@dataclass(frozen=True)
class Routed:
    """One routing decision of Kamailio: when (epoch s), which caller, to which node URI."""

    at: float
    caller: str
    node_uri: str


@dataclass
class SandboxCluster:
    """Kamailio + two Asterisk nodes + the SIPp advisors (see the module docstring)."""

    hotline: Hotline
    work: Path
    probe_interval: int = 1
    invite_timeout_ms: int = 1000
    talk_ms: int = 2000
    # The FastAGI ports of two service instances, the first local to node a, the second to node b:
    # each node's dialplan tries its local instance, then the other. None: no instance (the
    # dialplan's degraded path from the first call).
    service_ports: tuple[int, int] | None = None
    front: SipFrontSettings = field(init=False)
    nodes: dict[str, SandboxPbx] = field(init=False, default_factory=dict)
    amis: dict[str, AmiSettings] = field(init=False, default_factory=dict)
    kamailio: SandboxKamailio = field(init=False)
    agents: AgentsUas = field(init=False)
    location_db: str = field(init=False)
    registered: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        tag = f"{os.getpid()}-{time.monotonic_ns() % 100000}"
        sip_ports = {"a": free_udp_port(), "b": free_udp_port()}
        front_host = PbxSettings().front.host  # the generated pjsip.conf identifies it as the trunk
        self.front = SipFrontSettings(
            host=front_host,
            port=free_udp_port(front_host),
            nodes=[
                SipNodeSettings(name="a", host="127.0.0.1", port=sip_ports["a"], priority=10),
                SipNodeSettings(name="b", host="127.0.0.1", port=sip_ports["b"], priority=5),
            ],
            probe_interval=self.probe_interval,
            invite_timeout_ms=self.invite_timeout_ms,
        )
        root = ensure_root(default_cache_dir())
        rtp_base = 20000 + (os.getpid() % 40) * 250
        dead_port = free_tcp_port()  # without service instances nobody listens: the degraded path
        for index, name in enumerate(("a", "b")):
            fastagi = FastAgiSettings(port=dead_port)
            if self.service_ports is not None:
                local, other = self.service_ports[index], self.service_ports[1 - index]
                fastagi = FastAgiSettings(port=local, backup_host="127.0.0.1", backup_port=other)
            pbx_settings = PbxSettings(
                # every line's contact is Kamailio: it knows where each softphone registered
                sip_port=sip_ports[name], line_contact_host=self.front.host, line_contact_port=self.front.port,
                trunk_contact_port=None, rtp_start=rtp_base + index * 120, rtp_end=rtp_base + index * 120 + 99,
                front=self.front,
            )
            self.amis[name] = AmiSettings(port=free_tcp_port())
            conf_dir = self.work / f"asterisk_conf-{name}"
            conf_dir.mkdir(parents=True)
            for file_name, text in render(self.hotline, pbx_settings, self.amis[name], fastagi).items():
                (conf_dir / file_name).write_text(text, encoding="utf-8")
            self.nodes[name] = SandboxPbx(root, f"cluster-{tag}-{name}", conf_dir)
        kamailio_conf = self.work / "kamailio_conf"
        kamailio_conf.mkdir()
        for file_name, text in render_kamailio(self.front).items():
            (kamailio_conf / file_name).write_text(text, encoding="utf-8")
        self.location_db = f"postgres://postgres@127.0.0.1:5432/aiguilleur_kamailio_{tag.replace('-', '_')}"
        self.kamailio = SandboxKamailio(kamailio_conf, self.work / "kamailio", location_db=self.location_db)
        self.agents = AgentsUas(free_udp_port(), ring_ms=300, talk_ms=self.talk_ms)

    # ------------------------------------------------------------------ life

    def start(self) -> None:
        """Start everything, register the 36 lines to Kamailio, log them in on both nodes."""
        try:
            asyncio.run(create_location_db(self.location_db))
            for pbx in self.nodes.values():
                cdr = pbx.instance_dir / "log" / CDR_FILE
                cdr.unlink(missing_ok=True)
                cdr.parent.mkdir(parents=True, exist_ok=True)  # Asterisk does not create it
                pbx.start()
            self.kamailio.start()
            self.agents.start()
            self.registered = register_lines(
                [line for line, _partner in self.hotline.lines()],
                registrar=(self.front.host, self.front.port), contact=("127.0.0.1", self.agents.port),
            )
            for name in self.nodes:
                asyncio.run(log_every_line_in(self.amis[name], self.hotline))
            self.wait_flags(dict.fromkeys(self.nodes, "AP"), timeout=10)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop what runs (each by its pid), remove the node instances and the registrar's database."""
        steps: list[Callable[[], object]] = [self.agents.cleanup, self.kamailio.stop]
        for pbx in self.nodes.values():
            steps += [pbx.stop, functools.partial(shutil.rmtree, pbx.instance_dir, ignore_errors=True)]
        steps.append(lambda: asyncio.run(drop_location_db(self.location_db)))
        failure: Exception | None = None
        for step in steps:  # every step runs, whatever failed before
            try:
                step()
            except Exception as exc:  # kept, raised once everything is stopped
                failure = failure or exc
        if failure is not None:
            raise failure

    def __enter__(self) -> SandboxCluster:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        self.stop()

    def kill(self, name: str) -> float:
        """SIGKILL node ``name``'s Asterisk (its pid); return when (epoch s)."""
        pid = self.nodes[name].pid
        if pid is None:
            raise RuntimeError(f"node {name} is not running")
        at = time.time()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            self.nodes[name]._reap()
            time.sleep(0.01)
        return at

    def service(self, index: int, *, database_url: str, state_dir: Path, hotline_file: Path,
                now: str | None = None, http_port: int | None = None) -> ServiceProcess:
        """Service instance ``index`` (0: local to node a, 1: to node b) as a child process, not started.

        Both instances follow both nodes in the same order (a, then b: the same acting node), each
        reading back its node's own files; they share the database (records are keyed by node and
        linkedid, callbacks claimed by row) and each has its own spool and web port (``http_port``,
        else a free one).
        """
        if self.service_ports is None:
            raise RuntimeError("this cluster was built without service_ports")
        nodes = [{"name": name, "host": ami.host, "port": ami.port,
                  "log_dir": str(self.nodes[name].instance_dir / "log")} for name, ami in self.amis.items()]
        env = service_environment(**{
            "DATABASE_URL": database_url,
            "AIGUILLEUR_HOTLINE_FILE": str(hotline_file),
            "AIGUILLEUR_STATE_DIR": str(state_dir),
            "AIGUILLEUR_AMI_NODES": json.dumps(nodes),
            "AIGUILLEUR_AMI__BACKOFF_MAX": "2",  # a node back from a restart is followed again at once
            "AIGUILLEUR_AMI__PONG_TIMEOUT": "10",
            "AIGUILLEUR_FASTAGI__PORT": str(self.service_ports[index]),
            "AIGUILLEUR_HTTP__PORT": str(http_port or free_tcp_port()),
            **({"AIGUILLEUR_NOW": now} if now else {}),
        })
        return ServiceProcess(f"service-{index + 1}", env, state_dir / "service.log",
                              self.service_ports[index], nodes=len(nodes))

    # ------------------------------------------------------------------ calls

    def place(self, calls: list[CallScript], rate_cps: float, concurrent: int, timeout_s: float = 120) -> SippResult:
        """Run SIPp callers to the regional number at Kamailio's address (blocks until they are done)."""
        return run_calls(calls, target=self.front.host, port=self.front.port, number=self.hotline.number,
                         concurrent=concurrent, rate_cps=rate_cps, timeout_s=timeout_s)

    def uri(self, name: str) -> str:
        node = next(n for n in self.front.nodes if n.name == name)
        return f"sip:{node.host}:{node.port}"

    def node_of_uri(self, uri: str) -> str:
        return next(n.name for n in self.front.nodes if f"sip:{n.host}:{n.port}" == uri)

    def routed(self) -> list[Routed]:
        """Every INVITE Kamailio sent to a node (first choice and failovers), from its log, in order."""
        found = []
        for line in self.kamailio.tail(1_000_000).splitlines():
            match = _ROUTE_LINE.search(line)
            if match:
                at, caller, failed_over_caller, uri = match.groups()
                found.append(Routed(float(at), caller or failed_over_caller, uri))
        return found

    # ------------------------------------------------------------------ records

    def rows(self, name: str) -> list[dict[str, str]]:
        """Node ``name``'s own call records (cdr_custom JSON lines)."""
        path = self.nodes[name].instance_dir / "log" / CDR_FILE
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def answered_by(self, name: str) -> dict[str, float]:
        """Caller number -> answer time (epoch s) of the calls node ``name`` answered."""
        found: dict[str, float] = {}
        for row in self.rows(name):
            if float(row.get("answer") or 0) > 0:
                found.setdefault(caller_number(row), float(row["answer"]))
        return found

    def advisor_of(self, name: str, numbers: set[str], timeout: float = 5.0) -> dict[str, str]:
        """Caller number -> the line that talked with them on node ``name`` (records are written at hangup)."""
        deadline = time.monotonic() + timeout
        while True:
            found = {
                caller_number(row): row["dstchannel"].removeprefix("PJSIP/").rsplit("-", 1)[0]
                for row in self.rows(name)
                if caller_number(row) in numbers and row.get("dstchannel", "").startswith("PJSIP/")
                and row.get("disposition") == "ANSWERED"
            }
            if len(found) == len(numbers) or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def wait_flags(self, want: dict[str, str], timeout: float) -> float:
        """Wait until the dispatcher shows each node's flags starting as wanted; return when (monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            flags = self.kamailio.node_flags()
            if all(flags.get(self.uri(name), "").startswith(want[name]) for name in want):
                return time.monotonic()
            if time.monotonic() > deadline:
                raise AssertionError(f"dispatcher flags {flags}, wanted {want}\n{self.kamailio.tail()}")
            time.sleep(0.05)
