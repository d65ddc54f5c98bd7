"""The account stack: what every deployment in one account and region shares, applied once before any of them.

Today that is API Gateway's CloudWatch role (constructs.api_gateway_logging), an account-wide setting that no
deployment may own. The stack also makes the bucket its own state is kept in, as a deployment's bootstrap does: a
destroyed pull-request environment leaves nothing behind but this stack, and the next deployment, from any machine,
finds its state in the account. Its names end in ``-account-<region>`` (``AccountNaming``).
"""

from __future__ import annotations

from cdktn import LocalBackend, TerraformOutput, TerraformStack
from constructs import Construct

from payments_infra.constructs.api_gateway_logging import ApiGatewayLogging
from payments_infra.constructs.state_backend import StateStore
from payments_infra.naming import AccountNaming
from payments_infra.stacks.provider import aws_provider

#: Where the account stack's state is kept in its own bucket, once that exists.
ACCOUNT_STATE_KEY = "account/terraform.tfstate"


def account_stack_name(naming: AccountNaming) -> str:
    """``payments-account-<region>``: the folder under ``stacks/``."""
    return f"payments-{naming.tag}"


class AccountStack(TerraformStack):
    """Account-wide settings of one region, and the bucket that keeps this stack's state."""

    def __init__(self, scope: Construct, *, naming: AccountNaming, state_path: str | None = None) -> None:
        super().__init__(scope, account_stack_name(naming))
        aws_provider(self, region=naming.region, environment="account", deployment=naming.tag)
        # Local until its bucket exists; the targets then move the state in (payments_cli.deploy.self_hosted_state).
        LocalBackend(self, path=state_path or "terraform.tfstate")
        # Force-destroyed with the stack: its state is moved out of it first, and only old versions of that are left.
        store = StateStore(self, "state", name=naming.state_bucket(), force_destroy=True)
        logging = ApiGatewayLogging(self, "api-gateway-logging", naming=naming)
        TerraformOutput(self, "state_bucket", value=store.bucket.bucket)
        TerraformOutput(self, "api_gateway_cloudwatch_role_arn", value=logging.role.arn)
