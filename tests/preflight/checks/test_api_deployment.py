"""PF601-PF605 (``preflight.checks.api_deployment``): API deployments' triggers, ordering and replacement,
and the stages that serve them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.preflight.checks.cases import DELETE, Case, reports_exactly, set_attributes
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import Document, add_resource, address, failing, named


def _deployment(**changes: object) -> Callable[[Document], set[str]]:
    return lambda doc: set_attributes(doc, "aws_api_gateway_deployment", "api/deployment", **changes)


def _stage_dangling(doc: Document) -> set[str]:
    stage = set_attributes(doc, "aws_api_gateway_stage", "api/stage", deployment_id="abc123")
    deployment, _ = named(doc, "aws_api_gateway_deployment", "api/deployment")
    return stage | {address("aws_api_gateway_deployment", deployment)}


CASES = [
    Case("PF601", "no triggers (api-deployment-stale)", "dev", _deployment(triggers=DELETE)),
    Case("PF601", "literal trigger", "dev", _deployment(triggers={"redeployment": "1731234567890"})),
    Case("PF602", "no dependencies (api-deployment-stale)", "dev", _deployment(triggers=DELETE, depends_on=DELETE)),
    Case("PF603", "no create_before_destroy", "dev", _deployment(lifecycle=DELETE)),
    Case("PF604", "stage points at nothing", "dev", _stage_dangling),
    Case("PF605", "timestamp trigger", "dev", _deployment(triggers={"redeployment": "${timestamp()}"})),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly_the_mutated_resources(stacks: dict[str, Fixture], case: Case) -> None:
    reports_exactly(stacks, case)


def test_a_stage_of_another_api_cannot_use_this_deployment(dev: Fixture) -> None:
    doc = dev.document()
    stage_name, stage = named(doc, "aws_api_gateway_stage", "api/stage")
    add_resource(doc, "aws_api_gateway_rest_api", "other", {"name": "payment-other-api-dev-pr42"})
    stage["rest_api_id"] = "${aws_api_gateway_rest_api.other.id}"
    assert failing(doc, dev.path, "PF604") == {address("aws_api_gateway_stage", stage_name)}
    stage["rest_api_id"] = "a1b2c3"  # an API from outside: still not the deployment's API
    assert failing(doc, dev.path, "PF604") == {address("aws_api_gateway_stage", stage_name)}
