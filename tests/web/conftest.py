"""The web app on a free loopback port, over the real PostgreSQL (its own database).

The live state is booted from a QueueStatus recorded on the sandbox Asterisk 22
(every line a member of its queues); tests then apply AMI events to it as the
service's AMI follower does.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, async_playwright

from cdr.correlator import CdrCorrelator
from cdr.migrate import migrate
from config.models import Hotline
from config.settings import REPO_ROOT
from queues.advisors import NotLoggedIn, UnknownLine
from queues.ami_parse import parse_ami_stream
from queues.state import LiveState, StateConfig
from queues.state_seed import seed_from_queue_status
from routing.rules import diff_rules
from sandbox.ports import free_tcp_port
from tests.conftest import drop_database, recreate_database
from web import store
from web.app import make_app
from web.deps import WebDeps
from web.passwords import hash_password
from web.ports import FixedHotline, RuleOutcome
from web.wiring import CorrelatorCalls

CHROMIUM = "/usr/bin/chromium"
# Headless as root on a machine without outside network: no sandbox, no background connections.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts"  # screenshots the browser tests leave

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
PASSWORD = "correct horse battery staple"
USERS = {"ada": ("admin", None), "sam": ("supervisor", None), "alice": ("advisor", "cma-01"),
         "bob": ("advisor", "cci-02")}



def booted_live(hotline: Hotline) -> LiveState:
    traffic = parse_ami_stream((FIXTURES / "queue_state_session.raw").read_bytes())
    start = next(m for m in traffic if m.get("EventList") == "start")
    reply = [m for m in traffic if m.get("ActionID") == start["ActionID"]]
    first_time = next(float(m["Timestamp"]) for m in traffic if "Timestamp" in m)
    live = LiveState(StateConfig.from_hotline(hotline))
    live.load(seed_from_queue_status(reply, taken_at=first_time))
    return live


class RecordingDesk:
    """Stands in for ``queues.advisors.AdvisorDesk`` where no Asterisk runs (db tier): records the calls.

    The real desk on a real Asterisk is exercised by the pbx-tier browser test.
    """

    def __init__(self, lines: set[str]) -> None:
        self.lines = lines
        self.calls: list[tuple[str, str, str]] = []
        self.logged_out: set[str] = set()

    def _check(self, line: str) -> None:
        if line not in self.lines:
            raise UnknownLine(f"unknown line {line!r}")  # what the real desk raises

    async def login(self, line: str) -> None:
        self._check(line)
        self.calls.append(("login", line, ""))

    async def logout(self, line: str) -> None:
        self._check(line)
        self.calls.append(("logout", line, ""))

    async def pause(self, line: str, reason: str) -> None:
        self._check(line)
        if line in self.logged_out:
            raise NotLoggedIn(f"{line} n'est connectée à aucune file")  # as AdvisorDesk when app_queue says so
        self.calls.append(("pause", line, reason))

    async def unpause(self, line: str) -> None:
        self._check(line)
        self.calls.append(("unpause", line, ""))

    async def transfer(self, line: str, partner: str) -> str:
        self._check(line)
        self.calls.append(("transfer", line, partner))
        return "*5"

    async def listen(self, supervisor_line: str, line: str, mode: str) -> str:
        self._check(line)
        self.calls.append(("listen", line, f"{supervisor_line}:{mode}"))
        return f"PJSIP/{line}-00000001"


class FixedRules:
    """Stands in for ``web.wiring.DatabaseRulesGateway`` where no rules engine runs: ``hotline`` stays the
    rules in service; an apply or rollback is recorded and stays pending (the pbx tier applies for real)."""

    def __init__(self, hotline: Hotline) -> None:
        self.hotline = hotline
        self.requests: list[tuple[str, int | None, str, str]] = []  # (action, version, by, source)

    async def request_apply(self, hotline: Hotline, *, by: str, source: str) -> int:
        self.requests.append(("apply", hotline.version, by, source))
        return len(self.requests)

    async def request_rollback(self, *, by: str) -> int:
        self.requests.append(("rollback", None, by, "web"))
        return len(self.requests)

    async def wait_outcome(self, request_id: int, timeout: float) -> RuleOutcome:  # noqa: ASYNC109 (the port)
        return RuleOutcome(request_id, "pending", None, "no rules engine here")

    def diff(self, old: Hotline | None, new: Hotline) -> list[str]:
        return diff_rules(old, new)

    async def check(self, hotline: Hotline) -> tuple[list[str], list[str]]:
        return diff_rules(self.hotline, hotline), []


@dataclass
class WebStack:
    url: str
    pool: asyncpg.Pool
    live: LiveState
    deps: WebDeps
    app: web.Application
    desk: RecordingDesk
    correlator: CdrCorrelator
    rules: FixedRules
    tokens: dict[str, str] = field(default_factory=dict)

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


async def create_users(pool: asyncpg.Pool) -> None:
    hashed = await asyncio.to_thread(hash_password, PASSWORD)  # one hash (slow on purpose), shared
    for name, (role, line) in USERS.items():
        await store.add_user(pool, name, role, line, hashed)


async def api_token(url: str, name: str, password: str = PASSWORD) -> str:
    async with aiohttp.ClientSession() as http, http.post(
            f"{url}/api/login", json={"name": name, "password": password, "client": "api"}) as response:
        assert response.status == 200, await response.text()
        token: str = (await response.json())["token"]
        return token


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def web_stack(hotline: Hotline) -> AsyncIterator[WebStack]:
    url_db = f"postgresql://postgres@127.0.0.1:5432/aiguilleur_web_{os.getpid()}"
    await recreate_database(url_db)
    pool = await asyncpg.create_pool(url_db, min_size=1, max_size=8)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        await create_users(pool)
        live = booted_live(hotline)
        desk = RecordingDesk({line for line, _ in hotline.lines()})
        rules = FixedRules(hotline)

        def partner_of(line: str) -> str | None:
            partner = hotline.partner_of(line)
            return partner.id if partner else None

        correlator = CdrCorrelator(partner_of=partner_of)
        deps = WebDeps(pool=pool, live=live, hotline=FixedHotline(hotline), desk=desk, rules=rules,
                       calls=CorrelatorCalls(correlator), feed_interval=0.05, today_interval=0.5)
        app = make_app(deps)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        port = free_tcp_port()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        stack = WebStack(f"http://127.0.0.1:{port}", pool, live, deps, app, desk, correlator, rules)
        for name in USERS:
            stack.tokens[name] = await api_token(stack.url, name)
        try:
            yield stack
        finally:
            await runner.cleanup()
    finally:
        await pool.close()
        await drop_database(url_db)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    assert shutil.which(CHROMIUM), "Debian's chromium is missing: sandbox/install-system-deps.sh installs it"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()
