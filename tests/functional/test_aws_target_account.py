"""The aws target's first contact with an account, against the session's moto server standing in for one (reached
through boto3's own ``AWS_ENDPOINT_URL_<SERVICE>`` variables, as a developer would point the CLI elsewhere): whose
credentials these are, the clear refusal without any, where the bootstrap's state is looked for, and the terraform
environment, which never inherits an endpoint override (terraform must talk to the real account)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from payments_cli.aws import target as aws_target
from payments_cli.deploy.self_hosted_state import StateHome, state_in_bucket
from payments_cli.local.emulator import EMULATOR_ACCOUNT, EMULATOR_REGION
from tests.conftest import Services


@pytest.fixture
def account(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    for service in ("STS", "S3"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", services.moto.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", EMULATOR_REGION)
    return services


def test_the_credentials_name_their_account(account: Services) -> None:
    assert aws_target.check_credentials(None) == EMULATOR_ACCOUNT


def test_no_credentials_is_a_refusal_that_says_how_to_give_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", EMULATOR_REGION)
    with pytest.raises(aws_target.CredentialsMissing, match="--profile NAME") as refused:
        aws_target.check_credentials(None)
    assert refused.value.exit_code == 1
    with pytest.raises(aws_target.CredentialsMissing, match="could not be found"):
        aws_target.check_credentials("no-such-profile")


def test_the_bootstraps_state_is_looked_for_in_the_account(account: Services) -> None:
    bucket = f"payment-tfstate-dev-{uuid.uuid4().hex[:8]}"
    home = StateHome(bucket, aws_target.BOOTSTRAP_STATE_KEY, EMULATOR_REGION)
    s3 = aws_target._s3(None, EMULATOR_REGION)
    assert not state_in_bucket(s3, home)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=aws_target.BOOTSTRAP_STATE_KEY, Body=b"{}")
    assert state_in_bucket(s3, home)


def test_terraform_runs_with_the_profile_and_without_any_endpoint_override(
    account: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    env = aws_target._env("ci-deployer")
    assert env["AWS_PROFILE"] == "ci-deployer"
    assert not [name for name in env if name.startswith("AWS_ENDPOINT_URL")], "set for this test, and not passed on"
    assert "AWS_PROFILE" not in aws_target._env(None), "the default chain, as the caller has it"
