"""The ten deploy failures of an earlier attempt at this platform (preflight.failures, by slug), one test each, against
the stacks this project synthesizes.

(The preflight checker proves each is *caught* when present; here each is shown absent by construction.)
"""

from __future__ import annotations

import json

from payments_infra.lambda_build import LambdaPackage, source_code_hash
from payments_infra.synth import SynthResult
from tests.deployments import DEPLOYMENTS
from tests.infra.conftest import platform, stacks_of
from tests.infra.tfjson import refs


def test_state_backend_shared_state_backend_names_carry_the_suffix(synthesized: SynthResult) -> None:
    for deployment, bootstrap, stack in stacks_of(synthesized):
        backend = stack.doc["terraform"]["backend"]["s3"]
        assert deployment.suffix in backend["bucket"] and deployment.environment in backend["bucket"]
        assert "dynamodb_table" not in backend  # the lock is the bucket's own lockfile, as unique as the bucket
        assert backend["use_lockfile"] is True
        assert bootstrap.only("aws_s3_bucket")[1]["bucket"] == backend["bucket"]


def test_secret_not_found_the_database_secret_is_found_by_reference_not_by_name(synthesized: SynthResult) -> None:
    """The earlier attempt looked its secret up by a name without the suffix, which did not exist. Every secret a
    function is given is created by the same stack, referenced by ARN, and named for the deployment."""
    for deployment, _, stack in stacks_of(synthesized):
        assert not stack.data("aws_secretsmanager_secret"), "no lookup of a secret by a name that may not exist"
        db, instance = stack.only("aws_db_instance")
        secrets = stack.resources("aws_secretsmanager_secret")
        # Path style, delimited: payment/dev/pr4/ is not a prefix of payment/dev/pr42/.
        assert {s["name"] for s in secrets.values()} == {
            f"payment/{deployment.environment}/{deployment.suffix}/{purpose}"
            for purpose in ("db-app", "db-auth", "api-key-pepper")
        }
        assert instance["identifier"].endswith(f"-{deployment.environment}-{deployment.suffix}")
        by_reference = {f"${{aws_secretsmanager_secret.{name}.arn}}" for name in secrets} | {
            f"${{aws_db_instance.{db}.master_user_secret[0].secret_arn}}"  # created and named by RDS
        }
        used = set()
        for function in stack.resources("aws_lambda_function").values():
            for variable, value in function["environment"]["variables"].items():
                if variable.endswith("_SECRET_ARN"):
                    assert value in by_reference, (variable, value)
                    used.add(value)
        assert used == by_reference, "every secret the stack creates is one a function uses"


def test_db_instance_exists_rds_identifier_carries_the_suffix(synthesized: SynthResult) -> None:
    identifiers = {stack.only("aws_db_instance")[1]["identifier"] for _, _, stack in stacks_of(synthesized)}
    assert len(identifiers) == len(DEPLOYMENTS)
    for deployment, _, stack in stacks_of(synthesized):
        assert stack.only("aws_db_instance")[1]["identifier"].endswith(f"-{deployment.environment}-{deployment.suffix}")


def test_rds_defaults_implicit_rds_multi_az_and_public_access_are_explicit(synthesized: SynthResult) -> None:
    for _, _, stack in stacks_of(synthesized):
        db = stack.only("aws_db_instance")[1]
        assert (
            db["publicly_accessible"] is False and isinstance(db["multi_az"], bool) and db["storage_encrypted"] is True
        )


def test_bucket_exists_bucket_names_carry_the_suffix(synthesized: SynthResult) -> None:
    for deployment, bootstrap, stack in stacks_of(synthesized):
        for s in (bootstrap, stack):
            for bucket in s.resources("aws_s3_bucket").values():
                assert bucket["bucket"].endswith(f"-{deployment.environment}-{deployment.suffix}")


def test_log_bucket_access_denied_the_function_may_write_to_its_log_bucket(synthesized: SynthResult) -> None:
    stack = platform(synthesized, "dev")
    writers = 0
    for function in stack.resources("aws_lambda_function").values():
        if "TRANSACTION_LOG_BUCKET" not in function["environment"]["variables"]:
            continue
        writers += 1
        bucket = next(iter(refs(function["environment"]["variables"]["TRANSACTION_LOG_BUCKET"])))
        assert any(
            "s3:PutObject" in s["actions"] and any(r.startswith(f"${{{bucket}.arn}}/") for r in s["resources"])
            for s in stack.statements_of_function(function)
        )
    assert writers == 3, "the processor, its delivery job, and the admin function (the audit log's copies)"


def test_function_exists_function_names_carry_the_suffix(synthesized: SynthResult) -> None:
    for deployment, _, stack in stacks_of(synthesized):
        for function in stack.resources("aws_lambda_function").values():
            assert function["function_name"].endswith(f"-{deployment.environment}-{deployment.suffix}")


def test_placeholder_package_the_package_is_the_real_zip(synthesized: SynthResult, lambda_zip: LambdaPackage) -> None:
    stack = platform(synthesized, "dev")
    for function in stack.resources("aws_lambda_function").values():
        assert "placeholder" not in json.dumps(function)
        assert source_code_hash(stack.package(function)) == function["source_code_hash"]


def test_api_invoke_permission_missing_api_gateway_may_invoke_the_function(synthesized: SynthResult) -> None:
    stack = platform(synthesized, "dev")
    function_names = {f"aws_lambda_function.{n}" for n in stack.resources("aws_lambda_function")}
    api_permissions = [
        p for p in stack.resources("aws_lambda_permission").values() if p["principal"] == "apigateway.amazonaws.com"
    ]
    targets = {next(iter(refs(i["uri"]))) for i in stack.resources("aws_api_gateway_integration").values()}
    (authorizer,) = {
        next(iter(refs(a["authorizer_uri"]))) for a in stack.resources("aws_api_gateway_authorizer").values()
    }
    assert targets | {authorizer} <= function_names
    # API Gateway calls the integrations' function and the authorizer's, and no other.
    assert {next(iter(refs(p["function_name"]))) for p in api_permissions} == targets | {authorizer}


def test_api_deployment_stale_the_deployment_hashes_methods_and_integrations(synthesized: SynthResult) -> None:
    stack = platform(synthesized, "dev")
    (deployment,) = stack.resources("aws_api_gateway_deployment").values()
    for kind in ("aws_api_gateway_method", "aws_api_gateway_integration"):
        for name in stack.resources(kind):
            assert f"{kind}.{name}" in deployment["depends_on"]
            assert f"{kind}.{name}.id" in deployment["triggers"]["redeployment"]
    assert deployment["lifecycle"]["create_before_destroy"] is True
