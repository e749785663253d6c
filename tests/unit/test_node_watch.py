"""NodeWatch (issue 13) against a fake Asterisk over loopback: a node that restarted under its calls
has them recorded lost_by_pbx at the link loss; a link lost while Asterisk kept running does not."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aiguilleur.nodes import NodeWatch
from cdr.correlator import CallRecord, CdrItem
from queues.ami import AmiClient
from tests.unit.test_ami_client import FakeAsterisk, ami_settings, eventually
from tests.unit.test_node_lost import correlator, events_until_answered

LOST_AT = dt.datetime(2026, 12, 5, 20, 0, tzinfo=dt.UTC)


class RestartingAsterisk(FakeAsterisk):
    """Answers CoreStatus with its start time; ``restart()`` changes it (a new process)."""

    def __init__(self) -> None:
        super().__init__()
        self.started = "2026-12-05 19:00:00"

    def _replies(self, action: dict[str, str]) -> list[dict[str, str]]:
        if action.get("Action") == "CoreStatus":
            date, time = self.started.split()
            return [{"Response": "Success", "ActionID": action.get("ActionID", ""),
                     "CoreStartupDate": date, "CoreStartupTime": time, "CoreCurrentCalls": "0"}]
        return super()._replies(action)


@pytest.fixture
async def node() -> AsyncIterator[RestartingAsterisk]:
    server = RestartingAsterisk()
    await server.start()
    yield server
    await server.stop()


async def follow(server: FakeAsterisk, **watch: Any) -> tuple[AmiClient, NodeWatch, list[CdrItem]]:
    submitted: list[CdrItem] = []
    follower = correlator("a")
    for event in events_until_answered("answered_call.raw"):
        follower.feed(event)  # a call up on the node, answered by a line
    nodewatch = NodeWatch("a", follower, submitted.append, clock=lambda: LOST_AT, **watch)

    async def on_ready() -> None:
        await nodewatch.link_up(client)

    client = AmiClient(ami_settings(server.port), on_event=lambda _: None, on_ready=on_ready,
                       on_down=nodewatch.link_down)
    await client.start()
    await client.wait_ready(3)
    assert nodewatch.startup == "2026-12-05 19:00:00"
    return client, nodewatch, submitted


async def test_a_node_back_with_a_new_start_time_has_its_open_calls_recorded_lost(node: RestartingAsterisk) -> None:
    client, nodewatch, submitted = await follow(node)
    try:
        node.started = "2026-12-05 20:00:03"
        node.hang_up()
        await eventually(lambda: bool(submitted))
        [record] = submitted
        assert isinstance(record, CallRecord)
        assert (record.outcome, record.node, record.end) == ("lost_by_pbx", "a", LOST_AT)
        assert nodewatch.correlator.open_calls() == 0 and nodewatch.startup == "2026-12-05 20:00:03"
    finally:
        await client.stop()


async def test_a_link_lost_while_the_node_kept_running_leaves_the_calls_open(node: RestartingAsterisk) -> None:
    client, nodewatch, submitted = await follow(node)
    try:
        node.hang_up()
        await eventually(lambda: len(node.actions("CoreStatus")) == 2)
        await client.wait_ready(3)
        assert submitted == [] and nodewatch.correlator.open_calls() == 1 and nodewatch.lost_at is None
    finally:
        await client.stop()


async def test_a_node_unreachable_longer_than_lost_after_has_its_calls_recorded_lost(
    node: RestartingAsterisk,
) -> None:
    client, nodewatch, submitted = await follow(node, lost_after=0.3)
    try:
        await node.stop()  # gone, and it does not come back
        await eventually(lambda: bool(submitted))
        assert [getattr(r, "outcome", None) for r in submitted] == ["lost_by_pbx"]
    finally:
        await client.stop()
        await nodewatch.stop()
        await asyncio.sleep(0)


async def test_a_stopped_watch_leaves_no_timer_behind_even_when_the_link_drops_after() -> None:
    submitted: list[CdrItem] = []
    follower = correlator("a")
    for event in events_until_answered("answered_call.raw"):
        follower.feed(event)
    nodewatch = NodeWatch("a", follower, submitted.append, lost_after=30, clock=lambda: LOST_AT)
    nodewatch.link_down()  # a loss timer is pending when the service stops
    before = {t for t in asyncio.all_tasks() if t.get_name() == "node-a-lost-after"}
    assert before
    await nodewatch.stop()
    assert all(t.done() for t in before)
    nodewatch.link_down()  # the stop drops the link: no new timer
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "node-a-lost-after" and not t.done()]
    assert submitted == []  # nothing recorded lost by a stop
