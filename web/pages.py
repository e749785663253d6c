"""HTML pages. Pure: view models in, text out.

The markup is in ``web/templates/`` (Jinja, ``web.templating``): every value printed there is
escaped by the environment (autoescape on), caller names and numbers, memo text, user names and
config labels alike; this module only picks the template and hands it the data. Data handed to
the page's JavaScript is JSON inside ``<script type="application/json">`` (``tojson``: ``<``,
``>``, ``&`` and ``'`` escaped), so no value can close the element. Scripts are files under
``/static`` (the Content-Security-Policy allows no inline script); nothing is fetched from
elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from cdr.kpi import AppointmentKpis, CallbackKpis, Kpis, KpiSettings, Volume, definition_fr
from config.models import WEEKDAYS, Hotline
from web import templating
from web.screen import OUTCOME_LABELS, MemoSection, ScreenPop
from web.templating import render
from web.wallboard import LINE_STATUSES, Wallboard

STATUS_LABELS: Final = {
    "available": "Disponible", "ringing": "Sonne", "busy": "En ligne", "wrapup": "Post-appel",
    "paused": "En pause", "logged_out": "Déconnecté", "unavailable": "Injoignable",
}
PAUSE_REASONS: Final = ("pause", "repas", "formation", "reunion", "rappel")
QUESTION_LABELS: Final = {"need": "Besoin", "sector": "Secteur", "size": "Taille", "departement": "Département"}


def json_script(element_id: str, payload: object) -> str:
    """``payload`` as JSON in a ``<script type="application/json">`` no value can close."""
    macro = templating.ENV.get_template("macros.html").module.json_script  # type: ignore[attr-defined]
    return str(macro(element_id, payload))


@dataclass(frozen=True, slots=True)
class PageUser:
    name: str
    role: str
    line: str | None


ROLE_NAMES: Final = {"advisor": "conseiller", "supervisor": "superviseur", "admin": "administrateur"}


def _nav_links(user: PageUser) -> list[tuple[str, str]]:
    links = [("/advisor", "Mon poste")]
    if user.role in ("supervisor", "admin"):
        links = [("/wallboard", "Tableau mural"), ("/advisor", "Postes"), ("/reports", "Rapports"),
                 ("/rappels", "Rappels"), ("/appels", "Appels")]
    if user.role == "admin":
        links += [("/rules", "Règles"), ("/memo", "Mémo"), ("/connexions", "Connexions"),
                  ("/utilisateurs", "Utilisateurs")]
    return links


def frame(
    title: str, *, user: PageUser | None = None, csrf: str | None = None, scripts: Iterable[str] = (),
    page_class: str = "",
) -> dict[str, Any]:
    """What ``layout.html`` (every page's head, title and navigation) reads from a page's context."""
    return {
        "title": title, "user": user, "csrf": csrf, "scripts": list(scripts), "page_class": page_class,
        "nav_links": _nav_links(user) if user else [],
        "role_name": ROLE_NAMES.get(user.role, user.role) if user else "",
    }


def login_page(error: str | None = None, next_url: str = "/") -> str:
    return render("login.html", **frame("Connexion"), error=error, next_url=next_url)


def error_page(status: int, message: str, user: PageUser | None = None, csrf: str | None = None) -> str:
    return render("error.html", **frame(f"Erreur {status}", user=user, csrf=csrf), message=message)


# --- wallboard --------------------------------------------------------------------------------
def clock(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(max(0, seconds), 60)
    return f"{minutes}:{secs:02d}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{round(value * 100)} %"


templating.ENV.filters.update(clock=clock, percent=percent)


def sl_counts(within: int, offered: int, waiting_past: int, seconds: float) -> str:
    """The service level's own numerator and denominator, labelled (``cdr.kpi.service_level_live``).

    ``wallboard.js`` (``slCounts``) writes the same text; empty when there is nothing to count
    (the level reads "—", no data)."""
    limit = f"{seconds:g} s"
    if not offered and not waiting_past:
        return ""
    if not waiting_past:
        return f"{within} répondus ≤ {limit} / {offered} présentés"
    return f"{within} répondus ≤ {limit} / ({offered} présentés + {waiting_past} en attente > {limit})"


# The wallboard's figures, each with its definition (cdr.kpi.DEFINITIONS_FR) on hover.
WALLBOARD_FIGURES: Final = ("callers_waiting", "longest_wait", "expected_wait", "lines_available", "service_level")


def wallboard_definitions(seconds: float) -> dict[str, str]:
    settings = KpiSettings(service_level_seconds=seconds)
    return {name: definition_fr(name, settings) for name in WALLBOARD_FIGURES}


def _wallboard_context(board: Wallboard) -> dict[str, Any]:
    return {"board": board, "hint": wallboard_definitions(board.service_level_seconds),
            "status_labels": STATUS_LABELS, "sl_counts": sl_counts}


def wallboard_body(board: Wallboard) -> str:
    """Figures, queues, partners and the agent grid (``wallboard.js`` rewrites the same elements live)."""
    return render("wallboard_body.html", **_wallboard_context(board))


def agent_grid(board: Wallboard) -> str:
    """Every line: partner, state, time in it, calls taken, pause reason; ``wallboard.js`` adds the actions.

    The actions (pause, log out, listen) need the page's script: without it the grid is read-only."""
    return render("agent_grid.html", board=board, status_labels=STATUS_LABELS)


def wallboard_page(board: Wallboard, hotline_name: str, user: PageUser, csrf: str) -> str:
    return render("wallboard.html", **frame(f"Tableau mural — {hotline_name}", user=user, csrf=csrf,
                                            scripts=["common.js", "wallboard.js"], page_class="wall"),
                  **_wallboard_context(board))


# --- advisor -------------------------------------------------------------------------------
CALL_STATE_TITLES: Final = {"ringing": "Appel entrant", "connected": "En communication",
                             "wrapup": "Post-appel — appel terminé"}


def _screen_context(pop: ScreenPop) -> dict[str, Any]:
    return {"pop": pop, "status_labels": STATUS_LABELS, "outcome_labels": OUTCOME_LABELS,
            "call_state_titles": CALL_STATE_TITLES}


def screen_body(pop: ScreenPop) -> str:
    """The line's state, then the caller, their answers, earlier calls and the memo (``advisor.js`` redraws it)."""
    return render("screen.html", **_screen_context(pop))


def transfer_section(line: str, partners: Sequence[tuple[str, str]], connected: bool) -> str:
    """One "Transférer vers <partenaire>" button per partner; usable while a caller is connected."""
    return render("transfer.html", line=line, partners=partners, connected=connected)


def advisor_page(pop: ScreenPop | None, line: str | None, lines: Sequence[str], user: PageUser, csrf: str,
                 partners: Sequence[tuple[str, str]] = ()) -> str:
    if line is None or pop is None:
        return render("advisor.html", **frame("Poste conseiller", user=user, csrf=csrf), pop=None, line=line,
                      lines=lines)
    return render("advisor.html", **frame(f"Poste {line}", user=user, csrf=csrf,
                                          scripts=["common.js", "advisor.js", "appointments.js"]),
                  **_screen_context(pop), line=line, lines=lines, partners=partners,
                  connected=pop.call_state == "connected", pause_reasons=PAUSE_REASONS)


class ReportView(Protocol):
    """What the page reads of ``cdr.reports.Report`` (that module does I/O; this one does not)."""

    @property
    def first(self) -> dt.date: ...
    @property
    def last(self) -> dt.date: ...
    @property
    def settings(self) -> KpiSettings: ...
    @property
    def by_day(self) -> Mapping[str, Volume]: ...
    @property
    def overall(self) -> Kpis: ...
    @property
    def by_partner(self) -> Mapping[str, Kpis]: ...
    @property
    def by_queue(self) -> Mapping[str, Kpis]: ...
    @property
    def callbacks(self) -> CallbackKpis: ...
    @property
    def appointments(self) -> AppointmentKpis: ...
    @property
    def breakdowns(self) -> Mapping[str, Mapping[str, Volume]]: ...
    @property
    def pauses(self) -> Mapping[str, int]: ...


# --- reports -------------------------------------------------------------------------------
_STEP_NAMES: Final = {"need": "Besoin", "sector": "Secteur", "size": "Taille", "departement": "Département"}
_PATH_NAMES: Final = {
    "closed": "ligne fermée", "no_valid_answer": "aucune réponse valide à la première question",
    "completed": "menu complet", "same_partner": "même partenaire qu'au dernier appel",
    "degraded": "mode dégradé (service indisponible)", "hung_up_after_menu": "raccroché après le menu",
    "advisor_after_menu": "conseiller demandé après le menu",
}


def menu_path_label(key: str) -> str:
    """The reports' IVR path (``cdr.kpi.menu_path``) in words."""
    prefixes = (("hung_up_at_", "raccroché à la question"), ("advisor_at_", "conseiller demandé (0) à la question"))
    for prefix, words in prefixes:
        if key.startswith(prefix):
            step = key.removeprefix(prefix)
            return f"{words} « {_STEP_NAMES.get(step, step)} »"
    return _PATH_NAMES.get(key, key)


@dataclass(frozen=True, slots=True)
class Bar:
    """One segment of a chart's row; ``x`` and ``width`` already written as the SVG reads them."""

    x: str
    width: str
    series: int
    name: str
    value: str  # its hover text, unit included


@dataclass(frozen=True, slots=True)
class BarRow:
    y: int
    label: str
    bars: tuple[Bar, ...]
    total_x: str
    total: str


@dataclass(frozen=True, slots=True)
class BarChart:
    """A horizontal stacked bar chart's geometry; ``charts.html`` draws it as inline SVG."""

    title: str
    width: int
    height: int
    bar_height: int
    rows: tuple[BarRow, ...]


def bar_chart(title: str, items: Sequence[tuple[str, Sequence[tuple[str, float]]]], *, unit: str = "",
              max_value: float | None = None) -> BarChart:
    """``items``: (label, [(series, value)...]); the bars scaled to the largest total (or ``max_value``)."""
    width, label_w, row_h = 720, 150, 22
    top = max((sum(v for _, v in series) for _, series in items), default=0.0)
    scale_max = max_value if max_value is not None else (top or 1.0)
    rows = []
    for row, (label, series) in enumerate(items):
        y = 20 + row * row_h
        x = float(label_w)
        bars = []
        for index, (name, value) in enumerate(series):
            w = (width - label_w - 60) * (value / scale_max) if scale_max else 0
            if w > 0:
                bars.append(Bar(f"{x:.1f}", f"{w:.1f}", index, name, f"{round(value, 2)}{unit}"))
            x += w
        total = sum(v for _, v in series)
        shown = f"{round(total * 100)} %" if unit == "%" else f"{round(total, 1):g}"
        rows.append(BarRow(y, label, tuple(bars), f"{x + 4:.1f}", shown))
    return BarChart(title, width, row_h * len(items) + 30, row_h - 6, tuple(rows))


# One column per figure; its header and cells carry cdr.kpi's French definition on hover. The
# charts read their values through the same ``kpi_cell`` so a bar and its table cell agree.
KPI_COLUMNS: Final = (
    ("calls", "Appels"), ("offered", "Présentés"), ("answered", "Répondus"),
    ("service_level", "NS"), ("service_level_answered", "NS répondus"), ("asa_seconds", "ASA (s)"),
    ("aht_seconds", "DMT (s)"), ("abandonment_rate", "Abandons"), ("occupancy", "Occupation"),
)
KPI_LABELS: Final = dict(KPI_COLUMNS)
RATIOS: Final = frozenset({"service_level", "service_level_answered", "service_level_inclusive", "abandonment_rate",
                           "occupancy"})


def kpi_cell(name: str, value: object) -> str:
    """A figure as its table cell shows it: "—" when none, ratios in %, other decimals to one place."""
    if value is None:
        return "—"
    if name in RATIOS and isinstance(value, float):
        return percent(value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _kpi_chart(title: str, rows: Mapping[str, Kpis], name: str, settings: KpiSettings) -> BarChart:
    """A bar per row of ``name``, the very value (and text) its table shows; rows without one are left off."""
    values = {key: getattr(k, name) for key, k in rows.items()}
    items = [(key, [(KPI_LABELS[name], float(v))]) for key, v in values.items() if isinstance(v, int | float)]
    return bar_chart(f"{title} — {definition_fr(name, settings)}", items,
                     unit="%" if name in RATIOS else "", max_value=1.0 if name in RATIOS else None)


FOLLOWUP_OUTCOME_LABELS: Final = {
    "reached": "joint", "satisfied": "satisfait", "needs_more_help": "besoin d'aide",
    "wrong_number": "faux numéro", "refused": "refus", "none": "non saisi",
}


def reports_page(report: ReportView, user: PageUser, csrf: str, *, names: Mapping[str, str] | None = None) -> str:
    """``names``: partner and office ids to the names shown (the ids when missing)."""
    first, last = report.first.isoformat(), report.last.isoformat()
    settings = report.settings
    series = ("répondus", "abandonnés en file", "autres")

    def split(v: Volume) -> list[tuple[str, float]]:
        return [(series[0], v.answered), (series[1], v.abandoned_in_queue),
                (series[2], v.calls - v.answered - v.abandoned_in_queue)]

    return render(
        "reports.html", **frame(f"Rapport du {first} au {last}", user=user, csrf=csrf),
        report=report, first=first, last=last, settings=settings, series=series, names=names or {},
        days_chart=bar_chart("Appels par jour", [(d, split(v)) for d, v in report.by_day.items()]),
        # Per partner only the answered side exists (kpi.answered_side_only): its chart is of "NS répondus".
        partner_chart=_kpi_chart("NS répondus par partenaire", report.by_partner, "service_level_answered", settings),
        queue_chart=_kpi_chart("NS par file", report.by_queue, "service_level", settings),
        menu_paths=report.breakdowns.get("ivr_path", {}), kpi_columns=KPI_COLUMNS, kpi_cell=kpi_cell,
        definition_fr=definition_fr, menu_path_label=menu_path_label,
        followup_outcome_labels=FOLLOWUP_OUTCOME_LABELS, sl_seconds=f"{settings.service_level_seconds:g}",
    )


# --- rules ----------------------------------------------------------------------------------
POLICY_NAMES: Final = {
    "strategy": "Stratégie de sonnerie (Asterisk)", "ring_seconds": "Sonnerie d'une ligne (s)",
    "retry_seconds": "Pause avant de resonner (s)", "max_wait_seconds": "Attente maximale d'un appelant (s)",
    "skill_penalty_floor": "Pénalité au-delà des compétences",
}
_POLICY_KINDS: Final = (("strategy", "str"), ("ring_seconds", "int"), ("retry_seconds", "int"),
                        ("max_wait_seconds", "int"), ("skill_penalty_floor", "int"))
DAY_NAMES: Final = {"monday": "lundi", "tuesday": "mardi", "wednesday": "mercredi", "thursday": "jeudi",
                    "friday": "vendredi", "saturday": "samedi", "sunday": "dimanche"}
RULE_ACTIONS: Final = {"apply": "application", "rollback": "retour en arrière"}
RULE_STATUSES: Final = {"pending": "en attente", "applied": "appliquée", "failed": "échouée", "refused": "refusée"}
_HISTORY_COLUMNS: Final = ("id", "version", "action", "requested_by", "requested_at", "status", "result")


def short_name(name: str) -> str:
    """A partner's name without its explanation: "CMA (chambre de métiers...)" -> "CMA"."""
    return name.split(" (", 1)[0]


@dataclass(frozen=True, slots=True)
class ListColumn:
    field: str
    kind: str  # how rules.js reads the input: "int" | "str"
    size: int


@dataclass(frozen=True, slots=True)
class EditableList:
    """A list the rule editor can grow and shrink (``rules.html``'s ``editable_list``)."""

    path: str  # where rules.js puts it in the document
    head: tuple[str, ...]
    columns: tuple[ListColumn, ...]
    rows: tuple[tuple[tuple[ListColumn, object], ...], ...]


def _editable(path: str, head: tuple[str, ...], columns: tuple[ListColumn, ...],
              rows: Iterable[Sequence[object]]) -> EditableList:
    return EditableList(path, head, columns, tuple(tuple(zip(columns, values, strict=True)) for values in rows))


def rules_page(hotline: Hotline, history: Sequence[Mapping[str, object]], user: PageUser, csrf: str,
               *, apply_available: bool) -> str:
    tz = ZoneInfo(hotline.hours.timezone)

    def cell(key: str, value: object) -> str:
        if key == "requested_at" and isinstance(value, str) and value:
            return dt.datetime.fromisoformat(value).astimezone(tz).strftime("%d/%m/%Y %H:%M")
        if key == "action":
            return RULE_ACTIONS.get(str(value), str(value))
        if key == "status":
            return RULE_STATUSES.get(str(value), str(value))
        return "" if value is None else str(value)

    q = hotline.queues
    hours = (ListColumn("open", "str", 6), ListColumn("close", "str", 6))
    menu = {step.id: {"label": QUESTION_LABELS.get(step.id, step.id),
                      "options": {o.value: o.label for o in step.options}} for step in hotline.menu.steps}
    return render(
        "rules.html", **frame("Règles de routage", user=user, csrf=csrf, scripts=["common.js", "rules.js"]),
        hotline=hotline, apply_available=apply_available, current_rules=hotline.model_dump(mode="json"),
        skills=sorted(hotline.menu.skill_keys()), short_name=short_name,
        answer_names={f"{step.id}:{o.value}": f"{_STEP_NAMES.get(step.id, step.id)} : {o.label}"
                      for step in hotline.menu.steps for o in step.options},
        policy=_POLICY_KINDS, policy_names=POLICY_NAMES,
        escalation=_editable("queues.escalation", ("après (s)", "pénalité max"),
                             (ListColumn("after_seconds", "int", 6), ListColumn("max_penalty", "int", 6)),
                             [(s.after_seconds, s.max_penalty) for s in q.escalation]),
        week=[(DAY_NAMES.get(day, day),
               _editable(f"hours.week.{day}", ("ouverture", "fermeture"), hours,
                         [(f"{r.open:%H:%M}", f"{r.close:%H:%M}") for r in hotline.hours.week.get(day, [])]))
              for day in WEEKDAYS],
        closures=_editable("hours.closures", ("début (ISO, avec fuseau)", "fin", "motif"),
                           (ListColumn("start", "str", 24), ListColumn("end", "str", 24),
                            ListColumn("reason", "str", 20)),
                           [(c.start.isoformat(), c.end.isoformat(), c.reason) for c in hotline.hours.closures]),
        route_menu={"questions": menu, "partners": {p.id: p.name for p in hotline.partners}},
        question_labels=QUESTION_LABELS,
        history=[[cell(k, row.get(k)) for k in _HISTORY_COLUMNS] for row in history],
    )


# --- memo ----------------------------------------------------------------------------------
def memo_page(sections: Sequence[MemoSection], hotline: Hotline, user: PageUser, csrf: str) -> str:
    return render(
        "memo.html", **frame("Mémo des conseillers", user=user, csrf=csrf, scripts=["common.js", "memo.js"]),
        sections=sections, needs=[(o.value, o.label) for o in hotline.menu.step("need").options],
        sectors=[(o.value, o.label) for o in hotline.menu.step("sector").options],
    )


def status_names() -> tuple[str, ...]:
    return LINE_STATUSES
