"""The supervisors' "Rappels" page: callbacks and J+8 follow-ups (due, in flight, failed, by
partner), the success rate, and cancel / retry / reassign controls (``callbacks.js`` posts to
``/api/callbacks/{id}/...``, the same store functions as ``aiguilleur callbacks``). Pure: the
markup is ``templates/callbacks.html``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from web.pages import PageUser, frame
from web.templating import render

STATUS_LABELS: Final = {
    "pending": "à appeler", "no_answer": "à rappeler (pas de réponse)", "dialling": "en cours",
    "connected": "en communication", "done": "abouti", "failed": "échec", "cancelled": "annulé",
}
KIND_LABELS: Final = {"callback": "Rappel", "followup": "Suivi J+8"}
GROUPS: Final = (("Dus", ("pending", "no_answer")), ("En cours", ("dialling", "connected")), ("Échecs", ("failed",)),
                 ("Aboutis", ("done",)), ("Annulés", ("cancelled",)))


@dataclass(frozen=True)
class ListedCallback:
    id: str
    kind: str
    status: str
    partner: str | None
    number: str
    tries: int
    next_try_at: dt.datetime | None
    reason: str | None
    last_result: str | None
    outcome: str | None


def success_rate(counts: Mapping[tuple[str, str], int], kind: str) -> float | None:
    """Done / (done + failed) for one kind (None: none ended)."""
    done, failed = counts.get((kind, "done"), 0), counts.get((kind, "failed"), 0)
    return done / (done + failed) if done + failed else None


def _when(at: dt.datetime | None) -> str:
    return at.isoformat(timespec="minutes").replace("T", " ")[:16] if at else "—"


@dataclass(frozen=True)
class _Rate:
    label: str
    total: int
    done: int
    failed: int
    success: float | None


def callbacks_page(rows: Sequence[ListedCallback], counts: Mapping[tuple[str, str], int], partners: Sequence[str],
                   user: PageUser, csrf: str) -> str:
    rates = [_Rate(label, sum(n for (k, _), n in counts.items() if k == kind), counts.get((kind, "done"), 0),
                   counts.get((kind, "failed"), 0), success_rate(counts, kind)) for kind, label in KIND_LABELS.items()]
    by_partner: dict[str, int] = {}
    for c in rows:
        if c.status in ("pending", "no_answer", "dialling", "connected"):
            by_partner[c.partner or "selon le profil"] = by_partner.get(c.partner or "selon le profil", 0) + 1
    groups = [(title, [c for c in rows if c.status in statuses]) for title, statuses in GROUPS]
    return render(
        "callbacks.html", **frame("Rappels et suivis J+8", user=user, csrf=csrf, scripts=["common.js", "callbacks.js"]),
        rates=rates, by_partner=sorted(by_partner.items()), groups=groups, partners=partners, when=_when,
        kind_labels=KIND_LABELS, status_labels=STATUS_LABELS,
    )
