"""PF201-PF206 (``preflight.checks.iam``): functions' grants, on the project's stacks mutated one defect at a
time, and the less common ways a grant is written (a policy as JSON, inline, attached five ways)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.preflight.checks.cases import Case, added, reports_exactly
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import (
    Document,
    add_resource,
    address,
    drop_statement,
    failing,
    findings,
    functions_running_as,
    grants,
    lambda_function,
    master_secret,
    named,
    policy_statements,
    processor_and_reconcile,
    reference,
    resources,
    use_application_secret,
)


def _drop(sid: str, role: str = "function-role") -> Callable[[Document], set[str]]:
    """Drop one statement from one execution role's policy: the functions running as that role fail."""

    def mutate(doc: Document) -> set[str]:
        drop_statement(doc, sid, role=role)
        return functions_running_as(doc, role)

    return mutate


def _statement(sid: str, role: str = "function-role", **changes: object) -> Callable[[Document], set[str]]:
    """Change one statement of one execution role's policy: that role's policy fails."""

    def mutate(doc: Document) -> set[str]:
        (statement,) = [s for s in grants(doc, role)["statement"] if s.get("sid") == sid]
        statement.update(changes)
        policy, _ = named(doc, "aws_iam_policy", f"{role}/policy")
        return {address("aws_iam_policy", policy)}

    return mutate


