"""Function: a Lambda function running the processor from the real, deterministic zip, inside the
VPC's private subnets (all but the webhook courier, which must not reach them), configured through the
environment variables the processor reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jsii
from cdktn_aws import cloudwatch_logs, lambda_
from constructs import Construct, IValidation

from payments_infra.constructs.function_code import FunctionCode
from payments_infra.constructs.function_role import FunctionRole
from payments_infra.constructs.network import Network
from payments_infra.environments import EnvironmentConfig
from payments_infra.lambda_build import BuildError, LambdaPackage, check_package
from payments_infra.naming import Naming

RUNTIME = "python3.12"


@jsii.implements(IValidation)
class HandlerInPackage:
    """Construct validation: the zip exists, is a zip, and holds the handler's module.

    Run by CDK when the app is synthesized, so no stack is written that names code it does not ship (a
    placeholder package fails the apply: "Could not find file: lambda-placeholder.zip").
    """

    def __init__(self, path: Path, handler: str) -> None:
        self._path = path
        self._handler = handler

    def validate(self) -> list[str]:
        """The problems found, as CDK validations report them (empty when the package is right)."""
        try:
            check_package(self._path, self._handler)
        except BuildError as error:
            return [str(error)]
        return []


class Function(Construct):
    """One Lambda function of the processor, named for its construct id (``processor`` ->
    ``payment-processor-<env>-<suffix>``), its description ending with the deployment."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        naming: Naming,
        handler: str,
        description: str,
        package: LambdaPackage,
        code: FunctionCode,
        role: FunctionRole,
        network: Network | None,
        log_group: cloudwatch_logs.AwsGroup,
        environment: Mapping[str, str],
        reserved_concurrency: int,
        timeout_s: int | None = None,
        calls_acquirers: bool = False,
    ) -> None:
        super().__init__(scope, id_)
        self.node.add_validation(HandlerInPackage(package.path, handler))
        self.log_group = log_group
        self.function = lambda_.AwsFunction(
            self,
            "function",
            function_name=naming.function(id_),
            description=f"{description} ({naming.tag})",
            role=role.arn,
            runtime=RUNTIME,
            architectures=["x86_64"],  # the zip holds manylinux x86_64 wheels
            handler=handler,
            # The zip is a stack asset uploaded to the code bucket; the hash is of those exact bytes, computed
            # at build time (a hash not computed from the bytes cannot tell terraform when the code changed).
            s3_bucket=code.name,
            s3_key=code.key,
            source_code_hash=package.source_code_hash,
            memory_size=config.lambda_memory_mb,
            timeout=timeout_s or config.lambda_timeout_s,
            # Bounded always: each execution environment holds a database connection (environments.py).
            reserved_concurrent_executions=reserved_concurrency,
            # None: outside the VPC (the webhook courier: the internet, and no path to the database). A function
            # calling acquirers holds the egress group too: HTTPS out through the NAT gateway.
            vpc_config=None
            if network is None
            else lambda_.AwsFunction.VpcConfigProperty(
                subnet_ids=network.private_subnet_ids,
                security_group_ids=[network.function_sg.id, *([network.egress_sg.id] if calls_acquirers else [])],
            ),
            environment=lambda_.AwsFunction.EnvironmentProperty(variables=dict(environment)),
            # The log group must exist first (else Lambda creates one with no retention and no key), and
            # the role must hold its grants before the first invocation.
            depends_on=[log_group, role.attachment],
        )

    @property
    def function_name(self) -> str:
        """The function's name."""
        return self.function.function_name

    @property
    def arn(self) -> str:
        """The function's ARN."""
        return self.function.arn

    @property
    def invoke_arn(self) -> str:
        """The ARN API Gateway integrations invoke."""
        return self.function.invoke_arn
