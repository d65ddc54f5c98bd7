"""``payments synth`` and ``payments build`` as a user runs them: a fresh process, real output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from payments_infra.lambda_build import LambdaPackage


def _payments(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payments_cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_synth_writes_both_stacks_and_says_where(tmp_path: Path, lambda_zip: LambdaPackage) -> None:
    result = _payments("synth", "--env", "staging", "--suffix", "pr7", "--package", str(lambda_zip.path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = dict(line.split() for line in result.stdout.splitlines())
    assert written == {
        "bootstrap": "cdktf.out/stacks/payments-bootstrap-staging-pr7/cdk.tf.json",
        "platform": "cdktf.out/stacks/payments-staging-pr7/cdk.tf.json",
    }
    for path in written.values():
        assert (tmp_path / path).is_file()
    assert "Node 20 is end-of-life" not in result.stderr


def test_synth_out_flag_and_the_account_stack_for_an_account_id(tmp_path: Path, lambda_zip: LambdaPackage) -> None:
    out = tmp_path / "elsewhere"
    package = str(lambda_zip.path)
    account = ("--account-id", "210987654321")
    result = _payments("synth", "--suffix", "pr7", "--out", str(out), "--package", package, *account, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (out / "stacks" / "payments-dev-pr7" / "cdk.tf.json").is_file()
    written = out / "stacks" / "payments-account-us-east-1" / "cdk.tf.json"
    assert result.stdout.startswith(f"account    {written}\n")
    assert '"payment-tfstate-210987654321-account-us-east-1"' in written.read_text()


def test_a_malformed_account_id_exits_2_before_anything_is_built(tmp_path: Path) -> None:
    result = _payments("synth", "--suffix", "pr7", "--account-id", "12345678901O", cwd=tmp_path)
    assert result.returncode == 2 and "an account id is 12 digits" in result.stderr
    assert not (tmp_path / "cdktf.out").exists()


def test_a_bad_suffix_exits_2_with_the_rule_and_writes_nothing(tmp_path: Path) -> None:
    result = _payments("synth", "--env", "dev", "--suffix", "PR_42", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid deployment suffix 'PR_42'" in result.stderr and "lower-case" in result.stderr
    assert not (tmp_path / "cdktf.out").exists()


def test_an_unknown_environment_exits_2(tmp_path: Path) -> None:
    result = _payments("synth", "--env", "qa", "--suffix", "pr42", cwd=tmp_path)
    assert result.returncode == 2 and "invalid choice: 'qa'" in result.stderr


def test_a_missing_package_exits_1_and_says_how_to_build_it(tmp_path: Path) -> None:
    result = _payments("synth", "--suffix", "pr42", "--package", "nope.zip", cwd=tmp_path)
    assert result.returncode == 1 and "payments build" in result.stderr


def test_help_teaches(tmp_path: Path) -> None:
    result = _payments("synth", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for words in ("--env", "--suffix", "--out", "cdk.tf.json", "example:"):
        assert words in result.stdout


def test_build_writes_the_same_bytes_as_any_other_build(tmp_path: Path, lambda_zip: LambdaPackage) -> None:
    out = tmp_path / "fn.zip"
    result = _payments("build", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == lambda_zip.path.read_bytes()
    assert f"source_code_hash {lambda_zip.source_code_hash}" in result.stdout


def test_synth_reuses_the_package_while_its_inputs_are_unchanged_and_rebuild_forces_a_build(tmp_path: Path) -> None:
    from payments_infra.synth import default_package_path

    first = _payments("synth", "--suffix", "pr7", cwd=tmp_path)  # builds, or reuses an earlier build
    assert first.returncode == 0, first.stderr
    built_at = default_package_path().stat().st_mtime_ns
    again = _payments("synth", "--suffix", "pr7", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "reused: its inputs are unchanged" in again.stderr
    assert default_package_path().stat().st_mtime_ns == built_at
    forced = _payments("synth", "--suffix", "pr7", "--rebuild", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "reused" not in forced.stderr and ", built" in forced.stderr
    assert default_package_path().stat().st_mtime_ns != built_at
