"""The supervisors' "Rappels" page: callbacks and J+8 follow-ups (due, in flight, failed, by
partner), the success rate, and cancel / retry / reassign controls (``callbacks.js`` posts to
``/api/callbacks/{id}/...``, the same store functions as ``aiguilleur callbacks``). Pure HTML."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from web.pages import PageUser, e, layout, percent

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


def _row(c: ListedCallback, partners: Sequence[str]) -> str:
    actions = ""
    if c.status in ("pending", "no_answer"):
        actions += f'<button type="button" data-action="cancel" data-id="{e(c.id)}">Annuler</button>'
    if c.status in ("pending", "no_answer", "failed", "cancelled"):
        options = "".join(f'<option value="{e(p)}"{" selected" if p == c.partner else ""}>{e(p)}</option>'
                          for p in partners)
        actions += (
            f'<button type="button" data-action="retry" data-id="{e(c.id)}">Relancer</button>'
            f'<label>Réaffecter à <select data-partner-for="{e(c.id)}" aria-label="Partenaire pour {e(c.id)}">'
            f'<option value="">(selon le profil)</option>{options}</select></label>'
            f'<button type="button" data-action="reassign" data-id="{e(c.id)}">Réaffecter</button>'
        )
    return (f'<tr><td>{e(KIND_LABELS.get(c.kind, c.kind))}</td><td>{e(c.id)}</td><td>{e(c.number)}</td>'
            f'<td>{e(c.partner or "selon le profil")}</td><td>{e(STATUS_LABELS.get(c.status, c.status))}</td>'
            f'<td>{c.tries}</td><td>{e(_when(c.next_try_at))}</td><td>{e(c.last_result or "—")}</td>'
            f'<td>{e(c.outcome or "—")}</td><td class="actions">{actions}</td></tr>')


def callbacks_page(rows: Sequence[ListedCallback], counts: Mapping[tuple[str, str], int], partners: Sequence[str],
                   user: PageUser, csrf: str) -> str:
    rates = "".join(
        f'<tr><th>{e(label)}</th><td>{sum(n for (k, _), n in counts.items() if k == kind)}</td>'
        f'<td>{counts.get((kind, "done"), 0)}</td><td>{counts.get((kind, "failed"), 0)}</td>'
        f'<td>{percent(success_rate(counts, kind))}</td></tr>' for kind, label in KIND_LABELS.items())
    by_partner: dict[str, int] = {}
    for c in rows:
        if c.status in ("pending", "no_answer", "dialling", "connected"):
            by_partner[c.partner or "selon le profil"] = by_partner.get(c.partner or "selon le profil", 0) + 1
    partner_rows = "".join(f"<tr><th>{e(p)}</th><td>{n}</td></tr>" for p, n in sorted(by_partner.items()))
    head = ("<tr><th>Type</th><th>Identifiant</th><th>Numéro</th><th>Partenaire</th><th>État</th><th>Essais</th>"
            "<th>Prochain essai</th><th>Dernier résultat</th><th>Issue</th><th>Actions</th></tr>")
    sections = ""
    for title, statuses in GROUPS:
        group = [c for c in rows if c.status in statuses]
        body = "".join(_row(c, partners) for c in group) or '<tr><td colspan="10">Aucun.</td></tr>'
        sections += f'<h2>{e(title)} ({len(group)})</h2><table class="callbacks">{head}{body}</table>'
    body = (
        '<p id="callback-result" role="status"></p>'
        '<h2>Taux de réussite</h2><table class="kpi"><tr><th></th><th>Total</th><th>Aboutis</th><th>Échecs</th>'
        f'<th>Réussite (aboutis / terminés)</th></tr>{rates}</table>'
        '<h2>À appeler ou en cours, par partenaire</h2>'
        f'<table class="kpi"><tr><th>Partenaire</th><th>Nombre</th></tr>{partner_rows}</table>'
        + sections
    )
    return layout("Rappels et suivis J+8", body, user=user, csrf=csrf, scripts=["common.js", "callbacks.js"])
