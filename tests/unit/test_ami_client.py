"""AmiClient against a fake AMI server on 127.0.0.1, for faults a real Asterisk can't make on demand.

The fake's replies are copied from real Asterisk 22 traces (tests/fixtures/ami/,
recorded by tests/pbx/test_ami_real.py); everything else about the client is
also checked against the real sandbox Asterisk there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from panoramisk.ami_protocol import AMIProtocol
from pydantic import SecretStr
from structlog.testing import capture_logs

from config.settings import AmiSettings
from queues.ami import (
    AmiActionError,
    AmiActionTimeout,
    AmiClient,
    AmiNotConnected,
    Backoff,
)
from queues.ami_parse import AmiStreamParser, parse_ami_stream
from sandbox.ports import free_tcp_port

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
SECRET = "s3cret"

# ---------------------------------------------------------------- real framing, from recordings

_SESSION = (FIXTURES / "asterisk22_session.raw").read_bytes()
_REAL = parse_ami_stream(_SESSION)
_LOGIN_FAILED = parse_ami_stream((FIXTURES / "asterisk22_login_failed.raw").read_bytes())


def _real(predicate: Callable[[dict[str, str]], bool]) -> dict[str, str]:
    return next(m for m in _REAL if predicate(m))


BANNER = _SESSION[: _SESSION.index(b"\r\n") + 2]  # b"Asterisk Call Manager/11.0.0\r\n"
REAL_LOGIN_OK = _REAL[0]
REAL_FULLY_BOOTED = _REAL[1]
REAL_LOGIN_FAILED = _LOGIN_FAILED[0]
REAL_PING = _real(lambda m: m.get("Ping") == "Pong")
REAL_ERROR = _real(lambda m: m.get("Response") == "Error")
REAL_USER_EVENT = _real(lambda m: m.get("Event") == "UserEvent")
_QS_ID = _real(lambda m: m.get("Message") == "Queue status will follow")["ActionID"]
REAL_QUEUE_STATUS = [m for m in _REAL if m.get("ActionID") == _QS_ID]
REAL_GOODBYE = _REAL[-1]
REAL_SHUTDOWN = next(
    m for m in parse_ami_stream((FIXTURES / "asterisk22_restart.raw").read_bytes()) if m.get("Event") == "Shutdown"
)


def encode(message: dict[str, str]) -> bytes:
    """Write a message the way Asterisk does (a multi-line value is a repeated header)."""
    lines = [f"{key}: {part}" for key, value in message.items() for part in value.split("\n")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def reply(template: dict[str, str], action_id: str) -> dict[str, str]:
    return {key: (action_id if key == "ActionID" else value) for key, value in template.items()}


# ---------------------------------------------------------------- the fake server


class FakeAsterisk:
    """A loopback AMI server; it records every action it received, per connection."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.received: list[tuple[int, dict[str, str]]] = []
        self.connected_at: list[float] = []
        self.muted: set[int] = set()  # connections that answer nothing (half-open)
        self.close_on: set[str] = set()  # actions that make the server hang up unanswered
        self.close_next: set[str] = set()  # the same, once
        self.ignore: set[str] = set()  # actions left unanswered
        self.late: dict[str, float] = {}  # actions answered after a delay
        self._writers: list[asyncio.StreamWriter] = []
        self._handlers: set[asyncio.Task[Any]] = set()
        self._late: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for _, a in self.received if a.get("Action") == name]

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in self._writers:
            writer.close()
        for task in self._late:
            task.cancel()
        # Handlers end on EOF; cancelling them trips a Python 3.11 streams callback bug.
        await asyncio.gather(*self._late, *self._handlers, return_exceptions=True)

    async def push(self, *chunks: bytes, pause: float = 0.05) -> None:
        """Write raw chunks on the newest connection, as separate TCP writes."""
        writer = self._writers[-1]
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(pause)  # lets the client read each chunk on its own

    def hang_up(self) -> None:
        self._writers[-1].close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        index = len(self.connected_at)
        self.connected_at.append(time.monotonic())
        self._writers.append(writer)
        parser = AmiStreamParser()
        try:
            writer.write(BANNER)
            while data := await reader.read(65536):
                for action in parser.feed(data):
                    self.received.append((index, action))
                    if index not in self.muted and not await self._answer(action, writer):
                        return
        except ConnectionError:
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    async def _answer(self, action: dict[str, str], writer: asyncio.StreamWriter) -> bool:
        """Answer like Asterisk 22; False when the connection must end."""
        name, action_id = action.get("Action", ""), action.get("ActionID", "")
        if name in self.close_on or name in self.close_next:
            self.close_next.discard(name)
            return False
        if name in self.ignore:
            return True
        if name in self.late:
            task = asyncio.create_task(self._answer_late(name, action_id, writer))
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return True
        messages = self._replies(action)
        for message in messages:
            writer.write(encode(message))
        await writer.drain()
        return name not in ("Logoff",) and messages[:1] != [reply(REAL_LOGIN_FAILED, action_id)]

    async def _answer_late(self, name: str, action_id: str, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self.late[name])
        for message in self._replies({"Action": name, "ActionID": action_id}):
            writer.write(encode(message))

    def _replies(self, action: dict[str, str]) -> list[dict[str, str]]:
        name, action_id = action.get("Action", ""), action.get("ActionID", "")
        if name == "Login":
            if action.get("Secret") != self.secret:
                return [reply(REAL_LOGIN_FAILED, action_id)]
            return [reply(REAL_LOGIN_OK, action_id), REAL_FULLY_BOOTED]
        if name == "Ping":
            return [reply(REAL_PING, action_id)]
        if name == "Logoff":
            return [reply(REAL_GOODBYE, action_id)]
        if name == "QueueStatus":
            return [reply(m, action_id) for m in REAL_QUEUE_STATUS]
        if name == "QueueAdd":
            return [{"Response": "Success", "ActionID": action_id, "Message": "Added interface to queue"}]
        if name == "UserEvent":
            event = {k: v for k, v in action.items() if k not in ("Action", "ActionID")}
            return [
                {"Response": "Success", "ActionID": action_id, "Message": "Event Sent"},
                {**reply(REAL_USER_EVENT, action_id), **event},
            ]
        message = REAL_ERROR["Message"].replace("Nope", name)
        return [{**reply(REAL_ERROR, action_id), "Message": message}]


