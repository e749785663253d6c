"""Fit the traffic model to stored call records (``aiguilleur sim fit``). Pure: rows in, model out.

The rows are ``cdr.kpi.CallFacts``, as ``cdr.reports`` reads them and the simulator makes them.

What is estimated, and how (each needs ``min_samples`` records, else the base
model's value is kept and a note says so):

- **hour_of_day**: calls per local hour of arrival, all calls;
- **day_of_week**: calls per weekday divided by how many such days the window
  holds, scaled so the mean of Monday..Friday is 1.0;
- **volume**: a least-squares line through log(daily calls / weekday weight)
  over the window's days: ``start_per_day`` and ``end_per_day`` at its ends
  (exponential surge-and-decay; flat when the window is shorter than a week);
- **mix**: pranks = no_input + invalid menu exits / calls reaching the menu;
  advisor_first = exits to an advisor with no answer / real callers;
  ivr_hangup = abandoned in the menu / real callers; each menu answer's share
  among the callers who gave one;
- **needs**: talk time mean and coefficient of variation of answered calls;
  patience as the exponential maximum-likelihood estimate with censoring
  (answered and timed-out callers were at least that patient):
  sum of waits of queued callers / abandons.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cdr.kpi import CallFacts
from cdr.vocabulary import PRANK_EXITS, QUEUE_OUTCOMES, IvrExit, Outcome
from config.models import WEEKDAYS
from sim.traffic import Distribution, Mix, NeedTimes, Traffic, Volume


def _answer(row: CallFacts, step: str) -> str | None:
    """The caller's answer to a menu step (``need``, ``sector``...), when the record has that column."""
    value = getattr(row, step, None)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class FitReport:
    traffic: Traffic
    rows: int
    first: dt.date | None
    last: dt.date | None
    notes: tuple[str, ...]


def _round(x: float, digits: int = 4) -> float:
    return round(x, digits)