def _admin_attached(doc: Document) -> set[str]:
    role, _ = named(doc, "aws_iam_role", "function-role/role")
    added(
        "aws_iam_role_policy_attachment",
        "admin",
        {"role": f"${{aws_iam_role.{role}.name}}", "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )(doc)
    return {address("aws_iam_role", role)}


def _no_role_policy(doc: Document) -> set[str]:
    name, _ = named(doc, "aws_iam_role_policy_attachment", "function-role/attachment")
    del doc["resource"]["aws_iam_role_policy_attachment"][name]
    for function in doc["resource"]["aws_lambda_function"].values():
        function["depends_on"] = [d for d in function["depends_on"] if name not in d]
    return functions_running_as(doc, "function-role")


def _grant_elsewhere(doc: Document) -> set[str]:
    _statement("WriteTransactionEvents", resources=["arn:aws:s3:::someone-elses-bucket/*"])(doc)
    return functions_running_as(doc, "function-role")


def _sharing_the_role_of(doc: Document, path_end: str) -> set[str]:
    """The functions whose execution role is that of the function at ``path_end``."""
    _, function = named(doc, "aws_lambda_function", path_end)
    return {
        address("aws_lambda_function", name)
        for name, body in resources(doc, "aws_lambda_function").items()
        if body["role"] == function["role"]
    }


def _master_secret_in_env(doc: Document) -> set[str]:
    name, body = named(doc, "aws_lambda_function", "processor/function")
    body["environment"]["variables"]["DB_SECRET_ARN"] = master_secret(doc)
    return {address("aws_lambda_function", name)}


def _master_secret_granted(doc: Document) -> set[str]:
    grants(doc)["statement"].append(
        {
            "sid": "ReadMasterCredentials",
            "effect": "Allow",
            "actions": ["secretsmanager:GetSecretValue"],
            "resources": [master_secret(doc)],
        }
    )
    return _sharing_the_role_of(doc, "processor/function")


CASES = [
    Case("PF201", "no S3 grant (log-bucket-access-denied)", "dev", _drop("WriteTransactionEvents")),
    Case("PF201", "no secret grant", "dev", _drop("ReadDatabaseLogin")),
    Case("PF201", "no KMS grant", "dev", _drop("UseDataKeyThroughS3AndSecretsManager")),
    Case("PF201", "grant on another bucket", "dev", _grant_elsewhere),
    Case("PF201", "policy detached", "dev", _no_role_policy),
    Case("PF201", "authorizer without its login", "dev", _drop("ReadDatabaseLogin", "authorizer-role")),
    Case("PF201", "authorizer without the pepper", "dev", _drop("ReadPepper", "authorizer-role")),
    Case("PF201", "authorizer cannot decrypt", "dev", _drop("DecryptSecrets", "authorizer-role")),
    Case("PF201", "admin without the master login", "dev", _drop("ReadAdminLogin", "admin-role")),
    Case("PF201", "admin cannot read a login it sets", "dev", _drop("SetAuthorizerLogin", "admin-role")),
    Case("PF201", "admin cannot decrypt", "dev", _drop("EncryptSecretsAndAuditEntries", "admin-role")),
    Case("PF201", "admin cannot copy its audit entries", "dev", _drop("WriteAuditEntries", "admin-role")),
    Case("PF202", "s3:* action", "dev", _statement("WriteTransactionEvents", actions=["s3:*"])),
    Case("PF202", "secret on *", "dev", _statement("ReadDatabaseLogin", resources=["*"])),
    Case("PF202", "* action", "dev", _statement("WriteOwnLogs", actions=["*"])),
    Case("PF202", "admin secretsmanager:*", "dev", _statement("SetPepper", "admin-role", actions=["secretsmanager:*"])),
    Case("PF202", "authorizer key on *", "dev", _statement("DecryptSecrets", "authorizer-role", resources=["*"])),
    Case("PF203", "no ENI actions", "dev", _drop("AttachToPrivateSubnets")),
    Case("PF203", "authorizer without ENI actions", "dev", _drop("AttachToPrivateSubnets", "authorizer-role")),
    Case("PF204", "no log grant", "dev", _drop("WriteOwnLogs")),
    Case("PF204", "admin without a log grant", "dev", _drop("WriteOwnLogs", "admin-role")),
    Case("PF205", "AdministratorAccess", "dev", _admin_attached),
    Case("PF206", "master secret in the environment", "dev", _master_secret_in_env, use_application_secret),
    Case("PF206", "master secret granted to the role", "dev", _master_secret_granted, use_application_secret),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly_the_mutated_resources(stacks: dict[str, Fixture], case: Case) -> None:
    reports_exactly(stacks, case)


@pytest.mark.parametrize(
    ("sid", "check_id"),
    [("WriteTransactionEvents", "PF201"), ("AttachToPrivateSubnets", "PF203"), ("WriteOwnLogs", "PF204")],
)
def test_a_function_whose_role_is_outside_the_configuration_is_not_judged(
    dev: Fixture, sid: str, check_id: str
) -> None:
    doc = dev.document()
    drop_statement(doc, sid)
    assert failing(doc, dev.path, check_id) == processor_and_reconcile(doc)
    _, processor = lambda_function(doc, "processor")
    processor["role"] = "arn:aws:iam::123456789012:role/shared-lambda-role"  # its policies cannot be seen
    assert failing(doc, dev.path, check_id) == {lambda_function(doc, "reconcile")[0]}


# The database master secret (PF206): each test first gives the functions an application user's
# secret, whatever the project's functions use today, then sets the one state it is about.


def _application_secret(dev: Fixture) -> Document:
    doc = dev.document()
    use_application_secret(doc)
    assert failing(doc, dev.path, "PF206") == set()
    assert failing(doc, dev.path, "PF201") == set(), "the application secret is granted"
    return doc


def _admin_function(doc: Document) -> str:
    """The admin function (migrations, key management): a role of its own whose inline policy reads the
    master secret, and the master secret in its environment."""
    _, role = named(doc, "aws_iam_role", "function-role/role")
    add_resource(doc, "aws_iam_role", "admin", {**role, "name": "payment-admin-dev-pr42"})
    statement = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": master_secret(doc)}
    add_resource(
        doc,
        "aws_iam_role_policy",
        "admin",
        {"role": "${aws_iam_role.admin.id}", "policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})},
    )
    _, processor = lambda_function(doc, "processor")
    admin = json.loads(json.dumps(processor))
    admin.update(function_name="payment-admin-dev-pr42", role="${aws_iam_role.admin.arn}")
    admin["environment"]["variables"]["DB_SECRET_ARN"] = master_secret(doc)
    return add_resource(doc, "aws_lambda_function", "admin", admin)


def _grant_reading(doc: Document, *resources: str) -> None:
    """Grant the processor's and delivery job's role secretsmanager:GetSecretValue on ``resources``."""
    grants(doc)["statement"].append(
        {"sid": "ReadMore", "effect": "Allow", "actions": ["secretsmanager:GetSecretValue"], "resources": [*resources]}
    )


def test_the_admin_function_keeps_the_master_secret_with_a_reasoned_silence(dev: Fixture) -> None:
    doc = _application_secret(dev)
    admin = _admin_function(doc)
    database, _ = named(doc, "aws_db_instance", "database/instance")
    found = {(f.resource, f.attribute, f.message) for f in findings(doc, dev.path) if f.check_id == "PF206"}
    assert found == {
        (
            admin,
            "environment.variables.DB_SECRET_ARN",
            f"DB_SECRET_ARN is the RDS-managed master user secret of aws_db_instance.{database}: the function "
            "connects as the master user",
        ),
        (
            admin,
            "role",
            f"role aws_iam_role.admin may read the RDS-managed master user secret of aws_db_instance.{database}: "
            "aws_iam_role_policy.admin allows secretsmanager:GetSecretValue on it",
        ),
    }
    doc["resource"]["aws_lambda_function"]["admin"]["//"] = {
        "preflight_skip": {"PF206": "runs the migrations and rotates the application user's password"}
    }
    assert failing(doc, dev.path, "PF206") == set()
    processor, body = lambda_function(doc, "processor")
    body["environment"]["variables"]["DB_SECRET_ARN"] = master_secret(doc)
    assert failing(doc, dev.path, "PF206") == {processor}, "the silence is the admin function's alone"


def test_the_projects_admin_function_is_reported_only_without_its_reasoned_silence(dev: Fixture) -> None:
    """The real stack: the admin function alone uses the master secret, and its silence is all that passes it."""
    doc = dev.document()
    assert failing(doc, dev.path, "PF206") == set()
    admin, body = lambda_function(doc, "admin")
    del body["//"]["preflight_skip"]
    found = {(f.resource, f.attribute) for f in findings(doc, dev.path) if f.check_id == "PF206"}
    assert found == {(admin, "environment.variables.DB_SECRET_ARN"), (admin, "role")}
    assert failing(doc, dev.path, "PF000") == set()


def test_an_aurora_master_secret_counts_by_reference_and_by_arn_pattern(dev: Fixture) -> None:
    doc = _application_secret(dev)
    add_resource(
        doc,
        "aws_rds_cluster",
        "aurora",
        {
            "cluster_identifier": "payment-aurora-dev-pr42",
            "engine": "aurora-postgresql",
            "manage_master_user_password": True,
        },
    )
    processor, body = lambda_function(doc, "processor")
    body["environment"]["variables"]["ADMIN_SECRET_ARN"] = "${aws_rds_cluster.aurora.master_user_secret[0].secret_arn}"
    assert failing(doc, dev.path, "PF206") == {processor}
    del body["environment"]["variables"]["ADMIN_SECRET_ARN"]
    _grant_reading(doc, "arn:aws:secretsmanager:*:*:secret:rds!cluster-*")
    assert failing(doc, dev.path, "PF206") == processor_and_reconcile(doc), "RDS names a cluster's secret rds!cluster-…"


def test_a_grant_on_every_secret_reads_the_master_secret_only_if_rds_manages_one(dev: Fixture) -> None:
    doc = _application_secret(dev)
    _grant_reading(doc, "*")
    assert failing(doc, dev.path, "PF206") == processor_and_reconcile(doc)
    _, database = named(doc, "aws_db_instance", "database/instance")
    database["manage_master_user_password"] = False
    assert failing(doc, dev.path, "PF206") == set()


def test_a_function_whose_role_is_outside_the_configuration_is_judged_by_its_environment(dev: Fixture) -> None:
    doc = _application_secret(dev)
    _grant_reading(doc, master_secret(doc))
    assert failing(doc, dev.path, "PF206") == processor_and_reconcile(doc)
    _, processor = lambda_function(doc, "processor")
    processor["role"] = "arn:aws:iam::123456789012:role/shared-lambda-role"  # its policies cannot be seen
    assert failing(doc, dev.path, "PF206") == {lambda_function(doc, "reconcile")[0]}
    processor["environment"]["variables"]["DB_SECRET_ARN"] = master_secret(doc)
    assert failing(doc, dev.path, "PF206") == processor_and_reconcile(doc)


def test_a_grant_on_the_literal_bucket_arn_covers_a_literally_named_bucket(dev: Fixture) -> None:
    doc = dev.document()
    _, bucket = named(doc, "aws_s3_bucket", "transaction-log/bucket")
    [statement] = policy_statements(doc, "WriteTransactionEvents")
    statement["resources"] = [f"arn:aws:s3:::{bucket['bucket']}/transactions/*"]
    assert failing(doc, dev.path, "PF201") == set()
    bucket["bucket"] = "payment-txlog-${var.suffix}"  # the name is no longer known, so neither is the ARN
    assert failing(doc, dev.path, "PF201") == processor_and_reconcile(doc)


def _api_key_secret(doc: Document, **body: Any) -> str:
    """A secret the processor reads through API_KEY_SECRET_ARN; returns the processor's address."""
    add_resource(doc, "aws_secretsmanager_secret", "api_key", {"name": "payment-api-key-dev-pr42", **body})
    processor, function = lambda_function(doc, "processor")
    function["environment"]["variables"]["API_KEY_SECRET_ARN"] = "${aws_secretsmanager_secret.api_key.arn}"
    return processor


@pytest.mark.parametrize(
    "resource",
    ["arn:aws:secretsmanager:us-east-1:*:secret:payment-api-key-dev-pr42-*", "${aws_secretsmanager_secret.api_key.id}"],
)
def test_a_secret_in_the_environment_needs_get_secret_value(dev: Fixture, resource: str) -> None:
    doc = dev.document()
    processor = _api_key_secret(doc, kms_key_id=reference(doc, "aws_kms_key", "encryption/key", "arn"))
    assert failing(doc, dev.path, "PF201") == {processor}
    grants(doc)["statement"].append(
        {"sid": "ReadApiKey", "effect": "Allow", "actions": ["secretsmanager:GetSecretValue"], "resources": [resource]}
    )
    assert failing(doc, dev.path, "PF201") == set(), "the key's kms:Decrypt is already granted"


def test_a_secret_encrypted_with_another_key_needs_decrypt_on_that_key(dev: Fixture) -> None:
    doc = dev.document()
    add_resource(doc, "aws_kms_key", "other", {"enable_key_rotation": True})
    processor = _api_key_secret(doc, kms_key_id="${aws_kms_key.other.arn}")
    grants(doc)["statement"].append(
        {
            "sid": "ReadApiKey",
            "effect": "Allow",
            "actions": ["secretsmanager:GetSecretValue"],
            "resources": ["${aws_secretsmanager_secret.api_key.arn}"],
        }
    )
    found = [f for f in findings(doc, dev.path) if f.check_id == "PF201"]
    assert [(f.resource, f.attribute) for f in found] == [(processor, "environment.variables.API_KEY_SECRET_ARN")]
    assert "KMS key aws_kms_key.other of secret aws_secretsmanager_secret.api_key" in found[0].message


@pytest.mark.parametrize(
    ("kind", "body", "action"),
    [
        ("aws_dynamodb_table", {"name": "payment-locks-dev-pr42", "hash_key": "id"}, "dynamodb:PutItem"),
        ("aws_sqs_queue", {"name": "payment-dlq-dev-pr42"}, "sqs:SendMessage"),
        ("aws_sns_topic", {"name": "payment-alerts-dev-pr42"}, "sns:Publish"),
        ("aws_ssm_parameter", {"name": "/payment/dev-pr42/flag", "type": "String", "value": "on"}, "ssm:GetParameter"),
    ],
)
def test_every_kind_of_resource_in_the_environment_needs_a_grant(
    dev: Fixture, kind: str, body: dict[str, Any], action: str
) -> None:
    doc = dev.document()
    add_resource(doc, kind, "extra", body)
    processor, function = lambda_function(doc, "processor")
    function["environment"]["variables"]["EXTRA_ARN"] = f"${{{kind}.extra.arn}}"
    assert failing(doc, dev.path, "PF201") == {processor}
    grants(doc)["statement"].append(
        {"sid": "UseExtra", "effect": "Allow", "actions": [action], "resources": [f"${{{kind}.extra.arn}}"]}
    )
    assert failing(doc, dev.path, "PF201") == set()


def test_a_missing_grant_names_the_policies_preflight_could_not_read(dev: Fixture) -> None:
    doc = dev.document()
    role, _ = named(doc, "aws_iam_role", "function-role/role")
    add_resource(
        doc,
        "aws_iam_role_policy_attachment",
        "legacy",
        {"role": f"${{aws_iam_role.{role}.name}}", "policy_arn": "arn:aws:iam::123456789012:policy/legacy-grants"},
    )
    drop_statement(doc, "WriteTransactionEvents")
    found = [f for f in findings(doc, dev.path) if f.check_id == "PF201"]
    assert {f.resource for f in found} == processor_and_reconcile(doc)
    assert all(
        "none of the 2 attached policies (arn:aws:iam::123456789012:policy/legacy-grants could not be read)"
        in f.message
        for f in found
    )


def _without_secret_key(doc: Document) -> None:
    """Leave the bucket as the only thing that could need the KMS key of the processor's role (its login
    secret uses AWS's key)."""
    _, secret = named(doc, "aws_secretsmanager_secret", "app-login/secret")
    del secret["kms_key_id"]
    drop_statement(doc, "UseDataKeyThroughS3AndSecretsManager")


@pytest.mark.parametrize(
    "rule",
    [
        {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}},
        {"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]},
        {"bucket_key_enabled": True},
    ],
    ids=["object", "list", "no-default"],
)
def test_a_bucket_without_a_kms_key_needs_no_kms_grant(dev: Fixture, rule: dict[str, Any]) -> None:
    doc = dev.document()
    _without_secret_key(doc)
    assert failing(doc, dev.path, "PF201") == processor_and_reconcile(doc), (
        "the bucket's KMS key needs kms:GenerateDataKey"
    )
    _, sse = named(doc, "aws_s3_bucket_server_side_encryption_configuration", "transaction-log/encryption")
    sse["rule"] = [rule]
    assert failing(doc, dev.path, "PF201") == set()


def test_a_decrypt_grant_for_another_purpose_does_not_cover_a_buckets_key(dev: Fixture) -> None:
    """S3 needs kms:GenerateDataKey for every SSE-KMS put: the webhook secrets' kms:Encrypt and kms:Decrypt on
    the same key do not make up for the S3 grant's absence."""
    doc = dev.document()
    drop_statement(doc, "UseDataKeyThroughS3AndSecretsManager")
    assert failing(doc, dev.path, "PF201") == processor_and_reconcile(doc)


def test_the_kms_key_of_a_bucket_is_found_in_the_list_form_of_the_rule(dev: Fixture) -> None:
    doc = dev.document()
    _, sse = named(doc, "aws_s3_bucket_server_side_encryption_configuration", "transaction-log/encryption")
    default = sse["rule"][0]["apply_server_side_encryption_by_default"]
    sse["rule"][0]["apply_server_side_encryption_by_default"] = [default]
    assert failing(doc, dev.path, "PF201") == set()
    _without_secret_key(doc)
    assert failing(doc, dev.path, "PF201") == processor_and_reconcile(doc)


def test_another_buckets_kms_key_is_not_a_need(dev: Fixture) -> None:
    doc = dev.document()
    _without_secret_key(doc)
    _, sse = named(doc, "aws_s3_bucket_server_side_encryption_configuration", "transaction-log/encryption")
    sse["rule"] = [{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}]
    add_resource(doc, "aws_s3_bucket", "archive", {"bucket": "payment-archive-dev-pr42"})
    add_resource(
        doc,
        "aws_s3_bucket_server_side_encryption_configuration",
        "archive",
        {
            "bucket": "${aws_s3_bucket.archive.id}",
            "rule": [
                {
                    "apply_server_side_encryption_by_default": {
                        "kms_master_key_id": reference(doc, "aws_kms_key", "encryption/key", "arn"),
                        "sse_algorithm": "aws:kms",
                    }
                }
            ],
        },
    )
    assert failing(doc, dev.path, "PF201") == set()


def _detach(doc: Document) -> None:
    """Remove the attachment of the processor's policy (PF201 then fails: the case "policy detached")."""
    name, _ = named(doc, "aws_iam_role_policy_attachment", "function-role/attachment")
    del doc["resource"]["aws_iam_role_policy_attachment"][name]


def _attach_inline(doc: Document, role: str, policy: str, document: str) -> None:
    doc["resource"]["aws_iam_role"][role]["inline_policy"] = [{"name": "grants", "policy": document}]


def _attach_managed_arns(doc: Document, role: str, policy: str, document: str) -> None:
    doc["resource"]["aws_iam_role"][role]["managed_policy_arns"] = [f"${{aws_iam_policy.{policy}.arn}}"]


def _attach_role_policy(doc: Document, role: str, policy: str, document: str) -> None:
    add_resource(doc, "aws_iam_role_policy", "grants", {"role": f"${{aws_iam_role.{role}.id}}", "policy": document})


def _attach_policy_attachment(doc: Document, role: str, policy: str, document: str) -> None:
    add_resource(
        doc,
        "aws_iam_policy_attachment",
        "grants",
        {
            "name": "grants",
            "roles": [f"${{aws_iam_role.{role}.name}}"],
            "policy_arn": f"${{aws_iam_policy.{policy}.id}}",
        },
    )


def _attach_by_literal_role_name(doc: Document, role: str, policy: str, document: str) -> None:
    add_resource(
        doc,
        "aws_iam_role_policy_attachment",
        "grants",
        {"role": doc["resource"]["aws_iam_role"][role]["name"], "policy_arn": f"${{aws_iam_policy.{policy}.arn}}"},
    )


@pytest.mark.parametrize(
    "attach",
    [
        _attach_inline,
        _attach_managed_arns,
        _attach_role_policy,
        _attach_policy_attachment,
        _attach_by_literal_role_name,
    ],
    ids=lambda f: f.__name__.removeprefix("_attach_"),
)
def test_every_way_of_giving_a_role_its_policy_counts(dev: Fixture, attach: Any) -> None:
    doc = dev.document()
    _detach(doc)
    assert failing(doc, dev.path, "PF201") == processor_and_reconcile(doc)
    role, _ = named(doc, "aws_iam_role", "function-role/role")
    policy, body = named(doc, "aws_iam_policy", "function-role/policy")
    attach(doc, role, policy, body["policy"])
    for check_id in ("PF201", "PF202", "PF203", "PF204"):
        assert failing(doc, dev.path, check_id) == set(), check_id


def _as_json_policy(statements: list[dict[str, Any]]) -> str:
    """The IAM JSON a policy document's statements render to (what a hand-written policy holds)."""
    rendered = []
    for s in statements:
        item: dict[str, Any] = {"Sid": s["sid"], "Effect": s["effect"], "Action": s["actions"]}
        item["Resource"] = s["resources"][0] if len(s["resources"]) == 1 else s["resources"]
        for condition in s.get("condition", []):
            item.setdefault("Condition", {})[condition["test"]] = {condition["variable"]: condition["values"]}
        rendered.append(item)
    return json.dumps({"Version": "2012-10-17", "Statement": rendered})


def test_a_policy_written_as_json_is_read_like_a_policy_document(dev: Fixture) -> None:
    doc = dev.document()
    _, policy = named(doc, "aws_iam_policy", "function-role/policy")
    policy["policy"] = _as_json_policy(grants(doc)["statement"])
    for check_id in ("PF201", "PF202", "PF203", "PF204"):
        assert failing(doc, dev.path, check_id) == set(), check_id
    policy["policy"] = _as_json_policy([s for s in grants(doc)["statement"] if s["sid"] != "WriteTransactionEvents"])
    assert failing(doc, dev.path, "PF201") == processor_and_reconcile(doc)


def test_an_inline_policy_on_a_role_is_checked_for_wide_grants(dev: Fixture) -> None:
    doc = dev.document()
    role, body = named(doc, "aws_iam_role", "function-role/role")
    body["inline_policy"] = [
        {"name": "debug", "policy": json.dumps({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}})}
    ]
    assert failing(doc, dev.path, "PF202") == {address("aws_iam_role", role)}


def test_deny_statements_are_never_too_wide(dev: Fixture) -> None:
    doc = dev.document()
    grants(doc)["statement"].append({"effect": "Deny", "actions": ["s3:*"], "resources": ["*"]})
    assert failing(doc, dev.path, "PF202") == set()
    grants(doc)["statement"][-1]["effect"] = "Allow"
    policy, _ = named(doc, "aws_iam_policy", "function-role/policy")
    assert failing(doc, dev.path, "PF202") == {address("aws_iam_policy", policy)}


def test_an_allow_with_not_action_is_too_wide(dev: Fixture) -> None:
    doc = dev.document()
    grants(doc)["statement"].append({"effect": "Allow", "not_actions": ["iam:*"], "resources": ["*"]})
    policy, _ = named(doc, "aws_iam_policy", "function-role/policy")
    found = [f for f in findings(doc, dev.path) if f.check_id == "PF202"]
    assert [f.resource for f in found] == [address("aws_iam_policy", policy)]
    assert "NotAction/NotResource" in found[0].message


def test_a_function_outside_a_vpc_needs_no_eni_actions(dev: Fixture) -> None:
    doc = dev.document()
    drop_statement(doc, "AttachToPrivateSubnets")
    assert failing(doc, dev.path, "PF203") == processor_and_reconcile(doc)
    _, processor = lambda_function(doc, "processor")
    del processor["vpc_config"]
    assert failing(doc, dev.path, "PF203") == {lambda_function(doc, "reconcile")[0]}
