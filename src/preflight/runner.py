"""Running the checks: load each file, apply every registered check to each configuration and the checks
across configurations to all of them, and collect findings, silenced findings and crashed checks in a
stable order.

A check cannot be switched off globally: only a resource can silence a check for itself, with a recorded
reason (``"//": {"preflight_skip": {"PF101": "why"}}`` in its block); a silence without a reason is itself
an error, and one for an unknown check id is reported too (both as PF000). A silenced finding is kept, with
its reason, for reports; a check that raises is recorded as a crash and the other checks still run
(checkov's behaviour: one broken rule must not hide every other finding).
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

from preflight.loader import load
from preflight.model import CheckCrash, Configuration, Finding, Resource, Severity
from preflight.plan import planned_address
from preflight.registry import MIN_REASON_LENGTH, Check, CheckFunction, CrossCheckFunction, Issue, all_checks

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
    outcome = evaluate(configurations)
    return Report(
        configurations,
        tuple(sorted(outcome.findings, key=_order)),
        time.perf_counter() - started,
        suppressed=tuple(sorted(outcome.suppressed, key=_order)),
        crashes=tuple(outcome.crashes),  # in the order they happened: file by file, then across files
    )


def run(config: Configuration) -> list[Finding]:
    """The active findings of every check on one configuration; a check that raises propagates its
    exception here (tests and library callers see the traceback; ``check_files`` records crashes instead)."""
    return evaluate([config], capture=False).findings


@dataclass
class Evaluation:
    """What running checks produced: active findings, findings a resource silenced, and checks that raised."""

    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)
    crashes: list[CheckCrash] = field(default_factory=list)


def evaluate(configs: Sequence[Configuration], *, capture: bool = True) -> Evaluation:
    """Apply every check to the configurations of one run, honouring suppressions that carry a reason. With
    ``capture`` a check that raises becomes a ``CheckCrash``; without, the exception propagates."""
    checks = all_checks()
    known = {registered.id for registered in checks}
    outcome = Evaluation()
    filers: dict[int, _Filer] = {}
    for config in configs:
        outcome.findings.extend(_silence_problems(config, known))
    for registered, subjects in _applications(checks, configs):
        try:
            filed = _issues(registered, subjects)
        except Exception as error:
            if not capture:
                raise
            outcome.crashes.append(_crash(registered, ", ".join(str(c.path) for c in subjects), error))
            continue
        for config, issue in filed:
            if id(config) not in filers:
                filers[id(config)] = _Filer(config, known)
            filers[id(config)].file(outcome, registered, issue)
    return outcome


def _applications(
    checks: list[Check], configs: Sequence[Configuration]
) -> Iterator[tuple[Check, tuple[Configuration, ...]]]:
    """Each check with what it is given, in the order they run: file by file every check of one configuration,
    then every check across configurations on all of them (when there are two: one file collides with none)."""
    for config in configs:
        yield from ((registered, (config,)) for registered in checks if not registered.across)
    if len(configs) >= 2:
        yield from ((registered, tuple(configs)) for registered in checks if registered.across)


def _issues(registered: Check, subjects: tuple[Configuration, ...]) -> list[tuple[Configuration, Issue]]:
    """What one check reports on what it is given, each issue with the configuration it is filed under."""
    # The decorator's ``across`` is what tells the two shapes of check function apart.
    if registered.across:
        across = cast(CrossCheckFunction, registered.function)
        return [(filed.configuration, filed.issue) for filed in across(subjects)]
    [config] = subjects
    single = cast(CheckFunction, registered.function)
    return [(config, issue) for issue in single(config)]


def _crash(registered: Check, file: str, error: Exception) -> CheckCrash:
    # The exception's type and the line that raised it, never its message: a message quotes values
    # ("invalid literal for int() with base 10: '…'"), and a configuration's values may be secrets.
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return CheckCrash(registered.id, file, f"{type(error).__name__}{where}")


def _location(resource: Resource | None, address: str) -> str:
    """Where the fix goes: the CDK construct path, else the address Terraform shows (plans), else the address."""
    if resource is None:
        return address
    return resource.construct_path or planned_address(resource) or address


class _Filer:
    """Turns one configuration's issues into findings: suppressed with the resource's reason, located,
    and with plan resources' internal addresses shown as Terraform shows them."""

    def __init__(self, config: Configuration, known: set[str]) -> None:
        self.config = config
        self.reasons = {
            (check_id, resource.address): reason
            for resource in [*config.resources, *config.data_sources]
            for check_id, reason in resource.suppressions.items()
            if check_id in known and isinstance(reason, str) and len(reason.strip()) >= MIN_REASON_LENGTH
        }
        # A plan resource inside a module or with count/for_each has an internal address (what references
        # resolve to); findings show Terraform's address (module.x.aws_s3_bucket.b[0]) instead.
        self.shown = {
            r.address: shown
            for r in [*config.resources, *config.data_sources]
            if (shown := planned_address(r)) is not None and shown != r.address
        }
        alternatives = "|".join(re.escape(a) for a in sorted(self.shown, key=len, reverse=True))
        self.internal = re.compile(rf"(?<![\w.-])(?:{alternatives})(?![\w-])") if self.shown else None

    def file(self, outcome: Evaluation, registered: Check, issue: Issue) -> None:
        """Add one issue as a finding: active, or suppressed with the reason its resource gives."""
        message = issue.message
        if self.internal is not None:
            message = self.internal.sub(lambda m: self.shown[m.group(0)], message)
        finding = Finding(
            registered.id,
            registered.severity,
            self.shown.get(issue.resource, issue.resource),
            issue.attribute,
            message,
            issue.fix or registered.fix,
            str(self.config.path),
            location=_location(self.config.lookup(issue.resource), issue.resource),
        )
        reason = self.reasons.get((registered.id, issue.resource))
        if reason is None:
            outcome.findings.append(finding)
        else:
            outcome.suppressed.append(replace(finding, suppression=reason))


def _silence_problems(config: Configuration, known: set[str]) -> Iterable[Finding]:
    """PF000: silences of unknown checks, and silences without a reason (which are then ignored)."""
    for resource in [*config.resources, *config.data_sources]:
        for check_id, reason in resource.suppressions.items():
            if check_id not in known:
                yield _meta(config, resource, f"silences unknown check {check_id!r}", Severity.WARNING)
            elif not isinstance(reason, str) or len(reason.strip()) < MIN_REASON_LENGTH:
                yield _meta(
                    config, resource, f"silences {check_id} without a reason; the silence is ignored", Severity.ERROR
                )


def _meta(config: Configuration, resource: Resource, message: str, severity: Severity) -> Finding:
    return Finding(
        "PF000",
        severity,
        resource.address,
        "//.preflight_skip",
        message,
        f'write "//": {{"preflight_skip": {{"<check id>": "<why, at least {MIN_REASON_LENGTH} characters>"}}}}',
        str(config.path),
        location=_location(resource, resource.address),
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
