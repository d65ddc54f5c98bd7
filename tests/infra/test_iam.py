"""IAM: each function runs as a role holding exactly the grants its code uses, on exactly their
resources, and nothing broader (log-bucket-access-denied was a function writing to a bucket it had no grant on).

Three roles: the processor and its delivery job share one (same code, same data), the authorizer and
the admin function each have their own. Only the admin's may read the database master secret or set
a secret's value.
"""

from __future__ import annotations

from typing import Any

from payments_infra.constructs.function_role import VPC_ACTIONS
from tests.infra.tfjson import Stack, refs

#: Each execution role (by construct id) and the functions (by construct id) that run as it.
ROLES = {
    "function-role": ("processor", "reconcile"),
    "authorizer-role": ("authorizer",),
    "admin-role": ("admin",),
    "webhooks-role": ("webhooks",),
}
REGION = "us-east-1"
Grant = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def _role(stack: Stack, role: str) -> str:
    name, _ = stack.named("aws_iam_role", f"{role}/role")
    return name


def _statements(stack: Stack, role: str) -> list[dict[str, Any]]:
    return stack.role_statements(_role(stack, role))


def _via(statement: dict[str, Any]) -> tuple[str, ...]:
    """The services a statement's kms:ViaService condition allows (empty without one)."""
    via = [c for c in statement.get("condition", []) if c["variable"] == "kms:ViaService"]
    assert len(via) <= 1 and all(c["test"] == "StringEquals" for c in via), statement
    return tuple(via[0]["values"]) if via else ()


def _grants(stack: Stack, role: str) -> set[Grant]:
    """(actions, resources, kms:ViaService values) of every statement of the role's policies."""
    grants = set()
    for s in _statements(stack, role):
        assert s["effect"] == "Allow" and set(s) <= {"sid", "effect", "actions", "resources", "condition"}, s
        grants.add((tuple(s["actions"]), tuple(sorted(s["resources"])), _via(s)))
    return grants


def _secret(stack: Stack, construct: str) -> str:
    name, _ = stack.named("aws_secretsmanager_secret", f"{construct}/secret")
    return f"${{aws_secretsmanager_secret.{name}.arn}}"


def _logs(stack: Stack, *functions: str) -> tuple[str, ...]:
    """The ``<arn>:*`` of the log group each function writes to (``/aws/lambda/<its name>``)."""
    groups = []
    for function in functions:
        _, body = stack.named("aws_lambda_function", f"{function}/function")
        (group,) = [
            name
            for name, g in stack.resources("aws_cloudwatch_log_group").items()
            if g["name"] == f"/aws/lambda/{body['function_name']}"
        ]
        groups.append(f"${{aws_cloudwatch_log_group.{group}.arn}}:*")
    return tuple(sorted(groups))


