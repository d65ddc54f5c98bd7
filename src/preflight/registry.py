"""The one registry of checks, and the runner that applies them with per-resource suppressions.

A check is a pure function ``(Configuration) -> Iterable[Issue]``, registered with ``@check(...)``;
a check across deployments is ``(Sequence[Configuration]) -> Iterable[CrossIssue]``, registered with
``@cross_check(...)`` and run once over every file of a run. A check cannot be switched off
globally: only a resource can silence a check for itself, with a recorded reason
(``"//": {"preflight_skip": {"PF101": "why"}}`` in its block); a silence without a reason is itself
an error, and one for an unknown check id is reported too. A silenced finding is kept, with its
reason, for reports; a check that raises is recorded as a crash and the other checks still run
(checkov's behaviour: one broken rule must not hide every other finding).
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from preflight.model import CheckCrash, Configuration, Finding, Resource, Severity
from preflight.plan import planned_address

#: The seed post-mortem's ten defects, by number.
SEED_DEFECTS = {
    1: "state backend names without the deployment suffix",
    2: "secret name without the suffix",
    3: "RDS identifier without the suffix",
    4: "RDS multi_az / publicly_accessible not explicit",
    5: "bucket name without the suffix",
    6: "Lambda without an IAM grant on the log bucket",
    7: "function name without the suffix",
    8: "placeholder Lambda package instead of real code",
    9: "no aws_lambda_permission for API Gateway",
    10: "API deployment without triggers / dependencies",
}
#: The classes of defect the checks are grouped by (the issue's list).
DEFECT_CLASSES = {
    1: "unique names without the deployment suffix, or over the service's limit",
    2: "IAM: missing grants for what a function touches, grants wider than needed",
    3: "RDS: public, multi-AZ or encryption missing or unsafe",
    4: "Lambda package missing, placeholder, unhashed, or without its handler",
    5: "API Gateway may not invoke the function, permissions without source_arn, methods anyone may call",
    6: "API deployment without triggers or create_before_destroy; stage pointing at nothing",
    7: "unencrypted storage, public buckets, open database ports, missing log retention",
    8: "webhook deliveries allowed to reach loopback or plain http where merchants' real URLs are called",
    9: "acquirers: the simulated one where real money moves, no route to a real one, egress beyond HTTPS",
}
MIN_REASON_LENGTH = 10


@dataclass(frozen=True)
class Issue:
    """What a check reports: where, and what is wrong. The registry adds id, severity and fix."""

    resource: str
    attribute: str
    message: str
    fix: str | None = None  # overrides the check's general fix when given


@dataclass(frozen=True)
class CrossIssue:
    """What a check across configurations reports: an ``Issue`` and the configuration it is filed under."""

    configuration: Configuration
    issue: Issue


CheckFunction = Callable[[Configuration], Iterable[Issue]]
CrossCheckFunction = Callable[[Sequence[Configuration]], Iterable[CrossIssue]]


@dataclass(frozen=True)
class Rule:
    """What every registered check declares about itself."""

    id: str
    title: str
    severity: Severity
    defect_class: int
    seed_defects: tuple[int, ...]
    rationale: str
    fix: str


@dataclass(frozen=True)
class Check(Rule):
    """A check of one configuration at a time."""

    function: CheckFunction


@dataclass(frozen=True)
class CrossCheck(Rule):
    """A check of every configuration of a run together (names two deployments would both create)."""

    function: CrossCheckFunction


REGISTRY: dict[str, Check | CrossCheck] = {}


def _validated(id: str, defect_class: int, seed_defects: tuple[int, ...]) -> None:
    if id in REGISTRY:
        raise ValueError(f"check id {id} registered twice")
    if defect_class not in DEFECT_CLASSES or any(d not in SEED_DEFECTS for d in seed_defects):
        raise ValueError(f"{id}: unknown defect class or seed defect")


def check(
    id: str,
    *,
    title: str,
    severity: Severity,
    defect_class: int,
    rationale: str,
    fix: str,
    seed_defects: tuple[int, ...] = (),
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check function under ``id``."""

    def register(function: CheckFunction) -> CheckFunction:
        _validated(id, defect_class, seed_defects)
        REGISTRY[id] = Check(id, title, severity, defect_class, seed_defects, rationale, fix, function)
        return function

    return register


