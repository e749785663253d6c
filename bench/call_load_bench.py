"""Real calls through the whole stack: what the service costs against what Asterisk costs.

    .venv/bin/python -m bench.call_load_bench [--calls 200] [--rate 20] [--database NAME] [--json FILE]
                                              [--profile FILE]

The stack of ``make run`` (``aiguilleur.stack.stack_up``: the sandbox Asterisk 22, a SIPp
softphone answering for the 36 lines, all logged in, the service with its IVR, AMI
follower, CDR writer and web server, on loopback ports of its own and a database of its
own, created and dropped here) runs in a child process, so that process's CPU is the
service's. ``--calls`` SIPp callers arrive at ``--rate`` per second, go through the whole
IVR typing their answers by DTMF (SIP INFO), a mix of four profiles (the README's routing
examples: a craftsman creating a business in the Nord, an industry firm of 250+ in
difficulty in the Oise, a services firm of 10-49 in difficulty in the Somme, a
self-employed creator in the Nord), wait in their ranking queue and talk to an advisor.

Printed: calls answered / failed (SIPp, and the records' outcome), records written /
missing (the ``cdr`` rows of these callers), and the CPU seconds of the service process
and of Asterisk from ``/proc/<pid>/stat`` (utime + stime, threads included) over the
load, from the first call until every record is in PostgreSQL; their ratio (goal: service
<= 0.25 x Asterisk at 200 calls) and the CPU per call. Both are measured in the same run,
on the same calls, so a busy machine moves both.

``--profile FILE``: the child runs under cProfile during the load and writes its stats
there (``python -m pstats FILE``); its CPU figures then include the profiler's overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import asyncpg

from sandbox.ports import free_tcp_port

REPO = Path(__file__).resolve().parent.parent
DATABASE = "aiguilleur_bench_load"
MARK = "BENCH-PIDS "
# An open Thursday morning whatever the real clock says (as ``make demo``).
OPEN_NOW = "2026-03-26T09:00:00+01:00"
PROFILES: tuple[tuple[str, ...], ...] = (
    ("1", "2", "2", "59"),  # creation, crafts, 1-9 staff, Nord
    ("2", "3", "5", "60"),  # difficulty, industry, 250+, Oise
    ("2", "4", "3", "80"),  # difficulty, services, 10-49, Somme
    ("1", "4", "1", "59"),  # creation, services, self-employed, Nord
)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _read_mark(stream: IO[str]) -> str:
    """The child's pids line (stack_up prints its own lines before it)."""
    for line in stream:
        if line.startswith(MARK):
            return line[len(MARK):]
    return ""



# --------------------------------------------------------------------------- the child: the stack


async def _child(instance: str, profile: Path | None) -> None:
    from aiguilleur import logs
    from aiguilleur.stack import stack_up
    from config.loader import load_hotline
    from config.settings import Settings
    from sandbox.pbx import SandboxPbx, default_cache_dir, ensure_root

    settings = Settings()
    logs.configure(settings.log_level, json=True)
    hotline = load_hotline(settings.hotline_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with stack_up(settings, hotline, instance=instance):
        pbx = SandboxPbx(ensure_root(default_cache_dir()), instance, settings.state_dir / "asterisk_conf")
        profiler = None
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        sys.stdout.write(MARK + json.dumps({"service_pid": os.getpid(), "pbx_pid": pbx.pid}) + "\n")
        sys.stdout.flush()
        await stop.wait()
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile)


# --------------------------------------------------------------------------- the parent: the load


def _scripts(calls: int, run_id: str) -> list[Any]:
    from sandbox.sipp import CallScript

    return [
        CallScript(
            digits=list(PROFILES[n % len(PROFILES)]),
            caller_number=f"03{run_id}{n:04d}",
            caller_name=f"Load {n}",
            pause_before_ms=1500,
            pause_between_ms=1500,
            hold_after_ms=300_000,  # waits in queue until an advisor answers, then the advisor hangs up
        )
        for n in range(calls)
    ]


async def _count_events(port: int) -> tuple[Any, Counter[str]]:
    """A second AMI session (same user, so the same eventfilter) counting what Asterisk sends, by name.
    Only with --count-events: it adds Asterisk's work for one more session."""
    from config.settings import AmiSettings
    from queues.ami import AmiClient

    kinds: Counter[str] = Counter()
    client = AmiClient(AmiSettings(port=port), on_event=lambda e: kinds.update((e.get("Event", ""),)))
    await client.start()
    await client.wait_ready(timeout=20)
    return client, kinds


