"""The bootstrap stack: creates a deployment's state bucket, so the platform stack's S3 backend
exists before it is used. Its own state is local (a state bucket cannot hold its own creation)."""

from __future__ import annotations

from cdktn import LocalBackend, TerraformOutput, TerraformStack
from constructs import Construct

from payments_infra.constructs.state_backend import StateStore
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming
from payments_infra.stacks.provider import aws_provider


def bootstrap_stack_name(naming: Naming) -> str:
    """``payments-bootstrap-<env>-<suffix>``: the folder under ``stacks/``."""
    return f"payments-bootstrap-{naming.tag}"


class BootstrapStack(TerraformStack):
    """The state bucket of one deployment."""

    def __init__(
        self, scope: Construct, *, config: EnvironmentConfig, naming: Naming, state_path: str | None = None
    ) -> None:
        super().__init__(scope, bootstrap_stack_name(naming))
        aws_provider(self, region=config.region, environment=naming.environment, deployment=naming.suffix)
        # Relative to the stack's folder unless the caller (the local target) keeps state elsewhere.
        LocalBackend(self, path=state_path or "terraform.tfstate")
        store = StateStore(self, "state", name=naming.state_bucket(), force_destroy=config.bucket_force_destroy)
        TerraformOutput(self, "state_bucket", value=store.bucket.bucket)
