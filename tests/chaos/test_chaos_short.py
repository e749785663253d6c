"""The chaos suite's short form (``bench.chaos``): each fault injected into the real sandbox stack.

Asterisk 22, SIPp callers and advisors, a private PostgreSQL and the service as a child process;
``make chaos`` runs the long form (50 calls through a kill -9, 100 through a 30 s database outage).
Each test prints its figures (``pytest -s``) and fails when the goal is missed: no caller dropped
that Asterisk itself did not drop, no record lost, none duplicated.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.chaos import ORDER, SHORT, ChaosStack, chaos_stack, run_fault

pytestmark = pytest.mark.pbx


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosStack]:
    with chaos_stack(tmp_path_factory.mktemp("chaos")) as running:
        yield running


@pytest.mark.parametrize("fault", ORDER)
def test_the_stack_keeps_every_caller_and_every_record_through_the_fault(stack: ChaosStack, fault: str) -> None:
    figures = run_fault(stack, fault, SHORT)
    print(figures.line())
    assert figures.offered > 0 and figures.expected == figures.offered
    assert figures.ok, f"{figures.line()}\nservice log: {stack.service_log}"
