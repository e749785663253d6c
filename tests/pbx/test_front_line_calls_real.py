"""An advisor's own calls through Kamailio reach the active node as that line (issue 13), for real.

The cluster of ``test_kamailio_failover_real`` (Kamailio, Asterisk nodes ``a`` and ``b``, the
SIPp advisors registered to Kamailio and logged in on both). A node takes everything from the
front's address as the trunk; for a line's own call the front adds ``X-Aiguilleur-Line`` (the
From user is a registered line and the INVITE comes from the address it registered from) and
the node's ``pjsip.conf`` identifies the line by that header, from the front's address only.

- ``*46`` then ``*45`` dialled by a line's softphone (SIPp from the lines' address, From: the
  line) to Kamailio log the line out of, then into, node ``a``'s queues (AMI ``QueueStatus`` on
  ``a``); ``b`` (standby, no service mirroring here) is untouched: only the active node ran them.
- A forged header never reaches ``[lines]``: an INVITE from the trunk side (127.0.0.2) with
  ``X-Aiguilleur-Line`` and a line's name as From, dialling ``*46``, is not answered as the line
  whether it goes through Kamailio (the header is removed, the trunk's address is not where the
  line registered) or straight to the node (the line's ACL refuses it); the line stays logged in.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from aiguilleur.cluster import SandboxCluster
from aiguilleur.confgen import LOGIN_CODE, LOGOUT_CODE, TRUNK_MATCH
from aiguilleur.kamailio_confgen import LINE_HEADER
from config.models import Hotline
from queues.advisors import read_members
from queues.ami import AmiClient
from sandbox.sipp import CallScript, run_calls
from tests.pbx.test_kamailio_failover_real import INVITE_TIMEOUT_MS, PROBE_INTERVAL

pytestmark = [pytest.mark.pbx, pytest.mark.asyncio(loop_scope="module")]

LINE = "cma-02"
LINES_ADDRESS = "127.0.0.1"  # where the cluster's softphones registered from (SandboxCluster.start)


@pytest.fixture(scope="module")
def cluster(hotline: Hotline, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxCluster]:
    with SandboxCluster(hotline, tmp_path_factory.mktemp("front-lines"), probe_interval=PROBE_INTERVAL,
                        invite_timeout_ms=INVITE_TIMEOUT_MS) as cluster:
        yield cluster


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probes(cluster: SandboxCluster) -> AsyncIterator[dict[str, AmiClient]]:
    """Our own AMI session on each node, to read what each Asterisk says."""
    clients = {name: AmiClient(settings, on_event=lambda _event: None) for name, settings in cluster.amis.items()}
    for client in clients.values():
        await client.start()
        await client.wait_ready(15)
    yield clients
    for client in clients.values():
        await client.stop()


async def members(client: AmiClient) -> set[str]:
    """The lines in at least one queue, from the node's ``QueueStatus``."""
    return set((await read_members(client)).penalties)


async def test_a_lines_codes_through_the_front_log_it_out_then_in_on_the_active_node(
    cluster: SandboxCluster, probes: dict[str, AmiClient],
) -> None:
    assert LINE in await members(probes["a"]) and LINE in await members(probes["b"])
    await _dial_through_front(cluster, LOGOUT_CODE)
    assert LINE not in await members(probes["a"])
    assert LINE in await members(probes["b"])  # the standby did not run it
    await _dial_through_front(cluster, LOGIN_CODE)
    assert LINE in await members(probes["a"])
    said = cluster.kamailio.tail(1_000_000)
    assert f"line {LINE} calls {LOGOUT_CODE} from {LINES_ADDRESS}" in said
    assert f"line {LINE} calls {LOGIN_CODE} from {LINES_ADDRESS}" in said


async def test_a_forged_line_header_through_the_front_is_removed(
    cluster: SandboxCluster, probes: dict[str, AmiClient],
) -> None:
    """From the trunk side, through Kamailio: the node sees a trunk call to ``*46`` (hotline-in: no such number)."""
    code, _call_id = await asyncio.to_thread(_forged_invite, cluster.front.host, cluster.front.port)
    assert not 200 <= code < 300, code
    assert LINE in await members(probes["a"])
    assert f"line {LINE} calls {LOGOUT_CODE} from {TRUNK_MATCH}" not in cluster.kamailio.tail(1_000_000)


async def test_a_forged_line_header_straight_to_a_node_is_forbidden(
    cluster: SandboxCluster, probes: dict[str, AmiClient],
) -> None:
    """From the trunk side, straight to node a: the header names the line, whose ACL takes only the front.

    Asterisk 22 refuses it with a 401 (the same answer as an unknown caller's), its log says why."""
    port_a = next(node.port for node in cluster.front.nodes if node.name == "a")
    code, call_id = await asyncio.to_thread(_forged_invite, "127.0.0.1", port_a)
    assert code in (401, 403)
    assert LINE in await members(probes["a"])
    log = (cluster.nodes["a"].instance_dir / "log" / "messages.log").read_text(errors="replace")
    assert f"failed for '{TRUNK_MATCH}:" in log and f"(callid: {call_id}) - Not match Endpoint ACL" in log


# ----------------------------------------------------------------------------- helpers


async def _dial_through_front(cluster: SandboxCluster, code: str) -> None:
    """The line's softphone (SIPp on the lines' address, From: the line) dials a code at Kamailio."""
    script = CallScript(digits=[], caller_number=LINE, caller_name=LINE, pause_before_ms=0, hold_after_ms=3000)
    result = await asyncio.to_thread(run_calls, [script], target=cluster.front.host, port=cluster.front.port,
                                     number=code, local_ip=LINES_ADDRESS, timeout_s=30)
    assert result.ok and result.calls[0].answered, result.describe()


def _forged_invite(host: str, port: int, timeout: float = 8.0) -> tuple[int, str]:
    """An INVITE from the trunk's address, From: the line, with the line header, to ``*46``: its final
    status and its Call-ID."""
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
        "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((TRUNK_MATCH, 0))
        local_port = sock.getsockname()[1]
        branch, tag, call_id = f"z9hG4bK{secrets.token_hex(8)}", secrets.token_hex(4), f"{secrets.token_hex(8)}@forged"
        head = (
            f"Via: SIP/2.0/UDP {TRUNK_MATCH}:{local_port};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: \"{LINE}\" <sip:{LINE}@{host}>;tag={tag}\r\n"
        )
        invite = (
            f"INVITE sip:{LOGOUT_CODE}@{host}:{port} SIP/2.0\r\n{head}"
            f"To: <sip:{LOGOUT_CODE}@{host}:{port}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:{LINE}@{TRUNK_MATCH}:{local_port}>\r\n"
            f"{LINE_HEADER}: {LINE}\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
        )
        sock.sendto(invite.encode(), (host, port))
        sock.settimeout(0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65535).decode(errors="replace")
            except TimeoutError:
                sock.sendto(invite.encode(), (host, port))  # UDP: the INVITE again until a reply
                continue
            if not data.startswith("SIP/2.0 "):
                continue
            status = int(data.split()[1])
            if status < 200:
                sock.settimeout(timeout)
                continue
            to = next(line for line in data.split("\r\n") if line.lower().startswith(("to:", "t:")))
            if status >= 300:  # acknowledge the refusal (same branch) so nobody retransmits it
                ack = (f"ACK sip:{LOGOUT_CODE}@{host}:{port} SIP/2.0\r\n{head}{to}\r\n"
                       f"Call-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
                sock.sendto(ack.encode(), (host, port))
            return status, call_id
    raise AssertionError(f"no final reply to the forged INVITE from {host}:{port}")
