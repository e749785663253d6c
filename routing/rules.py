"""Rules as data: each line's queue membership, what changed between two versions, and
the member changes that take a running Asterisk from one to the other.

Pure. The edges (``queues.advisors``, ``aiguilleur.rules``) send the changes over AMI
and record the versions in PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from config.models import Hotline
from routing.router import member_penalties, queue_names

# Separators of the membership string the dialplan's login loop reads (advisor-join).
MEMBERSHIP_ITEM_SEP = "/"
MEMBERSHIP_FIELD_SEP = ":"
# Dialplan context that logs a line in: AMI Originate of Local/<line>@advisor-login (CLI/API).
LOGIN_CONTEXT = "advisor-login"


@dataclass(frozen=True)
class LineMembership:
    """Where a logged-in line belongs: every queue with its penalty, and its wrap-up."""

    line: str
    partner: str
    wrapup_seconds: int
    penalties: Mapping[str, int]

    def encoded(self) -> str:
        """``queue:penalty/queue:penalty``, as the dialplan's ``advisor-join`` loop reads it."""
        return MEMBERSHIP_ITEM_SEP.join(
            f"{queue}{MEMBERSHIP_FIELD_SEP}{penalty}" for queue, penalty in self.penalties.items()
        )


def membership_of(hotline: Hotline, line: str) -> LineMembership:
    """The membership of ``line``; ``KeyError`` if the config has no such line."""
    partner = hotline.partner_of(line)
    if partner is None or line not in partner.line_ids():
        raise KeyError(line)
    penalties = {queue: member_penalties(hotline, queue)[line] for queue in queue_names(hotline)}
    return LineMembership(line, partner.id, partner.wrapup_seconds, penalties)


def partner_membership(hotline: Hotline, partner_id: str) -> str:
    """``queue:penalty/...`` for any line of ``partner_id`` (a partner's lines share penalties)."""
    partner = next(p for p in hotline.partners if p.id == partner_id)
    return membership_of(hotline, partner.line_ids()[0]).encoded()


def all_memberships(hotline: Hotline) -> dict[str, LineMembership]:
    """Every line's membership, computed once per queue (not once per line and queue)."""
    per_queue = {queue: member_penalties(hotline, queue) for queue in queue_names(hotline)}
    return {
        line: LineMembership(
            line, partner.id, partner.wrapup_seconds, {q: p[line] for q, p in per_queue.items()}
        )
        for line, partner in hotline.lines()
    }


# ----------------------------------------------------------------------------- member changes


@dataclass(frozen=True)
class SetPenalty:
    line: str
    queue: str
    penalty: int


@dataclass(frozen=True)
class JoinQueue:
    line: str
    queue: str
    penalty: int
    wrapup_seconds: int


@dataclass(frozen=True)
class LeaveQueue:
    line: str
    queue: str


MemberChange = SetPenalty | JoinQueue | LeaveQueue


def plan_member_changes(
    hotline: Hotline, running: Mapping[str, Mapping[str, int]], lingering: AbstractSet[str] = frozenset()
) -> list[MemberChange]:
    """Changes that bring the logged-in lines (``running``: line -> queue -> penalty) to ``hotline``.

    Only lines already logged in are touched: applying rules never logs anyone in
    or out, it re-ranks them. A line the config no longer has leaves every queue.
    ``lingering`` queues (an older version's ranking, callers still waiting there) keep their
    members as they are: emptying them would send those callers away (``leavewhenempty``).
    Order: joins first, then penalties, then leaves, so a line is never in no queue.
    """
    wanted = all_memberships(hotline)
    joins: list[MemberChange] = []
    penalties: list[MemberChange] = []
    leaves: list[MemberChange] = []
    for line in sorted(running):
        current = running[line]
        target = wanted.get(line)
        target_penalties = target.penalties if target is not None else {}
        for queue, penalty in target_penalties.items():
            if queue not in current:
                assert target is not None
                joins.append(JoinQueue(line, queue, penalty, target.wrapup_seconds))
            elif current[queue] != penalty:
                penalties.append(SetPenalty(line, queue, penalty))
        leaves.extend(LeaveQueue(line, queue) for queue in sorted(current)
                      if queue not in target_penalties and (target is None or queue not in lingering))
    return [*joins, *penalties, *leaves]


# ----------------------------------------------------------------------------- diffs

# What cannot change under a running Asterisk without a restart (``make run`` again):
# new lines need pjsip.conf, new menu options need prompts and queues, the number the dialplan.
RESTART_FIELDS = ("name", "number", "menu")


def _flatten(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key in sorted(value):
            yield from _flatten(value[key], f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) and "id" in v for v in value):
        for item in value:  # partners, menu steps: by id, so reordering is not a change
            yield from _flatten(item, f"{path}[{item['id']}]")
    else:
        yield path, value


def flat_rules(hotline: Hotline) -> dict[str, Any]:
    """Every setting as ``dotted.path -> value`` (partners and steps keyed by their id)."""
    return dict(_flatten(hotline.model_dump(mode="json"), ""))


def diff_rules(old: Hotline | None, new: Hotline) -> list[str]:
    """Human-readable changes from ``old`` (None: nothing runs yet) to ``new``, one per line."""
    before = flat_rules(old) if old is not None else {}
    after = flat_rules(new)
    out: list[str] = []
    for key in sorted(before.keys() | after.keys()):
        if key not in after:
            out.append(f"- {key}: {before[key]!r}")
        elif key not in before:
            out.append(f"+ {key}: {after[key]!r}")
        elif before[key] != after[key]:
            out.append(f"~ {key}: {before[key]!r} -> {after[key]!r}")
    return out


def restart_needed(old: Hotline, new: Hotline) -> list[str]:
    """Changes that a live apply cannot make: lines added or removed, menu, number."""
    reasons = [
        f"{name} changed" for name in RESTART_FIELDS
        if getattr(old, name) != getattr(new, name)
    ]
    old_lines = {line for line, _ in old.lines()}
    new_lines = {line for line, _ in new.lines()}
    if old_lines != new_lines:
        added = sorted(new_lines - old_lines)
        removed = sorted(old_lines - new_lines)
        reasons.append(f"lines changed (added {added}, removed {removed}): pjsip.conf must be regenerated")
    return reasons
