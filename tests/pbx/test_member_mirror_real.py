"""Advisors' logins and pauses mirrored to the standby node (issue 13), on two real Asterisk 22.

The cluster of ``test_kamailio_failover_real`` (Kamailio, nodes ``a`` and ``b``, SIPp advisors
logged in on both) and the service following both nodes (``settings.ami_nodes``). A change made
on node ``a`` only (the service's advisor desk, which acts on the first node, or a softphone's
feature code run by ``a``'s dialplan) must reach ``b``: each check reads ``b``'s own answer
(AMI ``QueueStatus`` on ``b``), never the service's live state. Then ``b`` restarts with its
stale members (app_queue's persistentmembers) and is reconciled to ``a``'s when it is back.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
import pytest_asyncio

from aiguilleur.cluster import SandboxCluster
from aiguilleur.confgen import LOGIN_CODE, LOGOUT_CODE
from aiguilleur.service import Service
from config.models import Hotline
from config.settings import AmiNodeSettings, FastAgiSettings, HttpSettings, Settings
from queues.advisors import AdvisorDesk
from queues.ami import AmiClient, AmiNotConnected
from sandbox.ports import free_tcp_port
from sandbox.sipp import CallScript, run_calls
from tests.fixtures.ami.record_agent_traces import OPEN_INSTANT
from tests.pbx.real_stack import running_service
from tests.pbx.test_kamailio_failover_real import INVITE_TIMEOUT_MS, PROBE_INTERVAL

pytestmark = [pytest.mark.pbx, pytest.mark.asyncio(loop_scope="module")]

LINE = "cma-03"
STALE_AT_START = "cci-05"  # logged out on b only before the service starts
# line -> queue -> (penalty, paused, reason, wrap-up): what a node's app_queue says
Seats = dict[str, dict[str, tuple[int, bool, str, int]]]
MEMBER_EVENTS = ("QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause", "QueueMemberPenalty")


@pytest.fixture(scope="module")
def cluster(hotline: Hotline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxCluster]:
    with SandboxCluster(hotline, tmp_path_factory.mktemp("mirror"), probe_interval=PROBE_INTERVAL,
                        invite_timeout_ms=INVITE_TIMEOUT_MS) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def member_events() -> dict[str, list[str]]:
    return {"a": [], "b": []}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probes(cluster: SandboxCluster, member_events: dict[str, list[str]]) -> AsyncIterator[dict[str, AmiClient]]:
    """Our own AMI sessions on each node, to read what each Asterisk says (not the service's state);
    every member event each node sends goes to ``member_events``."""

    def recorder(name: str) -> Callable[[dict[str, str]], None]:
        def record(event: dict[str, str]) -> None:
            if event.get("Event") in MEMBER_EVENTS:
                member_events[name].append(f"{event['Event']} {event.get('MemberName')} {event.get('Queue')}")
        return record

    clients = {name: AmiClient(settings.model_copy(update={"backoff_max": 1.0}), on_event=recorder(name))
               for name, settings in cluster.amis.items()}
    for client in clients.values():
        await client.start()
        await client.wait_ready(15)
    yield clients
    for client in clients.values():
        await client.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(cluster: SandboxCluster, hotline: Hotline, database_url: str, probes: dict[str, AmiClient],
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """The service following a and b; before it starts, b has lost a line a still has."""
    await AdvisorDesk(probes["b"], lambda: hotline).logout(STALE_AT_START)
    ami = cluster.amis["a"].model_copy(update={"backoff_initial": 0.2, "backoff_max": 1.0})
    settings = Settings(
        database_url=f"{database_url}_mirror", state_dir=tmp_path_factory.mktemp("mirror-state"), now=OPEN_INSTANT,
        ami=ami, ami_nodes=[AmiNodeSettings(name=name, host=s.host, port=s.port) for name, s in cluster.amis.items()],
        fastagi=FastAgiSettings(port=free_tcp_port()), http=HttpSettings(port=free_tcp_port()),
    )
    async with running_service(settings, hotline) as running:
        await running.followers[0].ami.wait_ready(30)  # b's ready hook ran: b reconciled to a
        yield running


async def seats(client: AmiClient) -> Seats:
    """Every member of every queue, from the node's ``QueueStatus``."""
    out: Seats = {}
    for reply in await client.send({"Action": "QueueStatus"}, idempotent=True):
        if reply.get("Event") == "QueueMember":
            line = reply.get("Name") or reply.get("MemberName", "")
            out.setdefault(line, {})[reply["Queue"]] = (
                int(reply.get("Penalty", "0")), reply.get("Paused") == "1",
                reply.get("PausedReason", "") if reply.get("Paused") == "1" else "", int(reply.get("Wrapuptime", "-1")))
    return out


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 15.0) -> float:
    """Wait for ``check``; how long it took (seconds)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < within, what
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def alike(probes: dict[str, AmiClient], line: str | None = None) -> bool:
    try:
        a, b = await seats(probes["a"]), await seats(probes["b"])
    except AmiNotConnected:  # our own session to a restarted node is not back yet
        return False
    return a == b if line is None else a.get(line) == b.get(line)


async def test_at_start_the_first_node_wins_and_both_hold_the_same_members(
    probes: dict[str, AmiClient], service: Service,
) -> None:
    await until(lambda: alike(probes), "b's members are a's")
    assert LINE in (await seats(probes["b"]))
    assert STALE_AT_START in (await seats(probes["b"]))  # taken back from a, the first node


async def test_a_logout_and_login_on_a_reach_b_with_the_same_penalties(
    probes: dict[str, AmiClient], service: Service,
) -> None:
    await service.desk.logout(LINE)  # acts on the first node only
    assert LINE not in await seats(probes["a"])
    took = await until(lambda: _absent(probes["b"], LINE), f"{LINE} out of b's queues")
    print(f"\nlogout reached b in {took:.2f} s")

    await service.desk.login(LINE)
    on_a = (await seats(probes["a"]))[LINE]
    assert on_a and all(not paused for _penalty, paused, _reason, _wrapup in on_a.values())
    took = await until(lambda: alike(probes, LINE), f"{LINE} back on b as on a")
    assert (await seats(probes["b"]))[LINE] == on_a  # every queue, the same penalties
    print(f"login ({len(on_a)} queues) reached b in {took:.2f} s")
    assert all(wrapup > 0 for *_seat, wrapup in on_a.values())  # the partner's wrap-up, carried to b too
    await until(lambda: alike(probes), "both nodes alike (the rebaser's changes on a included)")


async def test_a_pause_with_its_reason_and_the_unpause_reach_b(probes: dict[str, AmiClient], service: Service) -> None:
    await service.desk.pause(LINE, "repas")
    took = await until(lambda: _paused_everywhere(probes["b"], LINE, "repas"), f"{LINE} paused on b with its reason")
    print(f"\npause reached b in {took:.2f} s")
    await service.desk.unpause(LINE)
    took = await until(lambda: _unpaused(probes["b"], LINE), f"{LINE} unpaused on b")
    print(f"unpause reached b in {took:.2f} s")
    assert await alike(probes, LINE)


async def test_once_alike_the_nodes_stay_quiet_no_change_echoes_back_and_forth(
    probes: dict[str, AmiClient], service: Service, member_events: dict[str, list[str]],
) -> None:
    """Loop-free: the echo of a mirrored change (its events on b) plans nothing back to a; each
    change made on a (the pause, and whatever the rebaser re-ranks after it) is made once on b."""
    start = {name: len(seen) for name, seen in member_events.items()}
    await service.desk.pause(LINE, "repas")
    await until(lambda: _paused_everywhere(probes["b"], LINE, "repas"), f"{LINE} paused on b")
    await asyncio.sleep(3)  # several settle periods: a copy back and forth would show here
    before = {name: len(seen) for name, seen in member_events.items()}
    await asyncio.sleep(3)
    after = {name: len(seen) for name, seen in member_events.items()}
    assert after == before, {name: member_events[name][before[name]:][:5] for name in after}
    made = {name: Counter(member_events[name][start[name]:]) for name in member_events}
    print(f"\nmember events of the pause: a {made['a'].total()}, b {made['b'].total()}")
    assert made["a"] == made["b"] and made["a"].total() > 0
    await service.desk.unpause(LINE)
    await until(lambda: _unpaused(probes["b"], LINE), f"{LINE} unpaused on b")


async def test_a_softphone_feature_code_run_by_a_reaches_b(
    cluster: SandboxCluster, probes: dict[str, AmiClient], service: Service,
) -> None:
    """*46 then *45 dialled by the line's softphone through Kamailio, which sends them to a (the active node)."""
    await _dial(cluster, LINE, LOGOUT_CODE)
    assert LINE not in await seats(probes["a"])
    await until(lambda: _absent(probes["b"], LINE), f"*46 on a: {LINE} out of b's queues")
    await _dial(cluster, LINE, LOGIN_CODE)
    assert LINE in await seats(probes["a"])
    await until(lambda: alike(probes, LINE), f"*45 on a: {LINE} back on b as on a")


