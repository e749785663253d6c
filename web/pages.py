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

from cdr.kpi import Kpis, KpiSettings, Volume
from config.models import WEEKDAYS, Hotline
from web.screen import OUTCOME_LABELS, MemoSection, ScreenPop
from web.wallboard import LINE_STATUSES, Wallboard

STATUS_LABELS: Final = {
    "available": "Disponible", "ringing": "Sonne", "busy": "En ligne", "wrapup": "Post-appel",
    "paused": "En pause", "logged_out": "Déconnecté", "unavailable": "Injoignable",
}
PAUSE_REASONS: Final = ("pause", "repas", "formation", "reunion", "rappel")


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


def _nav(user: PageUser | None, csrf: str | None) -> str:
    if user is None:
        return ""
    links = [("/advisor", "Mon poste")]
    if user.role in ("supervisor", "admin"):
        links = [("/wallboard", "Tableau mural"), ("/advisor", "Postes"), ("/reports", "Rapports")]
    if user.role == "admin":
        links += [("/rules", "Règles"), ("/memo", "Mémo")]
    items = "".join(f'<a href="{e(href)}">{e(label)}</a>' for href, label in links)
    return (
        f'<nav>{items}<span class="who">{e(user.name)} ({e(user.role)})</span>'
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


def wallboard_body(board: Wallboard) -> str:
    rows = []
    for q in board.queues:
        callers = "".join(
            f'<li><span class="num">{e(c.number)}</span> <span class="name">{e(c.name)}</span> '
            f'<span class="wait" data-wait="{c.waited_seconds}">{clock(c.waited_seconds)}</span></li>'
            for c in q.callers
        )
        rows.append(
            f'<tr data-queue="{e(q.name)}" class="{"hot" if q.waiting else ""}"><th>{e(q.name)}</th>'
            f'<td class="waiting">{q.waiting}</td>'
            f'<td class="longest" data-wait="{q.longest_wait_seconds}">{clock(q.longest_wait_seconds)}</td>'
            f'<td>{clock(q.expected_wait_seconds)}</td><td>{q.lines_available}/{q.lines_staffed}</td>'
            f'<td>{percent(q.service_level_today)} <small>({q.answered_today}/{q.offered_today})</small></td>'
            f'<td><ol class="callers">{callers}</ol></td></tr>'
        )
    partners = []
    for p in board.partners:
        counts = "".join(
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
            f'<div class="counts">{counts}</div><ul class="lines">{lines}</ul></section>'
        )
    sync = "" if board.synced else '<p class="warn">État en cours de resynchronisation</p>'
    return (
        f'<div id="wallboard" data-version="{board.version}">'
        f'<section class="summary"><div class="big"><b id="total-waiting">{board.waiting}</b> en attente</div>'
        f'<div class="big">Attente max <b id="longest" data-wait="{board.longest_wait_seconds}">'
        f'{clock(board.longest_wait_seconds)}</b></div>'
        f'<div class="big">Niveau de service du jour <b id="sl">{percent(board.service_level_today)}</b></div>'
        f'<div id="sync">{sync}</div></section>'
        '<table class="queues"><thead><tr><th>File</th><th>En attente</th><th>Attente max</th>'
        '<th>Attente prévue</th><th>Lignes libres</th><th>NS du jour</th><th>Appelants</th></tr></thead>'
        f'<tbody id="queue-rows">{"".join(rows)}</tbody></table>'
        f'<div id="partners" class="partners">{"".join(partners)}</div></div>'
    )


def wallboard_page(board: Wallboard, hotline_name: str, user: PageUser, csrf: str) -> str:
    body = json_script("labels", STATUS_LABELS) + wallboard_body(board)
    return layout(f"Tableau mural — {hotline_name}", body, user=user, csrf=csrf,
                  scripts=["common.js", "wallboard.js"], page_class="wall")


# --- advisor -------------------------------------------------------------------------------
def screen_body(pop: ScreenPop) -> str:
    status = (f'<p class="line-status st-{e(pop.line_status)}">Ligne <b>{e(pop.line)}</b> : '
              f'<span id="line-status">{e(STATUS_LABELS.get(pop.line_status, pop.line_status))}</span></p>')
    if pop.call_state is None:
        return status + '<p id="no-call" class="idle">Aucun appel en cours sur cette ligne.</p>'
    state = "Appel entrant" if pop.call_state == "ringing" else "En communication"
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
        + (f' — file {e(pop.queue)}' if pop.queue else "") + "</h2>"
        + f'<p class="who"><span id="caller-number">{e(pop.number)}</span> '
        + f'<span id="caller-clid">{e(pop.clid)}</span></p>'
        + f'<table id="answers">{answers or "<tr><td>Pas de réponse au menu</td></tr>"}</table>'
        + f'<h3>Appels précédents : <span id="earlier-count">{len(pop.earlier_calls)}</span></h3>'
        + (f'<p>{outcomes}</p><table class="earlier"><tr><th>Date</th><th>Issue</th><th>Partenaire</th>'
           f'<th>Besoin</th><th>Secteur</th></tr>{earlier}</table>' if pop.earlier_calls else "")
        + f'</section><section id="memo"><h2>Mémo</h2>{memo or "<p>Aucune section pour ce profil.</p>"}</section>'
    )


def advisor_page(pop: ScreenPop | None, line: str | None, lines: Sequence[str], user: PageUser, csrf: str) -> str:
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
        f'<select id="pause-reason">{reasons}</select><button data-action="pause">Pause</button>'
        '<button data-action="unpause">Reprendre</button><span id="action-result" role="status"></span></section>'
    )
    body = (picker + actions + json_script("labels", {"status": STATUS_LABELS, "outcome": OUTCOME_LABELS})
            + f'<div id="screen" data-line="{e(line)}">{screen_body(pop)}</div>')
    return layout(f"Poste {line}", body, user=user, csrf=csrf, scripts=["common.js", "advisor.js"])


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


