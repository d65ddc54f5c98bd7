"""The deploy failures the checks exist to prevent: real failures of a payment platform's Terraform, each
with the error AWS or Terraform gave and what it did.

A check names the failures it prevents by their slugs (``@check(..., prevents=("bucket-exists",))``);
``payments check --list`` and the SARIF rules show them, so a finding can be traced to the failure it
stands in for.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeployFailure:
    """One failure: a stable slug, what went wrong, the error as AWS or Terraform printed it, and its effect."""

    slug: str
    title: str
    #: The error text as AWS or Terraform printed it; a failure AWS accepts silently says so instead.
    error: str
    effect: str


CATALOG = (
    DeployFailure(
        "state-backend-shared",
        "every deployment's Terraform state in one S3 bucket and one DynamoDB lock table",
        "Error: Error acquiring the state lock",
        "parallel deployments wait on or break each other's lock, and one deployment's plan sees another's "
        "resources in the shared state and replaces them",
    ),
    DeployFailure(
        "secret-not-found",
        "a secret looked up by a name without the deployment suffix",
        "ResourceNotFoundException: Secrets Manager can't find the specified secret: payment-db-password-dev",
        "the deployment stopped while provisioning the database",
    ),
    DeployFailure(
        "db-instance-exists",
        "an RDS identifier without the deployment suffix",
        "DBInstanceAlreadyExists: DBInstance payment-db-dev already exists",
        "the second deployment of an environment could not create its database",
    ),
    DeployFailure(
        "rds-defaults-implicit",
        "RDS multi_az and publicly_accessible left to the defaults",
        "none: AWS accepts the instance and applies its defaults",
        "a production database on one Availability Zone, and a public one wherever the subnet group allows it",
    ),
    DeployFailure(
        "bucket-exists",
        "an S3 bucket name without the deployment suffix",
        "BucketAlreadyOwnedByYou: Your previous request to create the named bucket succeeded and you already own it.",
        "the second deployment could not create its transaction-log bucket (S3 names are global)",
    ),
    DeployFailure(
        "log-bucket-access-denied",
        "a function writing to its transaction-log bucket without an IAM grant for it",
        "AccessDenied: User: arn:aws:sts::123456789012:assumed-role/payment-lambda-role-dev/payment-processor-dev "
        "is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::payment-transaction-logs-dev/*",
        "every payment answered 500 at run time and the audit trail of transactions was lost",
    ),
    DeployFailure(
        "function-exists",
        "a Lambda function name without the deployment suffix",
        "ResourceConflictException: Function already exists: payment-processor-dev",
        "the second deployment could not create its function",
    ),
    DeployFailure(
        "placeholder-package",
        "a placeholder Lambda package instead of the built code",
        "InvalidParameterValueException: Could not find file: lambda-placeholder.zip",
        "no function could be created: the whole deployment failed",
    ),
    DeployFailure(
        "api-invoke-permission-missing",
        "no aws_lambda_permission letting API Gateway invoke the function",
        "Execution failed due to configuration error: Invalid permissions on Lambda function",
        "every API request answered 500 without reaching the function",
    ),
    DeployFailure(
        "api-deployment-stale",
        "an API deployment without triggers or dependencies on its methods and integrations",
        "BadRequestException: No integration defined for method",
        "the deployment was created before its integrations, and later changes were never deployed: the stage "
        "served a stale API",
    ),
)
#: The catalog by slug, in the order above.
FAILURES = {failure.slug: failure for failure in CATALOG}
