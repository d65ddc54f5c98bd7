"""RDS Proxy in staging and prod: TLS only, one SECRETS login per function login, a role reading exactly
those secrets, a pool sized by the environment, the instance behind it; dev connects directly."""

from __future__ import annotations

import pytest

from payments_infra.naming import Naming
from payments_infra.synth import SynthResult
from tests.infra.conftest import config_of, platform
from tests.infra.tfjson import Stack, refs

REGION = "us-east-1"


@pytest.fixture(scope="module", params=["staging", "prod"])
def stack(request: pytest.FixtureRequest, synthesized: SynthResult) -> Stack:
    """The platform stack of each environment with a proxy (suffix pr42)."""
    return platform(synthesized, request.param)


def _secret(stack: Stack, construct: str) -> str:
    name, _ = stack.named("aws_secretsmanager_secret", f"{construct}/secret")
    return f"${{aws_secretsmanager_secret.{name}.arn}}"


def test_only_staging_and_prod_have_a_proxy(env_stack: Stack) -> None:
    config = config_of(env_stack)
    kinds = ("aws_db_proxy", "aws_db_proxy_default_target_group", "aws_db_proxy_target")
    has_proxy = config.proxy is not None
    assert [len(env_stack.resources(kind)) for kind in kinds] == [1 if has_proxy else 0] * 3
    roles = [r["name"] for r in env_stack.resources("aws_iam_role").values()]
    assert any("-db-proxy-" in r for r in roles) is has_proxy
    assert has_proxy is (config.name in ("staging", "prod"))
    outputs = env_stack.doc.get("output", {})
    assert ("database_proxy_endpoint" in outputs) is has_proxy


def test_the_proxy_requires_tls_and_logs_in_with_the_functions_three_logins(stack: Stack) -> None:
    _, proxy = stack.only("aws_db_proxy")
    db, _ = stack.only("aws_db_instance")
    assert proxy["engine_family"] == "POSTGRESQL"
    assert proxy["require_tls"] is True
    assert proxy["debug_logging"] is False, "debug logging would write the admin's ALTER ROLE … PASSWORD to logs"
    _, subnets = stack.only("aws_db_subnet_group")
    assert proxy["vpc_subnet_ids"] == subnets["subnet_ids"], "the instance's private subnets"
    master = f"${{aws_db_instance.{db}.master_user_secret[0].secret_arn}}"
    expected = {master, _secret(stack, "app-login"), _secret(stack, "auth-login")}
    assert {entry["secret_arn"] for entry in proxy["auth"]} == expected
    assert len(proxy["auth"]) == len(expected)
    for entry in proxy["auth"]:
        assert entry["auth_scheme"] == "SECRETS"
        assert entry["iam_auth"] == "DISABLED", "the functions log in with their secret's password"
        assert entry["client_password_auth_type"] == "POSTGRES_SCRAM_SHA_256"
        assert "username" not in entry, "RDS refuses UserName with the SECRETS scheme"
    # The role holds its grants before the proxy first reads a secret.
    attachment, _ = stack.named("aws_iam_role_policy_attachment", "database-proxy/attachment")
    assert proxy["depends_on"] == [f"aws_iam_role_policy_attachment.{attachment}"]


def test_the_pool_is_the_environments_and_the_target_is_the_instance(stack: Stack) -> None:
    pool = config_of(stack).proxy
    assert pool is not None
    proxy, _ = stack.only("aws_db_proxy")
    db, _ = stack.only("aws_db_instance")
    group_name, group = stack.only("aws_db_proxy_default_target_group")
    assert group["db_proxy_name"] == f"${{aws_db_proxy.{proxy}.name}}"
    assert group["connection_pool_config"] == {
        "max_connections_percent": pool.max_connections_percent,
        "max_idle_connections_percent": pool.max_idle_connections_percent,
        "connection_borrow_timeout": pool.borrow_timeout_s,
    }
    _, target = stack.only("aws_db_proxy_target")
    assert target == {
        **{k: v for k, v in target.items() if k == "//"},
        "db_proxy_name": f"${{aws_db_proxy.{proxy}.name}}",
        "target_group_name": f"${{aws_db_proxy_default_target_group.{group_name}.name}}",
        "db_instance_identifier": f"${{aws_db_instance.{db}.identifier}}",
    }


def test_every_function_connects_through_the_proxy_where_there_is_one(env_stack: Stack) -> None:
    config = config_of(env_stack)
    for name, function in env_stack.resources("aws_lambda_function").items():
        if not function.get("vpc_config"):  # the webhook courier: outside the VPC, no database at all
            assert "DB_HOST" not in function["environment"]["variables"] and "DB_SECRET_ARN" not in str(function)
            continue
        host = function["environment"]["variables"]["DB_HOST"]
        (target,) = refs(host)
        assert target.split(".")[0] == ("aws_db_proxy" if config.proxy else "aws_db_instance"), name
        assert host.endswith(".endpoint}" if config.proxy else ".address}"), name
        assert function["environment"]["variables"]["DB_SSLMODE"] == "verify-full"


def test_the_proxy_role_reads_exactly_its_logins_secrets(stack: Stack) -> None:
    role, body = stack.named("aws_iam_role", "database-proxy/role")
    _, proxy = stack.only("aws_db_proxy")
    assert proxy["role_arn"] == f"${{aws_iam_role.{role}.arn}}"
    trust = stack.policy_statements(body["assume_role_policy"])
    assert [(s["actions"], s["principals"]) for s in trust] == [
        (["sts:AssumeRole"], [{"type": "Service", "identifiers": ["rds.amazonaws.com"]}])
    ]
    key = f"${{aws_kms_key.{stack.only('aws_kms_key')[0]}.arn}}"
    grants = {
        (tuple(s["actions"]), tuple(s["resources"]), tuple(c["values"][0] for c in s.get("condition", [])))
        for s in stack.role_statements(role)
    }
    read = ("secretsmanager:GetSecretValue",)
    assert grants == {(read, (entry["secret_arn"],), ()) for entry in proxy["auth"]} | {
        (("kms:Decrypt",), (key,), (f"secretsmanager.{REGION}.amazonaws.com",))
    }
    for statement in stack.role_statements(role):
        assert statement["effect"] == "Allow" and "*" not in statement["resources"]
        for condition in statement.get("condition", []):
            assert (condition["test"], condition["variable"]) == ("StringEquals", "kms:ViaService")


def test_the_proxys_names_carry_the_deployment_suffix(stack: Stack) -> None:
    config = config_of(stack)
    naming = Naming(config.name, "pr42")
    _, proxy = stack.only("aws_db_proxy")
    _, role = stack.named("aws_iam_role", "database-proxy/role")
    _, policy = stack.named("aws_iam_policy", "database-proxy/policy")
    _, group = stack.named("aws_security_group", "database-proxy/security-group")
    assert (proxy["name"], role["name"], policy["name"], group["name"]) == (
        naming.db_proxy("db"),
        naming.role("db-proxy"),
        naming.policy("db-proxy"),
        naming.security_group("proxy"),
    )
