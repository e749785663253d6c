"""Two service instances behind Kamailio and two Asterisk nodes, for real (issue 13).

Real peers only: Kamailio 5.6 with the generated ``kamailio.cfg``, two sandbox Asterisk 22 nodes
(a active, b standby), the 36 advisors' lines REGISTERed to Kamailio by one SIPp UAS, SIPp
callers at the regional number, PostgreSQL, and two ``aiguilleur serve`` child processes, each
following both nodes over AMI (``AIGUILLEUR_AMI_NODES``) and reading back their own files. Node
a's dialplan tries instance 1 (its local one), then instance 2, then the pyst2 fallback; node b's
tries 2, then 1.

- Callers answer the whole menu through Kamailio: node a takes them, the IVR of instance 1 routes
  each to its partner by skill, a line registered to Kamailio answers, one record each.
- Instance 1 is SIGKILLed in the middle of a burst: the callers then in its menu are taken by
  instance 2 (their menu goes on after the answers they gave: the dialplan hands them over from
  the call's CDR), the later callers go to instance 2 at once; nobody gets
  the degraded menu, and every call node a's own records know has exactly one record.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
import pytest_asyncio

from aiguilleur.cluster import SandboxCluster, caller_number
from config.models import Hotline
from config.settings import REPO_ROOT
from ivr.prompt_audio import generate as generate_prompts
from ivr.prompts import SOUNDS_SUBDIR, catalogue
from sandbox.ports import free_tcp_port
from sandbox.service_process import ServiceProcess
from sandbox.sipp import CallScript
from tests.conftest import drop_database, recreate_database
from tests.pbx.test_kamailio_failover_real import INVITE_TIMEOUT_MS, PROBE_INTERVAL

pytestmark = [pytest.mark.pbx, pytest.mark.asyncio(loop_scope="module")]

OPEN_INSTANT = "2026-11-23T10:00:00+01:00"  # a Monday 10:00 in Paris: the line is open
# need, sector, size, département, and the partner the router ranks first (README's table)
PROFILES = ((["1", "2", "2", "59"], "cma"), (["2", "1", "3", "62"], "cci"), (["2", "3", "5", "60"], "region"),
            (["2", "4", "3", "80"], "direccte"), (["1", "4", "1", "59"], "mel"))


@dataclass
class Cluster:
    nodes: SandboxCluster
    services: list[ServiceProcess]
    database_url: str


@pytest.fixture(scope="module")
def cluster(hotline: Hotline, tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("cluster-service")
    prompts = work / "prompts"
    generate_prompts(catalogue(hotline), prompts, work / "recordings")
    database_url = f"{database_url.rsplit('/', 1)[0]}/aiguilleur_cluster_{os.getpid()}"  # its own: two processes
    asyncio.run(recreate_database(database_url))
    nodes = SandboxCluster(hotline, work / "nodes", probe_interval=PROBE_INTERVAL, invite_timeout_ms=INVITE_TIMEOUT_MS,
                           service_ports=(free_tcp_port(), free_tcp_port()))
    services: list[ServiceProcess] = []
    try:
        with nodes:
            nodes.nodes["a"].install_sounds(prompts, SOUNDS_SUBDIR)  # one root: both nodes
            for index in (0, 1):
                service = nodes.service(index, database_url=database_url, state_dir=work / f"service-{index + 1}",
                                        hotline_file=REPO_ROOT / "config" / "hotline.yaml", now=OPEN_INSTANT)
                services.append(service)
                service.start()
            yield Cluster(nodes, services, database_url)
            for service in services:
                service.stop()
    finally:
        for service in services:
            service.stop()  # a no-op for one already stopped
        asyncio.run(drop_database(database_url))


@pytest_asyncio.fixture(loop_scope="module")
async def db(cluster: Cluster) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(cluster.database_url)
    try:
        yield conn
    finally:
        await conn.close()


def callers(tag: int, count: int, *, press_zero_every: int = 0) -> list[tuple[CallScript, str | None]]:
    """``count`` callers answering the menu (profiles in turn), with the partner each should reach;
    every ``press_zero_every``-th one presses 0 at once instead (straight to the queue, any partner)."""
    found: list[tuple[CallScript, str | None]] = []
    for i in range(count):
        digits, partner = PROFILES[i % len(PROFILES)]
        if press_zero_every and i % press_zero_every == 1:
            digits, partner = ["0"], None
        script = CallScript(digits=digits, caller_number=f"0328{tag}{os.getpid() % 1000:03d}{i:03d}",
                            pause_before_ms=1500, pause_between_ms=1500, hold_after_ms=60000)
        found.append((script, partner))
    return found


async def records(db: asyncpg.Connection, numbers: set[str], within: float) -> list[asyncpg.Record]:
    """The records of ``numbers``' calls, once every one of them has one (or ``within`` s passed)."""
    deadline = time.monotonic() + within
    while True:
        rows = await db.fetch("SELECT node, linkedid, src, ivr_exit, degraded, outcome, partner, line FROM cdr "
                              "WHERE src = ANY($1::text[])", sorted(numbers))
        if {r["src"] for r in rows} >= numbers or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.5)


