"""The one registry of checks: what a check reports, what it declares about itself, and the decorator that
registers it. Running the checks is ``preflight.runner``'s.

A check is a pure function ``(Configuration) -> Iterable[Issue]``, registered with ``@check(...)``; a
check across deployments is ``(Sequence[Configuration]) -> Iterable[CrossIssue]``, registered with
``@check(..., across=True)`` and run once over every file of a run. Each declares the defect class it
belongs to and the deploy failures it prevents (``preflight.failures``), quoting in its rationale the
AWS or Terraform error it avoids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from preflight.failures import FAILURES
from preflight.model import Configuration, Severity

#: The classes of defect the checks are grouped by; a check's id starts with its class (PF1xx: class 1).
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
#: The shortest reason a resource may give for silencing a check (shorter ones are no reason).
MIN_REASON_LENGTH = 10


@dataclass(frozen=True)
class Issue:
    """What a check reports: where, and what is wrong. The runner adds id, severity and fix."""

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
Function = TypeVar("Function", CheckFunction, CrossCheckFunction)


@dataclass(frozen=True)
class Check:
    """A registered check: what it declares about itself, and its function."""

    id: str
    title: str
    severity: Severity
    defect_class: int
    #: Slugs of the deploy failures (``preflight.failures``) it prevents.
    prevents: tuple[str, ...]
    rationale: str
    fix: str
    #: A ``CheckFunction`` of one configuration, or, with ``across``, a ``CrossCheckFunction`` that sees every
    #: configuration of a run at once (names two deployments would both create).
    function: CheckFunction | CrossCheckFunction
    across: bool = False


REGISTRY: dict[str, Check] = {}


def check(
    id: str,
    *,
    title: str,
    severity: Severity,
    defect_class: int,
    rationale: str,
    fix: str,
    prevents: tuple[str, ...] = (),
    across: bool = False,
) -> Callable[[Function], Function]:
    """Register a check function under ``id``: of one configuration, or with ``across`` of every configuration
    of a run together."""

    def register(function: Function) -> Function:
        if id in REGISTRY:
            raise ValueError(f"check id {id} registered twice")
        if defect_class not in DEFECT_CLASSES or any(slug not in FAILURES for slug in prevents):
            raise ValueError(f"{id}: unknown defect class or deploy failure")
        REGISTRY[id] = Check(id, title, severity, defect_class, prevents, rationale, fix, function, across)
        return function

    return register


def all_checks() -> list[Check]:
    """Every check, in id order (importing the checks package registers them)."""
    import preflight.checks  # noqa: F401 - registers the checks

    return [REGISTRY[key] for key in sorted(REGISTRY)]
