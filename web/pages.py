"""HTML pages. Pure: view models in, text out.

Every value that is not a literal of this module goes through ``e()``
(``html.escape`` with quotes): caller names and numbers, memo text, user names,
config labels. Data handed to the page's JavaScript is JSON inside
``<script type="application/json">`` with ``<``, ``>`` and ``&`` escaped, so no
value can close the element. Scripts are files under ``/static`` (the
Content-Security-Policy allows no inline script); nothing is fetched from
elsewhere.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from cdr.kpi import AppointmentKpis, CallbackKpis, Kpis, KpiSettings, Volume, definition_fr
from config.models import WEEKDAYS, Hotline
from web import appointments_page
from web.screen import OUTCOME_LABELS, MemoSection, ScreenPop
from web.wallboard import LINE_STATUSES, Wallboard

STATUS_LABELS: Final = {
    "available": "Disponible", "ringing": "Sonne", "busy": "En ligne", "wrapup": "Post-appel",
    "paused": "En pause", "logged_out": "Déconnecté", "unavailable": "Injoignable",
}
PAUSE_REASONS: Final = ("pause", "repas", "formation", "reunion", "rappel")
QUESTION_LABELS: Final = {"need": "Besoin", "sector": "Secteur", "size": "Taille", "departement": "Département"}


def e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def json_script(element_id: str, payload: object) -> str:
    text = json.dumps(payload, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{e(element_id)}">{text}</script>'


@dataclass(frozen=True, slots=True)
class PageUser:
    name: str
    role: str
    line: str | None


ROLE_NAMES: Final = {"advisor": "conseiller", "supervisor": "superviseur", "admin": "administrateur"}


def _nav(user: PageUser | None, csrf: str | None) -> str:
    if user is None:
        return ""
    links = [("/advisor", "Mon poste")]
    if user.role in ("supervisor", "admin"):
        links = [("/wallboard", "Tableau mural"), ("/advisor", "Postes"), ("/reports", "Rapports"),
                 ("/rappels", "Rappels"), ("/appels", "Appels")]
    if user.role == "admin":
        links += [("/rules", "Règles"), ("/memo", "Mémo"), ("/connexions", "Connexions"),
                  ("/utilisateurs", "Utilisateurs")]
    items = "".join(f'<a href="{e(href)}">{e(label)}</a>' for href, label in links)
    return (
        f'<nav>{items}<span class="who">{e(user.name)} ({e(ROLE_NAMES.get(user.role, user.role))})</span>'
        f'<form method="post" action="/logout" class="logout"><input type="hidden" name="csrf" value="{e(csrf)}">'
        '<button type="submit">Se déconnecter</button></form></nav>'
    )


def layout(
    title: str, body: str, *, user: PageUser | None = None, csrf: str | None = None,
    scripts: Iterable[str] = (), page_class: str = "",
) -> str:
    tags = "".join(f'<script src="/static/{e(name)}" defer></script>' for name in scripts)
    meta = f'<meta name="csrf-token" content="{e(csrf)}">' if csrf else ""
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{e(title)} · aiguilleur</title>{meta}<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="/static/app.css">{tags}</head>'
        f'<body class="{e(page_class)}"><header><h1>{e(title)}</h1>{_nav(user, csrf)}</header>'
        f'<main>{body}</main></body></html>'
    )


def login_page(error: str | None = None, next_url: str = "/") -> str:
    message = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    body = (
        f'{message}<form method="post" action="/login" class="login">'
        f'<input type="hidden" name="next" value="{e(next_url)}">'
        '<label>Identifiant <input name="name" autocomplete="username" required></label>'
        '<label>Mot de passe <input name="password" type="password" autocomplete="current-password" required>'
        '</label><button type="submit">Se connecter</button></form>'
    )
    return layout("Connexion", body)


def error_page(status: int, message: str, user: PageUser | None = None, csrf: str | None = None) -> str:
    return layout(f"Erreur {status}", f'<p class="error">{e(message)}</p>', user=user, csrf=csrf)


# --- wallboard --------------------------------------------------------------------------------
def clock(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(max(0, seconds), 60)
    return f"{minutes}:{secs:02d}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{round(value * 100)} %"


def _idle_note(count: int) -> str:
    if not count:
        return ""
    return f"+ {count} files de profil sans appel aujourd'hui (masquées)"


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


def wallboard_body(board: Wallboard) -> str:
    hint = wallboard_definitions(board.service_level_seconds)

    def tip(name: str) -> str:
        return f' title="{e(hint[name])}"'

    rows = []
    for q in board.queues:
        callers = "".join(
            f'<li><span class="num">{e(c.number)}</span> <span class="name">{e(c.name)}</span> '
            f'<span class="wait" data-wait="{c.waited_seconds}">{clock(c.waited_seconds)}</span></li>'
            for c in q.callers
        ) + (f'<li class="more">+{q.callers_more} de plus</li>' if q.callers_more else "")
        counts = sl_counts(q.answered_within_threshold_today, q.offered_today, q.waiting_past_threshold,
                           board.service_level_seconds)
        rows.append(
            f'<tr data-queue="{e(q.name)}" class="{"hot" if q.waiting else ""}">'
            f'<th title="{e(q.name)}">{e(q.label or q.name)}</th>'
            f'<td class="waiting"{tip("callers_waiting")}>{q.waiting}</td>'
            f'<td class="longest lvl-{e(q.levels.get("longest_wait", "ok"))}" data-wait="{q.longest_wait_seconds}"'
            f'{tip("longest_wait")}>'
            f'{clock(q.longest_wait_seconds)}</td>'
            f'<td class="expected"{tip("expected_wait")}>{clock(q.expected_wait_seconds)}</td>'
            f'<td class="free"{tip("lines_available")}>{q.lines_available}/{q.lines_staffed}</td>'
            f'<td class="sl lvl-{e(q.levels.get("service_level", "ok"))}"{tip("service_level")}>'
            f'<span class="sl-value">{percent(q.service_level_today)}</span> '
            f'<small class="sl-counts">{f"({e(counts)})" if counts else ""}</small></td>'
            f'<td><ol class="callers">{callers}</ol></td></tr>'
        )
    partners = []
    for p in board.partners:
        counts_html = "".join(
            f'<span class="count st-{e(s)}" title="{e(STATUS_LABELS.get(s, s))}">{e(STATUS_LABELS.get(s, s))} '
            f'<b>{n}</b></span>' for s, n in p.counts.items() if n
        )
        lines = "".join(
            f'<li class="line st-{e(line.status)}" data-line="{e(line.line)}"><span class="id">{e(line.line)}</span>'
            f'<span class="st">{e(STATUS_LABELS.get(line.status, line.status))}</span>'
            f'<span class="reason">{e(line.paused_reason)}</span></li>'
            for line in p.lines
        )
        partners.append(
            f'<section class="partner" data-partner="{e(p.id)}"><h2>{e(p.name)}</h2>'
            f'<div class="counts">{counts_html}</div><ul class="lines">{lines}</ul></section>'
        )
    sync = "" if board.synced else '<p class="warn">État en cours de resynchronisation</p>'
    overall = sl_counts(board.answered_within_threshold_today, board.offered_today, board.waiting_past_threshold,
                        board.service_level_seconds)
    def level(name: str) -> str:
        return f' id="fig-{name}" class="big lvl-{e(board.levels.get(name, "ok"))}" data-figure="{name}"'

    alarms = "".join(f"<p>{e(text)}</p>" for text in board.alarms)
    return (
        f'<div id="wallboard" data-version="{board.version}">'
        f'<div id="alarms" class="alarms" role="alert" aria-live="assertive">{alarms}</div>'
        f'<section class="summary"><div{level("callers_waiting")}{tip("callers_waiting")}>'
        f'<b id="total-waiting">{board.waiting}</b> en attente</div>'
        f'<div{level("longest_wait")}{tip("longest_wait")}>Attente max '
        f'<b id="longest" data-wait="{board.longest_wait_seconds}">{clock(board.longest_wait_seconds)}</b></div>'
        f'<div{level("lines_free")}{tip("lines_available")}>Lignes libres <b id="lines-free">{board.lines_free}</b>'
        '</div>'
        f'<div{level("service_level")}{tip("service_level")}>Niveau de service du jour <b id="sl">'
        f'{percent(board.service_level_today)}</b> <small id="sl-counts">{f"({e(overall)})" if overall else ""}'
        '</small></div>'
        f'<div id="sync">{sync}</div></section>'
        f'<table class="queues"><thead><tr><th>File</th><th{tip("callers_waiting")}>En attente</th>'
        f'<th{tip("longest_wait")}>Attente max</th><th{tip("expected_wait")}>Attente prévue</th>'
        f'<th{tip("lines_available")}>Lignes libres</th><th{tip("service_level")}>NS du jour</th>'
        '<th>Appelants</th></tr></thead>'
        f'<tbody id="queue-rows">{"".join(rows)}</tbody></table>'
        f'<p id="idle-queues" class="note">{_idle_note(board.idle_queues)}</p>'
        f'<div id="partners" class="partners">{"".join(partners)}</div>'
        f'{agent_grid(board)}</div>'
    )


def agent_grid(board: Wallboard) -> str:
    """Every line: partner, state, time in it, calls taken, pause reason; ``wallboard.js`` adds the actions.

    The actions (pause, log out, listen) need the page's script: without it the grid is read-only."""
    rows = "".join(
        f'<tr data-line="{e(a.line)}"><th scope="row">{e(a.line)}</th><td>{e(a.partner)}</td>'
        f'<td class="state">{e(STATUS_LABELS.get(a.status, a.status))}</td>'
        f'<td class="since" data-since="{"" if a.seconds_in_status is None else a.seconds_in_status}">'
        f'{clock(a.seconds_in_status)}</td><td class="taken">{a.calls_today}</td>'
        f'<td class="reason">{e(a.paused_reason)}</td><td class="actions-cell"></td></tr>'
        for a in board.agents
    )
    return (
        '<h2 id="agents-title">Lignes des conseillers</h2>'
        '<p id="agent-result" class="note" role="status" aria-live="polite"></p>'
        '<table class="agents" aria-labelledby="agents-title"><thead><tr><th scope="col">Ligne</th>'
        '<th scope="col">Partenaire</th><th scope="col">État</th>'
        '<th scope="col" title="Temps dans l\'état (post-appel : temps restant)">Depuis</th>'
        '<th scope="col" title="Appels répondus par la ligne depuis minuit (heure de la hotline), '
        'd\'après les fiches d\'appel">Appels pris aujourd\'hui</th>'
        '<th scope="col">Motif de pause</th><th scope="col">Actions</th></tr></thead>'
        f'<tbody id="agent-rows">{rows}</tbody></table>'
    )


