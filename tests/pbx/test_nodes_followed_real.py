"""The service's followers of two real Asterisk nodes behind real Kamailio (issue 13).

The cluster of ``test_kamailio_failover_real`` (Kamailio 5.6, two sandbox Asterisk 22, SIPp
callers and advisors, the degraded IVR path), and the service's per-node followers
(``aiguilleur.nodes.NodeFollower``: one AMI link, resync, correlator and live state per node)
writing into one ``CdrWriter`` on a private database. Node A is SIGKILLed in the middle of a
burst; the calls up on A are recorded ``lost_by_pbx`` with node ``a`` once A is back with a new
start time (CoreStatus); the calls after the kill are B's; no call is recorded twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from aiguilleur.cluster import SandboxCluster
from aiguilleur.confgen import HOTLINE_CONTEXT
from aiguilleur.nodes import NodeFollower
from cdr.correlator import CdrCorrelator
from cdr.migrate import migrate
from cdr.writer import CdrWriter
from config.models import Hotline
from queues.state import LiveState, StateConfig
from sandbox.sipp import CallScript
from tests.pbx.test_kamailio_failover_real import INVITE_TIMEOUT_MS, PROBE_INTERVAL, restart_a

pytestmark = pytest.mark.pbx


@pytest.fixture(scope="module")
def cluster(hotline: Hotline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxCluster]:
    with SandboxCluster(hotline, tmp_path_factory.mktemp("cluster"), probe_interval=PROBE_INTERVAL,
                        invite_timeout_ms=INVITE_TIMEOUT_MS) as cluster:
        yield cluster


async def eventually(predicate: object, within: float, what: str) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.5)


async def test_calls_up_on_a_killed_node_are_recorded_lost_by_that_node_and_the_rest_by_b(
    cluster: SandboxCluster, hotline: Hotline, empty_db: asyncpg.Connection, database_url: str, tmp_path: Path,
) -> None:
    await migrate(empty_db)
    cluster.wait_flags({"a": "AP", "b": "AP"}, timeout=10)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    writer = CdrWriter(pool, spool_dir=tmp_path / "spool")
    writer.start()
    followers = {
        name: NodeFollower.build(
            name, cluster.amis[name].model_copy(update={"backoff_max": 2.0}),
            CdrCorrelator(partner_of=lambda line: line.rsplit("-", 1)[0], call_contexts=frozenset({HOTLINE_CONTEXT}),
                          node=name),
            LiveState(StateConfig.from_hotline(hotline)), writer.submit, lost_after=None)
        for name in ("a", "b")
    }
    try:
        for follower in followers.values():
            await follower.start()
            await follower.ami.wait_ready(10)
        assert all(f.watch.startup for f in followers.values())

        burst = [CallScript(digits=[str(i % 5 + 1)], caller_number=f"03297{os.getpid() % 1000:03d}{i:02d}",
                            pause_before_ms=1500, hold_after_ms=15000) for i in range(30)]
        kill_at: list[float] = []
        killer = threading.Timer(2.5, lambda: kill_at.append(cluster.kill("a")))
        killer.start()
        result = await asyncio.to_thread(cluster.place, burst, 10, 30)
        killer.join()
        killed = kill_at[0]
        numbers = {s.caller_number for s in burst}
        routed = [r for r in cluster.routed() if r.caller in numbers]
        uri_a = cluster.uri("a")
        sent_to_a = {r.caller for r in routed if r.node_uri == uri_a and r.at < killed}
        failed_over = {r.caller for r in routed if r.node_uri != uri_a and r.caller in sent_to_a}
        up_on_a = sent_to_a - failed_over
        after_kill = numbers - sent_to_a
        open_on_a = followers["a"].correlator.open_calls()

        await asyncio.to_thread(restart_a, cluster)  # A back: a new process, a new start time

        async def lost_recorded() -> bool:
            return followers["a"].correlator.open_calls() == 0 and followers["a"].watch.lost_at is None

        await eventually(lost_recorded, 40, "node A back and its lost calls recorded")
        await eventually(lambda: _drained(writer), 20, "writer drained")
        rows = await empty_db.fetch("SELECT node, linkedid, src, outcome, answer, \"end\", line FROM cdr "
                                    "WHERE src = ANY($1::text[])", sorted(numbers))
        keys = [(r["node"], r["linkedid"]) for r in rows]
        on_a = [r for r in rows if r["node"] == "a"]
        on_b = [r for r in rows if r["node"] == "b"]
        lost_a = {r["src"] for r in on_a if r["outcome"] == "lost_by_pbx"}
        answered_b = {r["src"] for r in on_b if r["outcome"] == "answered"}
        link_lost = followers["a"].watch.startup  # the new start time, for the figures
        print(
            f"\nfollowed: offered {len(burst)}, answered {result.successful}, failed {result.failed}; sent to A "
            f"before the kill {len(sent_to_a)} (up on A {len(up_on_a)}, failed over {len(failed_over)}), after "
            f"{len(after_kill)}; A's correlator held {open_on_a} calls open at the kill; records: node a "
            f"{len(on_a)} (lost_by_pbx {len(lost_a)}, answered before the cut "
            f"{sum(1 for r in on_a if r['answer'] is not None)}), node b {len(on_b)} (answered {len(answered_b)}); "
            f"duplicates {len(keys) - len(set(keys))}; A restarted at {link_lost}"
        )
        assert up_on_a and after_kill, "the kill must fall inside the burst"
        assert len(keys) == len(set(keys))
        # every call A was running is recorded, lost by A, ended when the link went (at the kill)
        assert up_on_a <= lost_a <= sent_to_a, {"up on A": sorted(up_on_a), "lost": sorted(lost_a)}
        assert all(r["outcome"] == "lost_by_pbx" for r in on_a), [dict(r) for r in on_a]
        kill_time = dt.datetime.fromtimestamp(killed, tz=dt.UTC)
        assert all(abs((r["end"] - kill_time).total_seconds()) < 2 for r in on_a)
        # the calls after the kill (and those that failed over) are B's, answered, once each
        assert failed_over | after_kill <= answered_b
        assert len(on_b) == len({r["src"] for r in on_b})
    finally:
        for follower in followers.values():
            await follower.stop()
        await writer.stop()
        await pool.close()


async def _drained(writer: CdrWriter) -> bool:
    try:
        await asyncio.wait_for(writer.drain(), 1)
    except TimeoutError:
        return False
    return True
