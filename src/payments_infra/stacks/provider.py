"""The AWS provider every stack uses, with the deployment's tags and the version constraint."""

from __future__ import annotations

from cdktn import TerraformStack
from cdktn_aws.provider import AwsProvider

from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming
from payments_infra.terraform import AWS_PROVIDER_CONSTRAINT, TERRAFORM_REQUIRED_VERSION


def aws_provider(stack: TerraformStack, *, config: EnvironmentConfig, naming: Naming) -> AwsProvider:
    """Configure the aws provider for ``stack``: region, default tags, versions."""
    provider = AwsProvider(
        stack,
        "aws",
        region=config.region,
        default_tags=[
            AwsProvider.DefaultTagsProperty(
                tags={
                    "Project": "payment-platform",
                    "Environment": naming.environment,
                    "Deployment": naming.suffix,
                    "ManagedBy": "cdktn",
                }
            )
        ],
    )
    # The bindings are generated from provider 6.x and would pin it; the constructs use only arguments
    # 5.100.0 also has, so both are admitted (tests validate against 5.100.0 offline).
    stack.add_override("terraform.required_providers.aws.version", AWS_PROVIDER_CONSTRAINT)
    stack.add_override("terraform.required_version", TERRAFORM_REQUIRED_VERSION)
    return provider
