"""The local target's account stack (payments_cli.local.account): applied once per emulator and stack, skipped while
both are the same, started afresh on a new emulator, and applied by one ``up`` at a time. Terraform is a recorder
here; the real apply against the emulator runs in tests/emulator/test_local_target.py."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from payments_cli.deploy.state import StateFolder
from payments_cli.deploy.terraform import Summary
from payments_cli.local import account


class Recorder:
    """terraform for the account stack: records init/apply; an apply can be held until the test lets it go."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.hold = threading.Event()
        self.hold.set()
        self.applying = threading.Event()

    def init(self, **_: Any) -> None:
        self.calls.append("init")

    def apply(self, *, destroy: bool = False, **_: Any) -> Summary:
        self.applying.set()
        self.hold.wait(timeout=30)
        self.calls.append("destroy" if destroy else "apply")
        return Summary(add=0 if destroy else 9, remove=9 if destroy else 0)


@pytest.fixture
def terraform(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(account, "_terraform", lambda *_args: recorder)
    return recorder


@pytest.fixture
def state(tmp_path: Path) -> StateFolder:
    return StateFolder(tmp_path / "state").ensure()


def _stack(state: StateFolder, tmp_path: Path, region_tag: str = "account-us-east-1", extra: str = "") -> Path:
    """A synthesized account stack's folder, its local state in the state root as synthesis puts it."""
    folder = tmp_path / "run" / f"payments-{region_tag}"
    folder.mkdir(parents=True, exist_ok=True)
    backend = {"local": {"path": str(account.account_folder(state) / f"{region_tag}.tfstate")}}
    (folder / "cdk.tf.json").write_text(json.dumps({"terraform": {"backend": backend}, "extra": extra}))
    return folder


def _converge(state: StateFolder, stack: Path, generation: str = "g1") -> Summary | None:
    return account.converge(state, stack, endpoint="http://127.0.0.1:1", generation=generation, log=stack / "log")


def test_applied_once_per_emulator_and_skipped_while_nothing_changed(
    state: StateFolder, tmp_path: Path, terraform: Recorder
) -> None:
    stack = _stack(state, tmp_path)
    first = _converge(state, stack)
    assert first is not None and first.add == 9
    assert _converge(state, stack) is None, "the same stack on the same emulator: no terraform at all"
    assert terraform.calls == ["init", "apply"]


def test_a_changed_stack_is_applied_over_the_state_it_has(
    state: StateFolder, tmp_path: Path, terraform: Recorder
) -> None:
    _converge(state, _stack(state, tmp_path))
    state_file = account.account_folder(state) / "account-us-east-1.tfstate"
    state_file.write_text("{}")  # what the first apply left
    assert _converge(state, _stack(state, tmp_path, extra="a new argument")) is not None
    assert terraform.calls == ["init", "apply", "init", "apply"] and state_file.exists()


def test_a_new_emulator_starts_from_an_empty_state(state: StateFolder, tmp_path: Path, terraform: Recorder) -> None:
    stack = _stack(state, tmp_path)
    _converge(state, stack, "g1")
    state_file = account.account_folder(state) / "account-us-east-1.tfstate"
    state_file.write_text('{"resources": ["of the emulator that is gone"]}')
    assert _converge(state, stack, "g2") is not None
    assert not state_file.exists(), "another emulator's state was dropped before the apply"
    assert terraform.calls == ["init", "apply", "init", "apply"]


def test_an_apply_that_stopped_half_way_is_applied_again_from_its_state(
    state: StateFolder, tmp_path: Path, terraform: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _stack(state, tmp_path)

    def interrupted(**_: Any) -> Summary:
        raise KeyboardInterrupt

    monkeypatch.setattr(terraform, "apply", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _converge(state, stack)
    state_file = account.account_folder(state) / "account-us-east-1.tfstate"
    state_file.write_text("{}")  # what the stopped apply wrote
    monkeypatch.undo()
    monkeypatch.setattr(account, "_terraform", lambda *_args: terraform)
    assert _converge(state, stack) is not None, "not skipped: the record says the stack was never finished"
    assert state_file.exists(), "the same emulator: its state is kept"


def test_two_ups_at_once_apply_it_once(state: StateFolder, tmp_path: Path, terraform: Recorder) -> None:
    stack = _stack(state, tmp_path)
    terraform.hold.clear()
    results: list[Summary | None] = []
    first = threading.Thread(target=lambda: results.append(_converge(state, stack)))
    first.start()
    assert terraform.applying.wait(timeout=30)
    second = threading.Thread(target=lambda: results.append(_converge(state, stack)))
    second.start()
    second.join(timeout=0.5)
    assert second.is_alive(), "the second waits for the first's turn"
    terraform.hold.set()
    first.join(timeout=30)
    second.join(timeout=30)
    assert terraform.calls == ["init", "apply"]
    assert sorted(results, key=lambda r: r is not None) == [None, Summary(add=9)]


def test_destroy_runs_terraform_only_on_the_emulator_that_holds_it(
    state: StateFolder, tmp_path: Path, terraform: Recorder
) -> None:
    stack = _stack(state, tmp_path)
    _converge(state, stack, "g1")

    def destroy(generation: str) -> Summary | None:
        endpoint = "http://127.0.0.1:1"
        return account.destroy(
            state, stack, endpoint=endpoint, generation=generation, log=stack / "log", progress=lambda _line: None
        )

    assert destroy("g2") is None
    assert terraform.calls == ["init", "apply"], "a newer emulator never had it"
    _converge(state, stack, "g1")
    destroyed = destroy("g1")
    assert destroyed is not None and destroyed.remove == 9
    assert not list(account.account_folder(state).glob("*.json")), "forgotten"
    assert _converge(state, stack, "g1") is not None, "and applied again by the next up"
