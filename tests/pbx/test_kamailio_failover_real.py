"""Kamailio in front of two Asterisk nodes, for real: active/standby by dispatcher priority.

Real peers only: Kamailio 5.6 (Debian package, our generated ``kamailio.cfg``, our child
process, locations in PostgreSQL), two sandbox Asterisk 22 instances with the generated
hotline configuration on distinct loopback ports, SIPp callers dialling the regional number at
Kamailio's address, and one SIPp UAS playing the 36 advisors, whose lines are REGISTERed to
Kamailio: both nodes ring a line at Kamailio, which relays to where it registered. Nothing
listens on the FastAGI port: every call takes the dialplan's degraded path (the pyst2 fallback
asks the sector, the caller presses 1 and queues by skill), which is enough to see which node
answered: each node's own call records (cdr_custom) name the callers it answered and the line.

Node A (priority 10) takes every call while it answers probes; it is killed (SIGKILL, its
pid); calls placed from that instant on must all be answered, by node B; A comes back and
takes the new calls again.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from aiguilleur.cluster import SandboxCluster, caller_number
from config.models import Hotline
from config.settings import REPO_ROOT
from sandbox.kamailio import SandboxKamailio
from sandbox.sipp import CallScript

pytestmark = pytest.mark.pbx

PROBE_INTERVAL = 1
INVITE_TIMEOUT_MS = 1000


@pytest.fixture(scope="module")
def cluster(hotline: Hotline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxCluster]:
    with SandboxCluster(hotline, tmp_path_factory.mktemp("cluster"), probe_interval=PROBE_INTERVAL,
                        invite_timeout_ms=INVITE_TIMEOUT_MS) as cluster:
        yield cluster


def scripts(first: int, count: int) -> list[CallScript]:
    """``count`` callers, numbered from ``first``: a sector (1-5 in turn, so every partner takes some)
    to the fallback, then an advisor talks 2 s. Callers wait up to 45 s: CCI tops several rankings and
    its 8 lines take 15 s of wrap-up after each call, so some callers wait for the 30 s escalation."""
    return [
        CallScript(digits=[str((first + i) % 5 + 1)], caller_number=f"03299{os.getpid() % 1000:03d}{first + i:02d}",
                   pause_before_ms=1500, hold_after_ms=45000)
        for i in range(count)
    ]


def restart_a(cluster: SandboxCluster) -> float:
    """Start node A again; return how long after its boot the dispatcher saw it active."""
    cluster.nodes["a"].stop()
    cluster.nodes["a"].start()
    booted = time.monotonic()
    return cluster.wait_flags({"a": "AP"}, timeout=10) - booted


def test_advisors_lines_are_registered_to_kamailio_and_stored_in_postgresql(cluster: SandboxCluster) -> None:
    lines = [line for line, _partner in cluster.hotline.lines()]
    assert cluster.registered == dict.fromkeys(lines, 200)

    async def stored() -> int:
        conn = await asyncpg.connect(cluster.location_db)
        try:
            return int(await conn.fetchval(
                "SELECT count(*) FROM location WHERE contact LIKE $1", f"%@127.0.0.1:{cluster.agents.port}"))
        finally:
            await conn.close()

    assert asyncio.run(stored()) == len(lines)  # db_postgres, write-through
    assert "cma-01" in cluster.kamailio.rpc("ul.lookup", "location", "cma-01")


def test_the_standby_node_takes_the_calls_when_the_active_one_dies(cluster: SandboxCluster) -> None:
    cluster.wait_flags({"a": "AP", "b": "AP"}, timeout=10)

    # 1. Both nodes up: node A, the highest priority, answers every call.
    before = scripts(0, 6)
    result = cluster.place(before, rate_cps=5, concurrent=6)
    assert result.ok, result.describe()
    numbers_before = {s.caller_number for s in before}
    assert numbers_before <= set(cluster.answered_by("a")), cluster.answered_by("a")
    assert not numbers_before & set(cluster.answered_by("b"))
    # ... and every caller talked with an advisor, rung by A through Kamailio
    talked = cluster.advisor_of("a", numbers_before)
    assert set(talked) == numbers_before, talked
    assert set(talked.values()) <= set(cluster.agents.answered_lines())

    # 2. Node A dies (SIGKILL, its pid); calls keep coming from that instant.
    marked: list[float] = []

    def watch() -> None:
        marked.append(cluster.wait_flags({"a": "I"}, timeout=30))

    watcher = threading.Thread(target=watch)
    killed = time.monotonic()
    killed_wall = cluster.kill("a")
    watcher.start()
    during = scripts(10, 20)
    result = cluster.place(during, rate_cps=4, concurrent=20)
    watcher.join()
    answered_b = cluster.answered_by("b")
    numbers_during = [s.caller_number for s in during]
    on_b = [n for n in numbers_during if n in answered_b]
    first_on_b = min(answered_b[n] for n in on_b) - killed_wall if on_b else float("nan")
    marked_after = marked[0] - killed if marked else float("nan")
    print(
        f"\nfailover: offered {len(during)}, answered {result.successful}, failed {result.failed}, "
        f"answered by B {len(on_b)}; node A marked down by Kamailio {marked_after:.2f} s after the kill "
        f"(probe every {PROBE_INTERVAL} s, INVITE timeout {INVITE_TIMEOUT_MS} ms); "
        f"first call answered on B {first_on_b:.2f} s after the kill; SIPp run {result.elapsed_s:.1f} s"
    )
    assert result.ok, result.describe() + "\n" + cluster.kamailio.tail()
    assert on_b == numbers_during, f"not answered by B: {sorted(set(numbers_during) - set(on_b))}"
    talked = cluster.advisor_of("b", set(numbers_during))
    missing = set(numbers_during) - set(talked)
    assert not missing, [
        {k: row.get(k) for k in ("dstchannel", "disposition", "lastapp", "lastdata", "start", "end", "aiguilleur_exit")}
        for row in cluster.rows("b") if caller_number(row) in missing
    ]
    assert marked_after <= PROBE_INTERVAL + INVITE_TIMEOUT_MS / 1000 + 1.0
    assert first_on_b <= INVITE_TIMEOUT_MS / 1000 + 1.5

    # 3. Node A back: once a probe sees it, the new calls are its again (priority).
    back = restart_a(cluster)
    print(f"node A active again in the dispatcher {back:.2f} s after it booted")
    assert back <= PROBE_INTERVAL + 1.0
    after = scripts(40, 4)
    result = cluster.place(after, rate_cps=5, concurrent=4)
    assert result.ok, result.describe()
    numbers_after = {s.caller_number for s in after}
    assert numbers_after <= set(cluster.answered_by("a"))
    assert not numbers_after & set(cluster.answered_by("b"))
    assert set(cluster.advisor_of("a", numbers_after)) == numbers_after


def test_a_kill_in_the_middle_of_a_burst_loses_only_the_calls_up_on_the_dead_node(cluster: SandboxCluster) -> None:
    """50 callers at 10/s, node A SIGKILLed 2.5 s in. Kamailio's log says where each INVITE went and when:
    a caller sent to A before the kill either failed over (A had not answered: B takes it) or was up on A
    and dies with it; every other caller is answered by B. A keeps no record of the calls it was running."""
    cluster.wait_flags({"a": "AP", "b": "AP"}, timeout=10)
    burst = [
        CallScript(digits=[str(i % 5 + 1)], caller_number=f"03298{os.getpid() % 1000:03d}{i:02d}",
                   pause_before_ms=1500, hold_after_ms=15000)
        for i in range(50)
    ]
    kill_at: list[float] = []
    killer = threading.Timer(2.5, lambda: kill_at.append(cluster.kill("a")))
    killer.start()
    result = cluster.place(burst, rate_cps=10, concurrent=50)
    killer.join()
    killed = kill_at[0]
    numbers = [s.caller_number for s in burst]
    routed = [r for r in cluster.routed() if r.caller in set(numbers)]
    uri_a = cluster.uri("a")
    sent_to_a = {r.caller for r in routed if r.node_uri == uri_a and r.at < killed}
    failed_over = {r.caller for r in routed if r.node_uri != uri_a and r.caller in sent_to_a}
    up_on_a = sent_to_a - failed_over
    after_kill = {r.caller for r in routed if r.at >= killed and r.caller not in sent_to_a}
    by_index = dict(zip(numbers, result.calls, strict=True))
    failed = {n for n, call in by_index.items() if not call.ended_by}
    answered_b = cluster.answered_by("b")
    first_on_b = min((answered_b[n] for n in failed_over | after_kill if n in answered_b), default=float("nan"))
    print(
        f"\nburst: offered {len(burst)}, answered {result.successful}, failed {result.failed}; sent to A before "
        f"the kill {len(sent_to_a)} (up on A, lost: {len(up_on_a)}; failed over to B: {len(failed_over)}); "
        f"sent after the kill {len(after_kill)}; first call answered on B {first_on_b - killed:.2f} s after the kill"
    )
    assert sent_to_a and after_kill, "the kill must fall inside the burst"
    assert failed == up_on_a, {"failed": sorted(failed), "up on A at the kill": sorted(up_on_a)}
    assert set(numbers) == sent_to_a | after_kill
    for number in failed_over | after_kill:
        assert number in answered_b, f"{number} not answered by B"
        assert by_index[number].ended_by, f"{number} did not end cleanly"
    assert first_on_b - killed <= INVITE_TIMEOUT_MS / 1000 + 1.5
    # A killed -9 wrote no record of the calls it was running: nothing to recover from its files.
    restart_a(cluster)
    assert not up_on_a & {caller_number(row) for row in cluster.rows("a")}


def test_the_committed_kamailio_conf_parses_and_loads_its_modules(tmp_path: Path) -> None:
    """``kamailio -c`` on ``kamailio_conf/`` as committed (the drift test keeps it the generator's)."""
    SandboxKamailio(REPO_ROOT / "kamailio_conf", tmp_path).check()
