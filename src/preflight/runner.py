"""Checking files: load each, run every check, collect findings in a stable order."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from preflight.loader import load
from preflight.model import CheckCrash, Configuration, Finding, Severity
from preflight.registry import run

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
    """Load and check every file (UnusableInput propagates: nothing is reported for a bad input set)."""
    started = time.perf_counter()
    configurations = tuple(load(path, suffix=suffix) for path in paths)
    findings: list[Finding] = []
    for configuration in configurations:
        findings.extend(run(configuration))
    findings.sort(key=lambda f: (f.file, f.resource, _ORDER[f.severity], f.check_id, f.attribute, f.message))
    return Report(configurations, tuple(findings), time.perf_counter() - started)
