"""Roles and who may use a route. Pure.

Three roles, each including the one below it:

- ``advisor``: their own line's status (login, logout, pause, unpause) and screen pop;
- ``supervisor``: the wallboard, reports, call search, every line's agent actions;
- ``admin``: the rules, the memo, the users.

A route is either ``public`` (the login form, the OpenAPI document, /metrics, static
files) or requires a role. A route the table does not list is refused: fail closed.
"""

from __future__ import annotations

from typing import Final, Literal

Role = Literal["advisor", "supervisor", "admin"]
Access = Literal["public", "advisor", "supervisor", "admin"]
ROLES: Final[tuple[Role, ...]] = ("advisor", "supervisor", "admin")
_RANK: Final[dict[str, int]] = {"advisor": 1, "supervisor": 2, "admin": 3}
MUTATING_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class AccessDenied(Exception):
    """Why a request was refused; ``status`` is the HTTP status (401: who are you, 403: not you)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def is_role(value: str) -> bool:
    return value in _RANK


def allows(role: str | None, access: Access) -> bool:
    """Whether a user with ``role`` (None: not logged in) may use a route needing ``access``."""
    if access == "public":
        return True
    if role is None or role not in _RANK:
        return False
    return _RANK[role] >= _RANK[access]


def check(role: str | None, access: Access | None) -> None:
    """Raise ``AccessDenied`` unless ``role`` may use a route needing ``access`` (None: unknown route)."""
    if access is None:
        raise AccessDenied(403, "route_not_in_policy", "this route has no access rule")
    if access == "public":
        return
    if role is None:
        raise AccessDenied(401, "not_authenticated", "log in first")
    if not allows(role, access):
        raise AccessDenied(403, "forbidden", f"needs the {access} role")


def may_act_on_line(role: str, own_line: str | None, line: str) -> bool:
    """Agent actions: supervisors and admins on any line, an advisor on their own line only."""
    if allows(role, "supervisor"):
        return True
    return role == "advisor" and own_line is not None and own_line == line
