"""The wallboard's view model, built from a ``LiveSnapshot``. Pure.

Per queue: callers waiting (in order, with how long each has waited), the
longest wait, the expected wait of a new caller, and today's service level
(``cdr.kpi.service_level_live``: answered within the threshold over calls offered,
abandons included, plus the callers still waiting past the threshold; the counts
from the call records, the waits from the snapshot at ``now``). Per partner: its lines by state
(available, ringing, busy, wrap-up, paused with the reason, logged out,
unavailable), and the same lines as one agent grid. Overall: each summary figure's level
(ok | warn | alarm against ``config.models.WallboardThresholds``) and a French alarm
text per figure in alarm. A queue lists its first ``MAX_CALLERS_SHOWN`` callers and counts
the rest. Times are whole seconds against the wall clock ``now``.

Caller names and numbers are untrusted text: the view model carries them as
plain strings; every renderer escapes them (``web.pages``) or sets them as
text (the wallboard's JavaScript uses ``textContent``).

Several Asterisk nodes (issue 13): the snapshot is their merge (``queues.state_merge``), and
``nodes`` says each node's state in French ("nœud a : injoignable"); one node: no such strip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal, Protocol

from cdr.kpi import KpiSettings, service_level_of_counts
from config.models import WallboardThresholds
from queues.snapshot import LineState, LiveSnapshot, NodeStatus
from routing.ranking import RANK_QUEUE_PREFIX, parse_queue
from routing.router import PARTNER_QUEUE_PREFIX

LINE_STATUSES: Final = ("available", "ringing", "busy", "wrapup", "paused", "logged_out", "unavailable")
# A wall screen at 1080p has room for a handful of callers per queue: the rest read "+N de plus".
MAX_CALLERS_SHOWN: Final = 5
Level = Literal["ok", "warn", "alarm"]
# The summary figures that carry a level, in the order the alarm text names them.
LEVEL_FIGURES: Final = ("service_level", "longest_wait", "callers_waiting", "lines_free")
# The figures a queue row carries a level for.
QUEUE_LEVEL_FIGURES: Final = ("service_level", "longest_wait")


@dataclass(frozen=True, slots=True)
class TodayStats:
    """One queue's calls today (local day), per ``cdr.kpi``."""

    offered: int
    answered: int
    answered_within_threshold: int
    abandoned: int
    service_level: float | None  # of the records alone (within threshold / offered): the wallboard adds the waiting


class PartnerLike(Protocol):
    """A partner as the config (``config.models.Partner``) and the wallboard (``PartnerInfo``) both have it."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PartnerInfo:
    id: str
    name: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WaitingCaller:
    position: int
    number: str
    name: str
    waited_seconds: int


@dataclass(frozen=True, slots=True)
class QueueRow:
    name: str
    waiting: int
    longest_wait_seconds: int
    expected_wait_seconds: int | None
    lines_available: int
    lines_staffed: int
    service_level_today: float | None  # cdr.kpi.service_level_live
    offered_today: int
    answered_today: int
    abandoned_today: int
    callers: tuple[WaitingCaller, ...]  # the first MAX_CALLERS_SHOWN
    # The service level's own numerator and denominator (within T / offered + waiting past T).
    answered_within_threshold_today: int = 0
    waiting_past_threshold: int = 0
    callers_more: int = 0  # waiting but not listed ("+N de plus")
    label: str = ""  # the queue in words (``queue_label``)
    # ok | warn | alarm of the queue's own longest wait and service level, against the wallboard's
    # thresholds (the caller count and lines free are the hotline's: their limits are for the whole).
    levels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LineRow:
    line: str
    status: str
    paused_reason: str
    seconds_in_status: int | None
    calls_taken: int


@dataclass(frozen=True, slots=True)
class PartnerRow:
    id: str
    name: str
    counts: Mapping[str, int]
    lines: tuple[LineRow, ...]


@dataclass(frozen=True, slots=True)
class AgentRow:
    """One row of the agent grid: every line of the hotline, partner by partner."""

    line: str
    partner: str  # the partner's name ("Autres lignes" for a line the hotline does not list)
    status: str
    seconds_in_status: int | None  # None when the state's start is unknown (loaded by a resync)
    calls_taken: int  # app_queue's CallsTaken: calls answered since the line joined its queues
    paused_reason: str
    # Calls the line answered today (the hotline's calendar day, from the call records): what the
    # grid shows, since CallsTaken restarts at every login and never at midnight.
    calls_today: int = 0


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One followed Asterisk node on the wallboard's strip (``text``: what the strip says)."""

    node: str
    synced: bool
    waiting: int
    lines_logged_in: int
    lines_busy: int
    text: str


