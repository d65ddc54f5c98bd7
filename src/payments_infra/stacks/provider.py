"""The AWS provider every stack uses, with the deployment's tags and the version constraint."""

from __future__ import annotations

from cdktn import TerraformStack
from cdktn_aws.provider import AwsProvider

from payments_infra.terraform import AWS_PROVIDER_CONSTRAINT, TERRAFORM_REQUIRED_VERSION


def aws_provider(stack: TerraformStack, *, region: str, environment: str, deployment: str) -> AwsProvider:
    """Configure the aws provider for ``stack``: region, default tags, versions. ``environment`` and ``deployment``
    are the tags that say whose a resource is (a deployment's environment and suffix; "account" and
    ``account-<region>`` for the account stack). Preflight reads the ``Deployment`` tag as the suffix names carry."""
    provider = AwsProvider(
        stack,
        "aws",
        region=region,
        default_tags=[
            AwsProvider.DefaultTagsProperty(
                tags={
                    "Project": "payment-platform",
                    "Environment": environment,
                    "Deployment": deployment,
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