def wallboard_page(board: Wallboard, hotline_name: str, user: PageUser, csrf: str) -> str:
    body = (json_script("labels", STATUS_LABELS)
            + json_script("definitions", wallboard_definitions(board.service_level_seconds))
            + wallboard_body(board))
    return layout(f"Tableau mural — {hotline_name}", body, user=user, csrf=csrf,
                  scripts=["common.js", "wallboard.js"], page_class="wall")


# --- advisor -------------------------------------------------------------------------------
CALL_STATE_TITLES: Final = {"ringing": "Appel entrant", "connected": "En communication",
                             "wrapup": "Post-appel — appel terminé"}


def screen_body(pop: ScreenPop) -> str:
    status = (f'<p class="line-status st-{e(pop.line_status)}">Ligne <b>{e(pop.line)}</b> : '
              f'<span id="line-status">{e(STATUS_LABELS.get(pop.line_status, pop.line_status))}</span></p>')
    if pop.call_state is None:
        return status + '<p id="no-call" class="idle">Aucun appel en cours sur cette ligne.</p>'
    state = CALL_STATE_TITLES.get(pop.call_state, pop.call_state)
    answers = "".join(f'<tr><th>{e(a.label)}</th><td>{e(a.value_label)}</td></tr>' for a in pop.answers)
    outcomes = ", ".join(f"{e(OUTCOME_LABELS.get(k, k))} : {n}" for k, n in sorted(pop.earlier_outcomes.items()))
    earlier = "".join(
        f'<tr><td>{e(c.start[:16].replace("T", " "))}</td><td>{e(OUTCOME_LABELS.get(c.outcome, c.outcome))}</td>'
        f'<td>{e(c.partner or "")}</td><td>{e(c.need or "")}</td><td>{e(c.sector or "")}</td></tr>'
        for c in pop.earlier_calls
    )
    memo = "".join(f'<article class="memo"><h3>{e(m.title)}</h3><p>{e(m.body)}</p></article>' for m in pop.memo)
    return (
        status
        + f'<section id="caller" class="caller {e(pop.call_state)}"><h2>{e(state)}'
        + (f' — file {e(pop.queue_label or pop.queue)}' if pop.queue else "") + "</h2>"
        + _callback_banner(pop)
        + f'<p class="who"><span id="caller-number">{e(pop.number)}</span> '
        + f'<span id="caller-clid">{e(pop.clid)}</span></p>'
        + f'<table id="answers">{answers or "<tr><td>Pas de réponse au menu</td></tr>"}</table>'
        + f'<h3>Appels précédents : <span id="earlier-count">{len(pop.earlier_calls)}</span></h3>'
        + (f'<p>{outcomes}</p><table class="earlier"><tr><th>Date</th><th>Issue</th><th>Partenaire</th>'
           f'<th>Besoin</th><th>Secteur</th></tr>{earlier}</table>' if pop.earlier_calls else "")
        + f'</section><section id="memo"><h2>Mémo</h2>{memo or "<p>Aucune section pour ce profil.</p>"}</section>'
    )


