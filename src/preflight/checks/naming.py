"""Class 1: names AWS requires to be unique must carry the deployment suffix and fit the service.

Seed defects 1, 2, 3, 5 and 7 were such names. Parallel deployments then collide: "BucketAlreadyOwnedByYou",
"DBInstanceAlreadyExists: DBInstance payment-db-dev already exists", "ResourceConflictException:
Function already exists: payment-processor-dev", or share one Terraform state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from preflight.model import Configuration, Severity, is_literal
from preflight.registry import Issue, check


@dataclass(frozen=True)
class NameLimit:
    """Where a resource type keeps its unique name, and the service's rules for it."""

    attribute: str
    max_length: int
    service: str
    pattern: str | None = None  # full-match regex of allowed characters, when the service is strict
    pattern_text: str = ""


# Resource types whose names must be unique in an account/region (or, for S3, globally).
UNIQUE_NAMES: dict[str, tuple[NameLimit, ...]] = {
    "aws_s3_bucket": (
        NameLimit(
            "bucket", 63, "S3 bucket", r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "lower-case letters, digits, '.', '-'"
        ),
    ),
    "aws_db_instance": (
        NameLimit("identifier", 63, "RDS DB instance", r"[a-z][a-z0-9-]*", "lower-case letters, digits, hyphens"),
        NameLimit(
            "final_snapshot_identifier", 255, "RDS snapshot", r"[a-zA-Z][a-zA-Z0-9-]*", "letters, digits, hyphens"
        ),
    ),
    "aws_rds_cluster": (
        NameLimit("cluster_identifier", 63, "RDS cluster", r"[a-z][a-z0-9-]*", "lower-case letters, digits, hyphens"),
    ),
    # RDS Proxy: letters, digits and hyphens, starting with a letter, no "--", not ending in "-".
    "aws_db_proxy": (
        NameLimit("name", 63, "RDS DB proxy", r"[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*(?<!-)", "letters, digits, hyphens"),
    ),
    "aws_db_proxy_endpoint": (
        NameLimit(
            "db_proxy_endpoint_name",
            63,
            "RDS DB proxy endpoint",
            r"[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*(?<!-)",
            "letters, digits, hyphens",
        ),
    ),
    "aws_db_subnet_group": (NameLimit("name", 255, "DB subnet group"),),
    "aws_db_parameter_group": (NameLimit("name", 255, "DB parameter group"),),
    "aws_lambda_function": (NameLimit("function_name", 64, "Lambda function", r"[\w-]+", "letters, digits, '-', '_'"),),
    "aws_iam_role": (NameLimit("name", 64, "IAM role"),),
    "aws_iam_policy": (NameLimit("name", 128, "IAM policy"),),
    "aws_iam_user": (NameLimit("name", 64, "IAM user"),),
    "aws_iam_instance_profile": (NameLimit("name", 128, "IAM instance profile"),),
    "aws_secretsmanager_secret": (NameLimit("name", 512, "Secrets Manager secret"),),
    "aws_ssm_parameter": (NameLimit("name", 2048, "SSM parameter"),),
    "aws_dynamodb_table": (NameLimit("name", 255, "DynamoDB table"),),
    "aws_cloudwatch_log_group": (NameLimit("name", 512, "CloudWatch log group"),),
    "aws_sqs_queue": (NameLimit("name", 80, "SQS queue"),),
    "aws_cloudtrail": (
        NameLimit(
            "name",
            128,
            "CloudTrail trail",
            r"[A-Za-z0-9](?:[A-Za-z0-9]|[._-](?![._-]))*[A-Za-z0-9]",
            "letters, digits and single '.', '_' or '-', starting and ending with a letter or digit",
        ),
    ),
    "aws_sns_topic": (NameLimit("name", 256, "SNS topic"),),
    "aws_kms_alias": (NameLimit("name", 256, "KMS alias"),),
    "aws_api_gateway_rest_api": (NameLimit("name", 1024, "API Gateway REST API"),),
    "aws_apigatewayv2_api": (NameLimit("name", 128, "API Gateway HTTP API"),),
    "aws_cloudwatch_event_rule": (NameLimit("name", 64, "EventBridge rule"),),
    "aws_cloudwatch_metric_alarm": (NameLimit("alarm_name", 255, "CloudWatch alarm"),),
    "aws_security_group": (NameLimit("name", 255, "security group"),),
    "aws_ecr_repository": (NameLimit("name", 256, "ECR repository"),),
    "aws_sfn_state_machine": (NameLimit("name", 80, "Step Functions state machine"),),
    "aws_kinesis_stream": (NameLimit("name", 128, "Kinesis stream"),),
    "aws_lb": (NameLimit("name", 32, "load balancer"),),
    "aws_elasticache_replication_group": (NameLimit("replication_group_id", 40, "ElastiCache replication group"),),
}
# A generated-name argument makes AWS/Terraform add a unique part: nothing to check.
_PREFIX_ARGUMENTS = {"bucket_prefix", "name_prefix", "identifier_prefix", "cluster_identifier_prefix"}
# Terraform's S3 backend names (seed defect 1).
BACKEND_NAMES = (
    NameLimit(
        "bucket", 63, "S3 state bucket", r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "lower-case letters, digits, '.', '-'"
    ),
    NameLimit("dynamodb_table", 255, "DynamoDB lock table"),
)


