"""The admins' "Utilisateurs" page: create web accounts, change a role or a line, disable or enable
an account, reset a password; every action audited (``web_audit``, migration 0015). The checks,
the queries and the page; the handlers are in ``web.app``.

A reset password is drawn here and shown once to the admin, who hands it over; it is stored
hashed like any other (``web.passwords``). Disabling an account or resetting its password ends
its open sessions. An admin cannot disable or demote their own account (nobody could undo it).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

import asyncpg

from web.pages import PageUser, e, layout
from web.roles import ROLES

NAME: Final = re.compile(r"[a-z][a-z0-9._-]{1,31}")
ROLE_LABELS: Final = {"advisor": "conseiller", "supervisor": "superviseur", "admin": "administrateur"}
ACTION_LABELS: Final = {"user_created": "compte créé", "user_changed": "compte modifié",
                        "user_disabled": "compte désactivé", "user_enabled": "compte réactivé",
                        "password_reset": "mot de passe réinitialisé", "call_listen": "écoute d'un appel",
                        "call_whisper": "chuchotement au conseiller", "call_barge": "intervention dans un appel"}


class UserInputError(ValueError):
    """A field the page refuses; ``field`` names it, the message says what is allowed (in French)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class AccountChange:
    """What an admin asked for one account (``None``: unchanged)."""

    role: str | None = None
    line: str | None = None
    disabled: bool | None = None


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise UserInputError("name", "identifiant : 2 à 32 caractères, lettres minuscules, chiffres, « . », « _ » "
                                     "ou « - », en commençant par une lettre")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserInputError("role", f"rôle : un de {', '.join(ROLE_LABELS[r] for r in ROLES)}")
    return role


def check_line(role: str, line: str, lines: Sequence[str], supervisor_lines: Sequence[str] = ()) -> str | None:
    """A conseiller needs their partner line; a superviseur or an administrateur may have a
    supervision softphone (to listen to calls), or no line."""
    if not line:
        if role == "advisor":
            raise UserInputError("line", "un conseiller a une ligne (par exemple cma-01)")
        return None
    if role == "advisor" and line not in lines:
        raise UserInputError("line", f"ligne : une ligne de la hotline (par exemple {lines[0]})")
    if role != "advisor" and line not in supervisor_lines:
        raise UserInputError("line", "ligne d'un superviseur : un poste de supervision ("
                                     + (", ".join(supervisor_lines) or "aucun configuré") + ") ou rien")
    return line


def parse_change(form: Mapping[str, str], current_role: str, lines: Sequence[str],
                 supervisor_lines: Sequence[str] = ()) -> AccountChange:
    """The change asked by the account's row of the page (role, line, state)."""
    role = check_role(form.get("role", current_role))
    line = check_line(role, form.get("line", "").strip(), lines, supervisor_lines)
    state = form.get("state", "")
    if state not in ("", "active", "disabled"):
        raise UserInputError("state", "état : actif ou désactivé")
    return AccountChange(role, line, None if not state else state == "disabled")


def temporary_password() -> str:
    """A password to hand over once (16 URL-safe characters: about 96 bits)."""
    return secrets.token_urlsafe(12)


# --- queries -----------------------------------------------------------------------------------
async def audit(conn: asyncpg.Connection | asyncpg.Pool, actor: str, action: str, target: str, detail: str) -> None:
    await conn.execute("INSERT INTO web_audit (actor, action, target, detail) VALUES ($1, $2, $3, $4)",
                       actor, action, target, detail)


