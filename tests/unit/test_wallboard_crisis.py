"""The crisis wallboard's pure parts (issue 14, missing 1): threshold levels and alarm texts, the
"+N de plus" overflow of a queue's callers, the agent grid's rows, and the thresholds' validation."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from config.models import Hotline, WallboardThresholds
from queues.ami_parse import parse_ami_stream
from queues.state import LiveState
from queues.state_seed import seed_from_queue_status
from tests.web.conftest import FIXTURES, booted_live
from web import pages
from web.wallboard import MAX_CALLERS_SHOWN, PartnerInfo, TodayStats, build, figure_levels

LIMITS = WallboardThresholds()  # sl warn < 0.8 / alarm < 0.6, wait > 60 / > 120 s, waiting > 5 / > 15, free < 3 / 0


@pytest.fixture
def live(hotline: Hotline) -> LiveState:
    return booted_live(hotline)


def partners(hotline: Hotline) -> list[PartnerInfo]:
    return [PartnerInfo(p.id, p.name, tuple(p.line_ids())) for p in hotline.partners]


def join(live: LiveState, uniqueid: str, queue: str, at: float, number: str = "0320", position: int = 1) -> None:
    live.apply({"Event": "QueueCallerJoin", "Timestamp": str(at), "Uniqueid": uniqueid, "Linkedid": uniqueid,
                "Queue": queue, "CallerIDNum": number, "CallerIDName": f"Appelant {uniqueid}",
                "Position": str(position)})


def levels(sl: float | None = 0.9, wait: int = 0, waiting: int = 0, free: int = 5) -> dict[str, str]:
    return dict(figure_levels(LIMITS, service_level=sl, longest_wait=wait, callers_waiting=waiting, lines_free=free))


def test_each_figure_turns_warn_then_alarm_at_its_limit() -> None:
    assert set(levels().values()) == {"ok"}
    assert levels(sl=None)["service_level"] == "ok"  # nothing to count: no alarm
    assert [levels(sl=v)["service_level"] for v in (0.8, 0.79, 0.6, 0.59)] == ["ok", "warn", "warn", "alarm"]
    assert [levels(wait=v)["longest_wait"] for v in (60, 61, 120, 121)] == ["ok", "warn", "warn", "alarm"]
    assert [levels(waiting=v)["callers_waiting"] for v in (5, 6, 15, 16)] == ["ok", "warn", "warn", "alarm"]
    assert [levels(free=v)["lines_free"] for v in (3, 2, 1, 0)] == ["ok", "warn", "warn", "alarm"]
    strict = WallboardThresholds(longest_wait_warn_seconds=10, longest_wait_alarm_seconds=20)
    assert figure_levels(strict, service_level=None, longest_wait=21, callers_waiting=0,
                         lines_free=9)["longest_wait"] == "alarm"


def test_thresholds_refuse_an_alarm_on_the_near_side_of_its_warning(hotline: Hotline) -> None:
    for bad in ({"service_level_alarm": 0.9}, {"longest_wait_alarm_seconds": 30}, {"callers_waiting_alarm": 2},
                {"lines_free_alarm": 3}, {"service_level_warn": 1.5}, {"colour": "red"}):
        with pytest.raises(ValidationError):
            WallboardThresholds.model_validate(bad)
    document = hotline.model_dump(mode="json")
    document["wallboard"] = {"longest_wait_warn_seconds": 30, "longest_wait_alarm_seconds": 90}
    assert Hotline.model_validate(document).wallboard.longest_wait_alarm_seconds == 90
    assert hotline.wallboard == WallboardThresholds()  # absent from the file: the defaults


def test_a_caller_past_the_longest_wait_alarm_raises_the_alarm_with_its_text(hotline: Hotline, live: LiveState) -> None:
    joined = live.now + 1
    join(live, "1.1", "sector-crafts", joined)
    quiet = build(live.snapshot(), partners(hotline), {}, joined + 30, thresholds=LIMITS)
    assert quiet.levels["longest_wait"] == "ok" and not any("attente max" in a for a in quiet.alarms)
    late = build(live.snapshot(), partners(hotline), {}, joined + 130, thresholds=LIMITS)
    assert late.longest_wait_seconds == 130 and late.levels["longest_wait"] == "alarm"
    assert "Alarme : attente max 2:10 (alarme au-delà de 2:00)" in late.alarms
    html = pages.wallboard_body(late)
    assert 'id="fig-longest_wait" class="big lvl-alarm"' in html and "Alarme : attente max 2:10" in html
    assert late.to_json()["thresholds"]["longest_wait_alarm_seconds"] == 120  # the page re-evaluates as it ticks


def test_a_queue_row_turns_warn_then_alarm_with_its_own_longest_wait_and_service_level(
    hotline: Hotline, live: LiveState,
) -> None:
    joined = live.now + 1
    join(live, "4.1", "sector-crafts", joined)
    join(live, "4.2", "hotline", joined + 100)

    def row(board_now: float, name: str, today: dict[str, TodayStats] | None = None) -> tuple[str, str]:
        board = build(live.snapshot(), partners(hotline), today or {}, board_now, thresholds=LIMITS)
        queue = next(q for q in board.queues if q.name == name)
        return queue.levels["longest_wait"], queue.levels["service_level"]

    assert row(joined + 10, "sector-crafts") == ("ok", "ok")  # nothing to count yet (T = 20 s)
    assert row(joined + 30, "sector-crafts") == ("ok", "alarm")  # 0 of 1 within T: the caller waits past it
    assert row(joined + 90, "sector-crafts") == ("warn", "alarm")
    assert row(joined + 130, "sector-crafts") == ("alarm", "alarm")
    assert row(joined + 130, "hotline")[0] == "ok"  # 30 s: the other queue's caller is not its own
    good_day = {"hotline": TodayStats(offered=10, answered=10, answered_within_threshold=10, abandoned=0,
                                      service_level=1.0)}
    assert row(joined + 110, "hotline", good_day) == ("ok", "ok")  # 10 of 10 within, 1 waiting 10 s
    board = build(live.snapshot(), partners(hotline), {}, joined + 130, thresholds=LIMITS)
    html = pages.wallboard_body(board)
    assert 'class="longest lvl-alarm" data-wait="130"' in html and 'class="sl lvl-alarm"' in html


def test_lines_free_count_each_line_once_and_alarm_at_none(hotline: Hotline, live: LiveState) -> None:
    board = build(live.snapshot(), partners(hotline), {}, live.now + 1, thresholds=LIMITS)
    available = sum(1 for s in live.snapshot().lines.values() if s.status == "available")
    assert board.lines_free == available
    assert board.levels["lines_free"] == ("alarm" if available == 0 else "warn" if available < 3 else "ok")
    low_sl = build(live.snapshot(), partners(hotline), {}, live.now + 1, thresholds=LIMITS,
                   today_overall=TodayStats(10, 5, 5, 5, 0.5))
    assert low_sl.levels["service_level"] == "alarm"
    assert "Alarme : niveau de service 50 % (alarme sous 60 %)" in low_sl.alarms


def test_eight_callers_in_a_queue_list_five_and_three_more(hotline: Hotline, live: LiveState) -> None:
    start = live.now + 1
    for n in range(8):
        join(live, f"3.{n}", "sector-crafts", start + n, number=f"03200000{n:02d}", position=n + 1)
    board = build(live.snapshot(), partners(hotline), {}, start + 20)
    crafts = next(q for q in board.queues if q.name == "sector-crafts")
    assert MAX_CALLERS_SHOWN == 5
    assert crafts.waiting == 8 and len(crafts.callers) == 5 and crafts.callers_more == 3
    assert [c.number for c in crafts.callers] == [f"03200000{n:02d}" for n in range(5)]  # the longest waits first
    assert crafts.longest_wait_seconds == max(c.waited_seconds for c in crafts.callers)
    assert '<li class="more">+3 de plus</li>' in pages.wallboard_body(board)
    few = next(q for q in build(live.snapshot(), partners(hotline), {}, live.now).queues if q.name == "hotline")
    assert few.callers_more == 0


def test_the_agent_grid_has_every_line_with_its_partner_state_time_and_reason(
        hotline: Hotline, live: LiveState) -> None:
    stamp = live.now + 1
    for queue in live.snapshot().lines["cma-02"].queues:
        live.apply({"Event": "QueueMemberPause", "Timestamp": str(stamp), "Queue": queue, "MemberName": "cma-02",
                    "Interface": "PJSIP/cma-02", "Paused": "1", "PausedReason": "<b>repas</b>", "Status": "1"})
    board = build(live.snapshot(), partners(hotline), {}, stamp + 42)
    assert [a.line for a in board.agents] == [line for p in hotline.partners for line in p.line_ids()]
    paused = next(a for a in board.agents if a.line == "cma-02")
    cma = next(p for p in hotline.partners if p.id == "cma")
    assert (paused.partner, paused.status, paused.seconds_in_status, paused.paused_reason) == (
        cma.name, "paused", 42, "<b>repas</b>")
    html = pages.wallboard_body(board)
    assert 'id="agent-rows"' in html and "&lt;b&gt;repas&lt;/b&gt;" in html and "<b>repas</b>" not in html
    assert '<td class="since" data-since="42">0:42</td>' in html



def test_the_agent_grid_counts_the_calls_each_line_answered_today_from_the_records(
        hotline: Hotline, live: LiveState) -> None:
    from cdr.kpi import CallFacts
    from web.live import answered_by_line

    day = dt.datetime(2026, 3, 30, 9, 0, tzinfo=dt.UTC)
    calls = [CallFacts(f"1.{n}", day, "answered", queue="hotline", line="cma-01") for n in range(3)]
    calls += [CallFacts("2.1", day, "answered", queue="hotline", line="cci-02"),
              CallFacts("2.2", day, "abandoned_in_queue", queue="hotline"),
              CallFacts("2.3", day, "lost_by_pbx", queue="hotline", line="cci-02")]  # cut by Asterisk: not taken
    counts = answered_by_line(calls)
    assert counts == {"cma-01": 3, "cci-02": 1}
    board = build(live.snapshot(), partners(hotline), {}, live.now + 1, answered_today_by_line=counts)
    grid = {a.line: a.calls_today for a in board.agents}
    assert (grid["cma-01"], grid["cci-02"], grid["mel-01"]) == (3, 1, 0)
    assert '<td class="taken">3</td>' in pages.wallboard_body(board)


def pause_event(live: LiveState, line: str, at: float, paused: bool) -> list[dict[str, str]]:
    """The line paused (or resumed) in every queue it serves: paused everywhere is the "paused" status."""
    return [{"Event": "QueueMemberPause", "Timestamp": str(at), "Queue": queue, "MemberName": line,
             "Interface": f"PJSIP/{line}", "Paused": "1" if paused else "0", "PausedReason": "repas" if paused else "",
             "Status": "1"} for queue in live.snapshot().lines[line].queues]


def resync(live: LiveState, at: float) -> None:
    """Load the fixture's QueueStatus again (every line available, unpaused), as the adapter does."""
    traffic = parse_ami_stream((FIXTURES / "queue_state_session.raw").read_bytes())
    start = next(m for m in traffic if m.get("EventList") == "start")
    live.begin_resync()
    live.load(seed_from_queue_status([m for m in traffic if m.get("ActionID") == start["ActionID"]], taken_at=at))


