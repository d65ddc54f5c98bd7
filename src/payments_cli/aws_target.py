"""The aws target: the same synthesized stacks, applied to a real AWS account with the user's own
credentials and profile, no emulator endpoints, and the real S3 state backend.

Nothing here rewrites the stacks: terraform runs in the synthesized folders as they are. The bootstrap
stack's local state is kept in ``.payments/aws/<env>-<suffix>/``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from payments_cli.local.state import StateFolder
from payments_cli.local.target import Prepared, Progress, prepare
from payments_cli.terraform_runner import Summary, Terraform, stderr_progress


class CredentialsMissing(RuntimeError):
    """No usable AWS credentials."""


def _folder(state: StateFolder, environment: str, suffix: str) -> Path:
    return state.ensure().root / "aws" / f"{environment}-{suffix}"


def check_credentials(profile: str | None) -> str:
    """The caller's account id; CredentialsMissing saying how to provide credentials otherwise."""
    try:
        session = boto3.Session(profile_name=profile) if profile else boto3.Session()
        sts = session.client("sts", config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1}))
        return str(sts.get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as error:
        raise CredentialsMissing(
            f"no usable AWS credentials ({error}). Use --profile NAME (a profile from ~/.aws/config), or set "
            "AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; `aws sts get-caller-identity` must work."
        ) from None


def _env(profile: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    if profile:
        env["AWS_PROFILE"] = profile
    return env


def _prepared(state: StateFolder, environment: str, suffix: str, progress: Progress) -> Prepared:
    return prepare(state, environment, suffix, progress=progress, folder=_folder(state, environment, suffix))


def _stacks(prepared: Prepared, profile: str | None, lock_timeout: str) -> tuple[Terraform, Terraform]:
    log = prepared.folder / "logs" / "terraform.log"
    env = _env(profile)
    return (
        Terraform(prepared.bootstrap_dir, log=log, env=env, lock_timeout=lock_timeout),
        Terraform(prepared.platform_dir, log=log, env=env, lock_timeout=lock_timeout),
    )


def bootstrap(
    state: StateFolder, environment: str, suffix: str, *, profile: str | None, progress: Progress = stderr_progress
) -> Summary:
    """Create the deployment's state bucket in the account."""
    account = check_credentials(profile)
    prepared = _prepared(state, environment, suffix, progress)
    progress(f"==> bootstrapping {prepared.naming.state_bucket()} in account {account}")
    stack, _ = _stacks(prepared, profile, "0s")
    stack.init()
    return stack.apply(progress=progress)


def run(
    state: StateFolder,
    environment: str,
    suffix: str,
    action: str,
    *,
    profile: str | None,
    lock_timeout: str = "0s",
    progress: Progress = stderr_progress,
) -> Summary:
    """``plan``, ``deploy`` or ``destroy`` one deployment in the account."""
    account = check_credentials(profile)
    prepared = _prepared(state, environment, suffix, progress)
    bootstrap_stack, platform = _stacks(prepared, profile, lock_timeout)
    if action == "deploy":
        progress(f"==> bootstrapping {prepared.naming.state_bucket()} in account {account}")
        bootstrap_stack.init()
        bootstrap_stack.apply(progress=progress)
    started = time.monotonic()
    progress(f"==> terraform init ({prepared.naming.state_bucket()}/{prepared.naming.state_key()})")
    platform.init()
    if action == "plan":
        summary = platform.plan()
        for address, change in summary.changes:
            progress(f"    {change:8} {address}")
    else:
        summary = platform.apply(progress=progress, destroy=action == "destroy")
    progress(f"    {summary} ({time.monotonic() - started:.1f}s)")
    return summary
