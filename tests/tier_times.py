"""Each test tier's wall time, printed at the end of the run (issue 26: know where the time goes as tiers are added).

A tier is the folder under ``tests/`` a test lives in (``unit``, ``emulator``, …). Its wall time runs from the
start of its first test's setup to the end of its last test's teardown, so a session fixture a tier is the first to
need (a deployment, the PostgreSQL server) counts in that tier. Tiers run one after another (pytest runs files in
order), except under pytest-xdist (the Makefile runs the tiers that need no deployment on every core), where they
overlap: each line is still its tier's span, and "all tiers" is the run's, from the first test to the last. Each line
also names the tier's slowest test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

#: How many of each tier's slowest tests are kept (the summary names the first).
SLOWEST = 3


@dataclass
class Tier:
    """One tier's tests so far."""

    started: float
    ended: float
    tests: int = 0
    slowest: list[tuple[float, str]] = field(default_factory=list)


class TierTimes:
    """The pytest plugin: a clock per tier, read off each test's setup, call and teardown reports."""

    def __init__(self) -> None:
        self.tiers: dict[str, Tier] = {}
        self._spent: dict[str, float] = {}

    @staticmethod
    def tier_of(nodeid: str) -> str:
        """``tests/unit/test_x.py::test_y`` -> ``unit``; a test file directly under tests/ is its own tier."""
        parts = nodeid.split("::", 1)[0].split("/")
        return parts[1] if len(parts) > 2 and parts[0] == "tests" else parts[-1]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        tier_name = self.tier_of(report.nodeid)
        tier = self.tiers.setdefault(tier_name, Tier(report.start, report.stop))
        tier.started, tier.ended = min(tier.started, report.start), max(tier.ended, report.stop)
        self._spent[report.nodeid] = self._spent.get(report.nodeid, 0.0) + report.duration
        if report.when == "teardown":
            tier.tests += 1
            tier.slowest = sorted([*tier.slowest, (self._spent.pop(report.nodeid), report.nodeid)], reverse=True)[
                :SLOWEST
            ]

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.tiers:
            return
        write = terminalreporter.write_line
        terminalreporter.section("wall time per tier")
        for name, tier in sorted(self.tiers.items(), key=lambda item: item[1].started):
            seconds = tier.ended - tier.started
            slowest = tier.slowest[0] if tier.slowest else (0.0, "")
            write(f"{name:<12} {seconds:7.1f} s  {tier.tests:5d} tests   slowest {slowest[0]:6.1f} s {slowest[1]}")
        span = max(t.ended for t in self.tiers.values()) - min(t.started for t in self.tiers.values())
        write(f"{'all tiers':<12} {span:7.1f} s")
