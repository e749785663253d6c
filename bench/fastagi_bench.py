"""FastAGI capacity: our IVR path against a bare panoramisk route, in the same run.

    .venv/bin/python -m bench.fastagi_bench [--levels 10,200,1000] [--repeat 3]
        [--route module:function] [--json out.json] [--think-ms 0] [--min-sessions 2000]

For each concurrency level N and each variant, a fresh server process is
spawned (so its CPU time and peak RSS are its own), a warm-up runs, then the
load generator -- this process, playing Asterisk over 127.0.0.1 -- runs
max(3N, --min-sessions) sessions with N in flight. Each session sends the AGI
environment as Asterisk 22 does and answers every command at once with
Asterisk's reply (``GET DATA`` -> ``200 result=1``...), until the server closes
the socket. Levels and variants are interleaved and repeated; medians are shown.

Variants:
  bare        panoramisk ``Application`` + an ``async def`` route doing ANSWER,
              4x GET DATA, 4x SET VARIABLE with raw ``request.send_command``.
  ours        ``ivr.fastagi.AgiApplication`` + the same menu through our helpers,
              including the linkedid lookup our server does first (10 commands).
  ours-nolid  the same with ``fetch_linkedid=False`` (9 commands, like bare):
              the adapter's own overhead.
  route       ours with ``--route module:function`` (only when given): the real
              IVR entry point later.

Measured: sessions/s (client wall clock), per-command round trip as Asterisk
sees it (reply sent -> next command received; the first one is headers sent ->
first command), server CPU time (user+sys, getrusage in the server between
"begin" and "end"), server peak RSS (VmHWM) and its growth during the run, peak concurrent sessions in the server,
mean concurrency (Little's law on the client), load generator CPU.
Ratios are variant/bare at the same N.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import multiprocessing
import platform
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from typing import Any

HOST = "127.0.0.1"
BACKLOG = 4096
WARMUP_SESSIONS = 50
DEFAULT_ROUTE = "bench.fastagi_bench:menu_route"
MENU_STEPS = (
    ("fr/menu-besoin", "IVR_NEED"),
    ("fr/menu-secteur", "IVR_SECTOR"),
    ("fr/menu-taille", "IVR_SIZE"),
    ("fr/menu-departement", "IVR_DEPARTEMENT"),
)
GOAL_RATIO = 1.5


# -- the routes under test -------------------------------------------------------


async def menu_route(request: Any) -> None:
    """Our helpers: ANSWER, then 4x (GET DATA, SET VARIABLE), like the menu."""
    await request.answer()
    for prompt, variable in MENU_STEPS:
        result = await request.get_data(prompt, 5000, 2)
        await request.set_variable(variable, result.digits)


async def bare_menu_route(request: Any) -> None:
    """The same commands through panoramisk's raw send_command."""
    await request.send_command("ANSWER")
    for prompt, variable in MENU_STEPS:
        result = await request.send_command(f"GET DATA {prompt} 5000 2")
        digits = result.get("result", ("", ""))[0]
        await request.send_command(f'SET VARIABLE {variable} "{digits}"')


def load_route(spec: str) -> Callable[[Any], Awaitable[None] | None]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"--route must be module:function, got {spec!r}")
    route = getattr(importlib.import_module(module_name), attribute)
    if not callable(route):
        raise SystemExit(f"--route {spec!r} is not callable")
    return route  # type: ignore[no-any-return]


# -- server process --------------------------------------------------------------


