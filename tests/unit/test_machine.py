import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.loader import load_hotline
from config.models import Menu
from config.settings import REPO_ROOT
from ivr.machine import Ask, Digits, Event, Finish, Hangup, MenuMachine, Play, Routed, SayDateTime, Timeout

MENU: Menu = load_hotline(REPO_ROOT / "config" / "hotline.yaml").menu


def finish_of(actions: list[object]) -> Finish:
    finishes = [a for a in actions if isinstance(a, Finish)]
    assert len(finishes) == 1
    return finishes[0]


def test_first_question_comes_with_the_welcome() -> None:
    (ask,) = MenuMachine(MENU).start()
    assert isinstance(ask, Ask)
    assert ask.prompts == ("welcome", "step-need")
    assert ask.timeout_ms == 5000 and ask.max_digits == 1


OPENS = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)


def test_closed_line_says_hours_next_opening_and_offers_a_callback() -> None:
    machine = MenuMachine(MENU, is_open=False, next_opening=OPENS)
    assert machine.start() == [
        Play("closed"), Play("next_opening"), SayDateTime(OPENS), Ask("callback", ("callback_offer",), 5000, 1),
    ]
    actions = machine.feed(Digits("1"))
    assert actions[:2] == [Play("callback_recorded"), Play("goodbye")]
    finish = finish_of(actions)
    assert finish.exit_reason == "closed" and finish.callback and not finish.route


@pytest.mark.parametrize("event", [Timeout(), Digits("2"), Digits("0"), Digits("*")])
def test_closed_line_without_callback_says_goodbye_at_once(event: Digits | Timeout) -> None:
    machine = MenuMachine(MENU, is_open=False)
    assert Play("next_opening") not in machine.start()  # no known opening in the next 14 days
    actions = machine.feed(event)
    assert actions[0] == Play("goodbye")
    finish = finish_of(actions)
    assert finish.exit_reason == "closed" and not finish.callback


def test_recent_caller_is_offered_the_same_partner() -> None:
    machine = MenuMachine(MENU, repeat_partner="cma")
    (ask,) = machine.start()
    assert ask == Ask("repeat", ("welcome", "repeat-cma"), 5000, 1)
    finish = finish_of(machine.feed(Digits("1")))
    assert finish.exit_reason == "same_partner" and finish.partner == "cma" and finish.route


@pytest.mark.parametrize("event", [Digits("2"), Timeout(), Digits("7")])
def test_recent_caller_declining_goes_through_the_menu(event: Digits | Timeout) -> None:
    machine = MenuMachine(MENU, repeat_partner="cma")
    machine.start()
    (ask,) = machine.feed(event)
    assert isinstance(ask, Ask) and ask.step == "need" and ask.prompts == ("step-need",)
    for digits in ("1", "2", "2", "59"):
        actions = machine.feed(Digits(digits))
    finish = finish_of(actions)
    assert finish.exit_reason == "completed" and finish.partner is None


def test_four_answers_complete_the_profile() -> None:
    machine = MenuMachine(MENU)
    machine.start()
    for digits in ("1", "2", "2"):
        (ask,) = machine.feed(Digits(digits))
        assert isinstance(ask, Ask)
    assert ask.step == "departement" and ask.max_digits == 2
    finish = finish_of(machine.feed(Digits("59")))
    assert finish.exit_reason == "completed" and finish.route
    assert finish.answers == {"need": "creation", "sector": "crafts", "size": "micro", "departement": "nord"}


def test_zero_reaches_an_advisor_with_what_is_known() -> None:
    machine = MenuMachine(MENU)
    machine.start()
    machine.feed(Digits("2"))
    actions = machine.feed(Digits("0"))
    assert actions[0] == Play("to_advisor")
    finish = finish_of(actions)
    assert finish.exit_reason == "advisor" and finish.route
    assert finish.answers == {"need": "difficulty"}