async def _wait_records(url: str, numbers: list[str], wait_s: float) -> int:
    deadline = time.monotonic() + wait_s
    conn = await asyncpg.connect(url)
    try:
        while True:
            found: int = await conn.fetchval("SELECT count(DISTINCT src) FROM cdr WHERE src = ANY($1)", numbers)
            if found >= len(numbers) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def _outcomes(url: str, numbers: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT outcome, count(*) AS n FROM cdr WHERE src = ANY($1) GROUP BY outcome",
                                numbers)
        return {r["outcome"]: r["n"] for r in rows}
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from sandbox.sipp import free_udp_port, run_calls

    server = args.url.rstrip("/")
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{args.database}"')
    finally:
        await admin.close()
    url = f"{server}/{args.database}"
    state_dir = (args.state_dir or REPO / "var" / "bench-call-load").resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(state_dir / "spool", ignore_errors=True)  # a previous run's: not this database's
    sip_port = free_udp_port()
    rtp = random.randrange(20000, 28000, 2)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "AIGUILLEUR_STATE_DIR": str(state_dir),
        "AIGUILLEUR_NOW": OPEN_NOW,
        "AIGUILLEUR_AMI__PORT": str(free_tcp_port()),
        "AIGUILLEUR_FASTAGI__PORT": str(free_tcp_port()),
        "AIGUILLEUR_HTTP__PORT": str(free_tcp_port()),
        "AIGUILLEUR_PBX__SIP_PORT": str(sip_port),
        "AIGUILLEUR_PBX__RTP_START": str(rtp),
        "AIGUILLEUR_PBX__RTP_END": str(rtp + 1998),
        "AIGUILLEUR_PBX__LINE_CONTACT_PORT": str(free_udp_port()),
        "AIGUILLEUR_PBX__TRUNK_CONTACT_PORT": str(free_udp_port("127.0.0.2")),
    }
    env.pop("AIGUILLEUR_ASTERISK_LOG_DIR", None)  # stack_up gives the sandbox's own
    instance = f"bench-load-{os.getpid()}"
    cmd = [sys.executable, "-m", "bench.call_load_bench", "--child", instance]
    if args.profile is not None:
        cmd += ["--profile", str(args.profile.resolve())]
    log_path = state_dir / "service.log"
    results: dict[str, Any] = {"calls": args.calls, "rate_cps": args.rate}
    with log_path.open("wb") as err:
        child = subprocess.Popen(  # noqa: ASYNC220  # started once; its output is read in a thread
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(_read_mark, child.stdout), 240)
            if not line:
                raise RuntimeError(f"the stack did not start: see {log_path}")
            pids = json.loads(line)
            service_pid, pbx_pid = int(pids["service_pid"]), int(pids["pbx_pid"])
            await asyncio.sleep(3)  # logins and resync settle
            run_id = f"{secrets.randbelow(10_000):04d}"
            scripts = _scripts(args.calls, run_id)
            numbers = [s.caller_number for s in scripts]
            counter = await _count_events(int(env["AIGUILLEUR_AMI__PORT"])) if args.count_events else None
            service_before, pbx_before = cpu_seconds(service_pid), cpu_seconds(pbx_pid)
            started = time.monotonic()
            sipp = await asyncio.to_thread(
                run_calls, scripts, port=sip_port, number="0800596280", concurrent=args.calls,
                rate_cps=args.rate, timeout_s=args.timeout)
            written = await _wait_records(url, numbers, 60)
            elapsed = time.monotonic() - started
            service_cpu = cpu_seconds(service_pid) - service_before
            pbx_cpu = cpu_seconds(pbx_pid) - pbx_before
            outcomes = await _outcomes(url, numbers)
            if counter is not None:
                client, kinds = counter
                await client.stop()
                results["ami_events_per_call"] = sum(kinds.values()) / args.calls
                results["ami_events_top"] = kinds.most_common(30)
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
                try:
                    child.wait(60)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    finally:
        await admin.close()
    results.update({
        "sipp_successful": sipp.successful, "sipp_failed": sipp.failed, "records_written": written,
        "records_missing": args.calls - written, "answered": outcomes.get("answered", 0), "outcomes": outcomes,
        "service_cpu_s": service_cpu, "asterisk_cpu_s": pbx_cpu, "ratio": service_cpu / max(pbx_cpu, 0.01),
        "service_ms_per_call": service_cpu / args.calls * 1000, "asterisk_ms_per_call": pbx_cpu / args.calls * 1000,
        "elapsed_s": elapsed, "service_log": str(log_path),
    })
    if not sipp.ok:
        results["sipp_detail"] = sipp.describe()[:2000]
    return results


def report(r: dict[str, Any]) -> str:
    return "\n".join([
        "| measure | value |",
        "|---|---|",
        f"| calls placed (SIPp, {r['rate_cps']:g}/s, full IVR by DTMF) | {r['calls']} |",
        f"| calls completed / failed (SIPp) | {r['sipp_successful']} / {r['sipp_failed']} |",
        f"| answered by an advisor (records) | {r['answered']} (outcomes {r['outcomes']}) |",
        f"| records written / missing | {r['records_written']} / {r['records_missing']} |",
        f"| service CPU | {r['service_cpu_s']:.2f} s ({r['service_ms_per_call']:.1f} ms per call) |",
        f"| Asterisk CPU | {r['asterisk_cpu_s']:.2f} s ({r['asterisk_ms_per_call']:.1f} ms per call) |",
        f"| service / Asterisk | {r['ratio']:.3f}x (goal <= 0.25x) |",
        f"| wall time of the load | {r['elapsed_s']:.0f} s |",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="calls started per second")
    parser.add_argument("--timeout", type=float, default=420.0, help="SIPp's limit for the whole load, s")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--database", default=DATABASE, help="created and dropped by the benchmark")
    parser.add_argument("--state-dir", type=Path,
                        help="the service's state dir (default var/bench-call-load; prompts kept)")
    parser.add_argument("--profile", type=Path, help="cProfile the service during the load, stats to this file")
    parser.add_argument("--count-events", action="store_true",
                        help="count the AMI events per call on a second session (adds to Asterisk's CPU)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", metavar="INSTANCE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(_child(args.child, args.profile))
        return 0
    results = asyncio.run(run(args))
    sys.stdout.write(report(results) + "\n")
    if "ami_events_per_call" in results:
        sys.stdout.write(f"AMI events per call: {results['ami_events_per_call']:.0f}; "
                         f"by name: {results['ami_events_top']}\n")
    if "sipp_detail" in results:
        sys.stdout.write(results["sipp_detail"] + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    ok = results["sipp_failed"] == 0 and results["records_missing"] == 0
    met = ok and results["ratio"] <= 0.25
    sys.stdout.write(f"0 failed and 0 missing: {'yes' if ok else 'NO'}; service <= 0.25x Asterisk CPU: "
                     f"{'met' if met else 'NOT met'}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
