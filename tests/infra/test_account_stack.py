"""The account stack (stacks.account): API Gateway's CloudWatch role, an account-wide setting, made once per account
and region rather than by every deployment (where the last one applied won and destroying it left every other
deployment's stages without a role), and the bucket that keeps the stack's own state."""

from __future__ import annotations

import json

import pytest

from payments_cli.local.emulator import EMULATOR_ACCOUNT
from payments_infra.naming import AccountNaming, InvalidName
from payments_infra.synth import SynthResult
from preflight.runner import check_files
from tests.infra.tfjson import Stack

REGION = "us-east-1"


@pytest.fixture(scope="module")
def account(synthesized: SynthResult) -> Stack:
    return Stack.load(synthesized.account_stack(REGION).path)


def test_one_account_stack_for_every_deployment_of_a_region(synthesized: SynthResult) -> None:
    accounts = [s for s in synthesized.stacks if s.kind == "account"]
    assert [(s.name, s.region, s.deployment) for s in accounts] == [("payments-account-us-east-1", REGION, None)]
    deployments = {s.deployment for s in synthesized.stacks if s.kind == "platform"}
    assert len(deployments) >= 3, "dev, staging and prod (all in us-east-1) share it"


def test_it_sets_api_gateways_cloudwatch_role_with_the_managed_policy_made_for_it(account: Stack) -> None:
    role_id, role = account.only("aws_iam_role")
    assert role["name"] == "payment-apigw-logs-account-us-east-1"
    trust = account.policy_statements(role["assume_role_policy"])
    assert [s["principals"] for s in trust] == [[{"type": "Service", "identifiers": ["apigateway.amazonaws.com"]}]]
    _, attachment = account.only("aws_iam_role_policy_attachment")
    assert attachment["role"] == f"${{aws_iam_role.{role_id}.name}}"
    assert attachment["policy_arn"].endswith(":iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
    _, setting = account.only("aws_api_gateway_account")
    assert setting["cloudwatch_role_arn"] == f"${{aws_iam_role.{role_id}.arn}}"
    # API Gateway checks the role when the setting is made: its policy must be attached by then.
    assert setting["depends_on"] == [
        f"aws_iam_role_policy_attachment.{account.only('aws_iam_role_policy_attachment')[0]}"
    ]


def test_no_deployment_sets_it(synthesized: SynthResult) -> None:
    for stack in synthesized.stacks:
        if stack.kind == "account":
            continue
        resources = json.loads(stack.path.read_text()).get("resource", {})
        assert "aws_api_gateway_account" not in resources, stack.name
        for role in resources.get("aws_iam_role", {}).values():
            assert "apigateway.amazonaws.com" not in role["assume_role_policy"], (stack.name, role["name"])


def test_its_state_bucket_carries_the_account_and_is_kept_like_a_state_bucket(account: Stack) -> None:
    _, bucket = account.only("aws_s3_bucket")
    assert bucket["bucket"] == f"payment-tfstate-{EMULATOR_ACCOUNT}-account-us-east-1"
    # Its state is moved out before a destroy; what is left are old versions of it.
    assert bucket["force_destroy"] is True
    for companion in (
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_lifecycle_configuration",
    ):
        account.only(companion)
    assert account.doc["terraform"]["backend"] == {"local": {"path": "terraform.tfstate"}}
    assert set(account.doc["output"]) == {"state_bucket", "api_gateway_cloudwatch_role_arn"}


def test_it_passes_preflight_with_its_names_held_to_account_and_region(synthesized: SynthResult) -> None:
    report = check_files([synthesized.account_stack(REGION).path])
    assert (report.errors, report.warnings) == (0, 0)
    assert report.resources >= 8


def test_account_names_need_a_real_account_id_and_region() -> None:
    with pytest.raises(InvalidName, match="12 digits"):
        AccountNaming("12345", REGION)
    with pytest.raises(InvalidName, match="invalid AWS region"):
        AccountNaming(EMULATOR_ACCOUNT, "us_east_1")
    names = AccountNaming(EMULATOR_ACCOUNT, "ap-southeast-2")
    assert names.role("apigw-logs") == "payment-apigw-logs-account-ap-southeast-2"
    assert names.state_bucket() == f"payment-tfstate-{EMULATOR_ACCOUNT}-account-ap-southeast-2"


def test_a_name_without_account_and_region_is_refused_as_synthesized(account: Stack) -> None:
    names = AccountNaming(EMULATOR_ACCOUNT, REGION)
    assert names.check_stack(account.doc) == 2  # the role and the state bucket
    doc = json.loads(json.dumps(account.doc))
    role = next(iter(doc["resource"]["aws_iam_role"].values()))
    role["name"] = "payment-apigw-logs"
    with pytest.raises(InvalidName, match="does not end with the account stack's -account-us-east-1"):
        names.check_stack(doc)
