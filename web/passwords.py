"""Password hashing with scrypt (``hashlib.scrypt``, a memory-hard KDF). Pure.

Stored form: ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``, so the cost can be
raised later and old hashes still verify. Hashing takes tens of milliseconds on
purpose: callers run it off the event loop (``asyncio.to_thread``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

LOG2_N: Final = 15  # n = 32768, r = 8: 32 MiB per hash
R: Final = 8
P: Final = 1
SALT_BYTES: Final = 16
KEY_BYTES: Final = 32
MIN_LENGTH: Final = 10
MAX_LENGTH: Final = 1024


class WeakPassword(ValueError):
    code = "weak_password"


def check_strength(password: str) -> None:
    """Refuse passwords that are too short (or absurdly long: scrypt's input is not free)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")


def _kdf(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=2 * 128 * r * n + (1 << 20), dklen=KEY_BYTES
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, log2_n: int = LOG2_N) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    key = _kdf(password, salt, log2_n, R, P)
    return f"scrypt${log2_n}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; a malformed hash never matches."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or len(password) > MAX_LENGTH:
        return False
    try:
        log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, expected = base64.b64decode(parts[4]), base64.b64decode(parts[5])
    except ValueError:
        return False
    if not (10 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    return hmac.compare_digest(_kdf(password, salt, log2_n, r, p), expected)


# A hash of a random password, checked when the user does not exist: a login for an
# unknown name takes as long as one with a wrong password (no user enumeration by timing).
DUMMY_HASH: Final = hash_password(secrets.token_urlsafe(16), log2_n=LOG2_N)