def test_star_repeats_the_step_without_costing_a_try() -> None:
    machine = MenuMachine(MENU)
    machine.start()
    (ask,) = machine.feed(Digits("*"))
    assert isinstance(ask, Ask) and ask.step == "need" and ask.prompts == ("step-need",)
    assert machine.feed(Digits("9"))[0] == Play("invalid")
    assert machine.feed(Digits("7"))[0] == Play("invalid")
    (ask,) = machine.feed(Digits("1"))
    assert isinstance(ask, Ask) and ask.step == "sector"


def test_silent_caller_is_hung_up_after_three_prompts() -> None:
    machine = MenuMachine(MENU)
    machine.start()
    assert machine.feed(Timeout()) == [Play("no_input"), Ask("need", ("step-need",), 5000, 1)]
    machine.feed(Timeout())
    actions = machine.feed(Timeout())
    assert actions[:2] == [Play("no_input"), Play("goodbye")]
    finish = finish_of(actions)
    assert finish.exit_reason == "no_input" and not finish.route and finish.retries == 2


def test_caller_hammering_wrong_keys_is_classed_invalid() -> None:
    machine = MenuMachine(MENU)
    machine.start()
    machine.feed(Digits("8"))
    machine.feed(Timeout())
    finish = finish_of(machine.feed(Digits("#9")))
    assert finish.exit_reason == "invalid"


def test_later_step_without_answer_takes_the_default_and_goes_on() -> None:
    machine = MenuMachine(MENU)
    machine.start()
    machine.feed(Digits("1"))
    for _ in range(2):
        machine.feed(Timeout())
    (ask,) = machine.feed(Timeout())
    assert isinstance(ask, Ask) and ask.step == "size"
    assert machine.answers["sector"] == "liberal"


def test_endless_star_presses_cannot_loop_forever() -> None:
    machine = MenuMachine(MENU)
    machine.start()
    for _ in range(100):
        if machine.finished:
            break
        machine.feed(Digits("*"))
    assert machine.finished is not None and machine.finished.exit_reason == "invalid"


def test_hangup_mid_menu_finishes_without_routing() -> None:
    machine = MenuMachine(MENU)
    machine.start()
    machine.feed(Digits("1"))
    finish = finish_of(machine.feed(Hangup()))
    assert finish.exit_reason == "hangup" and not finish.route
    assert machine.feed(Digits("1")) == []


@pytest.mark.parametrize("garbled", ["", "12", "A", "1#", "\x00", "é"])
def test_garbled_dtmf_is_invalid_not_a_crash(garbled: str) -> None:
    machine = MenuMachine(MENU)
    machine.start()
    assert machine.feed(Digits(garbled))[0] == Play("invalid")


events = st.one_of(
    st.builds(Digits, st.text(alphabet="0123456789*#AB", min_size=0, max_size=3)),
    st.just(Timeout()),
    st.just(Hangup()),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(events, max_size=200),
    st.booleans(),
    st.sampled_from([None, "cma", "mel"]),
)
def test_any_caller_ends_routed_hung_up_or_closed_within_bound(
    sequence: list[Event], is_open: bool, repeat_partner: str | None
) -> None:
    """Whatever a caller presses (or not), the menu ends, and within a bounded number of reads."""
    machine = MenuMachine(MENU, is_open=is_open, repeat_partner=repeat_partner, next_opening=OPENS)
    asks = sum(isinstance(a, Ask) for a in machine.start())
    bound = 2 + len(MENU.steps) * 2 * MENU.max_tries
    for event in sequence:
        asks += sum(isinstance(a, Ask) for a in machine.feed(event))
        assert asks <= bound
    # A caller who goes silent forever still ends: feed timeouts until it does.
    for _ in range(bound + 1):
        if machine.finished is not None:
            break
        asks += sum(isinstance(a, Ask) for a in machine.feed(Timeout()))
    assert machine.finished is not None
    assert asks <= bound
    assert machine.finished.exit_reason in {
        "completed", "same_partner", "advisor", "closed", "no_input", "invalid", "hangup"}
    assert machine.finished.route == (machine.finished.exit_reason in {"completed", "same_partner", "advisor"})


