"""Traffic model: the config file, volumes and mix of generated calls, opening hours, the walk through the real menu."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from config.loader import ConfigError
from config.models import Closure, Hotline
from config.settings import REPO_ROOT
from ivr.hours import state_at
from routing import router
from sim.calendar import Calendar
from sim.caller import PRANK_KEYS, PRANK_SILENT, REAL, Call, MenuWalker, generate_calls
from sim.traffic import Traffic, check_against, dump_traffic, load_traffic, parse_traffic

TRAFFIC_FILE = REPO_ROOT / "config" / "traffic.yaml"


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return load_traffic(TRAFFIC_FILE)


def test_the_default_model_fits_the_default_hotline_and_the_seed_facts(traffic: Traffic, hotline: Hotline) -> None:
    check_against(traffic, hotline)
    assert traffic.mix.prank == 0.07
    assert traffic.mix.answers["sector"]["crafts"] == 0.20
    assert traffic.mix.answers["sector"]["commerce"] + traffic.mix.answers["sector"]["industry"] == pytest.approx(0.5)
    sizes = traffic.mix.answers["size"]
    assert (sizes["micro"], sizes["self_employed"], sizes["large"]) == (0.5, 0.3, 0.01)


def test_volume_surges_then_decays_from_800_to_200_a_day(traffic: Traffic) -> None:
    v = traffic.volume
    assert (v.start, v.end) == (dt.date(2020, 3, 26), dt.date(2020, 6, 30))
    middle = v.start + (v.end - v.start) / 2
    assert v.level(v.start) == pytest.approx(800)
    assert v.level(middle) == pytest.approx(400, rel=0.01)  # exponential: the geometric mean
    assert v.level(v.end) == pytest.approx(200)
    assert v.level(v.end + dt.timedelta(days=30)) == pytest.approx(200)


def test_generated_calls_follow_the_volume_hours_and_mix(traffic: Traffic) -> None:
    start, days = dt.date(2020, 3, 30), 5  # Monday..Friday of the surge
    calls = generate_calls(traffic, start, days, random.Random(11))
    expected = traffic.expected_calls(start, days)
    assert abs(len(calls) - expected) < 4 * math.sqrt(expected)
    assert [c.arrival for c in calls] == sorted(c.arrival for c in calls)
    pranks = sum(c.kind != REAL for c in calls) / len(calls)
    assert pranks == pytest.approx(0.07, abs=0.015)
    real = [c for c in calls if c.kind == REAL]
    sectors = Counter(dict(c.answers)["sector"] for c in real)
    assert sectors["crafts"] / len(real) == pytest.approx(0.20, abs=0.025)
    hours = Counter(int(c.arrival // 3600) % 24 for c in calls)
    shares = traffic.hour_shares()
    assert hours[10] / len(calls) == pytest.approx(shares[10], abs=0.02)
    assert hours[3] == 0
    difficulty = [c.handle for c in real if c.need == "difficulty"]
    assert sum(difficulty) / len(difficulty) == pytest.approx(540, rel=0.08)


def test_scaled_to_gives_the_asked_expected_volume(traffic: Traffic) -> None:
    year = traffic.scaled_to(30_000, dt.date(2021, 1, 1), 365)
    assert year.expected_calls(dt.date(2021, 1, 1), 365) == pytest.approx(30_000)


def test_bad_traffic_files_name_the_field(hotline: Hotline) -> None:
    text = TRAFFIC_FILE.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match=r"(?s)x.yaml: .*mix\.answers.*sector.*add up to 1\.050"):
        parse_traffic(text.replace("crafts: 0.20", "crafts: 0.25"), "x.yaml")
    with pytest.raises(ConfigError, match=r"needs\.difficulty\.handle\.law"):
        parse_traffic(text.replace("law: lognormal, mean: 540", "law: weibull, mean: 540"), "x.yaml")
    unknown = parse_traffic(text.replace("crafts: 0.20", "artisans: 0.20"), "x.yaml")
    with pytest.raises(ConfigError, match=r"mix\.answers\.sector\.artisans: not an option.*allowed: commerce"):
        check_against(unknown, hotline, "x.yaml")


def test_a_dumped_model_reads_back_the_same(traffic: Traffic) -> None:
    assert parse_traffic(dump_traffic(traffic, "header"), "dump.yaml") == traffic


def test_calendar_agrees_with_the_ivr_opening_hours(hotline: Hotline) -> None:
    """Weekly hours, a public holiday (Easter Monday 13 April 2020) and a closure, against ivr.hours.state_at."""
    tz = ZoneInfo(hotline.hours.timezone)
    closure = Closure(start=dt.datetime(2020, 4, 15, 10, 0), end=dt.datetime(2020, 4, 15, 14, 30), reason="formation")
    hours = hotline.hours.model_copy(update={"closures": [closure]})
    start = dt.date(2020, 4, 6)
    calendar = Calendar.build(hours, start, 14)
    rng = random.Random(3)
    instants = [rng.uniform(0, 14 * 86400) for _ in range(3000)]
    instants += [(7 + 0) * 86400 + 9 * 3600, 9 * 86400 + 11 * 3600, 9 * 86400 + 15 * 3600, 5 * 86400 + 11.99 * 3600]
    for t in instants:
        at = calendar.to_datetime(t)
        assert at.tzinfo == tz
        assert calendar.is_open(t) == state_at(hours, at).open, at
    assert not calendar.is_open(7 * 86400 + 9 * 3600)  # Easter Monday


def test_the_menu_walk_uses_the_real_ivr_machine(hotline: Hotline, traffic: Traffic) -> None:
    walker = MenuWalker.for_traffic(hotline.menu, traffic)
    answers = (("need", "creation"), ("sector", "crafts"), ("size", "micro"), ("departement", "somme"))
    plain = walker.walk(Call(1, 0.0, REAL, answers))
    assert plain.route and plain.exit == "completed" and plain.profile is not None
    assert (plain.profile.need, plain.profile.sector, plain.profile.departement) == ("creation", "crafts", "somme")
    assert router.decide(plain.profile, hotline).queue == "rank-cma-cci"  # ranked on the whole profile

    misdialled = walker.walk(Call(2, 0.0, REAL, answers, misdials=0b0110))
    assert misdialled.profile == plain.profile and misdialled.seconds > plain.seconds

    advisor = walker.walk(Call(3, 0.0, REAL, answers, advisor_first=True))
    assert advisor.route and advisor.exit == "advisor" and advisor.profile is not None
    assert router.decide(advisor.profile, hotline).queue == hotline.queues.general_queue

    assert walker.walk(Call(4, 0.0, PRANK_SILENT)).exit == "no_input"
    assert walker.walk(Call(5, 0.0, PRANK_KEYS)).exit == "invalid"
    hung_up = walker.walk(Call(6, 0.0, REAL, answers, hangup_at=2))
    assert (hung_up.route, hung_up.exit) == (False, "hangup")
    assert 0 < hung_up.seconds < plain.seconds