def raise_nofile_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _memory_mib(field: str) -> float:
    """VmHWM (peak) or VmRSS of this process. Not ru_maxrss: Linux keeps that
    across execve, so a spawned child would report its parent's peak."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class SessionCount:
    """A FastAGI connection handler wrapped to count the sessions open now (``active``) and at most (``peak``)."""

    def __init__(self, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> None:
        self.handler = handler
        self.active = self.peak = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await self.handler(reader, writer)
        finally:
            self.active -= 1


def server_process(variant: str, route_spec: str, conn: Connection) -> None:
    """Child process entry point: serve FastAGI until told to quit."""
    import structlog

    raise_nofile_limit()
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )
    asyncio.run(_serve_until_quit(variant, route_spec, conn))


async def _serve_until_quit(variant: str, route_spec: str, conn: Connection) -> None:
    from panoramisk.fast_agi import Application

    from ivr.fastagi import AgiApplication, stop

    loop = asyncio.get_running_loop()
    ours: AgiApplication | None = None
    if variant == "bare":
        bare = Application(loop=loop)
        bare.add_route("ivr", bare_menu_route)
        handler = bare.handler
    else:
        ours = AgiApplication(fetch_linkedid=variant != "ours-nolid")
        ours.add_route("ivr", load_route(route_spec) if variant == "route" else menu_route)
        handler = ours.handler

    counted = SessionCount(handler)
    server = await asyncio.start_server(counted, HOST, 0, backlog=BACKLOG)
    conn.send(("ready", server.sockets[0].getsockname()[1]))
    cpu_start, rss_start = _cpu_seconds(), _memory_mib("VmRSS")
    while True:
        message = await loop.run_in_executor(None, conn.recv)
        if message == "begin":
            cpu_start, rss_start = _cpu_seconds(), _memory_mib("VmRSS")
            counted.peak = counted.active
        elif message == "end":
            peak_rss = _memory_mib("VmHWM")
            conn.send(("stats", _cpu_seconds() - cpu_start, peak_rss, peak_rss - rss_start, counted.peak))
        else:
            break
    if ours is not None:
        await stop(server, ours)
    else:
        server.close()
        await server.wait_closed()


# -- load generator (Asterisk's side) ---------------------------------------------


def agi_environment(session: int) -> bytes:
    """The FastAGI preamble Asterisk 22 sends (launch_netscript + setup_env)."""
    return (
        "agi_network: yes\n"
        "agi_network_script: ivr\n"
        "agi_request: agi://127.0.0.1/ivr\n"
        f"agi_channel: PJSIP/caller-{session:08x}\n"
        "agi_language: fr\n"
        "agi_type: PJSIP\n"
        f"agi_uniqueid: 1700000000.{session}\n"
        "agi_version: 22.10.0\n"
        "agi_callerid: 0612345678\n"
        "agi_calleridname: José Dupont\n"
        "agi_callingpres: 0\n"
        "agi_callingani2: 0\n"
        "agi_callington: 0\n"
        "agi_callingtns: 0\n"
        "agi_dnid: 0800100200\n"
        "agi_rdnis: unknown\n"
        "agi_context: hotline-in\n"
        "agi_extension: s\n"
        "agi_priority: 2\n"
        "agi_enhanced: 0.0\n"
        "agi_accountcode: \n"
        "agi_threadid: 140234567891234\n"
        "\n"
    ).encode()


def asterisk_reply(command: bytes, session: int) -> bytes:
    if command.startswith(b"GET DATA"):
        return b"200 result=1\n"
    if command.startswith((b"SET VARIABLE", b"VERBOSE", b"HANGUP")):
        return b"200 result=1\n"
    if command.startswith(b"GET VARIABLE"):
        return f"200 result=1 (1700000000.{session})\n".encode()
    if command.startswith(b"STREAM FILE"):
        return b"200 result=0 endpos=8000\n"
    if command.startswith((b"ANSWER", b"EXEC")):
        return b"200 result=0\n"
    return b"510 Invalid or unknown command\n"


@dataclass
class ClientResult:
    sessions: int
    failed: int
    wall_s: float
    latencies: list[float]
    commands: list[int]
    busy_s: float
    # Session wall time / its scripted time (caller think time before each GET DATA reply).
    slowdowns: list[float] = field(default_factory=list)


async def run_load(port: int, concurrency: int, total: int, think_s: float) -> ClientResult:
    latencies: list[float] = []
    commands: list[int] = []
    failed = 0
    busy = 0.0
    next_session = 0
    slowdowns: list[float] = []

    async def one_session(session: int) -> None:
        nonlocal failed, busy
        started = time.perf_counter()
        count = 0
        reads = 0
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            failed += 1
            return
        try:
            writer.write(agi_environment(session))
            sent = time.perf_counter()
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        failed += 1
                    break
                latencies.append(time.perf_counter() - sent)
                count += 1
                if think_s and line.startswith(b"GET DATA"):
                    reads += 1
                    await asyncio.sleep(think_s)
                writer.write(asterisk_reply(line, session))
                await writer.drain()
                sent = time.perf_counter()
        except OSError:
            failed += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            commands.append(count)
            busy += time.perf_counter() - started
            if reads:
                slowdowns.append((time.perf_counter() - started) / (reads * think_s))

    async def worker() -> None:
        nonlocal next_session
        while next_session < total:
            session = next_session
            next_session += 1
            await one_session(session)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return ClientResult(total, failed, wall, latencies, commands, busy, slowdowns)


# -- orchestration ------------------------------------------------------------------


@dataclass
class LevelResult:
    variant: str
    concurrency: int
    sessions: int
    failed: int
    wall_s: float
    sessions_per_s: float
    commands_per_session: float
    rtt_mean_ms: float
    rtt_p50_ms: float
    rtt_p99_ms: float
    server_cpu_s: float
    server_cpu_us_per_session: float
    server_cpu_us_per_command: float
    server_peak_rss_mib: float
    server_rss_growth_mib: float
    server_peak_sessions: int
    mean_concurrency: float
    client_cpu_s: float
    runs: int = 1
    max_slowdown: float = 0.0
    p99_slowdown: float = 0.0


def median_of(runs: list[LevelResult]) -> LevelResult:
    """Median of each metric over repeated runs (failures summed, peak maxed)."""
    first = runs[0]
    values: dict[str, Any] = {}
    for name, value in asdict(first).items():
        column = [getattr(run, name) for run in runs]
        if isinstance(value, str) or name in {"concurrency", "sessions"}:
            values[name] = value
        elif name == "failed":
            values[name] = sum(column)
        elif name == "server_peak_sessions":
            values[name] = max(column)
        else:
            values[name] = statistics.median(column)
    values["runs"] = len(runs)
    return LevelResult(**values)


def measure(variant: str, route_spec: str, concurrency: int, think_s: float, min_sessions: int) -> LevelResult:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=server_process, args=(variant, route_spec, child), name=f"fastagi-{variant}")
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError(f"{variant} server did not start")
        _, port = parent.recv()
        asyncio.run(run_load(port, min(concurrency, 10), WARMUP_SESSIONS, 0.0))
        parent.send("begin")
        total = max(3 * concurrency, min_sessions)
        cpu_before = time.process_time()
        client = asyncio.run(run_load(port, concurrency, total, think_s))
        client_cpu_s = time.process_time() - cpu_before
        parent.send("end")
        _, cpu_s, rss_mib, rss_growth_mib, peak = parent.recv()
        parent.send("quit")
        process.join(10)
    finally:
        if process.is_alive():
            process.terminate()
            process.join(5)
    latencies = sorted(client.latencies)
    n_commands = len(latencies)
    slow = sorted(client.slowdowns) or [0.0]
    return LevelResult(
        variant=variant,
        concurrency=concurrency,
        sessions=client.sessions,
        failed=client.failed,
        wall_s=client.wall_s,
        sessions_per_s=client.sessions / client.wall_s,
        commands_per_session=n_commands / client.sessions,
        rtt_mean_ms=1000 * statistics.fmean(latencies),
        rtt_p50_ms=1000 * latencies[n_commands // 2],
        rtt_p99_ms=1000 * latencies[min(n_commands - 1, int(0.99 * n_commands))],
        server_cpu_s=cpu_s,
        server_cpu_us_per_session=1e6 * cpu_s / client.sessions,
        server_cpu_us_per_command=1e6 * cpu_s / n_commands,
        server_peak_rss_mib=rss_mib,
        server_rss_growth_mib=rss_growth_mib,
        server_peak_sessions=peak,
        mean_concurrency=client.busy_s / client.wall_s,
        client_cpu_s=client_cpu_s,
        max_slowdown=slow[-1],
        p99_slowdown=slow[min(len(slow) - 1, int(0.99 * len(slow)))],
    )


RATIO_METRICS = (
    ("sessions_per_s", "sessions/s", "higher is better"),
    ("rtt_mean_ms", "RTT mean", "lower is better"),
    ("rtt_p99_ms", "RTT p99", "lower is better"),
    ("server_cpu_us_per_session", "CPU/session", "lower is better"),
    ("server_cpu_us_per_command", "CPU/command", "lower is better"),
    ("server_peak_rss_mib", "peak RSS", "lower is better"),
)


def ratios(results: list[LevelResult]) -> list[dict[str, Any]]:
    by_key = {(r.variant, r.concurrency): r for r in results}
    rows = []
    for result in results:
        bare = by_key.get(("bare", result.concurrency))
        if result.variant == "bare" or bare is None:
            continue
        row: dict[str, Any] = {"variant": result.variant, "concurrency": result.concurrency}
        for key, _, _ in RATIO_METRICS:
            row[key] = getattr(result, key) / getattr(bare, key)
        rows.append(row)
    return rows


def print_report(results: list[LevelResult], ratio_rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'variant':<10} {'N':>5} {'sess':>5} {'fail':>4} {'sess/s':>8} {'cmd/ss':>6} "
        f"{'RTT mean':>9} {'p50':>7} {'p99':>7} {'CPU s':>6} {'CPU/sess':>9} {'CPU/cmd':>8} "
        f"{'RSS MiB':>8} {'+RSS':>5} {'peak':>5} {'mean':>6} {'cli CPU':>7}"
    )
    print("\nFastAGI capacity, medians (RTT in ms; CPU/sess and CPU/cmd in µs of server CPU)")
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.variant:<10} {r.concurrency:>5} {r.sessions:>5} {r.failed:>4} "
            f"{r.sessions_per_s:>8.0f} {r.commands_per_session:>6.1f} "
            f"{r.rtt_mean_ms:>9.2f} {r.rtt_p50_ms:>7.2f} {r.rtt_p99_ms:>7.2f} "
            f"{r.server_cpu_s:>6.2f} {r.server_cpu_us_per_session:>9.0f} "
            f"{r.server_cpu_us_per_command:>8.1f} {r.server_peak_rss_mib:>8.1f} {r.server_rss_growth_mib:>5.1f} "
            f"{r.server_peak_sessions:>5} {r.mean_concurrency:>6.0f} {r.client_cpu_s:>7.2f}"
        )
    print("\n(cmd/ss = commands per session; RSS = server peak (VmHWM), +RSS = its growth during the")
    print(" measured run; peak = server's peak concurrent sessions;")
    print(" mean = client-side mean sessions in flight; cli CPU = load generator CPU s)")
    if ratio_rows:
        names = "".join(f"{label:>13}" for _, label, _ in RATIO_METRICS)
        print(f"\nRatio x/bare{'':<12}{names}")
        for row in ratio_rows:
            values = "".join(f"{row[key]:>13.2f}" for key, _, _ in RATIO_METRICS)
            print(f"{row['variant']:<10} N={row['concurrency']:<5}   {values}")
    if any(r.max_slowdown for r in results):
        print("\nSession wall time / scripted caller time (think time before each GET DATA reply):")
        for r in results:
            print(f"  {r.variant:<10} N={r.concurrency:<5} p99 {r.p99_slowdown:5.2f}x   max {r.max_slowdown:5.2f}x"
                  f"   {'<= 2x' if r.max_slowdown <= 2 else '> 2x'}")
    top = max((r.concurrency for r in results), default=0)
    for row in ratio_rows:
        if row["concurrency"] != top:
            continue
        result = next(r for r in results if r.variant == row["variant"] and r.concurrency == top)
        # The real IVR route sends ~25 commands to bare's 9: compare it per command, not per session.
        cpu_key = "server_cpu_us_per_command" if row["variant"] == "route" else "server_cpu_us_per_session"
        cpu_label = "CPU/command" if row["variant"] == "route" else "CPU/session"
        cpu_ok = row[cpu_key] <= GOAL_RATIO
        rtt_ok = row["rtt_mean_ms"] <= GOAL_RATIO
        print(
            f"\nGoal at N={top} ({row['variant']}): failed={result.failed}, "
            f"server peak sessions={result.server_peak_sessions}; "
            f"{cpu_label} ratio {row[cpu_key]:.2f} "
            f"{'<=' if cpu_ok else '>'} {GOAL_RATIO}; "
            f"RTT mean ratio {row['rtt_mean_ms']:.2f} {'<=' if rtt_ok else '>'} {GOAL_RATIO} "
            f"-> {'MET' if cpu_ok and rtt_ok and not result.failed else 'NOT MET'}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="10,200,1000", help="concurrency levels")
    parser.add_argument("--route", default=None, help=f"IVR entry point (default {DEFAULT_ROUTE})")
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    parser.add_argument("--think-ms", type=float, default=0.0, help="caller delay before each GET DATA reply")
    parser.add_argument("--repeat", type=int, default=3, help="runs per level and variant (medians reported)")
    parser.add_argument("--min-sessions", type=int, default=2000, help="sessions per level: max(3N, this)")
    args = parser.parse_args(argv)
    levels = [int(level) for level in args.levels.split(",")]
    variants = ["bare", "ours", "ours-nolid"]
    if args.route is not None:
        load_route(args.route)  # fail fast, before spawning servers
        variants.append("route")
    nofile = raise_nofile_limit()
    if nofile < 2 * max(levels) + 100:
        print(f"warning: file limit {nofile} is low for {max(levels)} sessions", file=sys.stderr)

    started = time.perf_counter()
    runs: dict[tuple[str, int], list[LevelResult]] = {}
    for repeat in range(1, args.repeat + 1):
        for level in levels:
            for variant in variants:  # interleaved, so drift hits every variant alike
                result = measure(variant, args.route or DEFAULT_ROUTE, level, args.think_ms / 1000, args.min_sessions)
                runs.setdefault((variant, level), []).append(result)
                print(
                    f"run {repeat}/{args.repeat} {variant:<10} N={level:<5} {result.sessions_per_s:6.0f} sessions/s "
                    f"{result.server_cpu_us_per_session:5.0f} µs CPU/session fail={result.failed}",
                    flush=True,
                )
    results = [median_of(runs[(variant, level)]) for level in levels for variant in variants]
    ratio_rows = ratios(results)
    print_report(results, ratio_rows)
    elapsed = time.perf_counter() - started
    print(f"\ntotal {elapsed:.0f} s")
    if args.json:
        document = {
            "benchmark": "fastagi",
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": multiprocessing.cpu_count(),
            "levels": levels,
            "route": args.route or DEFAULT_ROUTE,
            "think_ms": args.think_ms,
            "min_sessions": args.min_sessions,
            "repeat": args.repeat,
            "elapsed_s": elapsed,
            "results": [asdict(r) for r in results],
            "runs": [asdict(run) for level_runs in runs.values() for run in level_runs],
            "ratios_ours_over_bare": ratio_rows,
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
