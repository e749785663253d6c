"""Supervisors' call search: find calls by day, number, partner, outcome and IVR answers, see one
call's whole story (its record, the queue_log lines of its path, its callbacks) and export the list
as a spreadsheet. The queries and the pages; the handlers are in ``web.routes.calls``.

Every value shown comes from a caller or an advisor at some point (names, numbers, notes): the
pages escape it all (``templates/calls.html`` and ``call.html``, autoescaped), the export cannot
start a formula (``cdr.spreadsheet``).
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
from web.pages import PageUser, frame
from web.screen import OUTCOME_LABELS, STEP_LABELS
from web.templating import render
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
def _form_context(query: CallQuery, first: dt.date, last: dt.date, hotline: Hotline) -> dict[str, Any]:
    labels = answer_labels(hotline)
    chosen = query.filters
    selects = [("outcome", "Issue", OUTCOME_LABELS, chosen.get("outcome")),
               ("partner", "Partenaire", {p.id: p.name for p in hotline.partners}, chosen.get("partner")),
               *((a, STEP_LABELS[a], labels.get(a, {}), chosen.get(a)) for a in ANSWERS)]
    return {"first": first.isoformat(), "last": last.isoformat(), "number": chosen.get("number", ""),
            "selects": selects}


def search_form(query: CallQuery, first: dt.date, last: dt.date, hotline: Hotline) -> str:
    return render("search_form.html", **_form_context(query, first, last, hotline))


def calls_page(rows: Sequence[Mapping[str, Any]], query: CallQuery, first: dt.date, last: dt.date,
               hotline: Hotline, user: PageUser, csrf: str, export_href: str, more_href: str | None) -> str:
    """The search form, the calls found (each links to its story) and the export."""
    tz = ZoneInfo(hotline.hours.timezone)
    labels = answer_labels(hotline)
    partners = {p.id: p.name for p in hotline.partners}
    calls = [{
        "linkedid": r["linkedid"], "start": _when(r["start"], tz), "src": r["src"], "clid": r["clid"],
        "answers": " · ".join(_label(labels.get(a, {}), r[a]) for a in ANSWERS if r[a]),
        "partner": _label(partners, r["partner"]), "line": r["line"] or "", "wait": _seconds(r["wait_seconds"]),
        "outcome": _label(OUTCOME_LABELS, r["outcome"]), "degraded": r["degraded"],
        "outbound": r["direction"] == "outbound",
    } for r in rows]
    return render("calls.html", **frame("Recherche d'appels", user=user, csrf=csrf),
                  **_form_context(query, first, last, hotline), calls=calls, export_href=export_href,
                  more_href=more_href)


def call_page(story: CallStory, hotline: Hotline, user: PageUser, csrf: str) -> str:
    """One call's story: what the caller answered, where they went, what happened, in order."""
    tz = ZoneInfo(hotline.hours.timezone)
    labels = answer_labels(hotline)
    partners = {p.id: p.name for p in hotline.partners}
    short = short_names(hotline.partners)
    records = []
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
        records.append((r["linkedid"], facts))
    timeline = [{"time": _when(q["time"], tz), "queue": q["queuename"],
                 "event": QUEUE_LOG_LABELS.get(q["event"], q["event"]),
                 "agent": q["agent"], "agent_shown": q["agent"] not in ("NONE", ""), "data": q["data"]}
                for q in story.queue_log]
    callbacks = [{"kind": "suivi J+8" if c.get("kind") == "followup" else "rappel", "status": c["status"],
                  "tries": c.get("tries"), "outcome": c.get("outcome")} for c in story.callbacks]
    tries = [{"linkedid": t["linkedid"], "start": _when(t["start"], tz),
              "outcome": _label(OUTCOME_LABELS, t["outcome"])} for t in story.tries]
    return render("call.html", **frame("Un appel", user=user, csrf=csrf), records=records, timeline=timeline,
                  callbacks=callbacks, tries=tries)
