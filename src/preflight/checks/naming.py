"""Class 1: names AWS requires to be unique must carry the deployment suffix and fit the service.

A name without the suffix is the same in every deployment of an environment, and the second deployment
fails: "BucketAlreadyOwnedByYou", "DBInstanceAlreadyExists: DBInstance payment-db-dev already exists",
"ResourceConflictException: Function already exists: payment-processor-dev", a secret looked up by a name
this deployment never created ("Secrets Manager can't find the specified secret"), or two deployments
sharing one Terraform state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from preflight.model import Configuration, Severity, is_literal
from preflight.registry import Issue, check
from preflight.unique_names import UNIQUE_NAMES, NameLimit

# A generated-name argument makes AWS/Terraform add a unique part: nothing to check.
_PREFIX_ARGUMENTS = {"bucket_prefix", "name_prefix", "identifier_prefix", "cluster_identifier_prefix"}
# Terraform's S3 backend names: one state bucket or lock table for every deployment lets them overwrite each
# other's state.
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
    prevents=("state-backend-shared", "secret-not-found", "db-instance-exists", "bucket-exists", "function-exists"),
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
