"""IAM policies as the checker sees them: statements gathered from every way a role can get one,
and whether they allow an action on a resource.

Resources are compared in a canonical form where a reference such as ``${aws_s3_bucket.b.arn}``
becomes ``@aws_s3_bucket.b.arn``, so a grant written as a reference matches a need written as one;
literal ARNs are compared against probe ARNs built from the resources' literal names.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from preflight.model import Configuration, Resource, is_literal, references

ACCOUNT = "123456789012"  # probe ARNs only: any account matches a policy's wildcard or literal account


@dataclass(frozen=True)
class Statement:
    """A normalised policy statement."""

    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    principals: tuple[str, ...]
    has_condition: bool
    source: str  # address of the policy it came from


@dataclass(frozen=True)
class PolicySource:
    """Where a role's permissions come from; ``statements`` is None when preflight cannot read them."""

    address: str
    statements: tuple[Statement, ...] | None
    managed_arn: str = ""


# The AWS-managed policies functions commonly use, by name: (actions, resources) per statement.
KNOWN_MANAGED: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]] = {
    "AWSLambdaBasicExecutionRole": ((("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"), ("*",)),),
    "AWSLambdaVPCAccessExecutionRole": (
        (("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"), ("*",)),
        (
            (
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ),
            ("*",),
        ),
    ),
    "AWSLambdaExecute": (
        (("logs:*",), ("arn:aws:logs:*:*:*",)),
        (("s3:GetObject", "s3:PutObject"), ("arn:aws:s3:::*",)),
    ),
    "AmazonS3FullAccess": ((("s3:*", "s3-object-lambda:*"), ("*",)),),
    "AmazonS3ReadOnlyAccess": ((("s3:Get*", "s3:List*", "s3:Describe*"), ("*",)),),
    "SecretsManagerReadWrite": ((("secretsmanager:*",), ("*",)),),
    "AmazonDynamoDBFullAccess": ((("dynamodb:*",), ("*",)),),
    "AmazonSQSFullAccess": ((("sqs:*",), ("*",)),),
    "AmazonSNSFullAccess": ((("sns:*",), ("*",)),),
    "CloudWatchLogsFullAccess": ((("logs:*",), ("*",)),),
    "AdministratorAccess": ((("*",), ("*",)),),
    "PowerUserAccess": ((("*",), ("*",)),),
    "AmazonAPIGatewayPushToCloudWatchLogs": (
        (
            (
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogGroups",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
                "logs:GetLogEvents",
                "logs:FilterLogEvents",
            ),
            ("*",),
        ),
    ),
}
#: Managed policies that grant far more than a function needs.
BROAD_MANAGED = {
    "AdministratorAccess",
    "PowerUserAccess",
    "AmazonS3FullAccess",
    "SecretsManagerReadWrite",
    "AmazonDynamoDBFullAccess",
    "AmazonSQSFullAccess",
    "AmazonSNSFullAccess",
    "CloudWatchLogsFullAccess",
}


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def canonical(value: str) -> str:
    """``${aws_s3_bucket.b.arn}/x`` -> ``@aws_s3_bucket.b.arn/x``; other text unchanged."""

    def replace(match: re.Match[str]) -> str:
        refs = references(match.group(0))
        if len(refs) == 1 and re.fullmatch(r"\$\{\s*[\w.\-\[\]\"]+\s*\}", match.group(0)):
            ref = refs[0]
            return f"@{ref.address}.{ref.attribute}" if ref.attribute else f"@{ref.address}"
        return match.group(0)

    return re.sub(r"\$\{[^}]*\}", replace, value)


def glob_matches(pattern: str, value: str) -> bool:
    """IAM wildcard match: ``*`` any run of characters, ``?`` one character, case-sensitive."""
    return _glob(pattern).fullmatch(value) is not None


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    """A wildcard pattern compiled once (the checks match the same few hundred patterns again and again)."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action match: case-insensitive, with wildcards."""
    return glob_matches(pattern.lower(), action.lower())


def _from_document(doc: Mapping[str, Any], source: str) -> tuple[Statement, ...]:
    raw = doc.get("Statement", [])
    items = [raw] if isinstance(raw, Mapping) else raw
    statements = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        principal = item.get("Principal")
        if isinstance(principal, Mapping):
            principals = tuple(p for v in principal.values() for p in _strings(v))
        else:
            principals = _strings(principal)
        statements.append(
            Statement(
                str(item.get("Effect", "Allow")),
                _strings(item.get("Action")),
                _strings(item.get("NotAction")),
                tuple(canonical(r) for r in _strings(item.get("Resource"))),
                tuple(canonical(r) for r in _strings(item.get("NotResource"))),
                principals,
                bool(item.get("Condition")),
                source,
            )
        )
    return tuple(statements)


