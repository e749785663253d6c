"""Domain errors with a stable code: what the web answers (status, ``error``) without guessing.

A request the domain refuses raises a ``DomainError`` subclass; the web maps it by its ``code``
and ``status`` (as wazo-calld's ``APIException(status, error_id, details)``), so a line that is
not logged in is a 409 ``not_logged_in``, never a 404 "unknown line". Pure.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(ValueError):
    """A request the domain refuses; ``code`` is stable (clients branch on it), ``status`` the HTTP one."""

    code: ClassVar[str] = "refused"
    status: ClassVar[int] = 400
