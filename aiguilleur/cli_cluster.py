"""``aiguilleur cluster up`` (``make run-cluster``): Kamailio in front of two Asterisk nodes, until Ctrl-C.

Brings up :class:`aiguilleur.cluster.SandboxCluster` (Kamailio with the generated
``kamailio.cfg``, node A priority 10 and node B priority 5, the 36 lines registered to Kamailio
by one SIPp UAS and logged in on both nodes), installs the prompts, and prints how to place a
call through Kamailio, how to kill the active node and how to watch the dispatcher. No service
instance runs yet (issue 13's rest): calls take the dialplan's degraded path (the pyst2 fallback
asks the sector and queues by skill).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from aiguilleur.cli_common import out
from aiguilleur.cluster import SandboxCluster
from config.loader import load_hotline
from config.settings import Settings
from ivr.prompt_audio import generate as generate_prompts
from ivr.prompts import SOUNDS_SUBDIR, catalogue


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
            with SandboxCluster(hotline, Path(work)) as cluster:
                cluster.nodes["a"].install_sounds(prompts, SOUNDS_SUBDIR)  # one root: both nodes
                front = cluster.front
                py = Path(sys.executable)
                out(f"  Kamailio (the regional number): {front.host}:{front.port}, pid {cluster.kamailio.pid}")
                for node in front.nodes:
                    out(f"  node {node.name}: {node.host}:{node.port}, priority {node.priority}, "
                        f"Asterisk pid {cluster.nodes[node.name].pid}")
                registered = sum(1 for code in cluster.registered.values() if code == 200)
                out(f"  advisors: {registered} lines registered to Kamailio, logged in on both nodes")
                out(f"  place a call:   {py} -m sandbox.sipp call --target {front.host} --port {front.port} "
                    f"--number {hotline.number} --digits 1")
                out(f"  kill node a:    kill -9 {cluster.nodes['a'].pid}   (new calls go to node b within ~1 s)")
                out(f"  the dispatcher: kamcmd -s unix:{cluster.kamailio.ctl_socket} dispatcher.list")
                out("  stop everything: Ctrl-C")
                sys.stdout.flush()
                stop.wait()
                out("stopping...")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cluster`` to ``aiguilleur``'s parser."""
    p = subparsers.add_parser("cluster", help="Kamailio in front of two sandbox Asterisk nodes (make run-cluster)")
    sub = p.add_subparsers(dest="cluster_action", required=True)
    up = sub.add_parser("up", help="start Kamailio, two nodes and the SIPp advisors until Ctrl-C")
    up.set_defaults(func=cmd_cluster_up)