def _from_data_document(resource: Resource) -> tuple[Statement, ...]:
    statements = []
    for item in resource.blocks("statement"):
        principals = tuple(i for p in item.get("principals", []) or [] for i in _strings(p.get("identifiers")))
        statements.append(
            Statement(
                str(item.get("effect", "Allow")),
                _strings(item.get("actions")),
                _strings(item.get("not_actions")),
                tuple(canonical(r) for r in _strings(item.get("resources"))),
                tuple(canonical(r) for r in _strings(item.get("not_resources"))),
                principals,
                bool(item.get("condition")),
                resource.address,
            )
        )
    return tuple(statements)


def statements_of(config: Configuration, policy: Any, source: str) -> tuple[Statement, ...] | None:
    """Statements of a policy argument: a JSON string, or a reference to an aws_iam_policy_document.
    None when the policy is an expression preflight cannot evaluate."""
    if isinstance(policy, Mapping):
        return _from_document(policy, source)
    if isinstance(policy, str):
        # JSON, possibly with references inside its strings ("Resource": "${aws_s3_bucket.b.arn}/*"),
        # which _from_document puts in canonical form; "${data.….json}" is not JSON and falls through.
        try:
            doc = json.loads(policy)
        except json.JSONDecodeError:
            doc = None
        if isinstance(doc, Mapping):
            return _from_document(doc, source)
        if is_literal(policy):
            return None
    for resource, attribute in config.referenced(policy, "aws_iam_policy_document"):
        if attribute == "json" and resource.data:
            return _from_data_document(resource)
    return None


def managed_policy_name(arn: str) -> str:
    """``arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`` -> its name."""
    return arn.rsplit("/", 1)[-1]


def _managed(arn: str) -> PolicySource:
    known = KNOWN_MANAGED.get(managed_policy_name(arn))
    if known is None:
        return PolicySource(arn, None, managed_arn=arn)
    statements = tuple(Statement("Allow", actions, (), resources, (), (), False, arn) for actions, resources in known)
    return PolicySource(arn, statements, managed_arn=arn)


def _role_matches(config: Configuration, value: Any, role: Resource) -> bool:
    """Does ``value`` (a role argument of an attachment) name ``role``?"""
    if any(r is role for r, _ in config.referenced(value, "aws_iam_role")):
        return True
    return is_literal(value) and value in (role.get("name"), role.name)


def role_policies(config: Configuration, role: Resource) -> list[PolicySource]:
    """Every policy a role holds: inline blocks, aws_iam_role_policy, attachments, managed_policy_arns."""
    sources: list[PolicySource] = []
    for inline in role.blocks("inline_policy"):
        sources.append(PolicySource(role.address, statements_of(config, inline.get("policy"), role.address)))
    for arn in _strings(role.get("managed_policy_arns")):
        sources.extend(_policy_arn_sources(config, arn))
    for policy in config.of_type("aws_iam_role_policy"):
        if _role_matches(config, policy.get("role"), role):
            sources.append(PolicySource(policy.address, statements_of(config, policy.get("policy"), policy.address)))
    for attachment in config.of_type("aws_iam_role_policy_attachment"):
        if _role_matches(config, attachment.get("role"), role):
            sources.extend(_policy_arn_sources(config, attachment.get("policy_arn")))
    for attachment in config.of_type("aws_iam_policy_attachment"):
        if any(_role_matches(config, value, role) for value in _strings(attachment.get("roles"))):
            sources.extend(_policy_arn_sources(config, attachment.get("policy_arn")))
    return sources


def _policy_arn_sources(config: Configuration, arn: Any) -> list[PolicySource]:
    for policy, attribute in config.referenced(arn, "aws_iam_policy"):
        if attribute in ("arn", "id"):
            return [PolicySource(policy.address, statements_of(config, policy.get("policy"), policy.address))]
    if is_literal(arn) and ":iam::aws:policy/" in str(arn):
        return [_managed(str(arn))]
    return [PolicySource(str(arn), None, managed_arn=str(arn))]


@dataclass(frozen=True)
class Target:
    """A resource a function needs access to, as probe strings policies are matched against."""

    probes: tuple[str, ...]  # canonical references and literal ARNs that identify it
    prefixes: tuple[str, ...] = ()  # object-level targets: any grant under these prefixes counts

    def covered_by(self, resource_pattern: str) -> bool:
        """Does one statement resource pattern cover this target?"""
        if any(glob_matches(resource_pattern, probe) for probe in self.probes):
            return True
        return any(resource_pattern.startswith(prefix) for prefix in self.prefixes)


def granting(sources: Sequence[PolicySource], actions: Iterable[str], target: Target) -> str | None:
    """Where the first readable Allow statement granting any of ``actions`` on ``target`` comes from
    (a policy address or managed policy ARN); None when nothing grants it."""
    wanted = tuple(actions)
    for source in sources:
        for statement in source.statements or ():
            if statement.effect != "Allow" or not statement.resources:
                continue
            if not any(action_matches(p, a) for p in statement.actions for a in wanted):
                continue
            if any(target.covered_by(pattern) for pattern in statement.resources):
                return statement.source
    return None


def allows(sources: Sequence[PolicySource], actions: Iterable[str], target: Target) -> bool:
    """True when some readable Allow statement grants any of ``actions`` on ``target``."""
    return granting(sources, actions, target) is not None
