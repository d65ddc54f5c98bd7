"""PF101 and PF102 (``preflight.checks.naming``): unique names without the deployment suffix, or over the
service's limits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from preflight.loader import from_document
from preflight.runner import run
from tests.preflight.checks.cases import Case, added, backend, reports_exactly, set_attributes
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import Document, address, named


def _strip_suffix(kind: str, path_end: str, attribute: str) -> Callable[[Document], set[str]]:
    def mutate(doc: Document) -> set[str]:
        name, body = named(doc, kind, path_end)
        body[attribute] = body[attribute].replace("-pr42", "").replace("/pr42/", "/")
        return {address(kind, name)}

    return mutate


def _strip_account(kind: str, path_end: str, attribute: str) -> Callable[[Document], set[str]]:
    def mutate(doc: Document) -> set[str]:
        name, body = named(doc, kind, path_end)
        body[attribute] = body[attribute].replace("-account-us-east-1", "")
        return {address(kind, name)}

    return mutate


CASES = [
    Case(
        "PF101",
        "txlog bucket (bucket-exists)",
        "dev",
        _strip_suffix("aws_s3_bucket", "transaction-log/bucket", "bucket"),
    ),
    Case("PF101", "state bucket in bootstrap", "bootstrap", _strip_suffix("aws_s3_bucket", "state/bucket", "bucket")),
    # The account stack's names carry -account-<region> where a deployment's carry its suffix: preflight learns it
    # from the stack's Deployment tag, as it learns a deployment's.
    Case(
        "PF101",
        "account stack's CloudWatch role without -account-<region>",
        "account",
        _strip_account("aws_iam_role", "api-gateway-logging/role", "name"),
    ),
    Case(
        "PF101",
        "account stack's state bucket without -account-<region>",
        "account",
        _strip_account("aws_s3_bucket", "state/bucket", "bucket"),
    ),
    Case(
        "PF101",
        "RDS identifier (db-instance-exists)",
        "dev",
        _strip_suffix("aws_db_instance", "database/instance", "identifier"),
    ),
    Case(
        "PF101",
        "function name (function-exists)",
        "dev",
        _strip_suffix("aws_lambda_function", "processor/function", "function_name"),
    ),
    Case("PF101", "role", "dev", _strip_suffix("aws_iam_role", "function-role/role", "name")),
    Case("PF101", "policy", "dev", _strip_suffix("aws_iam_policy", "function-role/policy", "name")),
    Case("PF101", "log group", "dev", _strip_suffix("aws_cloudwatch_log_group", "processor-logs", "name")),
    Case("PF101", "KMS alias", "dev", _strip_suffix("aws_kms_alias", "encryption/alias", "name")),
    Case("PF101", "security group", "dev", _strip_suffix("aws_security_group", "network/database-sg", "name")),
    Case("PF101", "REST API", "dev", _strip_suffix("aws_api_gateway_rest_api", "api/rest-api", "name")),
    Case("PF101", "event rule", "dev", _strip_suffix("aws_cloudwatch_event_rule", "reconcile-schedule", "name")),
    Case("PF101", "DB subnet group", "dev", _strip_suffix("aws_db_subnet_group", "database/subnets", "name")),
    Case("PF101", "DB proxy", "staging", _strip_suffix("aws_db_proxy", "database-proxy/proxy", "name")),
    Case("PF101", "alarm", "staging", _strip_suffix("aws_cloudwatch_metric_alarm", "monitoring/db-cpu", "alarm_name")),
    Case("PF101", "SNS topic", "staging", _strip_suffix("aws_sns_topic", "monitoring/alarms-topic", "name")),
    Case("PF101", "backend bucket (state-backend-shared)", "dev", backend(bucket="terraform-state-payment-processing")),
    Case("PF101", "backend lock table (state-backend-shared)", "dev", backend(dynamodb_table="terraform-state-lock")),
    Case(
        "PF101",
        "secret lookup (secret-not-found)",
        "dev",
        added("aws_secretsmanager_secret", "db", {"name": "payment-db-password-dev"}, data=True),
    ),
    Case("PF101", "secret", "dev", added("aws_secretsmanager_secret", "db", {"name": "payment-db-password-dev"})),
    Case("PF101", "queue", "dev", added("aws_sqs_queue", "q", {"name": "payment-dlq-dev"})),
    Case("PF101", "table", "dev", added("aws_dynamodb_table", "t", {"name": "payment-locks-dev", "hash_key": "id"})),
    Case(
        "PF102",
        "function over 64",
        "dev",
        lambda d: set_attributes(
            d, "aws_lambda_function", "processor/function", function_name="payment-processor-" + "x" * 50 + "-dev-pr42"
        ),
    ),
    Case(
        "PF102",
        "DB proxy with a double hyphen",
        "prod",
        lambda d: set_attributes(d, "aws_db_proxy", "database-proxy/proxy", name="payment-db--prod-pr42"),
    ),
    Case(
        "PF102",
        "bucket with capitals",
        "dev",
        lambda d: set_attributes(d, "aws_s3_bucket", "transaction-log/bucket", bucket="Payment-TxLog-dev-pr42"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly_the_mutated_resources(stacks: dict[str, Fixture], case: Case) -> None:
    reports_exactly(stacks, case)


def test_without_a_known_suffix_literal_names_are_reported_and_expressions_are_not() -> None:
    document = {
        "resource": {"aws_s3_bucket": {"a": {"bucket": "payment-logs"}, "b": {"bucket": "payment-${var.suffix}"}}}
    }
    found = [f for f in run(from_document(document, Path("x.tf.json"))) if f.check_id == "PF101"]
    assert [f.resource for f in found] == ["aws_s3_bucket.a"] and "--suffix" in found[0].fix


def test_generated_names_need_no_suffix() -> None:
    document = {"resource": {"aws_s3_bucket": {"a": {"bucket_prefix": "payment-"}}}}
    assert not [f for f in run(from_document(document, Path("x.tf.json"), suffix="pr1")) if f.check_id == "PF101"]


def test_the_suffix_must_be_a_whole_part_of_the_name() -> None:
    document = {"resource": {"aws_sqs_queue": {"q": {"name": "payment-dlq-dev-pr42"}}}}
    assert [f.check_id for f in run(from_document(document, Path("x"), suffix="pr4")) if f.check_id == "PF101"]
    assert not [f for f in run(from_document(document, Path("x"), suffix="pr42")) if f.check_id == "PF101"]


def test_the_account_stack_is_held_to_account_and_region_even_when_a_deployment_suffix_is_given(
    stacks: dict[str, Fixture],
) -> None:
    """`payments check --suffix pr42 cdktf.out/stacks/*/cdk.tf.json` after `synth --account-id`: the account stack's
    names carry account-us-east-1, declared by its Deployment tag, not pr42; one without it is still reported."""
    fixture = stacks["account"]
    document = fixture.document()
    config = from_document(document, fixture.path, suffix="pr42")
    assert config.suffix == "account-us-east-1" and "account's deployments share" in config.suffix_source
    assert not [f for f in run(config) if f.check_id == "PF101"]
    expected = _strip_account("aws_iam_role", "api-gateway-logging/role", "name")(document)
    found = {f.resource for f in run(from_document(document, fixture.path, suffix="pr42")) if f.check_id == "PF101"}
    assert found == expected