async def test_b_restarted_with_stale_members_is_reconciled_to_a_when_back(
    cluster: SandboxCluster, probes: dict[str, AmiClient], service: Service,
) -> None:
    other = "cma-04"
    await until(lambda: alike(probes), "both nodes alike before the restart")
    await asyncio.to_thread(cluster.nodes["b"].stop)
    # While b is down: a line leaves, another pauses, on a only; b keeps its members in its astdb.
    await service.desk.logout(other)
    await service.desk.pause(LINE, "formation")
    stale = _persisted_lines(cluster.nodes["b"].instance_dir)
    assert other in stale and len(stale) == len(cluster.hotline.lines()), "b will start with its old members"
    await asyncio.to_thread(cluster.nodes["b"].start)
    took = await until(lambda: alike(probes), "b reconciled to a once back", within=40)
    b = await seats(probes["b"])
    assert other not in b and _paused_everywhere_in(b, LINE, "formation")
    print(f"\nb reconciled to a {took:.1f} s after its start returned (booted)")
    await service.desk.unpause(LINE)
    await service.desk.login(other)
    await until(lambda: alike(probes), "both nodes alike after the test")


# ----------------------------------------------------------------------------- helpers


async def _absent(client: AmiClient, line: str) -> bool:
    return line not in await seats(client)


