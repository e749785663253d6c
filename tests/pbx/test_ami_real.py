"""AmiClient against the real sandbox Asterisk 22: login, lists, events, restart, stall, bad secret.

Set ``AIGUILLEUR_UPDATE_AMI_FIXTURES=1`` to re-record the traces in
tests/fixtures/ami/ that the parser tests and the fake server replay.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from config.settings import AmiSettings
from queues.ami import LIST_COMPLETE_EVENTS, AmiActionError, AmiClient, AmiNotConnected
from queues.ami_parse import parse_ami_stream
from sandbox import pbx as sandbox_pbx
from sandbox.pbx import SandboxPbx, default_cache_dir, ensure_root
from sandbox.ports import free_tcp_port

pytestmark = pytest.mark.pbx

INSTANCE = "ami-test"
AMI_USER = "aiguilleur"
AMI_SECRET = "ami-test-secret"
MODULES_FILE = Path(sandbox_pbx.__file__).with_name("minimal_modules.txt")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
UPDATE_FIXTURES = os.environ.get("AIGUILLEUR_UPDATE_AMI_FIXTURES") == "1"


def minimal_modules() -> list[str]:
    names = []
    for line in MODULES_FILE.read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names



def write_conf(conf_dir: Path, ami_port: int) -> None:
    """A loopback-only configuration: AMI, one queue with a static member, one endpoint."""
    conf_dir.mkdir(parents=True)
    loads = "".join(f"load => {name}\n" for name in minimal_modules())
    files = {
        "modules.conf": f"[modules]\nautoload=no\n{loads}",
        "manager.conf": (
            f"[general]\nenabled=yes\nport={ami_port}\nbindaddr=127.0.0.1\nwebenabled=no\n"
            "timestampevents=yes\n\n"
            f"[{AMI_USER}]\nsecret={AMI_SECRET}\ndeny=0.0.0.0/0.0.0.0\n"
            "permit=127.0.0.1/255.255.255.255\nread=all\nwrite=all\n"
        ),
        "queues.conf": (
            "[general]\npersistentmembers=no\n\n[support]\nstrategy=ringall\nmember => Local/100@default,0,Agent Zoé\n"
        ),
        "extensions.conf": "[general]\nstatic=yes\nwriteprotect=yes\n\n[default]\nexten => 100,1,Answer()\n",
        # No transport: nothing listens for SIP; the endpoint is only listed.
        "pjsip.conf": "[agent01]\ntype=aor\nmax_contacts=1\n\n"
        "[agent01]\ntype=endpoint\ncontext=default\naors=agent01\n",
    }
    for name, text in files.items():
        (conf_dir / name).write_text(text, encoding="utf-8")


@dataclass
class Asterisk:
    pbx: SandboxPbx
    settings: AmiSettings


@pytest.fixture(scope="module")
def root() -> Path:
    return ensure_root(default_cache_dir())


@pytest.fixture
def asterisk(root: Path, tmp_path: Path) -> Iterator[Asterisk]:
    port = free_tcp_port()
    write_conf(tmp_path / "conf", port)
    pbx = SandboxPbx(root, INSTANCE, tmp_path / "conf")
    pbx.start()
    settings = AmiSettings(
        host="127.0.0.1",
        port=port,
        username=AMI_USER,
        secret=SecretStr(AMI_SECRET),
        ping_interval=0.3,
        pong_timeout=0.3,
        action_timeout=3.0,
        backoff_initial=0.1,
        backoff_max=1.0,
    )
    try:
        yield Asterisk(pbx, settings)
    finally:
        pbx.stop()
        shutil.rmtree(pbx.instance_dir, ignore_errors=True)


@dataclass
class Calls:
    events: list[dict[str, str]] = field(default_factory=list)
    ready: list[float] = field(default_factory=list)
    down: list[float] = field(default_factory=list)

    def on_event(self, event: dict[str, str]) -> None:
        self.events.append(event)

    async def on_ready(self) -> None:
        self.ready.append(time.monotonic())

    def on_down(self) -> None:
        self.down.append(time.monotonic())

    def named(self, name: str) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("Event") == name]


@pytest.fixture
async def client_factory() -> AsyncIterator[Callable[..., tuple[AmiClient, Calls]]]:
    made: list[AmiClient] = []

    def make(settings: AmiSettings, record_to: Path | None = None) -> tuple[AmiClient, Calls]:
        calls = Calls()
        client = AmiClient(
            settings,
            on_event=calls.on_event,
            on_ready=calls.on_ready,
            on_down=calls.on_down,
            record_to=record_to,
        )
        made.append(client)
        return client, calls

    yield make
    for client in made:
        await client.stop()


async def eventually(predicate: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def keep_fixture(recording: Path, name: str) -> None:
    if UPDATE_FIXTURES:
        shutil.copyfile(recording, FIXTURES / name)


async def test_login_lists_commands_and_events_as_plain_dicts(
    asterisk: Asterisk, client_factory: Callable[..., tuple[AmiClient, Calls]], tmp_path: Path
) -> None:
    recording = tmp_path / "session.raw"
    client, calls = client_factory(asterisk.settings, record_to=recording)

    started = time.monotonic()
    await client.start()
    await client.wait_ready(5)
    connect_time = time.monotonic() - started

    settings = await client.send({"Action": "CoreSettings"})
    assert len(settings) == 1
    assert settings[0]["AsteriskVersion"].startswith("22.")
    assert calls.named("FullyBooted")  # ready waited for it

    status = await client.send({"Action": "QueueStatus"})
    assert [m.get("Event", m.get("Response")) for m in status] == [
        "Success",
        "QueueParams",
        "QueueMember",
        "QueueStatusComplete",
    ]
    assert status[1]["Queue"] == "support"
    assert status[2]["Name"] == "Agent Zoé"  # UTF-8 from queues.conf, through Asterisk

    uptime = await client.send({"Action": "Command", "Command": "core show uptime"})
    assert uptime[0]["Output"].startswith("System uptime:")
    assert "\nLast reload:" in uptime[0]["Output"]

    sent = await client.send({"Action": "UserEvent", "UserEvent": "AiguilleurProbe", "Caller": "José Müller"})
    await eventually(lambda: bool(calls.named("UserEvent")))
    user_event = calls.named("UserEvent")[0]
    assert user_event["UserEvent"] == "AiguilleurProbe"
    assert user_event["Caller"] == "José Müller"
    assert user_event["ActionID"] == sent[0]["ActionID"]
    assert "Timestamp" in user_event  # timestampevents=yes: every field is kept

    with pytest.raises(AmiActionError, match="Invalid/unknown command: Nope"):
        await client.send({"Action": "Nope"})
    await asyncio.sleep(0.7)  # two pings answered: the link stays up
    assert client.connected and len(calls.ready) == 1

    assert all(type(e) is dict for e in calls.events)
    assert all(type(k) is str and type(v) is str for e in calls.events for k, v in e.items())
    await client.stop()

    # Replaying the recording gives exactly what on_event saw; the QueueStatus
    # items went to the caller of send() instead.
    replayed = parse_ami_stream(recording.read_bytes())
    list_items = status[1:]
    assert [m for m in replayed if "Event" in m and m not in list_items] == calls.events
    assert replayed[-1]["Response"] == "Goodbye"
    keep_fixture(recording, "asterisk22_session.raw")
    print(f"\nAMI connect+login+FullyBooted: {connect_time * 1000:.1f} ms")


async def test_each_supported_list_action_ends_at_its_complete_event(
    asterisk: Asterisk, client_factory: Callable[..., tuple[AmiClient, Calls]]
) -> None:
    client, _ = client_factory(asterisk.settings)
    await client.start()
    await client.wait_ready(5)

    for action, complete in LIST_COMPLETE_EVENTS.items():
        replies = await client.send({"Action": action})
        assert replies[0]["EventList"] == "start", action
        assert replies[-1]["Event"] == complete, action
        assert replies[-1]["EventList"] == "Complete", action
        assert int(replies[-1]["ListItems"]) == len(replies) - 2, action


async def test_queue_add_and_remove_complete_on_their_single_response(
    asterisk: Asterisk, client_factory: Callable[..., tuple[AmiClient, Calls]]
) -> None:
    """panoramisk reads "Added interface to queue" as a list start and waits forever."""
    client, calls = client_factory(asterisk.settings)
    await client.start()
    await client.wait_ready(5)
    member = {"Queue": "support", "Interface": "Local/200@default"}

    added = await client.send({"Action": "QueueAdd", **member}, timeout=2)
    await eventually(lambda: bool(calls.named("QueueMemberAdded")))
    removed = await client.send({"Action": "QueueRemove", **member}, timeout=2)

    assert [m["Message"] for m in added + removed] == [
        "Added interface to queue",
        "Removed interface from queue",
    ]
    assert calls.named("QueueMemberAdded")[0]["Interface"] == "Local/200@default"


async def test_client_reconnects_by_itself_after_asterisk_restart(
    asterisk: Asterisk, client_factory: Callable[..., tuple[AmiClient, Calls]], tmp_path: Path
) -> None:
    recording = tmp_path / "restart.raw"
    client, calls = client_factory(asterisk.settings, record_to=recording)
    await client.start()
    await client.wait_ready(5)
    await client.send({"Action": "UserEvent", "UserEvent": "BeforeRestart"})

    with capture_logs() as logs:
        await asyncio.to_thread(asterisk.pbx.restart)  # the loop keeps running meanwhile
        booted = time.monotonic()
        await eventually(lambda: len(calls.ready) == 2)
    back = calls.ready[1]

    assert calls.named("Shutdown")  # Asterisk said goodbye before closing
    assert len(calls.down) == 1 and calls.ready[0] < calls.down[0] < calls.ready[1]
    attempts = [e for e in logs if e["event"] == "ami.reconnecting"]
    assert attempts and attempts[0]["attempt"] == 1
    replies = await client.send({"Action": "UserEvent", "UserEvent": "AfterRestart"})
    assert replies[0]["Response"] == "Success"
    await eventually(lambda: len(calls.named("UserEvent")) == 2)
    await client.stop()
    keep_fixture(recording, "asterisk22_restart.raw")
    print(
        f"\nrestart: link down -> on_ready again {(back - calls.down[0]) * 1000:.0f} ms; "
        f"Asterisk booted -> on_ready {(back - booted) * 1000:.0f} ms; "
        f"{len(attempts)} reconnect attempt(s)"
    )


async def test_stalled_asterisk_is_detected_by_ping_and_the_link_recovers(
    asterisk: Asterisk, client_factory: Callable[..., tuple[AmiClient, Calls]]
) -> None:
    """SIGSTOP on our own Asterisk: the socket stays open, nothing answers (a half-open link)."""
    settings = asterisk.settings
    client, calls = client_factory(settings)
    await client.start()
    await client.wait_ready(5)
    await asyncio.sleep(settings.ping_interval * 1.5)  # at least one ping answered
    pid = asterisk.pbx.pid
    assert pid is not None

    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        await eventually(lambda: bool(calls.down), within=5)
        detected = calls.down[0] - stopped
        with pytest.raises(AmiNotConnected):
            await client.send({"Action": "Ping"})
    finally:
        os.kill(pid, signal.SIGCONT)
    await eventually(lambda: len(calls.ready) == 2)

    assert detected <= settings.ping_interval + settings.pong_timeout + 0.15, detected
    assert (await client.send({"Action": "Ping"}))[0]["Ping"] == "Pong"
    print(f"\nstalled Asterisk detected after {detected * 1000:.0f} ms")


async def test_wrong_secret_is_refused_logged_and_retried(
    asterisk: Asterisk, client_factory: Callable[..., tuple[AmiClient, Calls]], tmp_path: Path
) -> None:
    recording = tmp_path / "login_failed.raw"
    wrong = asterisk.settings.model_copy(
        update={"secret": SecretStr("wrong"), "backoff_initial": 0.2, "backoff_max": 0.2}
    )
    client, calls = client_factory(wrong, record_to=recording)

    with capture_logs() as logs:
        await client.start()
        # Asterisk waits 1 s before refusing a login.
        await eventually(lambda: sum(e["event"] == "ami.login_failed" for e in logs) >= 2)
        await client.stop()

    failed = [e for e in logs if e["event"] == "ami.login_failed"]
    assert failed[0]["message"] == "Authentication failed"
    assert failed[0]["log_level"] == "error"
    assert calls.ready == [] and not client.connected
    first_connection = recording.read_bytes().split(b"Asterisk Call Manager/")[1]
    if UPDATE_FIXTURES:
        (FIXTURES / "asterisk22_login_failed.raw").write_bytes(b"Asterisk Call Manager/" + first_connection)
