"""Queued callback, "keep my place" (issue #12): the offer in the IVR, the place kept, the first try.

The pure rules (``queues.callback.keeps_place``, ``place_in_queue``), the live outlook's waiting
callers, and the IVR session over a scripted channel: a long expected wait offers "tapez 1 pour
être rappelé sans perdre votre place", 1 stores a request that carries the caller's place.
The real path (FastAGI, app_queue's position argument, the trunk) is in
``tests/pbx/test_callbacks_real.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from aiguilleur.confgen import callback_dialplan
from config.models import Hotline
from ivr.prompts import catalogue, sound_name
from ivr.session import CallbackRequest, QueuePlace, run_ivr
from queues.callback import (
    QUEUED,
    Callback,
    Claim,
    Retry,
    TryEnded,
    keeps_place,
    place_in_queue,
    transition,
    try_channel_id,
)
from queues.snapshot import LiveSnapshot, QueueCaller, queue_outlook
from routing.router import CallerProfile, QueueOutlook, choose_queue
from tests.unit.test_callback import POLICY, snapshot_of
from tests.unit.test_callback import pending as closed_request

PARIS = dt.timezone(dt.timedelta(hours=1))
MONDAY_10 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)
CRAFTSMAN = ["2", "2", "2", "59"]  # difficulty, crafts, 1-9 staff, Nord


def queued(**changes: object) -> Callback:
    values: dict[str, object] = {"reason": QUEUED, "queue": "rank-cma-cci", "queue_priority": 0,
                                 "queue_max_penalty": 0, "ahead": ("u1", "u2")}
    values.update(changes)
    return closed_request(MONDAY_10, **values)


# ----------------------------------------------------------------------------- the core


def test_only_the_first_try_of_a_queued_callback_keeps_the_place(hotline: Hotline) -> None:
    first = queued()
    assert keeps_place(first)
    assert not keeps_place(closed_request())  # a closed-hours request is paced
    assert not keeps_place(queued(queue=None))
    # Claimed: in flight, not placed again.
    placed = transition(first, Claim(MONDAY_10, try_channel_id(first.id, 1)), POLICY, hotline.hours)
    assert not keeps_place(placed)
    # Its place ran out (no advisor in time) or the caller did not answer: ordinary rules from then on.
    for result in ("no_advisor", "no_answer"):
        after = transition(placed, TryEnded(result, MONDAY_10), POLICY, hotline.hours)
        assert after.status in ("pending", "no_answer") and not keeps_place(after)
        # An operator's retry is an ordinary callback too.
        assert not keeps_place(transition(after, Retry(MONDAY_10), POLICY, hotline.hours))


def test_the_place_is_right_behind_the_callers_still_waiting_who_were_ahead() -> None:
    ahead = ("x", "y")
    assert place_in_queue(ahead, ["x", "y"]) == 3  # nobody moved: their place at the back, as accepted
    assert place_in_queue(ahead, ["x", "y", "b"]) == 3  # b joined later: stays behind
    assert place_in_queue(ahead, ["y", "b", "c"]) == 2  # x was served meanwhile
    assert place_in_queue(ahead, ["b", "c"]) == 1  # everyone ahead gone: next
    assert place_in_queue(ahead, ["h", "x", "b"]) == 3  # h (a higher priority) joined ahead of x
    assert place_in_queue((), ["b"]) == 1
    assert place_in_queue(ahead, None) == 3  # live state unknown: the position held when accepted


def test_the_outlook_lists_the_callers_waiting_in_queue_order() -> None:
    base = snapshot_of({"a": (0, "busy")})
    view = base.queues["q"]
    callers = (QueueCaller("u1", "l1", "0320000001", 1, 0.0), QueueCaller("u2", "l2", "0320000002", 2, 1.0))
    snapshot = LiveSnapshot(queues={"q": view.__class__(name="q", callers=callers, members=view.members,
                                                        recent_handle_times=(30.0,))},
                            lines=base.lines, now=2.0, synced=True, version=1, drift=0)
    outlook = queue_outlook(snapshot, "q")
    assert outlook is not None and outlook.waiting == ("u1", "u2")


def test_the_offer_and_its_confirmation_are_french_prompts(hotline: Hotline) -> None:
    texts = catalogue(hotline)
    assert "sans perdre votre place, tapez 1" in texts["queued_callback_offer"]
    assert "vous gardez votre place" in texts["queued_callback_recorded"]


def test_the_callback_dialplan_passes_the_position_as_queues_ninth_argument(hotline: Hotline) -> None:
    queue_line = next(line for line in callback_dialplan(hotline) if ",Queue(" in line)
    args = queue_line.split("Queue(", 1)[1].rstrip(")").split(",")
    # Asterisk 22: queuename,options,URL,announceoverride,timeout,AGI,gosub,rule,position
    assert len(args) == 9
    assert (args[0], args[4], args[7], args[8]) == (
        "${AIGUILLEUR_QUEUE}", "${AIGUILLEUR_TIMEOUT}", "${AIGUILLEUR_RULE}", "${AIGUILLEUR_POSITION}")


# ----------------------------------------------------------------------------- the IVR


class ScriptedChannel:
    """An AGI channel whose caller presses the given answers in turn (one per question)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.played: list[str] = []
        self.asked: list[list[str]] = []
        self.variables: dict[str, str] = {}

    async def stream_file(self, file: str, interruptible: bool = False) -> str | None:
        self.played.append(file)
        return None

    async def read_digits(self, files: list[str], timeout_ms: int, max_digits: int) -> str | None:
        self.asked.append(files)
        return self.answers.pop(0) if self.answers else None

    async def more_digits(self, first: str, timeout_ms: int, max_digits: int) -> str:
        return first

    async def say_datetime(self, at: dt.datetime, fmt: str, timezone: str, interruptible: bool = False) -> str | None:
        return None

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    async def user_event(self, name: str, fields: Mapping[str, str]) -> None:
        return None


