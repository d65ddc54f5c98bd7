"""Class 7: data at rest encrypted, nothing public, database ports closed to the internet, logs
kept for a known time, state encrypted and locked, no secret in plain text."""

from __future__ import annotations

import re
from collections.abc import Iterator

from preflight.checks.arguments import environment
from preflight.checks.security_groups import ALL_PROTOCOLS, WORLD, rules
from preflight.model import Configuration, Resource, Severity, is_literal
from preflight.policies import statements_of
from preflight.registry import Issue, check

DATABASE_PORTS = {
    5432: "PostgreSQL",
    3306: "MySQL",
    1433: "SQL Server",
    1521: "Oracle",
    6379: "Redis",
    27017: "MongoDB",
    9200: "Elasticsearch",
    5439: "Redshift",
    11211: "Memcached",
}
PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET(?!_ARN|_NAME|_ID)|TOKEN|PRIVATE_KEY|API_KEY", re.I)


def _bucket_children(config: Configuration, kind: str, bucket: Resource) -> list[Resource]:
    return [
        r
        for r in config.of_type(kind)
        if any(b is bucket for b, _ in config.referenced(r.get("bucket"), "aws_s3_bucket"))
    ]


@check(
    "PF701",
    title="S3 bucket without default encryption",
    severity=Severity.ERROR,
    defect_class=7,
    rationale=(
        "Without an explicit server-side encryption configuration the bucket's protection depends on account "
        "defaults; transaction records and state must be encrypted with a known key."
    ),
    fix="add an aws_s3_bucket_server_side_encryption_configuration (aws:kms with the deployment's key)",
)
def bucket_unencrypted(config: Configuration) -> Iterator[Issue]:
    """Buckets with no encryption configuration."""
    for bucket in config.of_type("aws_s3_bucket"):
        if bucket.block("server_side_encryption_configuration"):
            continue
        if not _bucket_children(config, "aws_s3_bucket_server_side_encryption_configuration", bucket):
            yield Issue(bucket.address, "", "no server-side encryption configuration")


@check(
    "PF702",
    title="S3 bucket may be public",
    severity=Severity.ERROR,
    defect_class=7,
    rationale=(
        "Without all four public-access blocks, one ACL or policy statement exposes the bucket to the internet; "
        "a public ACL or an Allow for Principal '*' does it outright."
    ),
    fix="add an aws_s3_bucket_public_access_block with all four settings true, and no public ACL or policy",
)
def bucket_public(config: Configuration) -> Iterator[Issue]:
    """Buckets without a full public-access block, with a public ACL, or with an open Allow statement."""
    for bucket in config.of_type("aws_s3_bucket"):
        blocks = _bucket_children(config, "aws_s3_bucket_public_access_block", bucket)
        settings = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
        if not blocks:
            yield Issue(bucket.address, "", "no aws_s3_bucket_public_access_block")
        else:
            off = [s for s in settings if any(b.get(s) is not True for b in blocks)]
            if off:
                yield Issue(blocks[0].address, ",".join(off), f"not blocked: {', '.join(off)}")
        acls = [bucket.get("acl")] + [a.get("acl") for a in _bucket_children(config, "aws_s3_bucket_acl", bucket)]
        for acl in acls:
            if acl in PUBLIC_ACLS:
                yield Issue(bucket.address, "acl", f"ACL {acl}")
        for policy in _bucket_children(config, "aws_s3_bucket_policy", bucket):
            for statement in statements_of(config, policy.get("policy"), policy.address) or ():
                if statement.effect == "Allow" and "*" in statement.principals and not statement.has_condition:
                    yield Issue(policy.address, "policy", "allows Principal '*' with no condition")


@check(
    "PF703",
    title="Log group without retention",
    severity=Severity.ERROR,
    defect_class=7,
    rationale=(
        "Without retention_in_days CloudWatch keeps logs forever: cost grows without bound and personal data is "
        "kept longer than any policy allows."
    ),
    fix="set retention_in_days from the environment's config",
)
def log_group_without_retention(config: Configuration) -> Iterator[Issue]:
    """Log groups with no (or zero, meaning never expire) retention."""
    for group in config.of_type("aws_cloudwatch_log_group"):
        if not group.get("retention_in_days"):
            yield Issue(group.address, "retention_in_days", "logs are kept forever")


@check(
    "PF704",
    title="Function writes to a log group this configuration does not manage",
    severity=Severity.ERROR,
    defect_class=7,
    rationale=(
        "Lambda creates /aws/lambda/<name> on first invocation with no retention and no KMS key, outside Terraform: "
        "it survives destroy, and a later apply that declares it fails with 'ResourceAlreadyExistsException: The "
        "specified log group already exists'."
    ),
    fix="declare aws_cloudwatch_log_group /aws/lambda/<function name> with retention; make the function depend on it",
)
def function_without_log_group(config: Configuration) -> Iterator[Issue]:
    """Functions whose log group is not declared here."""
    declared = {g.get("name") for g in config.of_type("aws_cloudwatch_log_group")}
    for function in config.of_type("aws_lambda_function"):
        name = function.get("function_name")
        if not is_literal(name):
            continue
        logging = function.block("logging_config").get("log_group")
        if logging and not is_literal(logging):
            continue  # refers to a declared group
        group = logging or f"/aws/lambda/{name}"
        if group not in declared:
            yield Issue(function.address, "function_name", f"log group {group} is not declared")


