"""IAM: each grant the processor's code needs is present, on exactly its resource, and nothing
broader (seed defect 6 was a function writing to a bucket it had no grant on)."""

from __future__ import annotations

from payments_infra.constructs.function_role import VPC_ACTIONS
from tests.infra.tfjson import Stack, refs


def _processor_policy(stack: Stack) -> list[dict[str, object]]:
    _, policy = stack.only("aws_iam_policy")
    return stack.policy_statements(policy["policy"])


def _by_sid(statements: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(s["sid"]): s for s in statements}


def test_the_policy_holds_exactly_the_grants_the_code_uses(env_stack: Stack) -> None:
    bucket, _ = env_stack.only("aws_s3_bucket")
    key, _ = env_stack.only("aws_kms_key")
    db, _ = env_stack.only("aws_db_instance")
    grants = {
        (tuple(s["actions"]), tuple(sorted(s["resources"])))
        for s in _processor_policy(env_stack)  # type: ignore[arg-type]
    }
    log_groups = [
        name for name, body in env_stack.resources("aws_cloudwatch_log_group").items() if "/aws/lambda/" in body["name"]
    ]
    assert grants == {
        (("s3:PutObject",), (f"${{aws_s3_bucket.{bucket}.arn}}/transactions/*",)),
        (("secretsmanager:GetSecretValue",), (f"${{aws_db_instance.{db}.master_user_secret[0].secret_arn}}",)),
        (("kms:GenerateDataKey", "kms:Decrypt"), (f"${{aws_kms_key.{key}.arn}}",)),
        (
            ("logs:CreateLogStream", "logs:PutLogEvents"),
            tuple(sorted(f"${{aws_cloudwatch_log_group.{name}.arn}}:*" for name in log_groups)),
        ),
        (VPC_ACTIONS, ("*",)),
    }


def test_no_wildcard_action_and_wildcard_resource_only_for_lambda_enis(env_stack: Stack) -> None:
    for statement in _processor_policy(env_stack):
        assert statement["effect"] == "Allow"
        assert not any("*" in action for action in statement["actions"]), statement  # type: ignore[attr-defined]
        if "*" in statement["resources"]:  # type: ignore[operator]
            assert tuple(statement["actions"]) == VPC_ACTIONS  # type: ignore[arg-type]


def test_kms_use_is_limited_to_s3_and_secrets_manager(env_stack: Stack) -> None:
    kms = _by_sid(_processor_policy(env_stack))["UseDataKeyThroughS3AndSecretsManager"]
    assert kms["condition"] == [
        {
            "test": "StringEquals",
            "variable": "kms:ViaService",
            "values": ["s3.us-east-1.amazonaws.com", "secretsmanager.us-east-1.amazonaws.com"],
        }
    ]


def test_every_resource_the_functions_are_configured_with_is_granted(env_stack: Stack) -> None:
    """What the function's environment names (bucket, secret) is what the policy covers."""
    granted = refs(_processor_policy(env_stack))
    for _, function in env_stack.resources("aws_lambda_function").items():
        variables = function["environment"]["variables"]
        assert refs(variables["TRANSACTION_LOG_BUCKET"]) <= granted
        assert refs(variables["DB_SECRET_ARN"]) <= granted


def test_functions_run_as_the_role_the_policy_is_attached_to(env_stack: Stack) -> None:
    policy, _ = env_stack.only("aws_iam_policy")
    attachments = env_stack.resources("aws_iam_role_policy_attachment").values()
    attached_roles = {a["role"] for a in attachments if a["policy_arn"] == f"${{aws_iam_policy.{policy}.arn}}"}
    assert len(attached_roles) == 1
    (role_ref,) = attached_roles
    role = role_ref.split(".")[1]
    for function in env_stack.resources("aws_lambda_function").values():
        assert function["role"] == f"${{aws_iam_role.{role}.arn}}"
        assert "aws_iam_role_policy_attachment." in " ".join(function["depends_on"])
    trust = env_stack.policy_statements(env_stack.resources("aws_iam_role")[role]["assume_role_policy"])
    assert [s["principals"] for s in trust] == [[{"type": "Service", "identifiers": ["lambda.amazonaws.com"]}]]
    assert trust[0]["condition"][0]["variable"] == "aws:SourceAccount"


def test_only_the_api_logging_role_uses_a_managed_policy(env_stack: Stack) -> None:
    managed = [
        a
        for a in env_stack.resources("aws_iam_role_policy_attachment").values()
        if "iam::aws:policy" in a["policy_arn"]
    ]
    assert [a["policy_arn"].rsplit("/", 1)[1] for a in managed] == ["AmazonAPIGatewayPushToCloudWatchLogs"]
