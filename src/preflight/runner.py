"""Checking files: load each, run every check on each and the checks across them on all, collect
findings, silenced findings and crashed checks in a stable order."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from preflight.loader import load
from preflight.model import CheckCrash, Configuration, Finding, Severity
from preflight.registry import Evaluation, evaluate, evaluate_across

_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}


@dataclass(frozen=True)
class Report:
    """What checking some files found."""

    configurations: tuple[Configuration, ...]
    findings: tuple[Finding, ...]
    seconds: float
    #: Findings a resource silenced with a reason (``Finding.suppression`` set); they never fail a run.
    suppressed: tuple[Finding, ...] = ()
    #: Checks that raised; any crash makes the run exit 2.
    crashes: tuple[CheckCrash, ...] = ()

    @property
    def errors(self) -> int:
        """How many error-severity findings."""
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        """How many warnings."""
        return sum(1 for f in self.findings if f.severity is Severity.WARNING)

    @property
    def resources(self) -> int:
        """Resources checked, over all files."""
        return sum(len(c.resources) for c in self.configurations)


def check_files(paths: Sequence[Path], *, suffix: str | None = None) -> Report:
    """Load and check every file, then check them against each other (names two of them would both
    create). UnusableInput propagates: nothing is reported for a bad input set."""
    started = time.perf_counter()
    configurations = tuple(load(path, suffix=suffix) for path in paths)
    total = Evaluation()
    for outcome in [*(evaluate(c) for c in configurations), evaluate_across(configurations)]:
        total.findings.extend(outcome.findings)
        total.suppressed.extend(outcome.suppressed)
        total.crashes.extend(outcome.crashes)
    return Report(
        configurations,
        tuple(sorted(total.findings, key=_order)),
        time.perf_counter() - started,
        suppressed=tuple(sorted(total.suppressed, key=_order)),
        crashes=tuple(total.crashes),  # in the order they happened: file by file, then across files
    )


def _order(finding: Finding) -> tuple[str, str, int, str, str, str]:
    return (
        finding.file,
        finding.resource,
        _ORDER[finding.severity],
        finding.check_id,
        finding.attribute,
        finding.message,
    )
