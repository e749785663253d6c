"""``aiguilleur cluster up`` (``make run-cluster``): Kamailio, two Asterisk nodes, two service instances, until Ctrl-C.

Brings up :class:`aiguilleur.cluster.SandboxCluster` (Kamailio with the generated
``kamailio.cfg``, node A priority 10 and node B priority 5, the 36 lines registered to Kamailio
by one SIPp UAS and logged in on both nodes), installs the prompts, then two service instances
(``aiguilleur serve`` child processes, each following both nodes; node A's dialplan tries
instance 1 then 2, node B's 2 then 1) on the one database, and prints how to place a call
through Kamailio, how to kill a node or an instance and how to watch the dispatcher.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from aiguilleur.cli_common import out
from aiguilleur.cluster import SandboxCluster
from aiguilleur.database import resolve
from config.loader import load_hotline
from config.settings import Settings
from ivr.prompt_audio import generate as generate_prompts
from ivr.prompts import SOUNDS_SUBDIR, catalogue
from sandbox.ports import free_tcp_port
from sandbox.service_process import ServiceProcess


def cmd_cluster_up(settings: Settings, args: argparse.Namespace) -> int:
    hotline = load_hotline(settings.hotline_file)
    prompts = settings.state_dir / "prompts"
    generate_prompts(catalogue(hotline), prompts, settings.state_dir / "recordings")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with tempfile.TemporaryDirectory(prefix="aiguilleur-cluster-") as work:
            out("Starting Kamailio, two Asterisk 22 nodes and the SIPp advisors (about 10 s)...")
            database = asyncio.run(resolve(settings.database_url, settings.state_dir))
            services: list[ServiceProcess] = []
            try:
                with SandboxCluster(hotline, Path(work), service_ports=(free_tcp_port(), free_tcp_port())) as cluster:
                    cluster.nodes["a"].install_sounds(prompts, SOUNDS_SUBDIR)  # one root: both nodes
                    out("Starting two service instances, each following both nodes...")
                    for index in (0, 1):
                        state_dir = settings.state_dir / f"cluster-service-{index + 1}"
                        services.append(cluster.service(index, database_url=database.url, state_dir=state_dir,
                                                        hotline_file=settings.hotline_file, now=settings.now,
                                                        http_port=settings.http.port + index))
                        services[-1].start()
                    _print_cluster(cluster, services, hotline.number)
                    stop.wait()
                    out("stopping...")
                    for service in services:
                        service.stop()
            finally:
                for service in services:
                    service.stop()  # a no-op for one already stopped
                database.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _print_cluster(cluster: SandboxCluster, services: list[ServiceProcess], number: str) -> None:
    front = cluster.front
    py = Path(sys.executable)
    out(f"  Kamailio (the regional number): {front.host}:{front.port}, pid {cluster.kamailio.pid}")
    for node in front.nodes:
        out(f"  node {node.name}: {node.host}:{node.port}, priority {node.priority}, "
            f"Asterisk pid {cluster.nodes[node.name].pid}")
    for service in services:
        out(f"  {service.name}: FastAGI 127.0.0.1:{service.fastagi_port}, web "
            f"http://127.0.0.1:{service.env['AIGUILLEUR_HTTP__PORT']}/, pid {service.pid}, log {service.log_path}")
    registered = sum(1 for code in cluster.registered.values() if code == 200)
    out(f"  advisors: {registered} lines registered to Kamailio, logged in on both nodes")
    out(f"  place a call:   {py} -m sandbox.sipp call --target {front.host} --port {front.port} "
        f"--number {number} --digits 1 2 2 59")
    out(f"  kill node a:    kill -9 {cluster.nodes['a'].pid}   (new calls go to node b within ~1 s)")
    out(f"  kill service 1: kill -9 {services[0].pid}   (node a's calls go to service 2, nobody to the degraded menu)")
    out(f"  the dispatcher: kamcmd -s unix:{cluster.kamailio.ctl_socket} dispatcher.list")
    out("  stop everything: Ctrl-C")
    sys.stdout.flush()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cluster`` to ``aiguilleur``'s parser."""
    p = subparsers.add_parser("cluster", help="Kamailio in front of two sandbox Asterisk nodes (make run-cluster)")
    sub = p.add_subparsers(dest="cluster_action", required=True)
    up = sub.add_parser("up", help="start Kamailio, two nodes and the SIPp advisors until Ctrl-C")
    up.set_defaults(func=cmd_cluster_up)
