"""The resilience tier: faults (a stopped PostgreSQL server, S3 reset and black-holed) and concurrent load
through the local target, on the session's dev/alpha deployment (tests/local_target.py). Every fault is
undone by the test that made it: PostgreSQL and the API server are left running and healthy.

Each test reports its counts through the `counts` fixture; they are printed as one section at the end
of the run (pytest's terminal summary), so they are in the CI log without ``-s``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

_COUNTS = pytest.StashKey[list[tuple[str, str]]]()

Report = Callable[[str], None]


@pytest.fixture
def counts(request: pytest.FixtureRequest) -> Report:
    """``counts(line)``: one line of this test's counts, for the run's summary (and the test's own output)."""
    lines = request.config.stash.setdefault(_COUNTS, [])

    def report(line: str) -> None:
        print(line)
        lines.append((request.node.name, line))

    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print every resilience test's counts as one section."""
    lines = config.stash.get(_COUNTS, [])
    if not lines:
        return
    terminalreporter.write_sep("=", "resilience counts")
    current = None
    for test, line in lines:
        if test != current:
            terminalreporter.write_line(test)
            current = test
        terminalreporter.write_line(f"    {line}")