def transfer_section(line: str, partners: Sequence[tuple[str, str]], connected: bool) -> str:
    """One "Transférer vers <partenaire>" button per partner; usable while a caller is connected."""
    if not partners:
        return ""
    disabled = "" if connected else " disabled"
    buttons = "".join(f'<button data-transfer="{e(pid)}"{disabled}>Transférer vers {e(name)}</button>'
                      for pid, name in partners)
    return (f'<section class="transfer" data-line="{e(line)}"><h2>Transférer l\'appel en cours</h2>{buttons}'
            '<span id="transfer-result" role="status"></span></section>')


def advisor_page(pop: ScreenPop | None, line: str | None, lines: Sequence[str], user: PageUser, csrf: str,
                 partners: Sequence[tuple[str, str]] = ()) -> str:
    picker = ""
    if user.role in ("supervisor", "admin"):
        options = "".join(f'<option value="{e(x)}"{" selected" if x == line else ""}>{e(x)}</option>'
                          for x in lines)
        picker = (f'<form method="get" action="/advisor" class="picker"><label>Ligne <select name="line">{options}'
                  '</select></label><button type="submit">Voir</button></form>')
    if line is None or pop is None:
        return layout("Poste conseiller", picker + '<p>Aucune ligne associée à ce compte.</p>', user=user, csrf=csrf)
    reasons = "".join(f'<option value="{e(r)}">{e(r)}</option>' for r in PAUSE_REASONS)
    actions = (
        f'<section class="actions" data-line="{e(line)}">'
        '<button data-action="login">Se connecter aux files</button>'
        '<button data-action="logout">Se déconnecter des files</button>'
        f'<select id="pause-reason" aria-label="Motif de la pause">{reasons}</select>'
        '<button data-action="pause">Pause</button>'
        '<button data-action="unpause">Reprendre</button><span id="action-result" role="status"></span></section>'
    )
    listen = ""
    if user.role in ("supervisor", "admin"):
        listen = (f'<section class="listen actions" data-line="{e(line)}"><h2>Écoute (votre poste de supervision)</h2>'
                  '<button data-mode="listen">Écouter</button><button data-mode="whisper">Chuchoter au conseiller'
                  '</button><button data-mode="barge">Intervenir</button>'
                  '<span id="listen-result" role="status"></span></section>')
    body = (picker + actions + listen + transfer_section(line, partners, pop.call_state == "connected")
            + json_script("labels", {"status": STATUS_LABELS, "outcome": OUTCOME_LABELS})
            + f'<div id="screen" data-line="{e(line)}">{screen_body(pop)}</div>'
            + appointments_page.section(line))
    return layout(f"Poste {line}", body, user=user, csrf=csrf,
                  scripts=["common.js", "advisor.js", "appointments.js"])


