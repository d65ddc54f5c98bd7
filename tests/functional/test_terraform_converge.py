"""``Terraform.converge``: plan, then apply that saved plan only when it changes something.

Real terraform, on a configuration of ``terraform_data`` resources (built into terraform: no provider, no
network), with a local state. What a no-change run skips is the apply phase; what it must not skip is the
plan, which proves "no change"; a plan made stale by another run in between must change nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from payments_cli.deploy.terraform import StateLocked, Summary, Terraform

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="needs the terraform binary")


def configuration(tmp_path: Path, **inputs: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "resource": {"terraform_data": {name: {"input": value} for name, value in inputs.items()}},
        "output": {"first": {"value": "${terraform_data." + sorted(inputs)[0] + ".output}"}},
    }
    (tmp_path / "stack" / "main.tf.json").write_text(json.dumps(config), encoding="utf-8")
    return config


@pytest.fixture
def stack(tmp_path: Path) -> Terraform:
    (tmp_path / "stack").mkdir()
    configuration(tmp_path, a="one", b="two")
    terraform = Terraform(tmp_path / "stack", log=tmp_path / "logs" / "terraform.log")
    terraform.init()
    return terraform


def commands(tmp_path: Path) -> list[str]:
    """The terraform commands run so far, from the runner's log."""
    log = (tmp_path / "logs" / "terraform.log").read_text(encoding="utf-8")
    return [line.split()[2] for line in log.splitlines() if line.startswith("$ terraform ")]


def test_a_first_converge_plans_then_applies_that_plan(stack: Terraform, tmp_path: Path) -> None:
    lines: list[str] = []
    summary = stack.converge(progress=lines.append)
    assert (summary.add, summary.change, summary.remove) == (2, 0, 0)
    assert summary.outputs == {"first": "one"}, "the apply's output values come with its summary"
    assert summary.applyable, "a converge that applied says so (the local target restarts what it serves)"
    assert sorted(address for address, _ in summary.changes) == ["terraform_data.a", "terraform_data.b"]
    assert [line.split("]")[0] for line in lines] == ["  [  1/2", "  [  2/2"], "progress counts to the plan's total"
    assert commands(tmp_path) == ["init", "plan", "apply"]
    assert not (stack.workdir / "payments.tfplan").exists(), "the saved plan is deleted once applied"


def test_a_converge_without_changes_plans_and_does_not_apply(stack: Terraform, tmp_path: Path) -> None:
    stack.converge(progress=lambda _line: None)
    state_before = (stack.workdir / "terraform.tfstate").read_text(encoding="utf-8")
    summary = stack.converge(progress=lambda _line: None)
    assert str(summary) == "0 to add, 0 to change, 0 to destroy" and not summary.applyable
    assert summary.outputs is None, "nothing applied: the caller reads the outputs"
    assert commands(tmp_path)[-1] == "plan", "no apply phase after a plan without changes"
    assert (stack.workdir / "terraform.tfstate").read_text(encoding="utf-8") == state_before
    assert not (stack.workdir / "payments.tfplan").exists()
    assert stack.output() == {"first": "one"}


def test_a_change_to_an_output_alone_is_applied(stack: Terraform, tmp_path: Path) -> None:
    stack.converge(progress=lambda _line: None)
    config = configuration(tmp_path, a="one", b="two")
    config["output"]["second"] = {"value": "${terraform_data.b.output}"}
    (stack.workdir / "main.tf.json").write_text(json.dumps(config), encoding="utf-8")
    summary = stack.converge(progress=lambda _line: None)
    assert summary.total == 0 and summary.outputs == {"first": "one", "second": "two"} and summary.applyable
    assert commands(tmp_path)[-2:] == ["plan", "apply"]


def test_a_plan_made_stale_by_another_run_changes_nothing(stack: Terraform, tmp_path: Path) -> None:
    stack.converge(progress=lambda _line: None)
    configuration(tmp_path, a="one", b="three")

    left_by_other: list[str] = []

    class Interrupted(Terraform):
        """Another run applies between this run's plan and its apply."""

        def plan(self, **kwargs: Any) -> Summary:
            planned = super().plan(**kwargs)
            other = Terraform(self.workdir, log=tmp_path / "logs" / "other.log")
            other.apply(progress=lambda _line: None)  # takes the lock, changes the state, releases it
            left_by_other.append((self.workdir / "terraform.tfstate").read_text(encoding="utf-8"))
            return planned

    interrupted = Interrupted(stack.workdir, log=tmp_path / "logs" / "terraform.log")
    with pytest.raises(StateLocked, match="changed the state after this run planned, so nothing was changed"):
        interrupted.converge(progress=lambda _line: None)
    assert (stack.workdir / "terraform.tfstate").read_text(encoding="utf-8") == left_by_other[0]
    assert not (stack.workdir / "payments.tfplan").exists(), "a refused plan is deleted too"


def test_a_destroy_converge_plans_a_destroy_and_applies_it(stack: Terraform, tmp_path: Path) -> None:
    stack.converge(progress=lambda _line: None)
    lines: list[str] = []
    summary = stack.converge(progress=lines.append, destroy=True)
    assert (summary.add, summary.change, summary.remove) == (0, 0, 2)
    assert all(" destroyed " in line for line in lines) and len(lines) == 2
    state = json.loads((stack.workdir / "terraform.tfstate").read_text(encoding="utf-8"))
    assert state["resources"] == []


def test_changing_is_called_once_when_the_first_resource_starts_to_change(stack: Terraform) -> None:
    calls: list[int] = []
    lines: list[str] = []
    stack.apply(progress=lines.append, changing=lambda: calls.append(len(lines)))
    assert calls == [0], "once, before any resource was done"
    stack.apply(progress=lines.append, changing=lambda: calls.append(len(lines)))
    assert calls == [0], "not at all when nothing changes"


def test_a_lock_another_run_holds_is_refused_naming_that_run(stack: Terraform, tmp_path: Path) -> None:
    """The real terraform holds the real lock: an apply blocked in a provisioner until the test lets it go."""
    stack.converge(progress=lambda _line: None)
    release = tmp_path / "release"
    config = configuration(tmp_path, a="one", b="two")
    config["resource"]["terraform_data"]["held"] = {
        "input": "hold",
        "provisioner": [
            {"local-exec": {"command": f"touch {tmp_path}/holding; while [ ! -e {release} ]; do sleep 0.05; done"}}
        ],
    }
    (stack.workdir / "main.tf.json").write_text(json.dumps(config), encoding="utf-8")
    holder = subprocess.Popen(  # the other run: `terraform apply` in the same folder, holding the state lock
        [stack.binary, "apply", "-auto-approve", "-input=false", "-no-color"],
        cwd=stack.workdir,
        env=stack.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not (tmp_path / "holding").exists():  # it holds the lock from before its provisioner runs
            assert holder.poll() is None, "the holding apply ended early"
            time.sleep(0.05)  # a poll interval, not a wait on time: the loop ends when the file appears
        waits: list[float] = []
        stack.sleep = waits.append
        with pytest.raises(StateLocked, match=r"state lock is held by \S+@\S+ \(apply, since ") as raised:
            stack.plan()
        assert raised.value.holder is not None and raised.value.holder.operation == "OperationTypeApply"
        assert f"terraform force-unlock {raised.value.holder.id}" in str(raised.value)
        assert waits == [], "a lock another run holds is not retried: its holder is named at once"
    finally:
        release.touch()
        assert holder.wait(timeout=60) == 0
