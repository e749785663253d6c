"""The admin's "Échecs de connexion" page: failed web logins (who was tried, from where, when,
why), counted per name and per client address, from ``login_failures``. Pure; the markup is
``templates/login_failures.html``, where every value, typed by a stranger or not (the name, the
browser's User-Agent), is escaped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final
from zoneinfo import ZoneInfo

from web.pages import PageUser, frame
from web.templating import render

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
    return render(
        "login_failures.html", **frame("Échecs de connexion", user=user, csrf=csrf),
        rows=rows, by_name=by_name, by_address=by_address, hours=hours, when=lambda value: _when(value, tz),
        reason_labels=REASON_LABELS, client_labels=CLIENT_LABELS,
    )
