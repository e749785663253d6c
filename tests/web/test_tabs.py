"""Issue 14, defect 7: eight wallboard tabs in one browser all load and stay live (Chromium).

Each page used to hold its own event stream, and a browser opens at most 6
HTTP/1.1 connections per host: the seventh tab never loaded. Now the tabs of a
browser share one stream (one tab leads, Web Locks; the others hear it over a
BroadcastChannel); when the leading tab closes another takes over.
"""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, Page, expect

from tests.web.conftest import ARTIFACTS, WebStack
from tests.web.test_api import join, leave
from tests.web.test_live_outage import logged_in
from web.deps import FEED
from web.live import LiveFeed

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]

TABS = 8


async def one_stream_left(feed: LiveFeed, when: str) -> None:
    """A stream a tab gave up (another took the lead, or it closed) ends server-side at the next
    write to it: a new frame, or at the latest the keep-alive (15 s on this stack's 30 s session
    re-check: ``web.routes.live.keepalive_seconds``)."""
    for _ in range(200):
        if feed.clients == 1:
            return
        await asyncio.sleep(0.1)
    assert feed.clients == 1, f"{feed.clients} event streams {when}"


async def test_eight_tabs_load_share_one_stream_and_survive_the_leading_tab_closing(
        web_stack: WebStack, browser: Browser) -> None:
    feed = web_stack.app[FEED]
    context, first, errors = await logged_in(browser, web_stack.url, "sam", "/wallboard")
    try:
        pages: list[Page] = [first]
        for n in range(1, TABS):
            page = await context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{web_stack.url}/wallboard", timeout=10_000)  # the 7th used to hang here
            pages.append(page)
            await expect(page.locator("#total-waiting")).to_be_visible()
            assert n < 6 or feed.clients <= 2, f"tab {n + 1}: {feed.clients} streams"
        await one_stream_left(feed, f"for {TABS} tabs of one browser")

        web_stack.live.apply(join("7400.1", "sector-commerce", "0320740001", "Huit Onglets"))
        for page in pages:
            await expect(page.locator("#total-waiting")).to_have_text("1", timeout=10_000)
        await pages[-1].screenshot(path=str(ARTIFACTS / "wallboard-eighth-tab.png"), full_page=True)

        await pages[0].close()  # the tab that opened the stream goes away: another one takes over
        web_stack.live.apply(leave("7400.1", "sector-commerce"))
        for page in pages[1:]:
            await expect(page.locator("#total-waiting")).to_have_text("0", timeout=15_000)
        # The new leader's stream may open before the closed tab's one has ended: two for a moment.
        await one_stream_left(feed, "after the leading tab closed")
        assert not errors, errors
    finally:
        await context.close()
