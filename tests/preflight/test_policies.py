"""Reading IAM policies: every way a policy is written, every way a role holds one, and what a
statement allows. Small literal configurations, since these are pure functions of one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight.loader import from_document
from preflight.model import Configuration
from preflight.policies import (
    PolicySource,
    Statement,
    Target,
    allows,
    canonical,
    granting,
    role_policies,
    statements_of,
)


def _config(resource: dict[str, Any] | None = None, data: dict[str, Any] | None = None) -> Configuration:
    document: dict[str, Any] = {"resource": resource or {}}
    if data:
        document["data"] = data
    return from_document(document, Path("x.tf.json"))


EMPTY = _config()


def _statement(**fields: Any) -> Statement:
    values: dict[str, Any] = {
        "effect": "Allow",
        "actions": (),
        "not_actions": (),
        "resources": (),
        "not_resources": (),
        "principals": (),
        "has_condition": False,
        "source": "p",
    }
    values.update(fields)
    return Statement(**values)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${aws_s3_bucket.b.arn}/transactions/*", "@aws_s3_bucket.b.arn/transactions/*"),
        ("${aws_s3_bucket.b}", "@aws_s3_bucket.b"),
        ("${aws_db_instance.d.master_user_secret[0].secret_arn}", "@aws_db_instance.d.master_user_secret.0.secret_arn"),
        ('${join("", [aws_s3_bucket.b.arn, "/x"])}', '${join("", [aws_s3_bucket.b.arn, "/x"])}'),
        ("arn:aws:s3:::payment-txlog-dev/*", "arn:aws:s3:::payment-txlog-dev/*"),
    ],
    ids=["attribute", "whole-object", "index", "function-call", "literal"],
)
def test_canonical_rewrites_only_a_bare_reference(value: str, expected: str) -> None:
    assert canonical(value) == expected


def test_a_json_policy_is_read_whatever_the_shape_of_its_fields() -> None:
    policy = json.dumps(
        {
            "Statement": {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "${aws_s3_bucket.b.arn}/*",
                "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "*"], "Service": "lambda.amazonaws.com"},
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            }
        }
    )
    assert statements_of(EMPTY, policy, "aws_s3_bucket_policy.p") == (
        _statement(
            actions=("s3:GetObject",),
            resources=("@aws_s3_bucket.b.arn/*",),
            principals=("arn:aws:iam::111122223333:root", "*", "lambda.amazonaws.com"),
            has_condition=True,
            source="aws_s3_bucket_policy.p",
        ),
    )


def test_a_policy_given_as_an_object_is_read() -> None:
    policy = {"Statement": [{"Effect": "Deny", "NotAction": ["iam:*"], "NotResource": "*", "Principal": "*"}]}
    assert statements_of(EMPTY, policy, "p") == (
        _statement(effect="Deny", not_actions=("iam:*",), not_resources=("*",), principals=("*",)),
    )


@pytest.mark.parametrize(
    "policy",
    [json.dumps({"Statement": "s3:*"}), json.dumps({"Statement": ["s3:*", 3]}), json.dumps({"Version": "2012-10-17"})],
    ids=["statement-a-string", "statements-not-objects", "no-statement"],
)
def test_statements_that_are_not_objects_are_ignored(policy: str) -> None:
    assert statements_of(EMPTY, policy, "p") == ()


@pytest.mark.parametrize(
    "policy",
    [
        '{"Statement": [',
        "[]",
        "${jsonencode({Statement = []})}",
        "${data.aws_iam_policy_document.d.id}",
        "${data.aws_iam_policy_document.elsewhere.json}",
        None,
    ],
    ids=["broken-json", "json-array", "expression", "not-the-json-attribute", "unknown-document", "absent"],
)
def test_a_policy_preflight_cannot_evaluate_is_unreadable(policy: str | None) -> None:
    config = _config(data={"aws_iam_policy_document": {"d": {"statement": [{"actions": ["s3:*"]}]}}})
    assert statements_of(config, policy, "p") is None


def test_a_policy_document_data_source_is_read_through_its_json_attribute() -> None:
    config = _config(
        data={
            "aws_iam_policy_document": {
                "d": {
                    "statement": {
                        "actions": "sqs:SendMessage",
                        "resources": ["${aws_sqs_queue.q.arn}"],
                        "principals": [{"type": "Service", "identifiers": ["sns.amazonaws.com"]}],
                    }
                }
            }
        }
    )
    assert statements_of(config, "${data.aws_iam_policy_document.d.json}", "aws_iam_policy.p") == (
        _statement(
            actions=("sqs:SendMessage",),
            resources=("@aws_sqs_queue.q.arn",),
            principals=("sns.amazonaws.com",),
            source="data.aws_iam_policy_document.d",
        ),
    )


def _role_with(**resources: dict[str, Any]) -> tuple[Configuration, Any]:
    config = _config({"aws_iam_role": {"r": {"name": "payment-role-dev"}}, **resources})
    role = config.lookup("aws_iam_role.r")
    assert role is not None
    return config, role


def test_an_unknown_aws_managed_policy_is_held_but_unreadable() -> None:
    arn = "arn:aws:iam::aws:policy/AmazonBedrockFullAccess"
    config, role = _role_with(
        aws_iam_role_policy_attachment={"a": {"role": "${aws_iam_role.r.name}", "policy_arn": arn}}
    )
    assert role_policies(config, role) == [PolicySource(arn, None, managed_arn=arn)]


def test_a_known_aws_managed_policy_is_read_from_the_built_in_table() -> None:
    arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    config, role = _role_with(aws_iam_role_policy_attachment={"a": {"role": "payment-role-dev", "policy_arn": arn}})
    [source] = role_policies(config, role)
    assert source.managed_arn == arn
    assert source.statements == (
        _statement(
            actions=("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"), resources=("*",), source=arn
        ),
    )


def test_a_policy_attached_by_an_attribute_other_than_its_arn_is_unreadable() -> None:
    config, role = _role_with(
        aws_iam_policy={"p": {"name": "grants", "policy": json.dumps({"Statement": []})}},
        aws_iam_role_policy_attachment={
            "a": {"role": "${aws_iam_role.r.name}", "policy_arn": "${aws_iam_policy.p.name}"}
        },
    )
    assert role_policies(config, role) == [PolicySource("${aws_iam_policy.p.name}", None, "${aws_iam_policy.p.name}")]


def test_attachments_of_other_roles_are_not_held() -> None:
    config, role = _role_with(
        aws_iam_role_policy={"other": {"role": "someone-else", "policy": json.dumps({"Statement": []})}},
        aws_iam_policy_attachment={
            "other": {
                "name": "x",
                "roles": ["someone-else"],
                "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess",
            }
        },
    )
    assert role_policies(config, role) == []


SOURCE_ON_BUCKET = [
    PolicySource("deny", (_statement(effect="Deny", actions=("s3:PutObject",), resources=("*",)),)),
    PolicySource("not-resource", (_statement(actions=("s3:PutObject",), not_resources=("arn:aws:s3:::other/*",)),)),
    PolicySource("unreadable", None),
]


def test_deny_not_resource_and_unreadable_statements_allow_nothing() -> None:
    target = Target(("arn:aws:s3:::payment-txlog-dev/probe-object-key",))
    assert allows(SOURCE_ON_BUCKET, ("s3:PutObject",), target) is False
    grant = PolicySource("grant", (_statement(actions=("s3:Put*",), resources=("arn:aws:s3:::payment-txlog-dev/*",)),))
    assert allows([*SOURCE_ON_BUCKET, grant], ("s3:PutObject",), target) is True


def test_an_object_target_is_covered_by_a_grant_under_its_prefix() -> None:
    target = Target(("@aws_s3_bucket.b.arn/probe-object-key",), ("@aws_s3_bucket.b.arn/",))
    assert target.covered_by("@aws_s3_bucket.b.arn/transactions/*") is True
    assert target.covered_by("@aws_s3_bucket.other.arn/*") is False


def test_granting_names_where_the_grant_comes_from() -> None:
    sources = [
        PolicySource("aws_iam_policy.logs", (_statement(actions=("logs:PutLogEvents",), resources=("*",)),)),
        PolicySource("arn:aws:iam::aws:policy/SecretsManagerReadWrite", None),
        PolicySource(
            "aws_iam_policy.app",
            (_statement(actions=("secretsmanager:*",), resources=("*",), source="data.aws_iam_policy_document.app"),),
        ),
    ]
    target = Target(("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-probe-AbCdEf",))
    assert granting(sources, ("secretsmanager:GetSecretValue",), target) == "data.aws_iam_policy_document.app"
    assert granting(sources, ("sqs:SendMessage",), target) is None
