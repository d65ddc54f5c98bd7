"""Names AWS requires to be unique in an account and region (S3: globally), by resource type: where each type
keeps its name, and the service's length and character rules for it.

Shared by the input layer (``loader`` learns a configuration's deployment suffix from these names) and the
checks (``checks.naming`` holds them to the suffix and the rules, ``checks.collisions`` compares them across
deployments).
"""

from __future__ import annotations

from dataclasses import dataclass


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
