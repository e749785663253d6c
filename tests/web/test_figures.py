"""Issue 14, defect 6 in Chromium: the wallboard and the reports page show one definition per figure.

The wallboard's service level counts the callers still waiting past the threshold (it drops
while a caller waits, with no AMI event), its bracket is the formula's own numerator and
denominator, labelled; the reports page's charts show the values of its tables; occupancy
is work over the logged-in time recorded in queue_log; every figure carries its French
definition (``cdr.kpi.DEFINITIONS_FR``) on hover.
"""

from __future__ import annotations

import datetime as dt
import time

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from cdr.kpi import KpiSettings, definition_fr
from tests.web.conftest import ARTIFACTS, WebStack
from tests.web.test_api import insert_call, leave
from tests.web.test_live_outage import logged_in
from web.pages import KPI_COLUMNS

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]

DEFAULT = KpiSettings()
QUEUE = "sector-crafts"


def join_at(uid: str, queue: str, at: float) -> dict[str, str]:
    return {"Event": "QueueCallerJoin", "Timestamp": f"{at:.6f}", "Channel": f"PJSIP/pstn-{uid}",
            "CallerIDNum": "0320990001", "CallerIDName": "Attend Longtemps", "Uniqueid": uid, "Linkedid": uid,
            "Queue": queue, "Position": "1", "Count": "1"}


async def test_wallboard_service_level_counts_a_caller_crossing_the_threshold_and_labels_its_bracket(
        web_stack: WebStack, browser: Browser) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)  # today, whatever the hour
    for n, (outcome, wait) in enumerate([("answered", 5), ("answered", 12), ("answered", 20), ("answered", 60),
                                         ("abandoned_in_queue", 30)]):
        await insert_call(web_stack, f"fig.{n}", "0320990000", outcome, start, queue=QUEUE, wait_seconds=wait,
                          talk_seconds=100, partner="cma" if outcome == "answered" else None,
                          line="cma-01" if outcome == "answered" else None)
    context, page, errors = await logged_in(browser, web_stack.url, "sam", "/wallboard")
    try:
        cell = page.locator(f'tr[data-queue="{QUEUE}"] td.sl')
        # 3 answered within 20 s (5, 12 and exactly 20 s) of 5 offered: "(4/5)" before, answered/offered
        await expect(cell).to_have_text("60 % (3 répondus ≤ 20 s / 5 présentés)", timeout=10_000)

        await expect(page.locator('tr[data-queue="sector-industry"] td.sl')).to_have_text("—")  # nothing to count
        # A caller joins, already 15 s in: undecided for 5 s, then past T with no AMI event in between.
        web_stack.live.apply(join_at("fig.w", QUEUE, time.time() - 15))
        await expect(cell).to_have_text("60 % (3 répondus ≤ 20 s / 5 présentés)")
        await expect(cell).to_have_text("50 % (3 répondus ≤ 20 s / (5 présentés + 1 en attente > 20 s))",
                                        timeout=15_000)
        await expect(page.locator("#sl")).to_have_text("50 %")
        await expect(page.locator("#sl-counts")).to_have_text(
            "(3 répondus ≤ 20 s / (5 présentés + 1 en attente > 20 s))")
        await page.screenshot(path=str(ARTIFACTS / "wallboard-service-level-past-threshold.png"), full_page=True)

        # Every figure carries its definition on hover (rendered by wallboard.js after the updates).
        sl = definition_fr("service_level", DEFAULT)
        await cell.hover()
        await expect(cell).to_have_attribute("title", sl)
        await expect(page.locator("div.big", has=page.locator("#sl"))).to_have_attribute("title", sl)
        row = page.locator(f'tr[data-queue="{QUEUE}"]')
        for css, name in (("td.waiting", "callers_waiting"), ("td.longest", "longest_wait"),
                          ("td.expected", "expected_wait"), ("td.free", "lines_available")):
            await expect(row.locator(css)).to_have_attribute("title", definition_fr(name, DEFAULT))
        titles = await page.locator("table.queues thead th").evaluate_all(
            "ths => ths.map(th => [th.textContent, th.title])")
        assert [text for text, title in titles if not title] == ["File", "Appelants"], titles
        assert ["NS du jour", sl] in titles
        assert not errors, errors
    finally:
        web_stack.live.apply(leave("fig.w", QUEUE))
        await context.close()


