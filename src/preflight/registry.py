"""The one registry of checks, and the runner that applies them with per-resource suppressions.

A check is a pure function ``(Configuration) -> Iterable[Issue]``, registered with ``@check(...)``.
A check cannot be switched off globally: only a resource can silence a check for itself, with a
recorded reason (``"//": {"preflight_skip": {"PF101": "why"}}`` in its block); a silence without a
reason is itself an error, and one for an unknown check id is reported too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from preflight.model import Configuration, Finding, Severity

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
}
MIN_REASON_LENGTH = 10


@dataclass(frozen=True)
class Issue:
    """What a check reports: where, and what is wrong. The registry adds id, severity and fix."""

    resource: str
    attribute: str
    message: str
    fix: str | None = None  # overrides the check's general fix when given


CheckFunction = Callable[[Configuration], Iterable[Issue]]


@dataclass(frozen=True)
class Check:
    """A registered check."""

    id: str
    title: str
    severity: Severity
    defect_class: int
    seed_defects: tuple[int, ...]
    rationale: str
    fix: str
    function: CheckFunction


REGISTRY: dict[str, Check] = {}


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
        if id in REGISTRY:
            raise ValueError(f"check id {id} registered twice")
        if defect_class not in DEFECT_CLASSES or any(d not in SEED_DEFECTS for d in seed_defects):
            raise ValueError(f"{id}: unknown defect class or seed defect")
        REGISTRY[id] = Check(id, title, severity, defect_class, seed_defects, rationale, fix, function)
        return function

    return register


def all_checks() -> list[Check]:
    """Every check, in id order (importing the checks package registers them)."""
    import preflight.checks  # noqa: F401 - registers the checks

    return [REGISTRY[key] for key in sorted(REGISTRY)]


def run(config: Configuration) -> list[Finding]:
    """Apply every check to one configuration, honouring suppressions that carry a reason."""
    findings: list[Finding] = []
    checks = all_checks()
    suppressed: dict[tuple[str, str], str] = {}
    for resource in [*config.resources, *config.data_sources]:
        for check_id, reason in resource.suppressions.items():
            if check_id not in REGISTRY:
                findings.append(
                    _meta(config, resource.address, f"silences unknown check {check_id!r}", Severity.WARNING)
                )
            elif not isinstance(reason, str) or len(reason.strip()) < MIN_REASON_LENGTH:
                findings.append(
                    _meta(
                        config,
                        resource.address,
                        f"silences {check_id} without a reason; the silence is ignored",
                        Severity.ERROR,
                    )
                )
            else:
                suppressed[(check_id, resource.address)] = reason
    for registered in checks:
        for issue in registered.function(config):
            if (registered.id, issue.resource) in suppressed:
                continue
            findings.append(
                Finding(
                    registered.id,
                    registered.severity,
                    issue.resource,
                    issue.attribute,
                    issue.message,
                    issue.fix or registered.fix,
                    str(config.path),
                )
            )
    return findings


def _meta(config: Configuration, resource: str, message: str, severity: Severity) -> Finding:
    return Finding(
        "PF000",
        severity,
        resource,
        "//.preflight_skip",
        message,
        f'write "//": {{"preflight_skip": {{"<check id>": "<why, at least {MIN_REASON_LENGTH} characters>"}}}}',
        str(config.path),
    )
