"""Named KPI definitions over call records. Pure: rows in, numbers out, no I/O.

Every KPI is one function whose docstring's first line is its exact formula;
``DEFINITIONS`` collects those lines for the CLI, the CSV and the web.

How a call is classified (``CallFacts.outcome``, a ``cdr.vocabulary.Outcome``, as
``cdr.vocabulary.outcome_of`` derives it for the correlator and recovery):

==================== ========================================================
outcome              meaning
==================== ========================================================
answered             an advisor answered (``wait_seconds`` = time in queue)
abandoned_in_queue   the caller hung up while waiting in a queue
timeout              the queue's max wait expired without an answer
abandoned_in_ivr     hung up in the menu, never reached a queue
closed               called outside opening hours, told so, hung up
no_input, invalid    the menu's first step never got a valid answer
lost_by_pbx          Asterisk itself cut the call (stopped or restarted under it)
==================== ========================================================

Declared rules:

- **Prank / invalid call**: ``ivr_exit`` (or ``outcome``) in
  ``KpiSettings.prank_exits`` (default ``no_input``, ``invalid``). Such calls
  are excluded from every queue KPI (numerators and denominators of service
  level, ASA, AHT, abandonment). Today they never reach a queue, so the rule
  changes nothing until the IVR routes them; it is stated so it stays true.
- **Offered to a queue**: outcome in ``answered``, ``abandoned_in_queue``,
  ``timeout`` and not a prank. Calls lost in the IVR, closed-hours calls and
  pranks are counted in volumes but are not queue traffic; neither are calls
  Asterisk cut as it stopped (``lost_by_pbx``): an incident, counted apart in
  volumes, that no queue setting could have served.
- **Within the threshold**: ``wait_seconds <= T`` (a call answered after
  exactly 20 s is within a 20 s target), the same "<=" app_queue uses for
  its ``servicelevel`` statistic. ``wait_seconds`` is whole seconds.
- **Short abandon**: abandoned in queue with ``wait_seconds < S`` (strictly:
  an abandon after exactly 5 s is *not* short with S = 5).
- A missing ``wait_seconds`` counts as 0 s; a missing ``talk_seconds`` on an
  answered call falls back to ``billsec``; a missing ``wrapup_seconds`` counts
  as 0 (``reports`` fills it from the partner's configured wrap-up first).
- ``degraded`` (the IVR service was down, the dialplan routed alone) is a flag:
  degraded calls count in every KPI like any other call, and are counted apart.
- **Still waiting past the threshold**: a caller in a queue right now who has waited
  more than ``T`` (strictly: at exactly ``T`` an answer would still be within) has
  already missed the target, whatever happens next; the live service level
  (``service_level_live``) counts them in its denominator. A caller waiting ``<= T``
  is undecided and not counted; a call answered and still in progress has no record
  yet and is counted once its record is written. Over a past window nobody is
  waiting, so the live service level equals the inclusive one.
- **Logged-in time** (the occupancy's base, ``logged_in_seconds``): the seconds a
  line was a member of at least one queue and not paused in every queue it was a
  member of, from the queue_log rows ``ADDMEMBER`` / ``REMOVEMEMBER`` / ``PAUSE`` /
  ``UNPAUSE`` (agent = the line, ``log_membername_as_agent=yes``). The state at the
  window's start is each (line, queue)'s last row before it; a line still logged in
  at the end counts up to the window's end (or now, for today); a line without any
  row was never logged in (0). Paused time is not logged-in time (the simulator's
  staffed time leaves pauses out too). When queue_log holds no member row at all
  (a database the service never followed), logged-in time is not recorded: the
  reports then fall back to the window's open hours for every line and say so
  (``logged_source``).
- A ratio with an empty denominator is ``None`` ("no data"), never 0.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

import holidays

from cdr.vocabulary import PRANK_EXITS, IvrExit, Outcome
from cdr.vocabulary import QUEUE_OUTCOMES as QUEUE_OUTCOMES  # re-exported: the reports and the live view use it
from config.models import WEEKDAYS, OpeningHours

OUTCOMES: tuple[str, ...] = tuple(outcome.value for outcome in Outcome)  # Volume's columns, in order


@dataclass(frozen=True)
class KpiSettings:
    """The tunable parts of the definitions (thresholds in whole seconds)."""

    service_level_seconds: float = 20
    short_abandon_seconds: float = 5
    prank_exits: frozenset[str] = PRANK_EXITS

    def __post_init__(self) -> None:
        if self.service_level_seconds < 0:
            raise ValueError(f"service_level_seconds must be >= 0, got {self.service_level_seconds}")
        if self.short_abandon_seconds < 0:
            raise ValueError(f"short_abandon_seconds must be >= 0, got {self.short_abandon_seconds}")


@dataclass(frozen=True)
class CallFacts:
    """The subset of a ``cdr`` row the reports need; the simulator's calls take the same shape.

    Durations are seconds: whole on a real record (Asterisk's), exact on a simulated one."""

    linkedid: str
    start: dt.datetime
    outcome: str
    ivr_exit: str | None = None
    need: str | None = None
    sector: str | None = None
    size: str | None = None
    departement: str | None = None
    queue: str | None = None
    line: str | None = None
    partner: str | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    billsec: float = 0
    wrapup_seconds: float | None = None
    degraded: bool = False


# --- classification ------------------------------------------------------------
def is_prank(call: CallFacts, settings: KpiSettings) -> bool:
    return call.ivr_exit in settings.prank_exits or call.outcome in settings.prank_exits


def is_offered(call: CallFacts, settings: KpiSettings) -> bool:
    return call.outcome in QUEUE_OUTCOMES and not is_prank(call, settings)


def is_answered(call: CallFacts, settings: KpiSettings) -> bool:
    return call.outcome == Outcome.ANSWERED and not is_prank(call, settings)


def is_abandoned(call: CallFacts, settings: KpiSettings) -> bool:
    return call.outcome == Outcome.ABANDONED_IN_QUEUE and not is_prank(call, settings)


def is_short_abandon(call: CallFacts, settings: KpiSettings) -> bool:
    return is_abandoned(call, settings) and wait(call) < settings.short_abandon_seconds


def is_within_threshold(call: CallFacts, settings: KpiSettings) -> bool:
    return is_answered(call, settings) and wait(call) <= settings.service_level_seconds


def wait(call: CallFacts) -> float:
    return call.wait_seconds or 0


def talk(call: CallFacts) -> float:
    return call.talk_seconds if call.talk_seconds is not None else call.billsec


def work(call: CallFacts) -> float:
    """Seconds of advisor work for one call: talk + wrap-up (0 when not answered)."""
    if call.outcome != Outcome.ANSWERED:
        return 0
    return talk(call) + (call.wrapup_seconds or 0)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _count(calls: Iterable[CallFacts], keep: Callable[[CallFacts], bool]) -> int:
    return sum(1 for c in calls if keep(c))


# --- the KPIs -------------------------------------------------------------------
def service_level_answered(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """Service level (answered): answered with wait <= T / answered."""
    return _ratio(
        _count(calls, lambda c: is_within_threshold(c, settings)),
        _count(calls, lambda c: is_answered(c, settings)),
    )


def service_level_inclusive(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """Service level (inclusive): answered with wait <= T / offered (answered + abandoned in queue + timeout)."""
    return _ratio(
        _count(calls, lambda c: is_within_threshold(c, settings)),
        _count(calls, lambda c: is_offered(c, settings)),
    )


def service_level_live(
    calls: Sequence[CallFacts], settings: KpiSettings, waiting: Iterable[float] = (),
) -> float | None:
    """Service level: answered with wait <= T / (offered + callers still waiting with wait > T).

    ``waiting``: how long each caller in a queue right now has waited (seconds); empty
    over a past window, where this equals ``service_level_inclusive``. The one service
    level the wallboard, the reports, ``aiguilleur report`` and ``/metrics`` show."""
    return service_level_of_counts(
        _count(calls, lambda c: is_within_threshold(c, settings)),
        _count(calls, lambda c: is_offered(c, settings)),
        waiting_past_threshold(waiting, settings),
    )


def waiting_past_threshold(waiting: Iterable[float], settings: KpiSettings) -> int:
    """Callers waiting past the threshold: callers in a queue now with wait > T."""
    return sum(1 for seconds in waiting if seconds > settings.service_level_seconds)


def service_level_of_counts(within: int, offered: int, waiting_past: int) -> float | None:
    """``service_level_live`` from its counts (the wallboard keeps counts, not calls)."""
    return _ratio(within, offered + waiting_past)


def average_speed_of_answer(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """ASA: sum of wait of answered calls / answered (seconds)."""
    answered = [c for c in calls if is_answered(c, settings)]
    return _ratio(sum(wait(c) for c in answered), len(answered))


def average_handle_time(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """AHT: sum of (talk + wrap-up) of answered calls / answered (seconds)."""
    answered = [c for c in calls if is_answered(c, settings)]
    return _ratio(sum(work(c) for c in answered), len(answered))


def abandonment_rate(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """Abandonment rate: abandoned in queue / offered (answered + abandoned in queue + timeout)."""
    return _ratio(
        _count(calls, lambda c: is_abandoned(c, settings)),
        _count(calls, lambda c: is_offered(c, settings)),
    )


def abandonment_rate_excluding_short(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """Abandonment rate without short abandons: (abandoned - short) / (offered - short), short = wait < S."""
    short = _count(calls, lambda c: is_short_abandon(c, settings))
    return _ratio(
        _count(calls, lambda c: is_abandoned(c, settings)) - short,
        _count(calls, lambda c: is_offered(c, settings)) - short,
    )


def prank_share(calls: Sequence[CallFacts], settings: KpiSettings) -> float | None:
    """Prank/invalid share: calls with ivr_exit in (no_input, invalid) / all calls."""
    return _ratio(_count(calls, lambda c: is_prank(c, settings)), len(calls))


def occupancy(work_seconds: float, logged_seconds: float) -> float | None:
    """Occupancy: (talk + wrap-up of answered calls) / logged-in time (in a queue and not paused, from queue_log).

    See "Logged-in time" at the top of this module (``logged_in_seconds``)."""
    return _ratio(work_seconds, logged_seconds)


MEMBER_EVENTS: tuple[str, ...] = ("ADDMEMBER", "REMOVEMEMBER", "PAUSE", "UNPAUSE")


@dataclass(frozen=True)
class MemberEvent:
    """One queue_log member row: ``agent`` (the line) joined, left, paused or unpaused ``queue``."""

    time: dt.datetime
    agent: str
    queue: str
    event: str  # one of MEMBER_EVENTS
    reason: str = ""  # a PAUSE row's reason (queue_log data1)


def _stretches(
    events: Iterable[MemberEvent], start: dt.datetime, end: dt.datetime, holds: Callable[[Mapping[str, bool]], bool]
) -> Iterator[tuple[str, dt.datetime, dt.datetime, str]]:
    """Each stretch of [start, end) during which ``holds`` (of a line's queues: queue -> paused) was
    true, as (line, began, ended, the line's latest pause reason when it began).

    ``events``: every member row before ``end`` that matters (at least each (line, queue)'s last
    row before ``start``, then every row in the window); rows before ``start`` set the state at
    ``start``. A pause of a queue the line is not in changes nothing."""
    member: dict[str, dict[str, bool]] = {}  # line -> queue -> paused
    reason: dict[str, str] = {}  # line -> its latest pause's reason
    since: dict[str, tuple[dt.datetime, str]] = {}  # line -> start and reason of its current stretch
    for ev in sorted(events, key=lambda x: x.time):
        if ev.time >= end or ev.event not in MEMBER_EVENTS:
            continue
        at = max(ev.time, start)
        queues = member.setdefault(ev.agent, {})
        was = holds(queues)
        if ev.event == "ADDMEMBER":
            queues[ev.queue] = False
        elif ev.event == "REMOVEMEMBER":
            queues.pop(ev.queue, None)
        elif ev.queue in queues:
            queues[ev.queue] = ev.event == "PAUSE"
            if ev.event == "PAUSE":
                reason[ev.agent] = ev.reason
        now = holds(queues)
        if now and not was:
            since[ev.agent] = (at, reason.get(ev.agent, ""))
        elif was and not now:
            began, why = since.pop(ev.agent)
            yield ev.agent, began, at, why
    for line, (began, why) in since.items():
        yield line, began, end, why


def _logged_in(queues: Mapping[str, bool]) -> bool:
    return any(not paused for paused in queues.values())


def _paused_everywhere(queues: Mapping[str, bool]) -> bool:
    return bool(queues) and all(queues.values())


def logged_in_seconds(events: Iterable[MemberEvent], start: dt.datetime, end: dt.datetime) -> dict[str, float]:
    """Logged-in time: seconds in [start, end) a line was in a queue and not paused in every queue it was in.

    ``events`` as ``_stretches`` takes them. Every line with a row is in the result (0 when never in)."""
    rows = list(events)
    total = {ev.agent: 0.0 for ev in rows if ev.time < end and ev.event in MEMBER_EVENTS}
    for line, began, ended, _ in _stretches(rows, start, end, _logged_in):
        total[line] += (ended - began).total_seconds()
    return total


def pause_seconds_by_reason(events: Iterable[MemberEvent], start: dt.datetime, end: dt.datetime) -> dict[str, float]:
    """Paused time per reason: seconds in [start, end) a line was in a queue and paused in every
    queue it was in (the complement of ``logged_in_seconds``), under its latest pause's reason,
    summed over the lines. A pause without a reason counts under ``""``. ``events`` as there."""
    total: dict[str, float] = {}
    for _, began, ended, why in _stretches(events, start, end, _paused_everywhere):
        total[why] = total.get(why, 0.0) + (ended - began).total_seconds()
    return total


# --- callbacks and follow-ups (outbound calls) ------------------------------------
# Outbound call records (``direction = 'outbound'``: a callback or follow-up try) are never
# part of the inbound KPIs above (``cdr.reports`` fetches inbound rows only); these KPIs are
# over the ``callbacks`` rows (one per promised callback or follow-up) and the first try of each.
FOLLOWUP_OUTCOME_CODES = ("reached", "satisfied", "needs_more_help", "wrong_number", "refused")


@dataclass(frozen=True)
class CallbackFacts:
    """One row of ``callbacks`` as the reports need it."""

    id: str
    kind: str  # callback | followup
    reason: str | None  # closed | long_wait | nobody_logged_in | followup | followup_needs_more_help
    status: str  # pending | dialling | connected | done | no_answer | failed | cancelled
    due_at: dt.datetime | None  # when it first became due (the opening, the follow-up day)
    first_try: dt.datetime | None = None  # start of its first outbound try's record
    partner: str | None = None
    followup_outcome: str | None = None


def placed_within_opening(callbacks: Sequence[CallbackFacts], minutes: int) -> float | None:
    """Placed within N min of opening: closed-hours callbacks first tried <= N min after due / closed-hours ones.

    Due: the opening after the request; cancelled callbacks are left out of both counts."""
    closed = [c for c in callbacks if c.kind == "callback" and c.reason == "closed" and c.due_at is not None
              and c.status != "cancelled"]
    limit = dt.timedelta(minutes=minutes)
    return _ratio(sum(1 for c in closed if c.first_try is not None and c.due_at is not None
                      and c.first_try - c.due_at <= limit), len(closed))


def callback_connect_rate(callbacks: Sequence[CallbackFacts]) -> float | None:
    """Callback connect rate: callbacks whose caller answered (done) / callbacks ended (done + failed)."""
    ended = [c for c in callbacks if c.kind == "callback" and c.status in ("done", "failed")]
    return _ratio(sum(1 for c in ended if c.status == "done"), len(ended))


def followup_reach_rate(callbacks: Sequence[CallbackFacts]) -> float | None:
    """Follow-up reach rate: follow-ups whose caller answered (done) / follow-ups ended (done + failed)."""
    ended = [c for c in callbacks if c.kind == "followup" and c.status in ("done", "failed")]
    return _ratio(sum(1 for c in ended if c.status == "done"), len(ended))


def followup_outcomes(callbacks: Sequence[CallbackFacts]) -> dict[str, int]:
    """Follow-up outcomes: done follow-ups per outcome code recorded (share = count / done follow-ups).

    ``none``: the advisor has not recorded one yet."""
    counts = dict.fromkeys((*FOLLOWUP_OUTCOME_CODES, "none"), 0)
    for c in callbacks:
        if c.kind == "followup" and c.status == "done":
            key = c.followup_outcome if c.followup_outcome in FOLLOWUP_OUTCOME_CODES else "none"
            counts[key or "none"] += 1
    return counts


@dataclass(frozen=True)
class CallbackKpis:
    """Callbacks and follow-ups due in a window (``CallbackFacts.due_at``)."""

    within_minutes: int
    callbacks: int
    callbacks_done: int
    callbacks_failed: int
    callbacks_cancelled: int
    placed_within_opening: float | None
    callback_connect_rate: float | None
    followups: int
    followups_done: int
    followups_failed: int
    followup_reach_rate: float | None
    followup_outcomes: dict[str, int]


def compute_callback_kpis(callbacks: Sequence[CallbackFacts], within_minutes: int = 30) -> CallbackKpis:
    def count(kind: str, status: str) -> int:
        return sum(1 for c in callbacks if c.kind == kind and c.status == status)

    return CallbackKpis(
        within_minutes=within_minutes,
        callbacks=sum(1 for c in callbacks if c.kind == "callback"),
        callbacks_done=count("callback", "done"), callbacks_failed=count("callback", "failed"),
        callbacks_cancelled=count("callback", "cancelled"),
        placed_within_opening=placed_within_opening(callbacks, within_minutes),
        callback_connect_rate=callback_connect_rate(callbacks),
        followups=sum(1 for c in callbacks if c.kind == "followup"),
        followups_done=count("followup", "done"), followups_failed=count("followup", "failed"),
        followup_reach_rate=followup_reach_rate(callbacks),
        followup_outcomes=followup_outcomes(callbacks),
    )


# --- appointments booked from the advisor page ---------------------------------------
@dataclass(frozen=True)
class AppointmentFacts:
    """One row of ``appointments`` as the reports need it."""

    partner: str
    office: str
    booked_at: dt.datetime


def appointments_booked(
    appointments: Iterable[AppointmentFacts], key: Callable[[AppointmentFacts], str], listed: Iterable[str] = (),
) -> dict[str, int]:
    """Appointments booked: appointments whose booking time (booked_at) is in the window, per partner / per office.

    Counted when booked, not when held (a booking on Monday for a slot on Friday counts on
    Monday). ``listed`` keys come first, with 0 when nothing was booked; any other key seen
    (an office since removed from the config) follows, sorted."""
    counts = dict.fromkeys(listed, 0)
    extra: Counter[str] = Counter()
    for appointment in appointments:
        value = key(appointment)
        if value in counts:
            counts[value] += 1
        else:
            extra[value] += 1
    return counts | {value: extra[value] for value in sorted(extra)}


@dataclass(frozen=True)
class AppointmentKpis:
    """Appointments booked in a window (``AppointmentFacts.booked_at``)."""

    booked: int
    by_partner: dict[str, int]
    by_office: dict[str, int]
    office_partner: dict[str, str]  # the partner of each office in ``by_office``


def compute_appointment_kpis(
    appointments: Sequence[AppointmentFacts], offices: Mapping[str, str] | None = None,
    partners: Sequence[str] = (),
) -> AppointmentKpis:
    """``offices``: office id -> partner id of the configured offices (listed even with none booked),
    in config order; ``partners``: the configured partner ids, in order."""
    offices = dict(offices or {})
    office_partner = offices | {a.office: a.partner for a in appointments if a.office not in offices}
    return AppointmentKpis(
        booked=len(appointments),
        by_partner=appointments_booked(appointments, lambda a: a.partner, partners),
        by_office=appointments_booked(appointments, lambda a: a.office, offices),
        office_partner=office_partner,
    )


def _first_line(function: Callable[..., object]) -> str:
    return (function.__doc__ or "").strip().splitlines()[0]


DEFINITIONS: dict[str, str] = {
    "service_level_answered": _first_line(service_level_answered),
    "service_level_inclusive": _first_line(service_level_inclusive),
    "service_level": _first_line(service_level_live),
    "waiting_past_threshold": _first_line(waiting_past_threshold),
    "asa_seconds": _first_line(average_speed_of_answer),
    "aht_seconds": _first_line(average_handle_time),
    "abandonment_rate": _first_line(abandonment_rate),
    "abandonment_rate_excluding_short": _first_line(abandonment_rate_excluding_short),
    "prank_share": _first_line(prank_share),
    "occupancy": _first_line(occupancy),
    "logged_seconds": _first_line(logged_in_seconds),
    "callbacks_placed_within_opening": _first_line(placed_within_opening),
    "callback_connect_rate": _first_line(callback_connect_rate),
    "followup_reach_rate": _first_line(followup_reach_rate),
    "followup_outcomes": _first_line(followup_outcomes),
    "appointments_booked": _first_line(appointments_booked),
    # Counts and live figures: no formula of their own, stated here so every page says the same.
    "calls": "Calls: inbound calls that started in the window (every outcome, pranks included)",
    "offered": "Offered: calls that joined a queue (answered + abandoned in queue + timeout), pranks excluded",
    "answered": "Answered: calls an advisor answered, pranks excluded",
    "answered_within_threshold": "Answered within the threshold: answered calls with wait <= T",
    "callers_waiting": "Callers waiting: callers in a queue now",
    "longest_wait": "Longest wait: wait of the caller waiting longest now (seconds)",
    "expected_wait": "Expected wait: (callers ahead - lines free) x mean handle time / lines staffed, "
                     "for a new caller (seconds)",
    "lines_available": "Lines free: available lines / lines logged in and not paused in the queue",
    "abandoned_in_queue": "Abandoned in queue: the caller hung up while waiting in a queue",
    "abandoned_in_ivr": "Abandoned in the menu: hung up in the menu, never reached a queue",
    "closed": "Closed: called outside opening hours, told so, hung up",
    "prank": "Pranks / invalid: the menu's first step never got a valid answer (no_input + invalid)",
    "lost_by_pbx": "Cut by the server: Asterisk itself cut the call (stopped or restarted under it)",
}

# The same definitions for the French pages (the wallboard, the reports): shown on hover.
DEFINITIONS_FR: dict[str, str] = {
    "service_level_answered": "NS des répondus : répondus en T s ou moins / répondus",
    "service_level_inclusive": "NS (appels terminés) : répondus en T s ou moins / présentés "
                               "(répondus + abandons en file + attente max dépassée)",
    "service_level": "Niveau de service : répondus en T s ou moins / (présentés + appelants "
                     "encore en attente depuis plus de T s)",
    "waiting_past_threshold": "En attente au-delà du seuil : appelants en file depuis plus de T s",
    "asa_seconds": "ASA : somme des attentes des appels répondus / répondus (secondes)",
    "aht_seconds": "DMT : somme (conversation + post-appel) des appels répondus / répondus (secondes)",
    "abandonment_rate": "Taux d'abandon : abandons en file / présentés",
    "abandonment_rate_excluding_short": "Taux d'abandon hors abandons courts : (abandons - courts) / "
                                        "(présentés - courts), court = attente < S s",
    "prank_share": "Part d'erreurs/blagues : appels sans saisie ou saisie invalide / tous les appels",
    "occupancy": "Occupation : (conversation + post-appel des appels répondus) / temps connecté "
                 "(ligne dans une file et pas en pause, d'après le queue_log)",
    "logged_seconds": "Temps connecté : secondes où la ligne était dans au moins une file sans être en pause "
                      "dans toutes",
    "callbacks_placed_within_opening": "Rappelés à temps : rappels « fermé » tentés au plus N min après "
                                       "l'ouverture / rappels « fermé » dus",
    "callback_connect_rate": "Taux de joignabilité des rappels : rappels aboutis / rappels terminés "
                             "(aboutis + échecs)",
    "followup_reach_rate": "Taux de joignabilité des suivis : suivis aboutis / suivis terminés (aboutis + échecs)",
    "followup_outcomes": "Issue des suivis : suivis aboutis par issue saisie",
    "appointments_booked": "Rendez-vous pris : rendez-vous réservés pendant la période (jour de la réservation)",
    "calls": "Appels : appels entrants commencés pendant la période (toutes issues)",
    "offered": "Présentés : appels entrés en file (répondus + abandons en file + attente max dépassée), "
               "hors erreurs/blagues",
    "answered": "Répondus : appels décrochés par un conseiller",
    "answered_within_threshold": "Répondus dans le seuil : appels répondus après T s d'attente ou moins",
    "callers_waiting": "En attente : appelants en file en ce moment",
    "longest_wait": "Attente max : attente de l'appelant qui attend depuis le plus longtemps",
    "expected_wait": "Attente prévue : (appelants devant - lignes libres) x durée moyenne de traitement / "
                     "lignes connectées, pour un nouvel appelant",
    "lines_available": "Lignes libres : lignes disponibles / lignes connectées et pas en pause dans la file",
    "abandoned_in_queue": "Abandons en file : l'appelant a raccroché en attendant dans une file",
    "abandoned_in_ivr": "Abandons au menu : raccroché dans le menu, avant toute file",
    "closed": "Fermé : appel hors des heures d'ouverture, annonce puis raccroché",
    "prank": "Erreurs/blagues : aucune réponse valide à la première question du menu (sans saisie + invalide)",
    "lost_by_pbx": "Coupés par le serveur : Asterisk a coupé l'appel lui-même (arrêt ou redémarrage)",
}


def definition_fr(name: str, settings: KpiSettings | None = None) -> str:
    """``DEFINITIONS_FR[name]`` with T and S spelled out (``T = 20 s``) when ``settings`` is given."""
    text = DEFINITIONS_FR[name]
    if settings is not None and (" T " in text or " T s" in text):
        text += f" (T = {settings.service_level_seconds:g} s)"
    if settings is not None and " S s" in text:
        text += f" (S = {settings.short_abandon_seconds:g} s)"
    return text


# --- one scope's numbers -------------------------------------------------------
@dataclass(frozen=True)
class Kpis:
    """Counts and KPIs for one scope (overall, a partner, a queue).

    ``None`` means "not defined for this scope or no data" (see ``answered_side_only``).
    """

    calls: int
    offered: int | None
    answered: int
    answered_within_threshold: int
    abandoned: int | None
    short_abandons: int | None
    timeouts: int | None
    pranks: int | None
    degraded: int
    service_level_answered: float | None
    service_level_inclusive: float | None
    waiting_past_threshold: int | None  # callers in a queue now past T (0 over a past window)
    service_level: float | None  # service_level_live: the one shown as "NS" / "SL"
    asa_seconds: float | None
    aht_seconds: float | None
    abandonment_rate: float | None
    abandonment_rate_excluding_short: float | None
    prank_share: float | None
    work_seconds: float  # whole seconds from real records
    logged_seconds: int | None
    occupancy: float | None


def compute_kpis(
    calls: Sequence[CallFacts], settings: KpiSettings, *, logged_seconds: int | None = None,
    waiting: Iterable[float] = (),
) -> Kpis:
    """Every KPI over ``calls``; occupancy only when ``logged_seconds`` is given.

    ``waiting``: the waits of the callers in a queue now (for a window that includes now)."""
    waits = list(waiting)
    work_seconds = sum(work(c) for c in calls if is_answered(c, settings))
    return Kpis(
        calls=len(calls),
        offered=_count(calls, lambda c: is_offered(c, settings)),
        answered=_count(calls, lambda c: is_answered(c, settings)),
        answered_within_threshold=_count(calls, lambda c: is_within_threshold(c, settings)),
        abandoned=_count(calls, lambda c: is_abandoned(c, settings)),
        short_abandons=_count(calls, lambda c: is_short_abandon(c, settings)),
        timeouts=_count(calls, lambda c: c.outcome == Outcome.TIMEOUT and not is_prank(c, settings)),
        pranks=_count(calls, lambda c: is_prank(c, settings)),
        degraded=_count(calls, lambda c: c.degraded),
        service_level_answered=service_level_answered(calls, settings),
        service_level_inclusive=service_level_inclusive(calls, settings),
        waiting_past_threshold=waiting_past_threshold(waits, settings),
        service_level=service_level_live(calls, settings, waits),
        asa_seconds=average_speed_of_answer(calls, settings),
        aht_seconds=average_handle_time(calls, settings),
        abandonment_rate=abandonment_rate(calls, settings),
        abandonment_rate_excluding_short=abandonment_rate_excluding_short(calls, settings),
        prank_share=prank_share(calls, settings),
        work_seconds=work_seconds,
        logged_seconds=logged_seconds,
        occupancy=occupancy(work_seconds, logged_seconds) if logged_seconds is not None else None,
    )


def answered_side_only(kpis: Kpis) -> Kpis:
    """A partner's KPIs: only a call an advisor answered has a partner, so the
    unanswered side (offered, abandons, timeouts, pranks, inclusive and live service
    level, callers waiting, abandonment, prank share) is undefined per partner and set
    to ``None``. Those numbers exist overall and per queue."""
    return replace(
        kpis, offered=None, abandoned=None, short_abandons=None, timeouts=None, pranks=None,
        service_level_inclusive=None, service_level=None, waiting_past_threshold=None, abandonment_rate=None,
        abandonment_rate_excluding_short=None,
        prank_share=None,
    )


# --- volumes --------------------------------------------------------------------
@dataclass(frozen=True)
class Volume:
    """Calls of a group by outcome; the outcome columns add up to ``calls``."""

    calls: int = 0
    answered: int = 0
    abandoned_in_queue: int = 0
    timeout: int = 0
    abandoned_in_ivr: int = 0
    closed: int = 0
    no_input: int = 0
    invalid: int = 0
    lost_by_pbx: int = 0
    other: int = 0  # an outcome this module does not know (a newer correlator)
    degraded: int = 0  # a flag, not an outcome: not part of the sum


def volume(calls: Iterable[CallFacts]) -> Volume:
    counts: Counter[str] = Counter()
    degraded = total = 0
    for call in calls:
        total += 1
        counts[call.outcome if call.outcome in OUTCOMES else "other"] += 1
        degraded += call.degraded
    return Volume(calls=total, degraded=degraded, other=counts["other"],
                  **{outcome: counts[outcome] for outcome in OUTCOMES})


NONE_KEY = "(none)"


def menu_path(call: CallFacts, steps: Sequence[str]) -> str:
    """Where a call left the menu (``steps``: the menu's step ids, in order), for the reports' IVR path.

    ``closed``; ``no_valid_answer`` (the first question never got one: silent or wrong keys);
    ``hung_up_at_<step>`` (hung up in the menu, at the first question not answered);
    ``advisor_at_<step>`` (pressed the advisor digit there); ``completed`` (every question);
    ``same_partner`` (a recent caller took the offer); ``degraded`` (the service was down).
    """
    if call.outcome == Outcome.CLOSED or call.ivr_exit == IvrExit.CLOSED:
        return "closed"
    if call.ivr_exit in PRANK_EXITS or call.outcome in PRANK_EXITS:
        return "no_valid_answer"
    answers = {"need": call.need, "sector": call.sector, "size": call.size, "departement": call.departement}
    at = next((step for step in steps if not answers.get(step)), None)
    if call.outcome == Outcome.ABANDONED_IN_IVR or call.ivr_exit == IvrExit.HANGUP:
        return f"hung_up_at_{at}" if at else "hung_up_after_menu"
    if call.ivr_exit == IvrExit.ADVISOR:
        return f"advisor_at_{at}" if at else "advisor_after_menu"
    return str(call.ivr_exit or "unknown")


def group_by(calls: Iterable[CallFacts], key: Callable[[CallFacts], str | None]) -> dict[str, list[CallFacts]]:
    """Calls grouped by ``key`` (``None`` becomes ``NONE_KEY``), keys in first-seen order."""
    groups: dict[str, list[CallFacts]] = {}
    for call in calls:
        value = key(call)
        groups.setdefault(NONE_KEY if value is None or value == "" else value, []).append(call)
    return groups


def with_wrapup(calls: Iterable[CallFacts], partner_wrapup: Mapping[str, int]) -> list[CallFacts]:
    """Fill a missing ``wrapup_seconds`` from the answering partner's configured wrap-up.

    A recorded value (the ``wrapup_seconds`` column, when the schema has it) wins;
    an answered call of an unknown partner keeps ``None`` (counted as 0)."""
    return [
        replace(c, wrapup_seconds=partner_wrapup.get(c.partner or ""))
        if c.wrapup_seconds is None and c.outcome == Outcome.ANSWERED else c
        for c in calls
    ]


# --- open hours (the default logged-in time) -------------------------------------
def open_seconds(hours: OpeningHours, first: dt.date, last: dt.date) -> int:
    """Seconds the hotline is open from ``first`` to ``last`` (both included, local days).

    Weekly ranges, minus French public holidays (when enabled) and exceptional
    closures. Measured on aware datetimes, so a DST change inside a range counts true."""
    tz = ZoneInfo(hours.timezone)
    public = (
        holidays.country_holidays(hours.holidays.country, years=range(first.year, last.year + 1))
        if hours.holidays.enabled else {}
    )
    closures = [
        (c.start if c.start.tzinfo else c.start.replace(tzinfo=tz), c.end if c.end.tzinfo else c.end.replace(tzinfo=tz))
        for c in hours.closures
    ]
    total = 0.0
    day = first
    while day <= last:
        if day not in public:
            for time_range in hours.week.get(WEEKDAYS[day.weekday()], []):
                # In UTC: subtracting two datetimes that share a tzinfo ignores a DST change.
                start = dt.datetime.combine(day, time_range.open, tzinfo=tz).astimezone(dt.UTC)
                end = dt.datetime.combine(day, time_range.close, tzinfo=tz).astimezone(dt.UTC)
                total += (end - start).total_seconds() - _closed_within(start, end, closures)
        day += dt.timedelta(days=1)
    return round(total)


def _closed_within(
    start: dt.datetime, end: dt.datetime, closures: Sequence[tuple[dt.datetime, dt.datetime]]
) -> float:
    """Seconds of [start, end) covered by closures, overlapping closures counted once."""
    clipped = sorted((max(start, c_start), min(end, c_end)) for c_start, c_end in closures)
    covered = 0.0
    reach = start
    for c_start, c_end in clipped:
        c_start = max(c_start, reach)
        if c_end > c_start:
            covered += (c_end - c_start).total_seconds()
            reach = c_end
    return covered
