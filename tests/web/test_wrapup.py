"""Issue 14, defect 5: the screen pop stays through wrap-up, with notes and a wrap-up code (Chromium).

The pop used to vanish at hang-up, exactly when the advisor writes notes. Now the
notes field opens with the call, the pop stays after the hang-up (a reload too)
until the advisor picks a wrap-up code (the partner's list, ``config/hotline.yaml``)
and clicks "Terminer le post-appel"; code, notes, who and when are saved on the
call's record (``cdr``). Caller data and notes are shown as text, never as HTML.
"""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import Browser, expect

from config.models import Hotline
from tests.web.conftest import ARTIFACTS, WebStack
from tests.web.test_api import agent_called, join, leave, stamp
from tests.web.test_live_outage import logged_in

pytestmark = [pytest.mark.db, pytest.mark.asyncio(loop_scope="module")]

UID = "7300.1"
CALLER = "0320730001"
HOSTILE_NAME = '<img src=x onerror=alert(1)> Brasserie "Le Nord"'
NOTES = "Prêt de trésorerie <b>urgent</b> : rappeler la CMA de Lille lundi"


def events_of_the_call() -> list[dict[str, str]]:
    return [
        {"Event": "Newchannel", "Timestamp": stamp(), "Channel": f"PJSIP/pstn-{UID}", "Uniqueid": UID,
         "Linkedid": UID, "CallerIDNum": CALLER, "CallerIDName": HOSTILE_NAME, "Exten": "0800596280"},
        {"Event": "UserEvent", "UserEvent": "AiguilleurIvr", "Timestamp": stamp(), "Uniqueid": UID,
         "Linkedid": UID, "Need": "difficulty", "Sector": "crafts", "Size": "micro", "Departement": "nord",
         "Exit": "completed", "Queue": "sector-crafts"},
    ]


def connect() -> dict[str, str]:
    return {**agent_called(UID, "sector-crafts", "cma-01"), "Event": "AgentConnect", "HoldTime": "3",
            "RingTime": "2"}


def complete() -> dict[str, str]:
    return {**agent_called(UID, "sector-crafts", "cma-01"), "Event": "AgentComplete", "HoldTime": "3",
            "TalkTime": "95", "Reason": "caller"}


async def test_the_pop_stays_through_wrap_up_and_the_notes_and_code_reach_the_call_record(
        web_stack: WebStack, browser: Browser, hotline: Hotline) -> None:
    cma = next(p for p in hotline.partners if p.id == "cma")
    for event in events_of_the_call():
        web_stack.correlator.feed(event)
    context, page, errors = await logged_in(browser, web_stack.url, "alice", "/advisor")
    try:
        web_stack.live.apply(join(UID, "sector-crafts", CALLER, HOSTILE_NAME))
        web_stack.live.apply(agent_called(UID, "sector-crafts", "cma-01"))
        web_stack.live.apply(connect())
        web_stack.live.apply(leave(UID, "sector-crafts"))
        caller = page.locator("#caller")
        await expect(caller).to_have_class("caller connected", timeout=10_000)
        assert cma.wrapup_codes, "config/hotline.yaml gives CMA its wrap-up codes"
        # The notes open with the call: the advisor types while talking.
        notes = page.get_by_label("Notes de l'appel")
        await expect(notes).to_be_visible()
        finish = page.get_by_role("button", name="Terminer le post-appel")
        await expect(finish).to_be_disabled()  # not while the caller is still on the line
        await notes.fill(NOTES)
        await page.screenshot(path=str(ARTIFACTS / "advisor-in-call-notes.png"), full_page=True)

        web_stack.live.apply(complete())  # the caller hangs up
        await expect(caller).to_have_class("caller wrapup", timeout=10_000)  # was: the pop vanished
        await expect(page.locator("#caller-number")).to_have_text(CALLER)
        await expect(caller.locator("h2")).to_contain_text("Post-appel")
        await expect(page.locator("#caller-number")).to_have_text(CALLER)
        await expect(page.locator("#caller-clid")).to_contain_text(HOSTILE_NAME)  # as text
        await expect(page.locator("#answers")).to_contain_text("artisanat")
        await expect(notes).to_have_value(NOTES)  # kept across the re-render
        code = page.get_by_label("Code de post-appel")
        await expect(code.locator("option")).to_have_text(["Choisissez…", *[c.label for c in cma.wrapup_codes]])
        await expect(finish).to_be_enabled()
        await page.screenshot(path=str(ARTIFACTS / "advisor-wrapup.png"), full_page=True)

        # A reload in the middle of the wrap-up: the pop is still there (the notes typed are not).
        await page.reload()
        await expect(caller).to_have_class("caller wrapup", timeout=10_000)
        await expect(page.locator("#caller-number")).to_have_text(CALLER)
        await notes.fill(NOTES)

        result = page.locator("#wrapup-result")
        await finish.click()
        await expect(result).to_have_text("Choisissez un code de post-appel.")
        chosen = cma.wrapup_codes[1]
        await code.select_option(chosen.id)
        # The record is not written yet (the writer's batch): said, and the pop stays.
        await finish.click()
        await expect(result).to_contain_text("pas encore enregistré", timeout=10_000)
        await expect(caller).to_have_class("caller wrapup")
        start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
        await web_stack.pool.execute(
            """INSERT INTO cdr (linkedid, uniqueid, src, clid, start, answer, "end", duration, billsec,
                                disposition, outcome, partner, line, need, sector)
               VALUES ($1, $1, $2, $3, $4::timestamptz, $4::timestamptz + interval '5 seconds',
                       $4::timestamptz + interval '100 seconds', 100, 95,
                       'ANSWERED', 'answered', 'cma', 'cma-01', 'difficulty', 'crafts')""",
            UID, CALLER, f'"{HOSTILE_NAME}" <{CALLER}>', start)
        await finish.click()
        await expect(page.locator("#no-call")).to_be_visible(timeout=10_000)
        await expect(page.locator("#wrapup")).to_have_count(0)
        row = await web_stack.pool.fetchrow(
            "SELECT wrapup_code, wrapup_notes, wrapup_by, wrapup_done_at FROM cdr WHERE linkedid = $1", UID)
        assert row is not None
        assert (row["wrapup_code"], row["wrapup_notes"], row["wrapup_by"]) == (chosen.id, NOTES, "alice")
        assert row["wrapup_done_at"] is not None
        await page.reload()  # done is done: no pop comes back
        await expect(page.locator("#no-call")).to_be_visible()
        assert not errors, errors
    finally:
        await context.close()
        await web_stack.pool.execute("DELETE FROM cdr WHERE linkedid = $1", UID)
