"""The advisor's screen pop for an outbound call: "Rappel" / "Suivi J+8", why, and the answers the
caller gave on the original call (pure: web.screen, web.pages, queues.callback)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from config.models import Hotline
from queues.callback import callback_of_try, try_channel_id
from queues.snapshot import LineState
from web import pages, screen


def _line() -> LineState:
    fields = {f.name for f in dataclasses.fields(LineState)}
    values = dict(line="cci-01", status="busy", interface="PJSIP/cci-01", device_state=2, queues=("partner-cci",),
                  paused_queues=(), paused_reason="", paused_since=None, call_queue="partner-cci",
                  caller_uniqueid="cb-fu-1699.8-2;2", ringing_since=None, in_call_since=1.0, wrapup_until=None,
                  calls_taken=0)
    for f in dataclasses.fields(LineState):
        if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            values[f.name] = 0
    return LineState(**{k: v for k, v in values.items() if k in fields})  # type: ignore[arg-type]


ROW = {"linkedid": "fu-1699.8", "kind": "followup", "reason": "followup", "origin": "1699.8", "partner": "cci",
       "tries": 1, "origin_start": dt.datetime(2026, 11, 13, 15, 0, tzinfo=dt.UTC), "need": "difficulty",
       "sector": "commerce", "size": None, "departement": "nord", "origin_partner": "cci"}


def test_a_try_channel_names_its_callback() -> None:
    assert callback_of_try(try_channel_id("fu-1699.8", 2)) == "fu-1699.8"
    assert callback_of_try("cb-1700000000.1-1;2") == "1700000000.1"
    assert callback_of_try("1700000000.1") is None and callback_of_try("cb-x") is None


def test_a_followup_pop_says_so_and_shows_the_original_answers(hotline: Hotline) -> None:
    info = screen.callback_info(ROW)
    pop = screen.build(_line(), None, (), (), hotline.menu, info, screen.callback_answers(ROW))
    assert pop.callback is not None and (pop.callback.label, pop.callback.tries) == ("Suivi J+8", 1)
    assert [(a.step, a.value) for a in pop.answers] == [("need", "difficulty"), ("sector", "commerce"),
                                                         ("departement", "nord")]
    html = pages.screen_body(pop)
    assert 'id="callback-label">Suivi J+8<' in html and "suivi 8 jours après un appel répondu" in html
    assert "2026-11-13 15:00" in html and "(essai 2)" in html
    assert pop.to_json()["callback"]["kind"] == "followup"


def test_a_closed_hours_callback_pop_says_rappel_and_why(hotline: Hotline) -> None:
    row = {**ROW, "linkedid": "1699.9", "kind": "callback", "reason": "closed", "origin": None,
           "origin_start": None, "origin_partner": None}
    pop = screen.build(_line(), None, (), (), hotline.menu, screen.callback_info(row), screen.callback_answers(row))
    assert pop.callback is not None and pop.callback.label == "Rappel"
    assert "demandé en dehors des heures d" in pages.screen_body(pop)
    plain = screen.build(_line(), None, (), (), hotline.menu)
    assert plain.callback is None and 'id="callback"' not in pages.screen_body(plain)