def carries_suffix(name: str, suffix: str) -> bool:
    """The suffix appears as a whole, delimited part of the name (``pr4`` is not in ``payment-pr42``)."""
    return re.search(rf"(?:^|[-_/.:]){re.escape(suffix)}(?:$|[-_/.:])", name) is not None


def _named(config: Configuration) -> Iterator[tuple[str, str, object, NameLimit]]:
    """(resource address, attribute, value, limit) of every unique name in the configuration."""
    # Data sources too: a lookup by a name without the suffix finds another deployment's resource or none
    # ("ResourceNotFoundException: Secrets Manager can't find the specified secret").
    for resource in [*config.resources, *config.data_sources]:
        limits = UNIQUE_NAMES.get(resource.type, ())
        if _PREFIX_ARGUMENTS & resource.body.keys():
            continue
        for limit in limits:
            if limit.attribute in resource.body:
                yield resource.address, limit.attribute, resource.get(limit.attribute), limit
    s3 = config.s3_backend
    if s3 is not None:
        for limit in BACKEND_NAMES:
            if limit.attribute in s3:
                yield "terraform.backend.s3", limit.attribute, s3[limit.attribute], limit


@check(
    "PF101",
    title="Unique name without the deployment suffix",
    severity=Severity.ERROR,
    defect_class=1,
    seed_defects=(1, 2, 3, 5, 7),
    rationale=(
        "Names of buckets, DB instances and proxies, functions, roles, secrets, tables, log groups, queues, topics, "
        "KMS aliases, APIs and the state backend must be unique per account (S3: globally). Without the deployment "
        "suffix a second deployment fails: 'BucketAlreadyOwnedByYou', 'DBInstanceAlreadyExists: DBInstance "
        "payment-db-dev already exists', 'ResourceConflictException: Function already exists: "
        "payment-processor-dev', or 'Secrets Manager can't find the specified secret: payment-db-password-dev'; "
        "a shared state bucket or lock table lets deployments overwrite each other's state."
    ),
    fix="build the name from the deployment suffix like the configuration's other names (or use the *_prefix "
    "argument, so AWS makes the name unique)",
)
def name_without_suffix(config: Configuration) -> Iterator[Issue]:
    """Literal unique names that do not carry the suffix (or, when no suffix is known, any literal name)."""
    for address, attribute, value, limit in _named(config):
        if not is_literal(value):
            continue  # built by an expression (a variable, another resource): nothing literal to compare
        name = str(value)
        if config.suffix is None:
            yield Issue(
                address,
                attribute,
                f"{limit.service} name {name!r} is a fixed string and no deployment suffix is known to check it "
                "against",
                "build the name from the deployment suffix, or run with --suffix SUFFIX",
            )
        elif not carries_suffix(name, config.suffix):
            yield Issue(
                address,
                attribute,
                f"{limit.service} name {name!r} does not carry the deployment suffix {config.suffix!r} "
                f"(from {config.suffix_source}); a second deployment would collide with it",
            )


@check(
    "PF102",
    title="Name over the service's length limit or with characters it refuses",
    severity=Severity.ERROR,
    defect_class=1,
    rationale=(
        "AWS refuses over-long or malformed names only at apply time, after other resources exist: "
        "'InvalidBucketName: The specified bucket is not valid', 'InvalidParameterValue: DBInstanceIdentifier is "
        "not a valid identifier', 'ValidationException: 1 validation error detected: Value at 'functionName' "
        "failed to satisfy constraint: Member must have length less than or equal to 64'."
    ),
    fix="use a shorter deployment suffix or purpose, and only the characters the service accepts",
)
def name_over_limit(config: Configuration) -> Iterator[Issue]:
    """Literal unique names longer than the service allows, or with characters it refuses."""
    for address, attribute, value, limit in _named(config):
        if not is_literal(value):
            continue
        name = str(value)
        if len(name) > limit.max_length:
            yield Issue(
                address,
                attribute,
                f"{limit.service} name {name!r} is {len(name)} characters; the limit is {limit.max_length}",
            )
        elif limit.pattern and not re.fullmatch(limit.pattern, name):
            yield Issue(address, attribute, f"{limit.service} name {name!r} is not allowed: use {limit.pattern_text}")
