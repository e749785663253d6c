"""The web's live view after a node failover matches ``QueueStatus`` on the surviving node (issue 13).

Real peers only: the cluster of ``test_kamailio_failover_real`` (Kamailio 5.6 with the generated
``kamailio.cfg``, two sandbox Asterisk 22 nodes, the 36 advisors' lines REGISTERed to Kamailio
and logged in on both nodes, SIPp callers at the regional number taking the dialplan's degraded
path), and the service (``start_service``, in this process) following both nodes over AMI
(``ami_nodes`` a, b) on its own PostgreSQL database, its web on a loopback port.

Node a is SIGKILLed. Every line but two is paused on node b (over b's own AMI), then callers
dial through Kamailio, which sends them to b: two lines talk, the others' callers wait. The
service's merged live view (``web.wiring.merged_live`` over ``Service.live_by_node``, what the
web reads) must then say what b's own ``QueueStatus`` says: every queue's members and their
pauses, the lines in a call, the callers waiting; and the wallboard JSON says node a is
unreachable.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from aiguilleur.cluster import SandboxCluster
from aiguilleur.service import start_service
from config.models import Hotline
from config.settings import AmiNodeSettings, AmiSettings, FastAgiSettings, HttpSettings, Settings
from queues.ami import AmiClient
from queues.snapshot import LiveSnapshot
from queues.state import BUSY_DEVICE_STATES
from sandbox.ports import free_tcp_port
from sandbox.sipp import CallScript
from tests.conftest import drop_database, recreate_database
from tests.pbx.test_kamailio_failover_real import INVITE_TIMEOUT_MS, PROBE_INTERVAL
from tests.web.conftest import PASSWORD, api_token
from web import store
from web.passwords import hash_password
from web.wiring import merged_live

pytestmark = [pytest.mark.pbx, pytest.mark.asyncio(loop_scope="module")]

TALK_MS = 25_000  # the advisors' conversations outlast the comparison
FREE_LINES = ("cma-01", "cma-02")  # the two lines left unpaused on node b: the other callers wait
Facts = tuple[frozenset[tuple[str, str, bool]], frozenset[str], frozenset[tuple[str, str]]]


@pytest.fixture(scope="module")
def cluster(hotline: Hotline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxCluster]:
    with SandboxCluster(hotline, tmp_path_factory.mktemp("live-by-node"), probe_interval=PROBE_INTERVAL,
                        invite_timeout_ms=INVITE_TIMEOUT_MS, talk_ms=TALK_MS) as cluster:
        yield cluster


def facts_of_queue_status(replies: list[dict[str, str]]) -> Facts:
    """(queue, line, paused) of every member, the lines in a call, (queue, uniqueid) of every caller waiting."""
    members, busy, waiting = set(), set(), set()
    for item in replies:
        if item.get("Event") == "QueueMember":
            line = item.get("Name") or item.get("StateInterface", "").partition("/")[2]
            members.add((item["Queue"], line, item.get("Paused") == "1"))
            if item.get("InCall") == "1" or int(item.get("Status") or 0) in BUSY_DEVICE_STATES:
                busy.add(line)
        elif item.get("Event") == "QueueEntry":
            waiting.add((item["Queue"], item["Uniqueid"]))
    return frozenset(members), frozenset(busy), frozenset(waiting)


def facts_of_snapshot(snapshot: LiveSnapshot) -> Facts:
    members = {(name, line, member.paused) for name, view in snapshot.queues.items()
               for line, member in view.members.items()}
    busy = {line for line, state in snapshot.lines.items() if state.status == "busy"}
    waiting = {(name, caller.uniqueid) for name, view in snapshot.queues.items() for caller in view.callers}
    return frozenset(members), frozenset(busy), frozenset(waiting)


async def test_after_node_a_is_killed_the_live_view_is_node_b_s_queue_status(
    cluster: SandboxCluster, hotline: Hotline, tmp_path: Path,
) -> None:
    cluster.wait_flags({"a": "AP", "b": "AP"}, timeout=10)
    database_url = f"postgresql://postgres@127.0.0.1:5432/aiguilleur_live_by_node_{os.getpid()}"
    await recreate_database(database_url)
    fast_links = {"backoff_max": 2.0}
    settings = Settings(
        database_url=database_url, state_dir=tmp_path / "state",
        ami=AmiSettings(port=cluster.amis["a"].port, **fast_links), fastagi=FastAgiSettings(port=free_tcp_port()),
        http=HttpSettings(port=free_tcp_port()), node_lost_after=None,
        ami_nodes=[AmiNodeSettings(name=name, host=ami.host, port=ami.port) for name, ami in cluster.amis.items()],
    )
    service = await start_service(settings, hotline)
    node_b = AmiClient(cluster.amis["b"], on_event=lambda _event: None)
    calls: asyncio.Task[object] | None = None
    try:
        view = merged_live(service, service.live)  # what web.wiring.deps_from_service hands the web
        assert set(service.live_by_node) == {"a", "b"}
        await node_b.start()
        await node_b.wait_ready(15)
        hashed = await asyncio.to_thread(hash_password, PASSWORD)
        await store.add_user(service.pool, "sam", "supervisor", None, hashed)
        web_url = f"http://127.0.0.1:{settings.http.port}"
        token = await api_token(web_url, "sam")

        deadline = time.monotonic() + 20
        while [n.synced for n in view.snapshot().nodes] != [True, True]:
            assert time.monotonic() < deadline, f"both nodes synced: {view.snapshot().nodes}"
            await asyncio.sleep(0.2)

        killed = await asyncio.to_thread(cluster.kill, "a")
        deadline = time.monotonic() + 10
        while view.snapshot().unsynced_nodes != ("a",):
            assert time.monotonic() < deadline, "node a's link loss seen"
            await asyncio.sleep(0.1)
        lost_after = time.time() - killed
        for line, _partner in hotline.lines():
            if line not in FREE_LINES:
                await node_b.send({"Action": "QueuePause", "Interface": f"PJSIP/{line}", "Paused": "true",
                                   "Reason": "test bascule"})

        # Artisanat (2): CMA, whose two free lines lead in the crafts queue, answers them first.
        scripts = [CallScript(digits=["2"], caller_number=f"03298{os.getpid() % 1000:03d}{i:02d}",
                              pause_before_ms=1000, hold_after_ms=30_000) for i in range(6)]
        dialled = time.monotonic()
        calls = asyncio.create_task(asyncio.to_thread(cluster.place, scripts, 3, len(scripts), 120))

        # Compared once the calls settled: two lines talking, the other callers waiting on b.
        deadline = time.monotonic() + 40
        while True:
            truth = facts_of_queue_status(await node_b.send({"Action": "QueueStatus"}, idempotent=True))
            seen = facts_of_snapshot(view.snapshot())
            settled = len(truth[1]) == len(FREE_LINES) and len(truth[2]) == len(scripts) - len(FREE_LINES)
            if settled and seen == truth:
                break
            assert time.monotonic() < deadline, {
                "members only in the view": sorted(seen[0] - truth[0])[:10],
                "members only in QueueStatus": sorted(truth[0] - seen[0])[:10],
                "busy (view, QueueStatus)": (sorted(seen[1]), sorted(truth[1])),
                "waiting (view, QueueStatus)": (sorted(seen[2]), sorted(truth[2])),
            }
            await asyncio.sleep(0.5)
        settled_after = time.monotonic() - dialled
        members, busy, waiting = truth
        snapshot = view.snapshot()
        assert snapshot.synced and snapshot.unsynced_nodes == ("a",)
        assert busy == set(FREE_LINES)
        assert all(paused == (line not in FREE_LINES) for _queue, line, paused in members)

        async with aiohttp.ClientSession() as http, http.get(
                f"{web_url}/api/live", headers={"Authorization": f"Bearer {token}"}) as response:
            board = await response.json()
        a, b = board["nodes"]
        print(f"\nnode a killed, its link loss seen {lost_after:.2f} s later; view equal to b's QueueStatus "
              f"{settled_after:.1f} s after the first dial; on b: {len(members)} memberships, "
              f"busy {sorted(busy)}, {len(waiting)} callers waiting; wallboard: waiting {board['waiting']}, "
              f"strip {[n['text'] for n in board['nodes']]}")
        assert board["synced"] and board["waiting"] == len(waiting)
        assert (a["node"], a["synced"], a["text"]) == ("a", False, "nœud a : injoignable")
        assert (b["node"], b["synced"], b["waiting"], b["lines_busy"]) == ("b", True, len(waiting), len(busy))
    finally:
        if calls is not None:
            await calls  # the callers hang up by themselves (hold_after_ms)
        await node_b.stop()
        await service.stop()
        await drop_database(database_url)
