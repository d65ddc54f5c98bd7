"""Class 1 across deployments: physical names that two of the checked stacks would both create.

Two deployments built from one code base collide where a name misses the deployment suffix in both (a
bucket, a DB identifier, a function, a secret, the state backend). Each stack passes alone; the second to
deploy fails ("BucketAlreadyOwnedByYou", "DBInstanceAlreadyExists", "ResourceConflictException: Function
already exists", "EntityAlreadyExists: Role with name … already exists"), or, for the state, both
deployments read and overwrite one state.
Only names known before apply are compared: literals, plan-known values, and references that resolve
to a literal argument of the same configuration.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from preflight.loader import ACCOUNT_SCOPE
from preflight.model import Configuration, Resource, Severity, is_literal
from preflight.plan import planned_address
from preflight.registry import CrossIssue, Issue, check
from preflight.unique_names import UNIQUE_NAMES

#: Names AWS does not require to be unique in a region (API names), or scopes below it (security groups
#: per VPC): two stacks may both use them.
NOT_ENFORCED = {"aws_api_gateway_rest_api", "aws_apigatewayv2_api", "aws_security_group"}
#: Unique names the naming check has no length rules for.
EXTRA_NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "aws_api_gateway_domain_name": (("domain_name", "API Gateway custom domain"),),
    "aws_apigatewayv2_domain_name": (("domain_name", "API Gateway custom domain"),),
    "aws_wafv2_web_acl": (("name", "WAF web ACL"),),
    "aws_cloudwatch_dashboard": (("dashboard_name", "CloudWatch dashboard"),),
    "aws_cloudwatch_event_bus": (("name", "EventBridge event bus"),),
    "aws_ecs_cluster": (("name", "ECS cluster"),),
    "aws_elasticache_cluster": (("cluster_id", "ElastiCache cluster"),),
    "aws_elasticache_subnet_group": (("name", "ElastiCache subnet group"),),
    "aws_elasticache_parameter_group": (("name", "ElastiCache parameter group"),),
    "aws_rds_cluster_instance": (("identifier", "RDS cluster instance identifier"),),
    "aws_rds_cluster_parameter_group": (("name", "RDS cluster parameter group"),),
    "aws_db_option_group": (("name", "RDS option group"),),
    "aws_iam_group": (("name", "IAM group"),),
    "aws_lb_target_group": (("name", "load balancer target group"),),
    "aws_launch_template": (("name", "EC2 launch template"),),
    "aws_key_pair": (("key_name", "EC2 key pair"),),
    "aws_kinesis_firehose_delivery_stream": (("name", "Firehose delivery stream"),),
    "aws_opensearch_domain": (("domain_name", "OpenSearch domain"),),
}
#: (attribute, service) of every name two stacks must not share, by resource type.
NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    **{
        kind: tuple((limit.attribute, limit.service) for limit in limits)
        for kind, limits in UNIQUE_NAMES.items()
        if kind not in NOT_ENFORCED
    },
    **EXTRA_NAMES,
}
#: Names unique across regions: S3 bucket names are global, IAM names are per account.
GLOBAL = {
    "aws_s3_bucket",
    "aws_iam_role",
    "aws_iam_policy",
    "aws_iam_user",
    "aws_iam_group",
    "aws_iam_instance_profile",
}
#: Resource types whose ``id`` is their name, so ``${aws_s3_bucket.b.id}`` resolves to the bucket's name.
ID_IS_NAME = {
    "aws_s3_bucket": "bucket",
    "aws_iam_role": "name",
    "aws_iam_user": "name",
    "aws_lambda_function": "function_name",
    "aws_cloudwatch_log_group": "name",
    "aws_dynamodb_table": "name",
    "aws_kms_alias": "name",
}
_PLAIN_REFERENCE = re.compile(r"\s*((?:data\.)?[a-z][\w]*\.[A-Za-z_][\w-]*)\.([\w-]+)\s*")
BACKEND = "terraform.backend.s3"


@dataclass(frozen=True)
class _Name:
    """One physical name a configuration creates."""

    config: Configuration
    address: str
    shown: str  # the address as Terraform shows it (a plan's module and count instances differ)
    attribute: str
    service: str
    name: str
    region: str | None  # None: not known, so it may be any region
    #: For a plan's backend: the init record it was read from. Plans sharing one record (workspaces, or an
    #: init redone between plans) all show the record's current backend, not the one each was planned with.
    record: str | None = None


def resolved(config: Configuration, value: Any, depth: int = 0) -> str | None:
    """The literal a name is, or becomes once ``${type.name.attribute}`` references to literal arguments of
    this configuration are put in; None when any part is only known at apply."""
    if is_literal(value):
        return str(value)
    if not isinstance(value, str) or depth > 3 or "}*" in value:
        return None  # "${…}*": a plan's value known only after apply (preflight.plan)

    def put_in(match: re.Match[str]) -> str:
        plain = _PLAIN_REFERENCE.fullmatch(match.group(1))
        target = config.lookup(plain.group(1)) if plain else None
        if plain is None or target is None:
            return match.group(0)
        attribute = ID_IS_NAME.get(target.type, "") if plain.group(2) == "id" else plain.group(2)
        literal = resolved(config, target.get(attribute), depth + 1) if attribute else None
        return match.group(0) if literal is None else literal

    text = re.sub(r"\$\{([^{}]*)\}", put_in, value)
    return None if "${" in text else text


def _region(config: Configuration, resource: Resource) -> str | None:
    """The literal region of the aws provider a resource uses (the default one, or its alias)."""
    provider = str(resource.get("provider") or "").strip("${}")  # "aws.us" (or "${aws.us}" from CDK)
    alias = provider.removeprefix("aws.") if provider.startswith("aws.") else ""
    providers = config.document.get("provider", {})
    blocks: list[Any] = []
    for item in providers if isinstance(providers, list) else [providers]:
        found = item.get("aws", []) if isinstance(item, dict) else []
        blocks.extend(found if isinstance(found, list) else [found])
    for block in blocks:
        if isinstance(block, dict) and str(block.get("alias") or "") == alias:
            region = block.get("region")
            return str(region) if is_literal(region) else None
    return None


def names(config: Configuration) -> Iterator[_Name]:
    """Every physical name the configuration creates and knows before apply, and the state it writes."""
    for resource in config.resources:
        for attribute, service in NAMES.get(resource.type, ()):
            name = resolved(config, resource.get(attribute))
            if name:
                region = None if resource.type in GLOBAL else _region(config, resource)
                shown = planned_address(resource) or resource.address
                yield _Name(config, resource.address, shown, attribute, service, name, region)
    s3 = config.s3_backend
    if s3 is not None and is_literal(s3.get("bucket")) and is_literal(s3.get("key")):
        prefix = f"{s3['workspace_key_prefix']}/" if is_literal(s3.get("workspace_key_prefix")) else ""
        comment = config.terraform.get("//")
        record = comment.get("recorded_in") if isinstance(comment, dict) else None
        yield _Name(
            config,
            BACKEND,
            BACKEND,
            "key",
            "Terraform state",
            f"s3://{s3['bucket']}/{prefix}{s3['key']}",
            None,
            record if isinstance(record, str) else None,
        )


def _same_place(a: _Name, b: _Name) -> bool:
    if a.record is not None and a.record == b.record:
        return False  # one init record read for both plans: it says nothing about where each one's state goes
    return a.region is None or b.region is None or a.region == b.region


@check(
    "PF110",
    title="Physical name that another checked deployment creates too",
    severity=Severity.ERROR,
    defect_class=1,
    prevents=("state-backend-shared", "secret-not-found", "db-instance-exists", "bucket-exists", "function-exists"),
    rationale=(
        "Buckets, roles, policies, functions, secrets, DB identifiers, subnet and parameter groups, log groups, "
        "alarms, queues, topics, tables, KMS aliases, rules and the state must differ between deployments that "
        "share an account (S3: between all accounts). Each stack passes alone; whichever deploys second fails with "
        "'BucketAlreadyOwnedByYou', 'DBInstanceAlreadyExists', 'ResourceConflictException: Function already "
        "exists' or 'EntityAlreadyExists: Role with name … already exists', and two deployments with one state "
        "overwrite each other's resources."
    ),
    fix="build the name (and the state key) from the deployment suffix, so every deployment gets its own",
    across=True,
)
def shared_physical_names(configs: Sequence[Configuration]) -> Iterator[CrossIssue]:
    """Names that two of the given configurations both create: one finding on each side, naming the others."""
    by_name: dict[tuple[str, str, str], list[_Name]] = {}
    identity = {id(config): _identity(config) for config in configs}
    for config in configs:
        for found in names(config):
            key = (found.service, found.attribute, found.name)
            by_name.setdefault(key, []).append(found)
    for group in by_name.values():
        for found in group:
            others = [
                o for o in group if identity[id(o.config)] != identity[id(found.config)] and _same_place(found, o)
            ]
            if others:
                where = ", ".join(f"{o.shown} in {o.config.path}" for o in others)
                yield CrossIssue(
                    found.config,
                    Issue(
                        found.address,
                        found.attribute,
                        f"{found.service} {found.name!r} is also {'used' if found.address == BACKEND else 'created'} "
                        f"by {where}: whichever deploys second collides with the first",
                    ),
                )


def _identity(config: Configuration) -> str:
    """One stack given twice is one deployment, not two: the same file, or, for a stack the whole account shares
    (``ACCOUNT_SCOPE``: the account stack every deployment's synthesis writes alike, payments_infra.stacks.account),
    two files that say the same. Two identical files of anything else are two deployments of one configuration, whose
    backends the command line may set apart, and they collide."""
    if config.suffix is not None and ACCOUNT_SCOPE.fullmatch(config.suffix):
        text = json.dumps(config.document, sort_keys=True, default=str)
        return "account:" + hashlib.sha256(text.encode()).hexdigest()
    return str(config.path.resolve())
