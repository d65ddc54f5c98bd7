"""The aws target: the same synthesized stacks, applied to a real AWS account with the user's own
credentials and profile, no emulator endpoints, and the real S3 state backend.

Nothing here rewrites the stacks: terraform runs in the synthesized folders as they are. A deploy applies the
account's stack first (stacks.account: the settings every deployment in the account shares), then the deployment's
bootstrap, then its platform. The account stack's and the bootstrap stack's states live in the state buckets they
create (``deploy.self_hosted_state``: the first apply writes a local file, which then moves into the bucket), so
nothing is kept on the machine that deployed; a destroy removes the platform, then brings the bootstrap's state back
out and removes the state bucket too, where the environment lets buckets be force-destroyed (dev: a pull request's
environment leaves nothing behind but the account stack, which ``payments account --destroy`` removes).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from payments_cli.deploy.prepare import Prepared, prepare, prepare_account
from payments_cli.deploy.self_hosted_state import (
    StateHome,
    bucket_exists,
    forget_local_state,
    local_state_file,
    move_into_bucket,
    move_out_of_bucket,
    state_in_bucket,
    use_bucket,
)
from payments_cli.deploy.state import StateFolder
from payments_cli.deploy.terraform import Progress, Summary, Terraform, TerraformError, stderr_progress
from payments_cli.errors import PaymentsError
from payments_infra.naming import AccountNaming
from payments_infra.stacks.account import ACCOUNT_STATE_KEY, account_stack_name
from payments_infra.synth import AccountScope

#: Where the bootstrap stack's state is kept in the deployment's state bucket (the platform's is Naming.state_key()).
BOOTSTRAP_STATE_KEY = "bootstrap/terraform.tfstate"
#: The least a run waits for the account stack's lock: every deployment in the account shares that stack, so another
#: deployment's deploy holding it for a minute is no reason to fail (a longer --lock-timeout is kept).
ACCOUNT_LOCK_TIMEOUT_S = 300


class CredentialsMissing(PaymentsError):
    """No usable AWS credentials."""


class BootstrapStateMissing(PaymentsError):
    """A state bucket exists but nobody holds the state of the stack that made it (the bootstrap's, the account
    stack's): applying would try to create it again."""


class AdminFunctionMissing(CredentialsMissing):
    """The deployment's admin function does not exist in the account (not deployed, or destroyed)."""


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


def _account_scope(state: StateFolder, account: str, regions: tuple[str, ...] = ()) -> AccountScope:
    """The account stack's local state (before it moves into its bucket, or after it comes out for a destroy) in one
    folder on this machine, not in a run's: a run stopped in between is picked up by the next
    (``_converge_self_hosted``)."""
    return AccountScope(account, regions, state.ensure().root / "aws" / "account")


def _prepared(state: StateFolder, environment: str, suffix: str, account: str, progress: Progress) -> Prepared:
    folder = _folder(state, environment, suffix)
    return prepare(state, environment, suffix, progress=progress, folder=folder, account=_account_scope(state, account))


def _seconds(duration: str) -> float:
    """A terraform duration ("0s", "10m", "1h30m") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(float(n) * units[unit] for n, unit in re.findall(r"(\d+(?:\.\d+)?)([hms])", duration))


def _account_lock_timeout(lock_timeout: str) -> str:
    return lock_timeout if _seconds(lock_timeout) >= ACCOUNT_LOCK_TIMEOUT_S else f"{ACCOUNT_LOCK_TIMEOUT_S}s"


def _stacks(prepared: Prepared, profile: str | None, lock_timeout: str) -> tuple[Terraform, Terraform, Terraform]:
    """The account stack, the bootstrap and the platform."""
    log = prepared.folder / "logs" / "terraform.log"
    env = _env(profile)
    account_lock = _account_lock_timeout(lock_timeout)
    return (
        Terraform(prepared.account_dir, log=log, env=env, lock_timeout=account_lock, owner="the account stack"),
        Terraform(prepared.bootstrap_dir, log=log, env=env, lock_timeout=lock_timeout),
        Terraform(prepared.platform_dir, log=log, env=env, lock_timeout=lock_timeout),
    )


def _s3(profile: str | None, region: str) -> Any:
    session = boto3.Session(profile_name=profile) if profile else boto3.Session()
    config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3})
    return session.client("s3", region_name=region, config=config)


def _state_home(prepared: Prepared) -> StateHome:
    from payments_infra.environments import get_environment

    region = get_environment(prepared.naming.environment).region
    return StateHome(prepared.naming.state_bucket(), BOOTSTRAP_STATE_KEY, region)


def _account_home(naming: AccountNaming) -> StateHome:
    return StateHome(naming.state_bucket(), ACCOUNT_STATE_KEY, naming.region)


def _account_naming(prepared: Prepared, account: str) -> AccountNaming:
    from payments_infra.environments import get_environment

    return AccountNaming(account, get_environment(prepared.naming.environment).region)


def _converge_self_hosted(
    stack: Terraform, home: StateHome, profile: str | None, progress: Progress, what: str
) -> Summary:
    """Create or update a stack that makes its own state bucket; its state ends up in that bucket, none on this
    machine."""
    s3 = _s3(profile, home.region)
    # A local copy is the newest there is: a first run stopped before its state moved, or a destroy that failed after
    # bringing it back out. It is applied from and moved in (over the bucket's copy), as a first run's is.
    had_local = local_state_file(stack.workdir).exists()
    if not had_local:
        if state_in_bucket(s3, home):
            use_bucket(stack, home)
            return stack.converge(progress=progress)
        if bucket_exists(s3, home):
            raise BootstrapStateMissing(_missing(home, what))
    stack.init()
    try:
        summary = stack.converge(progress=progress)
    except TerraformError as failed:
        if had_local or not _holds_state(s3, home):
            raise failed from None
        # Another run made the stack first and moved its state in while this one applied from nothing (two first
        # deploys in one account at once): that state describes the same resources, by the same names; this run's
        # partial one is dropped and the stack converged from the bucket's.
        progress(f"    another run made the {what} first; going on from its state in s3://{home.bucket}/{home.key}")
        forget_local_state(stack.workdir)
        use_bucket(stack, home)
        return stack.converge(progress=progress)
    move_into_bucket(stack, home)
    progress(f"    the {what}'s own state moved into s3://{home.bucket}/{home.key}")
    return summary


def _holds_state(s3: Any, home: StateHome) -> bool:
    """Whether the bucket holds the state now; False when that cannot be read (the caller's own error then stands)."""
    try:
        return state_in_bucket(s3, home)
    except PaymentsError:
        return False


def _destroy_bootstrap(stack: Terraform, prepared: Prepared, profile: str | None, progress: Progress) -> None:
    """Remove the state bucket, its state brought back out of it first; kept where buckets are not force-destroyed."""
    from payments_infra.environments import get_environment

    home = _state_home(prepared)
    if not get_environment(prepared.naming.environment).bucket_force_destroy:
        progress(
            f"==> keeping the state bucket {home.bucket}: {prepared.naming.environment} never force-destroys a "
            "bucket (its versions are the deployment's history); empty and delete it by hand if it must go"
        )
        return
    progress(f"==> destroying the state bucket {home.bucket}")
    _destroy_self_hosted(stack, home, profile, progress, "bootstrap stack")
    progress(f"    nothing of {prepared.naming.tag} is left on this machine's state either")


def _destroy_self_hosted(
    stack: Terraform, home: StateHome, profile: str | None, progress: Progress, what: str
) -> Summary | None:
    """Destroy a stack that keeps its state in the bucket it made, the state brought back out first; the summary, or
    None when there was no bucket."""
    s3 = _s3(profile, home.region)
    if local_state_file(stack.workdir).exists():
        stack.init()  # the newest copy is here (a destroy that failed after bringing it out)
    elif state_in_bucket(s3, home):
        use_bucket(stack, home)
        move_out_of_bucket(stack)
    elif bucket_exists(s3, home):
        raise BootstrapStateMissing(_missing(home, what))
    else:
        progress(f"    no state bucket: nothing of the {what} to destroy")
        return None
    summary = stack.apply(progress=progress, destroy=True)
    forget_local_state(stack.workdir)  # and terraform's backup: the destroyed stack's last state, on the runner
    progress(f"    {what} {summary}")
    return summary


def _missing(home: StateHome, what: str) -> str:
    others = " (and the account stack's IAM role payment-apigw-logs-account-<region>)" if "account" in what else ""
    return (
        f"the state bucket {home.bucket} exists, but neither it ({home.key}) nor this machine holds the {what}'s "
        "state (a first run stopped before its state moved, on another machine): run the command again "
        "where that run was made, or import the bucket's resources into a new state, or, when nothing else is in "
        f"the bucket, delete it{others} and run again"
    )


def bootstrap(
    state: StateFolder, environment: str, suffix: str, *, profile: str | None, progress: Progress = stderr_progress
) -> Summary:
    """Create the deployment's state bucket in the account, and keep the bootstrap's own state in it."""
    account = check_credentials(profile)
    prepared = _prepared(state, environment, suffix, account, progress)
    progress(f"==> bootstrapping {prepared.naming.state_bucket()} in account {account}")
    _, stack, _ = _stacks(prepared, profile, "0s")
    return _converge_self_hosted(stack, _state_home(prepared), profile, progress, "bootstrap stack")


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
    prepared = _prepared(state, environment, suffix, account, progress)
    account_stack, bootstrap_stack, platform = _stacks(prepared, profile, lock_timeout)
    # A deploy plans each stack and applies that saved plan only if it changes something: what is applied
    # is exactly what was planned (a plan made stale by another run is refused, changing nothing), and a
    # re-run with nothing to change skips the apply phase. A destroy reads every resource back first: an
    # account, unlike the emulator, is changed by other hands.
    if action == "deploy":
        # First: a stage's access logs need the account's CloudWatch role ("CloudWatch Logs role ARN must be set in
        # account settings to enable logging").
        names = _account_naming(prepared, account)
        progress(f"==> the account stack {account_stack_name(names)} in account {account}")
        summary = _converge_self_hosted(account_stack, _account_home(names), profile, progress, "account stack")
        progress(f"    account stack {summary}")
        progress(f"==> bootstrapping {prepared.naming.state_bucket()} in account {account}")
        summary = _converge_self_hosted(bootstrap_stack, _state_home(prepared), profile, progress, "bootstrap stack")
        progress(f"    bootstrap {summary}")
    elif action == "plan":
        _plan_account(account_stack, _account_naming(prepared, account), profile, progress)
    started = time.monotonic()
    progress(f"==> terraform init ({prepared.naming.state_bucket()}/{prepared.naming.state_key()})")
    platform.init()
    if action == "plan":
        summary = platform.plan()
        for address, change in summary.changes:
            progress(f"    {change:8} {address}")
    elif action == "deploy":
        summary = platform.converge(progress=progress)
    else:
        _forget_connectors(environment, suffix, profile, progress)
        summary = platform.apply(progress=progress, destroy=True)
    progress(f"    {summary} ({time.monotonic() - started:.1f}s)")
    if action == "destroy":
        _destroy_bootstrap(bootstrap_stack, prepared, profile, progress)
        progress(
            f"==> keeping the account stack {account_stack_name(_account_naming(prepared, account))}: every "
            "deployment in the account shares it (`payments account --target aws --destroy` removes it)"
        )
    if action == "deploy":
        progress("==> setting up the database (the admin function: migrations, role logins, API-key pepper)")
        setup = invoke_admin(environment, suffix, {"action": "setup"}, profile=profile)
        progress(f"    migrations applied now: {', '.join(setup['migrations_applied']) or 'none'}")
    return summary


def _plan_account(stack: Terraform, names: AccountNaming, profile: str | None, progress: Progress) -> None:
    """What a deploy would change in the account stack first (it converges that stack before the deployment)."""
    home = _account_home(names)
    progress(f"==> the account stack {account_stack_name(names)} (a deploy applies it first)")
    if local_state_file(stack.workdir).exists():
        stack.init()
    elif state_in_bucket(_s3(profile, home.region), home):
        use_bucket(stack, home)
    else:
        progress("    not in the account yet: the deploy creates it")
        return
    planned = stack.plan()
    progress(f"    {planned}")
    for address, change in planned.changes:
        progress(f"    {change:8} {address}")


def account_stack(
    state: StateFolder,
    *,
    region: str,
    destroy: bool,
    profile: str | None,
    lock_timeout: str = "0s",
    progress: Progress = stderr_progress,
) -> Summary | None:
    """``payments account --target aws``: apply (or destroy) the account stack of ``region`` alone; the summary, None
    when a destroy found nothing to destroy."""
    account = check_credentials(profile)
    names = AccountNaming(account, region)
    folder = state.ensure().root / "aws" / names.tag
    synthesized = prepare_account(state, _account_scope(state, account, (region,)), folder=folder, progress=progress)
    stack = Terraform(
        synthesized.account_stack(region).path.parent,
        log=folder / "logs" / "terraform.log",
        env=_env(profile),
        lock_timeout=_account_lock_timeout(lock_timeout),
        owner="the account stack",
    )
    home = _account_home(names)
    progress(
        f"==> {'destroying' if destroy else 'applying'} the account stack {account_stack_name(names)} in {account}"
    )
    if destroy:
        return _destroy_self_hosted(stack, home, profile, progress, "account stack")
    return _converge_self_hosted(stack, home, profile, progress, "account stack")


def _forget_connectors(environment: str, suffix: str, profile: str | None, progress: Progress) -> None:
    """Merchants' connector secrets are written by the admin function, not Terraform, so a destroy deletes them
    first, through that function, while it still exists (a deployment whose admin function is gone already has
    nothing that could have written one)."""
    progress("==> deleting merchants' connector secrets (the admin function: forget_connectors)")
    try:
        forgotten = invoke_admin(environment, suffix, {"action": "forget_connectors"}, profile=profile)
    except AdminFunctionMissing:
        progress("    no admin function: nothing to delete")
        return
    progress(f"    {forgotten['connectors_removed']} connector(s), {forgotten['secrets_deleted']} secret(s) deleted")


def caller_arn(session: Any) -> str:
    """The ARN these credentials act as (the audit log's ``actor``); ``aws:unknown`` if STS cannot say."""
    try:
        return str(session.client("sts").get_caller_identity()["Arn"])
    except (ClientError, BotoCoreError, KeyError):
        return "aws:unknown"


def invoke_admin(
    environment: str, suffix: str, payload: dict[str, Any], *, profile: str | None, client: Any = None
) -> dict[str, Any]:
    """Run one admin action with the deployment's admin function in the account.

    The operator-only path: it needs credentials allowed to ``lambda:InvokeFunction`` on that one
    function, which has no URL and no API route; the database stays private in its VPC.
    """
    from payments_cli.deploy.admin import admin_answer
    from payments_infra.naming import Naming

    name = Naming(environment, suffix).function("admin")
    if client is None:
        check_credentials(profile)
        session = boto3.Session(profile_name=profile) if profile else boto3.Session()
        client = session.client("lambda", config=Config(read_timeout=90, retries={"max_attempts": 1}))
        payload = {**payload, "actor": caller_arn(session)}
    try:
        answer = client.invoke(FunctionName=name, Payload=json.dumps(payload).encode())
    except ClientError as failure:
        if failure.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise AdminFunctionMissing(f"cannot invoke {name}: it does not exist (is the deployment there?)") from None
        raise CredentialsMissing(f"cannot invoke {name}: {failure}") from None
    except BotoCoreError as failure:
        raise CredentialsMissing(f"cannot invoke {name}: {failure}") from None
    result = json.loads(answer["Payload"].read() or b"null")
    # A function error comes back as a 200 with FunctionError set: never trust the status alone.
    if answer.get("FunctionError"):
        return admin_answer(name, None, result)
    return admin_answer(name, result, None)
