"""Reading Terraform JSON: shapes the syntax allows, references, the suffix a file declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from preflight.loader import from_document, infer_suffix
from preflight.model import UnusableInput, references
from preflight.runner import run


def test_references_respect_nested_braces_and_strings() -> None:
    refs = references(
        '${sha1(jsonencode([{"id" = aws_x.a.id}, {"q" = "a}b", "r" = aws_y.b-c.arn}]))} ${data.aws_z.c.json}'
    )
    assert [(r.address, r.attribute) for r in refs] == [
        ("aws_x.a", "id"),
        ("aws_y.b-c", "arn"),
        ("data.aws_z.c", "json"),
    ]
    assert references("${var.suffix}-${local.name}") == []
    assert (
        references("${aws_db_instance.d.master_user_secret[0].secret_arn}")[0].attribute
        == "master_user_secret.0.secret_arn"
    )


def test_list_forms_of_the_json_syntax_are_read() -> None:
    document = {
        "resource": [
            {"aws_s3_bucket": [{"a": {"bucket": "payment-a-dev"}}]},
            {"aws_s3_bucket": {"b": [{"bucket": "x"}]}},
        ],
        "provider": {"aws": {"region": "us-east-1", "default_tags": {"tags": {"Deployment": "pr1"}}}},
    }
    config = from_document(document, Path("/tmp/x.tf.json"))
    assert [r.address for r in config.resources] == ["aws_s3_bucket.a", "aws_s3_bucket.b"]
    assert config.suffix == "pr1" and "Deployment" in config.suffix_source
    assert {f.resource for f in run(config) if f.check_id == "PF101"} == {"aws_s3_bucket.a", "aws_s3_bucket.b"}


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"resource": "x"},
        {"resource": {"aws_s3_bucket": {"a": 3}}},
        {"nonsense": 1, "resource": {}},
    ],
)
def test_shapes_that_are_not_terraform_json_are_refused(document: object) -> None:
    with pytest.raises(UnusableInput):
        from_document(document, Path("x.tf.json"))


@pytest.mark.parametrize(
    "document",
    [
        {"variable": {"environment_suffix": {"type": "string"}}},
        {"output": {"url": {"value": "${aws_api_gateway_stage.v1.invoke_url}"}}},
        {"locals": {"name": "svc"}, "//": "a project split over several files"},
    ],
    ids=["variables.tf.json", "outputs.tf.json", "locals.tf.json"],
)
def test_a_file_of_a_split_project_with_nothing_to_check_is_accepted(document: object) -> None:
    config = from_document(document, Path("x.tf.json"))
    assert config.resources == [] and run(config) == []


SUFFIX_CASES = {
    "object": (
        {"aws": {"default_tags": {"tags": {"Deployment": "pr42"}}}},
        ("pr42", "provider default tag Deployment"),
    ),
    # an expression and an aliased provider without tags first, then default_tags whose first entry has none
    "lists-and-aliases": (
        {
            "aws": [
                "${var.x}",
                {"alias": "us"},
                {"default_tags": [{"tags": {"Team": "t"}}, {"tags": {"Suffix": "pr7"}}]},
            ]
        },
        ("pr7", "provider default tag Suffix"),
    ),
    # a tag value that cannot be a suffix is skipped for the next tag
    "invalid-tag-skipped": (
        {"aws": {"default_tags": {"tags": {"Deployment": "not a suffix", "EnvironmentSuffix": "alice-dev"}}}},
        ("alice-dev", "provider default tag EnvironmentSuffix"),
    ),
    "computed": ({"aws": {"default_tags": {"tags": {"Deployment": "${var.suffix}"}}}}, (None, "")),
    "computed-tags": ({"aws": {"default_tags": {"tags": "${var.tags}"}}}, (None, "")),
    "computed-block": ({"aws": {"default_tags": ["${var.tags}"]}}, (None, "")),
    "list-of-providers": (
        [{"google": {}}, {"aws": {"default_tags": {"tags": {"Deployment": "pr1"}}}}],
        ("pr1", "provider default tag Deployment"),
    ),
    "no-aws": ({"google": {"project": "p"}}, (None, "")),
}


@pytest.mark.parametrize(("provider", "expected"), SUFFIX_CASES.values(), ids=SUFFIX_CASES.keys())
def test_the_suffix_a_file_declares_in_its_provider_tags(provider: object, expected: tuple[str | None, str]) -> None:
    assert infer_suffix({"provider": provider}) == expected


def _queues(*names: str) -> dict[str, object]:
    return {"resource": {"aws_sqs_queue": {f"q{i}": {"name": name} for i, name in enumerate(names)}}}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({**_queues("a"), "variable": {"suffix": {"default": "pr9"}}}, ("pr9", "variable suffix")),
        ({**_queues("a"), "variable": {"environment_suffix": {"default": "${var.x}"}}}, (None, "")),
        (
            _queues("app-a-pr9", "app-b-pr9", "/app/c/pr9", "app_d_pr9", "app-e"),
            ("pr9", "the last part of 4 of 5 unique names"),
        ),
        (_queues("app-a-pr9", "app-b-pr9", "app-c-pr9", "app-d"), (None, "")),  # 3 of 4: not clear enough
        (_queues("app-a-pr9", "app-b-pr9"), (None, "")),  # too few names to tell
        (_queues("app-a-dev", "app-b-dev", "app-c-dev"), (None, "")),  # an environment is not a suffix
    ],
    ids=["variable", "computed-variable", "names", "names-disagree", "too-few-names", "environment"],
)
def test_the_suffix_a_file_declares_in_variables_or_shows_in_its_names(
    document: dict[str, object], expected: tuple[str | None, str]
) -> None:
    config = from_document(document, Path("x.tf.json"))
    assert (config.suffix, config.suffix_source) == expected
