"""PF701-PF711 (``preflight.checks.storage``): encryption, public access, log groups, open database ports,
the state backend, secrets in the environment, versioning."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.preflight.checks.cases import DELETE, Case, added, backend, reports_exactly, set_attributes
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import Document, add_resource, address, failing, lambda_function, named, reference


def _remove_log_group(doc: Document) -> set[str]:
    name, _ = named(doc, "aws_cloudwatch_log_group", "processor-logs")
    del doc["resource"]["aws_cloudwatch_log_group"][name]
    function, body = named(doc, "aws_lambda_function", "processor/function")
    body["depends_on"] = [d for d in body["depends_on"] if name not in d]
    return {address("aws_lambda_function", function)}


def _public_access(doc: Document) -> set[str]:
    name, body = named(doc, "aws_s3_bucket_public_access_block", "transaction-log/public-access-block")
    body["block_public_policy"] = False
    return {address("aws_s3_bucket_public_access_block", name)}


def _bucket_child_removed(kind: str, path_end: str) -> Callable[[Document], set[str]]:
    def mutate(doc: Document) -> set[str]:
        name, _ = named(doc, kind, path_end)
        del doc["resource"][kind][name]
        bucket, _ = named(doc, "aws_s3_bucket", "transaction-log/bucket")
        return {address("aws_s3_bucket", bucket)}

    return mutate


def _open_database(doc: Document) -> set[str]:
    sg, _ = named(doc, "aws_security_group", "network/database-sg")
    return added(
        "aws_security_group_rule",
        "db_from_anywhere",
        {
            "type": "ingress",
            "security_group_id": f"${{aws_security_group.{sg}.id}}",
            "protocol": "tcp",
            "from_port": 5400,
            "to_port": 5500,
            "cidr_blocks": ["0.0.0.0/0"],
        },
    )(doc)


def _secret_in_env(doc: Document) -> set[str]:
    name, body = named(doc, "aws_lambda_function", "processor/function")
    body["environment"]["variables"]["DB_PASSWORD"] = "hunter2-but-longer"
    return {address("aws_lambda_function", name)}


CASES = [
    Case(
        "PF701",
        "bucket unencrypted",
        "dev",
        _bucket_child_removed("aws_s3_bucket_server_side_encryption_configuration", "transaction-log/encryption"),
    ),
    Case(
        "PF702",
        "public access block removed",
        "dev",
        _bucket_child_removed("aws_s3_bucket_public_access_block", "transaction-log/public-access-block"),
    ),
    Case("PF702", "public policy not blocked", "dev", _public_access),
    Case(
        "PF702",
        "public ACL",
        "dev",
        lambda d: set_attributes(d, "aws_s3_bucket", "transaction-log/bucket", acl="public-read"),
    ),
    Case(
        "PF703",
        "no retention",
        "dev",
        lambda d: set_attributes(d, "aws_cloudwatch_log_group", "processor-logs", retention_in_days=DELETE),
    ),
    Case("PF704", "function log group not managed", "dev", _remove_log_group),
    Case(
        "PF705",
        "log group without key",
        "dev",
        lambda d: set_attributes(d, "aws_cloudwatch_log_group", "api/access-logs", kms_key_id=DELETE),
    ),
    Case("PF706", "state not encrypted", "dev", backend(encrypt=False)),
    Case("PF706", "state not locked", "dev", backend(use_lockfile=DELETE)),
    Case("PF707", "database port open", "dev", _open_database),
    Case(
        "PF708",
        "topic unencrypted",
        "staging",
        lambda d: set_attributes(d, "aws_sns_topic", "monitoring/alarms-topic", kms_master_key_id=DELETE),
    ),
    Case(
        "PF709",
        "key rotation off",
        "dev",
        lambda d: set_attributes(d, "aws_kms_key", "encryption/key", enable_key_rotation=False),
    ),
    Case("PF710", "password in environment", "dev", _secret_in_env),
    Case(
        "PF711",
        "bucket not versioned",
        "dev",
        _bucket_child_removed("aws_s3_bucket_versioning", "transaction-log/versioning"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly_the_mutated_resources(stacks: dict[str, Fixture], case: Case) -> None:
    reports_exactly(stacks, case)


def test_a_legacy_inline_encryption_block_encrypts_the_bucket(dev: Fixture) -> None:
    doc = dev.document()
    bucket_name, bucket = named(doc, "aws_s3_bucket", "transaction-log/bucket")
    sse_name, sse = named(doc, "aws_s3_bucket_server_side_encryption_configuration", "transaction-log/encryption")
    del doc["resource"]["aws_s3_bucket_server_side_encryption_configuration"][sse_name]
    assert failing(doc, dev.path, "PF701") == {address("aws_s3_bucket", bucket_name)}
    bucket["server_side_encryption_configuration"] = {"rule": sse["rule"]}
    assert failing(doc, dev.path, "PF701") == set()


def _open_statement(**extra: Any) -> dict[str, Any]:
    return {
        "effect": "Allow",
        "actions": ["s3:GetObject"],
        "principals": [{"type": "*", "identifiers": ["*"]}],
        "resources": ["*"],
        **extra,
    }


def test_a_bucket_policy_allowing_everyone_is_public(dev: Fixture) -> None:
    doc = dev.document()
    policy, _ = named(doc, "aws_s3_bucket_policy", "transaction-log/policy")
    _, tls_only = named(doc, "aws_iam_policy_document", "transaction-log/tls-only", section="data")
    tls_only["statement"].append(_open_statement())
    assert failing(doc, dev.path, "PF702") == {address("aws_s3_bucket_policy", policy)}
    tls_only["statement"][-1] = _open_statement(
        condition=[{"test": "StringEquals", "variable": "aws:PrincipalOrgID", "values": ["o-abc123"]}]
    )
    assert failing(doc, dev.path, "PF702") == set()


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::111122223333:root", "*"]}])
def test_a_json_bucket_policy_allowing_everyone_is_public(dev: Fixture, principal: object) -> None:
    doc = dev.document()
    policy, body = named(doc, "aws_s3_bucket_policy", "transaction-log/policy")
    statement = {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "*"}
    body["policy"] = json.dumps({"Statement": [statement]})
    assert failing(doc, dev.path, "PF702") == {address("aws_s3_bucket_policy", policy)}
    statement["Principal"] = {"AWS": "arn:aws:iam::111122223333:root"}
    body["policy"] = json.dumps({"Statement": [statement]})
    assert failing(doc, dev.path, "PF702") == set()


def test_a_function_logging_to_a_custom_group_needs_that_group_declared(dev: Fixture) -> None:
    doc = dev.document()
    processor, function = lambda_function(doc, "processor")
    function["logging_config"] = {"log_format": "JSON", "log_group": "/payments/dev-pr42/processor"}
    assert failing(doc, dev.path, "PF704") == {processor}
    add_resource(
        doc, "aws_cloudwatch_log_group", "custom", {"name": "/payments/dev-pr42/processor", "retention_in_days": 14}
    )
    assert failing(doc, dev.path, "PF704") == set()


def test_a_function_logging_to_a_referenced_group_is_managed(dev: Fixture) -> None:
    doc = dev.document()
    _, function = lambda_function(doc, "processor")
    function["logging_config"] = {"log_group": reference(doc, "aws_cloudwatch_log_group", "api/access-logs", "name")}
    assert failing(doc, dev.path, "PF704") == set()


def test_a_function_with_a_computed_name_is_not_judged_for_its_log_group(dev: Fixture) -> None:
    doc = dev.document()
    name, _ = named(doc, "aws_cloudwatch_log_group", "processor-logs")
    del doc["resource"]["aws_cloudwatch_log_group"][name]
    processor, function = lambda_function(doc, "processor")
    assert failing(doc, dev.path, "PF704") == {processor}
    function["function_name"] = "payment-processor-${var.suffix}"
    assert failing(doc, dev.path, "PF704") == set()


def _database_sg(doc: Document) -> str:
    return reference(doc, "aws_security_group", "network/database-sg", "id")


def _vpc_rule(doc: Document, **body: Any) -> str:
    return add_resource(
        doc, "aws_vpc_security_group_ingress_rule", "open", {"security_group_id": _database_sg(doc), **body}
    )


def test_an_inline_ingress_block_open_to_the_world_exposes_the_database(dev: Fixture) -> None:
    doc = dev.document()
    name, sg = named(doc, "aws_security_group", "network/database-sg")
    sg["ingress"] = [{"from_port": 5432, "to_port": 5432, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}]
    assert failing(doc, dev.path, "PF707") == {address("aws_security_group", name)}


@pytest.mark.parametrize(
    "rule",
    [
        {"cidr_ipv4": "0.0.0.0/0", "ip_protocol": "-1"},
        {"cidr_ipv6": "::/0", "ip_protocol": "tcp", "from_port": 3306, "to_port": 3306},
    ],
    ids=["all-traffic", "ipv6-mysql"],
)
def test_a_vpc_ingress_rule_open_to_the_world_exposes_the_database(dev: Fixture, rule: dict[str, Any]) -> None:
    doc = dev.document()
    added = _vpc_rule(doc, **rule)
    assert failing(doc, dev.path, "PF707") == {added}


@pytest.mark.parametrize(
    "rule",
    [
        {"cidr_ipv4": "0.0.0.0/0", "ip_protocol": "tcp", "from_port": 443, "to_port": 443},
        {"cidr_ipv4": "0.0.0.0/0", "ip_protocol": "udp", "from_port": 5432, "to_port": 5432},
        {"cidr_ipv4": "10.0.0.0/8", "ip_protocol": "tcp", "from_port": 5432, "to_port": 5432},
        {"cidr_ipv4": "0.0.0.0/0", "ip_protocol": "tcp", "from_port": "${var.port}", "to_port": "${var.port}"},
    ],
    ids=["https-only", "udp", "private-cidr", "computed-port"],
)
def test_ingress_that_does_not_open_a_database_port_to_the_world_passes(dev: Fixture, rule: dict[str, Any]) -> None:
    doc = dev.document()
    _vpc_rule(doc, **rule)
    assert failing(doc, dev.path, "PF707") == set()


def test_a_queue_is_unencrypted_only_when_sse_is_turned_off(dev: Fixture) -> None:
    doc = dev.document()
    queue = add_resource(doc, "aws_sqs_queue", "dlq", {"name": "payment-dlq-dev-pr42"})
    assert failing(doc, dev.path, "PF708") == set(), "SQS-managed SSE is on by default"
    doc["resource"]["aws_sqs_queue"]["dlq"]["sqs_managed_sse_enabled"] = False
    assert failing(doc, dev.path, "PF708") == {queue}
    doc["resource"]["aws_sqs_queue"]["dlq"]["kms_master_key_id"] = reference(
        doc, "aws_kms_key", "encryption/key", "arn"
    )
    assert failing(doc, dev.path, "PF708") == set()


def test_a_legacy_inline_versioning_block_versions_the_bucket(dev: Fixture) -> None:
    doc = dev.document()
    bucket_name, bucket = named(doc, "aws_s3_bucket", "transaction-log/bucket")
    versioning, _ = named(doc, "aws_s3_bucket_versioning", "transaction-log/versioning")
    del doc["resource"]["aws_s3_bucket_versioning"][versioning]
    bucket["versioning"] = {"enabled": False}
    assert failing(doc, dev.path, "PF711") == {address("aws_s3_bucket", bucket_name)}
    bucket["versioning"] = {"enabled": True}
    assert failing(doc, dev.path, "PF711") == set()
