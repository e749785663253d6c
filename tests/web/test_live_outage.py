"""Issue 14, defect 1: the live pages survive a real PostgreSQL outage (Chromium).

A private PostgreSQL (``tests.db.private_postgres``, never the machine's shared
server) is stopped for 30 s under an open wallboard and an open advisor page.
The pages must say the connection is lost ("Connexion perdue, nouvelle
tentative…"), stop their wait timers while stale, keep retrying (with backoff,
however many errors the server answers) and resync from a snapshot when the
database is back. Meanwhile a page or a login answers a French error page, not
a raw 500.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, expect

from cdr.correlator import CdrCorrelator
from cdr.migrate import migrate
from config.models import Hotline
from queues.state import LiveState
from tests.db.private_postgres import PrivatePostgres
from tests.web.conftest import ARTIFACTS, PASSWORD, FixedRules, RecordingDesk, booted_live, create_users, free_tcp_port
from tests.web.test_api import agent_called, join, stamp
from web.app import make_app
from web.deps import WebDeps
from web.ports import FixedHotline
from web.wiring import CorrelatorCalls

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]

OUTAGE_SECONDS = 30
BANNER = "Connexion perdue, nouvelle tentative…"


@dataclass
class OutageStack:
    url: str
    pg: PrivatePostgres
    live: LiveState
    correlator: CdrCorrelator


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def outage_stack(hotline: Hotline) -> AsyncIterator[OutageStack]:
    pg = await asyncio.to_thread(PrivatePostgres)
    try:
        await asyncio.to_thread(pg.start)
        pool = await asyncpg.create_pool(pg.url(), min_size=1, max_size=8)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            await create_users(pool)
            live = booted_live(hotline)
            desk = RecordingDesk({line for line, _ in hotline.lines()})

            def partner_of(line: str) -> str | None:
                partner = hotline.partner_of(line)
                return partner.id if partner else None

            correlator = CdrCorrelator(partner_of=partner_of)
            # The session row is re-checked every 2 s here (30 s in service): the outage is seen at once.
            deps = WebDeps(pool=pool, live=live, hotline=FixedHotline(hotline), desk=desk, rules=FixedRules(hotline),
                           calls=CorrelatorCalls(correlator), feed_interval=0.05, today_interval=0.5,
                           session_recheck_seconds=2.0)
            runner = web.AppRunner(make_app(deps), access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            port = free_tcp_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                yield OutageStack(f"http://127.0.0.1:{port}", pg, live, correlator)
            finally:
                await runner.cleanup()
        finally:
            await pool.close()
    finally:
        await asyncio.to_thread(pg.close)


async def logged_in(browser: Browser, url: str, name: str, path: str) -> tuple[BrowserContext, Page, list[str]]:
    context = await browser.new_context(viewport={"width": 1600, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []  # script errors only: a refused reconnect logs a console error, as it should
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{url}/login?next={path}")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    await expect(page).to_have_url(f"{url}{path}")
    return context, page, errors


def ivr(uid: str, number: str, name: str) -> list[dict[str, str]]:
    return [
        {"Event": "Newchannel", "Timestamp": stamp(), "Channel": f"PJSIP/pstn-{uid}", "Uniqueid": uid,
         "Linkedid": uid, "CallerIDNum": number, "CallerIDName": name, "Exten": "0800596280"},
        {"Event": "UserEvent", "UserEvent": "AiguilleurIvr", "Timestamp": stamp(), "Uniqueid": uid,
         "Linkedid": uid, "Need": "difficulty", "Sector": "crafts", "Size": "micro", "Departement": "nord",
         "Exit": "completed", "Queue": "sector-crafts"},
    ]


def connect(uid: str, queue: str, line: str) -> dict[str, str]:
    return {**agent_called(uid, queue, line), "Event": "AgentConnect", "HoldTime": "3", "RingTime": "2"}


async def test_live_pages_survive_a_real_postgresql_outage(outage_stack: OutageStack, browser: Browser) -> None:
    stack, live = outage_stack, outage_stack.live
    live.apply(join("7100.1", "sector-commerce", "0320710001", "Patient Anglais"))  # waits the whole test
    for event in ivr("7100.2", "0320710002", "Boulangerie Martin"):
        stack.correlator.feed(event)
    wall_ctx, wall, wall_errors = await logged_in(browser, stack.url, "sam", "/wallboard")
    advisor_ctx, advisor, advisor_errors = await logged_in(browser, stack.url, "alice", "/advisor")
    try:
        banner_wall, banner_advisor = wall.locator("#connection-lost"), advisor.locator("#connection-lost")
        await expect(wall.locator("#total-waiting")).to_have_text("1")
        await expect(banner_wall).to_be_hidden()
        await expect(banner_advisor).to_be_hidden()
        live.apply(join("7100.2", "sector-crafts", "0320710002", "Boulangerie Martin"))
        live.apply(agent_called("7100.2", "sector-crafts", "cma-01"))
        await expect(advisor.locator("#caller")).to_have_class("caller ringing", timeout=10_000)
        await expect(wall.locator("#total-waiting")).to_have_text("2")

        await asyncio.to_thread(stack.pg.stop, "fast")  # the real server goes away
        down_at = time.monotonic()
        try:
            # Both pages notice (the stream's session re-check fails) and say so.
            await expect(banner_wall).to_be_visible(timeout=15_000)
            await expect(banner_wall).to_have_text(BANNER)
            await expect(banner_advisor).to_be_visible(timeout=15_000)
            await expect(banner_advisor).to_have_text(BANNER)
            await expect(wall.locator("body")).to_have_class("wall stale")
            # The wait timers stand still while the figures are stale.
            frozen = await wall.locator("#longest").text_content()
            await asyncio.sleep(2.5)
            assert await wall.locator("#longest").text_content() == frozen
            await wall.screenshot(path=str(ARTIFACTS / "wallboard-database-outage.png"), full_page=True)
            await advisor.screenshot(path=str(ARTIFACTS / "advisor-database-outage.png"), full_page=True)

            # A page and a login answer a French error page, not a raw 500.
            async with aiohttp.ClientSession() as http, http.post(
                    f"{stack.url}/login", data={"name": "sam", "password": PASSWORD}, allow_redirects=False) as r:
                body = await r.text()
                assert r.status == 503, (r.status, body)
                assert "indisponible" in body and "Internal Server Error" not in body
                assert r.headers["Content-Type"].startswith("text/html")
            page = await wall_ctx.new_page()
            response = await page.goto(f"{stack.url}/wallboard")
            assert response is not None and response.status == 503
            await expect(page.locator("main")).to_contain_text("momentanément indisponible")
            await page.close()

            # The world moves on while the pages cannot see it: a third caller, the ringing call answered.
            live.apply(join("7100.3", "sector-commerce", "0320710003", "Troisième", position=2))
            live.apply(connect("7100.2", "sector-crafts", "cma-01"))
            live.apply({"Event": "QueueCallerLeave", "Timestamp": stamp(), "Uniqueid": "7100.2",
                        "Linkedid": "7100.2", "Queue": "sector-crafts", "Position": "1", "Count": "0"})
            await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
            await expect(banner_wall).to_be_visible()  # still trying, still saying so
            await expect(banner_advisor).to_be_visible()
        finally:
            await asyncio.to_thread(stack.pg.start)

        # Back: both pages reconnect on their own and resync from a fresh snapshot.
        await expect(banner_wall).to_be_hidden(timeout=30_000)
        await expect(wall.locator("body")).to_have_class("wall")
        await expect(wall.locator("#total-waiting")).to_have_text("2")
        await expect(wall.locator('tr[data-queue="sector-commerce"] .callers .name')).to_have_text(
            ["Patient Anglais", "Troisième"])
        await expect(banner_advisor).to_be_hidden(timeout=30_000)
        await expect(advisor.locator("#caller")).to_have_class("caller connected")
        await expect(advisor.locator("#caller-number")).to_have_text("0320710002")
        # The timers tick again.
        before = await wall.locator("#longest").text_content()
        await expect(wall.locator("#longest")).not_to_have_text(before or "", timeout=5_000)
        await wall.screenshot(path=str(ARTIFACTS / "wallboard-after-outage.png"), full_page=True)
        assert not wall_errors and not advisor_errors, (wall_errors, advisor_errors)
    finally:
        await wall_ctx.close()
        await advisor_ctx.close()