def node_text(status: NodeStatus) -> str:
    """A node in French: "nœud b : 2 en attente, 5 lignes connectées, 1 en communication", or "injoignable"
    while its state is not synced (the link is down or the resync is not done: its figures are stale)."""
    if not status.synced:
        return f"nœud {status.node} : injoignable"
    return (f"nœud {status.node} : {status.waiting} en attente, {status.lines_logged_in} ligne(s) connectée(s), "
            f"{status.lines_busy} en communication")


def node_rows(snapshot: LiveSnapshot) -> tuple[NodeRow, ...]:
    """The strip's rows: one per followed node when there are two or more, none for one node."""
    if len(snapshot.nodes) < 2:
        return ()
    return tuple(NodeRow(n.node, n.synced, n.waiting, n.lines_logged_in, n.lines_busy, node_text(n))
                 for n in snapshot.nodes)


@dataclass(frozen=True, slots=True)
class Wallboard:
    version: int
    synced: bool
    as_of: float
    waiting: int
    longest_wait_seconds: int
    service_level_today: float | None
    queues: tuple[QueueRow, ...]
    partners: tuple[PartnerRow, ...]
    # Ranking queues with nobody waiting and no call today, left off the screen: there are
    # dozens (one per partner ranking, routing.ranking) and a wall screen has room for few.
    idle_queues: int = 0
    # The day's service level's numerator and denominator (cdr.kpi.service_level_live), and T.
    answered_within_threshold_today: int = 0
    offered_today: int = 0
    waiting_past_threshold: int = 0
    service_level_seconds: float = KpiSettings.service_level_seconds
    lines_free: int = 0  # lines available to take a call now, every partner
    # ok | warn | alarm per LEVEL_FIGURES, against ``thresholds`` (config.models.WallboardThresholds).
    levels: Mapping[str, str] = field(default_factory=dict)
    alarms: tuple[str, ...] = ()  # French, one per figure in alarm (said aloud: aria-live)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    agents: tuple[AgentRow, ...] = ()
    nodes: tuple[NodeRow, ...] = ()  # every followed node when there are 2+ (``node_rows``)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _since(line: LineState, now: float) -> int | None:
    """Seconds in the line's status (a wrap-up: seconds left); None when its start is unknown."""
    start: float | None = line.status_since  # available, logged out, unavailable: the reducer's change time
    if line.status == "ringing":
        start = line.ringing_since or start
    elif line.status == "busy":
        start = line.in_call_since or start
    elif line.status == "paused":
        start = line.paused_since or start
    elif line.status == "wrapup" and line.wrapup_until is not None:
        return max(0, round(line.wrapup_until - now))  # seconds left
    return None if start is None else max(0, round(now - start))


def _clock(seconds: int) -> str:
    minutes, secs = divmod(max(0, seconds), 60)
    return f"{minutes}:{secs:02d}"


def figure_levels(
    limits: WallboardThresholds, *, service_level: float | None, longest_wait: int, callers_waiting: int,
    lines_free: int,
) -> dict[str, Level]:
    """ok | warn | alarm for each summary figure; a service level with nothing to count is ok."""

    def above(value: float, warn: float, alarm: float) -> Level:
        return "alarm" if value > alarm else "warn" if value > warn else "ok"

    sl: Level = "ok"
    if service_level is not None:
        sl = ("alarm" if service_level < limits.service_level_alarm
              else "warn" if service_level < limits.service_level_warn else "ok")
    free: Level = ("alarm" if lines_free <= limits.lines_free_alarm
                   else "warn" if lines_free < limits.lines_free_warn else "ok")
    return {
        "service_level": sl,
        "longest_wait": above(longest_wait, limits.longest_wait_warn_seconds, limits.longest_wait_alarm_seconds),
        "callers_waiting": above(callers_waiting, limits.callers_waiting_warn, limits.callers_waiting_alarm),
        "lines_free": free,
    }


