"""Session tokens and CSRF checks. Pure.

- A session token is 32 random bytes (URL-safe text) given to the browser in an
  ``HttpOnly; SameSite=Strict`` cookie, or to an API client to send as
  ``Authorization: Bearer``; the database keeps only its SHA-256.
- CSRF: a request authenticated by the *cookie* that changes something must carry
  the session's CSRF token (``X-CSRF-Token`` header, or a ``csrf`` form field) and,
  when the browser sends an ``Origin``, come from this site. A bearer token is never
  sent by a browser on its own, so bearer requests need no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final
from urllib.parse import urlsplit

from web.roles import MUTATING_METHODS, AccessDenied

SESSION_COOKIE: Final = "aiguilleur_session"
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf"
SESSION_SECONDS: Final = 8 * 3600  # a shift (4 h 30) and a margin, then log in again


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def same_origin(origin: str | None, host: str | None) -> bool:
    """True when there is no ``Origin`` (not a browser cross-site request) or it names ``host``."""
    if origin is None:
        return True
    if origin == "null" or not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


def check_csrf(
    method: str, *, by_cookie: bool, session_csrf: str | None, supplied: str | None, origin: str | None,
    host: str | None,
) -> None:
    """Raise ``AccessDenied(403)`` when a state-changing request may be cross-site."""
    if method.upper() not in MUTATING_METHODS:
        return
    if not same_origin(origin, host):
        raise AccessDenied(403, "csrf_origin", "cross-site request refused")
    if not by_cookie:
        return
    if session_csrf is None or supplied is None or not hmac.compare_digest(session_csrf, supplied):
        raise AccessDenied(403, "csrf_token", "missing or wrong CSRF token")


class LoginThrottle:
    """At most ``max_failures`` failed logins per name in ``window`` seconds; then refused until they age out.

    Memory is bounded: at most ``max_names`` names are tracked (the oldest are forgotten).
    """

    def __init__(self, max_failures: int = 5, window: float = 300.0, max_names: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_names = max_names
        self._failures: dict[str, list[float]] = {}

    def _recent(self, name: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(name, ()) if now - t < self.window]
        if times:
            self._failures[name] = times
        else:
            self._failures.pop(name, None)
        return times

    def blocked(self, name: str, now: float) -> bool:
        return len(self._recent(name, now)) >= self.max_failures

    def failed(self, name: str, now: float) -> None:
        times = self._recent(name, now)
        times.append(now)
        self._failures[name] = times[-self.max_failures:]
        while len(self._failures) > self.max_names:
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, name: str) -> None:
        self._failures.pop(name, None)