def cross_check(
    id: str,
    *,
    title: str,
    severity: Severity,
    defect_class: int,
    rationale: str,
    fix: str,
    seed_defects: tuple[int, ...] = (),
) -> Callable[[CrossCheckFunction], CrossCheckFunction]:
    """Register, under ``id``, a check that sees every configuration of a run at once."""

    def register(function: CrossCheckFunction) -> CrossCheckFunction:
        _validated(id, defect_class, seed_defects)
        REGISTRY[id] = CrossCheck(id, title, severity, defect_class, seed_defects, rationale, fix, function)
        return function

    return register


def all_checks() -> list[Check | CrossCheck]:
    """Every check, in id order (importing the checks package registers them)."""
    import preflight.checks  # noqa: F401 - registers the checks

    return [REGISTRY[key] for key in sorted(REGISTRY)]


@dataclass
class Evaluation:
    """What running checks produced: active findings, findings a resource silenced, and checks that raised."""

    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)
    crashes: list[CheckCrash] = field(default_factory=list)


def evaluate(config: Configuration, *, capture: bool = True) -> Evaluation:
    """Apply every per-configuration check to one configuration, honouring suppressions that carry a reason.
    With ``capture`` a check that raises becomes a ``CheckCrash``; without, the exception propagates."""
    outcome = Evaluation()
    outcome.findings.extend(_silence_problems(config))
    filer = _Filer(config)
    for registered in all_checks():
        if not isinstance(registered, Check):
            continue
        try:
            issues = list(registered.function(config))
        except Exception as error:
            if not capture:
                raise
            outcome.crashes.append(_crash(registered, str(config.path), error))
            continue
        for issue in issues:
            filer.file(outcome, registered, issue)
    return outcome


def evaluate_across(configs: Sequence[Configuration], *, capture: bool = True) -> Evaluation:
    """Apply every check across configurations to the configurations of one run together."""
    outcome = Evaluation()
    if len(configs) < 2:
        return outcome
    filers: dict[int, _Filer] = {}
    for registered in all_checks():
        if not isinstance(registered, CrossCheck):
            continue
        try:
            issues = list(registered.function(configs))
        except Exception as error:
            if not capture:
                raise
            outcome.crashes.append(_crash(registered, ", ".join(str(c.path) for c in configs), error))
            continue
        for filed in issues:
            filer = filers.setdefault(id(filed.configuration), _Filer(filed.configuration))
            filer.file(outcome, registered, filed.issue)
    return outcome


def run(config: Configuration) -> list[Finding]:
    """The active findings of every check on one configuration; a check that raises propagates its
    exception here (tests and library callers see the traceback; the runner records crashes instead)."""
    return evaluate(config, capture=False).findings


def _crash(registered: Rule, file: str, error: Exception) -> CheckCrash:
    # The exception's type and the line that raised it, never its message: a message quotes values
    # ("invalid literal for int() with base 10: '…'"), and a configuration's values may be secrets.
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return CheckCrash(registered.id, file, f"{type(error).__name__}{where}")


def location(resource: Resource | None, address: str) -> str:
    """Where the fix goes: the CDK construct path, else the address Terraform shows (plans), else the address."""
    if resource is None:
        return address
    return resource.construct_path or planned_address(resource) or address


class _Filer:
    """Turns one configuration's issues into findings: suppressed with the resource's reason, located,
    and with plan resources' internal addresses shown as Terraform shows them."""

    def __init__(self, config: Configuration) -> None:
        self.config = config
        self.reasons = {
            (check_id, resource.address): reason
            for resource in [*config.resources, *config.data_sources]
            for check_id, reason in resource.suppressions.items()
            if check_id in REGISTRY and isinstance(reason, str) and len(reason.strip()) >= MIN_REASON_LENGTH
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

    def file(self, outcome: Evaluation, registered: Rule, issue: Issue) -> None:
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
            location=location(self.config.lookup(issue.resource), issue.resource),
        )
        reason = self.reasons.get((registered.id, issue.resource))
        if reason is None:
            outcome.findings.append(finding)
        else:
            outcome.suppressed.append(replace(finding, suppression=reason))


def _silence_problems(config: Configuration) -> Iterable[Finding]:
    """PF000: silences of unknown checks, and silences without a reason (which are then ignored)."""
    all_checks()  # the registry must be complete before ids are judged unknown
    for resource in [*config.resources, *config.data_sources]:
        for check_id, reason in resource.suppressions.items():
            if check_id not in REGISTRY:
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
        location=location(resource, resource.address),
    )