async def change_account(pool: asyncpg.Pool, actor: str, name: str, change: AccountChange) -> str | None:
    """Apply ``change`` and audit it; None when no such account. Returns what changed, in words."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT role, line, disabled FROM web_users WHERE name = $1 FOR UPDATE", name)
        if row is None:
            return None
        role = change.role or row["role"]
        disabled = row["disabled"] if change.disabled is None else change.disabled
        line = change.line
        said = [f"rôle {ROLE_LABELS[row['role']]} → {ROLE_LABELS[role]}"] if role != row["role"] else []
        if line != row["line"]:
            said.append(f"ligne {row['line'] or '—'} → {line or '—'}")
        await conn.execute("UPDATE web_users SET role = $2, line = $3, disabled = $4 WHERE name = $1",
                           name, role, line, disabled)
        if said:
            await audit(conn, actor, "user_changed", name, ", ".join(said))
        if disabled != row["disabled"]:
            await audit(conn, actor, "user_disabled" if disabled else "user_enabled", name, "")
            said.append("désactivé" if disabled else "réactivé")
        if disabled or role != row["role"]:
            # a disabled account, or one whose rights changed, logs in again
            await conn.execute("DELETE FROM web_sessions s USING web_users u WHERE s.user_id = u.id AND u.name = $1",
                               name)
        return ", ".join(said) or "rien n'a changé"


async def recent_audit(pool: asyncpg.Pool, limit: int = 100) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(
        "SELECT at, actor, action, target, detail FROM web_audit ORDER BY at DESC, id DESC LIMIT $1", limit)]


# --- the page ----------------------------------------------------------------------------------
def _role_select(name: str, chosen: str) -> str:
    options = "".join(f'<option value="{r}"{" selected" if r == chosen else ""}>{e(ROLE_LABELS[r])}</option>'
                      for r in ROLES)
    return f'<select name="role" id="role-{e(name)}" aria-label="Rôle de {e(name)}">{options}</select>'


def users_page(users: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]], user: PageUser, csrf: str,
               timezone: str, *, message: str = "", error: str = "", shown_password: tuple[str, str] | None = None,
               ) -> str:
    """Every account with its role, line and state (a form per row), the new-account form, the audit."""
    tz = ZoneInfo(timezone)
    hidden = f'<input type="hidden" name="csrf" value="{e(csrf)}">'
    notices = (f'<p class="error" role="alert">{e(error)}</p>' if error else "") + (
        f'<p class="note" role="status">{e(message)}</p>' if message else "")
    if shown_password is not None:
        name, password = shown_password
        notices += (f'<p class="note" role="status" id="temporary-password">Mot de passe provisoire de '
                    f'<strong>{e(name)}</strong> : <code>{e(password)}</code> (affiché une seule fois ; à '
                    'transmettre à la personne, qui le changera)</p>')
    rows = "".join(
        f'<tr><th scope="row">{e(u["name"])}</th><td>'
        f'<form method="post" action="/utilisateurs/{e(u["name"])}" class="inline">{hidden}'
        f'{_role_select(u["name"], u["role"])}'
        f'<input name="line" value="{e(u["line"] or "")}" aria-label="Ligne de {e(u["name"])}" size="8">'
        f'<select name="state" aria-label="État de {e(u["name"])}">'
        f'<option value="active"{"" if u["disabled"] else " selected"}>actif</option>'
        f'<option value="disabled"{" selected" if u["disabled"] else ""}>désactivé</option></select>'
        f'<button type="submit">Enregistrer</button></form></td><td>'
        f'<form method="post" action="/utilisateurs/{e(u["name"])}/mot-de-passe" class="inline">{hidden}'
        f'<button type="submit">Réinitialiser le mot de passe</button></form></td></tr>'
        for u in users)
    table = ('<table class="kpi users"><caption>Comptes</caption><tr><th scope="col">Identifiant</th>'
             f'<th scope="col">Rôle, ligne, état</th><th scope="col">Mot de passe</th></tr>{rows}</table>')
    create = (
        f'<h2>Nouveau compte</h2><form method="post" action="/utilisateurs" class="window">{hidden}'
        '<label for="new-name">Identifiant</label><input id="new-name" name="name" required>'
        '<label for="new-role">Rôle</label><select id="new-role" name="role">'
        + "".join(f'<option value="{r}">{e(ROLE_LABELS[r])}</option>' for r in ROLES)
        + '</select><label for="new-line">Ligne (conseillers)</label><input id="new-line" name="line" size="8">'
        '<button type="submit">Créer</button></form>'
        '<p class="note">Le compte reçoit un mot de passe provisoire, affiché une fois ici.</p>'
    )
    audit_rows = "".join(
        f'<tr><td>{e(a["at"].astimezone(tz).strftime("%d/%m/%Y %H:%M:%S"))}</td><td>{e(a["actor"])}</td>'
        f'<td>{e(ACTION_LABELS.get(a["action"], a["action"]))}</td><td>{e(a["target"])}</td>'
        f'<td>{e(a["detail"])}</td></tr>' for a in history)
    journal = ('<h2>Journal</h2>' + (
        '<table class="kpi audit" id="audit"><tr><th scope="col">Quand</th><th scope="col">Par</th>'
        f'<th scope="col">Action</th><th scope="col">Compte</th><th scope="col">Détail</th></tr>{audit_rows}</table>'
        if history else '<p class="note">Aucune action enregistrée.</p>'))
    return layout("Utilisateurs", notices + table + create + journal, user=user, csrf=csrf)

