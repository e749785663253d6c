"""The fuzz targets' two sizes, and how many inputs each one ran.

Same tests, two hypothesis settings profiles:

- ``fuzz-short`` (default): a few hundred inputs per test, the same every run (derandomized),
  so ``pytest tests`` (``make test``) runs every target in seconds and reproducibly;
- ``fuzz-long`` (``AIGUILLEUR_FUZZ=long``, what ``make fuzz`` sets): each test's own share of
  the 1,000,000+ inputs (times ``AIGUILLEUR_FUZZ_SCALE``), run in rounds of ``ROUND`` examples
  (hypothesis keeps every choice sequence of a run in memory; rounds keep the long run's memory flat).

Every input a test body sees is counted under its target; ``tests/fuzz/conftest.py`` prints
the counts, the time and the failures (crashes) at the end of the run.
"""

from __future__ import annotations

import functools
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings

PROFILE_ENV = "AIGUILLEUR_FUZZ"
PROFILE = os.environ.get(PROFILE_ENV, "short")
if PROFILE not in ("short", "long"):
    raise ValueError(f"{PROFILE_ENV} must be 'short' or 'long', not {PROFILE!r}")
#: Multiplies every test's long share (``make fuzz FUZZ_SCALE=0.1`` for a quicker long run).
SCALE = float(os.environ.get("AIGUILLEUR_FUZZ_SCALE", "1"))
ROUND = 20_000

settings.register_profile(
    "fuzz-short",
    max_examples=300,
    deadline=None,
    database=None,
    # make test replays the same inputs every run (a red CI can be reproduced); make fuzz explores.
    derandomize=True,
    # Generation speed is not what these tests are about; a flaky health check in make test would be noise.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "fuzz-long",
    max_examples=ROUND,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)

#: (target, test) -> inputs run, and seconds spent.
INPUTS: Counter[tuple[str, str]] = Counter()
SECONDS: Counter[tuple[str, str]] = Counter()


def fuzz(target: str, *, long: int, short: int = 300) -> Callable[[Any], Callable[[], None]]:
    """Run a ``@given`` test with the profile's settings: ``short`` inputs, or ``long`` in rounds."""

    def decorate(test: Any) -> Callable[[], None]:
        key = (target, test.__name__)
        inner = test.hypothesis.inner_test

        @functools.wraps(inner)  # hypothesis names the failing example's arguments from this signature
        def counted(*args: Any, **kwargs: Any) -> None:
            INPUTS[key] += 1
            inner(*args, **kwargs)

        test.hypothesis.inner_test = counted
        total = max(1, round(long * SCALE)) if PROFILE == "long" else short
        per_round = min(total, ROUND)
        rounds = -(-total // per_round)
        runnable = settings(settings.get_profile(f"fuzz-{PROFILE}"), max_examples=per_round)(test)

        def run() -> None:
            started = time.perf_counter()
            try:
                for _ in range(rounds):
                    runnable()
            finally:
                SECONDS[key] += time.perf_counter() - started

        run.__name__ = run.__qualname__ = test.__name__
        run.__doc__ = test.__doc__
        run.__module__ = test.__module__
        return run

    return decorate