def alarm_texts(
    limits: WallboardThresholds, levels: Mapping[str, str], *, service_level: float | None, longest_wait: int,
    callers_waiting: int, lines_free: int,
) -> tuple[str, ...]:
    """One French sentence per figure in alarm, with its value and its limit (read aloud)."""
    texts = {
        "service_level": (f"niveau de service {round((service_level or 0) * 100)} % "
                          f"(alarme sous {round(limits.service_level_alarm * 100)} %)"),
        "longest_wait": (f"attente max {_clock(longest_wait)} "
                         f"(alarme au-delà de {_clock(limits.longest_wait_alarm_seconds)})"),
        "callers_waiting": f"{callers_waiting} en attente (alarme au-delà de {limits.callers_waiting_alarm})",
        "lines_free": f"{lines_free} ligne(s) libre(s) (alarme à {limits.lines_free_alarm} ou moins)",
    }
    return tuple(f"Alarme : {texts[name]}" for name in LEVEL_FIGURES if levels.get(name) == "alarm")


def short_names(partners: Iterable[PartnerLike]) -> dict[str, str]:
    """Partner id -> the name before its parenthesis ("CMA (Chambre de métiers…)" -> "CMA")."""
    return {p.id: p.name.split(" (", 1)[0] for p in partners}


def queue_label(name: str, partner_names: Mapping[str, str], general_queue: str = "hotline") -> str:
    """A queue in words: ``rank-cma-mel`` -> "CMA → MEL" (the partners' tiers, best first),
    ``partner-cci`` -> "CCI (transferts)", the general queue -> "file générale"."""
    def named(partner: str) -> str:
        return partner_names.get(partner, partner)

    ranking = parse_queue(name)
    if ranking is not None:
        if not ranking.named:
            return "tous les partenaires"
        return " → ".join(" / ".join(named(p) for p in tier) for tier in ranking.named) + " → les autres"
    if name.startswith(PARTNER_QUEUE_PREFIX):
        return f"{named(name.removeprefix(PARTNER_QUEUE_PREFIX))} (transferts)"
    if name == general_queue:
        return "file générale"
    return name


