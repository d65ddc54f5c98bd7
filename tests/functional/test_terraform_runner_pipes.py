"""The terraform runner against a real child process that floods stderr (as ``TF_LOG`` does).

Reading stderr only after stdout closed deadlocked once stderr passed the pipe buffer (64 KiB): these
tests run a fake ``terraform`` (a script found through ``TERRAFORM_BIN``) that writes 1 MiB to stderr
before its ``-json`` stdout, and fail if the runner does not return within a few seconds.

They start processes, unlike the rest of this tier, because the bug only exists between real pipes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from payments_cli.deploy import terraform as terraform_runner
from payments_cli.deploy.terraform import LockUnavailable, StateLocked, Summary, Terraform, TerraformError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the fake terraform is a #! script")

T = TypeVar("T")

MIB = 1024 * 1024
# Long enough for a loaded CI machine to push 1 MiB through a pipe, far shorter than a deadlock.
DEADLINE_SECONDS = 20.0

# FAKE_TF_SCENARIO picks what it writes to stderr and stdout, in which order, and its exit code.
FAKE_TERRAFORM = """\
#!{python}
import json, os, sys

with open(os.environ["FAKE_TF_PIDFILE"], "w") as pidfile:
    pidfile.write(str(os.getpid()))
scenario = os.environ["FAKE_TF_SCENARIO"]
size = int(os.environ["FAKE_TF_STDERR_BYTES"])
line = "2025-01-01T00:00:00.000Z [TRACE] provider.terraform-provider-aws: HTTP Request Sent: " + "x" * 100 + "\\n"

def flood(prefix=""):
    if prefix:
        sys.stderr.write(prefix)
    written = 0
    while written < size:
        sys.stderr.write(line)
        written += len(line)
    sys.stderr.flush()

def emit(message):
    sys.stdout.write(json.dumps(message) + "\\n")
    sys.stdout.flush()

hook = {{"resource": {{"addr": "aws_s3_bucket.receipts"}}, "action": "create"}}
if scenario == "apply-ok":
    flood()
    emit({{"type": "planned_change", "change": {{"resource": hook["resource"], "action": "create"}}}})
    emit({{"type": "change_summary", "changes": {{"add": 1, "change": 0, "remove": 0}}}})
    emit({{"type": "apply_start", "hook": hook}})
    emit({{"type": "apply_complete", "hook": hook}})
    sys.exit(0)
if scenario == "apply-reads-first":
    # A destroy's apply phase reads data sources before the first resource goes.
    read = {{"resource": {{"addr": "data.aws_partition.current"}}, "action": "read"}}
    emit({{"type": "change_summary", "changes": {{"add": 1, "change": 0, "remove": 0}}}})
    emit({{"type": "apply_start", "hook": read}})
    emit({{"type": "apply_complete", "hook": read}})
    emit({{"type": "apply_start", "hook": hook}})
    emit({{"type": "apply_complete", "hook": hook}})
    sys.exit(0)
if scenario == "apply-fails":
    flood("FIRST-STDERR-LINE\\n")
    emit({{"type": "change_summary", "changes": {{"add": 1, "change": 0, "remove": 0}}}})
    sys.stderr.write("Error: creating S3 Bucket (receipts): BucketAlreadyOwnedByYou LAST-STDERR-LINE\\n")
    sys.exit(1)
if scenario == "init-locked":
    # init has no -json: its errors are on stderr only, here followed by another 1 MiB of TF_LOG lines.
    sys.stderr.write("Error: Error acquiring the state lock\\n\\nLock Info:\\n  ID: 1234\\n  Who: ci@runner-7\\n")
    flood()
    sys.exit(1)
if scenario == "plan-lock-unwritable-once":
    # The lock could not be written and nobody holds it (no Lock Info): the first run only.
    marker = os.environ["FAKE_TF_PIDFILE"] + ".tried"
    if not os.path.exists(marker):
        open(marker, "w").close()
        detail = "Error message: operation error S3: PutObject, https response error StatusCode: 500"
        emit({{"type": "diagnostic", "@level": "error",
              "diagnostic": {{"severity": "error", "summary": "Error acquiring the state lock", "detail": detail}}}})
        sys.exit(1)
    emit({{"type": "change_summary", "changes": {{"add": 0, "change": 0, "remove": 0}}}})
    sys.exit(0)