# ---------------------------------------------------------------- fixtures and helpers


def ami_settings(port: int, **overrides: Any) -> AmiSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "aiguilleur",
        "secret": SecretStr(SECRET),
        "ping_interval": 0.2,
        "pong_timeout": 0.2,
        "action_timeout": 1.0,
        "backoff_initial": 0.05,
        "backoff_max": 0.4,
    }
    values.update(overrides)
    return AmiSettings(**values)


class Calls:
    """What the client handed to its callbacks, with times."""

    def __init__(self) -> None:
        self.events: list[dict[str, str]] = []
        self.ready: list[float] = []
        self.down: list[float] = []

    def on_event(self, event: dict[str, str]) -> None:
        self.events.append(event)

    async def on_ready(self) -> None:
        self.ready.append(time.monotonic())

    def on_down(self) -> None:
        self.down.append(time.monotonic())

    def named(self, name: str) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("Event") == name]


async def eventually(predicate: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)



def ami_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("ami-")]


@pytest.fixture(autouse=True)
async def no_loop_errors() -> AsyncIterator[None]:
    """Fail on any error the event loop reports (unretrieved exceptions, callback errors)."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield
    loop.set_exception_handler(None)
    assert errors == []


@pytest.fixture
async def fake() -> AsyncIterator[FakeAsterisk]:
    server = FakeAsterisk()
    await server.start()
    yield server
    await server.stop()


ClientFactory = Callable[..., Awaitable[tuple[AmiClient, Calls]]]


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    made: list[AmiClient] = []

    async def make(settings: AmiSettings, **kwargs: Any) -> tuple[AmiClient, Calls]:
        calls = Calls()
        client = AmiClient(
            settings,
            on_event=kwargs.pop("on_event", calls.on_event),
            on_ready=kwargs.pop("on_ready", calls.on_ready),
            on_down=kwargs.pop("on_down", calls.on_down),
            **kwargs,
        )
        made.append(client)
        await client.start()
        return client, calls

    yield make
    for client in made:
        await client.stop()
    assert ami_tasks() == []


# ---------------------------------------------------------------- 1. UTF-8 split across reads


async def test_utf8_character_split_across_two_tcp_writes_arrives_intact(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    client, calls = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)
    raw = encode({"Event": "Newchannel", "CallerIDName": "José", "Uniqueid": "1.1"})
    cut = raw.index("é".encode()) + 1  # between the two bytes of é

    await fake.push(raw[:cut], raw[cut:])

    await eventually(lambda: bool(calls.named("Newchannel")))
    assert calls.named("Newchannel") == [{"Event": "Newchannel", "CallerIDName": "José", "Uniqueid": "1.1"}]


def test_panoramisk_alone_drops_the_split_character() -> None:
    """The gap this client covers; if panoramisk ever fixes it, this fails and we can simplify."""
    seen: list[str] = []

    class Factory:
        def dispatch(self, message: Any) -> None:
            seen.append(message["CallerIDName"])

    protocol = AMIProtocol()
    protocol.connection_made(None)
    protocol.factory = Factory()
    protocol.encoding = "utf8"
    raw = encode({"Event": "Newchannel", "CallerIDName": "José"})
    cut = raw.index("é".encode()) + 1

    protocol.data_received(raw[:cut])
    protocol.data_received(raw[cut:])

    assert seen == ["Jos"]


async def test_invalid_bytes_become_replacement_chars_and_no_event_is_lost(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    client, calls = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)

    await fake.push(
        b"Event: Hangup\r\nCallerIDName: Jos\xff\r\nUniqueid: 1.1\r\n\r\n",
        encode({"Event": "Hangup", "Uniqueid": "1.2"}),
    )

    await eventually(lambda: len(calls.named("Hangup")) == 2)
    assert calls.named("Hangup") == [
        {"Event": "Hangup", "CallerIDName": "Jos\ufffd", "Uniqueid": "1.1"},
        {"Event": "Hangup", "Uniqueid": "1.2"},
    ]


# ---------------------------------------------------------------- 2. half-open link


async def test_half_open_link_is_detected_within_ping_interval_plus_pong_timeout(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    settings = ami_settings(fake.port, ping_interval=0.2, pong_timeout=0.2)
    client, calls = await make_client(settings)
    await client.wait_ready(2)
    await eventually(lambda: len(fake.actions("Ping")) >= 1)  # pings flow and are answered

    with capture_logs() as logs:
        fake.muted.add(0)  # the peer stays connected but never answers again
        muted_at = time.monotonic()
        await eventually(lambda: bool(calls.down))
        detected = calls.down[0] - muted_at
        await eventually(lambda: len(calls.ready) == 2)
        reconnected = calls.ready[1] - calls.down[0]

    assert detected <= settings.ping_interval + settings.pong_timeout + 0.1, detected
    assert detected >= settings.pong_timeout * 0.9, detected  # it waited for the pong
    assert reconnected <= settings.backoff_initial + 0.2, reconnected
    assert len(fake.connected_at) == 2
    assert client.connected
    assert [e["event"] for e in logs if e["event"].startswith("ami.")][:4] == [
        "ami.pong_timeout",
        "ami.disconnected",
        "ami.reconnecting",
        "ami.connected",
    ]
    assert "Ping" in next(e for e in logs if e["event"] == "ami.disconnected")["reason"]


# ---------------------------------------------------------------- 3. reconnect and backoff


def test_backoff_grows_from_initial_doubles_is_capped_and_resets() -> None:
    upper = Backoff(0.5, 30.0, rand=lambda: 0.0)  # no jitter drawn: the envelope itself
    lower = Backoff(0.5, 30.0, rand=lambda: 1.0)  # the most jitter: 25% less

    highs = [upper.next_delay() for _ in range(9)]
    lows = [lower.next_delay() for _ in range(9)]
    upper.reset()

    assert highs == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert lows == [h * 0.75 for h in highs]
    assert upper.next_delay() == 0.5
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


async def test_reconnect_delays_grow_with_jitter_and_are_capped(
    make_client: ClientFactory,
) -> None:
    settings = ami_settings(free_tcp_port(), backoff_initial=0.02, backoff_max=0.16)

    def stamp(_logger: Any, _name: str, event: Any) -> Any:
        event["at"] = time.monotonic()
        return event

    with capture_logs(processors=[stamp]) as logs:
        client, _ = await make_client(settings)
        await eventually(lambda: sum(e["event"] == "ami.reconnecting" for e in logs) >= 7)
        await client.stop()

    waits = [e for e in logs if e["event"] == "ami.reconnecting"][:7]
    fails = [e for e in logs if e["event"] == "ami.connect_failed"]
    delays = [e["delay"] for e in waits]
    envelope = [min(0.02 * 2**n, 0.16) for n in range(7)]
    assert [e["attempt"] for e in waits] == list(range(1, 8))
    for delay, cap in zip(delays, envelope, strict=True):
        assert 0.75 * cap - 1e-3 <= delay <= cap + 1e-3, (delays, envelope)
    assert delays[:4] == sorted(delays[:4]) and len(set(delays[:4])) == 4  # grows to the cap
    assert max(delays) <= settings.backoff_max
    for wait, next_fail in zip(waits, fails[1:], strict=False):  # the client really slept
        assert next_fail["at"] - wait["at"] >= wait["delay"] - 0.005


async def test_asterisk_not_up_at_start_the_client_keeps_trying_then_connects(
    make_client: ClientFactory,
) -> None:
    port = free_tcp_port()
    client, calls = await make_client(ami_settings(port))
    await asyncio.sleep(0.3)
    assert not client.connected
    with pytest.raises(AmiNotConnected):
        await client.send({"Action": "Ping"})

    server = FakeAsterisk()
    await server.start(port)
    try:
        await client.wait_ready(2)
        assert calls.ready
        assert (await client.send({"Action": "Ping"}))[0]["Ping"] == "Pong"
    finally:
        await client.stop()
        await server.stop()


async def test_wrong_secret_is_logged_retried_with_backoff_and_never_crashes(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    fake.secret = "not-the-client-secret"
    with capture_logs() as logs:
        client, calls = await make_client(ami_settings(fake.port))
        await eventually(lambda: len(fake.actions("Login")) >= 3)
        assert not client.connected
        assert calls.ready == []
        fake.secret = SECRET  # the admin fixes manager.conf
        await client.wait_ready(2)

    failures = [e for e in logs if e["event"] == "ami.login_failed"]
    assert len(failures) >= 3
    assert failures[0]["log_level"] == "error"
    assert failures[0]["message"] == "Authentication failed"
    assert failures[0]["username"] == "aiguilleur"
    assert SECRET not in repr(logs)
    assert len(calls.ready) == 1


def test_inconsistent_backoff_settings_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="initial"):
        AmiClient(ami_settings(1, backoff_initial=5, backoff_max=1), on_event=print)


async def test_wait_ready_times_out_with_not_connected(make_client: ClientFactory) -> None:
    client, _ = await make_client(ami_settings(free_tcp_port()))

    with pytest.raises(AmiNotConnected):
        await client.wait_ready(0.1)


# ---------------------------------------------------------------- 4. actions


async def test_list_action_returns_response_items_and_complete_event(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    client, calls = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)

    replies = await client.send({"Action": "QueueStatus"})

    assert [r.get("Event", r.get("Response")) for r in replies] == [
        "Success",
        "QueueParams",
        "QueueMember",
        "QueueStatusComplete",
    ]
    assert all(type(r) is dict for r in replies)
    assert replies[2]["Name"] == "Agent Zoé"
    assert calls.named("QueueParams") == []  # list items are the caller's, not events


async def test_queue_add_reply_completes_where_panoramisk_would_wait_for_a_list(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    client, _ = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)

    replies = await client.send({"Action": "QueueAdd", "Queue": "support", "Interface": "Local/200@default"})

    assert replies == [
        {"Response": "Success", "ActionID": replies[0]["ActionID"], "Message": "Added interface to queue"}
    ]


async def test_error_response_raises_action_error_with_asterisk_message(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    client, _ = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)

    with pytest.raises(AmiActionError, match="Invalid/unknown command: Nope") as caught:
        await client.send({"Action": "Nope"})

    assert caught.value.response["Response"] == "Error"
    assert client.connected


async def test_unanswered_action_times_out_and_its_late_reply_is_dropped(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    fake.late["QueueStatus"] = 0.3
    client, calls = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)

    started = time.monotonic()
    with pytest.raises(AmiActionTimeout):
        await client.send({"Action": "QueueStatus"}, timeout=0.1)
    waited = time.monotonic() - started
    await asyncio.sleep(0.4)  # the late reply arrives now

    assert 0.1 <= waited < 0.2
    assert [e for e in calls.events if "ActionID" in e] == []
    assert client.connected and len(fake.connected_at) == 1


async def test_default_timeout_is_action_timeout(fake: FakeAsterisk, make_client: ClientFactory) -> None:
    fake.ignore.add("CoreSettings")
    client, _ = await make_client(ami_settings(fake.port, action_timeout=0.15))
    await client.wait_ready(2)

    started = time.monotonic()
    with pytest.raises(AmiActionTimeout):
        await client.send({"Action": "CoreSettings"})

    assert 0.15 <= time.monotonic() - started < 0.3


async def test_pending_action_fails_when_the_link_drops_and_is_never_resent(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    fake.close_on.add("QueueAdd")  # the server hangs up mid-action
    client, calls = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)

    with pytest.raises(AmiNotConnected):
        await client.send({"Action": "QueueAdd", "Queue": "support", "Interface": "PJSIP/a"})
    await eventually(lambda: len(calls.ready) == 2)
    await asyncio.sleep(0.5)  # FullyBooted and several pings on the new link

    assert [i for i, a in fake.received if a["Action"] == "QueueAdd"] == [0]
    assert len(calls.down) == 1


async def test_send_while_down_raises_at_once_and_writes_nothing(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    client, calls = await make_client(ami_settings(fake.port, backoff_initial=0.3))
    await client.wait_ready(2)
    fake.hang_up()
    await eventually(lambda: bool(calls.down))

    with pytest.raises(AmiNotConnected):
        await client.send({"Action": "Originate", "Channel": "Local/100@default"})
    await client.wait_ready(2)
    await asyncio.sleep(0.3)

    assert fake.actions("Originate") == []


async def test_idempotent_action_is_sent_again_on_the_next_link(fake: FakeAsterisk, make_client: ClientFactory) -> None:
    fake.close_next.add("QueueStatus")
    client, _ = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)

    replies = await client.send({"Action": "QueueStatus"}, idempotent=True, timeout=2)

    assert replies[-1]["Event"] == "QueueStatusComplete"
    assert [i for i, a in fake.received if a["Action"] == "QueueStatus"] == [0, 1]


async def test_idempotent_action_waits_for_the_link_within_its_timeout(
    make_client: ClientFactory,
) -> None:
    port = free_tcp_port()
    client, _ = await make_client(ami_settings(port))
    with pytest.raises(AmiNotConnected):  # nobody there within the timeout
        await client.send({"Action": "QueueStatus"}, idempotent=True, timeout=0.2)
    server = FakeAsterisk()

    async def asterisk_comes_up() -> None:
        await asyncio.sleep(0.2)
        await server.start(port)

    coming_up = asyncio.create_task(asterisk_comes_up())
    try:
        replies = await client.send({"Action": "QueueStatus"}, idempotent=True, timeout=2)
        assert replies[0]["Message"] == "Queue status will follow"
    finally:
        await coming_up
        await client.stop()
        await server.stop()


@pytest.mark.parametrize(
    "action",
    [
        {"Queue": "support"},
        {"Action": "Ping", "ActionID": "mine"},
        {"Action": "UserEvent", "UserEvent": "x\r\nAction: Originate"},
        {"Action": "Ping", "Bad: Key": "x"},
    ],
)
async def test_malformed_or_injecting_actions_are_refused(
    fake: FakeAsterisk, make_client: ClientFactory, action: dict[str, str]
) -> None:
    client, _ = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)

    with pytest.raises(ValueError):
        await client.send(action)

    assert [a["Action"] for _, a in fake.received if a["Action"] not in ("Login", "Ping")] == []


# ---------------------------------------------------------------- 5. events and callbacks


async def test_events_reach_on_event_as_plain_dicts_in_arrival_order(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    client, calls = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)
    events = [
        {"Event": "Newchannel", "Uniqueid": "1.1", "Linkedid": "1.1", "ChanVariable": "A=1\nB=2"},
        {"Event": "QueueCallerJoin", "Uniqueid": "1.1", "Linkedid": "1.1", "Queue": "support"},
        {"Event": "Hangup", "Uniqueid": "1.1", "Linkedid": "1.1", "Cause": "16"},
    ]

    await fake.push(b"".join(encode(e) for e in events))
    await eventually(lambda: len(calls.events) >= 4)

    assert calls.events[0]["Event"] == "FullyBooted"
    assert calls.events[1:] == events
    assert all(type(e) is dict for e in calls.events)
    assert all(type(k) is str and type(v) is str for e in calls.events for k, v in e.items())


async def test_event_triggered_by_our_action_still_reaches_on_event(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    """Asterisk stamps the UserEvent event with our ActionID, after the response."""
    client, calls = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)

    replies = await client.send({"Action": "UserEvent", "UserEvent": "Probe", "Who": "José"})

    await eventually(lambda: bool(calls.named("UserEvent")))
    assert replies[0]["Message"] == "Event Sent"
    assert calls.named("UserEvent")[0]["Who"] == "José"
    assert calls.named("UserEvent")[0]["ActionID"] == replies[0]["ActionID"]


async def test_shutdown_event_is_delivered_then_ends_the_link(fake: FakeAsterisk, make_client: ClientFactory) -> None:
    """Real Asterisk answers "Asterisk is shutting down" to everything after this event."""
    client, calls = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)

    await fake.push(encode(REAL_SHUTDOWN))  # the server itself keeps the socket open

    await eventually(lambda: len(calls.ready) == 2)

    assert calls.named("Shutdown") == [REAL_SHUTDOWN]
    assert [e["Event"] for e in calls.events] == ["FullyBooted", "Shutdown", "FullyBooted"]
    assert len(calls.down) == 1 and calls.ready[0] < calls.down[0] < calls.ready[1]
    assert len(fake.connected_at) == 2


async def test_on_ready_runs_after_every_login_and_on_down_on_every_loss(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    client, calls = await make_client(ami_settings(fake.port))
    for round_ in (1, 2, 3):
        await eventually(lambda: len(calls.ready) == round_ and client.connected)  # noqa: B023
        if round_ < 3:
            fake.hang_up()
            await eventually(lambda: len(calls.down) == round_)  # noqa: B023

    assert len(fake.connected_at) == 3
    assert calls.ready[0] < calls.down[0] < calls.ready[1] < calls.down[1] < calls.ready[2]


async def test_failing_callbacks_are_logged_and_never_kill_the_link(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    delivered: list[str] = []

    def on_event(event: dict[str, str]) -> None:
        delivered.append(event["Event"])
        raise RuntimeError("reducer bug")

    async def on_ready() -> None:
        raise RuntimeError("resync bug")

    def on_down() -> None:
        raise RuntimeError("wallboard bug")

    with capture_logs() as logs:
        client, _ = await make_client(ami_settings(fake.port), on_event=on_event, on_ready=on_ready, on_down=on_down)
        await client.wait_ready(2)
        await fake.push(encode({"Event": "A"}) + encode({"Event": "B"}))
        await eventually(lambda: delivered[-2:] == ["A", "B"])
        fake.hang_up()
        await eventually(lambda: len(fake.connected_at) == 2)
        await client.wait_ready(2)
        replies = await client.send({"Action": "QueueStatus"})

    assert replies[-1]["Event"] == "QueueStatusComplete"
    failed = {e["event"] for e in logs if e["event"].endswith("_failed")}
    assert failed == {"ami.on_event_failed", "ami.on_ready_failed", "ami.on_down_failed"}


# ---------------------------------------------------------------- 6. lifecycle


async def test_stop_logs_off_closes_the_socket_and_leaves_no_task(
    fake: FakeAsterisk, make_client: ClientFactory
) -> None:
    client, calls = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)

    await client.stop()
    await client.stop()  # idempotent

    assert ami_tasks() == []
    assert not client.connected
    assert len(fake.actions("Logoff")) == 1
    assert len(calls.down) == 1
    with pytest.raises(AmiNotConnected):
        await client.send({"Action": "Ping"})
    await asyncio.sleep(0.3)
    assert len(fake.connected_at) == 1  # no reconnect after stop


async def test_stop_while_connecting_or_backing_off_is_clean(make_client: ClientFactory) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def say_nothing(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    silent = await asyncio.start_server(say_nothing, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        client, _ = await make_client(ami_settings(port, action_timeout=5))
        await eventually(lambda: bool(accepted))
        await asyncio.sleep(0.05)  # inside the login wait
        await client.stop()
        client2, _ = await make_client(ami_settings(free_tcp_port(), backoff_initial=5, backoff_max=5))
        await asyncio.sleep(0.1)  # inside a backoff sleep
        await client2.stop()
        assert ami_tasks() == []
    finally:
        for writer in accepted:
            writer.close()
            await writer.wait_closed()
        silent.close()
        await silent.wait_closed()


async def test_cancelling_the_caller_of_stop_propagates(fake: FakeAsterisk, make_client: ClientFactory) -> None:
    client, _ = await make_client(ami_settings(fake.port))
    await client.wait_ready(2)
    fake.ignore.add("Logoff")
    stopping = asyncio.create_task(client.stop())
    await asyncio.sleep(0.05)

    stopping.cancel()

    with pytest.raises(asyncio.CancelledError):
        await stopping


# ---------------------------------------------------------------- 7. recording


async def test_recording_holds_every_connection_and_replays_to_the_same_events(
    fake: FakeAsterisk, make_client: ClientFactory, tmp_path: Path
) -> None:
    record = tmp_path / "ami.raw"
    client, calls = await make_client(ami_settings(fake.port), record_to=record)
    await client.wait_ready(2)
    await fake.push(encode({"Event": "Newchannel", "CallerIDName": "Zoé"}))
    fake.hang_up()
    await eventually(lambda: len(calls.ready) == 2)
    await client.send({"Action": "QueueStatus"})
    await client.stop()

    raw = record.read_bytes()
    replayed = [m for m in parse_ami_stream(raw) if "Event" in m and "ActionID" not in m]
    assert raw.startswith(BANNER) and raw.count(BANNER) == 2
    assert replayed == calls.events
