"""An advisor transfers a caller to another partner, live on the sandbox Asterisk 22.

The generated configuration as it is (``features.conf``, the ``advisor-transfer``
contexts), the whole service (FastAGI IVR, AMI follower, records, web) on its own
database, one SIPp caller going through the IVR (creation, crafts, micro, Nord: CMA
ranks first) and SIPp playing the lines; only cma-01 and cci-01 are logged in.
cma-01 answers and, after a few seconds, transfers the caller to the CCI:

- ``blind``: the advisor's softphone sends the blind-transfer code then ``*54`` as
  SIP INFO DTMF (what a desk phone's keypad does);
- ``attended``: the attended-transfer code then ``*54``; the advisor talks to cci-01
  once it answers, then hangs up, which hands the caller over;
- ``web``: the advisor's transfer action of the web API (AMI BlindTransfer).

cci-01 answers from ``partner-cci``. While it talks: the queue's caller channel has
the IVR's answers and the transfer priority, and cci-01's screen pop (web API) shows
the answers. After the call: one record naming cma-01 first and the transfer to
cci-01 through ``partner-cci``, with the profile; the queue_log rows the service
stored equal the lines Asterisk wrote (BLINDTRANSFER or ATTENDEDTRANSFER, and the
ENTERQUEUE of ``partner-cci``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from aiguilleur.confgen import render
from aiguilleur.service import start_service
from config.models import Hotline
from config.settings import AmiSettings, FastAgiSettings, HttpSettings, PbxSettings, Settings
from ivr.prompts import SOUNDS_SUBDIR
from queues.advisors import AdvisorDesk
from queues.ami import AmiClient
from queues.transfers import (
    ATTENDED_TRANSFER_CODE,
    BLIND_TRANSFER_CODE,
    TRANSFER_CONTEXT,
    TRANSFER_PRIORITY,
    transfer_extension,
)
from sandbox.pbx import SandboxPbx, default_cache_dir, ensure_root
from sandbox.sipp import AgentsUas, CallScript, find_sipp, free_udp_port, run_calls
from sandbox.sipp_scenario import render_agents_scenario
from tests.conftest import drop_database, recreate_database
from tests.fixtures.ami.record_agent_traces import (
    CRAFTS,
    OPEN_INSTANT,
    free_tcp_port,
    prepare_prompts,
    rows_of,
    same_queue_log,
    short_hotline,
)
from web import store
from web.passwords import hash_password

pytestmark = [pytest.mark.pbx, pytest.mark.asyncio(loop_scope="module")]

FIRST_LINE, TARGET_LINE, TARGET = "cma-01", "cci-01", "cci"
LOGGED_IN = (FIRST_LINE, TARGET_LINE)
RTP_PORTS = (36000, 36999)  # not record_agent_traces.py's: both may run at once
TALK_BEFORE_TRANSFER_MS = 3000
ATTENDED_CONSULT_MS = 12_000  # from the last digit to the advisor's hang-up
PASSWORD = "transfert entre partenaires"
# The logins' rows (and the live re-ranking's PENALTY rows) are not this test's: the call's rows are compared.
MEMBER_VERBS = frozenset({"ADDMEMBER", "REMOVEMEMBER", "PENALTY", "PAUSE", "UNPAUSE", "PAUSEALL", "UNPAUSEALL"})
EXPECTED_PROFILE = {"AIGUILLEUR_NEED": "creation", "AIGUILLEUR_SECTOR": "crafts", "AIGUILLEUR_SIZE": "micro",
                    "AIGUILLEUR_DEPARTEMENT": "nord"}


# --- the advisors' softphones: one SIPp UAS, FIRST_LINE transfers by DTMF (SIP INFO) -------------
def _request(method: str, cseq: int, *, body: str = "", content_type: str = "") -> str:
    lines = [
        f"{method} [next_url] SIP/2.0",
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
        "From: [$to_hdr];tag=[pid]SIPpTag01[call_number]",
        "To: [$from_hdr]",
        "Call-ID: [call_id]",
        f"CSeq: {cseq} {method}",
        "Contact: <sip:[$to_user]@[local_ip]:[local_port]>",
        "Max-Forwards: 70",
    ]
    if body:
        lines += [f"Content-Type: {content_type}", "Content-Length: [len]", "", body]
    else:
        lines += ["Content-Length: 0", ""]
    return "<send retrans=\"500\"><![CDATA[\n" + "\n".join(lines) + "\n]]></send>"


def transferring_agents_scenario(line: str, digits: str, attended: bool, ring_ms: int, talk_ms: int) -> str:
    """The agents' scenario of ``sandbox.sipp``, where ``line`` talks a little then dials ``digits`` by INFO.

    Blind: Asterisk then hangs up on the advisor (BYE). Attended: the advisor hears the
    consulted line, then hangs up, which completes the transfer.
    """
    text = render_agents_scenario(ring_ms=ring_ms, talk_ms=talk_ms)
    invite_log = '      <log message="INVITE [call_id] [$to_user]"/>'
    answered = '    <action><log message="ANSWERED [call_id] [$to_user]"/></action>\n  </recv>\n'
    hung_up = '  <label id="agent_hung_up"/>'
    assert invite_log in text and answered in text and hung_up in text, "sandbox.sipp's scenario changed"
    text = text.replace(invite_log, f'      <ereg regexp="sip:({line})@" search_in="hdr" header="To:"'
                                    f' assign_to="xfer"/>\n{invite_log}')
    text = text.replace(answered, answered + '  <nop next="transfer" test="xfer"/>\n')
    steps = ['  <label id="transfer"/>', f'  <pause milliseconds="{TALK_BEFORE_TRANSFER_MS}"/>']
    cseq = 0
    for index, digit in enumerate(digits):
        cseq += 1
        steps += [_request("INFO", cseq, body=f"Signal={digit}\nDuration=250", content_type="application/dtmf-relay"),
                  '  <recv response="200"/>',
                  # after the feature code Asterisk says "transfer" first (digits then are lost)
                  f'  <pause milliseconds="{2500 if index == 1 else 300}"/>']
    if attended:
        # The consulted line must have answered before the advisor hangs up, or Asterisk makes it
        # a blond transfer (no ATTENDEDTRANSFER): under the full suite's load that took over 6 s once.
        steps += [f'  <pause milliseconds="{ATTENDED_CONSULT_MS}"/>',
                  '  <nop><action><log message="HANGUP [call_id]"/></action></nop>',
                  _request("BYE", cseq + 1), '  <recv response="200" next="agent_hung_up"/>']
    else:
        steps += ['  <recv request="BYE" timeout="30000" next="remote_bye"/>']
    return text.replace(hung_up, "\n".join(steps) + "\n" + hung_up)


@dataclass
class TransferringAgents:
    """One SIPp UAS for every line (static contacts on ``port``), running our scenario; stops its own pid."""

    port: int
    scenario: str
    work: Path
    proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TransferringAgents:
        self.work.mkdir(parents=True, exist_ok=True)
        xml = self.work / "agents.xml"
        xml.write_text(self.scenario, encoding="utf-8")
        with (self.work / "stderr.log").open("wb") as err:
            self.proc = subprocess.Popen(
                [find_sipp(), "-sf", str(xml), "-p", str(self.port), "-i", "127.0.0.1", "-mi", "127.0.0.1",
                 "-ci", "127.0.0.1", "-nostdin", "-aa", "-trace_err", "-trace_logs",
                 "-log_file", str(self.work / "logs.log"), "-error_file", str(self.work / "errors.log")],
                cwd=self.work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# --- watching Asterisk ------------------------------------------------------------------------------
@dataclass
class Watcher:
    """A second AMI session: the AgentConnect events, by queue."""

    first: asyncio.Event = field(default_factory=asyncio.Event)
    transferred: asyncio.Event = field(default_factory=asyncio.Event)
    connects: list[dict[str, str]] = field(default_factory=list)

    def on_event(self, event: Mapping[str, str]) -> None:
        if event.get("Event") != "AgentConnect":
            return
        self.connects.append(dict(event))
        if event.get("Queue") == f"partner-{TARGET}":
            self.transferred.set()
        else:
            self.first.set()


@dataclass
class Outcome:
    cdr: list[asyncpg.Record]
    ours: list[str]
    asterisk: list[str]
    connects: list[dict[str, str]]
    caller_vars: dict[str, str]
    screen: dict[str, Any]
    web_reply: dict[str, Any] | None


async def getvar(ami: AmiClient, channel: str, variable: str) -> str:
    reply = await ami.send({"Action": "Getvar", "Channel": channel, "Variable": variable}, idempotent=True)
    return reply[0].get("Value", "")


async def api_token(http: aiohttp.ClientSession, base: str, name: str) -> dict[str, str]:
    async with http.post(f"{base}/api/login", json={"name": name, "password": PASSWORD, "client": "api"}) as r:
        assert r.status == 200, await r.text()
        return {"Authorization": f"Bearer {(await r.json())['token']}"}


@contextlib.contextmanager
def sandbox(hotline: Hotline, settings: Settings, work: Path, prompts: Path) -> Iterator[SandboxPbx]:
    conf_dir = work / "asterisk_conf"
    conf_dir.mkdir(parents=True)
    for name, text in render(hotline, settings.pbx, settings.ami, settings.fastagi).items():
        (conf_dir / name).write_text(text, encoding="utf-8")
    pbx = SandboxPbx(ensure_root(default_cache_dir()), f"xfer-{os.getpid()}-{work.name}", conf_dir)
    log_dir = pbx.instance_dir / "log"
    shutil.rmtree(log_dir, ignore_errors=True)
    (log_dir / "cdr-custom").mkdir(parents=True)
    pbx.install_sounds(prompts, SOUNDS_SUBDIR)
    with pbx:
        yield pbx


async def run_transfer(kind: str, hotline: Hotline, prompts: Path, work: Path, database_url: str) -> Outcome:
    await recreate_database(database_url)
    settings = Settings(
        database_url=database_url, state_dir=work / "state", now=OPEN_INSTANT,
        pbx=PbxSettings(sip_port=free_udp_port(), line_contact_port=free_udp_port(),
                        rtp_start=RTP_PORTS[0], rtp_end=RTP_PORTS[1]),
        ami=AmiSettings(port=free_tcp_port()), fastagi=FastAgiSettings(port=free_tcp_port()),
        http=HttpSettings(port=free_tcp_port()),
    )
    assert settings.pbx.line_contact_port is not None
    exten = transfer_extension(hotline, TARGET)
    agents: contextlib.AbstractContextManager[object]
    if kind == "web":
        agents = AgentsUas(settings.pbx.line_contact_port, ring_ms=300, talk_ms=8000)
    else:
        code = ATTENDED_TRANSFER_CODE if kind == "attended" else BLIND_TRANSFER_CODE
        # Attended: the consulted line talks on past the advisor's consultation (it is the same scenario).
        talk_ms = ATTENDED_CONSULT_MS + 10_000 if kind == "attended" else 8000
        scenario = transferring_agents_scenario(FIRST_LINE, code + exten, kind == "attended", 300, talk_ms)
        agents = TransferringAgents(settings.pbx.line_contact_port, scenario, work / "agents")
    watcher = Watcher()
    web_reply: dict[str, Any] | None = None
    with sandbox(hotline, settings, work, prompts) as pbx, agents:
        service = await start_service(settings, hotline)
        control = AmiClient(settings.ami, on_event=watcher.on_event)
        await control.start()
        try:
            await service.ami.wait_ready(timeout=15)
            await control.wait_ready(timeout=15)
            hashed = await asyncio.to_thread(hash_password, PASSWORD)
            await store.add_user(service.pool, "claire", "advisor", FIRST_LINE, hashed)
            await store.add_user(service.pool, "victor", "advisor", TARGET_LINE, hashed)
            desk = AdvisorDesk(control, lambda: hotline)
            for line in LOGGED_IN:
                await desk.login(line)
            await asyncio.sleep(1)  # the service's live state sees the members before the caller is routed
            calls = asyncio.create_task(asyncio.to_thread(
                run_calls, [CallScript(digits=CRAFTS, caller_number="0320000041", hold_after_ms=60000)],
                port=settings.pbx.sip_port, number=hotline.number, timeout_s=120))
            base = f"http://{settings.http.host}:{settings.http.port}"
            async with aiohttp.ClientSession() as http:
                await asyncio.wait_for(watcher.first.wait(), timeout=60)
                if kind == "web":
                    await asyncio.sleep(TALK_BEFORE_TRANSFER_MS / 1000)
                    async with http.post(f"{base}/api/agents/{FIRST_LINE}/transfer", json={"partner": TARGET},
                                         headers=await api_token(http, base, "claire")) as r:
                        assert r.status == 200, await r.text()
                        web_reply = await r.json()
                await asyncio.wait_for(watcher.transferred.wait(), timeout=60)
                caller = watcher.connects[-1]["Channel"]
                caller_vars = {v: await getvar(control, caller, v) for v in (*EXPECTED_PROFILE, "QUEUE_PRIO")}
                await asyncio.sleep(0.5)  # the service's follower has the AgentConnect too
                async with http.get(f"{base}/api/advisor/screen",
                                    headers=await api_token(http, base, "victor")) as r:
                    assert r.status == 200, await r.text()
                    screen = await r.json()
            result = await calls
            assert result.ok, result.describe()
            await asyncio.sleep(2)  # the last hangups and queue events
        finally:
            await control.stop()
            await service.stop()
        log_dir = pbx.instance_dir / "log"
        shutil.copy(log_dir / "queue_log", work / "asterisk.queue_log")
    conn = await asyncpg.connect(database_url)
    try:
        cdr = await conn.fetch("SELECT * FROM cdr")
        rows = await conn.fetch(
            """SELECT floor(extract(epoch FROM time))::bigint AS stamp, callid, queuename, agent, event, data
               FROM queue_log ORDER BY time, id""")
    finally:
        await conn.close()
        await drop_database(database_url)
    ours = [f"{r['stamp']}|{r['callid']}|{r['queuename']}|{r['agent']}|{r['event']}|{r['data']}" for r in rows
            if r["event"] not in MEMBER_VERBS]
    asterisk = ["|".join(row) for row in rows_of(work / "asterisk.queue_log") if row[4] not in MEMBER_VERBS]
    return Outcome(cdr, ours, asterisk, watcher.connects, caller_vars, screen, web_reply)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_prompts(short_hotline(), tmp_path_factory.mktemp("prompts"))


@pytest.mark.parametrize(("kind", "verb", "transfer_type"), [
    ("blind", "BLINDTRANSFER", "blind"),
    ("attended", "ATTENDEDTRANSFER", "attended"),
    ("web", "BLINDTRANSFER", "blind"),
])
async def test_advisor_transfers_the_caller_to_another_partner_who_sees_the_profile(
    prompts: Path, tmp_path: Path, database_url: str, kind: str, verb: str, transfer_type: str
) -> None:
    hotline = short_hotline()
    out = await run_transfer(kind, hotline, prompts, tmp_path, database_url)
    exten = transfer_extension(hotline, TARGET)

    # Asterisk: the first line answered, the caller joined the CCI's queue, cci-01 answered.
    assert [(c["Queue"].startswith("partner-"), c["MemberName"]) for c in out.connects] == [
        (False, FIRST_LINE), (True, TARGET_LINE)]
    assert out.connects[1]["Queue"] == f"partner-{TARGET}"
    # The queue's caller channel kept the IVR's answers and got the transfer priority.
    assert out.caller_vars == {**EXPECTED_PROFILE, "QUEUE_PRIO": str(TRANSFER_PRIORITY)}
    # The CCI advisor's screen pop shows the caller's answers.
    assert out.screen["call_state"] == "connected" and out.screen["queue"] == f"partner-{TARGET}"
    assert {a["step"]: a["value"] for a in out.screen["answers"]} == {
        "need": "creation", "sector": "crafts", "size": "micro", "departement": "nord"}
    if out.web_reply is not None:
        assert out.web_reply == {"line": FIRST_LINE, "action": "transfer", "partner": TARGET,
                                 "queue": f"partner-{TARGET}", "exten": exten}

    # The service's queue_log is Asterisk's, with the transfer then the CCI queue.
    assert same_queue_log(out.ours, out.asterisk), (out.ours, out.asterisk)
    verbs = [(line.split("|")[2], line.split("|")[4]) for line in out.ours]
    assert (f"partner-{TARGET}", "ENTERQUEUE") in verbs
    assert verb in [v for _, v in verbs], verbs
    transfer_at = next(i for i, (_, v) in enumerate(verbs) if v == verb)
    enter_at = verbs.index((f"partner-{TARGET}", "ENTERQUEUE"))
    connect_at = verbs.index((f"partner-{TARGET}", "CONNECT"))
    if verb == "BLINDTRANSFER":
        # The transfer and the caller joining the CCI's queue happen in the same instant, and AMI
        # reported them in either order (seen once in CI): their seconds are compared, not their rows.
        assert transfer_at < connect_at and enter_at < connect_at
        assert int(out.ours[transfer_at].split("|")[0]) <= int(out.ours[enter_at].split("|")[0])
        assert f"|{FIRST_LINE}|BLINDTRANSFER|{exten}|{TRANSFER_CONTEXT}|" in out.ours[transfer_at]
    else:  # attended: the consultation queues first, the transfer completes when the advisor hangs up
        assert enter_at < connect_at < transfer_at

    # One record: the first answer, then where the transfer took the caller; the profile.
    assert len(out.cdr) == 1
    row = out.cdr[0]
    assert row["outcome"] == "answered" and row["line"] == FIRST_LINE and row["partner"] == "cma"
    assert (row["need"], row["sector"], row["size"], row["departement"]) == ("creation", "crafts", "micro", "nord")
    assert row["talk_seconds"] >= TALK_BEFORE_TRANSFER_MS // 1000
    expected_target = f"{exten}@{TRANSFER_CONTEXT}"
    assert (row["transfer_type"], row["transfer_target"], row["transfer_queue"], row["transfer_line"],
            row["transfer_partner"]) == (transfer_type, expected_target, f"partner-{TARGET}", TARGET_LINE, TARGET)
