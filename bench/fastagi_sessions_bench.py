"""5,000 IVR sessions held open at once in one FastAGI process, against bare panoramisk, in the same run.

    .venv/bin/python -m bench.fastagi_sessions_bench [--sessions 5000] [--route bench.ivr_route:route]
        [--loops asyncio,uvloop] [--repeat 3] [--json out.json]

Three processes per run, so that no one's CPU is another's: the orchestrator (this one), the
FastAGI server under test, and the load generator playing Asterisk over 127.0.0.1 (it must not
be the bottleneck: its own CPU and busy share are printed next to the server's).

A run:

1. warm-up: 50 sessions, 10 at a time, run to the end (imports, first-use caches);
2. idle: the server's RSS (VmRSS) and CPU (getrusage) are read;
3. hold: the generator opens ``--sessions`` connections (at most ``CONNECTS_IN_FLIGHT`` connects
   in flight, under the listen backlog), sends Asterisk 22's AGI environment to each and answers
   every command at once until the session's first ``GET DATA``: there the caller "types", i.e.
   the generator holds the reply until every session has reached that point. Then the server
   reads its RSS and its count of open sessions: RSS per session = (held - idle) / sessions;
4. release: every held session gets its reply and runs to the end at once (the generator
   answers each command at once, so the server is the busy side); the server's CPU from the
   start of the hold to the last session closed, over the AGI commands the generator answered,
   is the CPU per AGI command.

Variants (each run spawns a fresh server process):

  bare   panoramisk's own ``Application`` (its handler, its ``Request.send_command``) replaying
         the exact command lines the real route sends, recorded once before the runs: the same
         sequence, the same replies, no IVR logic. The baseline.
  route  ``ivr.fastagi.AgiApplication`` (linkedid fetch included) running ``--route``, by
         default ``bench.ivr_route:route``: the production menu machine, the real
         ``config/hotline.yaml`` and the router, line open, every caller typing 1.

Each variant runs on the stock asyncio loop and, if uvloop is installed, on uvloop (the
generator uses uvloop when it is there, for every variant alike). Variants and loops are
interleaved and repeated; medians are shown. Ratios: route / bare on the same loop (goal,
issue 15: CPU per AGI command <= 1.5x), and uvloop / asyncio for the same variant.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import importlib.util
import json
import logging
import multiprocessing
import platform
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any, Final

from bench.fastagi_bench import (
    BACKLOG,
    HOST,
    SessionCount,
    _cpu_seconds,
    _memory_mib,
    agi_environment,
    asterisk_reply,
    load_route,
    raise_nofile_limit,
)

DEFAULT_ROUTE: Final = "bench.ivr_route:route"
GOAL_RATIO: Final = 1.5
WARMUP_SESSIONS: Final = 50
# Connects in flight: well under the listen backlog (and somaxconn, 4096 here), so no SYN is dropped
# and retried a second later (that would time the kernel, not the server).
CONNECTS_IN_FLIGHT: Final = 500
HOLD_AT: Final = b"GET DATA"
STEP_TIMEOUT_S: Final = 300.0


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def run_on(loop_name: str, main: Coroutine[Any, Any, Any]) -> Any:
    """Run ``main`` on a fresh loop of the named kind."""
    if loop_name == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def quiet_logging() -> None:
    import structlog

    logging.basicConfig(level=logging.WARNING)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )


# -- the command sequence of the real route ---------------------------------------------------


async def record_sequence(route_spec: str) -> list[str]:
    """The command lines the route sends in one session answered like the generator answers."""
    from ivr.fastagi import AgiApplication, serve, stop

    app = AgiApplication()
    app.add_route("ivr", load_route(route_spec))
    server = await serve(app, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    lines: list[str] = []
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(agi_environment(0))
        while line := await reader.readline():
            lines.append(line.decode().rstrip("\n"))
            writer.write(asterisk_reply(line, 0))
        writer.close()
        await writer.wait_closed()
    finally:
        await stop(server, app)
    if not any(line.encode().startswith(HOLD_AT) for line in lines):
        raise SystemExit(f"the route {route_spec} sends no {HOLD_AT.decode()}: nothing to hold the sessions at")
    return lines


# -- server process -------------------------------------------------------------------------------


def server_process(variant: str, loop_name: str, route_spec: str, sequence: list[str], conn: Connection) -> None:
    raise_nofile_limit()
    quiet_logging()
    run_on(loop_name, _serve(variant, route_spec, sequence, conn))


async def _serve(variant: str, route_spec: str, sequence: list[str], conn: Connection) -> None:
    from panoramisk.fast_agi import Application

    from ivr.fastagi import STREAM_LIMIT, AgiApplication, stop

    loop = asyncio.get_running_loop()
    ours: AgiApplication | None = None
    if variant == "bare":
        bare = Application(loop=loop)

        async def replay(request: Any) -> None:
            for command in sequence:
                await request.send_command(command)

        bare.add_route("ivr", replay)
        handler = bare.handler
    else:
        ours = AgiApplication()
        ours.add_route("ivr", load_route(route_spec))
        handler = ours.handler

    counted = SessionCount(handler)
    server = await asyncio.start_server(counted, HOST, 0, backlog=BACKLOG, limit=STREAM_LIMIT)
    conn.send(("ready", server.sockets[0].getsockname()[1]))
    snapshots_cpu = 0.0  # the snapshots' own CPU (the collection), left out of the server's
    while True:
        message = await loop.run_in_executor(None, conn.recv)
        if message == "snapshot":
            before = _cpu_seconds()
            gc.collect()  # what a session holds, not garbage a collection would free
            rss = _memory_mib("VmRSS")
            snapshots_cpu += _cpu_seconds() - before
            conn.send({"cpu_s": _cpu_seconds() - snapshots_cpu, "rss_mib": rss, "active": counted.active,
                       "peak": counted.peak})
        else:
            break
    if ours is not None:
        await stop(server, ours)
    else:
        server.close()
        await server.wait_closed()


# -- load generator process (Asterisk's side) ----------------------------------------------------------


def generator_process(port: int, sessions: int, conn: Connection) -> None:
    raise_nofile_limit()
    run_on("uvloop" if uvloop_available() else "asyncio", _generate(port, sessions, conn))


async def _generate(port: int, sessions: int, conn: Connection) -> None:
    loop = asyncio.get_running_loop()

    async def ask() -> Any:
        return await loop.run_in_executor(None, conn.recv)

    warm = await _sessions(port, WARMUP_SESSIONS, 10, None)
    conn.send(("warm", warm["completed"], warm["failed"]))
    await ask()  # "hold"
    cpu_start = _cpu_seconds()
    started = time.perf_counter()
    all_held = asyncio.Event()
    release = asyncio.Event()
    held = arrived = 0

    def at_hold(reached: bool) -> None:
        nonlocal held, arrived
        held += reached
        arrived += 1
        if arrived == sessions:  # a session that failed before its GET DATA counts, so no one waits forever
            all_held.set()

    run = asyncio.create_task(_sessions(port, sessions, sessions, (at_hold, release)))
    waiter = asyncio.create_task(all_held.wait())
    await asyncio.wait({run, waiter}, return_when=asyncio.FIRST_COMPLETED)
    hold_s = time.perf_counter() - started
    conn.send(("held", held, hold_s))
    await ask()  # "release"
    released = time.perf_counter()
    cpu_released = _cpu_seconds()
    release.set()
    result = await run
    waiter.cancel()
    result.update(
        hold_s=hold_s,
        release_s=time.perf_counter() - released,
        cpu_s=_cpu_seconds() - cpu_start,
        release_cpu_s=_cpu_seconds() - cpu_released,
    )
    conn.send(("done", result))
    await ask()  # "quit"


async def _sessions(
    port: int, total: int, concurrency: int, hold: tuple[Callable[[bool], None], asyncio.Event] | None
) -> dict[str, Any]:
    """Run ``total`` sessions; with ``hold``, each reports at its first GET DATA and waits for the event."""
    connects = asyncio.Semaphore(CONNECTS_IN_FLIGHT)
    slots = asyncio.Semaphore(concurrency)
    commands: list[int] = []
    failed = 0

    async def one(session: int) -> None:
        nonlocal failed
        count = 0
        waiting = hold is not None
        async with slots:
            try:
                async with connects:
                    reader, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                failed += 1
                if waiting and hold is not None:
                    hold[0](False)
                return
            try:
                writer.write(agi_environment(session))
                while True:
                    try:
                        line = await reader.readuntil(b"\n")
                    except asyncio.IncompleteReadError as exc:
                        if exc.partial:
                            failed += 1
                        break
                    count += 1
                    if waiting and hold is not None and line.startswith(HOLD_AT):
                        waiting = False
                        hold[0](True)
                        await hold[1].wait()
                    writer.write(asterisk_reply(line, session))
            except OSError:
                failed += 1
            finally:
                if waiting and hold is not None:
                    hold[0](False)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                commands.append(count)

    await asyncio.gather(*(one(n) for n in range(total)))
    return {"sessions": total, "failed": failed, "completed": total - failed, "commands": commands}


# -- orchestration ----------------------------------------------------------------------------------------


@dataclass
class RunResult:
    variant: str
    loop: str
    sessions: int
    completed: int
    failed: int
    short: int  # sessions that ended with fewer commands than the recorded sequence
    held: int
    server_open_at_hold: int
    commands: int
    commands_per_session: float
    hold_s: float
    release_s: float
    server_cpu_s: float
    server_cpu_us_per_command: float
    server_busy: float  # server CPU / wall, release phase
    idle_rss_mib: float
    held_rss_mib: float
    rss_kib_per_session: float
    after_rss_mib: float
    generator_cpu_s: float
    generator_busy: float
    runs: int = 1


def _expect(conn: Connection, tag: str) -> Any:
    if not conn.poll(STEP_TIMEOUT_S):
        raise RuntimeError(f"no {tag!r} within {STEP_TIMEOUT_S:.0f} s")
    message = conn.recv()
    if isinstance(message, tuple) and message and message[0] != tag:
        raise RuntimeError(f"expected {tag!r}, got {message!r}")
    return message


def measure(variant: str, loop_name: str, route_spec: str, sequence: list[str], sessions: int) -> RunResult:
    context = multiprocessing.get_context("spawn")
    server_conn, server_child = context.Pipe()
    gen_conn, gen_child = context.Pipe()
    server = context.Process(
        target=server_process, args=(variant, loop_name, route_spec, sequence, server_child),
        name=f"agi-{variant}-{loop_name}",
    )
    server.start()
    generator = None
    try:
        _, port = _expect(server_conn, "ready")
        generator = context.Process(target=generator_process, args=(port, sessions, gen_child), name="agi-generator")
        generator.start()
        _, warm_completed, warm_failed = _expect(gen_conn, "warm")
        if warm_failed or warm_completed != WARMUP_SESSIONS:
            raise RuntimeError(f"{variant}/{loop_name}: warm-up failed ({warm_failed} of {WARMUP_SESSIONS})")
        server_conn.send("snapshot")
        idle = _expect(server_conn, "snapshot")
        gen_conn.send("hold")
        _, held, hold_s = _expect(gen_conn, "held")
        server_conn.send("snapshot")
        at_hold = _expect(server_conn, "snapshot")
        gen_conn.send("release")
        released = time.perf_counter()
        _, result = _expect(gen_conn, "done")
        release_wall = time.perf_counter() - released
        server_conn.send("snapshot")
        end = _expect(server_conn, "snapshot")
        gen_conn.send("quit")
        server_conn.send("quit")
        generator.join(30)
        server.join(30)
    finally:
        for process in (generator, server):
            if process is not None and process.is_alive():
                process.terminate()
                process.join(5)
    counts = result["commands"]
    n_commands = sum(counts)
    server_cpu = end["cpu_s"] - idle["cpu_s"]
    release_cpu = end["cpu_s"] - at_hold["cpu_s"]
    return RunResult(
        variant=variant,
        loop=loop_name,
        sessions=sessions,
        completed=result["completed"],
        failed=result["failed"],
        short=sum(1 for count in counts if count < len(sequence)),
        held=held,
        server_open_at_hold=at_hold["active"],
        commands=n_commands,
        commands_per_session=n_commands / max(1, len(counts)),
        hold_s=hold_s,
        release_s=result["release_s"],
        server_cpu_s=server_cpu,
        server_cpu_us_per_command=1e6 * server_cpu / max(1, n_commands),
        server_busy=release_cpu / max(release_wall, 1e-9),
        idle_rss_mib=idle["rss_mib"],
        held_rss_mib=at_hold["rss_mib"],
        rss_kib_per_session=1024 * (at_hold["rss_mib"] - idle["rss_mib"]) / sessions,
        after_rss_mib=end["rss_mib"],
        generator_cpu_s=result["cpu_s"],
        generator_busy=result["release_cpu_s"] / max(result["release_s"], 1e-9),
    )


def median_of(runs: list[RunResult]) -> RunResult:
    values: dict[str, Any] = {}
    for name, value in asdict(runs[0]).items():
        column = [getattr(run, name) for run in runs]
        if isinstance(value, str) or name == "sessions":
            values[name] = value
        elif name in {"failed", "short"}:
            values[name] = sum(column)
        elif name in {"completed", "held", "server_open_at_hold"}:
            values[name] = min(column)  # the worst run
        else:
            values[name] = statistics.median(column)
    values["runs"] = len(runs)
    return RunResult(**values)


def ratio_rows(results: list[RunResult]) -> list[dict[str, Any]]:
    by_key = {(r.variant, r.loop): r for r in results}
    rows: list[dict[str, Any]] = []
    for r in results:
        bare = by_key.get(("bare", r.loop))
        if r.variant != "bare" and bare is not None:
            rows.append({"what": f"{r.variant} / bare, {r.loop}",
                         "cpu_per_command": r.server_cpu_us_per_command / bare.server_cpu_us_per_command,
                         "rss_per_session": r.rss_kib_per_session / bare.rss_kib_per_session})
    for r in results:
        stock = by_key.get((r.variant, "asyncio"))
        if r.loop != "asyncio" and stock is not None:
            rows.append({"what": f"{r.variant}: {r.loop} / asyncio",
                         "cpu_per_command": r.server_cpu_us_per_command / stock.server_cpu_us_per_command,
                         "rss_per_session": r.rss_kib_per_session / stock.rss_kib_per_session})
    route_uv, bare_stock = by_key.get(("route", "uvloop")), by_key.get(("bare", "asyncio"))
    if route_uv is not None and bare_stock is not None:
        rows.append({"what": "route uvloop / bare asyncio",
                     "cpu_per_command": route_uv.server_cpu_us_per_command / bare_stock.server_cpu_us_per_command,
                     "rss_per_session": route_uv.rss_kib_per_session / bare_stock.rss_kib_per_session})
    return rows


def print_report(results: list[RunResult], rows: list[dict[str, Any]], sequence_length: int) -> None:
    header = (
        f"{'variant':<6} {'loop':<8} {'sess':>5} {'done':>5} {'fail':>4} {'held':>5} {'open':>5} {'cmd/ss':>6} "
        f"{'hold s':>6} {'run s':>6} {'CPU s':>6} {'µs/cmd':>7} {'busy':>5} {'idle MiB':>8} {'held MiB':>8} "
        f"{'KiB/ss':>7} {'gen CPU':>7} {'gen busy':>8}"
    )
    print(f"\nFastAGI, sessions held open at once (medians of {results[0].runs} runs; "
          f"the route sends {sequence_length} commands a session)")
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.variant:<6} {r.loop:<8} {r.sessions:>5} {r.completed:>5} {r.failed:>4} {r.held:>5} "
            f"{r.server_open_at_hold:>5} {r.commands_per_session:>6.1f} {r.hold_s:>6.2f} {r.release_s:>6.2f} "
            f"{r.server_cpu_s:>6.2f} {r.server_cpu_us_per_command:>7.1f} {r.server_busy:>5.2f} "
            f"{r.idle_rss_mib:>8.1f} {r.held_rss_mib:>8.1f} {r.rss_kib_per_session:>7.1f} "
            f"{r.generator_cpu_s:>7.2f} {r.generator_busy:>8.2f}"
        )
    print("\n(done = sessions that ran to the end; held = sessions waiting at their first GET DATA at once;")
    print(" open = sessions the server had open then; hold s = time to open and hold them all; run s = from the")
    print(" release to the last session closed; CPU s = server CPU from the hold to the end; µs/cmd = that over")
    print(" the AGI commands answered; busy = server CPU / wall while the sessions ran; KiB/ss = (held RSS -")
    print(" idle RSS) / sessions; gen = the load generator process: a generator busy share well under 1 while the")
    print(" server's is near 1 means the server, not the generator, set the pace)")
    if rows:
        print(f"\n{'ratio':<30} {'CPU/command':>12} {'RSS/session':>12}")
        for row in rows:
            print(f"{row['what']:<30} {row['cpu_per_command']:>11.2f}x {row['rss_per_session']:>11.2f}x")
    for r in results:
        if r.variant == "bare":
            continue
        row = next(x for x in rows if x["what"] == f"{r.variant} / bare, {r.loop}")
        complete = r.failed == 0 and r.short == 0 and r.completed == r.sessions
        all_open = r.held == r.sessions and r.server_open_at_hold == r.sessions
        cpu_ok = row["cpu_per_command"] <= GOAL_RATIO
        print(
            f"\nGoal ({r.loop}): {r.sessions} sessions open at once in one process "
            f"({'yes' if all_open else 'NO'}: {r.server_open_at_hold} open), {r.completed} completed, "
            f"{r.failed} failed; CPU per AGI command {r.server_cpu_us_per_command:.1f} µs = "
            f"{row['cpu_per_command']:.2f}x bare panoramisk {'<=' if cpu_ok else '>'} {GOAL_RATIO}x; "
            f"memory {r.rss_kib_per_session:.1f} KiB per session "
            f"-> {'MET' if complete and all_open and cpu_ok else 'NOT MET'}"
        )
    uv = next((x for x in rows if x["what"] == "route: uvloop / asyncio"), None)
    if uv is not None:
        helps = uv["cpu_per_command"] < 0.95
        print(f"uvloop: the route's CPU per command {uv['cpu_per_command']:.2f}x the stock loop's, RSS per session "
              f"{uv['rss_per_session']:.2f}x -> {'helps' if helps else 'no clear gain (< 5 %)'}")
    elif not uvloop_available():
        print("uvloop: not installed (pip install uvloop), measured on the stock loop only")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5000, help="sessions held open at once")
    parser.add_argument("--route", default=DEFAULT_ROUTE, help="IVR entry point, module:function")
    parser.add_argument("--loops", default=None, help="asyncio,uvloop (default: uvloop too if installed)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant and loop (medians reported)")
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    loops = args.loops.split(",") if args.loops else ["asyncio", *(["uvloop"] if uvloop_available() else [])]
    if "uvloop" in loops and not uvloop_available():
        parser.error("uvloop is not installed")
    nofile = raise_nofile_limit()
    if nofile < 2 * args.sessions + 100:
        print(f"warning: file limit {nofile} is low for {args.sessions} sessions", file=sys.stderr)
    quiet_logging()
    sequence = asyncio.run(record_sequence(args.route))
    verbs = collections.Counter(" ".join(line.split(" ")[:2]) if " " in line else line for line in sequence)
    print(f"route {args.route}: {len(sequence)} commands a session ("
          + ", ".join(f"{count}x {verb}" for verb, count in verbs.items()) + ")", flush=True)

    started = time.perf_counter()
    runs: dict[tuple[str, str], list[RunResult]] = {}
    for repeat in range(1, args.repeat + 1):
        for loop_name in loops:
            for variant in ("bare", "route"):  # interleaved, so the machine's drift hits each alike
                result = measure(variant, loop_name, args.route, sequence, args.sessions)
                runs.setdefault((variant, loop_name), []).append(result)
                print(
                    f"run {repeat}/{args.repeat} {variant:<5} {loop_name:<7} done={result.completed} "
                    f"fail={result.failed} open={result.server_open_at_hold} "
                    f"{result.server_cpu_us_per_command:5.1f} µs/cmd {result.rss_kib_per_session:5.1f} KiB/session "
                    f"gen busy {result.generator_busy:.2f}",
                    flush=True,
                )
    results = [median_of(runs[(variant, loop)]) for loop in loops for variant in ("bare", "route")]
    rows = ratio_rows(results)
    print_report(results, rows, len(sequence))
    elapsed = time.perf_counter() - started
    print(f"\ntotal {elapsed:.0f} s")
    if args.json:
        document = {
            "benchmark": "fastagi_sessions",
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": multiprocessing.cpu_count(),
            "sessions": args.sessions,
            "route": args.route,
            "sequence": sequence,
            "loops": loops,
            "repeat": args.repeat,
            "elapsed_s": elapsed,
            "results": [asdict(r) for r in results],
            "runs": [asdict(run) for loop_runs in runs.values() for run in loop_runs],
            "ratios": rows,
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
    failed = any(r.failed or r.short or r.completed != r.sessions for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