async def _paused_everywhere(client: AmiClient, line: str, reason: str) -> bool:
    return _paused_everywhere_in(await seats(client), line, reason)


def _paused_everywhere_in(found: Seats, line: str, reason: str) -> bool:
    mine = found.get(line, {})
    return bool(mine) and all(paused and why == reason for _penalty, paused, why, _wrapup in mine.values())


async def _unpaused(client: AmiClient, line: str) -> bool:
    mine = (await seats(client)).get(line, {})
    return bool(mine) and not any(paused for _penalty, paused, _reason, _wrapup in mine.values())


def _persisted_lines(instance_dir: Path) -> set[str]:
    """The lines a stopped node's app_queue will load back at its start (persistentmembers, in astdb)."""
    with closing(sqlite3.connect(instance_dir / "lib-db" / "astdb.sqlite3")) as db:
        rows = db.execute("SELECT value FROM astdb WHERE key LIKE '/Queue/PersistentMembers/%'").fetchall()
    return {line for (value,) in rows for line in re.findall(r"PJSIP/([a-z0-9-]+);", value)}


async def _dial(cluster: SandboxCluster, line: str, code: str) -> None:
    """The line's softphone (on the address its line registered from) dials a feature code at Kamailio,
    which names the line to the active node (``X-Aiguilleur-Line``, kamailio_confgen)."""
    script = CallScript(digits=[], caller_number=line, caller_name=line, pause_before_ms=0, hold_after_ms=3000)
    result = await asyncio.to_thread(run_calls, [script], target=cluster.front.host, port=cluster.front.port,
                                     number=code, local_ip="127.0.0.1", timeout_s=30)
    assert result.ok and result.calls[0].answered, result.describe()


async def test_a_restarted_is_reconciled_to_b_which_stayed_up(
    cluster: SandboxCluster, probes: dict[str, AmiClient], service: Service,
) -> None:
    """The other way round: the first node restarts; a logout made on b meanwhile wins."""
    gone = "cci-02"
    await until(lambda: alike(probes), "both nodes alike before the restart")
    await asyncio.to_thread(cluster.nodes["a"].stop)
    await AdvisorDesk(probes["b"], lambda: cluster.hotline).logout(gone)  # on b only: a is down
    assert gone in _persisted_lines(cluster.nodes["a"].instance_dir)
    await asyncio.to_thread(cluster.nodes["a"].start)
    took = await until(lambda: alike(probes), "a reconciled to b once back", within=40)
    assert gone not in await seats(probes["a"])
    print(f"\na reconciled to b {took:.1f} s after its start returned (booted)")
    await service.ami.wait_ready(15)
    await service.desk.login(gone)
    await until(lambda: alike(probes), "both nodes alike after the test")
    assert gone in await seats(probes["b"])
