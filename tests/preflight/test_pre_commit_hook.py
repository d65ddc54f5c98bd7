"""The pre-commit hook another repository uses: the files it picks, and its entry run as pre-commit runs it
(the entry, its args, then every picked file in one process)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.command import PAYMENTS, payments_env

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def hook() -> dict[str, Any]:
    [only] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return dict(only)


def test_the_hook_is_the_payments_check_command_on_all_files_at_once(hook: dict[str, Any]) -> None:
    assert hook["id"] == "payments-check" and hook["language"] == "python"
    assert hook["entry"] == "payments check" and hook["pass_filenames"] is True
    assert hook["require_serial"] is True, "names two stacks would both create are only found in one process"


@pytest.mark.parametrize(
    ("path", "picked"),
    [
        ("cdktf.out/stacks/payments-dev-pr1/cdk.tf.json", True),
        ("infra/main.tf.json", True),
        ("plan.json", True),
        ("build/plan.json", True),
        ("package.json", False),
        ("infra/main.tf", False),
        ("explain.json", False),
    ],
)
def test_the_hook_picks_terraform_json_and_plan_json(hook: dict[str, Any], path: str, picked: bool) -> None:
    assert bool(re.search(hook["files"], path)) is picked  # pre-commit matches `files` with re.search


def test_the_entry_runs_on_the_picked_files_and_fails_the_commit_on_an_error(
    hook: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "main.tf.json").write_text(
        json.dumps({"resource": {"aws_s3_bucket": {"logs": {"bucket": "logs", "acl": "public-read"}}}})
    )
    (tmp_path / "package.json").write_text('{"name": "not terraform"}')
    picked = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if re.search(hook["files"], str(p)))
    assert picked == ["infra/main.tf.json"]
    command, *args = shlex.split(hook["entry"])
    assert command == PAYMENTS.name
    result = subprocess.run(
        [str(PAYMENTS), *args, *picked], cwd=tmp_path, env=payments_env(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 1 and "preflight FAILED" in result.stdout
