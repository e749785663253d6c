"""routing.explain's helpers for the rule editor: answers checked against the menu, when each tier rings,
and the effect of a proposed hotline on every profile (on the real rules, ``config/hotline.yaml``)."""

from __future__ import annotations

from typing import Any

from config.models import Hotline
from routing.explain import answer_errors, explain, footprint, ring_steps, routing_effect

BIG_FIRM_IN_DIFFICULTY = {"need": "difficulty", "sector": "industry", "size": "large", "departement": "oise"}


def edited(hotline: Hotline, **changes: Any) -> Hotline:
    """A copy of ``hotline`` with partner skills set: ``mel={"sector:crafts": 5}``."""
    document = hotline.model_dump(mode="json")
    for partner in document["partners"]:
        partner["skills"].update(changes.get(partner["id"], {}))
    return Hotline.model_validate(document)


def test_answers_are_checked_against_the_menu_and_each_error_names_its_question(hotline: Hotline) -> None:
    assert answer_errors(hotline, BIG_FIRM_IN_DIFFICULTY) == []
    assert answer_errors(hotline, {}) == []  # pressed 0 at once
    assert answer_errors(hotline, {"need": "other"}) == []  # pressed 0 after the need
    errors = answer_errors(hotline, {"need": "difficulty", "sector": "mining", "colour": "blue", "size": 5})
    assert [question for question, _ in errors] == ["sector", "colour", "size"]
    assert "allowed: commerce, crafts, industry, services, liberal" in errors[0][1]
    assert "questions: need, sector, size, departement" in errors[1][1]
    assert "self_employed" in errors[2][1]  # a number is not a value, whatever its digits
    assert answer_errors(hotline, ["need"]) == [("", "answers must be an object: {question: value}")]


def test_ring_steps_say_who_rings_first_and_who_joins_at_each_step(hotline: Hotline) -> None:
    steps = ring_steps(explain(hotline, BIG_FIRM_IN_DIFFICULTY))
    assert [(s.after_seconds, s.added) for s in steps] == [
        (0, ("region",)), (30, ("direccte",)), (90, ("cci", "cma", "mel"))]
    assert steps[-1].partners == ("region", "direccte", "cci", "cma", "mel")
    general = ring_steps(explain(hotline, {}))  # general queue: everyone at once
    assert general[0].added == ("direccte", "region", "cma", "cci", "mel")
    assert all(not s.added for s in general[1:])


def test_no_change_has_no_effect(hotline: Hotline) -> None:
    effect = routing_effect(hotline, hotline.model_copy(deep=True))
    size = footprint(hotline)
    assert (effect.changed, effect.changed_count) == ((), 0)
    assert (effect.queues_before, effect.queues_after, effect.memberships_after) == (
        size.queues, size.queues, size.memberships)
    assert effect.profiles == 450


def test_mel_taking_crafts_and_micro_firms_moves_the_nord_craftsmen_from_cma_to_mel(hotline: Hotline) -> None:
    proposed = edited(hotline, mel={"sector:crafts": 5, "size:micro": 4})
    effect = routing_effect(hotline, proposed)
    moved = {tuple(c.answers.values()): (c.before, c.after) for c in effect.changed}
    assert moved[("creation", "crafts", "micro", "nord")] == (("cma",), ("mel",))
    assert all(c.answers["departement"] == "nord" or c.after != ("mel",) for c in effect.changed)
    assert effect.changed_count == len(effect.changed) > 0
    # one more ranking (MEL alone first) that app_queue must hold, every line a member of it
    assert (effect.queues_before, effect.queues_after) == (58, 59)
    assert effect.memberships_after == 59 * len(proposed.lines())
    # the reverse change moves the same profiles back
    back = routing_effect(proposed, hotline)
    assert {tuple(c.answers.values()): (c.after, c.before) for c in back.changed} == moved


def test_the_changed_list_is_capped_but_the_count_is_not(hotline: Hotline) -> None:
    proposed = edited(hotline, mel={"sector:crafts": 5, "size:micro": 4, "need:difficulty": 5, "need:other": 5})
    effect = routing_effect(hotline, proposed, limit=3)
    assert len(effect.changed) == 3 and effect.changed_count > 3
    assert routing_effect(hotline, proposed).changed_count == effect.changed_count