@check(
    "PF705",
    title="Log group not encrypted with a customer key",
    severity=Severity.WARNING,
    defect_class=7,
    rationale="Payment logs hold request and payment ids; a customer-managed key lets access be revoked and audited.",
    fix="set kms_key_id to the deployment's key (its policy must allow logs.<region>.amazonaws.com)",
)
def log_group_unencrypted(config: Configuration) -> Iterator[Issue]:
    """Log groups without kms_key_id."""
    for group in config.of_type("aws_cloudwatch_log_group"):
        if not group.get("kms_key_id"):
            yield Issue(group.address, "kms_key_id", "encrypted only with the service's own key")


@check(
    "PF706",
    title="Terraform state not encrypted or not locked",
    severity=Severity.ERROR,
    defect_class=7,
    prevents=("state-backend-shared",),
    rationale=(
        "State holds every resource's attributes; the S3 backend stores it unencrypted unless encrypt = true. "
        "Without a lock two applies write the same state and corrupt it ('Error acquiring the state lock' is the "
        "protection this restores)."
    ),
    fix="set encrypt = true and use_lockfile = true (Terraform >= 1.10) on the S3 backend",
)
def state_unprotected(config: Configuration) -> Iterator[Issue]:
    """An S3 backend without encryption or locking."""
    s3 = config.s3_backend
    if s3 is None:
        return
    if s3.get("encrypt") is not True:
        yield Issue("terraform.backend.s3", "encrypt", "state is stored without server-side encryption")
    if not s3.get("use_lockfile") and not s3.get("dynamodb_table"):
        yield Issue("terraform.backend.s3", "use_lockfile", "state is not locked: concurrent applies can corrupt it")


@check(
    "PF707",
    title="Database port open to the internet",
    severity=Severity.ERROR,
    defect_class=7,
    rationale=(
        "An ingress rule from 0.0.0.0/0 or ::/0 on a database port exposes it to the internet's password guessing; "
        "the database should accept only the function's security group."
    ),
    fix="replace the CIDR with source_security_group_id = the function's security group",
)
def database_port_open(config: Configuration) -> Iterator[Issue]:
    """Ingress from anywhere covering a database port."""
    for rule in rules(config, "ingress"):
        world = sorted(WORLD & set(rule.cidrs))
        ports = rule.ports()
        if not world or rule.protocol not in ("tcp", "6", *ALL_PROTOCOLS) or ports is None:
            continue
        low, high = ports
        exposed = [f"{port} ({name})" for port, name in DATABASE_PORTS.items() if low <= port <= high]
        if exposed:
            yield Issue(rule.owner.address, "ingress", f"{', '.join(exposed)} open to {', '.join(world)}")


@check(
    "PF708",
    title="Queue or topic not encrypted",
    severity=Severity.WARNING,
    defect_class=7,
    rationale="Messages about payments may carry identifiers; SNS topics are unencrypted unless a key is set.",
    fix="set kms_master_key_id (SNS) or sqs_managed_sse_enabled / kms_master_key_id (SQS)",
)
def messaging_unencrypted(config: Configuration) -> Iterator[Issue]:
    """SNS topics and SQS queues without encryption."""
    for topic in config.of_type("aws_sns_topic"):
        if not topic.get("kms_master_key_id"):
            yield Issue(topic.address, "kms_master_key_id", "the topic is not encrypted")
    for queue in config.of_type("aws_sqs_queue"):
        if not queue.get("kms_master_key_id") and queue.get("sqs_managed_sse_enabled") is False:
            yield Issue(queue.address, "sqs_managed_sse_enabled", "the queue is not encrypted")


@check(
    "PF709",
    title="KMS key without rotation",
    severity=Severity.WARNING,
    defect_class=7,
    rationale="Annual rotation limits how much data one key version protects; it is off unless enabled.",
    fix="set enable_key_rotation = true",
)
def key_without_rotation(config: Configuration) -> Iterator[Issue]:
    """Symmetric customer keys without rotation."""
    for key in config.of_type("aws_kms_key"):
        if (
            key.get("customer_master_key_spec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
            and key.get("enable_key_rotation") is not True
        ):
            yield Issue(key.address, "enable_key_rotation", "rotation is off")


@check(
    "PF710",
    title="Secret in plain text in a function's environment",
    severity=Severity.ERROR,
    defect_class=7,
    rationale=(
        "Environment variables are stored in the function's configuration and in Terraform state, readable by "
        "anyone with lambda:GetFunctionConfiguration or the state bucket."
    ),
    fix="keep the secret in Secrets Manager and pass its ARN (the processor reads DB_SECRET_ARN)",
)
def secret_in_environment(config: Configuration) -> Iterator[Issue]:
    """Variables named like secrets with a literal value that is not an ARN."""
    for function in config.of_type("aws_lambda_function"):
        for name, value in environment(function):
            if SECRET_NAME.search(name) and is_literal(value) and value and not str(value).startswith("arn:"):
                yield Issue(function.address, f"environment.variables.{name}", f"{name} holds a literal value")


@check(
    "PF711",
    title="S3 bucket not versioned",
    severity=Severity.WARNING,
    defect_class=7,
    rationale="Without versioning an overwrite or delete of a transaction record or of the state is final.",
    fix="add an aws_s3_bucket_versioning with status Enabled",
)
def bucket_not_versioned(config: Configuration) -> Iterator[Issue]:
    """Buckets without versioning enabled."""
    for bucket in config.of_type("aws_s3_bucket"):
        if bucket.block("versioning").get("enabled") is True:
            continue
        versioning = _bucket_children(config, "aws_s3_bucket_versioning", bucket)
        if not any(v.block("versioning_configuration").get("status") == "Enabled" for v in versioning):
            yield Issue(bucket.address, "", "versioning is not enabled")
