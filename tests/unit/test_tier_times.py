"""The per-tier clock of the test run (tests/tier_times.py) names tiers by their folder."""

from __future__ import annotations

from typing import Literal

import pytest

from tests.tier_times import TierTimes


@pytest.mark.parametrize(
    ("nodeid", "tier"),
    [
        ("tests/unit/test_x.py::test_y", "unit"),
        ("tests/emulator/sub/test_x.py::test_y[a/b]", "emulator"),
        ("tests/test_top.py::test_y", "test_top.py"),
    ],
)
def test_a_test_belongs_to_the_folder_under_tests_it_lives_in(nodeid: str, tier: str) -> None:
    assert TierTimes.tier_of(nodeid) == tier


def _report(nodeid: str, when: Literal["setup", "call", "teardown"], start: float, stop: float) -> pytest.TestReport:
    return pytest.TestReport(
        nodeid, ("", None, ""), {}, "passed", None, when, start=start, stop=stop, duration=stop - start
    )


class Lines:
    """What the summary writes."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def section(self, _title: str) -> None:
        pass

    def write_line(self, line: str) -> None:
        self.lines.append(line)


def test_overlapping_tiers_add_up_to_the_runs_span_not_their_sum() -> None:
    """Under pytest-xdist two tiers run at once: each line is its own span, "all tiers" the run's."""
    times = TierTimes()
    for nodeid, start, stop in (("tests/unit/test_a.py::t", 0.0, 10.0), ("tests/infra/test_b.py::t", 2.0, 12.0)):
        phases: tuple[Literal["setup", "call", "teardown"], ...] = ("setup", "call", "teardown")
        for when in phases:
            times.pytest_runtest_logreport(_report(nodeid, when, start, stop))
    out = Lines()
    times.pytest_terminal_summary(out)  # type: ignore[arg-type]
    assert out.lines[0].startswith("unit            10.0 s      1 tests")
    assert out.lines[1].startswith("infra           10.0 s      1 tests")
    assert out.lines[2] == "all tiers       12.0 s"
