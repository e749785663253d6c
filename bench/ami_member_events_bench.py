"""What whole-profile routing costs on app_queue: AMI events and Asterisk CPU per line state change.

    .venv/bin/python -m bench.ami_member_events_bench [--calls 20] [--json out.json]

app_queue penalties are per member and queue, so whole-profile routing needs one queue per
distinct partner ranking (``routing.ranking``), every line a member of every queue. app_queue
then reports each device state change of a line once per queue it is a member of
(QueueMemberStatus), and walks every queue's members on each change. This runs the real
sandbox Asterisk 22 with the 36 lines logged in (SIPp answers for them) under three layouts of
the same hotline, and rings lines directly (AMI Originate to ``PJSIP/<line>``: idle -> ringing
-> in use -> idle, no queue call involved) to count, per line state change:

  sector     the queues as they were before (``routing.weights = {sector: 1}``): one ranking
             per sector, i.e. the old sector queues; the baseline;
  tiers=2    whole-profile rankings, best tier then everyone;
  tiers=3    whole-profile rankings, best, second, everyone (the default config).

Printed: queues, memberships, QueueMemberStatus events per line state change (and the ratio
to the baseline, measured in the same run), every AMI event per rung line, Asterisk's CPU
seconds over the rings (from /proc) and its ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiguilleur.confgen import render
from config.loader import load_hotline
from config.models import Hotline
from config.settings import REPO_ROOT, AmiSettings, FastAgiSettings, PbxSettings
from queues.advisors import AdvisorDesk
from queues.ami import AmiClient
from routing.router import queue_names
from sandbox.pbx import SandboxPbx, default_cache_dir, ensure_root
from sandbox.ports import free_tcp_port
from sandbox.sipp import AgentsUas, free_udp_port


def layouts(hotline: Hotline) -> dict[str, Hotline]:
    def variant(**routing: Any) -> Hotline:
        data = hotline.model_dump(mode="json")
        data["routing"].update(routing)
        return Hotline.model_validate(data)

    return {
        "sector": variant(weights={"need": 0, "sector": 1, "size": 0, "departement": 0}, tiers=9),
        "tiers=2": variant(tiers=2),
        "tiers=3": variant(tiers=3),
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(name: str, hotline: Hotline, calls: int, work: Path) -> dict[str, Any]:
    rtp = random.randrange(20000, 29000, 2)
    pbx_settings = PbxSettings(sip_port=free_udp_port(), line_contact_port=free_udp_port(),
                               rtp_start=rtp, rtp_end=rtp + 400)
    ami_settings = AmiSettings(port=free_tcp_port())
    conf_dir = work / name / "asterisk_conf"
    conf_dir.mkdir(parents=True)
    for file, text in render(hotline, pbx_settings, ami_settings, FastAgiSettings(port=free_tcp_port())).items():
        (conf_dir / file).write_text(text, encoding="utf-8")
    pbx = SandboxPbx(ensure_root(default_cache_dir()), f"bench-events-{os.getpid()}-{name.replace('=', '')}",
                     conf_dir)
    events: list[dict[str, str]] = []
    assert pbx_settings.line_contact_port is not None
    lines = [line for line, _ in hotline.lines()]
    with pbx, AgentsUas(pbx_settings.line_contact_port, ring_ms=200, talk_ms=300):
        ami = AmiClient(ami_settings, on_event=lambda event: events.append(dict(event)))
        await ami.start()
        try:
            await ami.wait_ready(timeout=20)
            await AdvisorDesk(ami, lambda: hotline).login_all()
            await asyncio.sleep(2)
            pid = pbx.pid
            assert pid is not None
            events.clear()
            cpu_before = cpu_seconds(pid)
            started = time.perf_counter()
            rung = [lines[n % len(lines)] for n in range(calls)]
            for line in rung:  # one line at a time: its changes are not mixed with another's
                await ami.send({"Action": "Originate", "Channel": f"PJSIP/{line}", "Application": "Wait",
                                "Data": "0.2", "Async": "false", "Timeout": "5000"}, timeout=10)
                await asyncio.sleep(0.8)  # the hang-up and the last member statuses
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(pid) - cpu_before
        finally:
            await ami.stop()
    kinds = Counter(e.get("Event", "") for e in events)
    # Device state changes of the rung lines, as app_queue saw them: distinct (line, status) runs.
    changes = 0
    last: dict[str, str] = {}
    for event in events:
        if event.get("Event") == "QueueMemberStatus":
            line, status = event.get("MemberName", ""), event.get("Status", "")
            if last.get(line) != status:
                changes += 1
                last[line] = status
    member_status = kinds["QueueMemberStatus"]
    return {
        "layout": name, "queues": len(queue_names(hotline)), "lines": len(lines),
        "memberships": len(queue_names(hotline)) * len(lines), "calls": calls,
        "line_state_changes": changes, "member_status_events": member_status,
        "member_status_per_change": member_status / changes if changes else 0.0,
        "ami_events_per_call": len(events) / calls, "asterisk_cpu_s": cpu, "elapsed_s": elapsed,
        "top_events": kinds.most_common(5),
    }


def table(results: list[dict[str, Any]]) -> str:
    base = results[0]
    rows = [
        "| layout | queues | memberships | member-status events per line state change | ratio | "
        "AMI events per rung line | ratio | Asterisk CPU s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r['layout']} | {r['queues']} | {r['memberships']:,} | {r['member_status_per_change']:.1f} | "
            f"{r['member_status_per_change'] / base['member_status_per_change']:.2f}x | "
            f"{r['ami_events_per_call']:.0f} | {r['ami_events_per_call'] / base['ami_events_per_call']:.2f}x | "
            f"{r['asterisk_cpu_s']:.2f} | {r['asterisk_cpu_s'] / max(base['asterisk_cpu_s'], 0.01):.2f}x |"
        )
    return "\n".join(rows)


async def run(calls: int) -> list[dict[str, Any]]:
    hotline = load_hotline(REPO_ROOT / "config" / "hotline.yaml")
    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    try:
        return [await measure(name, variant, calls, work) for name, variant in layouts(hotline).items()]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="lines rung, one after another, per layout")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.calls))
    print(table(results))
    for r in results:
        print(f"{r['layout']}: {r['line_state_changes']} line state changes seen over {r['calls']} rung lines "
              f"in {r['elapsed_s']:.1f} s; most frequent events {r['top_events']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
