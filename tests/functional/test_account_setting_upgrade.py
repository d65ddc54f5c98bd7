"""Upgrading a deployment made before the account stack: its platform stack had API Gateway's account setting
(``aws_api_gateway_account``) and a role of its own. The next apply must forget that setting, not destroy it: under aws
provider 6.x a destroy resets the account's setting, undoing what the account stack set just before. Real terraform
and the aws provider against the session's moto server, with the ``removed`` block the platform stack is synthesized
with (payments_infra.constructs.api)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from payments_cli.deploy.terraform import Terraform
from payments_cli.local import deviations
from payments_infra.constructs.api import PREVIOUS_ACCOUNT_SETTING
from payments_infra.synth import SynthResult
from payments_infra.terraform import AWS_PROVIDER_CONSTRAINT
from tests.conftest import Services

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="needs the terraform binary")

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def _write(folder: Path, endpoint: str, **sections: Any) -> Terraform:
    document = {
        "terraform": {
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": AWS_PROVIDER_CONSTRAINT}},
            "backend": {"local": {"path": str(folder / "terraform.tfstate")}},
        },
        "provider": {"aws": [{"region": "us-east-1"}]},
        **sections,
    }
    (folder / "cdk.tf.json").write_text(json.dumps(document))
    deviations.write_local_files(folder, endpoint, with_backend=False)
    return Terraform(folder, log=folder / "terraform.log")


def test_the_old_account_setting_is_forgotten_not_destroyed(
    services: Services, synthesized: SynthResult, tmp_path: Path
) -> None:
    endpoint = services.moto.endpoint
    setting_type, setting_name = PREVIOUS_ACCOUNT_SETTING.split(".")
    old = _write(
        tmp_path,
        endpoint,
        resource={
            "aws_iam_role": {"old": {"name": "payment-apigw-logs-dev-upgrade", "assume_role_policy": TRUST}},
            setting_type: {setting_name: {"cloudwatch_role_arn": "${aws_iam_role.old.arn}"}},
        },
    )
    old.init()
    assert old.apply(progress=lambda _line: None).add == 2

    # The upgraded platform stack: no setting, no role of its own, and the removed block it is synthesized with.
    platform = json.loads(synthesized.stack("dev", "pr42").path.read_text())
    assert platform["removed"] == [{"from": PREVIOUS_ACCOUNT_SETTING, "lifecycle": {"destroy": False}}]
    upgraded = _write(tmp_path, endpoint, removed=platform["removed"])
    planned = dict(upgraded.plan().changes)
    # terraform's JSON names forgetting "remove" (its plan says "will no longer be managed by Terraform").
    assert planned == {"aws_iam_role.old": "delete", PREVIOUS_ACCOUNT_SETTING: "remove"}, planned

    # Without the block, the same upgrade would destroy the setting: the check above can fail.
    bare = _write(tmp_path, endpoint)
    assert dict(bare.plan().changes)[PREVIOUS_ACCOUNT_SETTING] == "delete"
