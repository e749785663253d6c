"""The pending wrap-ups of the advisor lines (web.wrapup) and the partners' wrap-up codes (config)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.models import DEFAULT_WRAPUP_CODES, Partner
from web.screen import ScreenPop, in_wrapup
from web.wrapup import WrapupBook


def pop(state: str | None, linkedid: str | None = "1.1", line: str = "cma-01") -> ScreenPop:
    return ScreenPop(line=line, line_status="busy", call_state=state, number="0320000001", linkedid=linkedid)


def test_a_connected_call_is_kept_after_the_hang_up_until_its_wrap_up_is_done() -> None:
    book = WrapupBook()
    book.remember(pop("ringing"))
    assert book.pending("cma-01") is None  # a call only ringing leaves nothing to wrap up
    book.remember(pop("connected"))
    kept = book.pending("cma-01")
    assert kept is not None and book.pending_id("cma-01") == "1.1"
    ended = in_wrapup(kept, "wrapup")
    assert (ended.call_state, ended.line_status, ended.number) == ("wrapup", "wrapup", "0320000001")
    assert not book.done("cma-01", "2.2")  # not that call
    assert book.done("cma-01", "1.1")
    assert book.pending("cma-01") is None and not book.done("cma-01", "1.1")


def test_the_next_connected_call_replaces_the_pending_one_and_unknown_calls_are_not_kept() -> None:
    book = WrapupBook()
    book.remember(pop("connected", "1.1"))
    book.remember(pop("connected", "2.2"))
    assert book.pending_id("cma-01") == "2.2"
    book.remember(pop("connected", None, line="cci-01"))  # no record key: nothing to save on
    assert book.pending("cci-01") is None


def test_a_partner_without_codes_offers_the_default_list_and_a_code_twice_is_refused() -> None:
    plain = Partner(id="x", name="X", lines=1)
    assert plain.wrapup_choices() == DEFAULT_WRAPUP_CODES
    with pytest.raises(ValidationError, match="twice: info"):
        Partner(id="x", name="X", lines=1, wrapup_codes=[{"id": "info", "label": "A"}, {"id": "info", "label": "B"}])
    with pytest.raises(ValidationError):
        Partner(id="x", name="X", lines=1, wrapup_codes=[{"id": "Pas un slug", "label": "A"}])
