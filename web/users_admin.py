"""The admins' "Utilisateurs" page: create web accounts, change a role or a line, disable or enable
an account, reset a password; every action audited (``web_audit``, migration 0015). The checks,
the queries and the page; the handlers are in ``web.routes.users``.

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

from web.pages import PageUser, frame
from web.roles import ROLES
from web.templating import render

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
def users_page(users: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]], user: PageUser, csrf: str,
               timezone: str, *, message: str = "", error: str = "", shown_password: tuple[str, str] | None = None,
               ) -> str:
    """Every account with its role, line and state (a form per row), the new-account form, the audit."""
    tz = ZoneInfo(timezone)
    return render(
        "users.html", **frame("Utilisateurs", user=user, csrf=csrf),
        users=users, history=history, message=message, error=error, shown_password=shown_password,
        roles=ROLES, role_labels=ROLE_LABELS, action_labels=ACTION_LABELS,
        when=lambda at: at.astimezone(tz).strftime("%d/%m/%Y %H:%M:%S"),
    )