def test_each_role_holds_exactly_the_grants_its_code_uses(env_stack: Stack) -> None:
    bucket, _ = env_stack.named("aws_s3_bucket", "transaction-log/bucket")
    key = f"${{aws_kms_key.{env_stack.only('aws_kms_key')[0]}.arn}}"
    db, _ = env_stack.only("aws_db_instance")
    master = f"${{aws_db_instance.{db}.master_user_secret[0].secret_arn}}"
    app, auth, pepper = (_secret(env_stack, c) for c in ("app-login", "auth-login", "api-key-pepper"))
    s3, secretsmanager = f"s3.{REGION}.amazonaws.com", f"secretsmanager.{REGION}.amazonaws.com"
    read, write = ("secretsmanager:GetSecretValue",), ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue")
    vpc: Grant = (VPC_ACTIONS, ("*",), ())
    logs = ("logs:CreateLogStream", "logs:PutLogEvents")
    attempts, results = (
        f"${{aws_sqs_queue.{env_stack.named('aws_sqs_queue', f'webhook-queues/{purpose}/queue')[0]}.arn}}"
        for purpose in ("attempts", "results")
    )
    consume = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility")
    # Merchants' connector secrets: this deployment's name prefix only (the environment and the suffix in it).
    partition, account = (
        f"${{data.{kind}.{next(iter(env_stack.doc['data'][kind]))}.{field}}}"
        for kind, field in (("aws_partition", "partition"), ("aws_caller_identity", "account_id"))
    )
    _, processor = env_stack.named("aws_lambda_function", "processor/function")
    environment = processor["function_name"].split("-")[-2]  # payment-processor-<env>-pr42
    connectors = f"arn:{partition}:secretsmanager:{REGION}:{account}:secret:payment/{environment}/pr42/connectors/*"
    manage = ("secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret")
    assert _grants(env_stack, "function-role") == {
        (read, (connectors,), ()),
        (("s3:PutObject",), (f"${{aws_s3_bucket.{bucket}.arn}}/transactions/*",), ()),
        (read, (app,), ()),
        (("kms:GenerateDataKey", "kms:Decrypt"), (key,), (s3, secretsmanager)),
        (("kms:Encrypt", "kms:Decrypt"), (key,), ()),  # webhook secrets: the purpose is held below
        (("sqs:SendMessage",), (attempts,), ()),  # the dispatcher queues attempts ...
        (consume, (results,), ()),  # ... and reads back their results
        (logs, _logs(env_stack, "processor", "reconcile"), ()),
        vpc,
    }
    # The courier: the mirror image of the dispatcher's queues, opening secrets only, and no network interfaces
    # (outside the VPC), no database login, no bucket.
    assert _grants(env_stack, "webhooks-role") == {
        (consume, (attempts,), ()),
        (("sqs:SendMessage",), (results,), ()),
        (("kms:Decrypt",), (key,), ()),  # webhook secrets: the purpose is held below
        (logs, _logs(env_stack, "webhooks"), ()),
    }
    assert _grants(env_stack, "authorizer-role") == {
        (read, (auth,), ()),
        (read, (pepper,), ()),
        (("kms:Decrypt",), (key,), (secretsmanager,)),
        (logs, _logs(env_stack, "authorizer"), ()),
        vpc,
    }
    assert _grants(env_stack, "admin-role") == {
        (read, (master,), ()),
        (write, (app,), ()),
        (write, (auth,), ()),
        (write, (pepper,), ()),
        (manage, (connectors,), ()),
        # The audit log's copies: under audit/ alone, sealed through S3 with the deployment's key.
        (("s3:PutObject",), (f"${{aws_s3_bucket.{bucket}.arn}}/audit/*",), ()),
        # The console's timeline: which of a payment's events are in the bucket (a listing under transactions/).
        (("s3:ListBucket",), (f"${{aws_s3_bucket.{bucket}.arn}}",), ()),
        (("kms:GenerateDataKey", "kms:Decrypt"), (key,), (s3, secretsmanager)),
        (logs, _logs(env_stack, "admin"), ()),
        vpc,
    }


def test_only_the_admin_role_may_read_the_master_secret_or_set_a_secret(env_stack: Stack) -> None:
    """Of the execution roles. Where there is a database proxy its role reads the master secret too, to log the
    admin function in (test_database_proxy), and sets nothing."""
    db, _ = env_stack.only("aws_db_instance")
    master = f"${{aws_db_instance.{db}.master_user_secret[0].secret_arn}}"
    for role in ROLES:
        statements = _statements(env_stack, role)
        reads_master = any(master in s["resources"] for s in statements)
        writes = any("secretsmanager:PutSecretValue" in s["actions"] for s in statements)
        assert reads_master is writes is (role == "admin-role"), role
    for name, function in env_stack.resources("aws_lambda_function").items():
        uses_master = any("master_user_secret" in str(v) for v in function["environment"]["variables"].values())
        assert uses_master is name.startswith("admin_"), name


def test_no_wildcard_action_and_wildcard_resource_only_for_lambda_enis(env_stack: Stack) -> None:
    for role in ROLES:
        for statement in _statements(env_stack, role):
            assert statement["effect"] == "Allow"
            assert not any("*" in action for action in statement["actions"]), statement
            if "*" in statement["resources"]:
                assert tuple(statement["actions"]) == VPC_ACTIONS


