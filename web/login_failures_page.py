"""The admin's "Échecs de connexion" page: failed web logins (who was tried, from where, when,
why), counted per name and per client address, from ``login_failures``. Pure HTML; every value
typed by a stranger (the name, the browser's User-Agent) is escaped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final
from zoneinfo import ZoneInfo

from web.pages import PageUser, e, layout

REASON_LABELS: Final = {"unknown_name": "identifiant inconnu", "bad_password": "mauvais mot de passe",
                        "disabled": "compte désactivé"}
CLIENT_LABELS: Final = {"form": "page de connexion", "api": "API"}


def _when(value: dt.datetime, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%d/%m/%Y %H:%M:%S")


def login_failures_page(
    rows: Sequence[Mapping[str, Any]], by_name: Sequence[Mapping[str, Any]], by_address: Sequence[Mapping[str, Any]],
    hours: int, timezone: str, user: PageUser, csrf: str,
) -> str:
    tz = ZoneInfo(timezone)
    names = "".join(
        f'<tr><th scope="row">{e(r["name"])}</th><td>{"oui" if r["account_exists"] else "non"}</td>'
        f'<td>{r["failures"]}</td><td>{r["addresses"]}</td><td>{e(_when(r["last"], tz))}</td></tr>' for r in by_name)
    addresses = "".join(
        f'<tr><th scope="row">{e(r["address"])}</th><td>{r["failures"]}</td><td>{r["names"]}</td>'
        f'<td>{e(_when(r["last"], tz))}</td></tr>' for r in by_address)
    latest = "".join(
        f'<tr><td>{e(_when(r["at"], tz))}</td><td>{e(r["name"])}</td><td>{e(r["address"])}</td>'
        f'<td>{e(REASON_LABELS.get(r["reason"], r["reason"]))}</td><td>{e(CLIENT_LABELS.get(r["client"], r["client"]))}'
        f'</td><td class="ua">{e(r["user_agent"])}</td></tr>' for r in rows)
    none = '<p class="note">Aucun échec de connexion sur cette période.</p>'
    body = (
        '<form method="get" action="/connexions" class="window"><label>Sur les '
        f'<input type="number" name="hours" min="1" max="2160" value="{hours}"> dernières heures</label>'
        '<button type="submit">Afficher</button></form>'
        '<p class="note">Après quelques échecs, chaque nouvel essai doit attendre de plus en plus longtemps, '
        'par identifiant et par adresse ; personne n\'est bloqué. Seuls les essais vérifiés sont listés.</p>'
        '<h2>Par identifiant</h2>'
        + (f'<table class="kpi failures-names"><tr><th scope="col">Identifiant</th><th scope="col">Compte existant</th>'
           f'<th scope="col">Échecs</th><th scope="col">Adresses</th><th scope="col">Dernier</th></tr>{names}</table>'
           if by_name else none)
        + '<h2>Par adresse</h2>'
        + (f'<table class="kpi failures-addresses"><tr><th scope="col">Adresse</th><th scope="col">Échecs</th>'
           f'<th scope="col">Identifiants essayés</th><th scope="col">Dernier</th></tr>{addresses}</table>'
           if by_address else none)
        + '<h2>Derniers échecs</h2>'
        + (f'<table class="kpi failures-latest"><tr><th scope="col">Quand</th><th scope="col">Identifiant</th>'
           f'<th scope="col">Adresse</th><th scope="col">Motif</th><th scope="col">Depuis</th>'
           f'<th scope="col">Navigateur</th></tr>{latest}</table>' if rows else none)
    )
    return layout("Échecs de connexion", body, user=user, csrf=csrf)