if scenario == "apply-unlock-fails":
    # The apply did its work; releasing the lock afterwards failed (the backend busy): the lock is this run's own.
    emit({{"type": "apply_start", "hook": hook}})
    emit({{"type": "apply_complete", "hook": hook}})
    detail = ("Error message: operation error S3: DeleteObject, StatusCode: 503\\n"
              "Lock Info:\\n  ID:        abc-123\\n  Who:       ci@runner-7\\n  Operation: OperationTypeApply")
    emit({{"type": "diagnostic", "@level": "error",
          "diagnostic": {{"severity": "error", "summary": "Error releasing the state lock", "detail": detail}}}})
    sys.exit(1)
if scenario == "plan-lock-unwritable":
    detail = "Error message: operation error S3: PutObject, https response error StatusCode: 500"
    emit({{"type": "diagnostic", "@level": "error",
          "diagnostic": {{"severity": "error", "summary": "Error acquiring the state lock", "detail": detail}}}})
    sys.exit(1)
raise SystemExit("unknown scenario " + scenario)
"""


@pytest.fixture
def fake_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Terraform]]:
    """A ``Terraform`` whose binary is the fake script, run in the given scenario; kills it at teardown."""
    binary = tmp_path / "bin" / "terraform"
    binary.parent.mkdir()
    binary.write_text(FAKE_TERRAFORM.format(python=sys.executable), encoding="utf-8")
    binary.chmod(0o755)
    pidfile = tmp_path / "terraform.pid"
    monkeypatch.setenv("TERRAFORM_BIN", str(binary))
    monkeypatch.setenv("FAKE_TF_PIDFILE", str(pidfile))
    monkeypatch.setenv("FAKE_TF_STDERR_BYTES", str(MIB))
    workdir = tmp_path / "stack"
    workdir.mkdir()

    def make(scenario: str) -> Terraform:
        monkeypatch.setenv("FAKE_TF_SCENARIO", scenario)
        return Terraform(workdir, log=tmp_path / "logs" / "terraform.log")

    yield make
    # A deadlocked run leaves the fake blocked on a full pipe: kill it so the runner's thread ends too.
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def within_deadline(action: Callable[[], T]) -> T:
    """``action()``, run on a thread; fails the test if it has not returned after ``DEADLINE_SECONDS``."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = action()
        except BaseException as error:  # handed back to the test thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE_SECONDS)
    if thread.is_alive():
        pytest.fail(f"the runner did not return within {DEADLINE_SECONDS:.0f}s: it deadlocked on the stderr pipe")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def test_apply_finishes_and_reports_progress_with_1_mib_of_stderr(
    fake_terraform: Callable[[str], Terraform], tmp_path: Path
) -> None:
    terraform = fake_terraform("apply-ok")
    progress: list[str] = []

    summary: Summary = within_deadline(lambda: terraform.apply(progress=progress.append))

    assert (summary.add, summary.change, summary.remove) == (1, 0, 0)
    assert summary.changes == [("aws_s3_bucket.receipts", "create")]
    assert len(progress) == 1
    assert progress[0].startswith("  [  1/1] created   aws_s3_bucket.receipts (")
    # The log still has everything: the command, every stderr byte and the -json lines.
    log = (tmp_path / "logs" / "terraform.log").read_text(encoding="utf-8")
    assert "$ terraform apply -json -input=false -auto-approve -lock-timeout=0s" in log
    assert log.count("[TRACE] provider.terraform-provider-aws") >= MIB // 200
    assert '"type": "apply_complete"' in log


def test_failure_with_1_mib_of_stderr_shows_its_tail(
    fake_terraform: Callable[[str], Terraform], tmp_path: Path
) -> None:
    terraform = fake_terraform("apply-fails")

    with pytest.raises(TerraformError) as raised:
        within_deadline(lambda: terraform.apply(progress=lambda _line: None))

    message = str(raised.value)
    assert not isinstance(raised.value, StateLocked)
    assert message.startswith("terraform apply failed:\n")
    assert "BucketAlreadyOwnedByYou LAST-STDERR-LINE" in message
    assert "FIRST-STDERR-LINE" not in message  # only the tail, the start is in the log
    assert f"Full log: {tmp_path / 'logs' / 'terraform.log'}" in message
    log = (tmp_path / "logs" / "terraform.log").read_text(encoding="utf-8")
    assert "FIRST-STDERR-LINE" in log
    assert "LAST-STDERR-LINE" in log


