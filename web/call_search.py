"""Supervisors' call search: find calls by day, number, partner, outcome and IVR answers, see one
call's whole story (its record, the queue_log lines of its path, its callbacks) and export the list
as a spreadsheet. The queries and the pages; the handlers are in ``web.app``.

Every value shown comes from a caller or an advisor at some point (names, numbers, notes): the
pages escape it all (``web.pages.e``), the export cannot start a formula (``cdr.spreadsheet``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from zoneinfo import ZoneInfo

import asyncpg

from cdr.spreadsheet import spreadsheet_csv
from config.models import Hotline
from web.pages import PageUser, e, layout
from web.screen import OUTCOME_LABELS, STEP_LABELS
from web.wallboard import queue_label, short_names

FILTERS: Final = ("number", "outcome", "partner", "need", "sector", "size", "departement")
ANSWERS: Final = ("need", "sector", "size", "departement")
PAGE_SIZE: Final = 100
MAX_ROWS: Final = 10_000  # the most an export holds
LIST_COLUMNS: Final = (
    "linkedid", "start", "src", "clid", "need", "sector", "size", "departement", "ivr_exit", "queue", "line",
    "partner", "wait_seconds", "talk_seconds", "outcome", "degraded", "callback_requested", "transfer_partner",
    "wrapup_code", "direction",
)
EXIT_LABELS: Final = {
    "completed": "menu complet", "same_partner": "même partenaire", "advisor": "conseiller demandé (0)",
    "closed": "fermé", "no_input": "sans réponse", "invalid": "choix invalides", "hangup": "raccroché",
    "degraded": "mode dégradé",
}
QUEUE_LOG_LABELS: Final = {
    "ENTERQUEUE": "entre dans la file", "RINGNOANSWER": "sonne sans réponse", "CONNECT": "répond",
    "COMPLETECALLER": "fin (l'appelant raccroche)", "COMPLETEAGENT": "fin (le conseiller raccroche)",
    "ABANDON": "raccroche en attente", "EXITWITHTIMEOUT": "attente trop longue", "EXITEMPTY": "file vide",
    "BLINDTRANSFER": "transfert direct", "ATTENDEDTRANSFER": "transfert accompagné", "RINGCANCELED": "sonnerie annulée",
    "PAUSE": "pause", "UNPAUSE": "fin de pause", "ADDMEMBER": "connexion", "REMOVEMEMBER": "déconnexion",
}


class BadSearch(ValueError):
    """A filter the search refuses (the message says which and what is allowed)."""


@dataclass(frozen=True)
class CallQuery:
    """A search: calls that started in [start, end), every given filter matching (``number``: a part
    of the caller's number), newest first."""

    start: dt.datetime
    end: dt.datetime
    filters: Mapping[str, str] = field(default_factory=dict)
    limit: int = PAGE_SIZE
    offset: int = 0

    @classmethod
    def parse(cls, start: dt.datetime, end: dt.datetime, query: Mapping[str, str], *, limit: int = PAGE_SIZE,
              ) -> CallQuery:
        """From a request's query string; ``BadSearch`` names the bad field."""
        filters: dict[str, str] = {}
        for name in FILTERS:
            value = query.get(name, "").strip()
            if not value:
                continue
            if len(value) > 64 or "\x00" in value:
                raise BadSearch(f"{name}: text of at most 64 characters")
            if name == "number" and not value.replace("+", "").isdigit():
                raise BadSearch("number: digits (a part of the caller's number)")
            filters[name] = value
        try:
            offset = int(query.get("offset", "0") or "0")
        except ValueError:
            raise BadSearch("offset: a whole number") from None
        if offset < 0 or offset > MAX_ROWS:
            raise BadSearch(f"offset: from 0 to {MAX_ROWS}")
        return cls(start, end, filters, limit, offset)

    def where(self) -> tuple[str, list[object]]:
        """The SQL condition and its arguments ($1, $2... in order)."""
        args: list[object] = [self.start, self.end]
        clauses = ["start >= $1", "start < $2"]
        for name, value in self.filters.items():
            args.append(value)
            if name == "number":
                clauses.append(f"strpos(src, ${len(args)}) > 0")
            else:
                clauses.append(f"{name} = ${len(args)}")
        return " AND ".join(clauses), args


async def search_calls(pool: asyncpg.Pool, query: CallQuery) -> list[dict[str, Any]]:
    """The calls the query finds, newest first (``limit`` from ``offset``)."""
    where, args = query.where()
    rows = await pool.fetch(
        f"SELECT {', '.join(LIST_COLUMNS)} FROM cdr WHERE {where} ORDER BY start DESC, linkedid "
        f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}", *args, query.limit, query.offset)
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class CallStory:
    """One call: its record(s) (one per node that saw it), the queue_log lines of its path in time
    order, the callbacks it asked for and their tries."""

    records: list[dict[str, Any]]
    queue_log: list[dict[str, Any]]
    callbacks: list[dict[str, Any]]
    tries: list[dict[str, Any]]


async def call_story(pool: asyncpg.Pool, linkedid: str) -> CallStory | None:
    """None when no record has this linkedid."""
    records = [dict(r) for r in await pool.fetch("SELECT * FROM cdr WHERE linkedid = $1 ORDER BY start", linkedid)]
    if not records:
        return None
    tries = [dict(r) for r in await pool.fetch(
        "SELECT * FROM cdr WHERE callback_of = $1 ORDER BY start", linkedid)]
    # The caller's channel is the queue_log's callid; a callback try's is its own uniqueid.
    callids = sorted({r["uniqueid"] for r in records} | {r["uniqueid"] for r in tries})
    queue_log = [dict(r) for r in await pool.fetch(
        """SELECT time, callid, queuename, agent, event, data FROM queue_log
           WHERE callid = ANY($1::text[]) ORDER BY time, id""", callids)]
    callbacks = [dict(r) for r in await pool.fetch(
        "SELECT * FROM callbacks WHERE linkedid = $1 ORDER BY requested_at", linkedid)]
    return CallStory(records, queue_log, callbacks, tries)


# --- labels ------------------------------------------------------------------------------------
def answer_labels(hotline: Hotline) -> dict[str, dict[str, str]]:
    """Each menu step's answer values and what the caller heard (``sector`` -> ``crafts`` -> "artisanat")."""
    return {step.id: {o.value: o.label for o in step.options} for step in hotline.menu.steps}


def _when(value: dt.datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%d/%m/%Y %H:%M:%S") if value is not None else ""


def _seconds(value: int | None) -> str:
    return "" if value is None else f"{value} s"


def _label(labels: Mapping[str, str], value: str | None) -> str:
    return "" if value is None else labels.get(value, value)


# --- export ------------------------------------------------------------------------------------
CSV_HEADER: Final = ("Appel", "Début", "Numéro", "Appelant", "Besoin", "Secteur", "Taille", "Département",
                     "Sortie du menu", "File", "Ligne", "Partenaire", "Attente (s)", "Conversation (s)",
                     "Issue", "Mode dégradé", "Rappel demandé", "Transféré à", "Code de post-appel", "Sens")


def calls_csv(rows: Sequence[Mapping[str, Any]], hotline: Hotline) -> str:
    """The list as a spreadsheet (``cdr.spreadsheet``): French labels, local times."""
    tz = ZoneInfo(hotline.hours.timezone)
    labels = answer_labels(hotline)
    partners = {p.id: p.name for p in hotline.partners}
    return spreadsheet_csv(CSV_HEADER, (
        (r["linkedid"], r["start"].astimezone(tz).replace(tzinfo=None), r["src"], r["clid"],
         *(_label(labels.get(a, {}), r[a]) for a in ANSWERS), _label(EXIT_LABELS, r["ivr_exit"]), r["queue"],
         r["line"], _label(partners, r["partner"]), r["wait_seconds"], r["talk_seconds"],
         _label(OUTCOME_LABELS, r["outcome"]), r["degraded"], r["callback_requested"],
         _label(partners, r["transfer_partner"]), r["wrapup_code"],
         "rappel" if r["direction"] == "outbound" else "entrant")
        for r in rows))


# --- pages -------------------------------------------------------------------------------------
def _options(name: str, choices: Mapping[str, str], chosen: str | None) -> str:
    items = "".join(f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(label)}</option>'
                    for v, label in choices.items())
    return f'<select name="{e(name)}" id="f-{e(name)}"><option value="">(tous)</option>{items}</select>'


def search_form(query: CallQuery, first: dt.date, last: dt.date, hotline: Hotline) -> str:
    labels = answer_labels(hotline)
    chosen = query.filters
    partners = {p.id: p.name for p in hotline.partners}
    def field(name: str, label: str, control: str) -> str:
        return f'<div class="field"><label for="f-{name}">{e(label)}</label>{control}</div>'

    fields = [
        field("from", "Du", f'<input type="date" id="f-from" name="from" value="{first.isoformat()}">'),
        field("to", "Au", f'<input type="date" id="f-to" name="to" value="{last.isoformat()}">'),
        field("number", "Numéro", f'<input id="f-number" name="number" inputmode="tel" '
                                  f'value="{e(chosen.get("number", ""))}">'),
        field("outcome", "Issue", _options("outcome", OUTCOME_LABELS, chosen.get("outcome"))),
        field("partner", "Partenaire", _options("partner", partners, chosen.get("partner"))),
        *(field(a, STEP_LABELS[a], _options(a, labels.get(a, {}), chosen.get(a))) for a in ANSWERS),
    ]
    return f'<form method="get" action="/appels" class="window search">{"".join(fields)}' \
           '<button type="submit">Chercher</button></form>'


def calls_page(rows: Sequence[Mapping[str, Any]], query: CallQuery, first: dt.date, last: dt.date,
               hotline: Hotline, user: PageUser, csrf: str, export_href: str, more_href: str | None) -> str:
    """The search form, the calls found (each links to its story) and the export."""
    tz = ZoneInfo(hotline.hours.timezone)
    labels = answer_labels(hotline)
    partners = {p.id: p.name for p in hotline.partners}
    body_rows = "".join(
        f'<tr><td><a href="/appels/{e(r["linkedid"])}">{e(_when(r["start"], tz))}</a></td>'
        f'<td>{e(r["src"])}</td><td>{e(r["clid"])}</td>'
        f'<td>{e(" · ".join(_label(labels.get(a, {}), r[a]) for a in ANSWERS if r[a]))}</td>'
        f'<td>{e(_label(partners, r["partner"]))}</td><td>{e(r["line"] or "")}</td>'
        f'<td>{e(_seconds(r["wait_seconds"]))}</td><td>{e(_label(OUTCOME_LABELS, r["outcome"]))}'
        f'{" (dégradé)" if r["degraded"] else ""}{" · rappel" if r["direction"] == "outbound" else ""}</td></tr>'
        for r in rows)
    found = (
        '<table class="kpi calls"><caption>Appels trouvés, les plus récents d\'abord</caption><tr>'
        '<th scope="col">Début</th><th scope="col">Numéro</th><th scope="col">Appelant</th>'
        '<th scope="col">Réponses au menu</th><th scope="col">Partenaire</th><th scope="col">Ligne</th>'
        f'<th scope="col">Attente</th><th scope="col">Issue</th></tr>{body_rows}</table>'
        if rows else '<p class="note" id="no-calls">Aucun appel ne correspond.</p>')
    more = f'<p><a href="{e(more_href)}" id="more">Appels plus anciens</a></p>' if more_href else ""
    export = f'<p><a class="csv" id="export" href="{e(export_href)}">Exporter (tableur)</a></p>'
    return layout("Recherche d'appels", search_form(query, first, last, hotline) + export + found + more,
                  user=user, csrf=csrf)


def call_page(story: CallStory, hotline: Hotline, user: PageUser, csrf: str) -> str:
    """One call's story: what the caller answered, where they went, what happened, in order."""
    tz = ZoneInfo(hotline.hours.timezone)
    labels = answer_labels(hotline)
    partners = {p.id: p.name for p in hotline.partners}
    short = short_names(hotline.partners)
    parts: list[str] = []
    for r in story.records:
        facts = [
            ("Début", _when(r["start"], tz)), ("Fin", _when(r["end"], tz)), ("Numéro", r["src"]),
            ("Appelant", r["clid"]),
            *((STEP_LABELS[a], _label(labels.get(a, {}), r[a])) for a in ANSWERS),
            ("Sortie du menu", _label(EXIT_LABELS, r["ivr_exit"])),
            ("File", queue_label(r["queue"], short, hotline.queues.general_queue) if r["queue"] else ""),
            ("Partenaire", _label(partners, r["partner"])), ("Ligne", r["line"] or ""),
            ("Attente", _seconds(r["wait_seconds"])), ("Conversation", _seconds(r["talk_seconds"])),
            ("Issue", _label(OUTCOME_LABELS, r["outcome"])), ("Mode dégradé", "oui" if r["degraded"] else "non"),
            ("Reconstitué après une panne", "oui" if r["recovered"] else "non"),
            ("Transféré à", _label(partners, r["transfer_partner"]) or (r["transfer_target"] or "")),
            ("Code de post-appel", r.get("wrapup_code") or ""), ("Notes", r.get("wrapup_notes") or ""),
            *((("Nœud", r["node"]),) if "node" in r else ()),
        ]
        rows = "".join(f'<tr><th scope="row">{e(k)}</th><td>{e(v)}</td></tr>' for k, v in facts)
        parts.append(f'<table class="kpi call-facts"><caption>Appel {e(r["linkedid"])}</caption>{rows}</table>')
    timeline = "".join(
        f'<li><time>{e(_when(q["time"], tz))}</time> {e(q["queuename"])} · '
        f'{e(QUEUE_LOG_LABELS.get(q["event"], q["event"]))}'
        f'{" · " + e(q["agent"]) if q["agent"] not in ("NONE", "") else ""}'
        f'{" (" + e(q["data"]) + ")" if q["data"] else ""}</li>' for q in story.queue_log)
    parts.append('<h2>Parcours dans les files</h2>'
                 + (f'<ol class="timeline" id="timeline">{timeline}</ol>' if timeline
                    else '<p class="note">Jamais entré dans une file.</p>'))
    if story.callbacks:
        items = "".join(
            f'<li>{e("suivi J+8" if c.get("kind") == "followup" else "rappel")} : {e(c["status"])}'
            f'{", " + str(c["tries"]) + " essai(s)" if c.get("tries") else ""}'
            f'{" · " + e(c["outcome"]) if c.get("outcome") else ""}</li>' for c in story.callbacks)
        tries = "".join(f'<li><a href="/appels/{e(t["linkedid"])}">{e(_when(t["start"], tz))}</a> : '
                        f'{e(_label(OUTCOME_LABELS, t["outcome"]))}</li>' for t in story.tries)
        parts.append(f'<h2>Rappels</h2><ul id="callbacks">{items}</ul>'
                     + (f'<ul class="tries">{tries}</ul>' if tries else ""))
    back = '<p><a href="/appels">Nouvelle recherche</a></p>'
    return layout("Un appel", back + "".join(parts), user=user, csrf=csrf)
