"""`payments connectors` before it reaches a deployment: bad usage is exit 2 with the fix in the message, a
secret key is never taken from a flag and never echoed, and --help teaches (examples, failover, exit codes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def payments(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAYMENTS_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run(
        [sys.executable, "-m", "payments_cli.main", "connectors", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_stripe_without_its_secret_is_bad_usage_and_says_how(tmp_path: Path) -> None:
    done = payments(tmp_path, "set", "--merchant", "acme", "--connector", "stripe")
    assert done.returncode == 2 and "--secret-stdin" in done.stderr and done.stdout == ""
    empty = payments(tmp_path, "set", "--merchant", "acme", "--connector", "stripe", "--secret-stdin", stdin="\n")
    assert empty.returncode == 2 and "read nothing" in empty.stderr


def test_a_secret_is_never_a_flag_and_an_undeployed_suffix_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    flag = payments(tmp_path, "set", "--merchant", "acme", "--connector", "stripe", "--secret", "sk_test_x")
    assert flag.returncode == 2 and "sk_test_x" not in flag.stdout
    secret = "sk_test_NotEchoed0123456789"
    nowhere = payments(
        tmp_path,
        "set",
        "--merchant",
        "acme",
        "--connector",
        "stripe",
        "--secret-stdin",
        "--suffix",
        "nope",
        stdin=secret,
    )
    assert nowhere.returncode == 1 and "not deployed" in nowhere.stderr, nowhere.stderr
    assert secret not in nowhere.stdout + nowhere.stderr
    unknown = payments(tmp_path, "set", "--merchant", "acme", "--connector", "paypal")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr


def test_help_teaches_failover_and_exit_codes(tmp_path: Path) -> None:
    helped = payments(tmp_path, "set", "--help")
    assert helped.returncode == 0
    for phrase in (
        "--secret-stdin",
        "Priority 1 is tried first",
        "never elsewhere",
        "503 no_connector",
        "exit status: 0 done, 1 failed",
    ):
        assert phrase in helped.stdout, phrase
