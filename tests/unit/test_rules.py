"""Rules as data: memberships, the member changes an apply makes, diffs, what needs a restart."""

from __future__ import annotations

from typing import Any

from config.models import Hotline
from routing.rules import (
    JoinQueue,
    LeaveQueue,
    SetPenalty,
    all_memberships,
    diff_rules,
    membership_of,
    plan_member_changes,
    restart_needed,
)


def changed(hotline: Hotline, **edits: Any) -> Hotline:
    data = hotline.model_dump(mode="json")
    for path, value in edits.items():
        target = data
        *parents, last = path.split("__")
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = value
    return Hotline.model_validate(data)


def test_every_line_is_a_member_of_every_queue_with_its_partners_wrapup(hotline: Hotline) -> None:
    memberships = all_memberships(hotline)
    assert len(memberships) == 36
    assert {len(m.penalties) for m in memberships.values()} == {11}
    assert memberships["cma-02"] == membership_of(hotline, "cma-02")


def test_an_apply_that_lowers_a_skill_only_changes_the_penalties_of_logged_in_lines(hotline: Hotline) -> None:
    cma = next(i for i, p in enumerate(hotline.partners) if p.id == "cma")
    skills = dict(hotline.partners[cma].skills, **{"sector:crafts": 3})
    newer = changed(hotline, version=hotline.version + 1, **{f"partners__{cma}__skills": skills})
    running = {line: dict(membership_of(hotline, line).penalties) for line in ("cma-01", "cci-01")}
    changes = plan_member_changes(newer, running)
    # CMA is still the best at crafts (level 3 now): its penalty stays 0, the others come closer.
    assert SetPenalty("cci-01", "sector-crafts", 9) not in changes
    assert all(isinstance(c, SetPenalty) for c in changes)
    assert {c.line for c in changes} <= {"cma-01", "cci-01"}


def test_apply_never_logs_anyone_in_or_out(hotline: Hotline) -> None:
    assert plan_member_changes(hotline, {}) == []
    same = {"cma-01": dict(membership_of(hotline, "cma-01").penalties)}
    assert plan_member_changes(hotline, same) == []


def test_a_line_missing_a_queue_joins_it_and_a_stray_queue_is_left(hotline: Hotline) -> None:
    penalties = dict(membership_of(hotline, "mel-01").penalties)
    del penalties["sector-crafts"]
    penalties["old-queue"] = 3
    changes = plan_member_changes(hotline, {"mel-01": penalties})
    assert changes == [
        JoinQueue("mel-01", "sector-crafts", 9, hotline.partners[-1].wrapup_seconds),
        LeaveQueue("mel-01", "old-queue"),
    ]


def test_diff_names_each_changed_setting_by_partner_id(hotline: Hotline) -> None:
    cma = next(i for i, p in enumerate(hotline.partners) if p.id == "cma")
    newer = changed(hotline, version=hotline.version + 1, **{f"partners__{cma}__wrapup_seconds": 40})
    assert diff_rules(hotline, newer) == [
        "~ partners[cma].wrapup_seconds: 15 -> 40",
        f"~ version: {hotline.version} -> {hotline.version + 1}",
    ]
    assert diff_rules(hotline, hotline) == []
    assert diff_rules(None, hotline)[0].startswith("+ ")


def test_new_lines_or_menu_changes_need_a_restart_but_skills_and_hours_do_not(hotline: Hotline) -> None:
    mel = next(i for i, p in enumerate(hotline.partners) if p.id == "mel")
    more_lines = changed(hotline, **{f"partners__{mel}__lines": 5})
    assert any("mel-05" in reason for reason in restart_needed(hotline, more_lines))
    menu = changed(hotline, menu__goodbye="Au revoir et à bientôt.")
    assert restart_needed(hotline, menu) == ["menu changed"]
    escalation = [{"after_seconds": 0, "max_penalty": 0}, {"after_seconds": 20, "max_penalty": 9}]
    assert restart_needed(hotline, changed(hotline, queues__escalation=escalation)) == []