def build(
    snapshot: LiveSnapshot,
    partners: Sequence[PartnerInfo],
    today: Mapping[str, TodayStats],
    now: float,
    *,
    today_overall: TodayStats | None = None,
    service_level_seconds: float = KpiSettings.service_level_seconds,
    thresholds: WallboardThresholds | None = None,
    answered_today_by_line: Mapping[str, int] | None = None,
    is_open: bool = True,
) -> Wallboard:
    """The wallboard of ``snapshot`` at ``now``. ``is_open``: the hotline takes calls now; outside
    its hours nobody is expected on a line, so "no line free" is no alarm then."""
    limits = thresholds or WallboardThresholds()
    taken_today = answered_today_by_line or {}
    names = short_names(partners)
    queues: list[QueueRow] = []
    idle = 0
    past_total = 0
    for name in sorted(snapshot.queues):
        view = snapshot.queues[name]
        stats_today = today.get(name)
        if name.startswith(RANK_QUEUE_PREFIX) and not view.callers and not (stats_today and stats_today.offered):
            idle += 1
            continue
        waits = [max(0, round(now - c.joined_at)) for c in view.callers]
        callers = tuple(
            WaitingCaller(c.position, c.caller_number, c.caller_name, wait)
            for c, wait in zip(view.callers[:MAX_CALLERS_SHOWN], waits, strict=False)
        )
        staffed = available = 0
        for member in view.members.values():
            line = snapshot.lines.get(member.line)
            if line is None or member.paused or line.status in ("logged_out", "unavailable", "paused"):
                continue
            staffed += 1
            available += line.status == "available"
        expected = snapshot.expected_wait(name)
        stats = today.get(name)
        # Strictly past T: at exactly T an answer now would still be within (cdr.kpi).
        past = sum(1 for c in view.callers if now - c.joined_at > service_level_seconds)
        past_total += past
        within = stats.answered_within_threshold if stats else 0
        offered = stats.offered if stats else 0
        queue_sl = service_level_of_counts(within, offered, past)
        longest_here = max(waits, default=0)
        queue_levels = figure_levels(limits, service_level=queue_sl, longest_wait=longest_here,
                                     callers_waiting=0, lines_free=limits.lines_free_warn)
        queues.append(QueueRow(
            name=name,
            label=queue_label(name, names),
            waiting=len(view.callers),
            longest_wait_seconds=longest_here,
            expected_wait_seconds=None if expected is None else round(expected),
            lines_available=available,
            lines_staffed=staffed,
            service_level_today=queue_sl,
            offered_today=offered,
            answered_today=stats.answered if stats else 0,
            abandoned_today=stats.abandoned if stats else 0,
            callers=callers,
            answered_within_threshold_today=within,
            waiting_past_threshold=past,
            callers_more=max(0, len(view.callers) - MAX_CALLERS_SHOWN),
            levels={name: queue_levels[name] for name in QUEUE_LEVEL_FIGURES},
        ))
    rows: list[PartnerRow] = []
    agents: list[AgentRow] = []
    listed: set[str] = set()
    for partner in partners:
        lines = []
        counts = dict.fromkeys(LINE_STATUSES, 0)
        for line_id in partner.lines:
            listed.add(line_id)
            state = snapshot.lines.get(line_id)
            if state is None:
                lines.append(LineRow(line_id, "logged_out", "", None, 0))
                counts["logged_out"] += 1
            else:
                counts[state.status] = counts.get(state.status, 0) + 1
                lines.append(LineRow(line_id, state.status, state.paused_reason, _since(state, now),
                                     state.calls_taken))
            row = lines[-1]
            agents.append(AgentRow(row.line, partner.name, row.status, row.seconds_in_status, row.calls_taken,
                                   row.paused_reason, taken_today.get(row.line, 0)))
        rows.append(PartnerRow(partner.id, partner.name, counts, tuple(lines)))
    guests = [line for line_id, line in sorted(snapshot.lines.items()) if line_id not in listed]
    if guests:  # dynamic members Asterisk lists but the hotline does not (a guest softphone)
        counts = dict.fromkeys(LINE_STATUSES, 0)
        for state in guests:
            counts[state.status] = counts.get(state.status, 0) + 1
        guest_rows = tuple(LineRow(s.line, s.status, s.paused_reason, _since(s, now), s.calls_taken) for s in guests)
        rows.append(PartnerRow("other", "Autres lignes", counts, guest_rows))
        agents.extend(AgentRow(r.line, "Autres lignes", r.status, r.seconds_in_status, r.calls_taken,
                               r.paused_reason, taken_today.get(r.line, 0)) for r in guest_rows)
    # Idle ranking queues have nobody waiting: the overall count is every caller of the snapshot.
    overall_within = today_overall.answered_within_threshold if today_overall else 0
    overall_offered = today_overall.offered if today_overall else 0
    waiting = sum(q.waiting for q in queues)
    longest = max((q.longest_wait_seconds for q in queues), default=0)
    service_level = service_level_of_counts(overall_within, overall_offered, past_total)
    # A line is counted once, however many queues it serves (partner rows list each line once).
    lines_free = sum(p.counts.get("available", 0) for p in rows)
    levels = figure_levels(limits, service_level=service_level, longest_wait=longest, callers_waiting=waiting,
                           lines_free=lines_free if is_open else limits.lines_free_warn)
    return Wallboard(
        version=snapshot.version,
        synced=snapshot.synced,
        as_of=now,
        waiting=waiting,
        longest_wait_seconds=longest,
        service_level_today=service_level,
        queues=tuple(queues),
        partners=tuple(rows),
        idle_queues=idle,
        answered_within_threshold_today=overall_within,
        offered_today=overall_offered,
        waiting_past_threshold=past_total,
        service_level_seconds=service_level_seconds,
        lines_free=lines_free,
        levels=levels,
        alarms=alarm_texts(limits, levels, service_level=service_level, longest_wait=longest,
                           callers_waiting=waiting, lines_free=lines_free),
        thresholds=limits.model_dump(),
        agents=tuple(agents),
        nodes=node_rows(snapshot),
    )
