"""The state of a stack that creates the bucket its own state is kept in (the bootstrap stack, on the aws target).

A bucket cannot hold the state of its own creation, so the stack is synthesized with a local backend and its first
apply writes a local file. Right after, the state moves into the bucket it made (``move_into_bucket``: an override file
names the S3 backend, then ``terraform init -migrate-state``), and the local file is deleted: nothing of the deployment
is left on the machine that deployed it, and the next run, from any machine, finds the state in the account
(``state_in_bucket``, ``use_bucket``). Before the stack destroys its bucket, the state moves back out to a local file
(``move_out_of_bucket``), which the destroy then empties and the caller deletes.

This is how AWS CDK's bootstrap and the usual "Terraform backend bootstrapping" modules keep their own state; the
override file is Terraform's own mechanism (an override's backend block replaces the configuration's).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from payments_cli.deploy.terraform import Terraform
from payments_cli.errors import PaymentsError

#: The override file that points a stack at its state in the bucket; absent, the stack uses its local backend.
OVERRIDE_FILE = "payments_backend_override.tf.json"


@dataclass(frozen=True)
class StateHome:
    """Where a stack keeps its state once its bucket exists."""

    bucket: str
    key: str
    region: str
    #: A ``-backend-config`` file in the stack's folder with settings beyond these (an emulator's endpoints).
    backend_config: Path | None = None


def s3_backend(home: StateHome) -> dict[str, Any]:
    """The override: the S3 backend in the stack's own bucket, encrypted, with S3-native locking."""
    settings = {"bucket": home.bucket, "key": home.key, "region": home.region, "encrypt": True, "use_lockfile": True}
    return {"terraform": {"backend": {"s3": settings}}}


def local_state_file(stack_dir: Path) -> Path:
    """The local state file the synthesized stack names (its local backend's path), as an absolute path."""
    document = json.loads((stack_dir / "cdk.tf.json").read_text())
    path = Path(document["terraform"]["backend"]["local"]["path"])
    return path if path.is_absolute() else stack_dir / path


class StateBucketUnreadable(PaymentsError):
    """The state bucket could not be asked whether it holds the state (denied, or S3 unreachable)."""


def state_in_bucket(s3: Any, home: StateHome) -> bool:
    """Whether the state object is in the bucket (False also when the bucket does not exist yet)."""
    return _exists(lambda: s3.head_object(Bucket=home.bucket, Key=home.key), f"s3://{home.bucket}/{home.key}")


def bucket_exists(s3: Any, home: StateHome) -> bool:
    """Whether the bucket exists (and these credentials may use it)."""
    return _exists(lambda: s3.head_bucket(Bucket=home.bucket), f"s3://{home.bucket}")


def _exists(head: Callable[[], object], what: str) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        head()
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            return False
        raise StateBucketUnreadable(
            f"cannot read {what} ({code or 'error'}): these credentials need s3:ListBucket and s3:GetObject on the "
            "deployment's state bucket, and the bucket name must be this account's"
        ) from None
    except BotoCoreError as error:
        raise StateBucketUnreadable(f"cannot reach S3 to read {what}: {type(error).__name__}") from None
    return True


def use_bucket(terraform: Terraform, home: StateHome) -> None:
    """Point the stack at its state in the bucket (every run after the first)."""
    _write_override(terraform.workdir, home)
    terraform.init(backend_config=home.backend_config)


def move_into_bucket(terraform: Terraform, home: StateHome) -> None:
    """After an apply with the local backend made the bucket: copy the state into it, then delete the local file
    (and terraform's backup of it). The folder must have been initialized with the local backend."""
    _write_override(terraform.workdir, home)
    terraform.migrate_state(backend_config=home.backend_config)
    forget_local_state(terraform.workdir)


def forget_local_state(stack_dir: Path) -> None:
    """Delete the stack's local state file and terraform's backup of it (missing ones are no error)."""
    local = local_state_file(stack_dir)
    for leftover in (local, local.with_name(local.name + ".backup")):
        leftover.unlink(missing_ok=True)


def move_out_of_bucket(terraform: Terraform) -> Path:
    """Before the stack destroys its bucket: bring the state back to the local file its configuration names; that
    file. The folder must have been initialized with the bucket (``use_bucket``)."""
    (terraform.workdir / OVERRIDE_FILE).unlink(missing_ok=True)
    terraform.migrate_state()
    return local_state_file(terraform.workdir)


def _write_override(stack_dir: Path, home: StateHome) -> None:
    (stack_dir / OVERRIDE_FILE).write_text(json.dumps(s3_backend(home), indent=2) + "\n")
