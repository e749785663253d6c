"""Issue 14, missing 1 in Chromium: the crisis wallboard at 1080p.

A caller waiting past the longest-wait alarm turns that figure red and says so aloud
(``aria-live``); eight callers in one queue show five and "+3 de plus"; a supervisor's
"Pause" on a row of the agent grid reaches the advisor desk (the same agent API as the
line's own page). Screenshot: wallboard-crisis-1080p.png.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import Browser, expect

from tests.web.conftest import ARTIFACTS, WebStack
from tests.web.test_api import leave
from tests.web.test_live_outage import logged_in

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]

QUEUE = "sector-crafts"


def join_at(uid: str, at: float, position: int) -> dict[str, str]:
    return {"Event": "QueueCallerJoin", "Timestamp": f"{at:.6f}", "Channel": f"PJSIP/pstn-{uid}",
            "CallerIDNum": f"03209900{position:02d}", "CallerIDName": f"Appelant {position}", "Uniqueid": uid,
            "Linkedid": uid, "Queue": QUEUE, "Position": str(position), "Count": str(position)}


async def test_crisis_wallboard_alarms_overflows_and_pauses_a_line_from_the_grid(
        web_stack: WebStack, browser: Browser) -> None:
    context, page, errors = await logged_in(browser, web_stack.url, "sam", "/wallboard")
    uids = [f"crisis.{n}" for n in range(8)]
    try:
        await page.set_viewport_size({"width": 1920, "height": 1080})
        figure = page.locator("#fig-longest_wait")
        await expect(figure).to_have_class("big lvl-ok", timeout=10_000)
        await expect(page.locator("#alarms")).not_to_contain_text("attente max")

        # The first caller has already waited 130 s (alarm past 120 s); seven more just joined.
        now = time.time()
        for n, uid in enumerate(uids):
            web_stack.live.apply(join_at(uid, now - 130 if n == 0 else now - 1, n + 1))
        await expect(figure).to_have_class("big lvl-alarm", timeout=10_000)
        await expect(page.locator("#alarms")).to_contain_text("Alarme : attente max 2:1")
        await expect(page.locator("#alarms")).to_have_attribute("aria-live", "assertive")
        await expect(page.locator("#fig-callers_waiting")).to_have_class("big lvl-warn")  # 8 > 5, not > 15

        callers = page.locator(f'tr[data-queue="{QUEUE}"] ol.callers li')
        await expect(callers).to_have_count(6)
        await expect(callers.nth(0)).to_contain_text("Appelant 1")
        await expect(callers.nth(5)).to_have_text("+3 de plus")
        # the queue's own row turns red too: its longest wait and its service level
        await expect(page.locator(f'tr[data-queue="{QUEUE}"] td.longest')).to_have_class("longest lvl-alarm")
        await expect(page.locator(f'tr[data-queue="{QUEUE}"] td.sl')).to_have_class("sl lvl-alarm")
        await page.screenshot(path=str(ARTIFACTS / "wallboard-crisis-1080p.png"), full_page=True)

        row = page.locator('#agent-rows tr[data-line="cma-01"]')
        await expect(row.locator("td").nth(0)).not_to_be_empty()  # the partner's name
        pause = row.locator('button[data-action="pause"]')
        await expect(pause).to_have_text("Pause")
        await expect(row.locator('button[data-action="logout"]')).to_have_text("Déconnecter")
        before = len(web_stack.desk.calls)
        await pause.click()
        await expect(page.locator("#agent-result")).to_have_text("cma-01 — Pause : fait", timeout=10_000)
        for _ in range(50):
            if len(web_stack.desk.calls) > before:
                break
            await asyncio.sleep(0.1)
        assert web_stack.desk.calls[before:] == [("pause", "cma-01", "pause superviseur")]
        assert not errors, errors
    finally:
        for uid in uids:
            web_stack.live.apply(leave(uid, QUEUE))
        await context.close()
