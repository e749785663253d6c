"""The web's live view over two followed Asterisk nodes (issue 13): one board, every node's callers.

Real peers: the app on loopback (aiohttp's test server) over the real PostgreSQL, two real
``LiveState``s booted from the QueueStatus recorded on the sandbox Asterisk 22 and fed AMI
traffic recorded there, wired as ``start_service`` wires them (``web.wiring.merged_live`` over
``Service.live_by_node``). Node a's link drops (``mark_unsynced``, as its follower does): the
wallboard counts the caller waiting on node b and says node a is unreachable.
"""

from __future__ import annotations

import asyncio
import copy
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import jsonschema_rs
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from cdr.migrate import migrate
from config.models import Hotline
from queues.state import LiveState
from tests.conftest import drop_database, recreate_database
from tests.unit.test_state_merge import feed, recorded
from tests.web.conftest import FixedRules, RecordingDesk, api_token, booted_live, create_users
from tests.web.test_api import join, read_event
from web.app import make_app
from web.deps import WebDeps
from web.ports import FixedHotline
from web.wiring import merged_live

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]


@dataclass
class FollowedNodes:
    """What ``web.wiring.merged_live`` reads of ``aiguilleur.service.Service``: its nodes' live states."""

    live_by_node: dict[str, LiveState]


@dataclass
class TwoNodes:
    client: TestClient[Any, Any]
    nodes: dict[str, LiveState]
    bearer: dict[str, str]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def two_nodes(hotline: Hotline) -> AsyncIterator[TwoNodes]:
    url_db = f"postgresql://postgres@127.0.0.1:5432/aiguilleur_nodes_{os.getpid()}"
    await recreate_database(url_db)
    pool = await asyncpg.create_pool(url_db, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        await create_users(pool)
        nodes = {"a": booted_live(hotline), "b": booted_live(hotline)}
        deps = WebDeps(pool=pool, live=merged_live(FollowedNodes(nodes), nodes["a"]), hotline=FixedHotline(hotline),
                       desk=RecordingDesk({line for line, _ in hotline.lines()}), rules=FixedRules(hotline),
                       feed_interval=0.05, today_interval=0.5)
        async with TestClient(TestServer(make_app(deps), host="127.0.0.1")) as client:
            token = await api_token(str(client.make_url("")).rstrip("/"), "sam")
            yield TwoNodes(client, nodes, {"Authorization": f"Bearer {token}"})
    finally:
        await pool.close()
        await drop_database(url_db)


def json_schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    """An OpenAPI 3.0 component as a plain JSON schema: references inlined, ``nullable`` as a null type."""
    def plain(node: Any) -> Any:
        if isinstance(node, list):
            return [plain(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return plain(document["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
        out = {key: plain(value) for key, value in node.items() if key != "nullable"}
        if node.get("nullable") and "type" in out:
            out["type"] = [out["type"], "null"]
        return out

    return plain(copy.deepcopy(document["components"]["schemas"][name]))  # type: ignore[no-any-return]


async def test_wallboard_counts_a_caller_on_node_b_and_says_node_a_is_unreachable(two_nodes: TwoNodes) -> None:
    client, nodes = two_nodes.client, two_nodes.nodes
    feed(nodes["a"], recorded("queue_abandon_call.raw", until="QueueCallerJoin"))  # cut with node a
    feed(nodes["b"], recorded("answered_call.raw", until="QueueCallerJoin"))
    async with client.get("/api/live", headers=two_nodes.bearer) as response:
        assert response.status == 200
        both = await response.json()
    assert both["waiting"] == 2 and both["synced"]
    assert [(n["node"], n["synced"], n["waiting"]) for n in both["nodes"]] == [("a", True, 1), ("b", True, 1)]

    nodes["a"].mark_unsynced()  # node a killed: its follower's link drops
    async with client.get("/api/live", headers=two_nodes.bearer) as response:
        board = await response.json()
    assert board["synced"] and board["waiting"] == 1
    [crafts] = [q for q in board["queues"] if q["name"] == "sector-crafts"]
    assert [c["number"] for c in crafts["callers"]] == ["0320123456"]  # node b's caller, node a's is gone
    [a, b] = board["nodes"]
    assert (a["node"], a["synced"], a["text"]) == ("a", False, "nœud a : injoignable")
    assert (b["node"], b["synced"], b["waiting"]) == ("b", True, 1)

    async with client.get("/api/openapi.json") as response:
        document = await response.json()
    jsonschema_rs.validate(json_schema(document, "Wallboard"), board)  # the new field, as documented

    async with client.get("/wallboard", headers=two_nodes.bearer) as response:
        page = await response.text()
    assert response.status == 200 and 'id="nodes"' in page and "nœud a : injoignable" in page


async def test_the_live_feed_pushes_an_event_of_either_node(two_nodes: TwoNodes) -> None:
    client, nodes = two_nodes.client, two_nodes.nodes
    nodes["a"].mark_unsynced()  # node a is down (as the test above leaves it), node b carries the calls
    async with client.get("/api/live/stream", headers=two_nodes.bearer) as response:
        first = await read_event(response, "wallboard")
        waiting = first["waiting"]
        assert isinstance(waiting, int)
        nodes["b"].apply(join("9300.1", "sector-commerce", "0320930001", "Commerce Nord"))
        while (board := await asyncio.wait_for(read_event(response, "wallboard"), 2.0))["waiting"] == waiting:
            pass
        assert board["waiting"] == waiting + 1
        nodes["a"].apply(join("9300.2", "sector-commerce", "0320930002", "Commerce Sud"))  # a is down: not shown
        nodes["b"].apply(join("9300.3", "sector-liberal", "0320930003", "Cabinet Est"))
        while (board := await asyncio.wait_for(read_event(response, "wallboard"), 2.0))["waiting"] == waiting + 1:
            pass
        assert board["waiting"] == waiting + 2
        numbers = {c["number"] for q in board["queues"] for c in q["callers"]}  # type: ignore[attr-defined]
        assert {"0320930001", "0320930003"} <= numbers and "0320930002" not in numbers