def test_state_lock_error_is_recognised_before_1_mib_of_more_stderr(
    fake_terraform: Callable[[str], Terraform],
) -> None:
    terraform = fake_terraform("init-locked")

    with pytest.raises(StateLocked, match="state lock is held by ci@runner-7") as raised:
        within_deadline(terraform.init)
    assert raised.value.holder is not None and raised.value.holder.id == "1234", "named though 1 MiB followed it"
    assert "this deployment's state lock is held by ci@runner-7" in str(raised.value)


def test_the_account_stacks_lock_is_named_as_the_account_stacks(fake_terraform: Callable[[str], Terraform]) -> None:
    """Every deployment in the account shares that stack: its lock is not "this deployment's"."""
    terraform = fake_terraform("init-locked")
    terraform.owner = "the account stack"
    with pytest.raises(StateLocked, match="the account stack's state lock is held by ci@runner-7"):
        within_deadline(terraform.init)


def test_a_lock_nobody_holds_that_could_not_be_written_is_tried_again(
    fake_terraform: Callable[[str], Terraform], tmp_path: Path
) -> None:
    terraform = fake_terraform("plan-lock-unwritable-once")
    waits: list[float] = []
    terraform.sleep = waits.append

    summary = within_deadline(terraform.plan)

    assert waits == [terraform_runner.LOCK_RETRY_DELAYS_S[0]] and not summary.applyable
    log = (tmp_path / "logs" / "terraform.log").read_text(encoding="utf-8")
    assert "the state lock could not be written and nobody holds it" in log


def test_a_lock_that_cannot_be_written_is_not_called_another_runs(fake_terraform: Callable[[str], Terraform]) -> None:
    terraform = fake_terraform("plan-lock-unwritable")
    waits: list[float] = []
    terraform.sleep = waits.append

    with pytest.raises(LockUnavailable, match="though no other run holds it") as raised:
        within_deadline(terraform.plan)

    assert not isinstance(raised.value, StateLocked)
    assert waits == list(terraform_runner.LOCK_RETRY_DELAYS_S), "tried once more after each wait"
    assert "StatusCode: 500" in str(raised.value)


def test_only_a_bounded_tail_of_stderr_is_kept_in_memory(fake_terraform: Callable[[str], Terraform]) -> None:
    terraform = fake_terraform("apply-fails")

    code, _messages, stderr = within_deadline(lambda: terraform._run(["apply", "-json"]))

    assert code == 1
    limit = terraform_runner._STDERR_TAIL_CHARS + terraform_runner._STDERR_CHUNK_CHARS
    assert terraform_runner._STDERR_TAIL_CHARS <= len(stderr.tail) <= limit
    assert stderr.tail.endswith("LAST-STDERR-LINE\n")


def test_changing_is_called_at_the_first_resource_change_not_at_a_data_source_read(
    fake_terraform: Callable[[str], Terraform],
) -> None:
    terraform = fake_terraform("apply-reads-first")
    events: list[str] = []

    within_deadline(lambda: terraform.apply(progress=events.append, changing=lambda: events.append("changing")))

    assert events[0] == "changing" and len(events) == 2
    assert events[1].startswith("  [  1/1] created   aws_s3_bucket.receipts")


def test_a_lock_that_could_not_be_released_after_the_work_is_neither_retried_nor_called_unchanged(
    fake_terraform: Callable[[str], Terraform],
) -> None:
    terraform = fake_terraform("apply-unlock-fails")
    waits: list[float] = []
    terraform.sleep = waits.append
    lines: list[str] = []

    with pytest.raises(TerraformError, match="did its work but could not release the state lock") as raised:
        within_deadline(lambda: terraform.apply(progress=lines.append))

    assert not isinstance(raised.value, StateLocked | LockUnavailable)
    assert "nothing was changed" not in str(raised.value) and "terraform force-unlock abc-123" in str(raised.value)
    assert waits == [] and len(lines) == 1, "the apply ran once: its work is done, never repeated"
