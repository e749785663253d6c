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
import ipaddress
import secrets
from dataclasses import dataclass
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


def browser_normalised(url: str) -> str:
    """What a browser makes of ``url`` before parsing it (WHATWG URL): leading and trailing C0
    controls and spaces stripped, every tab, line feed and carriage return removed, ``\\`` read as ``/``."""
    stripped = url.strip("".join(map(chr, range(0x21))))
    return stripped.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")


def same_site_path(value: str | None) -> str | None:
    """``value`` when it can only be a path of this site (a redirect target after login), else ``None``.

    Refused: anything that, as a browser reads it (``browser_normalised``), does not start with one
    ``/`` or starts with ``//`` (another host) or has a scheme; and, to keep the accepted form
    plain, any control character, space or backslash at all (``/\\t/evil.example`` is
    ``//evil.example`` to a browser)."""
    if not value or len(value) > 2048:
        return None
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in value) or "\\" in value:
        return None
    seen = browser_normalised(value)
    if not seen.startswith("/") or seen.startswith("//"):
        return None
    parts = urlsplit(seen)
    if parts.scheme or parts.netloc:
        return None
    return value


@dataclass(frozen=True)
class Backoff:
    """Delays that grow with the failures: none for the first ``free`` ones, then ``first`` seconds,
    doubling with each further failure, at most ``cap`` seconds."""

    free: int
    first: float
    cap: float

    def delay(self, failures: int) -> float:
        if failures <= self.free:
            return 0.0
        return min(self.cap, self.first * 2.0 ** min(failures - self.free - 1, 64))


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Progressive delays on failed logins, per name and per client address; nobody is locked out.

    Three counters, each with its own ``Backoff``, counted from every checked attempt:

    - **name and address together** (``per_pair``, 3 free, then 1 s doubling up to 15 min): one
      client guessing one account's password;
    - **address** (``per_address``, 10 free, then up to 15 min): one client trying many names
      (an office behind one address gets ten typos before any wait);
    - **name** (``per_name``, 10 free, then up to 30 s): many clients trying one account. It does
      not apply from an address the account logged in from (``known_for``): whoever knows a
      name can slow its owner by 30 s at most, and not at all where the owner already works.

    A client asking before its delay is over is refused without a password check (HTTP 429 and
    ``Retry-After``) and that refusal counts nothing. An attempt is counted *before* its password
    is checked (``attempt``), so parallel guesses cannot slip past; a success takes it back and
    clears the name's counts (``succeeded``). A counter is forgotten ``forget_after`` seconds after
    its last failure. Memory is bounded: at most ``max_keys`` counters (the oldest go first).
    The clock is given (``now``, seconds): nothing here reads one.
    """

    def __init__(
        self, *, per_pair: Backoff = Backoff(3, 1.0, 900.0), per_address: Backoff = Backoff(10, 1.0, 900.0),
        per_name: Backoff = Backoff(10, 1.0, 30.0), forget_after: float = 3600.0, known_for: float = 30 * 86400.0,
        max_keys: int = 10_000,
    ) -> None:
        self.rules = {"pair": per_pair, "address": per_address, "name": per_name}
        self.forget_after = forget_after
        self.known_for = known_for
        self.max_keys = max_keys
        self._failures: dict[tuple[str, ...], _Failures] = {}
        self._known: dict[tuple[str, str], float] = {}  # (name, address) -> last successful login

    @staticmethod
    def _keys(name: str, address: str) -> dict[str, tuple[str, ...]]:
        return {"pair": ("pair", name, address), "address": ("address", address), "name": ("name", name)}

    def _current(self, key: tuple[str, ...], now: float) -> _Failures | None:
        found = self._failures.get(key)
        if found is not None and now - found.last >= self.forget_after:
            del self._failures[key]
            return None
        return found

    def known(self, name: str, address: str, now: float) -> bool:
        """The account ``name`` logged in from ``address`` within ``known_for`` seconds."""
        at = self._known.get((name, address))
        return at is not None and now - at < self.known_for

    def wait(self, name: str, address: str, now: float) -> float:
        """Seconds ``address`` must still wait before trying ``name`` (0: it may try now)."""
        longest = 0.0
        for kind, key in self._keys(name, address).items():
            if kind == "name" and self.known(name, address, now):
                continue
            found = self._current(key, now)
            if found is not None:
                longest = max(longest, found.last + self.rules[kind].delay(found.count) - now)
        return longest

    def attempt(self, name: str, address: str, now: float) -> None:
        """Count an attempt as failed until ``succeeded`` says otherwise."""
        for key in self._keys(name, address).values():
            found = self._current(key, now)
            if found is None:
                self._failures[key] = _Failures(1, now)
            else:
                found.count, found.last = found.count + 1, now
                self._failures[key] = self._failures.pop(key)  # most recent last: the oldest are dropped
        while len(self._failures) > self.max_keys:
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, name: str, address: str, now: float) -> None:
        """The attempt was the owner's: the name's counts are cleared, the address's attempt taken back."""
        keys = self._keys(name, address)
        self._failures.pop(keys["pair"], None)
        self._failures.pop(keys["name"], None)
        found = self._failures.get(keys["address"])
        if found is not None:
            found.count -= 1
            if found.count <= 0:
                del self._failures[keys["address"]]
        self._known.pop((name, address), None)
        self._known[(name, address)] = now
        while len(self._known) > self.max_keys:
            self._known.pop(next(iter(self._known)))


def metrics_allowed(remote: str | None, authorization: str | None, token: str | None) -> bool:
    """Who may read ``/metrics``: with a configured token, whoever presents it (``Bearer``), from
    anywhere; without one, loopback clients only (a scraper on the same host)."""
    if token is not None:
        given = authorization[7:].strip() if authorization and authorization.lower().startswith("bearer ") else ""
        return hmac.compare_digest(given.encode(), token.encode())
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False
