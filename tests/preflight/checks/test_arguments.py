"""``preflight.checks.arguments``: map arguments (a function's environment, a deployment's triggers) in every
shape Terraform JSON allows, read directly and through the checks that read them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from preflight.checks.arguments import WHOLE, entries, environment
from preflight.model import Resource
from preflight.runner import check_files


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"B": "2", "A": "${aws_s3_bucket.b.id}"}, [("A", "${aws_s3_bucket.b.id}"), ("B", "2")]),
        ("${var.environment}", [(WHOLE, "${var.environment}")]),
        ("", []),
        (None, []),
        (["not", "a", "map"], []),
    ],
    ids=["object", "expression", "empty-string", "absent", "list"],
)
def test_a_map_argument_is_its_entries_in_name_order_or_one_whole_expression(
    value: object, expected: list[tuple[str, object]]
) -> None:
    assert entries(value) == expected


def test_a_functions_environment_is_read_from_either_block_shape() -> None:
    variables = {"STAGE": "dev"}
    for block in ({"variables": variables}, [{"variables": variables}]):
        function = Resource("aws_lambda_function", "f", {"environment": block})
        assert environment(function) == [("STAGE", "dev")]
    assert environment(Resource("aws_lambda_function", "f", {})) == []


def _file(folder: Path, document: Mapping[str, object]) -> Path:
    folder.mkdir()
    path = folder / "main.tf.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("expression", ["${var.environment}", "${merge(var.common, {BUCKET = aws_s3_bucket.b.id})}"])
def test_a_map_written_as_one_expression_is_read_not_crashed_on(tmp_path: Path, expression: str) -> None:
    """Terraform JSON allows an expression for a whole map: the checks read it as one entry."""
    function = {
        "function_name": "svc-f-pr1",
        "role": "${aws_iam_role.r.arn}",
        "image_uri": "registry/svc:1",
        "environment": {"variables": expression},
    }
    deployment = {"rest_api_id": "x", "triggers": expression}
    document = {
        "resource": {
            "aws_iam_role": {"r": {"name": "svc-r-pr1"}},
            "aws_s3_bucket": {"b": {"bucket": "svc-b-pr1"}},
            "aws_lambda_function": {"f": function},
            "aws_api_gateway_deployment": {"d": deployment},
        }
    }
    report = check_files([_file(tmp_path / "a", document)], suffix="pr1")
    assert report.crashes == ()
    needs_bucket = "aws_s3_bucket.b" in expression
    assert (
        ("PF201", "environment.variables.*") in {(f.check_id, f.attribute) for f in report.findings}
    ) is needs_bucket