def test_time_in_state_runs_from_the_change_and_a_resync_keeps_it_only_when_the_status_held(
        hotline: Hotline, live: LiveState) -> None:
    """The reducer stamps each status change with its event's time (LineState.status_since)."""
    line, other = "cma-03", "cma-04"
    assert live.snapshot().lines[line].status == "available"
    assert live.snapshot().lines[line].status_since is None  # loaded by a resync: since when is unknown
    start = live.now + 5
    for event in pause_event(live, line, start, True) + pause_event(live, other, start, True):
        live.apply(event)
    assert live.snapshot().lines[other].status == "paused" and live.snapshot().lines[other].status_since == start
    for event in pause_event(live, line, start + 60, False):
        live.apply(event)
    state = live.snapshot().lines[line]
    assert state.status == "available" and state.status_since == start + 60
    row = next(a for a in build(live.snapshot(), partners(hotline), {}, start + 100).agents if a.line == line)
    assert (row.status, row.seconds_in_status) == ("available", 40)

    # The resync finds cma-03 still available (its time kept) and cma-04 available again (since when: unknown).
    resync(live, start + 120)
    after = live.snapshot().lines
    assert (after[line].status, after[line].status_since) == ("available", start + 60)
    assert (after[other].status, after[other].status_since) == ("available", None)


def test_no_line_free_is_an_alarm_while_open_and_nothing_at_night(hotline: Hotline) -> None:
    from types import SimpleNamespace

    from queues.state import StateConfig
    from web.live import LiveFeed

    nobody = LiveState(StateConfig.from_hotline(hotline))  # nobody logged in
    paris = dt.timezone(dt.timedelta(hours=1))  # November: UTC+1 in Paris
    at_ten = dt.datetime(2026, 11, 23, 10, 0, tzinfo=paris).timestamp()  # Monday 10:00, open
    at_night = dt.datetime(2026, 11, 23, 23, 30, tzinfo=paris).timestamp()  # Monday 23:30, closed
    source = SimpleNamespace(hotline=hotline)
    for clock, level in ((at_ten, "alarm"), (at_night, "ok")):
        feed = LiveFeed(nobody, source, clock=lambda clock=clock: clock)
        board = feed.current().wallboard
        assert board.lines_free == 0
        assert board.levels["lines_free"] == level, clock
        assert any("ligne(s) libre(s)" in text for text in board.alarms) == (level == "alarm")
