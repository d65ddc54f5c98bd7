"""The local target: deploy, plan, destroy and serve one deployment (environment + suffix) on this
machine, against the moto server and a local PostgreSQL server, with the real terraform binary."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from functools import partial, wraps
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg
from psycopg import sql

from payments_cli.deploy.background import BackgroundApply, BackgroundStep
from payments_cli.deploy.prepare import Prepared, prepare, prepare_account, step
from payments_cli.deploy.state import StateFolder
from payments_cli.deploy.terraform import Progress, Summary, Terraform, TerraformError, stderr_progress
from payments_cli.local import account, deviations
from payments_cli.local.api_process import stop_api
from payments_cli.local.lambda_runtime.functions import invoke_admin
from payments_cli.local.provision import prepare_database
from payments_cli.local.records import DeploymentRecord, NotDeployed, api_of, read_record, write_record
from payments_cli.local.services import (
    Emulator,
    ensure_emulator,
    ensure_postgres,
    postgres_for,
    running_emulator,
)

P = ParamSpec("P")
T = TypeVar("T")


def using_services(command: Callable[Concatenate[StateFolder, P], T]) -> Callable[Concatenate[StateFolder, P], T]:
    """Run ``command`` holding the shared services in use: another deployment's ``payments down`` meanwhile stops
    its own API server but leaves the emulator and PostgreSQL running (local.services.stop_services)."""

    @wraps(command)
    def holding(state: StateFolder, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with state.using_services():
            return command(state, *args, **kwargs)

    return holding


def _terraform(prepared: Prepared, stack_dir: Path, lock_timeout: str, *, log: str = "terraform.log") -> Terraform:
    return Terraform(stack_dir, log=prepared.folder / "logs" / log, lock_timeout=lock_timeout)


@using_services
def deploy(
    state: StateFolder,
    environment: str,
    suffix: str,
    *,
    progress: Progress = stderr_progress,
    lock_timeout: str = "0s",
) -> DeploymentRecord:
    """Deploy (or update) one deployment into the emulator and prepare its database; the record."""
    prepared = prepare(state, environment, suffix, progress=progress, account=account.scope(state))
    started = step(progress, "starting the local AWS emulator and PostgreSQL")
    emulator, fresh = ensure_emulator(state)
    postgres, _ = ensure_postgres(state)
    progress(
        f"    moto server {emulator.endpoint} ({'started' if fresh else 'reused'}), "
        f"PostgreSQL 127.0.0.1:{postgres.port}"
    )
    # The bootstrap stack has its own log: it runs while the platform deploys (see below).
    bootstrap = _terraform(prepared, prepared.bootstrap_dir, lock_timeout, log="terraform-bootstrap.log")
    deviations.write_local_files(prepared.bootstrap_dir, emulator.endpoint, with_backend=False)
    bucket = prepared.naming.state_bucket()
    bootstrap_started = step(progress, f"bootstrapping the state bucket {bucket}")
    # The platform needs only the state bucket itself, versioned, encrypted and private; the bucket's lifecycle
    # rules take the aws provider 55 s more (it re-reads them ten times, 5 s apart, for S3's eventual
    # consistency). So the bootstrap apply goes on in the background while the platform deploys, and the
    # deploy waits for it before it reports: a no-change run still plans and shows both stacks.
    # A first deploy changes everything: one `terraform apply` each is quicker than a plan and then its
    # apply. A deployment already recorded here plans first, and applies only what changes.
    recorded = read_record(prepared.folder)
    first = recorded is None
    # The running API server is kept by a later `up` only if its record still holds the fingerprint it was
    # started with. Withdrawn here, before terraform may change what it serves, and put back below only if
    # nothing changed: a run that applies and then fails leaves the server marked stale for the next one.
    served_from = _withdraw_fingerprint(prepared.folder, recorded)
    # Its init is in the background too: on a re-run the bucket is usable already and the platform's init
    # starts at once.
    background = BackgroundApply(bootstrap, plan_first=not first, init=True)
    # The account stack converges alongside (local.account): once per emulator, skipped while it is unchanged.
    account_step = BackgroundStep(
        "the account stack",
        partial(
            account.converge,
            state,
            prepared.account_dir,
            endpoint=emulator.endpoint,
            generation=emulator.generation,
            log=prepared.folder / "logs" / "terraform-account.log",
        ),
    )
    try:
        _wait_for_state_bucket(emulator, bucket, background)
        progress(
            f"    {bucket} is ready: versioned, encrypted, private ({time.monotonic() - bootstrap_started:.1f}s); "
            "the rest of the bootstrap applies alongside the platform"
        )
        platform = _terraform(prepared, prepared.platform_dir, lock_timeout)
        deviations.write_local_files(prepared.platform_dir, emulator.endpoint, with_backend=True)
        started = step(progress, "terraform init")
        platform.init(backend_config=prepared.platform_dir / deviations.BACKEND_FILE)
        # Plan, then apply only a plan that changes something: a no-change run proves it against the
        # emulator with one refresh and skips the apply phase.
        started = step(progress, "terraform apply" if first else "terraform plan and apply")
        summary = platform.apply(progress=progress) if first else platform.converge(progress=progress)
        progress(f"    {summary} ({time.monotonic() - started:.1f}s)")
    except BaseException:
        # Never leave terraform running behind a failed deploy; the platform's error is the one to report.
        background.join()
        account_step.join()
        raise
    try:
        bootstrap_summary = background.wait()
    finally:
        account_step.join()
    progress(f"    bootstrap {bootstrap_summary} ({background.seconds:.1f}s, alongside the platform)")
    account_summary = account_step.wait()
    progress(
        f"    account stack {prepared.account_dir.name}: "
        + (
            f"{account_summary} ({account_step.seconds:.1f}s, alongside)"
            if account_summary is not None
            else "unchanged on this emulator"
        )
    )
    outputs = summary.outputs if summary.outputs is not None else platform.output()
    started = step(progress, "preparing the database the deployment describes")
    database = deviations.local_database_name(environment, suffix)
    login = _database_login(emulator, str(outputs["database_secret_arn"]))
    prepare_database(postgres, username=login["username"], password=login["password"], dbname=database)
    record: DeploymentRecord = {
        "environment": environment,
        "suffix": suffix,
        "emulator_generation": emulator.generation,
        "emulator": emulator.endpoint,
        "deployed_at": time.time(),
        "run_dir": str(prepared.run_dir),
        "stack_dir": str(prepared.platform_dir),
        "bootstrap_dir": str(prepared.bootstrap_dir),
        "database": database,
        "outputs": outputs,
        "last_apply": {"add": summary.add, "change": summary.change, "destroy": summary.remove},
    }
    # Whether this run changed anything the served API reads: a first deploy, a plan either stack applied.
    changed = first or summary.applyable or bootstrap_summary.applyable
    api = api_of(read_record(prepared.folder))
    if served_from is not None and not changed:
        api["fingerprint"] = served_from
    record["api"] = api
    write_record(prepared.folder, record)
    # What the admin function does after every deploy on AWS too: migrations, role logins, the pepper.
    setup = invoke_admin(state, environment, suffix, {"action": "setup"})
    progress(
        f"    database {database}: migrations applied now: {', '.join(setup['migrations_applied']) or 'none'}; "
        f"roles {', '.join(setup['roles'])}; API-key pepper {setup['pepper']} ({time.monotonic() - started:.1f}s)"
    )
    _prune_runs(prepared.folder, keep=prepared.run_dir)
    record["changed"] = changed or bool(setup["migrations_applied"])
    return record


def _planned(planning: BackgroundStep[Summary], progress: Progress) -> Summary | None:
    """The bootstrap's destroy plan made alongside the platform's destroy; None if making it failed."""
    try:
        planned = planning.wait()
    except TerraformError as error:
        progress(f"    planning it alongside the platform failed; planning it again:\n    {error}")
        return None
    progress(f"    planned while the platform's resources went ({planning.seconds:.1f}s)")
    return planned


def _withdraw_fingerprint(folder: Path, recorded: DeploymentRecord | None) -> str | None:
    """Remove the API server's fingerprint from the deployment's record on disk; the one removed."""
    if recorded is None or "fingerprint" not in recorded.get("api", {}):
        return None
    fingerprint = recorded["api"].pop("fingerprint")
    write_record(folder, recorded)
    return fingerprint


@using_services
def plan(
    state: StateFolder, environment: str, suffix: str, *, progress: Progress = stderr_progress, lock_timeout: str = "0s"
) -> Summary:
    """What ``deploy`` would change in the emulator (nothing is created; the deployment must be bootstrapped)."""
    prepared = prepare(state, environment, suffix, progress=progress)
    emulator = running_emulator(state)
    if emulator is None or not _bucket_exists(emulator, prepared.naming.state_bucket()):
        raise NotDeployed(
            f"{environment}/{suffix} has no state bucket in a running emulator yet: run `payments up --env "
            f"{environment} --suffix {suffix}` (or `payments bootstrap`) first"
        )
    platform = _terraform(prepared, prepared.platform_dir, lock_timeout)
    deviations.write_local_files(prepared.platform_dir, emulator.endpoint, with_backend=True)
    platform.init(backend_config=prepared.platform_dir / deviations.BACKEND_FILE)
    started = step(progress, "terraform plan")
    summary = platform.plan()
    progress(f"    {summary} ({time.monotonic() - started:.1f}s)")
    for address, action in summary.changes:
        progress(f"    {action:8} {address}")
    return summary


@using_services
def bootstrap_only(
    state: StateFolder, environment: str, suffix: str, *, progress: Progress = stderr_progress
) -> Summary:
    """Create the deployment's state bucket in the emulator."""
    prepared = prepare(state, environment, suffix, progress=progress)
    emulator, _ = ensure_emulator(state)
    deviations.write_local_files(prepared.bootstrap_dir, emulator.endpoint, with_backend=False)
    bootstrap = _terraform(prepared, prepared.bootstrap_dir, "0s")
    bootstrap.init()
    return bootstrap.apply(progress=progress)


