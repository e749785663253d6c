"""Issue 17 §6: every page is a Jinja template with autoescape on, so a value typed by a caller, an
advisor or a stranger (caller name, memo title, user name, User-Agent...) comes out as text, never
as markup, on every page function. Pure: view models in, text out."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest

from cdr.kpi import CallFacts, KpiSettings
from cdr.reports import make_report
from config.models import Hotline
from web import appointments_page, call_search, callbacks_page, login_failures_page, pages, users_admin
from web.screen import CallbackInfo, EarlierCall, MemoSection, ScreenPop
from web.wallboard import AgentRow, LineRow, PartnerRow, QueueRow, WaitingCaller, Wallboard

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
SAM = pages.PageUser(HOSTILE, "admin", None)  # the user's own name is shown in the navigation
AT = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
DAY = AT.date()


def board() -> Wallboard:
    caller = WaitingCaller(1, HOSTILE, HOSTILE, 42)
    queue = QueueRow(HOSTILE, 1, 42, 10, 1, 2, 0.5, 2, 1, 0, (caller,), label=HOSTILE)
    line = LineRow("cma-01", "paused", HOSTILE, 12, 0)
    return Wallboard(1, True, 0.0, 1, 42, 0.5, (queue,), (PartnerRow("cma", HOSTILE, {"paused": 1}, (line,)),),
                     alarms=(HOSTILE,), agents=(AgentRow("cma-01", HOSTILE, "paused", 12, 0, HOSTILE),))


def pop() -> ScreenPop:
    memo = MemoSection(1, HOSTILE, HOSTILE)
    earlier = EarlierCall("2026-11-20T10:00:00", "answered", HOSTILE, "cma-01", HOSTILE, HOSTILE, 30)
    callback = CallbackInfo("cb1", "callback", "Rappel", None, HOSTILE, 0, "x", "2026-11-20T10:00:00", HOSTILE)
    return ScreenPop("cma-01", "busy", "connected", queue=HOSTILE, queue_label=HOSTILE, number=HOSTILE, clid=HOSTILE,
                     earlier_calls=(earlier,), memo=(memo,), callback=callback)


def hostile_hotline(hotline: Hotline) -> Hotline:
    partners = [p.model_copy(update={"name": HOSTILE}) for p in hotline.partners]
    return hotline.model_copy(update={"partners": partners})


def cdr_row(**extra: object) -> dict[str, object]:
    row: dict[str, object] = {name: None for name in call_search.LIST_COLUMNS}
    row.update(linkedid=HOSTILE, start=AT, end=AT, src=HOSTILE, clid=HOSTILE, degraded=False, recovered=False,
               transfer_target=HOSTILE, wrapup_notes=HOSTILE, outcome=HOSTILE, **extra)
    return row


def report_page(hotline: Hotline) -> str:
    calls = [CallFacts(linkedid="r1", start=AT, outcome="abandoned_in_queue", queue="sector-crafts", wait_seconds=50)]
    report = dataclasses.replace(make_report(calls, hotline, DAY, DAY, KpiSettings()), pauses={HOSTILE: 3600})
    return pages.reports_page(report, SAM, HOSTILE, names={"cma": HOSTILE})


def call_page(hotline: Hotline) -> str:
    story = call_search.CallStory(
        [cdr_row()], [{"time": AT, "callid": "u1", "queuename": HOSTILE, "agent": HOSTILE, "event": HOSTILE,
                       "data": HOSTILE}],
        [{"kind": "callback", "status": HOSTILE, "tries": 1, "outcome": HOSTILE}], [cdr_row()])
    return call_search.call_page(story, hotline, SAM, HOSTILE)


def calls_page(hotline: Hotline) -> str:
    query = call_search.CallQuery(AT, AT, {"number": HOSTILE})
    return call_search.calls_page([cdr_row()], query, DAY, DAY, hotline, SAM, HOSTILE, HOSTILE, HOSTILE)


PAGES: dict[str, Callable[[Hotline], str]] = {
    "login_page": lambda h: pages.login_page(HOSTILE, HOSTILE),
    "error_page": lambda h: pages.error_page(400, HOSTILE, SAM, HOSTILE),
    "wallboard_page": lambda h: pages.wallboard_page(board(), HOSTILE, SAM, HOSTILE),
    "wallboard_body": lambda h: pages.wallboard_body(board()),
    "agent_grid": lambda h: pages.agent_grid(board()),
    "screen_body": lambda h: pages.screen_body(pop()),
    "transfer_section": lambda h: pages.transfer_section(HOSTILE, [(HOSTILE, HOSTILE)], True),
    "advisor_page": lambda h: pages.advisor_page(pop(), HOSTILE, [HOSTILE], SAM, HOSTILE, [(HOSTILE, HOSTILE)]),
    "reports_page": report_page,
    "rules_page": lambda h: pages.rules_page(hostile_hotline(h), [{"id": 1, "requested_by": HOSTILE,
                                                                   "result": HOSTILE}], SAM, HOSTILE,
                                             apply_available=False),
    "memo_page": lambda h: pages.memo_page([MemoSection(1, HOSTILE, HOSTILE)], h, SAM, HOSTILE),
    "appointments_page.section": lambda h: appointments_page.section(HOSTILE),
    "callbacks_page": lambda h: callbacks_page.callbacks_page(
        [callbacks_page.ListedCallback(HOSTILE, "callback", "pending", HOSTILE, HOSTILE, 1, AT, HOSTILE, HOSTILE,
                                       HOSTILE)], {}, [HOSTILE], SAM, HOSTILE),
    "login_failures_page": lambda h: login_failures_page.login_failures_page(
        [{"at": AT, "name": HOSTILE, "address": HOSTILE, "reason": HOSTILE, "client": HOSTILE, "user_agent": HOSTILE}],
        [{"name": HOSTILE, "account_exists": False, "failures": 1, "addresses": 1, "last": AT}],
        [{"address": HOSTILE, "failures": 1, "names": 1, "last": AT}], 24, "Europe/Paris", SAM, HOSTILE),
    "users_page": lambda h: users_admin.users_page(
        [{"name": HOSTILE, "role": "advisor", "line": HOSTILE, "disabled": False}],
        [{"at": AT, "actor": HOSTILE, "action": HOSTILE, "target": HOSTILE, "detail": HOSTILE}], SAM, HOSTILE,
        "Europe/Paris", message=HOSTILE, error=HOSTILE, shown_password=(HOSTILE, HOSTILE)),
    "calls_page": calls_page,
    "call_page": call_page,
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_prints_a_hostile_value_as_text(hotline: Hotline, name: str) -> None:
    page = PAGES[name](hotline)
    assert HOSTILE not in page
    assert ESCAPED in page


def test_a_value_with_quotes_cannot_leave_its_attribute() -> None:
    """Inside an attribute too: the quote is escaped as html.escape spells it (the tests and scripts expect it)."""
    page = pages.login_page(next_url='" onfocus="alert(1)')
    assert 'value="&quot; onfocus=&quot;alert(1)"' in page and 'value="" onfocus' not in page


def test_json_for_the_scripts_is_data_not_markup() -> None:
    text = pages.json_script("x", {"name": HOSTILE, "it's": "l'appel"})
    assert HOSTILE not in text and "\\u003cscript\\u003e" in text and text.count("</script>") == 1
