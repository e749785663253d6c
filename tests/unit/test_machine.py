import pytest

from config.loader import load_hotline
from config.models import Menu
from config.settings import REPO_ROOT
from ivr.machine import Ask, Digits, Finish, Hangup, MenuMachine, Play, Timeout

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


def test_closed_line_says_so_and_hangs_up() -> None:
    actions = MenuMachine(MENU, is_open=False).start()
    assert actions[:2] == [Play("closed"), Play("goodbye")]
    finish = finish_of(actions)
    assert finish.exit_reason == "closed" and not finish.route


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