def _callback_banner(pop: ScreenPop) -> str:
    """An outbound call: "Rappel" or "Suivi J+8", why, and which call it follows (answers below are that call's)."""
    cb = pop.callback
    if cb is None:
        return ""
    origin = f" — appel du {e(cb.origin_start[:16].replace('T', ' '))}" if cb.origin_start else ""
    partner = f", répondu par {e(cb.origin_partner)}" if cb.origin_partner else ""
    return (f'<p id="callback" class="callback {e(cb.kind)}"><b id="callback-label">{e(cb.label)}</b> : '
            f'<span id="callback-why">{e(cb.why)}</span>{origin}{partner} (essai {cb.tries + 1}). '
            "Choix du client au menu lors de cet appel :</p>")


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


def _pauses_section(pauses: Mapping[str, int]) -> str:
    """Time the lines spent paused, per reason (every line summed)."""
    if not pauses:
        return ""
    rows = "".join(f'<tr><th scope="row">{e(reason or "sans motif")}</th><td>{seconds // 3600} h '
                   f'{seconds % 3600 // 60:02d} min</td></tr>' for reason, seconds in pauses.items())
    return ('<h2>Pauses par motif</h2><table class="kpi pauses" id="pauses"><tr><th scope="col">Motif</th>'
            f'<th scope="col">Temps en pause (toutes lignes)</th></tr>{rows}</table>')


def _menu_paths_section(paths: Mapping[str, Volume]) -> str:
    """Where the callers left the menu: how many, and how many of them an advisor then answered."""
    if not paths:
        return ""
    rows = "".join(f'<tr><th scope="row">{e(menu_path_label(key))}</th><td>{v.calls}</td><td>{v.answered}</td></tr>'
                   for key, v in paths.items())
    return ('<h2>Parcours dans le menu</h2><table class="kpi ivr-paths" id="ivr-paths"><tr><th scope="col">Où '
            'l\'appelant a quitté le menu</th><th scope="col">Appels</th><th scope="col">Répondus</th></tr>'
            f'{rows}</table>')


def _bar_chart(title: str, items: Sequence[tuple[str, Sequence[tuple[str, float]]]], *, unit: str = "",
               max_value: float | None = None) -> str:
    """A horizontal stacked bar chart as inline SVG; ``items``: (label, [(series, value)...])."""
    width, label_w, row_h = 720, 150, 22
    top = max((sum(v for _, v in series) for _, series in items), default=0.0)
    scale_max = max_value if max_value is not None else (top or 1.0)
    height = row_h * len(items) + 30
    parts = [f'<svg class="chart" role="img" aria-label="{e(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"><title>{e(title)}</title>']
    for row, (label, series) in enumerate(items):
        y = 20 + row * row_h
        parts.append(f'<text x="0" y="{y + 14}" class="lbl">{e(label)}</text>')
        x = float(label_w)
        for index, (name, value) in enumerate(series):
            w = (width - label_w - 60) * (value / scale_max) if scale_max else 0
            if w > 0:
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" class="s{index}">'
                             f'<title>{e(name)} : {e(round(value, 2))}{e(unit)}</title></rect>')
            x += w
        total = sum(v for _, v in series)
        shown = f"{round(total * 100)} %" if unit == "%" else f"{round(total, 1):g}"
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 14}" class="val">{e(shown)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(names: Sequence[str]) -> str:
    return '<p class="legend">' + "".join(
        f'<span class="key s{i}">{e(n)}</span>' for i, n in enumerate(names)) + "</p>"


# One column per figure; its header and cells carry cdr.kpi's French definition on hover. The
# charts read their values through the same ``_kpi_cell`` so a bar and its table cell agree.
KPI_COLUMNS: Final = (
    ("calls", "Appels"), ("offered", "Présentés"), ("answered", "Répondus"),
    ("service_level", "NS"), ("service_level_answered", "NS répondus"), ("asa_seconds", "ASA (s)"),
    ("aht_seconds", "DMT (s)"), ("abandonment_rate", "Abandons"), ("occupancy", "Occupation"),
)
KPI_LABELS: Final = dict(KPI_COLUMNS)
RATIOS: Final = frozenset({"service_level", "service_level_answered", "service_level_inclusive", "abandonment_rate",
                           "occupancy"})