@using_services
def account_stack(
    state: StateFolder, *, region: str, destroy: bool, progress: Progress = stderr_progress
) -> Summary | None:
    """``payments account``: apply (or destroy) the emulator's account stack of ``region`` alone; the summary, None
    when there was nothing to do (applied and unchanged, or nothing to destroy)."""
    folder = account.account_folder(state)
    synthesized = prepare_account(state, account.scope(state, region), folder=folder, progress=progress)
    stack_dir = synthesized.account_stack(region).path.parent
    log = folder / "logs" / "terraform.log"
    if destroy:
        emulator = running_emulator(state)
        step(progress, f"terraform destroy ({stack_dir.name})")
        endpoint, generation = (emulator.endpoint, emulator.generation) if emulator else (None, None)
        summary = account.destroy(
            state, stack_dir, endpoint=endpoint, generation=generation, log=log, progress=progress
        )
    else:
        emulator, _ = ensure_emulator(state)
        step(progress, f"terraform apply ({stack_dir.name}), unless this emulator has it as it is")
        summary = account.converge(
            state, stack_dir, endpoint=emulator.endpoint, generation=emulator.generation, log=log
        )
    _prune_runs(folder, keep=synthesized.out)
    return summary


@using_services
def destroy(
    state: StateFolder, environment: str, suffix: str, *, progress: Progress = stderr_progress, lock_timeout: str = "0s"
) -> None:
    """Destroy everything of one deployment in the emulator, drop its database and forget it."""
    folder = state.deployment_dir(environment, suffix)
    record = read_record(folder)
    stop_api(state, environment, suffix)
    emulator = running_emulator(state)
    if record is not None and emulator is not None and record.get("emulator_generation") == emulator.generation:
        _destroy_stacks(record, folder, emulator, progress=progress, lock_timeout=lock_timeout)
    elif record is not None:
        progress("    the emulator that held this deployment is gone: nothing left to destroy there")
    postgres = postgres_for(state)
    if postgres.is_running():
        database = deviations.local_database_name(environment, suffix)
        with psycopg.connect(postgres.superuser_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            # Roles are cluster-wide: the deployment's application roles (migration 0002) go with it.
            for role in (f"{database}_app", f"{database}_auth"):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        progress(f"    dropped database {database} and its roles")
    if folder.exists():
        shutil.rmtree(folder)


def _destroy_stacks(
    record: DeploymentRecord, folder: Path, emulator: Emulator, *, progress: Progress, lock_timeout: str
) -> None:
    """``terraform destroy`` the platform, then the bootstrap (its bucket holds the platform's state).

    The bootstrap's destroy is planned while the platform's resources go (the aws provider waits ~60 s for
    the RDS instance's deletion, the CPU idle), and that saved plan is applied once the platform is gone:
    the bootstrap's state is local to this folder and nothing else changes it in between.
    """

    def stack(stack_dir: Path, *, backend: bool, log: str) -> Terraform | None:
        if not (stack_dir / "cdk.tf.json").exists():
            return None
        deviations.write_local_files(stack_dir, emulator.endpoint, with_backend=backend)
        return Terraform(stack_dir, log=folder / "logs" / log, lock_timeout=lock_timeout)

    platform = stack(Path(record["stack_dir"]), backend=True, log="terraform.log")
    bootstrap = stack(Path(record["bootstrap_dir"]), backend=False, log="terraform-bootstrap.log")
    plan_file = Path(record["bootstrap_dir"]) / "payments-destroy.tfplan"
    planning: BackgroundStep[Summary] | None = None

    def plan_bootstrap() -> None:
        # Started once the platform's resources start to go, not before: the platform's own refresh and plan
        # need the CPU, and the RDS instance's deletion comes later still.
        nonlocal planning
        if bootstrap is not None and planning is None:
            planning = BackgroundStep(
                f"terraform plan -destroy in {bootstrap.workdir.name}", partial(_plan_destroy, bootstrap, plan_file)
            )

    try:
        if platform is not None:
            started = step(progress, f"terraform destroy ({platform.workdir.name})")
            platform.init(backend_config=platform.workdir / deviations.BACKEND_FILE)
            # Without a refresh: `terraform destroy` would first read all ~100 resources back in a walk of
            # its own (~5 s) only to delete them, and the aws provider takes a resource already gone as deleted.
            summary = platform.apply(progress=progress, destroy=True, changing=plan_bootstrap, refresh=False)
            progress(f"    {summary} ({time.monotonic() - started:.1f}s)")
        if bootstrap is not None:
            started = step(progress, f"terraform destroy ({bootstrap.workdir.name})")
            planned = _planned(planning, progress) if planning is not None else None
            if planned is not None:
                summary = bootstrap.apply(progress=progress, destroy=True, plan_file=plan_file, planned=planned)
            else:  # nothing of the platform was left to destroy, or the early plan failed: plan it now
                bootstrap.init()
                summary = bootstrap.apply(progress=progress, destroy=True)
            progress(f"    {summary} ({time.monotonic() - started:.1f}s)")
    finally:
        if planning is not None:
            planning.join()  # never leave terraform running behind a failed destroy
        plan_file.unlink(missing_ok=True)


def _plan_destroy(terraform: Terraform, plan_file: Path) -> Summary:
    terraform.init()
    return terraform.plan(out=plan_file, destroy=True)


def _database_login(emulator: Emulator, secret_arn: str) -> dict[str, str]:
    secrets = emulator.client("secretsmanager")
    value = json.loads(secrets.get_secret_value(SecretId=secret_arn)["SecretString"])  # type: ignore[attr-defined]
    return {"username": str(value["username"]), "password": str(value["password"])}


#: How long the platform waits for the bootstrap to make the state bucket usable (it takes ~10 s).
STATE_BUCKET_WAIT_S = 300.0


def _wait_for_state_bucket(emulator: Emulator, bucket: str, bootstrap: BackgroundApply) -> None:
    """Wait until the state bucket exists with versioning on, default encryption and every public access
    block, as the bootstrap stack configures them; raise the bootstrap's error if it fails first."""
    deadline = time.monotonic() + STATE_BUCKET_WAIT_S
    s3 = emulator.client("s3")
    while True:
        finished = bootstrap.finished  # read before checking: a bucket made by a finished apply is seen below
        if _state_bucket_ready(s3, bucket):
            return
        if finished:
            bootstrap.wait()  # raises the bootstrap's error, if that is why
            raise TerraformError(f"the bootstrap applied, but the state bucket {bucket} is not usable in the emulator")
        if time.monotonic() > deadline:
            bootstrap.wait()
            raise TerraformError(f"the state bucket {bucket} was not usable within {STATE_BUCKET_WAIT_S:.0f}s")
        time.sleep(0.25)


def _state_bucket_ready(s3: Any, bucket: str) -> bool:
    try:
        versioning = s3.get_bucket_versioning(Bucket=bucket)
        s3.get_bucket_encryption(Bucket=bucket)
        blocks = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except Exception:  # noqa: BLE001 - not there yet, whatever the emulator says
        return False
    return versioning.get("Status") == "Enabled" and all(blocks.values())


def _bucket_exists(emulator: Emulator, bucket: str) -> bool:
    s3 = emulator.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - any failure means it is not usable
        return False
    return True


def _prune_runs(folder: Path, *, keep: Path) -> None:
    for run in (folder / "runs").glob("*"):
        if run != keep:
            shutil.rmtree(run, ignore_errors=True)
