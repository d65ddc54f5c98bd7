"""Every synthesized stack passes an offline ``terraform init`` + ``validate`` against the aws
provider 5.100.0 from the machine's mirror: no argument the stacks use is missing from 5.100.0."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from payments_infra.synth import SynthResult
from payments_infra.terraform import PLUGIN_MIRROR, find_terraform, terraform_env
from tests.deployments import DEPLOYMENTS


def _validate(folder: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    env = terraform_env()
    init = subprocess.run(
        ["terraform", "init", "-backend=false", "-input=false", "-no-color"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if init.returncode != 0:
        return folder, init
    return folder, subprocess.run(
        ["terraform", "validate", "-no-color"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def terraform() -> str:
    path = find_terraform()
    if path is None:
        pytest.fail("terraform is not installed: install Terraform >= 1.10 (see README) to run the infra tier")
    if not PLUGIN_MIRROR.is_dir():
        pytest.fail(f"the provider mirror {PLUGIN_MIRROR} is missing: terraform cannot install hashicorp/aws offline")
    return path


def test_every_stack_of_every_environment_validates_offline(terraform: str, synthesized: SynthResult) -> None:
    folders = [
        synthesized.stack(d.environment, d.suffix, kind).path.parent
        for d in DEPLOYMENTS
        for kind in ("bootstrap", "platform")
    ] + [stack.path.parent for stack in synthesized.stacks if stack.kind == "account"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_validate, folders))
    failures = [
        f"{folder.name}:\n{result.stdout}\n{result.stderr}" for folder, result in results if result.returncode != 0
    ]
    assert not failures, "\n".join(failures)
    for folder, result in results:
        assert "Success! The configuration is valid." in result.stdout, folder
        assert (folder / ".terraform.lock.hcl").read_text().count('version     = "5.100.0"') == 1


def test_validate_catches_an_argument_5_100_lacks(terraform: str, synthesized: SynthResult, tmp_path: Path) -> None:
    """The check above can fail: an argument that exists only in provider 6.x is refused by 5.100.0."""
    import json

    source = synthesized.stack("dev", "pr42", "bootstrap").path.parent
    folder = tmp_path / "mutated"
    shutil.copytree(source, folder)
    doc = json.loads((folder / "cdk.tf.json").read_text())
    versioning = next(iter(doc["resource"]["aws_s3_bucket_versioning"].values()))
    versioning["region"] = "us-east-1"  # per-resource region arrived in 6.0
    (folder / "cdk.tf.json").write_text(json.dumps(doc))
    _, result = _validate(folder)
    assert result.returncode != 0 and 'No argument or block type is named "region"' in result.stderr
