"""Rules as data: memberships, the member changes an apply makes, diffs, what needs a restart."""

from __future__ import annotations

from typing import Any

from config.models import Hotline
from routing.router import queue_names
from routing.rules import (
    JoinQueue,
    LeaveQueue,
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
    assert {len(m.penalties) for m in memberships.values()} == {len(queue_names(hotline))}
    assert memberships["cma-02"] == membership_of(hotline, "cma-02")


def test_an_apply_that_lowers_a_skill_only_changes_the_penalties_of_logged_in_lines(hotline: Hotline) -> None:
    cma = next(i for i, p in enumerate(hotline.partners) if p.id == "cma")
    skills = dict(hotline.partners[cma].skills, **{"sector:crafts": 3})
    newer = changed(hotline, version=hotline.version + 1, **{f"partners__{cma}__skills": skills})
    running = {line: dict(membership_of(hotline, line).penalties) for line in ("cma-01", "cci-01")}
    changes = plan_member_changes(newer, running)
    # Rankings change with the skill: the logged-in lines join the new rankings' queues, leave
    # the ones no profile produces any more, and are re-ranked in the others; nobody else.
    assert changes and {c.line for c in changes} == {"cma-01", "cci-01"}
    new_queues, old_queues = set(queue_names(newer)), set(queue_names(hotline))
    assert {c.queue for c in changes if isinstance(c, JoinQueue)} == new_queues - old_queues
    assert {c.queue for c in changes if isinstance(c, LeaveQueue)} == old_queues - new_queues
    for change in changes:  # applied, the running lines hold exactly the new memberships
        if isinstance(change, LeaveQueue):
            del running[change.line][change.queue]
        else:
            running[change.line][change.queue] = change.penalty
    assert running == {line: dict(membership_of(newer, line).penalties) for line in ("cma-01", "cci-01")}


def test_apply_never_logs_anyone_in_or_out(hotline: Hotline) -> None:
    assert plan_member_changes(hotline, {}) == []
    same = {"cma-01": dict(membership_of(hotline, "cma-01").penalties)}
    assert plan_member_changes(hotline, same) == []


def test_a_line_missing_a_queue_joins_it_and_a_stray_queue_is_left(hotline: Hotline) -> None:
    penalties = dict(membership_of(hotline, "mel-01").penalties)
    del penalties["rank-cma-cci"]
    penalties["old-queue"] = 3
    changes = plan_member_changes(hotline, {"mel-01": penalties})
    assert changes == [
        JoinQueue("mel-01", "rank-cma-cci", 2, hotline.partners[-1].wrapup_seconds),
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


def test_a_queue_an_older_version_had_keeps_its_members_while_callers_wait_there(hotline: Hotline) -> None:
    """A skill change can drop a ranking: its waiting callers must not find it emptied
    (``leavewhenempty`` would send them away), so its members stay until the next apply."""
    penalties = dict(membership_of(hotline, "mel-01").penalties, **{"rank-old": 2, "rank-gone": 1})
    changes = plan_member_changes(hotline, {"mel-01": penalties}, lingering=frozenset({"rank-old"}))

    assert changes == [LeaveQueue("mel-01", "rank-gone")]
    # A line the config no longer has leaves everything, lingering or not.
    assert LeaveQueue("zz-01", "rank-old") in plan_member_changes(
        hotline, {"zz-01": {"rank-old": 0}}, lingering=frozenset({"rank-old"}))
