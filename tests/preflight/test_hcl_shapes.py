"""Checks on Terraform JSON written the way HCL projects write it (short names, resources taken from each
other's attributes), not the way CDK for Terraform does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from preflight.loader import from_document
from preflight.registry import run

API = "${aws_api_gateway_rest_api.api.id}"


def _api(integration_resource: str, permission_path: str) -> dict[str, Any]:
    return {
        "resource": {
            "aws_api_gateway_rest_api": {"api": {"name": "svc-api-pr1"}},
            "aws_api_gateway_resource": {
                "items": {
                    "rest_api_id": API,
                    "parent_id": "${aws_api_gateway_rest_api.api.root_resource_id}",
                    "path_part": "items",
                }
            },
            "aws_api_gateway_method": {
                "get": {
                    "rest_api_id": API,
                    "resource_id": "${aws_api_gateway_resource.items.id}",
                    "http_method": "GET",
                    "authorization": "AWS_IAM",
                }
            },
            "aws_api_gateway_integration": {
                "get": {
                    "rest_api_id": API,
                    "resource_id": integration_resource,
                    "http_method": "${aws_api_gateway_method.get.http_method}",
                    "type": "AWS_PROXY",
                    "uri": "${aws_lambda_function.f.invoke_arn}",
                }
            },
            "aws_lambda_function": {"f": {"function_name": "svc-f-pr1", "image_uri": "registry/svc:1"}},
            "aws_lambda_permission": {
                "apigw": {
                    "function_name": "${aws_lambda_function.f.function_name}",
                    "action": "lambda:InvokeFunction",
                    "principal": "apigateway.amazonaws.com",
                    "source_arn": f"${{aws_api_gateway_rest_api.api.execution_arn}}/*/GET{permission_path}",
                }
            },
        }
    }


@pytest.mark.parametrize(
    "integration_resource", ["${aws_api_gateway_resource.items.id}", "${aws_api_gateway_method.get.resource_id}"]
)
@pytest.mark.parametrize(("permission_path", "covered"), [("/items", True), ("/other", False)])
def test_an_integration_taking_its_resource_from_the_method_is_matched_to_its_path(
    integration_resource: str, permission_path: str, covered: bool
) -> None:
    config = from_document(_api(integration_resource, permission_path), Path("main.tf.json"), suffix="pr1")
    failing = {f.resource for f in run(config) if f.check_id == "PF501"}
    assert failing == (set() if covered else {"aws_api_gateway_integration.get"})
