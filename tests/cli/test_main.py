"""``payments`` as users of checkov, ruff or terraform expect it: ``--version``, completion, colour only on a
terminal, quiet on a closed pipe, a crash told apart from a failure, one error base with its exit code."""

from __future__ import annotations

import fcntl
import gc
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from payments_cli import main as cli
from payments_cli.commands import EXIT_CLOSED_PIPE, EXIT_CRASH, EXIT_FAILED, EXIT_USAGE, check
from payments_cli.commands.common import guarded
from payments_cli.deploy.terraform import TerraformError
from payments_cli.errors import PaymentsError
from payments_infra.naming import InvalidName
from preflight.model import Finding, Severity
from preflight.output import text
from preflight.runner import Report
from tests.cli.command import PAYMENTS, payments, payments_env

ESC = "\x1b["


def test_version_prints_the_installed_version_and_exits_0() -> None:
    result = payments("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"payments {version('payment-platform')}\n", "")


def test_the_console_script_runs_main_then_freezes_what_it_built(monkeypatch: pytest.MonkeyPatch) -> None:
    # The interpreter's last collections walked the CDK bindings' classes for 0.4 s of a 3 s synth; the console
    # script freezes them instead, and only it: tests call main() many times in one process.
    monkeypatch.setattr(sys, "argv", ["payments", "check", "--list"])
    frozen_before = gc.get_freeze_count()
    try:
        assert cli.main(["check", "--list"]) == 0
        assert gc.get_freeze_count() == frozen_before, "main() itself must not freeze"
        assert cli.run() == 0
        assert gc.get_freeze_count() > frozen_before
    finally:
        gc.unfreeze()


def test_the_entry_point_is_marked_for_argcomplete() -> None:
    head = Path(cli.__file__).read_bytes()[:1024]
    assert b"PYTHON_ARGCOMPLETE_OK" in head


def test_completion_answers_the_shell(tmp_path: Path) -> None:
    # What bash's completion hook asks (argcomplete's protocol); the candidates go to the named file.
    answer = tmp_path / "completions"
    line = "payments ch"
    result = payments(
        _ARGCOMPLETE="1",
        COMP_LINE=line,
        COMP_POINT=str(len(line)),
        _ARGCOMPLETE_IFS="\n",
        _ARGCOMPLETE_STDOUT_FILENAME=str(answer),
    )
    assert result.returncode == 0, result.stderr
    assert answer.read_text().split() == ["check"]


def test_a_closed_pipe_exits_141_quietly() -> None:
    # A pipe of one page: the report (about 20 kB) cannot fit, so the command is still writing when the reader
    # goes, as behind `| head -1`.
    process = subprocess.Popen(
        [str(PAYMENTS), "check", "--list"],
        env=payments_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == EXIT_CLOSED_PIPE
    assert first.startswith(b"PF101 ")
    assert stderr == b""


def test_head_of_the_check_list_in_a_shell_pipeline() -> None:
    result = subprocess.run(
        ["bash", "-c", f"'{PAYMENTS}' check --list | head -1; exit ${{PIPESTATUS[0]}}"],
        env=payments_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode in (0, EXIT_CLOSED_PIPE)  # 0 when all was written before head left
    assert result.stdout.startswith("PF101 ") and len(result.stdout.splitlines()) == 1
    assert result.stderr == ""


def _on_a_terminal(*args: str, **env: str | None) -> str:
    """What ``payments ARGS`` writes to stdout when it is a terminal."""
    leader, follower = os.openpty()
    process = subprocess.Popen([str(PAYMENTS), *args], env=payments_env(**env), stdout=follower, stderr=subprocess.PIPE)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    return b"".join(chunks).decode()


def test_severities_are_coloured_on_a_terminal() -> None:
    listing = _on_a_terminal("check", "--list")
    assert f"{ESC}31merror  {ESC}0m" in listing and f"{ESC}33mwarning{ESC}0m" in listing


@pytest.mark.parametrize("no_color", ["1", "true", "0"])
def test_no_color_turns_colour_off_even_on_a_terminal(no_color: str) -> None:
    # https://no-color.org: any non-empty value, whatever it says; it wins over FORCE_COLOR.
    assert ESC not in _on_a_terminal("check", "--list", NO_COLOR=no_color, FORCE_COLOR="1")


def test_piped_output_has_no_colour_unless_forced() -> None:
    assert ESC not in payments("check", "--list").stdout
    assert ESC not in payments("check", "--list", NO_COLOR="").stdout  # empty means unset
    assert f"{ESC}31merror" in payments("check", "--list", FORCE_COLOR="1").stdout


def test_the_text_report_colours_severities_and_the_verdict() -> None:
    finding = Finding("PF201", Severity.ERROR, "aws_iam_role.x", "", "too wide", "narrow it", "cdk.tf.json")
    report = Report(
        configurations=(), findings=(finding, Finding("PF9", Severity.WARNING, "r.y", "", "m", "f")), seconds=0
    )
    coloured = text.render(report, color=True)
    assert f"{ESC}31mERROR  {ESC}0m PF201" in coloured and f"{ESC}33mWARNING{ESC}0m PF9" in coloured
    assert f"preflight {ESC}31mFAILED{ESC}0m" in coloured
    assert ESC not in text.render(report) and "    ERROR   PF201 too wide" in text.render(report)


def test_smoke_results_are_coloured_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from payments_cli.local import smoke as local_smoke

    def run_smoke(state: object, environment: str, suffix: str, *, report: object) -> list[local_smoke.Check]:
        checks = [local_smoke.Check("POST /payments", True, "201"), local_smoke.Check("GET", False, "500")]
        for one in checks:
            report(one)  # type: ignore[operator]
        return checks

    monkeypatch.setattr(local_smoke, "run_smoke", run_smoke)
    monkeypatch.setenv("PAYMENTS_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert cli.main(["smoke"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert f"{ESC}32mok  {ESC}0m" in out and f"{ESC}31mFAIL{ESC}0m" in out and f"{ESC}31mFAILED{ESC}0m" in out
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli.main(["smoke"]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert ESC not in out and "  FAIL  GET" in out and out.endswith("smoke dev/local: FAILED\n")


def _boom() -> int:
    raise RuntimeError("boom")


def test_a_crash_exits_70_with_one_line_pointing_at_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(check, "_list_checks", _boom)
    assert cli.main(["check", "--list"]) == EXIT_CRASH == 70
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "payments check: crashed, a bug: RuntimeError: boom; rerun with --traceback to see where\n"


@pytest.mark.parametrize("argv", [["--traceback", "check", "--list"], ["check", "--traceback", "--list"]])
def test_traceback_shows_the_crash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkeypatch.setattr(check, "_list_checks", _boom)
    assert cli.main(argv) == EXIT_CRASH
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):\n")
    assert 'in _boom\n    raise RuntimeError("boom")' in err
    assert err.endswith("RuntimeError: boom\npayments check: crashed, a bug: RuntimeError: boom\n")


def test_a_crash_in_a_guarded_command_is_a_crash_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def synthesize(*args: object, **kwargs: object) -> None:
        raise KeyError("stacks")

    monkeypatch.setattr("payments_cli.commands.common.synthesize_deployment", synthesize)
    assert cli.main(["synth", "--suffix", "pr1"]) == EXIT_CRASH
    assert "payments synth: crashed, a bug: KeyError: 'stacks'" in capsys.readouterr().err


def test_a_payments_error_is_its_message_and_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse() -> int:
        raise PaymentsError("no such deployment: run `payments up`", exit_code=EXIT_USAGE)

    monkeypatch.setattr(check, "_list_checks", refuse)
    assert cli.main(["check", "--list"]) == EXIT_USAGE
    assert capsys.readouterr().err == "payments check: no such deployment: run `payments up`\n"


def test_interrupted_is_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted() -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(check, "_list_checks", interrupted)
    assert cli.main(["check", "--list"]) == 130
    assert capsys.readouterr().err == "payments: interrupted\n"


def test_payments_error_carries_its_exit_code() -> None:
    assert PaymentsError("x").exit_code == EXIT_FAILED
    assert PaymentsError("x", exit_code=EXIT_USAGE).exit_code == EXIT_USAGE
    assert str(PaymentsError("what to do")) == "what to do"
    assert issubclass(TerraformError, PaymentsError)


def test_guarded_reports_known_failures_and_lets_bugs_through(capsys: pytest.CaptureFixture[str]) -> None:
    def raises(error: Exception) -> int:
        raise error

    assert guarded("deploy", lambda: raises(TerraformError("apply failed"))) == EXIT_FAILED
    assert guarded("up", lambda: raises(InvalidName("invalid deployment suffix 'A'"))) == EXIT_USAGE
    assert guarded("up", lambda: raises(PaymentsError("taken", exit_code=3))) == 3
    assert capsys.readouterr().err.splitlines() == [
        "payments deploy: apply failed",
        "payments up: invalid deployment suffix 'A'",
        "payments up: taken",
    ]
    with pytest.raises(ZeroDivisionError):
        guarded("up", lambda: 1 // 0)


def test_payments_account_teaches_and_refuses_a_malformed_region_before_anything_runs(tmp_path: Path) -> None:
    shown = payments("account", "--help")
    assert shown.returncode == 0
    for taught in ("payments-account-REGION", "CloudWatch role", "--destroy", "--target aws", "every deployment"):
        assert taught in shown.stdout, taught
    refused = payments("account", "--region", "US East", PAYMENTS_STATE_DIR=str(tmp_path / "state"))
    assert refused.returncode == 2 and "invalid AWS region 'US East'" in refused.stderr, refused.stderr
    assert not (tmp_path / "state").exists(), "nothing started, nothing written"
