"""Secrets and the admin function: the application logins and the API-key pepper are created empty,
encrypted with the deployment's key, and filled by the admin function, which nothing can invoke but
an operator."""

from __future__ import annotations

import json

from payments_infra.synth import SynthResult
from tests.infra.conftest import config_of, stacks_of
from tests.infra.tfjson import Stack, refs

SECRETS = {"app-login": "db-app", "auth-login": "db-auth", "api-key-pepper": "api-key-pepper"}


def test_the_secrets_are_encrypted_with_the_deployments_key(env_stack: Stack) -> None:
    config = config_of(env_stack)
    key, _ = env_stack.only("aws_kms_key")
    secrets = env_stack.resources("aws_secretsmanager_secret")
    assert len(secrets) == len(SECRETS)
    for construct, purpose in SECRETS.items():
        _, secret = env_stack.named("aws_secretsmanager_secret", f"{construct}/secret")
        assert secret["kms_key_id"] == f"${{aws_kms_key.{key}.arn}}"
        assert secret["name"].endswith(f"/{purpose}")
        assert secret["recovery_window_in_days"] == config.secret_recovery_window_days
        assert "policy" not in secret, "access is granted to the roles that use it, not by a resource policy"


def test_no_secret_value_is_ever_in_terraform(synthesized: SynthResult) -> None:
    """No aws_secretsmanager_secret_version: a value set by Terraform would be in the plan and the state."""
    for _, bootstrap, stack in stacks_of(synthesized):
        for s in (bootstrap, stack):
            assert not s.resources("aws_secretsmanager_secret_version")
            assert not s.data("aws_secretsmanager_secret_version")
            assert not s.resources("aws_secretsmanager_secret_rotation"), "the admin function sets the values"
            assert "secret_string" not in json.dumps(s.doc)


def test_no_service_may_invoke_the_admin_function(env_stack: Stack) -> None:
    """Only an operator with lambda:InvokeFunction on it runs migrations and manages keys."""
    admin, _ = env_stack.named("aws_lambda_function", "admin/function")
    address = f"aws_lambda_function.{admin}"
    for permission in env_stack.resources("aws_lambda_permission").values():
        assert address not in refs(permission["function_name"])
    # No integration, authorizer, schedule, event source or alarm refers to it: only the trail that records its
    # invocations (staging and prod), which can invoke nothing.
    referring = [kind for kind, _, body in env_stack.all_resources() if address in refs(body)]
    assert referring == (["aws_cloudtrail"] if config_of(env_stack).admin_invoke_trail else [])
    # The one event source feeds the webhook courier, never the admin function.
    (source,) = env_stack.resources("aws_lambda_event_source_mapping").values()
    courier, _ = env_stack.named("aws_lambda_function", "webhooks/function")
    assert refs(source["function_name"]) == {f"aws_lambda_function.{courier}"}
    assert not env_stack.resources("aws_lambda_function_url")


def test_the_admin_function_is_the_one_exempt_from_the_master_login_check(env_stack: Stack) -> None:
    """It must log in as the database's master user (migrations, roles): a reasoned preflight silence."""
    for name, function in env_stack.resources("aws_lambda_function").items():
        skip = function["//"].get("preflight_skip", {})
        if name.startswith("admin_"):
            assert set(skip) == {"PF206"} and len(skip["PF206"]) > 60
        else:
            assert skip == {}, name
