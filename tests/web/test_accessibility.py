"""Issue 14, "finish": every page is accessible and usable at phone width (Chromium + axe-core).

Each page, opened by the role that uses it, is checked by axe-core (the engine of Lighthouse and of
browsers' accessibility panels, bundled by axe-playwright-python) for WCAG 2.0/2.1 A and AA rules:
labels on every control, colour contrast of at least 4.5:1, names of links and buttons, the page's
language... At 390 px wide (a phone) no page scrolls sideways. A screenshot of each page at 1080p
and at 390 px is saved under var/artifacts/web/ for whoever reviews the pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext

from tests.web.conftest import ARTIFACTS, PASSWORD, WebStack

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]

# (role's user, path): every page of the web, as its users open it.
PAGES = [
    ("sam", "/login"), ("sam", "/wallboard"), ("alice", "/advisor"), ("sam", "/reports"), ("sam", "/rappels"),
    ("sam", "/appels"), ("ada", "/rules"), ("ada", "/memo"), ("ada", "/connexions"), ("ada", "/utilisateurs"),
]
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
SIZES = {"1080p": {"width": 1920, "height": 1080}, "phone": {"width": 390, "height": 844}}


@pytest_asyncio.fixture(loop_scope="module")
async def sessions(web_stack: WebStack, browser: Browser) -> AsyncIterator[dict[str, BrowserContext]]:
    """One logged-in browser context per user (cookies shared by their pages)."""
    contexts: dict[str, BrowserContext] = {}
    try:
        for name in {name for name, _ in PAGES}:
            context = await browser.new_context(viewport=SIZES["1080p"])
            page = await context.new_page()
            await page.goto(f"{web_stack.url}/login")
            await page.fill('input[name="name"]', name)
            await page.fill('input[name="password"]', PASSWORD)
            await page.click('button[type="submit"]')
            await page.wait_for_url(lambda url: "/login" not in url)
            await page.close()
            contexts[name] = context
        yield contexts
    finally:
        for context in contexts.values():
            await context.close()


@pytest.mark.parametrize(("name", "path"), PAGES)
async def test_every_page_passes_axe_core_and_fits_a_phone(
    web_stack: WebStack, sessions: dict[str, BrowserContext], name: str, path: str
) -> None:
    context = sessions[name]
    page = await context.new_page()
    try:
        await page.set_viewport_size(SIZES["1080p"])
        response = await page.goto(f"{web_stack.url}{path}")
        assert response is not None and response.status == 200
        await page.wait_for_load_state("networkidle")
        slug = path.strip("/") or "home"
        await page.screenshot(path=str(ARTIFACTS / f"page-{slug}-1080p.png"), full_page=True)
        results = await Axe().run(page, options=WCAG)
        problems = [f"{v['id']} ({v['impact']}): {v['help']} -> "
                    + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
                    for v in results.response["violations"]]
        assert not problems, f"{path}:\n" + "\n".join(problems)

        await page.set_viewport_size(SIZES["phone"])
        await page.wait_for_timeout(200)
        widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        await page.screenshot(path=str(ARTIFACTS / f"page-{slug}-390px.png"), full_page=True)
        assert widths[0] <= widths[1], f"{path} at 390 px scrolls sideways: {widths[0]} px wide"
    finally:
        await page.close()
