"""The account stack on the local target: applied to the emulator once, and again only when it changes.

Every deployment on this machine shares one emulator, so they share its account stack (stacks.account), as the
deployments of a real account do. ``payments up`` converges it alongside the deployment's own stacks (moto does not
refuse a stage's access logs without the account's CloudWatch role, so nothing waits for it; on AWS the aws target
applies it first). A record beside its state says which emulator it was applied to and exactly which stack: a later
``up`` of any suffix with the same stack, on the same emulator, skips terraform; a new emulator (an empty account)
starts from an empty state. Concurrent ``up`` runs take turns on a lock, so the second finds the first's record.
``payments down --destroy`` of a deployment leaves it; ``payments account --destroy`` removes it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from payments_cli.deploy.background import quiet
from payments_cli.deploy.self_hosted_state import forget_local_state
from payments_cli.deploy.state import StateFolder, read_json, write_json
from payments_cli.deploy.terraform import Progress, Summary, Terraform
from payments_cli.local import deviations
from payments_cli.local.emulator import EMULATOR_ACCOUNT
from payments_infra.synth import AccountScope

#: How long a second ``up`` waits for another's apply of the account stack (it holds the lock while it applies).
LOCK_TIMEOUT = "120s"


def account_folder(state: StateFolder) -> Path:
    """``<state root>/account``: the account stack's state and record, shared by every deployment."""
    return state.root / "account"


def scope(state: StateFolder, region: str | None = None) -> AccountScope:
    """The emulator's account, its stack's state kept in the state root (not in a deployment's folder)."""
    return AccountScope(EMULATOR_ACCOUNT, (region,) if region else (), account_folder(state))


def _record_path(state: StateFolder, stack_dir: Path) -> Path:
    return account_folder(state) / f"{stack_dir.name}.json"


def _digest(stack_dir: Path) -> str:
    return hashlib.sha256((stack_dir / "cdk.tf.json").read_bytes()).hexdigest()


def _terraform(stack_dir: Path, endpoint: str, log: Path) -> Terraform:
    deviations.write_local_files(stack_dir, endpoint, with_backend=False)
    return Terraform(stack_dir, log=log, lock_timeout=LOCK_TIMEOUT)


def converge(state: StateFolder, stack_dir: Path, *, endpoint: str, generation: str, log: Path) -> Summary | None:
    """Apply the account stack in ``stack_dir`` to the emulator (``generation`` names it) unless it already holds
    exactly this stack; the apply's summary, or None when there was nothing to do."""
    record_path = _record_path(state, stack_dir)
    digest = _digest(stack_dir)
    with state.lock(stack_dir.name):
        recorded = read_json(record_path) or {}
        if recorded.get("emulator_generation") != generation:
            # Another emulator's state describes resources this one never had: start from nothing.
            forget_local_state(stack_dir)
        elif recorded.get("stack") == digest:
            return None
        # Said before the apply: a run stopped half-way leaves a state for this emulator, which the next one uses.
        write_json(record_path, {"emulator_generation": generation, "stack": None})
        terraform = _terraform(stack_dir, endpoint, log)
        terraform.init()
        summary = terraform.apply(progress=quiet)
        write_json(record_path, {"emulator_generation": generation, "stack": digest})
        return summary


def destroy(
    state: StateFolder, stack_dir: Path, *, endpoint: str | None, generation: str | None, log: Path, progress: Progress
) -> Summary | None:
    """Destroy the account stack in the emulator, if the running one (``generation``) holds it; then forget it.
    The destroy's summary, or None when there was nothing in the emulator to destroy."""
    record_path = _record_path(state, stack_dir)
    with state.lock(stack_dir.name):
        recorded = read_json(record_path) or {}
        summary = None
        if endpoint is not None and recorded.get("emulator_generation") == generation:
            terraform = _terraform(stack_dir, endpoint, log)
            terraform.init()
            summary = terraform.apply(progress=progress, destroy=True)
        forget_local_state(stack_dir)
        record_path.unlink(missing_ok=True)
        return summary
