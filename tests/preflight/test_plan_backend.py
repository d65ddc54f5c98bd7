"""The backend of a planned project, read from what `terraform init` recorded beside the plan JSON
(a plan JSON has no backend block): names and flags are checked, credentials never read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from preflight.loader import load
from preflight.plan_backend import recorded_backend
from preflight.runner import run

PLAN = Path(__file__).parent / "plans" / "service.plan.json"
SECRET = "wJalrXUtnFEMI-not-a-real-key"


def _project(tmp_path: Path, backend: object, *, data_dir: str = ".terraform") -> Path:
    """A folder holding the plan JSON and init's record of ``backend``."""
    shutil.copy(PLAN, tmp_path / "plan.json")
    (tmp_path / data_dir).mkdir()
    record = {"version": 3, "terraform_version": "1.11.4", "backend": backend}
    (tmp_path / data_dir / "terraform.tfstate").write_text(json.dumps(record))
    return tmp_path / "plan.json"


def _s3(**config: object) -> dict[str, object]:
    base = {"key": "svc/terraform.tfstate", "region": "us-east-1", "encrypt": True, "use_lockfile": True}
    return {"type": "s3", "config": {**base, **config}, "hash": 1234}


def test_an_unsuffixed_state_bucket_and_lock_table_are_found(tmp_path: Path) -> None:
    plan = _project(tmp_path, _s3(bucket="terraform-state", dynamodb_table="terraform-lock", secret_key=SECRET))
    config = load(plan)
    assert config.terraform["backend"] == {
        "s3": {
            "bucket": "terraform-state",
            "key": "svc/terraform.tfstate",
            "dynamodb_table": "terraform-lock",
            "region": "us-east-1",
            "encrypt": True,
            "use_lockfile": True,
        }
    }, "names and flags only: never the credentials init was given"
    found = {(f.check_id, f.resource, f.attribute) for f in run(config)}
    assert {("PF101", "terraform.backend.s3", "bucket"), ("PF101", "terraform.backend.s3", "dynamodb_table")} <= found
    assert SECRET not in json.dumps([f.as_dict() for f in run(config)])


def test_a_suffixed_and_protected_backend_passes_and_an_unprotected_one_does_not(tmp_path: Path) -> None:
    config = load(_project(tmp_path, _s3()))
    suffix = config.suffix
    assert suffix, "the hand-written plan declares its suffix"
    plan = tmp_path / "plan.json"
    record = tmp_path / ".terraform" / "terraform.tfstate"
    record.write_text(json.dumps({"backend": _s3(bucket=f"state-{suffix}")}))
    assert not [f for f in run(load(plan)) if f.resource.startswith("terraform.")]
    record.write_text(json.dumps({"backend": _s3(bucket=f"state-{suffix}", encrypt=False, use_lockfile=False)}))
    assert {(f.check_id, f.attribute) for f in run(load(plan)) if f.resource.startswith("terraform.")} == {
        ("PF706", "encrypt"),
        ("PF706", "use_lockfile"),
    }


@pytest.mark.parametrize(
    "record",
    ["not json", "[]", '{"backend": null}', '{"backend": {"config": {}}}', '{"backend": {"type": 3}}'],
)
def test_no_usable_record_means_no_backend_and_no_error(tmp_path: Path, record: str) -> None:
    shutil.copy(PLAN, tmp_path / "plan.json")
    (tmp_path / ".terraform").mkdir()
    (tmp_path / ".terraform" / "terraform.tfstate").write_text(record)
    assert recorded_backend(tmp_path / "plan.json") is None
    assert "terraform" not in load(tmp_path / "plan.json").document


def test_tf_data_dir_is_where_init_recorded_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _project(tmp_path, _s3(bucket="shared-state"), data_dir="tfdata")
    assert recorded_backend(plan) is None, "not in .terraform/"
    monkeypatch.setenv("TF_DATA_DIR", "tfdata")
    assert recorded_backend(plan) == {"s3": {**_s3(bucket="shared-state")["config"]}}  # type: ignore[dict-item]


def test_plans_sharing_one_init_record_are_not_said_to_share_their_state(tmp_path: Path) -> None:
    """Two workspaces' plans in one folder read the same record (the backend as init last left it), so it
    cannot tell where each plan's state goes; plans of two folders, each with its own record, can."""
    from preflight.runner import check_files

    (tmp_path / "one").mkdir()
    staging = _project(tmp_path / "one", _s3(bucket="acme-tfstate"))
    prod = tmp_path / "one" / "prod.plan.json"
    shutil.copy(staging, prod)
    # (The copy creates every other name the first does: only the state is in question here.)
    found = check_files([staging, prod]).findings
    assert [f for f in found if f.check_id == "PF110"] and not [
        f for f in found if f.check_id == "PF110" and f.resource == "terraform.backend.s3"
    ]
    (tmp_path / "two").mkdir()
    other = _project(tmp_path / "two", _s3(bucket="acme-tfstate"))
    shared = {(f.file, f.resource) for f in check_files([staging, other]).findings if f.check_id == "PF110"}
    assert (str(staging), "terraform.backend.s3") in shared and (str(other), "terraform.backend.s3") in shared