def _kpi_cell(name: str, value: object) -> str:
    if value is None:
        return "—"
    if name in RATIOS and isinstance(value, float):
        return percent(value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return e(value)


def _kpi_table(rows: Mapping[str, Kpis], settings: KpiSettings) -> str:
    tips = {name: e(definition_fr(name, settings)) for name, _ in KPI_COLUMNS}
    head = "".join(f'<th scope="col" data-kpi="{e(n)}" title="{tips[n]}">{e(label)}</th>' for n, label in KPI_COLUMNS)
    body = "".join(
        f'<tr data-key="{e(key)}"><th scope="row">{e(key)}</th>' + "".join(
            f'<td data-kpi="{e(n)}" title="{tips[n]}">{_kpi_cell(n, getattr(k, n))}</td>' for n, _ in KPI_COLUMNS)
        + "</tr>" for key, k in rows.items()
    )
    return f'<table class="kpi"><tr><th></th>{head}</tr>{body}</table>'


def _kpi_chart(title: str, rows: Mapping[str, Kpis], name: str, settings: KpiSettings) -> str:
    """A bar per row of ``name``, the very value (and text) its table shows; rows without one are left off."""
    values = {key: getattr(k, name) for key, k in rows.items()}
    items = [(key, [(KPI_LABELS[name], float(v))]) for key, v in values.items() if isinstance(v, int | float)]
    return _bar_chart(f"{title} — {definition_fr(name, settings)}", items,
                      unit="%" if name in RATIOS else "", max_value=1.0 if name in RATIOS else None)


FOLLOWUP_OUTCOME_LABELS: Final = {
    "reached": "joint", "satisfied": "satisfait", "needs_more_help": "besoin d'aide",
    "wrong_number": "faux numéro", "refused": "refus", "none": "non saisi",
}


def _callbacks_section(k: CallbackKpis) -> str:
    """Callbacks and J+8 follow-ups due in the window (outbound calls: not in the figures above)."""
    def pct(value: float | None) -> str:
        return "—" if value is None else percent(value)
    connect, reach = e(definition_fr("callback_connect_rate")), e(definition_fr("followup_reach_rate"))
    within = e(definition_fr("callbacks_placed_within_opening").replace("N min", f"{k.within_minutes} min"))
    outcomes = "".join(f"<tr><th>{e(FOLLOWUP_OUTCOME_LABELS.get(code, code))}</th><td>{n}</td></tr>"
                       for code, n in k.followup_outcomes.items())
    return (
        '<h2>Rappels et suivis J+8</h2><table class="kpi callbacks"><tr><th></th><th>Dus</th><th>Aboutis</th>'
        f'<th>Échecs</th><th>Annulés</th><th title="{connect}">Taux de joignabilité</th>'
        f'<th title="{within}">Rappelés ≤ {k.within_minutes} min après l\'ouverture</th></tr>'
        f'<tr><th>Rappels</th><td>{k.callbacks}</td><td>{k.callbacks_done}</td><td>{k.callbacks_failed}</td>'
        f'<td>{k.callbacks_cancelled}</td><td title="{connect}">{pct(k.callback_connect_rate)}</td>'
        f'<td title="{within}">{pct(k.placed_within_opening)}</td></tr>'
        f'<tr><th>Suivis J+8</th><td>{k.followups}</td><td>{k.followups_done}</td><td>{k.followups_failed}</td>'
        f'<td>—</td><td title="{reach}">{pct(k.followup_reach_rate)}</td><td>—</td></tr></table>'
        f'<table class="kpi outcomes"><tr><th title="{e(definition_fr("followup_outcomes"))}">Issue des suivis'
        f'</th><th>Nombre</th></tr>{outcomes}</table>'
    )


def _appointments_section(k: AppointmentKpis, names: Mapping[str, str]) -> str:
    """Appointments booked in the window (by booking time), per partner, then per office under its partner."""
    rows = []
    for partner, count in k.by_partner.items():
        rows.append(f'<tr class="partner"><th scope="row">{e(names.get(partner, partner))}</th>'
                    f'<td>tous ses sites</td><td>{count}</td></tr>')
        rows += [f'<tr><td>{e(names.get(partner, partner))}</td><td>{e(names.get(office, office))}</td>'
                 f'<td>{n}</td></tr>'
                 for office, n in k.by_office.items() if k.office_partner.get(office) == partner]
    rows += [f'<tr><td>{e(k.office_partner.get(office) or "—")}</td><td>{e(names.get(office, office))}</td>'
             f'<td>{n}</td></tr>'
             for office, n in k.by_office.items() if k.office_partner.get(office) not in k.by_partner]
    return (
        f'<h2>Rendez-vous pris</h2><p id="appointments-total">{k.booked} rendez-vous pris sur la période '
        '(comptés le jour de la réservation).</p>'
        '<table class="kpi appointments"><tr><th scope="col">Partenaire</th><th scope="col">Site</th>'
        f'<th scope="col" title="{e(definition_fr("appointments_booked"))}">Rendez-vous</th></tr>'
        f'{"".join(rows)}</table>'
    )


def reports_page(report: ReportView, user: PageUser, csrf: str, *, names: Mapping[str, str] | None = None) -> str:
    """``names``: partner and office ids to the names shown (the ids when missing)."""
    first, last = report.first.isoformat(), report.last.isoformat()
    settings = report.settings
    series = ("répondus", "abandonnés en file", "autres")

    def split(v: Volume) -> list[tuple[str, float]]:
        return [(series[0], v.answered), (series[1], v.abandoned_in_queue),
                (series[2], v.calls - v.answered - v.abandoned_in_queue)]

    days = _bar_chart("Appels par jour", [(d, split(v)) for d, v in report.by_day.items()])
    # Per partner only the answered side exists (kpi.answered_side_only): its chart is of "NS répondus".
    sl_partner = _kpi_chart("NS répondus par partenaire", report.by_partner, "service_level_answered", settings)
    sl_queue = _kpi_chart("NS par file", report.by_queue, "service_level", settings)
    tip = {name: e(definition_fr(name, settings)) for name in (
        "calls", "answered", "abandoned_in_queue", "abandoned_in_ivr", "closed", "prank", "lost_by_pbx")}
    day_rows = "".join(
        f"<tr><th>{e(d)}</th><td>{v.calls}</td><td>{v.answered}</td><td>{v.abandoned_in_queue}</td>"
        f"<td>{v.abandoned_in_ivr}</td><td>{v.closed}</td><td>{v.no_input + v.invalid}</td>"
        f"<td>{v.lost_by_pbx}</td></tr>"
        for d, v in report.by_day.items()
    )
    body = (
        '<form method="get" action="/reports" class="window">'
        f'<label>Du <input type="date" name="from" value="{e(first)}"></label>'
        f'<label>au <input type="date" name="to" value="{e(last)}"></label><button type="submit">Afficher</button>'
        f'<a class="csv" href="/api/reports.csv?from={e(first)}&amp;to={e(last)}">Export CSV</a></form>'
        f'<h2>Ensemble</h2>{_kpi_table({"toutes": report.overall}, settings)}'
        f'<h2>Par jour</h2>{_legend(series)}{days}'
        f'<table class="days"><tr><th>Jour</th><th title="{tip["calls"]}">Appels</th>'
        f'<th title="{tip["answered"]}">Répondus</th><th title="{tip["abandoned_in_queue"]}">Abandons file</th>'
        f'<th title="{tip["abandoned_in_ivr"]}">Abandons menu</th><th title="{tip["closed"]}">Fermé</th>'
        f'<th title="{tip["prank"]}">Erreurs/blagues</th>'
        f'<th title="{tip["lost_by_pbx"]}">Coupés par le serveur</th></tr>{day_rows}</table>'
        f'<h2>Par partenaire</h2>{sl_partner}{_kpi_table(report.by_partner, settings)}'
        f'<h2>Par file</h2>{sl_queue}{_kpi_table(report.by_queue, settings)}'
        f'{_menu_paths_section(report.breakdowns.get("ivr_path", {}))}'
        f'{_pauses_section(report.pauses)}'
        f'{_callbacks_section(report.callbacks)}'
        f'{_appointments_section(report.appointments, names or {})}'
        '<p class="note">Définitions : survolez un en-tête ou une valeur ; '
        '<a href="/api/kpi/definitions">formules exactes</a>. '
        f'NS = répondus en {settings.service_level_seconds:g} s ou moins / (présentés + appelants encore '
        f'en attente depuis plus de {settings.service_level_seconds:g} s).</p>'
    )
    return layout(f"Rapport du {first} au {last}", body, user=user, csrf=csrf)


# --- rules ----------------------------------------------------------------------------------
def _input(path: str, value: object, kind: str = "int", *, size: int = 4) -> str:
    shown = "" if value is None else value
    return (f'<input data-path="{e(path)}" data-kind="{e(kind)}" value="{e(shown)}" size="{size}" '
            f'aria-label="{e(path)}">')


def _row_input(field: str, value: object, kind: str, size: int = 6) -> str:
    return (f'<input data-field="{e(field)}" data-kind="{e(kind)}" value="{e(value)}" size="{size}" '
            f'aria-label="{e(field)}">')


def _list(path: str, rows: Sequence[str], template: str, head: str) -> str:
    remove = '<td><button type="button" data-remove title="Retirer">&#215;</button></td>'
    body = "".join(f"<tr data-row>{r}{remove}</tr>" for r in rows)
    return (f'<table class="list" data-list="{e(path)}"><thead><tr>{head}<th></th></tr></thead>'
            f'<tbody>{body}</tbody></table><template data-template-for="{e(path)}"><tr data-row>{template}'
            '<td><button type="button" data-remove title="Retirer">&#215;</button></td></tr></template>'
            f'<button type="button" data-add="{e(path)}">Ajouter</button>')


def _route_test_form(hotline: Hotline) -> str:
    """Tester un profil: one select per question of the menu (labels as the caller hears them)."""
    selects = "".join(
        f'<label>{e(QUESTION_LABELS.get(step.id, step.id))} '
        f'<select id="route-{e(step.id)}" name="{e(step.id)}">'
        + "".join(f'<option value="{e(o.value)}">{e(o.label)}</option>' for o in step.options)
        + '<option value="">(sans réponse)</option></select></label>'
        for step in hotline.menu.steps
    )
    return (
        '<section id="route-test"><h3>Tester un profil</h3>'
        '<p>Avec les règles du formulaire ci-dessus (modifiées ou non).</p>'
        f'<form id="route-test-form" class="route-test">{selects}'
        '<button type="submit" id="route-test-run">Tester</button></form>'
        '<p id="route-test-queue" role="status"></p>'
        '<table id="route-test-result" hidden><caption>Rang 1 : sonne en premier</caption>'
        '<thead><tr><th>partenaire</th><th>score</th><th>rang</th></tr></thead><tbody></tbody></table>'
        '<p id="route-test-rings"></p></section>'
    )


def _routing_section(hotline: Hotline) -> str:
    menu = {step.id: {"label": QUESTION_LABELS.get(step.id, step.id),
                      "options": {o.value: o.label for o in step.options}} for step in hotline.menu.steps}
    return (
        json_script("route-menu", {"questions": menu, "partners": {p.id: p.name for p in hotline.partners}})
        + '<section id="routing-effect"><h2>Effet sur l\'acheminement</h2>'
        '<p id="routing-summary" role="status">Cliquez sur « Vérifier et voir les changements » pour voir '
        "quels profils changent de premier partenaire.</p>"
        '<p id="asterisk-effect" role="status"></p>'
        '<table id="routing-changes" hidden><thead><tr><th>réponses</th><th>avant</th><th>après</th></tr></thead>'
        f"<tbody></tbody></table>{_route_test_form(hotline)}</section>"
    )


POLICY_NAMES: Final = {
    "strategy": "Stratégie de sonnerie (Asterisk)", "ring_seconds": "Sonnerie d'une ligne (s)",
    "retry_seconds": "Pause avant de resonner (s)", "max_wait_seconds": "Attente maximale d'un appelant (s)",
    "skill_penalty_floor": "Pénalité au-delà des compétences",
}
DAY_NAMES: Final = {"monday": "lundi", "tuesday": "mardi", "wednesday": "mercredi", "thursday": "jeudi",
                    "friday": "vendredi", "saturday": "samedi", "sunday": "dimanche"}
RULE_ACTIONS: Final = {"apply": "application", "rollback": "retour en arrière"}
RULE_STATUSES: Final = {"pending": "en attente", "applied": "appliquée", "failed": "échouée", "refused": "refusée"}


def short_name(name: str) -> str:
    """A partner's name without its explanation: "CMA (chambre de métiers...)" -> "CMA"."""
    return name.split(" (", 1)[0]


def rules_page(hotline: Hotline, history: Sequence[Mapping[str, object]], user: PageUser, csrf: str,
               *, apply_available: bool) -> str:
    skills = sorted(hotline.menu.skill_keys())
    answer_names = {f"{step.id}:{o.value}": f"{_STEP_NAMES.get(step.id, step.id)} : {o.label}"
                    for step in hotline.menu.steps for o in step.options}
    head = "".join(f'<th scope="col" title="{e(p.name)}">{e(short_name(p.name))}</th>' for p in hotline.partners)
    skill_rows = "".join(
        f'<tr><th scope="row" title="{e(skill)}">{e(answer_names.get(skill, skill))}</th>' + "".join(
            f"<td>{_input(f'partners[{i}].skills.{skill}', p.skills.get(skill), 'skill', size=1)}</td>"
            for i, p in enumerate(hotline.partners)) + "</tr>"
        for skill in skills
    )
    partner_rows = "".join(
        f"<tr><th scope=\"row\">{e(short_name(p.name))}</th><td>{e(p.name)}</td>"
        f"<td>{_input(f'partners[{i}].lines', p.lines)}</td>"
        f"<td>{_input(f'partners[{i}].wrapup_seconds', p.wrapup_seconds)}</td></tr>"
        for i, p in enumerate(hotline.partners)
    )
    q = hotline.queues
    policy = "".join(
        f"<tr><th scope=\"row\" title=\"{e(name)}\">{e(POLICY_NAMES[name])}</th>"
        f"<td>{_input(f'queues.{name}', getattr(q, name), kind, size=10)}</td></tr>"
        for name, kind in (("strategy", "str"), ("ring_seconds", "int"), ("retry_seconds", "int"),
                           ("max_wait_seconds", "int"), ("skill_penalty_floor", "int"))
    )
    escalation = _list(
        "queues.escalation",
        [_td(_row_input("after_seconds", s.after_seconds, "int")) + _td(_row_input("max_penalty", s.max_penalty, "int"))
         for s in q.escalation],
        _td(_row_input("after_seconds", "", "int")) + _td(_row_input("max_penalty", "", "int")),
        "<th>après (s)</th><th>pénalité max</th>",
    )
    week = "".join(
        f"<h4>{e(DAY_NAMES.get(day, day))}</h4>" + _list(
            f"hours.week.{day}",
            [_td(_row_input("open", f"{r.open:%H:%M}", "str")) + _td(_row_input("close", f"{r.close:%H:%M}", "str"))
             for r in hotline.hours.week.get(day, [])],
            _td(_row_input("open", "", "str")) + _td(_row_input("close", "", "str")),
            "<th>ouverture</th><th>fermeture</th>",
        )
        for day in WEEKDAYS
    )
    closures = _list(
        "hours.closures",
        [_td(_row_input("start", c.start.isoformat(), "str", 24)) + _td(_row_input("end", c.end.isoformat(), "str", 24))
         + _td(_row_input("reason", c.reason, "str", 20)) for c in hotline.hours.closures],
        _td(_row_input("start", "", "str", 24)) + _td(_row_input("end", "", "str", 24))
        + _td(_row_input("reason", "", "str", 20)),
        "<th>début (ISO, avec fuseau)</th><th>fin</th><th>motif</th>",
    )
    tz = ZoneInfo(hotline.hours.timezone)

    def cell(key: str, value: object) -> str:
        if key == "requested_at" and isinstance(value, str) and value:
            return dt.datetime.fromisoformat(value).astimezone(tz).strftime("%d/%m/%Y %H:%M")
        if key == "action":
            return RULE_ACTIONS.get(str(value), str(value))
        if key == "status":
            return RULE_STATUSES.get(str(value), str(value))
        return "" if value is None else str(value)

    hist = "".join(
        "<tr>" + "".join(f"<td>{e(cell(k, row.get(k)))}</td>" for k in
                         ("id", "version", "action", "requested_by", "requested_at", "status", "result")) + "</tr>"
        for row in history
    )
    unavailable = "" if apply_available else (
        '<p class="warn" id="apply-unavailable">L\'application des règles n\'est pas encore disponible '
        "dans ce service (aperçu et validation seulement).</p>")
    body = (
        json_script("current-rules", hotline.model_dump(mode="json"))
        + f'<div id="rules-editor"><p>Version en service : <b id="rules-version">{hotline.version}</b></p>'
        + f'<p>Nouvelle version {_input("version", hotline.version + 1)}</p>{unavailable}'
        + '<div id="general-errors" class="error" role="alert"></div>'
        + '<h2>Compétences (1 à 5, vide = aucune)</h2>'
        + f'<table class="skills"><tr><th></th>{head}</tr>{skill_rows}</table>'
        + '<h2>Partenaires</h2><table><tr><th></th><th>nom</th><th>lignes</th><th>post-appel (s)</th></tr>'
        + f'{partner_rows}</table>'
        + f'<h2>Files</h2><table>{policy}</table><h3>Élargissement aux compétences suivantes</h3>{escalation}'
        + f'<h2>Horaires</h2>{week}<h3>Fermetures exceptionnelles</h3>{closures}'
        + '<div class="buttons"><button type="button" id="preview">Vérifier et voir les changements</button>'
        + '<button type="button" id="apply" disabled>Appliquer</button>'
        + '<button type="button" id="rollback">Revenir à la version précédente</button></div>'
        + '<h2>Changements</h2><pre id="diff"></pre><p id="apply-result" role="status"></p>'
        + _routing_section(hotline)
        + '<h2>Historique</h2><table id="history"><tr><th>#</th><th>version</th><th>action</th><th>par</th>'
        + f'<th>demandé</th><th>état</th><th>résultat</th></tr>{hist}</table></div>'
    )
    return layout("Règles de routage", body, user=user, csrf=csrf, scripts=["common.js", "rules.js"])


def _td(inner: str) -> str:
    return f"<td>{inner}</td>"


# --- memo ----------------------------------------------------------------------------------
def _checks(name: str, values: Sequence[tuple[str, str]], chosen: Sequence[str]) -> str:
    return "".join(
        f'<label class="check"><input type="checkbox" name="{e(name)}" value="{e(v)}"'
        f'{" checked" if v in chosen else ""}> {e(label)}</label>' for v, label in values
    )


def memo_page(sections: Sequence[MemoSection], hotline: Hotline, user: PageUser, csrf: str) -> str:
    needs = [(o.value, o.label) for o in hotline.menu.step("need").options]
    sectors = [(o.value, o.label) for o in hotline.menu.step("sector").options]

    def form(section: MemoSection | None) -> str:
        sid = "" if section is None else str(section.id)
        return (
            f'<form class="memo-form" data-id="{e(sid)}">'
            f'<label>Titre <input name="title" value="{e(section.title if section else "")}" required></label>'
            f'<label>Texte <textarea name="body" rows="4">{e(section.body if section else "")}</textarea></label>'
            '<fieldset><legend>Besoins (aucun = tous)</legend>'
            f'{_checks("needs", needs, section.needs if section else ())}'
            f'</fieldset><fieldset><legend>Secteurs (aucun = tous)</legend>'
            f'{_checks("sectors", sectors, section.sectors if section else ())}</fieldset>'
            f'<button type="submit">{"Enregistrer" if section else "Ajouter"}</button>'
            + ('<button type="button" data-delete>Supprimer</button>' if section else "")
            + '<span class="result" role="status"></span></form>'
        )

    body = "".join(f'<article class="memo-edit">{form(s)}</article>' for s in sections)
    body += f'<h2>Nouvelle section</h2>{form(None)}'
    return layout("Mémo des conseillers", body, user=user, csrf=csrf, scripts=["common.js", "memo.js"])


def status_names() -> tuple[str, ...]:
    return LINE_STATUSES