# --- reports -------------------------------------------------------------------------------
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


KPI_COLUMNS: Final = (
    ("calls", "Appels"), ("offered", "Présentés"), ("answered", "Répondus"),
    ("service_level_inclusive", "NS"), ("asa_seconds", "ASA (s)"), ("aht_seconds", "DMT (s)"),
    ("abandonment_rate", "Abandons"), ("occupancy", "Occupation"),
)


def _kpi_cell(name: str, value: object) -> str:
    if value is None:
        return "—"
    if name in ("service_level_inclusive", "abandonment_rate", "occupancy") and isinstance(value, float):
        return percent(value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return e(value)


def _kpi_table(rows: Mapping[str, Kpis]) -> str:
    head = "".join(f"<th>{e(label)}</th>" for _, label in KPI_COLUMNS)
    body = "".join(
        f"<tr><th>{e(key)}</th>" + "".join(f"<td>{_kpi_cell(n, getattr(k, n))}</td>" for n, _ in KPI_COLUMNS)
        + "</tr>" for key, k in rows.items()
    )
    return f'<table class="kpi"><tr><th></th>{head}</tr>{body}</table>'


def reports_page(report: ReportView, user: PageUser, csrf: str) -> str:
    first, last = report.first.isoformat(), report.last.isoformat()
    series = ("répondus", "abandonnés en file", "autres")

    def split(v: Volume) -> list[tuple[str, float]]:
        return [(series[0], v.answered), (series[1], v.abandoned_in_queue),
                (series[2], v.calls - v.answered - v.abandoned_in_queue)]

    days = _bar_chart("Appels par jour", [(d, split(v)) for d, v in report.by_day.items()])
    sl = _bar_chart("Niveau de service par partenaire",
                    [(p, [("NS", k.service_level_answered or 0.0)]) for p, k in report.by_partner.items()],
                    unit="%", max_value=1.0)
    day_rows = "".join(
        f"<tr><th>{e(d)}</th><td>{v.calls}</td><td>{v.answered}</td><td>{v.abandoned_in_queue}</td>"
        f"<td>{v.abandoned_in_ivr}</td><td>{v.closed}</td><td>{v.no_input + v.invalid}</td></tr>"
        for d, v in report.by_day.items()
    )
    body = (
        '<form method="get" action="/reports" class="window">'
        f'<label>Du <input type="date" name="from" value="{e(first)}"></label>'
        f'<label>au <input type="date" name="to" value="{e(last)}"></label><button type="submit">Afficher</button>'
        f'<a class="csv" href="/api/reports.csv?from={e(first)}&amp;to={e(last)}">Export CSV</a></form>'
        f'<h2>Ensemble</h2>{_kpi_table({"toutes": report.overall})}'
        f'<h2>Par jour</h2>{_legend(series)}{days}'
        '<table class="days"><tr><th>Jour</th><th>Appels</th><th>Répondus</th><th>Abandons file</th>'
        f'<th>Abandons menu</th><th>Fermé</th><th>Erreurs/blagues</th></tr>{day_rows}</table>'
        f'<h2>Par partenaire</h2>{sl}{_kpi_table(report.by_partner)}'
        f'<h2>Par file</h2>{_kpi_table(report.by_queue)}'
        '<p class="note">Définitions : <a href="/api/kpi/definitions">formules exactes</a>. '
        f'NS = répondus sous {report.settings.service_level_seconds} s.</p>'
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


def rules_page(hotline: Hotline, history: Sequence[Mapping[str, object]], user: PageUser, csrf: str,
               *, apply_available: bool) -> str:
    skills = sorted(hotline.menu.skill_keys())
    head = "".join(f"<th>{e(p.id)}</th>" for p in hotline.partners)
    skill_rows = "".join(
        f"<tr><th>{e(skill)}</th>" + "".join(
            f"<td>{_input(f'partners[{i}].skills.{skill}', p.skills.get(skill), 'skill', size=1)}</td>"
            for i, p in enumerate(hotline.partners)) + "</tr>"
        for skill in skills
    )
    partner_rows = "".join(
        f"<tr><th>{e(p.id)}</th><td>{e(p.name)}</td><td>{_input(f'partners[{i}].lines', p.lines)}</td>"
        f"<td>{_input(f'partners[{i}].wrapup_seconds', p.wrapup_seconds)}</td></tr>"
        for i, p in enumerate(hotline.partners)
    )
    q = hotline.queues
    policy = "".join(
        f"<tr><th>{e(name)}</th><td>{_input(f'queues.{name}', getattr(q, name), kind, size=10)}</td></tr>"
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
        f"<h4>{e(day)}</h4>" + _list(
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
    hist = "".join(
        "<tr>" + "".join(f"<td>{e(row.get(k))}</td>" for k in
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
        + f'<h2>Files</h2><table>{policy}</table><h3>Élargissement (queuerules)</h3>{escalation}'
        + f'<h2>Horaires</h2>{week}<h3>Fermetures exceptionnelles</h3>{closures}'
        + '<div class="buttons"><button type="button" id="preview">Vérifier et voir les changements</button>'
        + '<button type="button" id="apply" disabled>Appliquer</button>'
        + '<button type="button" id="rollback">Revenir à la version précédente</button></div>'
        + '<h2>Changements</h2><pre id="diff"></pre><p id="apply-result" role="status"></p>'
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
