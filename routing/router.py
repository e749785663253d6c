"""Skill-based routing: a caller's profile and the hotline rules in, a decision out.

Pure: no I/O, no clock. Penalties follow app_queue's convention (lower rings
first); a line's penalty in a queue comes from its partner's skill level, and
the queue rule widens the allowed penalty over time (``queuerules.conf``), so
the caller keeps their place while the pool grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from config.models import Hotline, Partner

QUEUE_RULE = "escalation"
SECTOR_QUEUE_PREFIX = "sector-"
PARTNER_QUEUE_PREFIX = "partner-"
REPEAT_CALLER_PRIORITY = 1


@dataclass(frozen=True)
class CallerProfile:
    """What the IVR learned about a caller; ``None`` where the caller did not say."""

    caller_number: str = ""
    need: str | None = None
    sector: str | None = None
    size: str | None = None
    departement: str | None = None
    ivr_exit: str = "completed"
    partner: str | None = None  # a recent caller who asked for the same partner again

    def answers(self) -> dict[str, str]:
        values = {
            "need": self.need, "sector": self.sector, "size": self.size,
            "departement": self.departement,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class RoutingDecision:
    queue: str
    priority: int
    max_wait_seconds: int
    queue_rule: str
    reason: str
    rule_version: int
    skills: tuple[str, ...] = field(default_factory=tuple)


def queue_names(hotline: Hotline) -> list[str]:
    """Every queue: the general one, one per business sector, one per partner (recent callers)."""
    sectors = [o.value for o in hotline.menu.step("sector").options]
    return [
        hotline.queues.general_queue,
        *(SECTOR_QUEUE_PREFIX + s for s in sectors),
        *(PARTNER_QUEUE_PREFIX + p.id for p in hotline.partners),
    ]


def skill_of_queue(queue: str) -> str | None:
    """The skill a queue is about (``sector:crafts`` for ``sector-crafts``), None for general."""
    if queue.startswith(SECTOR_QUEUE_PREFIX):
        return "sector:" + queue.removeprefix(SECTOR_QUEUE_PREFIX)
    return None


def penalty_for(partner: Partner, skill: str | None, best_level: int, floor: int) -> int:
    """The best level present rings first (penalty 0); a line without the skill gets the floor."""
    if skill is None:
        return 0
    level = partner.skills.get(skill)
    return floor if level is None else best_level - level


def member_penalties(hotline: Hotline, queue: str) -> dict[str, int]:
    """Each line's penalty in ``queue``; every line is a member so the pool can widen to all.

    Penalties are relative to the best skill level any partner has for the queue, so
    a queue whose best advisors are level 3 does not wait for the first escalation step.
    """
    floor = hotline.queues.skill_penalty_floor
    if queue.startswith(PARTNER_QUEUE_PREFIX):
        wanted = queue.removeprefix(PARTNER_QUEUE_PREFIX)
        return {line: 0 if partner.id == wanted else floor for line, partner in hotline.lines()}
    skill = skill_of_queue(queue)
    levels = [p.skills[skill] for p in hotline.partners if skill is not None and skill in p.skills]
    best = max(levels, default=5)
    return {line: penalty_for(partner, skill, best, floor) for line, partner in hotline.lines()}


def decide(profile: CallerProfile, hotline: Hotline) -> RoutingDecision:
    """Choose the queue for a caller: their sector's queue, else the general one."""
    policy = hotline.queues
    if profile.partner is not None and any(p.id == profile.partner for p in hotline.partners):
        return RoutingDecision(
            queue=PARTNER_QUEUE_PREFIX + profile.partner,
            priority=REPEAT_CALLER_PRIORITY,
            max_wait_seconds=policy.max_wait_seconds,
            queue_rule=QUEUE_RULE,
            reason=f"same partner as a recent call: {profile.partner}",
            rule_version=hotline.version,
        )
    if profile.sector is not None and SECTOR_QUEUE_PREFIX + profile.sector in queue_names(hotline):
        queue = SECTOR_QUEUE_PREFIX + profile.sector
        reason = f"sector:{profile.sector}"
        skills: tuple[str, ...] = (f"sector:{profile.sector}",)
    else:
        queue = policy.general_queue
        reason = "advisor requested" if profile.ivr_exit == "advisor" else "no sector"
        skills = ()
    return RoutingDecision(
        queue=queue,
        priority=0,
        max_wait_seconds=policy.max_wait_seconds,
        queue_rule=QUEUE_RULE,
        reason=reason,
        rule_version=hotline.version,
        skills=skills,
    )
