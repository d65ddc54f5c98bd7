"""Synthesis: build the Lambda package, then write each deployment's stacks as Terraform JSON.

``synthesize([Deployment("dev", "pr42")], out=Path("cdktf.out"))`` writes
``cdktf.out/stacks/payments-bootstrap-dev-pr42/cdk.tf.json`` and
``cdktf.out/stacks/payments-dev-pr42/cdk.tf.json`` (with the zip beside it as an asset); given the account's id
(``account=AccountScope("123456789012")``), also ``cdktf.out/stacks/payments-account-us-east-1/cdk.tf.json``, the
account stack of each region the deployments use (stacks.account).
A bad suffix is refused before anything is built, in milliseconds. Every name the written stacks give is
then checked against its service's rule and the deployment's suffix (``Naming.check_stack``): a stack with a
name that breaks one is removed and InvalidName raised, before any terraform can run on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from payments_infra.environments import get_environment
from payments_infra.lambda_build import LambdaPackage, build_lambda_package, check_package, repo_root
from payments_infra.naming import AccountNaming, InvalidName, Naming

#: Where ``payments build`` and ``payments synth`` put the zip by default.
DEFAULT_PACKAGE = Path("build") / "lambda" / "payment_processor.zip"
#: cdktn checks features against the Terraform versions a project targets; S3-native locking needs 1.10.
TARGET_VERSIONS = {"terraform": ">=1.10.0", "opentofu": ">=1.10.0"}


@dataclass(frozen=True)
class Deployment:
    """One environment + suffix pair to synthesize."""

    environment: str
    suffix: str


@dataclass(frozen=True)
class AccountScope:
    """The account the deployments go to, for its account stack: the account's id (its state bucket's name carries
    it), regions besides the deployments' own, and where the stack keeps its local state (default: its folder)."""

    account_id: str
    regions: tuple[str, ...] = ()
    state_dir: Path | None = None


@dataclass(frozen=True)
class SynthesizedStack:
    """A stack written to disk."""

    name: str
    deployment: Deployment | None  # None for an account stack
    kind: str  # "bootstrap", "platform" or "account"
    path: Path  # its cdk.tf.json
    region: str = ""


@dataclass(frozen=True)
class SynthResult:
    """What one synthesis wrote."""

    out: Path
    stacks: tuple[SynthesizedStack, ...]
    package: LambdaPackage
    seconds: float

    def stack(self, environment: str, suffix: str, kind: str = "platform") -> SynthesizedStack:
        """The stack of ``kind`` for one deployment."""
        for stack in self.stacks:
            if stack.deployment == Deployment(environment, suffix) and stack.kind == kind:
                return stack
        raise KeyError(f"no {kind} stack for {environment}/{suffix} in {self.out}")

    def account_stack(self, region: str) -> SynthesizedStack:
        """The account stack of ``region``."""
        for stack in self.stacks:
            if stack.kind == "account" and stack.region == region:
                return stack
        raise KeyError(f"no account stack for {region} in {self.out}")


def default_package_path() -> Path:
    """``build/lambda/payment_processor.zip`` in the checkout."""
    return repo_root() / DEFAULT_PACKAGE


def synthesize(
    deployments: Sequence[Deployment],
    *,
    out: Path,
    package: LambdaPackage | Path | None = None,
    bootstrap_state_dir: Path | None = None,
    account: AccountScope | None = None,
) -> SynthResult:
    """Synthesize every deployment into ``out``, and the account stacks when ``account`` is given; build the Lambda
    package unless one is given (or no deployment needs it).

    ``bootstrap_state_dir``: where the bootstrap stacks keep their local state (default: their own folder).
    """
    started = time.perf_counter()
    namings = [(get_environment(d.environment), Naming(d.environment, d.suffix), d) for d in deployments]
    accounts = []
    if account is not None:
        regions = dict.fromkeys([config.region for config, _, _ in namings] + list(account.regions))
        accounts = [AccountNaming(account.account_id, region) for region in regions]
    if not namings:
        package = LambdaPackage(Path(), "", 0)  # nothing to package: the account stacks alone
    elif isinstance(package, Path):
        check_package(package)
        from payments_infra.lambda_build import source_code_hash

        package = LambdaPackage(package.resolve(), source_code_hash(package), package.stat().st_size)
    elif package is None:
        package = build_lambda_package(default_package_path())

    # CDK is imported here, not at module level: `payments --help` and naming errors stay instant.
    from cdktn import App

    from payments_infra.stacks.account import AccountStack
    from payments_infra.stacks.bootstrap import BootstrapStack
    from payments_infra.stacks.platform import PlatformStack

    out.mkdir(parents=True, exist_ok=True)
    app = App(outdir=str(out), stack_traces=False, context={"targetVersions": TARGET_VERSIONS})
    written: list[tuple[SynthesizedStack, Naming | AccountNaming]] = []
    for names in accounts:
        state_path = None
        if account is not None and account.state_dir is not None:
            state_path = str((account.state_dir / f"{names.tag}.tfstate").resolve())
        name = AccountStack(app, naming=names, state_path=state_path).node.id
        account_stack = SynthesizedStack(name, None, "account", out / "stacks" / name / "cdk.tf.json", names.region)
        written.append((account_stack, names))
    for config, naming, deployment in namings:
        state_path = None
        if bootstrap_state_dir is not None:
            state_path = str((bootstrap_state_dir / f"bootstrap-{naming.tag}.tfstate").resolve())
        bootstrap = BootstrapStack(app, config=config, naming=naming, state_path=state_path)
        platform = PlatformStack(app, config=config, naming=naming, package=package)
        for stack, kind in ((bootstrap, "bootstrap"), (platform, "platform")):
            name = stack.node.id
            path = out / "stacks" / name / "cdk.tf.json"
            written.append((SynthesizedStack(name, deployment, kind, path, config.region), naming))
    app.synth()
    for synthesized, names_of in written:
        try:
            names_of.check_stack(json.loads(synthesized.path.read_text()))
        except InvalidName as error:
            synthesized.path.unlink()
            raise InvalidName(f"stack {synthesized.name}: {error}") from None
    return SynthResult(out, tuple(s for s, _ in written), package, time.perf_counter() - started)