async def test_reports_page_chart_agrees_with_its_table_occupancy_uses_logged_in_time_definitions_on_hover(
        web_stack: WebStack, browser: Browser) -> None:
    day = dt.date(2026, 11, 24)  # a Tuesday, open hours 08:30-12:30 and 13:30-17:00 (7.5 h)
    at = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
    for n, wait in enumerate([5, 40]):
        await insert_call(web_stack, f"rep.{n}", "0320990002", "answered", at + dt.timedelta(minutes=n),
                          queue=QUEUE, wait_seconds=wait, talk_seconds=600, wrapup_seconds=60, partner="cma",
                          line="cma-01")
    # cma-01 logged in 2 h (08:30-10:30 UTC), paused 30 min in its only queue in between: 1.5 h logged in
    for minutes, event in ((-30, "ADDMEMBER"), (30, "PAUSE"), (60, "UNPAUSE"), (90, "REMOVEMEMBER")):
        await web_stack.pool.execute(
            "INSERT INTO queue_log (time, callid, queuename, agent, event) VALUES ($1, 'MANAGER', $2, 'cma-01', $3)",
            at + dt.timedelta(minutes=minutes), QUEUE, event)
    context, page, errors = await logged_in(browser, web_stack.url, "sam", f"/reports?from={day}")  # to = from
    try:
        cma = page.locator('table.kpi tr[data-key="cma"]')
        # 2 x (600 + 60) s of work over 5400 s logged in: 24 % (over the 7.5 open hours of 8 lines it read 1 %)
        await expect(cma.locator('td[data-kpi="occupancy"]')).to_have_text("24 %")
        await expect(cma.locator('td[data-kpi="service_level_answered"]')).to_have_text("50 %")

        # Each bar of a chart shows the value of the table cell of the same row and column.
        labels = {label: name for name, label in KPI_COLUMNS}
        for heading in ("Par partenaire", "Par file"):
            section = page.locator(f"h2:text-is('{heading}') + svg.chart")
            bars = await section.evaluate(
                """svg => [...svg.querySelectorAll('text.lbl')].map(lbl => {
                       const rect = lbl.nextElementSibling; let val = rect;
                       while (val && !(val.classList && val.classList.contains('val'))) val = val.nextElementSibling;
                       return [lbl.textContent, rect.querySelector('title').textContent.split(' : ')[0],
                               val.textContent]; })""")
            assert bars, heading
            table = page.locator(f"h2:text-is('{heading}') ~ table.kpi").first
            for key, series, shown in bars:
                cell = table.locator(f'tr[data-key="{key}"] td[data-kpi="{labels[series]}"]')
                await expect(cell).to_have_text(shown)

        for name, _ in KPI_COLUMNS:
            header = page.locator(f'table.kpi th[data-kpi="{name}"]').first
            await header.hover()
            await expect(header).to_have_attribute("title", definition_fr(name, DEFAULT))
        chart_title = await page.locator("h2:text-is('Par file') + svg.chart > title").text_content()
        assert chart_title == f"NS par file — {definition_fr('service_level', DEFAULT)}"
        await page.screenshot(path=str(ARTIFACTS / "reports-definitions.png"), full_page=True)
        assert not errors, errors
    finally:
        await context.close()


async def test_logged_in_time_carries_a_login_over_midnight_and_stops_now_for_today(web_stack: WebStack) -> None:
    """From queue_log through /api/reports: the state at the window's start, and today's cut at now."""
    async def member(line: str, at: dt.datetime, event: str) -> None:
        await web_stack.pool.execute(
            "INSERT INTO queue_log (time, callid, queuename, agent, event) VALUES ($1, 'MANAGER', $2, $3, $4)",
            at, QUEUE, line, event)

    # cma-02 logs in on the 22nd at 21:00 local (20:00 UTC) and out on the 23rd at 11:00 local:
    # the 23rd's report counts from local midnight (22nd 23:00 UTC), 11 h
    await member("cma-02", dt.datetime(2026, 11, 22, 20, 0, tzinfo=dt.UTC), "ADDMEMBER")
    await member("cma-02", dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC), "REMOVEMEMBER")
    # cma-03 logged in a minute ago and still in: today's report counts up to now, not up to midnight
    await member("cma-03", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1), "ADDMEMBER")
    async with aiohttp.ClientSession(headers=web_stack.bearer("sam")) as http:
        async with http.get(f"{web_stack.url}/api/reports?from=2026-11-23") as r:
            lines = (await r.json())["lines"]
        assert (lines["cma-02"]["logged_seconds"], lines["cma-02"]["logged_source"]) == (11 * 3600, "queue_log")
        assert lines["cma-04"]["logged_seconds"] == 0  # no row: never logged in
        async with http.get(f"{web_stack.url}/api/reports") as r:
            today = (await r.json())["lines"]
        assert 60 <= today["cma-03"]["logged_seconds"] <= 60 + 120, today["cma-03"]
