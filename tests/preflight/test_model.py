"""The model's parsing of Terraform JSON values: interpolations, references, nested block shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight.loader import from_document
from preflight.model import Reference, Resource, interpolations, references


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("payment-${var.env}-${var.suffix}", ["var.env", "var.suffix"]),
        ('${format("%s}", aws_s3_bucket.b.id)}', ['format("%s}", aws_s3_bucket.b.id)']),
        ('${replace(aws_s3_bucket.b.id, "\\"}", "")}', ['replace(aws_s3_bucket.b.id, "\\"}", "")']),
        ("no interpolation", []),
        ("${aws_s3_bucket.b.arn", ["aws_s3_bucket.b.arn"]),
    ],
    ids=["two", "brace-in-string", "escaped-quote-in-string", "none", "unterminated"],
)
def test_interpolations(text: str, expected: list[str]) -> None:
    assert interpolations(text) == expected


def test_references_are_found_in_nested_values() -> None:
    value = {"a": ["${aws_s3_bucket.b.arn}", {"c": "${aws_kms_key.k.arn}"}], "n": 3, "none": None}
    assert references(value) == [Reference("aws_s3_bucket.b", "arn"), Reference("aws_kms_key.k", "arn")]


@pytest.mark.parametrize(
    ("body", "block", "blocks"),
    [
        ({"rule": {"days": 1}}, {"days": 1}, [{"days": 1}]),
        ({"rule": [{"days": 1}, {"days": 2}]}, {"days": 1}, [{"days": 1}, {"days": 2}]),
        ({"rule": []}, {}, []),
        ({"rule": "${var.rule}"}, {}, []),
        ({}, {}, []),
    ],
    ids=["object", "list", "empty-list", "expression", "absent"],
)
def test_nested_blocks_in_either_json_shape(body: dict[str, object], block: object, blocks: object) -> None:
    resource = Resource("aws_s3_bucket_lifecycle_configuration", "l", body)
    assert resource.block("rule") == block
    assert resource.blocks("rule") == blocks


@pytest.mark.parametrize(
    ("terraform", "expected"),
    [
        ({"backend": {"s3": {"bucket": "b"}}}, {"backend": {"s3": {"bucket": "b"}}}),
        (
            [{"backend": {"s3": {"bucket": "b"}}}, {"required_version": ">= 1.10.0"}],
            {"backend": {"s3": {"bucket": "b"}}, "required_version": ">= 1.10.0"},
        ),
        ("nonsense", {}),
    ],
    ids=["object", "list-merged", "not-a-block"],
)
def test_the_terraform_block_in_either_json_shape(terraform: object, expected: dict[str, object]) -> None:
    config = from_document({"terraform": terraform}, Path("x.tf.json"))
    assert config.terraform == expected
