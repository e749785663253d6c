"""Login hardening's pure parts (issue 14): the after-login redirect target, the progressive delays."""

from __future__ import annotations

import pytest

from web.security import Backoff, LoginThrottle, browser_normalised, same_site_path


@pytest.mark.parametrize("value", [
    "//evil.example/x", "/\t/evil.example/x", "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example",
    "/\\evil.example", "\\/evil.example", "\\\\evil.example", " //evil.example", "\x01//evil.example",
    "https://evil.example/", "http:/evil.example", "javascript:alert(1)", "java\tscript:alert(1)",
    "evil.example", "", None, "/\x00/x", "/" + "a" * 2048,
])
def test_a_target_a_browser_would_read_as_another_site_is_refused(value: str | None) -> None:
    assert same_site_path(value) is None


@pytest.mark.parametrize("value", ["/", "/reports", "/reports?from=2026-11-23&to=2026-11-24", "/advisor#pop",
                                   "/%09/evil.example", "/a//b", "/rappels?next=//x"])
def test_a_path_of_this_site_is_kept_as_given(value: str) -> None:
    assert same_site_path(value) == value


def test_browser_normalisation_drops_tabs_and_newlines_and_reads_backslashes_as_slashes() -> None:
    assert browser_normalised(" /\t/evil.example\n/x\r ") == "//evil.example/x"
    assert browser_normalised("/\\evil.example") == "//evil.example"


# --- progressive delays (defect 3): no hard lockout ----------------------------------------------
def test_backoff_is_free_then_doubles_up_to_its_cap() -> None:
    backoff = Backoff(free=3, first=1.0, cap=30.0)
    assert [backoff.delay(n) for n in range(0, 11)] == [0, 0, 0, 0, 1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay(10_000) == 30.0


def guess(throttle: LoginThrottle, name: str, address: str, now: float) -> float:
    """One failed attempt if allowed; the wait asked for otherwise (0: it was made)."""
    wait = throttle.wait(name, address, now)
    if wait <= 0:
        throttle.attempt(name, address, now)
    return wait


def test_one_client_guessing_one_password_waits_longer_and_longer() -> None:
    throttle = LoginThrottle()
    now = 0.0
    waits = []
    for _ in range(9):
        waits.append(throttle.wait("sam", "203.0.113.5", now))
        now += waits[-1]
        throttle.attempt("sam", "203.0.113.5", now)
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8, 16]
    assert throttle.wait("sam", "203.0.113.5", now + 32) == 0  # 32 s after the 9th failure
    assert throttle.wait("sam", "203.0.113.5", now + 1) == 31


def test_one_address_trying_many_names_is_slowed_after_ten_failures() -> None:
    throttle = LoginThrottle()
    waits = [guess(throttle, f"name{i}", "203.0.113.5", 0.0) for i in range(25)]
    assert waits[:11] == [0] * 11 and all(w == 1 for w in waits[11:])
    assert throttle.wait("sam", "198.51.100.7", 0.0) == 0  # another client is not slowed


def test_the_owner_is_never_locked_out_by_someone_who_knows_the_name() -> None:
    throttle = LoginThrottle()
    throttle.attempt("sam", "192.0.2.10", 0.0)
    throttle.succeeded("sam", "192.0.2.10", 0.0)  # sam's own desk
    now = 10.0
    for attacker in range(200):  # many addresses, each trying a few passwords for sam
        for _ in range(3):
            guess(throttle, "sam", f"198.51.100.{attacker}", now)
    assert throttle.wait("sam", "192.0.2.10", now) == 0  # from where sam works: no wait at all
    assert 0 < throttle.wait("sam", "192.0.2.99", now) <= 30  # anywhere else: 30 s at most
    assert throttle.wait("sam", "192.0.2.99", now + 30) == 0


def test_a_success_takes_its_attempt_back_and_clears_the_names_counts() -> None:
    throttle = LoginThrottle()
    for _ in range(5):
        throttle.attempt("ada", "192.0.2.1", 0.0)
    assert throttle.wait("ada", "192.0.2.1", 0.0) == 2
    throttle.attempt("ada", "192.0.2.1", 2.0)
    throttle.succeeded("ada", "192.0.2.1", 2.0)
    assert throttle.wait("ada", "192.0.2.1", 2.0) == 0
    for i in range(20):  # an office's logins from one address: successes do not pile up
        throttle.attempt(f"user{i}", "192.0.2.1", 3.0)
        throttle.succeeded(f"user{i}", "192.0.2.1", 3.0)
    assert throttle.wait("eve", "192.0.2.1", 3.0) == 0


def test_counts_are_forgotten_an_hour_after_the_last_failure_and_memory_is_bounded() -> None:
    throttle = LoginThrottle(max_keys=30)
    for _ in range(8):
        throttle.attempt("sam", "203.0.113.5", 0.0)
    assert throttle.wait("sam", "203.0.113.5", 0.0) == 16
    assert throttle.wait("sam", "203.0.113.5", 3600.0) == 0
    for i in range(100):
        throttle.attempt(f"n{i}", f"a{i}", 5000.0)
    assert len(throttle._failures) <= 30


# --- who reads /metrics; the web's TLS settings -------------------------------------------------
def test_metrics_are_for_loopback_clients_unless_a_token_is_set() -> None:
    from web.security import metrics_allowed

    assert metrics_allowed("127.0.0.1", None, None) and metrics_allowed("::1", None, None)
    assert not metrics_allowed("203.0.113.5", None, None) and not metrics_allowed(None, None, None)
    token = "scraper-token-0123456789"
    assert metrics_allowed("203.0.113.5", f"Bearer {token}", token)
    assert not metrics_allowed("127.0.0.1", None, token)  # with a token, loopback needs it too
    assert not metrics_allowed("127.0.0.1", "Bearer scraper-token-012345678", token)


def test_a_certificate_without_its_key_is_refused_naming_both() -> None:
    from pathlib import Path

    import pydantic

    from config.settings import HttpSettings

    with pytest.raises(pydantic.ValidationError, match="tls_cert and tls_key go together"):
        HttpSettings(tls_cert=Path("/etc/ssl/cert.pem"))
    with pytest.raises(pydantic.ValidationError, match="metrics_token"):
        HttpSettings(metrics_token="short")
