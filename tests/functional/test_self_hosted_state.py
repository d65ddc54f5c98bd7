"""A stack whose state moves into the bucket it creates, and back out before it destroys it
(payments_cli.deploy.self_hosted_state: the aws target's bootstrap stack).

Real terraform and the real S3 backend against the session's moto server. The stack is one ``terraform_data`` and
the test makes its bucket (the bootstrap stack's bucket takes the aws provider a minute to apply and destroy against
moto, and which resource made the bucket is no concern of the backend): what is proven is where the state is at each
step, read back by terraform itself (a plan with no change must read it from the backend) and by S3.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from payments_cli.deploy.self_hosted_state import (
    OVERRIDE_FILE,
    StateHome,
    local_state_file,
    move_into_bucket,
    move_out_of_bucket,
    state_in_bucket,
    use_bucket,
)
from payments_cli.deploy.terraform import Terraform
from payments_cli.local import deviations
from payments_cli.local.emulator import EMULATOR_REGION
from tests.conftest import Services

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="needs the terraform binary")


def synthesized(folder: Path, bucket: str, state: Path, endpoint: str) -> Terraform:
    """A run's folder as synthesis leaves it (a local backend at ``state``), plus the emulator's override files."""
    folder.mkdir(parents=True)
    document = {
        "terraform": {"backend": {"local": {"path": str(state)}}},
        "resource": {"terraform_data": {"marker": {"input": bucket}}},
    }
    (folder / "cdk.tf.json").write_text(json.dumps(document))
    deviations.write_local_files(folder, endpoint, with_backend=True)
    return Terraform(folder, log=folder.parent / "terraform.log")


def test_the_state_moves_into_its_bucket_and_out_again_before_a_destroy(services: Services, tmp_path: Path) -> None:
    endpoint = services.moto.endpoint
    s3 = services.s3()
    bucket = f"payment-tfstate-selfhosted-{uuid.uuid4().hex[:8]}"
    state = tmp_path / "deployment" / "bootstrap.tfstate"
    home = StateHome(bucket, "bootstrap/terraform.tfstate", EMULATOR_REGION, Path(deviations.BACKEND_FILE))

    first = synthesized(tmp_path / "run-1", bucket, state, endpoint)
    assert local_state_file(first.workdir) == state
    assert not state_in_bucket(s3, home), "no bucket yet"
    first.init()
    assert first.apply(progress=lambda _line: None).add == 1 and state.exists()
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    assert not state_in_bucket(s3, home), "the bucket, but no state in it yet"

    move_into_bucket(first, home)
    assert state_in_bucket(s3, home) and not state.exists(), "in the account, and nothing left on this machine"
    assert not state.with_name(state.name + ".backup").exists()

    # The next run (another folder, maybe another machine) finds it there: without it, the plan would create.
    second = synthesized(tmp_path / "run-2", bucket, state, endpoint)
    use_bucket(second, home)
    assert (second.workdir / OVERRIDE_FILE).exists() and not second.plan().applyable
    assert not state.exists()

    # A destroy: the state comes back out first (the bucket that holds it is about to go).
    assert move_out_of_bucket(second) == state and state.exists()
    assert not (second.workdir / OVERRIDE_FILE).exists()
    assert second.apply(progress=lambda _line: None, destroy=True).remove == 1
    assert json.loads(state.read_text())["resources"] == [], "the destroy went through the local state"


def test_a_missing_bucket_and_a_missing_key_are_both_no_state(services: Services) -> None:
    s3 = services.s3()
    bucket = f"payment-tfstate-empty-{uuid.uuid4().hex[:8]}"
    assert not state_in_bucket(s3, StateHome(bucket, "bootstrap/terraform.tfstate", EMULATOR_REGION))
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    assert not state_in_bucket(s3, StateHome(bucket, "bootstrap/terraform.tfstate", EMULATOR_REGION))


def test_a_lock_object_that_names_no_holder_is_reported_with_what_to_delete(services: Services, tmp_path: Path) -> None:
    """A `.tflock` left unreadable (a run killed mid-write, a hand edit): terraform cannot take the lock and names no
    holder. The refusal says nothing was changed, and which object to delete once no run uses the deployment."""
    from payments_cli.deploy.terraform import LockUnavailable

    s3 = services.s3()
    bucket = f"payment-tfstate-lock-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    home = StateHome(bucket, "bootstrap/terraform.tfstate", EMULATOR_REGION, Path(deviations.BACKEND_FILE))
    stack = synthesized(tmp_path / "run", bucket, tmp_path / "local.tfstate", services.moto.endpoint)
    use_bucket(stack, home)
    stack.lock_retry_delays_s = ()  # the object stays unreadable: trying again would only wait
    s3.put_object(Bucket=bucket, Key=f"{home.key}.tflock", Body=b"\x00 not a lock")  # type: ignore[attr-defined]
    with pytest.raises(LockUnavailable, match="names no holder") as refused:
        stack.apply(progress=lambda _line: None)
    assert "nothing was changed" in str(refused.value) and ".tflock" in str(refused.value)
    assert not state_in_bucket(s3, home), "no state was written"
