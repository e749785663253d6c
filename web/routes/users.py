"""Accounts, for the admins: the users page (create, change, reset a password) and the users API.

The checks, the audit trail and the page are in ``web.users_admin``.
"""

from __future__ import annotations

import asyncio
from typing import Final

from aiohttp import web

from web import store, users_admin
from web.deps import deps_of, hotline_of, page_user, session_of
from web.http import ApiError, RouteSpec, html_answer, json_answer, no_nul, ok
from web.openapi import ApiDoc, array, ref
from web.passwords import hash_password
from web.security import CSRF_FIELD


async def api_users(request: web.Request) -> web.StreamResponse:
    return json_answer(await store.list_users(deps_of(request).pool))


async def _users_page(request: web.Request, status: int = 200, *, message: str = "", error: str = "",
                      shown_password: tuple[str, str] | None = None) -> web.Response:
    pool = deps_of(request).pool
    users, history = await store.list_users(pool), await users_admin.recent_audit(pool)
    return html_answer(users_admin.users_page(users, history, page_user(request), session_of(request).csrf,
                                              hotline_of(request).hours.timezone, message=message, error=error,
                                              shown_password=shown_password), status)


async def _user_form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: v[:200] for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD and no_nul(v)}


def _line_names(request: web.Request) -> list[str]:
    return [line for line, _ in hotline_of(request).lines()]


async def page_users(request: web.Request) -> web.StreamResponse:
    return await _users_page(request)


async def page_user_create(request: web.Request) -> web.StreamResponse:
    form = await _user_form(request)
    try:
        name = users_admin.check_name(form.get("name", "").strip())
        role = users_admin.check_role(form.get("role", ""))
        line = users_admin.check_line(role, form.get("line", "").strip(), _line_names(request),
                                      hotline_of(request).advisors.supervisor_lines)
    except users_admin.UserInputError as error:
        return await _users_page(request, 400, error=str(error))
    password = users_admin.temporary_password()
    pool = deps_of(request).pool
    try:
        await store.add_user(pool, name, role, line, await asyncio.to_thread(hash_password, password))
    except store.UserExists:
        return await _users_page(request, 409, error=f"Un compte « {name} » existe déjà.")
    await users_admin.audit(pool, session_of(request).name, "user_created", name,
                              f"rôle {users_admin.ROLE_LABELS[role]}" + (f", ligne {line}" if line else ""))
    return await _users_page(request, message=f"Compte {name} créé.", shown_password=(name, password))


async def page_user_change(request: web.Request) -> web.StreamResponse:
    name, actor = request.match_info["name"], session_of(request).name
    pool = deps_of(request).pool
    target = await store.user_by_name(pool, name)
    if target is None:
        raise ApiError(404, "unknown_user", "Aucun compte de ce nom.")
    try:
        change = users_admin.parse_change(await _user_form(request), target.role, _line_names(request),
                                          hotline_of(request).advisors.supervisor_lines)
    except users_admin.UserInputError as error:
        return await _users_page(request, 400, error=str(error))
    if name == actor and (change.disabled or change.role != target.role):
        return await _users_page(request, 400, error="Vous ne pouvez ni désactiver votre propre compte ni "
                                                     "changer son rôle : un autre administrateur le peut.")
    said = await users_admin.change_account(pool, actor, name, change)
    return await _users_page(request, message=f"{name} : {said}.")


async def page_user_password(request: web.Request) -> web.StreamResponse:
    name, pool = request.match_info["name"], deps_of(request).pool
    password = users_admin.temporary_password()
    if not await store.set_password(pool, name, await asyncio.to_thread(hash_password, password)):
        raise ApiError(404, "unknown_user", "Aucun compte de ce nom.")
    await users_admin.audit(pool, session_of(request).name, "password_reset", name, "sessions fermées")
    return await _users_page(request, message=f"Mot de passe de {name} réinitialisé.", shown_password=(name, password))


ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("GET", "/utilisateurs", page_users, "admin"),
    RouteSpec("POST", "/utilisateurs", page_user_create, "admin"),
    RouteSpec("POST", "/utilisateurs/{name}", page_user_change, "admin"),
    RouteSpec("POST", "/utilisateurs/{name}/mot-de-passe", page_user_password, "admin"),
    RouteSpec("GET", "/api/users", api_users, "admin", ApiDoc(
        "Users and roles", responses=ok("users", array(ref("User"))), tag="auth")),
)