def test_kms_use_is_limited_to_its_services_and_the_webhook_secret_purpose(env_stack: Stack) -> None:
    """The key is usable only through the services that encrypt with it on the function's behalf, and by the
    processor directly only for webhook secrets (their encryption context's purpose): it cannot open the data
    keys of the database, the bucket or the secrets with it."""

    def via(*services: str) -> list[list[dict[str, object]]]:
        values = [f"{service}.{REGION}.amazonaws.com" for service in services]
        return [[{"test": "StringEquals", "variable": "kms:ViaService", "values": values}]]

    webhook_secrets = [
        [{"test": "StringEquals", "variable": "kms:EncryptionContext:purpose", "values": ["webhook-secret"]}]
    ]

    kms = {
        role: [s["condition"] for s in _statements(env_stack, role) if any(a.startswith("kms:") for a in s["actions"])]
        for role in ROLES
    }
    assert kms == {
        "function-role": via("s3", "secretsmanager") + webhook_secrets,
        "authorizer-role": via("secretsmanager"),
        "admin-role": via("s3", "secretsmanager"),
        "webhooks-role": webhook_secrets,
    }


def test_every_resource_a_function_is_configured_with_is_granted_and_nothing_else(env_stack: Stack) -> None:
    """What the functions' environments name (bucket, secrets) is exactly what their role covers."""
    for role, functions in ROLES.items():
        configured: set[str] = set()
        for function in functions:
            _, body = env_stack.named("aws_lambda_function", f"{function}/function")
            assert env_stack.statements_of_function(body) == _statements(env_stack, role)
            for variable, value in body["environment"]["variables"].items():
                if variable == "TRANSACTION_LOG_BUCKET" or variable.endswith("_SECRET_ARN"):
                    configured |= refs(value)
        granted = {
            r
            for r in refs(_statements(env_stack, role))
            if r.split(".")[0] in ("aws_s3_bucket", "aws_secretsmanager_secret", "aws_db_instance")
        }
        assert configured == granted, role


def test_functions_run_as_the_role_their_policy_is_attached_to(env_stack: Stack) -> None:
    runs_as: dict[str, set[str]] = {
        next(iter(refs(body["role"]))): set() for body in env_stack.resources("aws_lambda_function").values()
    }
    for role, functions in ROLES.items():
        role_name = _role(env_stack, role)
        policy, _ = env_stack.named("aws_iam_policy", f"{role}/policy")
        attachment, _ = env_stack.named("aws_iam_role_policy_attachment", f"{role}/attachment")
        attached = [
            a
            for a in env_stack.resources("aws_iam_role_policy_attachment").values()
            if a["role"] == f"${{aws_iam_role.{role_name}.name}}"
        ]
        assert [a["policy_arn"] for a in attached] == [f"${{aws_iam_policy.{policy}.arn}}"], role
        for function in functions:
            _, body = env_stack.named("aws_lambda_function", f"{function}/function")
            assert body["role"] == f"${{aws_iam_role.{role_name}.arn}}"
            # The grants exist before the first invocation.
            assert f"aws_iam_role_policy_attachment.{attachment}" in body["depends_on"]
            runs_as[f"aws_iam_role.{role_name}"].add(function)
        trust = env_stack.policy_statements(env_stack.resources("aws_iam_role")[role_name]["assume_role_policy"])
        assert [s["principals"] for s in trust] == [[{"type": "Service", "identifiers": ["lambda.amazonaws.com"]}]]
        assert trust[0]["condition"][0]["variable"] == "aws:SourceAccount"
    assert sorted(map(sorted, runs_as.values())) == sorted(map(sorted, ROLES.values())), "no other role, no sharing"


def test_no_role_of_a_deployment_uses_a_managed_policy(env_stack: Stack) -> None:
    """The one managed policy, API Gateway's CloudWatch role's, is the account stack's (test_account_stack.py)."""
    managed = [
        a
        for a in env_stack.resources("aws_iam_role_policy_attachment").values()
        if "iam::aws:policy" in a["policy_arn"]
    ]
    assert managed == []
