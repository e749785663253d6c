"""Issue 14, defect 6: one definition per figure in the wallboard, the reports page, ``aiguilleur report`` and
``/metrics`` (``cdr.kpi``'s), each figure with its definition on hover. Pure: view models in, text out.

The browser side (the same figures after a live update, the hover) is ``tests/web/test_figures.py``.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from aiguilleur import cli_report
from cdr import kpi
from cdr.kpi import CallFacts, KpiSettings
from cdr.reports import LOGGED_FROM_OPEN_HOURS, LOGGED_FROM_QUEUE_LOG, make_report
from config.models import Hotline
from queues.state import LiveState
from tests.web.conftest import booted_live
from web import pages
from web.metrics import Health, render
from web.pages import PageUser
from web.wallboard import PartnerInfo, TodayStats, build

DEFAULT = KpiSettings()
SAM = PageUser("sam", "supervisor", None)
DAY = dt.date(2026, 11, 24)  # a Tuesday, open 08:30-12:30 and 13:30-17:00 (config/hotline.yaml)
T9 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def live(hotline: Hotline) -> LiveState:
    return booted_live(hotline)


def partners(hotline: Hotline) -> list[PartnerInfo]:
    return [PartnerInfo(p.id, p.name, tuple(p.line_ids())) for p in hotline.partners]


def join(live: LiveState, uid: str, queue: str, at: float) -> None:
    live.apply({"Event": "QueueCallerJoin", "Timestamp": f"{at:.6f}", "Uniqueid": uid, "Linkedid": uid,
                "Queue": queue, "CallerIDNum": "0320000000", "CallerIDName": "Appelant", "Position": "1"})


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


# --- the wallboard ---------------------------------------------------------------------------------
def test_wallboard_bracket_is_the_service_levels_own_numerator_and_denominator(
        hotline: Hotline, live: LiveState) -> None:
    """"32 % (71/71)": the bracket was answered/offered, not answered within the threshold."""
    today = {"sector-crafts": TodayStats(offered=71, answered=71, answered_within_threshold=23, abandoned=0,
                                         service_level=23 / 71)}
    board = build(live.snapshot(), partners(hotline), today, live.now, today_overall=today["sector-crafts"])
    row = re.search(r'<tr data-queue="sector-crafts".*?</tr>', pages.wallboard_body(board)).group(0)  # type: ignore[union-attr]
    cell = re.search(r'<td class="sl[ "].*?</td>', row).group(0)  # type: ignore[union-attr]
    assert text_of(cell) == "32 % (23 répondus ≤ 20 s / 71 présentés)"


def test_wallboard_counts_callers_still_waiting_past_the_threshold_against_the_days_service_level(
        hotline: Hotline, live: LiveState) -> None:
    now = live.now + 200
    join(live, "1.1", "sector-crafts", now - 150)  # past 20 s
    join(live, "1.2", "sector-crafts", now - 20)  # exactly 20 s: undecided
    join(live, "1.3", "sector-commerce", now - 21)  # past
    crafts = TodayStats(offered=50, answered=49, answered_within_threshold=49, abandoned=1, service_level=0.98)
    overall = TodayStats(offered=100, answered=99, answered_within_threshold=98, abandoned=1, service_level=0.98)
    board = build(live.snapshot(), partners(hotline), {"sector-crafts": crafts}, now, today_overall=overall)
    row = next(q for q in board.queues if q.name == "sector-crafts")
    assert (row.waiting_past_threshold, row.service_level_today) == (1, pytest.approx(49 / 51))
    commerce = next(q for q in board.queues if q.name == "sector-commerce")
    assert commerce.service_level_today == 0.0  # no record yet, one caller already past T: 0 %, not "no data"
    assert (board.waiting_past_threshold, board.service_level_today) == (2, pytest.approx(98 / 102))
    assert board.service_level_today == kpi.service_level_of_counts(98, 100, 2)
    body = pages.wallboard_body(board)
    assert "(98 répondus ≤ 20 s / (100 présentés + 2 en attente &gt; 20 s))" in body
    # The same with another threshold: the board says which.
    board30 = build(live.snapshot(), partners(hotline), {}, now, today_overall=overall, service_level_seconds=30)
    assert board30.waiting_past_threshold == 1 and "≤ 30 s" in pages.wallboard_body(board30)


def test_every_wallboard_figure_carries_its_french_definition(hotline: Hotline, live: LiveState) -> None:
    join(live, "1.1", "sector-crafts", live.now)
    board = build(live.snapshot(), partners(hotline), {}, live.now + 5)
    body = pages.wallboard_body(board)
    sl = kpi.definition_fr("service_level", DEFAULT)
    assert sl.startswith("Niveau de service : ") and sl.endswith("(T = 20 s)")
    for figure in ("callers_waiting", "longest_wait", "expected_wait", "lines_available", "service_level"):
        text = kpi.definition_fr(figure, DEFAULT)
        assert f'title="{html.escape(text)}"' in body, figure
    head = re.search(r"<thead>.*?</thead>", body).group(0)  # type: ignore[union-attr]
    untitled = [text_of(th) for th in re.findall(r"<th(?: [^>]*)?>.*?</th>", head) if "title=" not in th]
    assert untitled == ["File", "Appelants"]  # a name and a list: no figure to define


# --- /metrics --------------------------------------------------------------------------------------
def health() -> Health:
    return Health(True, 0, 0, 0.0, 0, 0, 0, 0, 0, 0)


def test_metrics_service_level_counts_the_callers_waiting_past_the_threshold(
        hotline: Hotline, live: LiveState) -> None:
    now = live.now + 100
    join(live, "1.1", "sector-crafts", now - 60)
    crafts = TodayStats(offered=4, answered=4, answered_within_threshold=3, abandoned=0, service_level=0.75)
    text = render(live.snapshot(), {}, {"sector-crafts": crafts}, health(), now, today_overall=crafts)
    assert 'asterisk_queue_service_level_today_ratio{queue="sector-crafts"} 0.6\n' in text  # 3 / (4 + 1)
    assert 'asterisk_queue_waiting_past_threshold{queue="sector-crafts"} 1.0\n' in text
    assert "aiguilleur_service_level_today_ratio 0.6\n" in text
    assert f"# HELP asterisk_queue_service_level_today_ratio {kpi.DEFINITIONS['service_level']}" in text


# --- the reports page and aiguilleur report -------------------------------------------------------
def answered(n: int, line: str, partner: str, wait: int, queue: str = "sector-crafts") -> CallFacts:
    return CallFacts(linkedid=f"r{n}", start=T9 + dt.timedelta(minutes=n), outcome="answered", queue=queue,
                     line=line, partner=partner, wait_seconds=wait, talk_seconds=600, wrapup_seconds=60)


REPORT_CALLS = [
    answered(1, "cma-01", "cma", 5), answered(2, "cma-01", "cma", 40), answered(3, "cci-01", "cci", 10),
    CallFacts(linkedid="r4", start=T9, outcome="abandoned_in_queue", queue="sector-crafts", wait_seconds=50),
]


def kpi_table_cells(page: str, heading: str) -> dict[tuple[str, str], str]:
    """(row key, kpi name) -> cell text of the KPI table under ``heading``."""
    section = page.split(f"<h2>{heading}</h2>", 1)[1]
    table = re.search(r'<table class="kpi">.*?</table>', section).group(0)  # type: ignore[union-attr]
    cells = {}
    for key, row in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', table):
        for name, value in re.findall(r'<td data-kpi="([^"]*)"[^>]*>(.*?)</td>', row):
            cells[(html.unescape(key), name)] = text_of(value)
    return cells


def chart_values(page: str, heading: str) -> dict[tuple[str, str], str]:
    """(row label, series label) -> the value text the chart under ``heading`` shows."""
    section = page.split(f"<h2>{heading}</h2>", 1)[1]
    svg = re.search(r"<svg.*?</svg>", section).group(0)  # type: ignore[union-attr]
    shown = {}
    for label, series, value in re.findall(
            r'class="lbl">([^<]*)</text><rect [^>]*><title>([^<]*) : [^<]*</title></rect>'
            r'<text [^>]*class="val">([^<]*)</text>', svg):
        shown[(html.unescape(label), html.unescape(series))] = html.unescape(value)
    return shown


@pytest.mark.parametrize("heading", ["Par partenaire", "Par file"])
def test_reports_chart_shows_the_same_service_level_as_its_table(hotline: Hotline, heading: str) -> None:
    report = make_report(REPORT_CALLS, hotline, DAY, DAY, DEFAULT)
    page = pages.reports_page(report, SAM, "csrf")
    labels = {label: name for name, label in pages.KPI_COLUMNS}
    table = kpi_table_cells(page, heading)
    bars = chart_values(page, heading)
    assert bars, "no bar in the chart"
    for (row, series), value in bars.items():
        assert value == table[(row, labels[series])], (row, series)


def test_reports_ns_is_the_live_service_level_with_todays_waiting_callers(hotline: Hotline) -> None:
    report = make_report(REPORT_CALLS, hotline, DAY, DAY, DEFAULT, waiting={"sector-crafts": [90.0, 3.0]})
    # 2 within 20 s (5 s, 10 s) / (4 offered + 1 caller waiting 90 s)
    assert report.overall.service_level == pytest.approx(2 / 5)
    assert report.by_queue["sector-crafts"].service_level == pytest.approx(2 / 5)
    assert kpi_table_cells(pages.reports_page(report, SAM, "c"), "Ensemble")[("toutes", "service_level")] == "40 %"


def test_reports_figures_carry_their_french_definition_on_hover(hotline: Hotline) -> None:
    report = make_report(REPORT_CALLS, hotline, DAY, DAY, DEFAULT)
    page = pages.reports_page(report, SAM, "csrf")
    for name, label in pages.KPI_COLUMNS:
        tip = html.escape(kpi.definition_fr(name, DEFAULT))
        assert f'<th scope="col" data-kpi="{name}" title="{tip}">{html.escape(label)}</th>' in page
        assert f'<td data-kpi="{name}" title="{tip}">' in page
    for name in ("abandoned_in_queue", "abandoned_in_ivr", "closed", "prank", "lost_by_pbx",
                 "callback_connect_rate", "followup_reach_rate", "appointments_booked"):
        assert f'title="{html.escape(kpi.definition_fr(name, DEFAULT))}"' in page, name


def test_occupancy_divides_work_by_logged_in_time_not_open_hours(hotline: Hotline) -> None:
    # cma-01: 2 calls x (600 s talk + 60 s wrap-up) = 1320 s of work over 2 h logged in
    report = make_report(REPORT_CALLS, hotline, DAY, DAY, DEFAULT, logged_seconds={"cma-01": 7200, "cci-01": 3600})
    cma01 = report.lines["cma-01"]
    assert (cma01.logged_seconds, cma01.logged_source) == (7200, LOGGED_FROM_QUEUE_LOG)
    assert cma01.occupancy == pytest.approx(1320 / 7200)
    assert report.lines["cma-02"].logged_seconds == 0 and report.lines["cma-02"].occupancy is None  # never in
    assert report.by_partner["cma"].occupancy == pytest.approx(1320 / 7200)
    assert report.overall.occupancy == pytest.approx(3 * 660 / (7200 + 3600))
    # Where queue_log holds no member row at all, the open hours stand in, and the report says so.
    fallback = make_report(REPORT_CALLS, hotline, DAY, DAY, DEFAULT)
    assert fallback.lines["cma-01"].logged_source == LOGGED_FROM_OPEN_HOURS
    assert fallback.lines["cma-01"].logged_seconds == fallback.open_seconds


def test_cli_report_shows_the_same_service_level_and_its_definition(hotline: Hotline) -> None:
    report = make_report(REPORT_CALLS, hotline, DAY, DAY, DEFAULT, logged_seconds={"cma-01": 7200})
    lines = cli_report.render(report)
    head = re.split(r" {2,}", next(x for x in lines if x.startswith("scope")).strip())
    row = re.split(r" {2,}", next(x for x in lines if x.startswith("all ")).strip())
    assert row[head.index("SL")] == "50.0%"  # 2 within / 4 offered, the web's NS
    assert any(x.startswith("SL: answered with wait <= 20 s / (offered + callers still waiting") for x in lines)
    assert any("logged-in time (in a queue and not paused, from queue_log)" in x for x in lines)
    busy = next(x for x in lines if x.startswith("cma-01")).split()
    assert busy[-2:] == ["queue_log", "18.3%"]


def test_a_queue_with_nothing_to_count_shows_no_bracket(hotline: Hotline, live: LiveState) -> None:
    board = build(live.snapshot(), partners(hotline), {}, live.now)
    row = re.search(r'<tr data-queue="sector-crafts".*?</tr>', pages.wallboard_body(board)).group(0)  # type: ignore[union-attr]
    assert text_of(re.search(r'<td class="sl[ "].*?</td>', row).group(0)) == "— "  # type: ignore[union-attr]