async def test_callers_take_the_full_ivr_on_the_active_node_and_reach_their_partner_through_kamailio(
    cluster: Cluster, db: asyncpg.Connection,
) -> None:
    calls = callers(1, len(PROFILES))
    result = await asyncio.to_thread(cluster.nodes.place, [s for s, _ in calls], 2, len(calls), 90)
    numbers = {s.caller_number for s, _ in calls}
    rows = await records(db, numbers, 30)
    by_number = {r["src"]: r for r in rows}
    answered_on_a = cluster.nodes.advisor_of("a", numbers)
    print(f"\nthrough Kamailio: {result.successful} answered, {result.failed} failed; records "
          f"{[(r['src'][-3:], r['node'], r['ivr_exit'], r['partner'], r['line']) for r in rows]}")
    assert result.failed == 0
    assert len(rows) == len(calls), "one record per call"
    for script, partner in calls:
        row = by_number[script.caller_number]
        assert (row["node"], row["ivr_exit"], row["degraded"], row["outcome"]) == ("a", "completed", False, "answered")
        assert row["partner"] == partner, (script.digits, dict(row))
        # the line that talked, as node a's own records say, is the record's, and it registered to Kamailio
        assert answered_on_a[script.caller_number] == row["line"]
        assert cluster.nodes.registered[row["line"]] == 200
    # each instance reads back each node's own files (calls that ended while it was away)
    for service in cluster.services:
        assert {e.get("node") for e in service.events(0, "cdr.recovery")} == {"a", "b"}, service.name


async def test_kill_9_of_one_service_instance_mid_burst_sends_nobody_to_the_degraded_menu(
    cluster: Cluster, db: asyncpg.Connection,
) -> None:
    first, second = cluster.services
    offsets = [s.log_path.stat().st_size for s in cluster.services]
    calls = callers(2, 24, press_zero_every=3)
    killed: list[float] = []
    killer = threading.Timer(3.0, lambda: killed.append(first.kill()))
    burst_at = time.time()
    killer.start()
    try:
        result = await asyncio.to_thread(cluster.nodes.place, [s for s, _ in calls], 4, len(calls), 180)
    finally:
        killer.join()
    numbers = {s.caller_number for s, _ in calls}
    rows = await records(db, numbers, 60)
    keys = [(r["node"], r["linkedid"]) for r in rows]
    started_on_1 = {str(e.get("linkedid")) for e in first.events(offsets[0], "ivr.call")}
    finished_on_1 = {str(e.get("linkedid")) for e in first.events(offsets[0], "ivr.finished")}
    cut = started_on_1 - finished_on_1
    on_2 = {str(e.get("linkedid")) for e in second.events(offsets[1], "ivr.call")}
    resumed = {str(e.get("linkedid")) for e in second.events(offsets[1], "ivr.resumed")}
    node_a_calls = {caller_number(row) for row in cluster.nodes.rows("a")} & numbers
    exits = {kind: Counter(str(r["ivr_exit"]) for r in rows if (r["linkedid"] in cut) == (kind == "cut"))
             for kind in ("cut", "others")}
    print(f"\ninstance 1 killed {killed[0] - burst_at:.1f} s into the burst; SIPp: {result.successful} answered, "
          f"{result.failed} failed; IVR sessions on instance 1 {len(started_on_1)} (cut by the kill {len(cut)}), "
          f"on instance 2 {len(on_2)} ({len(resumed & cut)} of the cut ones resumed after their answers); "
          f"records {len(rows)} for {len(numbers)} callers, duplicates "
          f"{len(keys) - len(set(keys))}; IVR exits of the callers cut {dict(exits['cut'])}, of the others "
          f"{dict(exits['others'])}")
    try:
        assert cut, "the kill must fall while callers are in instance 1's menu"
        assert cut <= on_2, "every caller cut in instance 1's menu is taken by instance 2"
        assert resumed & cut, "a caller who had answered before the kill goes on from there, not from the start"
        assert not [r for r in rows if r["degraded"] or r["ivr_exit"] == "degraded"], "nobody took the degraded menu"
        assert len(keys) == len(set(keys)) and len({r["src"] for r in rows}) == len(rows), "one record per call"
        assert node_a_calls == numbers, "node a (the active node) took every call"
        assert {r["src"] for r in rows} == numbers, "every call node a knows has its record"
    finally:
        first.start()  # both instances again for whatever runs next