def fit_traffic(rows: Sequence[CallFacts], base: Traffic, timezone: str, *, min_samples: int = 30) -> FitReport:
    notes: list[str] = []
    if not rows:
        return FitReport(base, 0, None, None, ("no call records: the model is unchanged",))
    tz = ZoneInfo(timezone)
    local = [r.start.astimezone(tz) for r in rows]
    first, last = min(local).date(), max(local).date()
    span = (last - first).days + 1
    update: dict[str, object] = {}

    # --- when calls come --------------------------------------------------------
    if len(rows) >= min_samples:
        hours = Counter(t.hour for t in local)
        total = sum(hours.values())
        update["hour_of_day"] = {h: _round(100 * hours[h] / total, 2) for h in range(24) if hours[h]}
        notes.append(f"hour_of_day: from {total} calls")
    else:
        notes.append(f"hour_of_day: kept (only {len(rows)} calls, need {min_samples})")
    per_day = Counter(t.date() for t in local)
    weekday_count = Counter(WEEKDAYS[(first + dt.timedelta(days=d)).weekday()] for d in range(span))
    day_of_week = base.day_of_week
    if span >= 7 and len(rows) >= min_samples:
        by_weekday = Counter(WEEKDAYS[t.weekday()] for t in local)
        rate = {w: by_weekday[w] / weekday_count[w] for w in WEEKDAYS if weekday_count[w]}
        workweek = [rate[w] for w in WEEKDAYS[:5] if w in rate]
        ref = statistics.fmean(workweek) if workweek and statistics.fmean(workweek) > 0 else 1.0
        day_of_week = {w: _round(rate.get(w, 0.0) / ref, 3) for w in WEEKDAYS}
        update["day_of_week"] = day_of_week
        notes.append("day_of_week: from calls per weekday (Monday..Friday mean = 1.0)")
    else:
        notes.append(f"day_of_week: kept (window of {span} days, need 7)")
    levels: list[tuple[int, float]] = []
    for d in range(span):
        day = first + dt.timedelta(days=d)
        weight = day_of_week.get(WEEKDAYS[day.weekday()], 0.0)
        if weight > 0 and per_day[day] > 0:
            levels.append((d, per_day[day] / weight))
    if len(levels) >= 2 and len(rows) >= min_samples:
        if span >= 7 and len(levels) >= 5:
            xs = [float(d) for d, _ in levels]
            ys = [math.log(v) for _, v in levels]
            slope, intercept = statistics.linear_regression(xs, ys)
            start_level, end_level = math.exp(intercept), math.exp(intercept + slope * (span - 1))
            decay = "exponential"
        else:
            start_level = end_level = statistics.fmean(v for _, v in levels)
            decay = base.volume.decay
        update["volume"] = Volume(start=first, end=last, start_per_day=_round(start_level, 1),
                                  end_per_day=_round(end_level, 1), decay=decay)
        notes.append(f"volume: {start_level:.0f} calls/day on {first} to {end_level:.0f} on {last} ({decay})")
    else:
        notes.append("volume: kept (too few days with calls)")

    # --- who calls ------------------------------------------------------------
    menu_calls = [r for r in rows if r.outcome != Outcome.CLOSED]
    pranks = [r for r in menu_calls if r.ivr_exit in PRANK_EXITS or r.outcome in PRANK_EXITS]
    real = [r for r in menu_calls if not (r.ivr_exit in PRANK_EXITS or r.outcome in PRANK_EXITS)]
    mix_update: dict[str, object] = {}
    if len(menu_calls) >= min_samples:
        mix_update["prank"] = _round(len(pranks) / len(menu_calls))
    if len(real) >= min_samples:
        mix_update["advisor_first"] = _round(
            sum(1 for r in real if r.ivr_exit == IvrExit.ADVISOR and r.need is None) / len(real))
        mix_update["ivr_hangup"] = _round(
            sum(1 for r in real if r.outcome == Outcome.ABANDONED_IN_IVR) / len(real))
    answers = dict(base.mix.answers)
    for step, shares in base.mix.answers.items():
        given = Counter(a for r in real if (a := _answer(r, step)) is not None)
        n = sum(given.values())
        if n >= min_samples:
            values = list(dict.fromkeys([*shares, *given]))
            answers[step] = {v: _round(given[v] / n) for v in values}
            notes.append(f"mix.answers.{step}: from {n} callers")
        else:
            notes.append(f"mix.answers.{step}: kept ({n} answers, need {min_samples})")
    mix_update["answers"] = answers
    if len(mix_update) > 1:
        notes.append("mix: prank, advisor_first, ivr_hangup from menu exits")
    update["mix"] = Mix.model_validate({**base.mix.model_dump(), **mix_update})

    # --- how long ---------------------------------------------------------------
    needs = dict(base.needs)
    need_values = sorted({r.need for r in real if r.need is not None} | set(base.needs) - {"default"})
    for need in need_values:
        old = base.times_for(need)
        handle, patience = old.handle, old.patience
        queued = [r for r in real if r.need == need and r.outcome in QUEUE_OUTCOMES]
        talks = [float(r.talk_seconds) for r in queued if r.outcome == Outcome.ANSWERED and r.talk_seconds]
        if len(talks) >= min_samples:
            mean = statistics.fmean(talks)
            cv = statistics.stdev(talks) / mean if mean > 0 else 0.0
            law = handle.law if handle.law in ("lognormal", "gamma") else "lognormal"
            handle = Distribution(law=law, mean=_round(mean, 1), cv=_round(min(cv, 10.0), 3))
            notes.append(f"needs.{need}.handle: mean {mean:.0f} s, cv {cv:.2f} from {len(talks)} answered calls")
        else:
            notes.append(f"needs.{need}.handle: kept ({len(talks)} answered calls, need {min_samples})")
        abandons = sum(1 for r in queued if r.outcome == Outcome.ABANDONED_IN_QUEUE)
        exposure = sum(float(r.wait_seconds or 0) for r in queued)
        if len(queued) >= min_samples and abandons >= 5:
            patience = Distribution(law="exponential", mean=_round(exposure / abandons, 1))
            notes.append(f"needs.{need}.patience: mean {exposure / abandons:.0f} s "
                         f"({abandons} abandons over {exposure:.0f} s of waiting)")
        else:
            notes.append(f"needs.{need}.patience: kept ({abandons} abandons, need 5)")
        needs[need] = NeedTimes(handle=handle, patience=patience)
    update["needs"] = needs
    fitted = Traffic.model_validate({**base.model_dump(), **{k: _dump(v) for k, v in update.items()}})
    return FitReport(fitted, len(rows), first, last, tuple(notes))


def _dump(value: object) -> object:
    if isinstance(value, Mix | Volume):
        return value.model_dump()
    if isinstance(value, dict):
        return {k: v.model_dump() if isinstance(v, NeedTimes) else v for k, v in value.items()}
    return value
