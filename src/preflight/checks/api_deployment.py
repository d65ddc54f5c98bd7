"""Class 6: an API deployment must be redeployed when what it serves changes, replaced without a
gap, and a stage must point at a deployment. A deployment with neither triggers nor dependencies on its
methods and integrations is created before them ("BadRequestException: No integration defined for
method") and never redeployed after: the stage serves a stale API."""

from __future__ import annotations

import re
from collections.abc import Iterator

from preflight.checks.arguments import entries
from preflight.model import Configuration, Resource, Severity, references
from preflight.plan import planned_address
from preflight.registry import Issue, check


def _api_of(config: Configuration, resource: Resource) -> Resource | None:
    for api, _ in config.referenced(resource.get("rest_api_id"), "aws_api_gateway_rest_api"):
        return api
    return None


def _served(config: Configuration, deployment: Resource) -> list[Resource]:
    api = _api_of(config, deployment)
    return [
        r
        for r in config.of_type("aws_api_gateway_method", "aws_api_gateway_integration")
        if api is not None and _api_of(config, r) is api
    ]


def _trigger_addresses(deployment: Resource) -> set[str]:
    return {ref.address for _, value in entries(deployment.get("triggers")) for ref in references(value)}


@check(
    "PF601",
    title="API deployment not redeployed when a method or integration changes",
    severity=Severity.ERROR,
    defect_class=6,
    prevents=("api-deployment-stale",),
    rationale=(
        "A REST API deployment is a snapshot: Terraform only replaces it when an argument changes. Without triggers "
        "derived from every method and integration, changes are applied to the API but never deployed, and the "
        "stage keeps serving the old configuration (or none: 'Missing Authentication Token' for a new route)."
    ),
    fix="set triggers = { redeployment = sha1(jsonencode([...every resource, method and integration...])) }",
)
def deployment_without_triggers(config: Configuration) -> Iterator[Issue]:
    """Deployments whose triggers do not reference every method and integration of their API."""
    for deployment in config.of_type("aws_api_gateway_deployment"):
        served = _served(config, deployment)
        triggers = deployment.get("triggers")
        if not triggers:
            yield Issue(
                deployment.address, "triggers", "no triggers: changes to methods and integrations are never deployed"
            )
            continue
        triggered = _trigger_addresses(deployment)
        missing = sorted(r.address for r in served if r.address not in triggered)
        if missing:
            yield Issue(
                deployment.address,
                "triggers",
                f"triggers do not change when these change: {', '.join(missing)}",
            )


@check(
    "PF602",
    title="API deployment may be created before its integrations",
    severity=Severity.ERROR,
    defect_class=6,
    prevents=("api-deployment-stale",),
    rationale=(
        "Terraform creates independent resources in parallel; a deployment created before a method has its "
        "integration fails with 'BadRequestException: No integration defined for method'."
    ),
    fix="add every method and integration to depends_on (or reference them in the triggers)",
)
def deployment_before_integrations(config: Configuration) -> Iterator[Issue]:
    """Deployments not ordered after every integration of their API."""
    for deployment in config.of_type("aws_api_gateway_deployment"):
        ordered = set(deployment.get("depends_on") or []) | {r.address for r in references(dict(deployment.body))}
        missing = sorted(
            r.address
            for r in _served(config, deployment)
            if r.type == "aws_api_gateway_integration" and r.address not in ordered
        )
        if missing:
            yield Issue(deployment.address, "depends_on", f"not ordered after {', '.join(missing)}")


@check(
    "PF603",
    title="API deployment replaced without create_before_destroy",
    severity=Severity.ERROR,
    defect_class=6,
    prevents=("api-deployment-stale",),
    rationale=(
        "When triggers change, Terraform must create the new deployment before deleting the old one that a stage "
        "still uses; otherwise the delete fails: 'BadRequestException: Active stages pointing to this deployment "
        "must be moved or deleted'."
    ),
    fix="set lifecycle { create_before_destroy = true }",
)
def deployment_without_create_before_destroy(config: Configuration) -> Iterator[Issue]:
    """Deployments without lifecycle.create_before_destroy = true."""
    for deployment in config.of_type("aws_api_gateway_deployment"):
        if planned_address(deployment) is not None:
            continue  # a plan JSON does not show lifecycle blocks: nothing to judge
        if deployment.block("lifecycle").get("create_before_destroy") is not True:
            yield Issue(deployment.address, "lifecycle.create_before_destroy", "create_before_destroy is not true")


@check(
    "PF604",
    title="Stage points at nothing, or a deployment serves no stage",
    severity=Severity.ERROR,
    defect_class=6,
    rationale=(
        "A stage needs a deployment_id of a deployment of its own API ('BadRequestException: Invalid deployment "
        "id'); a deployment no stage uses serves no traffic."
    ),
    fix="set the stage's deployment_id to ${aws_api_gateway_deployment.<name>.id} of the same REST API",
)
def stage_points_at_nothing(config: Configuration) -> Iterator[Issue]:
    """Stages without a deployment of this configuration; deployments without a stage."""
    used: set[str] = set()
    for stage in config.of_type("aws_api_gateway_stage"):
        deployments = [d for d, _ in config.referenced(stage.get("deployment_id"), "aws_api_gateway_deployment")]
        if not deployments:
            yield Issue(
                stage.address, "deployment_id", "the stage does not point at a deployment in this configuration"
            )
            continue
        used.update(d.address for d in deployments)
        if _api_of(config, deployments[0]) is not _api_of(config, stage):
            yield Issue(stage.address, "deployment_id", "the deployment belongs to another REST API")
    for deployment in config.of_type("aws_api_gateway_deployment"):
        if deployment.address not in used and not deployment.get("stage_name"):
            yield Issue(deployment.address, "", "no stage serves this deployment")


@check(
    "PF605",
    title="API redeployed on every apply",
    severity=Severity.WARNING,
    defect_class=6,
    prevents=("api-deployment-stale",),
    rationale=(
        "A trigger from timestamp() or uuid() changes on every plan, so every apply replaces the deployment: "
        "a perpetual diff that hides real changes."
    ),
    fix="hash the configuration the API serves instead of the time",
)
def deployment_redeployed_always(config: Configuration) -> Iterator[Issue]:
    """Triggers built from timestamp() or uuid()."""
    for deployment in config.of_type("aws_api_gateway_deployment"):
        for key, value in entries(deployment.get("triggers")):
            if isinstance(value, str) and re.search(r"\b(timestamp|uuid)\(\)", value):
                yield Issue(deployment.address, f"triggers.{key}", f"{value} changes on every plan")
