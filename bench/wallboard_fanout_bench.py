"""Wallboard fan-out: 200 SSE clients during a 200-call burst, against the same burst with no client.

    .venv/bin/python -m bench.wallboard_fanout_bench [--clients 200] [--calls 200] [--burst-seconds 20]

This process plays the service: the live-state reducer (booted from a QueueStatus
recorded on the sandbox Asterisk 22: 11 queues x 36 lines) and the web app
(``web.app``, on loopback, sessions in the real PostgreSQL). The burst is AMI
events shaped like the recorded calls (QueueCallerJoin, AgentCalled, member
status, QueueCallerLeave, AgentConnect, AgentComplete, Hangup), replayed in real
time into ``LiveState.apply`` as the AMI follower does: ``--calls`` calls spread
over ``--burst-seconds``, each ringing 1 s and talking 2 s.

Two runs of the same burst:

1. no client connected;
2. ``--clients`` SSE clients on ``/api/live/stream``, held by a **separate**
   process (so their CPU is not the service's).

Figures: update latency (from ``apply`` of an event to a client receiving a
frame that includes it; every event x every client), p50/p99/max; the service
process's CPU seconds during each burst and their ratio; frames built.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, Final

import aiohttp
import asyncpg
from aiohttp import web

from aiguilleur.database import LOCAL_SERVER, ensure_database
from cdr.migrate import migrate
from config.loader import load_hotline
from config.models import Hotline
from config.settings import REPO_ROOT
from queues.ami_parse import parse_ami_stream
from queues.state import LiveState, StateConfig
from queues.state_seed import seed_from_queue_status
from sandbox.ports import free_tcp_port
from tests.web.conftest import FixedRules, RecordingDesk
from web import store
from web.app import make_app
from web.deps import FEED, WebDeps
from web.ports import FixedHotline
from web.security import new_token, token_digest

FIXTURES: Final = REPO_ROOT / "tests" / "fixtures" / "ami"
DATABASE: Final = "aiguilleur_bench_web"
Event = dict[str, str]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def booted_live(hotline: Hotline) -> LiveState:
    traffic = parse_ami_stream((FIXTURES / "queue_state_session.raw").read_bytes())
    start = next(m for m in traffic if m.get("EventList") == "start")
    reply = [m for m in traffic if m.get("ActionID") == start["ActionID"]]
    live = LiveState(StateConfig.from_hotline(hotline))
    live.load(seed_from_queue_status(reply, taken_at=time.time()))
    return live


def burst(hotline: Hotline, calls: int, seconds: float, member: Event) -> list[tuple[float, Event]]:
    """(offset in seconds, event) for ``calls`` calls: join + ring, connect after 1 s, complete after 3 s."""
    lines = [line for line, _ in hotline.lines()]
    queues = sorted({f"sector-{o.value}" for o in hotline.menu.step("sector").options})
    plan: list[tuple[float, Event]] = []
    for n in range(calls):
        at = seconds * n / calls
        uid, queue, line = f"bench.{n}", queues[n % len(queues)], lines[n % len(lines)]
        base = {"Uniqueid": uid, "Linkedid": uid, "Queue": queue}
        agent = {**base, "Interface": f"PJSIP/{line}", "MemberName": line, "DestUniqueid": uid + "-a"}

        def status(queue: str = queue, line: str = line, **fields: str) -> Event:
            return {**member, "Event": "QueueMemberStatus", "Queue": queue, "MemberName": line,
                    "Interface": f"PJSIP/{line}", "StateInterface": f"PJSIP/{line}", **fields}

        plan += [
            (at, {**base, "Event": "QueueCallerJoin", "Channel": f"PJSIP/pstn-{n}", "CallerIDNum": f"03200{n:05d}",
                  "CallerIDName": f"Appelant {n}", "Position": "1"}),
            (at + 0.05, {**agent, "Event": "AgentCalled"}),
            (at + 0.06, status(Status="6")),
            (at + 1.0, {**base, "Event": "QueueCallerLeave", "Position": "1"}),
            (at + 1.0, {**agent, "Event": "AgentConnect", "HoldTime": "1", "RingTime": "1"}),
            (at + 1.01, status(Status="2", InCall="1")),
            (at + 3.0, {**agent, "Event": "AgentComplete", "HoldTime": "1", "TalkTime": "2", "Reason": "caller"}),
            (at + 3.0, {"Event": "Hangup", "Uniqueid": uid}),
            (at + 3.01, status(Status="1", InCall="0")),
        ]
    plan.sort(key=lambda item: item[0])
    return plan


async def replay(live: LiveState, plan: list[tuple[float, Event]]) -> list[tuple[int, float]]:
    """Apply the plan in real time; (state version after the event, time applied) for each event."""
    applied: list[tuple[int, float]] = []
    start = time.monotonic()
    for offset, event in plan:
        delay = start + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.time()
        live.apply({**event, "Timestamp": f"{now:.6f}"})
        # The reducer's change counter, as snapshot().version will say; read directly, as building a
        # snapshot per event would add work the real AMI path does not do.
        applied.append((live._version, now))
    return applied


# --- the clients' process ---------------------------------------------------------------------
async def clients_main(url: str, token: str, count: int, out: Path) -> None:
    """Hold ``count`` SSE streams; on 'stop' from stdin, write each client's (version, received) list."""
    received: list[list[tuple[int, float]]] = [[] for _ in range(count)]
    connected = 0
    all_connected = asyncio.Event()
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=0)

    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as http:
        async def one(index: int) -> None:
            nonlocal connected
            async with http.get(f"{url}/api/live/stream", headers=headers) as response:
                connected += 1
                if connected == count:
                    all_connected.set()
                async for raw in response.content:
                    if raw.startswith(b'data: {"version":'):
                        end = raw.index(b",", 17)
                        received[index].append((int(raw[17:end]), time.time()))

        tasks = [asyncio.create_task(one(i)) for i in range(count)]
        await all_connected.wait()
        sys.stdout.write("connected\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.to_thread(out.write_text, json.dumps(received))


# --- the service's process ----------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latencies(applied: list[tuple[int, float]], received: list[list[tuple[int, float]]]) -> list[float]:
    """For each applied event and each client: first receipt of a frame at or past its version, minus apply time."""
    out: list[float] = []
    for frames in received:
        index = 0
        for version, applied_at in applied:
            while index < len(frames) and frames[index][0] < version:
                index += 1
            if index == len(frames):
                break  # never received (counted apart)
            out.append(frames[index][1] - applied_at)
    return out


async def run(clients: int, calls: int, seconds: float) -> dict[str, Any]:
    hotline = load_hotline(REPO_ROOT / "config" / "hotline.yaml")
    url_db = await ensure_database(LOCAL_SERVER, DATABASE)
    pool = await asyncpg.create_pool(url_db, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn)
    await pool.execute("DELETE FROM web_users WHERE name = 'bench'")
    user = await store.add_user(pool, "bench", "supervisor", None, "scrypt$unused")
    token = new_token()
    await store.create_session(pool, user.id, token_digest(token), new_token(),
                               dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    traffic = parse_ami_stream((FIXTURES / "answered_call.raw").read_bytes())
    member = next(m for m in traffic if m.get("Event") == "QueueMemberStatus")
    plan = burst(hotline, calls, seconds, member)

    live = booted_live(hotline)
    desk = RecordingDesk({line for line, _ in hotline.lines()})  # no agent action in this bench
    app = make_app(WebDeps(pool=pool, live=live, hotline=FixedHotline(hotline), desk=desk, rules=FixedRules(hotline),
                           today_interval=3600))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    port = free_tcp_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {"clients": clients, "calls": calls, "burst_seconds": seconds, "events": len(plan)}
    try:
        await asyncio.sleep(0.5)
        cpu0 = cpu_seconds()
        await replay(live, plan)
        await asyncio.sleep(0.5)
        result["cpu_no_clients_s"] = cpu_seconds() - cpu0

        out = Path(f"/tmp/aiguilleur-fanout-{os.getpid()}.json")
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.wallboard_fanout_bench", "--client", url, token, str(clients), str(out),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=str(REPO_ROOT))
        assert child.stdout is not None and child.stdin is not None
        try:
            line = await asyncio.wait_for(child.stdout.readline(), 60)
            assert line.strip() == b"connected", line
            feed = app[FEED]
            async with asyncio.timeout(30):
                while feed.clients < clients:  # noqa: ASYNC110  (a counter of the app's, no event to wait on)
                    await asyncio.sleep(0.05)
            updates0 = feed.updates
            cpu0 = cpu_seconds()
            applied = await replay(live, plan)
            await asyncio.sleep(0.5)
            result["cpu_with_clients_s"] = cpu_seconds() - cpu0
            result["frames_built"] = feed.updates - updates0
            child.stdin.write(b"stop\n")
            await child.stdin.drain()
            await asyncio.wait_for(child.wait(), 60)
        finally:
            if child.returncode is None:
                child.terminate()
                await child.wait()
        received = json.loads(await asyncio.to_thread(out.read_text))
        await asyncio.to_thread(out.unlink)
        lat = latencies(applied, received)
        expected = len(applied) * clients
        result["latency_samples"] = len(lat)
        result["missed"] = expected - len(lat)
        result["latency_p50_ms"] = round(percentile(lat, 0.50) * 1000, 1)
        result["latency_p99_ms"] = round(percentile(lat, 0.99) * 1000, 1)
        result["latency_max_ms"] = round(max(lat) * 1000, 1)
        result["cpu_ratio"] = round(result["cpu_with_clients_s"] / result["cpu_no_clients_s"], 2)
        result["cpu_with_clients_pct_of_one_core"] = round(100 * result["cpu_with_clients_s"] / seconds, 1)
        result["cpu_no_clients_pct_of_one_core"] = round(100 * result["cpu_no_clients_s"] / seconds, 1)
    finally:
        await runner.cleanup()
        await pool.execute("DELETE FROM web_users WHERE name = 'bench'")
        await pool.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--burst-seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--client", nargs=4, metavar=("URL", "TOKEN", "COUNT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        url, token, count, out = args.client
        asyncio.run(clients_main(url, token, int(count), Path(out)))
        return 0
    result = asyncio.run(run(args.clients, args.calls, args.burst_seconds))
    print(f"wallboard fan-out: {result['calls']} calls ({result['events']} AMI events) in "
          f"{result['burst_seconds']:g} s, {result['clients']} SSE clients")
    print(f"  update latency (event applied -> frame received, every event x client): "
          f"p50 {result['latency_p50_ms']} ms, p99 {result['latency_p99_ms']} ms, max {result['latency_max_ms']} ms "
          f"({result['latency_samples']} samples, {result['missed']} missed)")
    print(f"  service CPU during the burst: {result['cpu_no_clients_s']:.2f} s with no client "
          f"({result['cpu_no_clients_pct_of_one_core']} % of a core), {result['cpu_with_clients_s']:.2f} s with "
          f"{result['clients']} clients ({result['cpu_with_clients_pct_of_one_core']} %): ratio {result['cpu_ratio']}x")
    print(f"  frames built and sent to every client: {result['frames_built']} (one build per change, <= 10/s)")
    goal = result["latency_p99_ms"] <= 1000 and result["missed"] == 0
    print(f"  goal (every update within 1 s): {'met' if goal else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if goal else 1


if __name__ == "__main__":
    raise SystemExit(main())