class Outlooks:
    """The live outlook of the queue: a long wait; ``u2`` joins while the caller hears the offer."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, queue: str) -> QueueOutlook:
        self.calls += 1
        waiting = ("u1",) if self.calls == 1 else ("u1", "u2")
        return QueueOutlook(logged_in=frozenset({"cma-01"}), paused=frozenset(), expected_wait_seconds=900.0,
                            waiting=waiting)


async def test_a_long_wait_offers_to_keep_the_place_and_1_stores_it(hotline: Hotline) -> None:
    channel = ScriptedChannel([*CRAFTSMAN, "1"])
    stored: list[CallbackRequest] = []

    async def sink(request: CallbackRequest) -> None:
        stored.append(request)

    finish = await run_ivr(channel, hotline, lambda: MONDAY_10, "0612345678", linkedid="1764.7",
                           on_callback=sink, outlook=Outlooks())
    assert channel.asked[-1] == [sound_name("queued_callback_offer")]
    assert channel.played[-1] == sound_name("queued_callback_recorded")
    assert finish.callback and not finish.route
    assert channel.variables["AIGUILLEUR_ACTION"] == "hangup"  # the caller is not queued: the placeholder will be
    (request,) = stored
    queue = choose_queue(hotline_profile(), hotline)
    assert (request.reason, request.linkedid, request.next_opening) == (QUEUED, "1764.7", None)
    # The callers ahead are read when the caller accepts: u2 joined while they listened.
    assert request.place == QueuePlace(queue, 0, 0, ("u1", "u2"))
    assert request.place.position == 3


async def test_anything_but_1_queues_the_caller(hotline: Hotline) -> None:
    channel = ScriptedChannel([*CRAFTSMAN, "2"])
    stored: list[CallbackRequest] = []

    async def sink(request: CallbackRequest) -> None:
        stored.append(request)

    finish = await run_ivr(channel, hotline, lambda: MONDAY_10, "0612345678", on_callback=sink,
                           outlook=Outlooks())
    assert not finish.callback and stored == []
    assert channel.variables["AIGUILLEUR_ACTION"] == "queue"
    assert channel.variables["AIGUILLEUR_QUEUE"] == choose_queue(hotline_profile(), hotline)


async def test_nobody_logged_in_still_offers_an_ordinary_callback(hotline: Hotline) -> None:
    channel = ScriptedChannel([*CRAFTSMAN, "1"])
    stored: list[CallbackRequest] = []

    async def sink(request: CallbackRequest) -> None:
        stored.append(request)

    def nobody(queue: str) -> QueueOutlook:
        return QueueOutlook(logged_in=frozenset(), paused=frozenset(), expected_wait_seconds=None)

    await run_ivr(channel, hotline, lambda: MONDAY_10, "0612345678", on_callback=sink, outlook=nobody)
    assert channel.asked[-1] == [sound_name("nobody_available"), sound_name("long_wait_offer")]
    (request,) = stored
    assert (request.reason, request.place) == ("nobody_logged_in", None)


def hotline_profile() -> CallerProfile:
    return CallerProfile("0612345678", need="difficulty", sector="crafts", size="micro", departement="nord")
