"""Preparing a deployment for terraform, the same for both targets: build the Lambda package, synthesize the
deployment (and its account's stack) into a run folder of its own, and run preflight, which must find no error before
anything is applied. ``prepare_account`` does the same for the account stack alone (``payments account``)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from payments_cli.deploy.state import StateFolder
from payments_cli.deploy.terraform import Progress, stderr_progress
from payments_cli.errors import PaymentsError
from payments_infra.lambda_build import LambdaPackage, build_lambda_package
from payments_infra.naming import Naming
from payments_infra.synth import AccountScope, Deployment, SynthResult, default_package_path, synthesize
from preflight.runner import Report, check_files


class PreflightFailed(PaymentsError):
    """Preflight found error-severity findings; nothing was deployed."""

    def __init__(self, report: Report) -> None:
        super().__init__(f"preflight found {report.errors} error(s); nothing was deployed")
        self.report = report


@dataclass(frozen=True)
class Prepared:
    """A deployment synthesized, checked and ready for terraform."""

    naming: Naming
    folder: Path  # the deployment's folder in the state root
    run_dir: Path  # this run's synthesized stacks
    synth: SynthResult
    report: Report

    @property
    def bootstrap_dir(self) -> Path:
        """The bootstrap stack's folder."""
        return self.synth.stack(self.naming.environment, self.naming.suffix, "bootstrap").path.parent

    @property
    def platform_dir(self) -> Path:
        """The platform stack's folder."""
        return self.synth.stack(self.naming.environment, self.naming.suffix).path.parent

    @property
    def account_dir(self) -> Path:
        """The folder of the account stack of the deployment's region (KeyError when synthesized without one)."""
        platform = self.synth.stack(self.naming.environment, self.naming.suffix)
        return self.synth.account_stack(platform.region).path.parent


def step(progress: Progress, text: str) -> float:
    progress(f"==> {text}")
    return time.monotonic()


def prepare(
    state: StateFolder,
    environment: str,
    suffix: str,
    *,
    progress: Progress = stderr_progress,
    folder: Path | None = None,
    account: AccountScope | None = None,
) -> Prepared:
    """Build the package, synthesize the deployment (with ``account``, its account stack too) into a fresh run
    folder, and run preflight."""
    naming = Naming(environment, suffix)  # refuses a bad suffix before anything is built
    folder = folder or state.ensure().deployment_dir(environment, suffix)
    started = step(progress, "building the Lambda package")
    package: LambdaPackage = build_lambda_package(default_package_path(), reuse=True)
    progress(f"    {package.path} ({package.size / 1e6:.1f} MB, {time.monotonic() - started:.1f}s)")
    run_dir = _run_dir(folder)
    started = step(progress, f"synthesizing {environment}/{suffix}")
    result = synthesize(
        [Deployment(environment, suffix)], out=run_dir, package=package, bootstrap_state_dir=folder, account=account
    )
    return Prepared(naming, folder, run_dir, result, _checked(result, started, progress))


def prepare_account(state: StateFolder, account: AccountScope, *, folder: Path, progress: Progress) -> SynthResult:
    """Synthesize the account stacks alone (``account.regions``) into a fresh run folder of ``folder``, and run
    preflight on them."""
    state.ensure()
    run_dir = _run_dir(folder)
    started = step(progress, f"synthesizing the account stack of account {account.account_id}")
    result = synthesize([], out=run_dir, account=account)
    _checked(result, started, progress)
    return result


def _run_dir(folder: Path) -> Path:
    # Each run synthesizes into its own folder: two concurrent deploys never share a working directory,
    # so the only thing they contend for is Terraform's state lock.
    return folder / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def _checked(result: SynthResult, started: float, progress: Progress) -> Report:
    """Preflight over what was synthesized; PreflightFailed when it finds an error."""
    progress(f"    {len(result.stacks)} stacks in {result.out} ({time.monotonic() - started:.1f}s)")
    step(progress, "preflight")
    report = check_files([stack.path for stack in result.stacks])
    progress(
        f"    {report.errors} error(s), {report.warnings} warning(s) over {report.resources} resources "
        f"({report.seconds * 1000:.0f} ms)"
    )
    if report.errors:
        raise PreflightFailed(report)
    return report