# --- after the menu: the router's decision and the callback it may offer -------------------
def routed_machine() -> tuple[MenuMachine, Finish]:
    """A caller who pressed the advisor digit: the menu is over and routes the call."""
    machine = MenuMachine(MENU)
    machine.start()
    routed = finish_of(machine.feed(Digits(MENU.advisor_digit)))
    assert routed.route and not routed.callback
    return machine, routed


def test_a_routed_call_that_queues_hears_nothing_more() -> None:
    machine, routed = routed_machine()
    assert machine.feed(Routed("queue")) == []
    assert machine.finished == routed and machine.offered_callback is None
    assert machine.feed(Digits("1")) == []  # nothing is offered: a key changes nothing


def test_a_long_wait_offers_to_keep_the_place_and_1_takes_the_callback() -> None:
    machine, routed = routed_machine()
    assert machine.feed(Routed("offer_callback")) == [Ask("queued_callback", ("queued_callback_offer",), 5000, 1)]
    assert machine.offered_callback == "queued_callback"
    actions = machine.feed(Digits("1"))
    assert actions[0] == Play("queued_callback_recorded")
    finish = finish_of(actions)
    assert finish.callback and not finish.route
    assert (finish.exit_reason, finish.answers, finish.steps_taken) == (routed.exit_reason, routed.answers,
                                                                        routed.steps_taken)


def test_nobody_logged_in_offers_an_ordinary_callback() -> None:
    machine, _ = routed_machine()
    (ask,) = machine.feed(Routed("nobody_logged_in"))
    assert ask == Ask("nobody_callback", ("nobody_available", "long_wait_offer"), 5000, 1)
    actions = machine.feed(Digits("1"))
    assert actions[0] == Play("callback_recorded") and finish_of(actions).callback


@pytest.mark.parametrize("event", [Digits("2"), Timeout(), Digits("0")])
def test_anything_but_1_on_the_offer_queues_the_caller(event: Digits | Timeout) -> None:
    machine, routed = routed_machine()
    machine.feed(Routed("offer_callback"))
    assert machine.feed(event) == []
    assert machine.finished == routed and machine.offered_callback is None


def test_a_caller_hanging_up_on_the_offer_is_neither_queued_nor_called_back() -> None:
    machine, _ = routed_machine()
    machine.feed(Routed("offer_callback"))
    finish = finish_of(machine.feed(Hangup()))
    assert finish.exit_reason == "hangup" and not finish.route and not finish.callback


def test_a_decision_before_the_menu_is_over_is_ignored() -> None:
    machine = MenuMachine(MENU)
    machine.start()
    assert machine.feed(Routed("offer_callback")) == [] and machine.finished is None


def test_a_menu_taken_over_from_a_dead_instance_goes_on_after_the_answers_given_without_the_welcome() -> None:
    need, sector = MENU.steps[0], MENU.steps[1]
    given = {need.id: need.options[0].value, sector.id: sector.options[1].value}
    machine = MenuMachine(MENU, repeat_partner="cma", resumed=given)  # no same-partner offer either
    (ask,) = machine.start()
    assert isinstance(ask, Ask)
    assert (ask.step, ask.prompts) == (MENU.steps[2].id, (f"step-{MENU.steps[2].id}",))
    assert machine.answers == given


def test_a_resumed_answer_that_is_not_an_option_ends_the_resume_at_that_step() -> None:
    need, sector = MENU.steps[0], MENU.steps[1]
    machine = MenuMachine(MENU, resumed={need.id: "'; DROP TABLE cdr", sector.id: sector.options[0].value})
    (ask,) = machine.start()
    assert isinstance(ask, Ask) and ask.step == need.id and "welcome" not in ask.prompts
    assert machine.answers == {}


def test_a_menu_resumed_with_every_answer_routes_at_once() -> None:
    given = {step.id: step.options[-1].value for step in MENU.steps}
    machine = MenuMachine(MENU, resumed=given)
    finish = finish_of(machine.start())
    assert (finish.exit_reason, finish.route, finish.answers) == ("completed", True, given)
