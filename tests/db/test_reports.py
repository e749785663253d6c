"""Reports on a known set of 22 calls in the real PostgreSQL, compared to hand-computed numbers."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from aiguilleur import cli_report
from cdr.kpi import KpiSettings, Volume
from cdr.migrate import migrate
from cdr.reports import (
    CSV_HEADER,
    EARLIEST,
    LATEST,
    WRAPUP_FROM_COLUMN,
    WRAPUP_FROM_CONFIG,
    Report,
    build_report,
    fetch_calls_between,
    report_rows,
    write_csv,
)
from cdr.spreadsheet import BOM
from config.models import Hotline, OpeningHours, TimeRange
from config.settings import Settings

pytestmark = pytest.mark.db

PARIS = ZoneInfo("Europe/Paris")
DAY1, DAY2 = dt.date(2026, 11, 23), dt.date(2026, 11, 24)  # a Monday and a Tuesday, no holiday
WRAPUP = {"direccte": 30, "region": 0, "cma": 10, "cci": 20, "mel": 5}
LINES = {"direccte": 8, "region": 8, "cma": 8, "cci": 8, "mel": 4}
OPEN_PER_DAY = 13 * 3600  # 08:00-21:00 on weekdays


@pytest.fixture
def pinned_hotline(hotline: Hotline) -> Hotline:
    """The default hotline with hours, lines and wrap-ups pinned, so the numbers below stay true."""
    day = [TimeRange(open=dt.time(8), close=dt.time(21))]
    hours = OpeningHours(week={"monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day,
                               "saturday": [TimeRange(open=dt.time(8), close=dt.time(12))], "sunday": []})
    partners = [p.model_copy(update={"wrapup_seconds": WRAPUP[p.id], "lines": LINES[p.id]})
                for p in hotline.partners if p.id in WRAPUP]
    assert [p.id for p in partners] == list(WRAPUP)
    return hotline.model_copy(update={"hours": hours, "partners": partners})


# (id, local start, outcome, ivr_exit, need, sector, size, departement, queue, line, wait, talk, degraded)
CALLS: list[tuple[str, str, str, str | None, str | None, str | None, str | None, str | None, str | None,
                  str | None, int | None, int | None, bool]] = [
    ("d1-01", "2026-11-23 00:30", "closed", "closed", None, None, None, None, None, None, None, None, False),
    ("d1-02", "2026-11-23 09:05", "answered", "completed", "creation", "crafts", "micro", "nord",
     "sector-crafts", "cma-01", 5, 120, False),
    ("d1-03", "2026-11-23 09:20", "answered", "completed", "creation", "crafts", "self_employed",
     "pas_de_calais", "sector-crafts", "cma-02", 20, 300, False),
    ("d1-04", "2026-11-23 09:40", "abandoned_in_queue", "completed", "difficulty", "crafts", "micro", "nord",
     "sector-crafts", None, 3, None, False),
    ("d1-05", "2026-11-23 10:10", "answered", "completed", "difficulty", "industry", "small", "aisne",
     "need-difficulty", "direccte-01", 21, 600, False),
    ("d1-06", "2026-11-23 10:30", "abandoned_in_queue", "completed", "difficulty", "industry", "medium", "oise",
     "need-difficulty", None, 45, None, False),
    ("d1-07", "2026-11-23 10:50", "no_input", "no_input", None, None, None, None, None, None, None, None, False),
    ("d1-08", "2026-11-23 11:15", "answered", "completed", "difficulty", "commerce", "micro", "nord",
     "sector-commerce", "cci-01", 0, 240, False),
    ("d1-09", "2026-11-23 11:45", "abandoned_in_ivr", "hangup", "creation", None, None, None, None, None,
     None, None, False),
    ("d1-10", "2026-11-23 14:00", "timeout", "completed", "other", "commerce", "medium", "somme",
     "sector-commerce", None, 600, None, False),
    ("d2-01", "2026-11-24 00:30", "closed", "closed", None, None, None, None, None, None, None, None, False),
    ("d2-02", "2026-11-24 08:10", "answered", "degraded", "other", "services", "micro", "nord", "hotline",
     "mel-01", 12, 180, True),
    ("d2-03", "2026-11-24 08:30", "invalid", "invalid", None, None, None, None, None, None, None, None, False),
    ("d2-04", "2026-11-24 09:00", "answered", "completed", "difficulty", "commerce", "small", "oise",
     "sector-commerce", "cci-02", 30, 420, False),
    ("d2-05", "2026-11-24 09:15", "abandoned_in_queue", "completed", "other", "commerce", "micro", "nord",
     "sector-commerce", None, 5, None, False),
    ("d2-06", "2026-11-24 09:30", "answered", "advisor", "creation", "crafts", "micro", "nord", "sector-crafts",
     "cma-01", 2, 60, False),
    ("d2-07", "2026-11-24 09:50", "abandoned_in_queue", "completed", "other", "commerce", "micro", "somme",
     "sector-commerce", None, 10, None, False),
    ("d2-08", "2026-11-24 15:00", "answered", "completed", "creation", "services", "small", "somme",
     "need-creation", "region-01", 8, 900, False),
    ("d2-09", "2026-11-24 15:20", "abandoned_in_ivr", "hangup", None, None, None, None, None, None, None, None,
     False),
    ("d2-10", "2026-11-24 16:00", "no_input", "no_input", None, None, None, None, None, None, None, None, False),
    # Outside the window, by a few minutes of local time (in UTC, x-2 is still on the 24th).
    ("x-1", "2026-11-22 23:50", "answered", "completed", "creation", "crafts", "micro", "nord", "sector-crafts",
     "cma-03", 1, 100, False),
    ("x-2", "2026-11-25 00:10", "answered", "completed", "creation", "crafts", "micro", "nord", "sector-crafts",
     "cma-03", 1, 100, False),
]

INSERT = """INSERT INTO cdr (linkedid, uniqueid, src, dst, start, answer, "end", duration, billsec, disposition,
                             need, sector, size, departement, ivr_exit, queue, line, partner, wait_seconds,
                             talk_seconds, outcome, degraded)
            VALUES ($1, $1, '0320123456', '0800596280', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                    $15, $16, $17, $18, $19)"""


async def load_calls(conn: asyncpg.Connection) -> None:
    await migrate(conn)
    rows = []
    for (linkedid, local, outcome, ivr_exit, need, sector, size, dept, queue, line, wait, talk,
         degraded) in CALLS:
        start = dt.datetime.fromisoformat(local).replace(tzinfo=PARIS)
        in_queue = start + dt.timedelta(seconds=30)  # 30 s of menu
        answer = in_queue + dt.timedelta(seconds=wait or 0) if outcome == "answered" else None
        end = (answer + dt.timedelta(seconds=talk or 0)) if answer else in_queue + dt.timedelta(seconds=wait or 0)
        billsec = round((end - answer).total_seconds()) if answer else 0
        rows.append((linkedid, start, answer, end, round((end - start).total_seconds()), billsec,
                     "ANSWERED" if answer else "NO ANSWER", need, sector, size, dept, ivr_exit, queue, line,
                     line.rsplit("-", 1)[0] if line else None, wait, talk, outcome, degraded))
    await conn.executemany(INSERT, rows)


async def two_day_report(conn: asyncpg.Connection, hotline: Hotline, settings: KpiSettings | None = None) -> Report:
    await load_calls(conn)
    return await build_report(conn, hotline, DAY1, DAY2, settings)


# Hand-computed, T = 20 s, S = 5 s. In the window: 20 calls.
# answered (8):  d1-02 5 s, d1-03 20 s, d1-05 21 s, d1-08 0 s, d2-02 12 s, d2-04 30 s, d2-06 2 s, d2-08 8 s
#   within 20 s: all but d1-05 and d2-04 -> 6        waits: 98 s
#   talk 120+300+600+240+180+420+60+900 = 2820; wrap-up cma 3x10 + direccte 30 + cci 2x20 + mel 5 + region 0 = 105
# abandoned in queue (4): d1-04 3 s (short), d1-06 45 s, d2-05 5 s (not short), d2-07 10 s
# timeout (1): d1-10 -> offered = 8 + 4 + 1 = 13
# pranks (3): d1-07, d2-03, d2-10; closed 2, abandoned in IVR 2; degraded 1 (d2-02)


async def test_overall_kpis_match_the_hand_computed_values(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    k = (await two_day_report(empty_db, pinned_hotline)).overall
    assert (k.calls, k.offered, k.answered, k.answered_within_threshold, k.abandoned, k.short_abandons,
            k.timeouts, k.pranks, k.degraded) == (20, 13, 8, 6, 4, 1, 1, 3, 1)
    assert k.service_level_answered == pytest.approx(6 / 8)
    assert k.service_level_inclusive == pytest.approx(6 / 13)
    assert k.asa_seconds == pytest.approx(98 / 8)
    assert k.aht_seconds == pytest.approx((2820 + 105) / 8)
    assert k.abandonment_rate == pytest.approx(4 / 13)
    assert k.abandonment_rate_excluding_short == pytest.approx(3 / 12)
    assert k.prank_share == pytest.approx(3 / 20)
    assert k.logged_seconds == 36 * 2 * OPEN_PER_DAY
    assert k.occupancy == pytest.approx(2925 / (36 * 2 * OPEN_PER_DAY))


async def test_days_and_hours_are_local_paris_time(empty_db: asyncpg.Connection, pinned_hotline: Hotline) -> None:
    report = await two_day_report(empty_db, pinned_hotline)
    assert report.by_day == {
        "2026-11-23": Volume(calls=10, answered=4, abandoned_in_queue=2, timeout=1, abandoned_in_ivr=1, closed=1,
                             no_input=1),
        "2026-11-24": Volume(calls=10, answered=4, abandoned_in_queue=2, abandoned_in_ivr=1, closed=1, no_input=1,
                             invalid=1, degraded=1),
    }
    assert {hour: v.calls for hour, v in report.by_hour.items()} == {
        "00:00": 2, "08:00": 2, "09:00": 7, "10:00": 3, "11:00": 2, "14:00": 1, "15:00": 2, "16:00": 1,
    }
    assert report.open_seconds == 2 * OPEN_PER_DAY


async def test_a_day_without_calls_still_has_a_row(empty_db: asyncpg.Connection, pinned_hotline: Hotline) -> None:
    await load_calls(empty_db)
    report = await build_report(empty_db, pinned_hotline, DAY2, dt.date(2026, 11, 26))
    assert list(report.by_day) == ["2026-11-24", "2026-11-25", "2026-11-26"]
    assert [v.calls for v in report.by_day.values()] == [10, 1, 0]  # x-2 is on the 25th, locally


async def test_breakdowns_by_need_sector_size_departement_partner(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    b = (await two_day_report(empty_db, pinned_hotline)).breakdowns
    assert {k: v.calls for k, v in b["need"].items()} == {"(none)": 6, "creation": 5, "difficulty": 5, "other": 4}
    assert list(b["need"]) == ["(none)", "creation", "difficulty", "other"]  # busiest first, then by name
    assert {k: v.calls for k, v in b["sector"].items()} == {
        "(none)": 7, "commerce": 5, "crafts": 4, "industry": 2, "services": 2}
    assert {k: v.calls for k, v in b["size"].items()} == {
        "micro": 7, "(none)": 7, "small": 3, "medium": 2, "self_employed": 1}
    assert {k: v.calls for k, v in b["departement"].items()} == {
        "(none)": 7, "nord": 6, "oise": 2, "somme": 3, "aisne": 1, "pas_de_calais": 1}
    assert {k: (v.calls, v.answered) for k, v in b["partner"].items()} == {
        "(none)": (12, 0), "cma": (3, 3), "cci": (2, 2), "direccte": (1, 1), "mel": (1, 1), "region": (1, 1)}
    assert b["need"]["difficulty"] == Volume(calls=5, answered=3, abandoned_in_queue=2)
    assert b["queue"]["sector-commerce"] == Volume(calls=5, answered=2, abandoned_in_queue=2, timeout=1)


async def test_partner_kpis_cover_the_answered_side(empty_db: asyncpg.Connection, pinned_hotline: Hotline) -> None:
    report = await two_day_report(empty_db, pinned_hotline)
    assert list(report.by_partner) == ["direccte", "region", "cma", "cci", "mel"]
    cma, cci = report.by_partner["cma"], report.by_partner["cci"]
    # cma: d1-02 5 s 120 s, d1-03 20 s 300 s, d2-06 2 s 60 s, wrap-up 10 s each
    assert (cma.answered, cma.service_level_answered) == (3, 1.0)
    assert cma.asa_seconds == pytest.approx(27 / 3) and cma.aht_seconds == pytest.approx((480 + 30) / 3)
    assert cma.occupancy == pytest.approx(510 / (8 * 2 * OPEN_PER_DAY))
    # cci: d1-08 0 s 240 s, d2-04 30 s 420 s, wrap-up 20 s each
    assert cci.service_level_answered == 0.5 and cci.aht_seconds == pytest.approx((660 + 40) / 2)
    assert cci.abandonment_rate is None and cci.service_level_inclusive is None and cci.offered is None
    assert report.by_partner["direccte"].service_level_answered == 0.0  # 21 s: one second late


async def test_queue_kpis_include_abandons_and_timeouts(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    report = await two_day_report(empty_db, pinned_hotline)
    assert list(report.by_queue) == ["hotline", "need-creation", "need-difficulty", "sector-commerce",
                                     "sector-crafts"]
    q = report.by_queue["sector-commerce"]  # d1-08 ans 0 s, d1-10 timeout, d2-04 ans 30 s, d2-05 ab 5 s, d2-07 ab 10 s
    assert (q.offered, q.answered, q.abandoned, q.short_abandons, q.timeouts) == (5, 2, 2, 0, 1)
    assert q.service_level_answered == 0.5 and q.service_level_inclusive == pytest.approx(1 / 5)
    assert q.abandonment_rate == pytest.approx(2 / 5) and q.abandonment_rate_excluding_short == pytest.approx(2 / 5)
    crafts = report.by_queue["sector-crafts"]  # d1-02, d1-03, d2-06 answered; d1-04 abandoned after 3 s: short
    assert crafts.abandonment_rate == pytest.approx(1 / 4) and crafts.abandonment_rate_excluding_short == 0.0


async def test_line_occupancy_uses_open_hours_as_logged_time(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    report = await two_day_report(empty_db, pinned_hotline)
    assert len(report.lines) == 36
    cma01 = report.lines["cma-01"]  # d1-02 120 + 10, d2-06 60 + 10
    assert (cma01.partner, cma01.answered, cma01.work_seconds, cma01.logged_seconds) == (
        "cma", 2, 200, 2 * OPEN_PER_DAY)
    assert cma01.occupancy == pytest.approx(200 / (2 * OPEN_PER_DAY))
    assert report.lines["cma-08"].occupancy == 0.0


async def test_thresholds_from_the_command_line_change_the_numbers(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    k = (await two_day_report(empty_db, pinned_hotline, KpiSettings(30, 6))).overall
    assert k.service_level_answered == pytest.approx(8 / 8)  # 21 s and 30 s now count
    assert k.short_abandons == 2 and k.abandonment_rate_excluding_short == pytest.approx(2 / 11)


async def test_a_recorded_wrapup_column_wins_over_the_partner_configuration(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    """Once a migration adds ``cdr.wrapup_seconds``, its values are used; NULL falls back to config."""
    await load_calls(empty_db)
    await empty_db.execute("ALTER TABLE cdr ADD COLUMN IF NOT EXISTS wrapup_seconds integer")
    await empty_db.execute("UPDATE cdr SET wrapup_seconds = NULL")
    await empty_db.execute("UPDATE cdr SET wrapup_seconds = 100 WHERE linkedid IN ('d1-02', 'd1-03')")
    report = await build_report(empty_db, pinned_hotline, DAY1, DAY2)
    assert report.wrapup_source == WRAPUP_FROM_COLUMN
    # cma: 120 + 100, 300 + 100, 60 + 10 (config)
    assert report.by_partner["cma"].aht_seconds == pytest.approx((220 + 400 + 70) / 3)


async def test_without_a_wrapup_column_the_partner_configuration_is_used(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    """A database still at the 0001 schema has no ``cdr.wrapup_seconds``."""
    await load_calls(empty_db)
    await empty_db.execute("ALTER TABLE cdr DROP COLUMN IF EXISTS wrapup_seconds")
    report = await build_report(empty_db, pinned_hotline, DAY1, DAY2)
    assert report.wrapup_source == WRAPUP_FROM_CONFIG
    assert report.overall.aht_seconds == pytest.approx((2820 + 105) / 8)


async def test_csv_export_round_trips_every_number(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline, tmp_path: Path
) -> None:
    report = await two_day_report(empty_db, pinned_hotline)
    path = tmp_path / "report.csv"
    write_csv(report, path)
    stream = io.StringIO()
    write_csv(report, stream)
    text = path.read_bytes().decode("utf-8")  # as written: spreadsheets expect \r\n line ends
    assert text == stream.getvalue()

    assert text.startswith(BOM)  # French spreadsheets: UTF-8 announced, ';' between cells, decimal comma
    read = list(csv.reader(io.StringIO(text.removeprefix(BOM)), delimiter=";"))
    assert tuple(read[0]) == CSV_HEADER
    expected = report_rows(report)
    assert len(read) - 1 == len(expected)
    for (section, key, metric, value), row in zip(expected, read[1:], strict=True):
        assert row[:3] == [section, key, metric]
        if value is None:
            assert row[3] == ""
        elif isinstance(value, bool | int | str):
            assert row[3] == str(value)
        else:
            assert float(row[3].replace(",", ".")) == value  # exact: floats are written with repr

    cells = {(r[0], r[1], r[2]): r[3] for r in read[1:]}
    assert cells["kpi", "all", "service_level_answered"] == "0,75"
    assert cells["kpi", "all", "abandonment_rate_excluding_short"] == "0,25"
    assert cells["kpi_partner", "cci", "abandonment_rate"] == ""
    assert cells["volume_day", "2026-11-23", "calls"] == "10"
    assert cells["volume_departement", "nord", "answered"] == "4"
    assert cells["window", "", "service_level_seconds"] == "20"
    assert cells["window", "", "wrapup_source"] == report.wrapup_source


# --- the command line -------------------------------------------------------------
def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="aiguilleur")
    cli_report.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["report", *argv])


def test_report_window_is_a_day_a_range_or_today() -> None:
    today = dt.date(2026, 11, 30)
    assert cli_report.window(parse("--day", "2026-11-23"), today) == (DAY1, DAY1)
    assert cli_report.window(parse("--from", "2026-11-23", "--to", "2026-11-24"), today) == (DAY1, DAY2)
    assert cli_report.window(parse("--from", "2026-11-23"), today) == (DAY1, today)
    assert cli_report.window(parse(), today) == (today, today)
    with pytest.raises(ValueError, match="--to needs --from"):
        cli_report.window(parse("--to", "2026-11-24"), today)
    with pytest.raises(ValueError, match="before"):
        cli_report.window(parse("--from", "2026-11-24", "--to", "2026-11-23"), today)


@pytest.mark.parametrize("argv", [["--day", "23/11/2026"], ["--service-level-seconds", "-3"],
                                  ["--day", "2026-11-23", "--from", "2026-11-23"]])
def test_report_refuses_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(*argv)
    assert exit_info.value.code == 2


async def test_report_command_prints_tables_and_writes_csv(
    empty_db: asyncpg.Connection, database_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    await load_calls(empty_db)
    monkeypatch.setenv("DATABASE_URL", database_url)
    args = parse("--from", "2026-11-23", "--to", "2026-11-24", "--csv", str(tmp_path / "r.csv"))
    # cmd_report runs its own event loop: run it in a thread, away from the test's loop.
    assert await asyncio.to_thread(cli_report.cmd_report, Settings(), args) == 0
    out = capsys.readouterr().out
    assert "Report 2026-11-23 to 2026-11-24 (Europe/Paris)" in out
    assert "Volumes by departement" in out and "Lines that answered calls" in out
    all_row = next(line for line in out.splitlines() if line.startswith("all "))
    assert all_row.split()[:4] == ["all", "20", "13", "8"]
    assert (tmp_path / "r.csv").read_bytes().decode("utf-8").startswith("\ufeffsection;key;metric;value\r\n")


# --- outbound records and callback KPIs ----------------------------------------------
async def test_an_outbound_callback_record_changes_no_inbound_figure(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    before = report_rows(await two_day_report(empty_db, pinned_hotline))
    start = dt.datetime(2026, 11, 23, 9, 10, tzinfo=PARIS)
    for linkedid, outcome, line in (("cb-d1-01-1", "answered", "cma-04"), ("cb-d1-01-2", "abandoned_in_queue", None)):
        await empty_db.execute(
            """INSERT INTO cdr (linkedid, uniqueid, src, dst, start, "end", duration, billsec, disposition, queue,
                                line, partner, wait_seconds, talk_seconds, outcome, direction, callback_of)
               VALUES ($1, $1, '0320123456', '0320123456', $2, $2, 60, 40, 'ANSWERED', 'rank-cma-cci', $3,
                       'cma', 3, 40, $4, 'outbound', 'd1-01')""", linkedid, start, line, outcome)
    after = report_rows(await build_report(empty_db, pinned_hotline, DAY1, DAY2))
    assert [r for r in after if r[0] != "callbacks"] == [r for r in before if r[0] != "callbacks"]


async def test_callback_kpis_come_from_the_callbacks_and_their_first_tries(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    await load_calls(empty_db)
    opening = dt.datetime(2026, 11, 23, 8, 0, tzinfo=PARIS)
    rows = [  # (id, kind, reason, status, due, outcome)
        ("d1-01", "callback", "closed", "done", opening, None),
        ("cb-late", "callback", "closed", "failed", opening, None),
        ("fu-x-1", "followup", "followup", "done", opening + dt.timedelta(hours=2), "needs_more_help"),
        ("fu-x-2", "followup", "followup", "failed", opening + dt.timedelta(hours=2), None),
        ("old", "callback", "closed", "done", opening - dt.timedelta(days=3), None),  # due before the window
    ]
    for id_, kind, reason, status, due, outcome in rows:
        await empty_db.execute(
            """INSERT INTO callbacks (linkedid, caller_number, requested_at, due_at, status, kind, reason,
                                      followup_outcome, origin)
               VALUES ($1, '0320123456', $2, $2, $3, $4, $5, $6, $1)""", id_, due, status, kind, reason, outcome)
    for callback_of, minutes in (("d1-01", 10), ("d1-01", 40), ("cb-late", 45)):
        start = opening + dt.timedelta(minutes=minutes)
        await empty_db.execute(
            """INSERT INTO cdr (linkedid, uniqueid, src, dst, start, "end", duration, billsec, disposition, outcome,
                                direction, callback_of)
               VALUES ($1, $1, 'x', 'x', $2, $2, 0, 0, 'ANSWERED', 'answered', 'outbound', $3)""",
            f"cb-{callback_of}-{minutes}", start, callback_of)
    k = (await build_report(empty_db, pinned_hotline, DAY1, DAY2, callback_within_minutes=30)).callbacks
    assert (k.callbacks, k.callbacks_done, k.callbacks_failed, k.followups) == (2, 1, 1, 2)
    assert (k.placed_within_opening, k.callback_connect_rate, k.followup_reach_rate) == (0.5, 0.5, 0.5)
    assert k.followup_outcomes["needs_more_help"] == 1
    cells = {(r[0], r[1], r[2]): r[3] for r in report_rows(
        await build_report(empty_db, pinned_hotline, DAY1, DAY2, callback_within_minutes=30))}
    assert cells["callbacks", "all", "callback_connect_rate"] == 0.5
    assert cells["callbacks", "followup_outcomes", "needs_more_help"] == 1


# --- appointments booked -------------------------------------------------------------------
async def book(conn: asyncpg.Connection, partner: str, office: str, booked_local: str, slot_local: str) -> None:
    booked_at = dt.datetime.fromisoformat(booked_local).replace(tzinfo=PARIS)
    starts_at = dt.datetime.fromisoformat(slot_local).replace(tzinfo=PARIS)
    await conn.execute(
        """INSERT INTO appointments (partner_id, office_id, starts_at, ends_at, caller_email, postcode, booked_by,
                                     booked_at)
           VALUES ($1, $2, $3, $4, 'porteur@example.org', '62000', 'alice', $5)""",
        partner, office, starts_at, starts_at + dt.timedelta(minutes=45), booked_at)


BOOKINGS = [  # (partner, office, booked at, slot): the window is 23-24 November, local days
    ("cma", "cma_arras", "2026-11-23 00:05", "2026-12-07 09:00"),  # booked in the window, held after it
    ("cma", "cma_arras", "2026-11-24 23:55", "2026-11-26 09:00"),
    ("cma", "cma_lille", "2026-11-23 10:00", "2026-11-23 14:00"),
    ("cci", "cci_lille", "2026-11-24 11:00", "2026-11-30 09:00"),
    ("cci", "cci_lille", "2026-11-22 23:59", "2026-11-24 09:00"),  # booked the day before: out
    ("cma", "cma_arras", "2026-11-25 00:00", "2026-11-24 09:45"),  # booked the day after: out
]


async def test_appointments_booked_in_the_window_per_partner_and_office(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    await load_calls(empty_db)
    for booking in BOOKINGS:
        await book(empty_db, *booking)
    report = await build_report(empty_db, pinned_hotline, DAY1, DAY2)
    k = report.appointments
    assert k.booked == 4
    assert k.by_partner == {"direccte": 0, "region": 0, "cma": 3, "cci": 1, "mel": 0}
    offices = [o.id for p in pinned_hotline.partners for o in p.offices]
    assert list(k.by_office) == offices  # every configured office, in config order, 0 when none booked
    assert (k.by_office["cma_arras"], k.by_office["cma_lille"], k.by_office["cci_lille"]) == (2, 1, 1)
    assert sum(k.by_office.values()) == 4 and k.office_partner["cci_lille"] == "cci"

    cells = {(r[0], r[1], r[2]): r[3] for r in report_rows(report)}
    assert cells["appointments", "all", "booked"] == 4
    assert cells["appointments_partner", "cma", "booked"] == 3
    assert (cells["appointments_office", "cma_arras", "partner"], cells["appointments_office", "cma_arras",
                                                                          "booked"]) == ("cma", 2)
    # the appointments change no inbound figure
    await empty_db.execute("TRUNCATE appointments")
    after = report_rows(await build_report(empty_db, pinned_hotline, DAY1, DAY2))
    assert [r for r in after if not r[0].startswith("appointments")] == \
        [r for r in report_rows(report) if not r[0].startswith("appointments")]
    assert ("appointments_partner", "cma", "booked", 0) in after


async def test_report_command_prints_the_appointments_booked_per_partner_and_office(
    empty_db: asyncpg.Connection, database_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    await load_calls(empty_db)
    for booking in BOOKINGS:
        await book(empty_db, *booking)
    monkeypatch.setenv("DATABASE_URL", database_url)
    args = parse("--from", "2026-11-23", "--to", "2026-11-24", "--csv", str(tmp_path / "r.csv"))
    assert await asyncio.to_thread(cli_report.cmd_report, Settings(), args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "Appointments booked in the window (by booking time): 4" in lines
    rows = {tuple(line.split()[:2]): line.split()[-1] for line in lines
            if line.split()[:1] in (["cma"], ["cci"], ["mel"])}
    assert rows["cma", "(all)"] == "3" and rows["cma", "cma_arras"] == "2" and rows["cma", "cma_lille"] == "1"
    assert rows["cci", "cci_lille"] == "1" and rows["mel", "(all)"] == "0"
    text = (tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()
    assert "appointments_office;cma_arras;booked;2" in text and "appointments;all;booked;4" in text


# --- the simulator's fit reads the same calls ------------------------------------------
async def test_sim_fit_reads_the_reports_inbound_calls_with_either_side_of_the_window_open(
    empty_db: asyncpg.Connection, database_url: str, state_dir: Path
) -> None:
    from sim.fit_io import fetch_rows

    await load_calls(empty_db)
    await empty_db.execute(
        """INSERT INTO cdr (linkedid, uniqueid, src, dst, start, "end", duration, billsec, disposition, outcome,
                            degraded, direction, callback_of)
           VALUES ('cb-1', 'cb-1', '0320123456', '0320123456', $1, $1, 60, 0, 'NO ANSWER', 'abandoned_in_queue',
                   false, 'outbound', 'd1-01')""", dt.datetime(2026, 11, 23, 9, 10, tzinfo=PARIS))
    every = await fetch_rows(database_url, state_dir)
    assert [c.linkedid for c in every] == [c[0] for c in sorted(CALLS, key=lambda c: c[1])]  # no outbound try
    assert every == await fetch_calls_between(empty_db, EARLIEST, LATEST, wrapup_column=True)
    since = dt.datetime(2026, 11, 24, tzinfo=PARIS)
    later = await fetch_rows(database_url, state_dir, since)
    assert {c.linkedid for c in later} == {c[0] for c in CALLS if c[0].startswith("d2-")} | {"x-2"}
    until = dt.datetime(2026, 11, 23, 9, 30, tzinfo=PARIS)
    assert [c.linkedid for c in await fetch_rows(database_url, state_dir, None, until)] == [
        "x-1", "d1-01", "d1-02", "d1-03"]


async def test_the_report_says_where_callers_left_the_menu(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    report = await two_day_report(empty_db, pinned_hotline)
    paths = report.breakdowns["ivr_path"]
    assert sum(v.calls for v in paths.values()) == report.overall.calls
    assert all(key in {"closed", "no_valid_answer", "completed", "same_partner", "degraded"}
               or key.startswith(("hung_up_at_", "advisor_at_", "hung_up_after", "advisor_after")) for key in paths)
    rows = [r for r in report_rows(report) if r[0] == "volume_ivr_path"]
    assert rows and {r[1] for r in rows} == set(paths)


async def test_the_reports_page_shows_the_menu_paths_in_words(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    from web.pages import PageUser, menu_path_label, reports_page

    report = await two_day_report(empty_db, pinned_hotline)
    page = reports_page(report, PageUser("sam", "supervisor", None), "csrf")
    assert 'id="ivr-paths"' in page
    for key, paths in report.breakdowns["ivr_path"].items():
        assert f"{menu_path_label(key)}</th><td>{paths.calls}</td>".replace("'", "&#x27;") in page
    assert menu_path_label("hung_up_at_sector") == "raccroché à la question « Secteur »"


async def test_paused_time_per_reason_comes_from_the_queue_log(
    empty_db: asyncpg.Connection, pinned_hotline: Hotline
) -> None:
    await load_calls(empty_db)
    at = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    rows = [(at, "cma-01", "ADDMEMBER", ""), (at + dt.timedelta(minutes=10), "cma-01", "PAUSE", "repas"),
            (at + dt.timedelta(minutes=40), "cma-01", "UNPAUSE", ""),
            (at + dt.timedelta(minutes=50), "cma-01", "PAUSE", "formation"),
            (at + dt.timedelta(minutes=55), "cma-01", "UNPAUSE", "")]
    await empty_db.executemany(
        """INSERT INTO queue_log (time, callid, queuename, agent, event, data1)
           VALUES ($1, 'NONE', 'rank-cma', $2, $3, $4)""", rows)
    report = await build_report(empty_db, pinned_hotline, DAY1, DAY2)
    assert report.pauses == {"repas": 1800, "formation": 300}
    assert ("pause_reason", "repas", "seconds", 1800) in report_rows(report)
    from web.pages import PageUser, reports_page

    page = reports_page(report, PageUser("sam", "supervisor", None), "csrf")
    assert '<th scope="row">repas</th><td>0 h 30 min</td>' in page and "0 h 05 min" in page
