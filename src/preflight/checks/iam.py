"""Class 2: a function must hold a grant for every resource its configuration points it at, and no
grant may be wider than needed.

A function writing to its transaction-log bucket with no S3 grant deploys fine, and every payment then
fails at run time with "AccessDenied: ... is not authorized to perform: s3:PutObject on resource:
arn:aws:s3:::payment-transaction-logs-dev/*".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from preflight.checks.arguments import environment
from preflight.model import Configuration, Resource, Severity
from preflight.policies import (
    ACCOUNT,
    BROAD_MANAGED,
    PolicySource,
    Target,
    allows,
    granting,
    managed_policy_name,
    role_policies,
    statements_of,
)
from preflight.registry import Issue, check

# Actions AWS does not let a policy scope to a resource ARN (or whose resource is created by the
# service itself, such as the ENIs Lambda makes), for which "*" is the only possible resource.
NO_RESOURCE_LEVEL = (
    "ec2:Describe*",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    "logs:DescribeLogGroups",
    "cloudwatch:PutMetricData",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "sts:GetCallerIdentity",
    "s3:ListAllMyBuckets",
    "kms:ListAliases",
    "secretsmanager:ListSecrets",
    "secretsmanager:GetRandomPassword",
)
VPC_ACTIONS = ("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface")
#: Resources whose master_user_secret is the RDS-managed secret of the database's master user.
MASTER_SECRET_HOLDERS = ("aws_db_instance", "aws_rds_cluster")


@dataclass(frozen=True)
class Need:
    """Something a function's configuration implies it will do."""

    what: str  # for messages: "bucket 'x' (TRANSACTION_LOG_BUCKET)"
    actions: tuple[str, ...]  # any one of them suffices
    target: Target
    attribute: str


def _function_role(config: Configuration, function: Resource) -> Resource | None:
    for role, _ in config.referenced(function.get("role"), "aws_iam_role"):
        return role
    return None


def _bucket_target(bucket: Resource) -> Target:
    name = bucket.get("bucket")
    probes = [f"@{bucket.address}.arn/probe-object-key"]
    prefixes = [f"@{bucket.address}.arn/"]
    if isinstance(name, str) and "${" not in name:
        probes.append(f"arn:aws:s3:::{name}/probe-object-key")
        prefixes.append(f"arn:aws:s3:::{name}/")
    return Target(tuple(probes), tuple(prefixes))


def _arn_target(resource: Resource, *attributes: str, literal_arn: str | None = None) -> Target:
    probes = [f"@{resource.address}.{attribute}" for attribute in attributes]
    if literal_arn:
        probes.append(literal_arn)
    return Target(tuple(probes))


def _kms_key_of_bucket(config: Configuration, bucket: Resource) -> Resource | None:
    for sse in config.of_type("aws_s3_bucket_server_side_encryption_configuration"):
        if any(b is bucket for b, _ in config.referenced(sse.get("bucket"), "aws_s3_bucket")):
            for rule in sse.blocks("rule"):
                default = rule.get("apply_server_side_encryption_by_default")
                default = default[0] if isinstance(default, list) and default else default
                if isinstance(default, dict):
                    for key, _ in config.referenced(default.get("kms_master_key_id"), "aws_kms_key"):
                        return key
    return None


def needs_of(config: Configuration, function: Resource) -> list[Need]:
    """What the function's environment and configuration say it will touch."""
    needs: list[Need] = []
    region = "us-east-1"
    for variable, value in environment(function):
        attribute = f"environment.variables.{variable}"
        for resource, ref_attribute in config.referenced(value):
            label = f"{resource.type} {resource.address} ({variable})"
            if resource.type == "aws_s3_bucket":
                needs.append(
                    Need(f"bucket {label}", ("s3:PutObject", "s3:GetObject"), _bucket_target(resource), attribute)
                )
                key = _kms_key_of_bucket(config, resource)
                if key is not None:
                    # S3 asks KMS for a data key on every SSE-KMS put: without kms:GenerateDataKey no write works,
                    # whatever else the role may do with the key (kms:Decrypt for another purpose is no help).
                    needs.append(
                        Need(
                            f"KMS key {key.address} encrypting bucket {resource.address} ({variable})",
                            ("kms:GenerateDataKey",),
                            _arn_target(key, "arn"),
                            attribute,
                        )
                    )
            elif resource.type == "aws_secretsmanager_secret":
                name = resource.get("name")
                literal = (
                    f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{name}-AbCdEf" if isinstance(name, str) else None
                )
                needs.append(
                    Need(
                        f"secret {label}",
                        ("secretsmanager:GetSecretValue",),
                        _arn_target(resource, "arn", "id", literal_arn=literal),
                        attribute,
                    )
                )
                for key, _ in config.referenced(resource.get("kms_key_id"), "aws_kms_key"):
                    needs.append(
                        Need(
                            f"KMS key {key.address} of secret {resource.address}",
                            ("kms:Decrypt",),
                            _arn_target(key, "arn"),
                            attribute,
                        )
                    )
            elif resource.type in ("aws_db_instance", "aws_rds_cluster") and ref_attribute.startswith(
                "master_user_secret"
            ):
                needs.append(
                    Need(
                        f"the RDS-managed secret of {label}",
                        ("secretsmanager:GetSecretValue",),
                        _arn_target(resource, "master_user_secret.0.secret_arn"),
                        attribute,
                    )
                )
                for key, _ in config.referenced(resource.get("master_user_secret_kms_key_id"), "aws_kms_key"):
                    needs.append(
                        Need(
                            f"KMS key {key.address} of the RDS-managed secret",
                            ("kms:Decrypt",),
                            _arn_target(key, "arn"),
                            attribute,
                        )
                    )
            elif resource.type == "aws_dynamodb_table":
                needs.append(
                    Need(
                        f"table {label}",
                        ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"),
                        _arn_target(resource, "arn"),
                        attribute,
                    )
                )
            elif resource.type == "aws_sqs_queue":
                needs.append(
                    Need(
                        f"queue {label}",
                        ("sqs:SendMessage", "sqs:ReceiveMessage"),
                        _arn_target(resource, "arn"),
                        attribute,
                    )
                )
            elif resource.type == "aws_sns_topic":
                needs.append(Need(f"topic {label}", ("sns:Publish",), _arn_target(resource, "arn", "id"), attribute))
            elif resource.type == "aws_ssm_parameter":
                needs.append(
                    Need(
                        f"parameter {label}",
                        ("ssm:GetParameter", "ssm:GetParameters"),
                        _arn_target(resource, "arn"),
                        attribute,
                    )
                )
    return needs


def _describe(sources: list[PolicySource]) -> str:
    unreadable = [s.address for s in sources if s.statements is None]
    text = f"{len(sources)} attached polic{'y' if len(sources) == 1 else 'ies'}"
    if unreadable:
        text += f" ({', '.join(unreadable)} could not be read)"
    return text


@check(
    "PF201",
    title="Function touches a resource it has no IAM grant for",
    severity=Severity.ERROR,
    defect_class=2,
    prevents=("log-bucket-access-denied",),
    rationale=(
        "A function whose environment names a bucket, secret, table, queue or topic calls it at run time; without a "
        "grant every call fails: 'AccessDenied: User: arn:aws:sts::…:assumed-role/payment-lambda-role-dev/"
        "payment-processor-dev is not authorized to perform: s3:PutObject on resource: "
        "arn:aws:s3:::payment-transaction-logs-dev/*'."
    ),
    fix="attach a policy to the function's role allowing the action on exactly that resource's ARN",
)
def missing_grant(config: Configuration) -> Iterator[Issue]:
    """Needs from the function's environment that no attached policy covers."""
    for function in config.of_type("aws_lambda_function"):
        role = _function_role(config, function)
        if role is None:
            continue  # a role from outside this configuration: its policies cannot be seen
        sources = role_policies(config, role)
        for need in needs_of(config, function):
            if not allows(sources, need.actions, need.target):
                yield Issue(
                    function.address,
                    need.attribute,
                    f"uses {need.what} but none of the {_describe(sources)} of role {role.address} allows "
                    f"{' or '.join(need.actions)} on it",
                    f"grant {need.actions[0]} on that resource's ARN in a policy attached to {role.address}",
                )


@check(
    "PF202",
    title="IAM grant wider than needed",
    severity=Severity.ERROR,
    defect_class=2,
    rationale=(
        "A '*' action, a 'service:*' action, NotAction/NotResource, or Resource '*' for an action that can be scoped "
        "lets a compromised function do far more than its job (read every secret, write every bucket). AWS accepts "
        "it silently; IAM Access Analyzer reports it as 'Overly permissive'."
    ),
    fix="list the exact actions the code calls and the ARNs of the resources it calls them on",
)
def wide_grant(config: Configuration) -> Iterator[Issue]:
    """Allow statements in the configuration's identity policies that are broader than needed."""
    from preflight.policies import action_matches

    policies: list[tuple[Resource, object]] = []
    for policy in config.of_type(
        "aws_iam_policy", "aws_iam_role_policy", "aws_iam_user_policy", "aws_iam_group_policy"
    ):
        policies.append((policy, policy.get("policy")))
    for role in config.of_type("aws_iam_role"):
        for inline in role.blocks("inline_policy"):
            policies.append((role, inline.get("policy")))
    for owner, document in policies:
        for statement in statements_of(config, document, owner.address) or ():
            if statement.effect != "Allow":
                continue
            where = statement.source if statement.source != owner.address else owner.address
            if statement.not_actions or statement.not_resources:
                yield Issue(owner.address, "policy", f"an Allow statement uses NotAction/NotResource ({where})")
                continue
            broad = [a for a in statement.actions if a == "*" or a.endswith(":*")]
            if broad:
                yield Issue(owner.address, "policy", f"allows every action of {', '.join(broad)} ({where})")
                continue
            if "*" in statement.resources:
                scoped = [a for a in statement.actions if not any(action_matches(p, a) for p in NO_RESOURCE_LEVEL)]
                if scoped:
                    yield Issue(
                        owner.address,
                        "policy",
                        f"allows {', '.join(scoped)} on every resource ('*'), though a resource ARN can be given "
                        f"({where})",
                    )


@check(
    "PF203",
    title="Function in a VPC cannot manage its network interfaces",
    severity=Severity.ERROR,
    defect_class=2,
    rationale=(
        "Lambda creates ENIs in the function's subnets as the function's role; without the EC2 actions creation "
        "fails: 'InvalidParameterValueException: The provided execution role does not have permissions to call "
        "CreateNetworkInterface on EC2'."
    ),
    fix="grant ec2:CreateNetworkInterface, ec2:DescribeNetworkInterfaces, ec2:DeleteNetworkInterface (and "
    "Assign/UnassignPrivateIpAddresses) on '*', as AWSLambdaVPCAccessExecutionRole does",
)
def vpc_function_without_eni_actions(config: Configuration) -> Iterator[Issue]:
    """Functions with a vpc_config whose role lacks the ENI actions."""
    for function in config.of_type("aws_lambda_function"):
        if not function.block("vpc_config").get("subnet_ids"):
            continue
        role = _function_role(config, function)
        if role is None:
            continue
        sources = role_policies(config, role)
        probe = Target(("*", f"arn:aws:ec2:us-east-1:{ACCOUNT}:network-interface/eni-probe"))
        missing = [action for action in VPC_ACTIONS if not allows(sources, (action,), probe)]
        if missing:
            yield Issue(function.address, "vpc_config", f"role {role.address} lacks {', '.join(missing)}")


@check(
    "PF204",
    title="Function cannot write its logs",
    severity=Severity.WARNING,
    defect_class=2,
    rationale=(
        "Without logs:CreateLogStream and logs:PutLogEvents on its log group a function runs blind: no error is "
        "raised, its output is silently dropped."
    ),
    fix="grant logs:CreateLogStream and logs:PutLogEvents on the function's log group ARN followed by ':*'",
)
def function_without_log_grant(config: Configuration) -> Iterator[Issue]:
    """Functions whose role cannot write to their log group."""
    for function in config.of_type("aws_lambda_function"):
        role = _function_role(config, function)
        name = function.get("function_name")
        if role is None or not isinstance(name, str) or "${" in name:
            continue
        group_name = function.block("logging_config").get("log_group") or f"/aws/lambda/{name}"
        probes = [f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group_name}:log-stream:probe"]
        for group in config.of_type("aws_cloudwatch_log_group"):
            if group.get("name") == group_name:
                probes.append(f"@{group.address}.arn:log-stream:probe")
                probes.append(f"@{group.address}.arn:*")
        sources = role_policies(config, role)
        target = Target(tuple(probes))
        missing = [a for a in ("logs:CreateLogStream", "logs:PutLogEvents") if not allows(sources, (a,), target)]
        if missing:
            yield Issue(function.address, "role", f"role {role.address} lacks {', '.join(missing)} on {group_name}")


@check(
    "PF205",
    title="Broad AWS-managed policy attached",
    severity=Severity.WARNING,
    defect_class=2,
    rationale=(
        "Policies such as AdministratorAccess or AmazonS3FullAccess grant every action on every resource of a "
        "service; a function needs a handful of actions on its own resources."
    ),
    fix="replace it with a customer-managed policy listing the actions and resources the code uses",
)
def broad_managed_policy(config: Configuration) -> Iterator[Issue]:
    """Attachments of AWS-managed policies known to be broad."""
    for role in config.of_type("aws_iam_role"):
        for source in role_policies(config, role):
            if source.managed_arn and managed_policy_name(source.managed_arn) in BROAD_MANAGED:
                yield Issue(role.address, "policy_arn", f"{managed_policy_name(source.managed_arn)} is attached")


def _master_secret(database: Resource) -> Target:
    """The RDS-managed master secret, as referenced and as its literal ARN (RDS names it rds!db-… or rds!cluster-…)."""
    kind = "cluster" if database.type == "aws_rds_cluster" else "db"
    return Target(
        (
            f"@{database.address}.master_user_secret.0.secret_arn",
            f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:rds!{kind}-probe-AbCdEf",
        )
    )


@check(
    "PF206",
    title="Function uses the database master user's secret",
    severity=Severity.ERROR,
    defect_class=2,
    rationale=(
        "The RDS-managed secret holds the master user's password, and the master user holds rds_superuser (AWS: "
        "'the most highly privileged database user'): a function that connects with it turns any bug or SQL "
        "injection in it into DROP TABLE, CREATE ROLE, GRANT and reading every database on the instance. "
        "Applications connect as a least-privileged user; only migrations and key management need the master."
    ),
    fix="give the function an application user's secret (an aws_secretsmanager_secret) and grant "
    "secretsmanager:GetSecretValue on that alone; the admin function that must keep the master secret silences "
    'PF206 with a reason: "//": {"preflight_skip": {"PF206": "runs migrations as the owner"}}',
)
def function_uses_master_secret(config: Configuration) -> Iterator[Issue]:
    """Functions whose environment names, or whose role may read, an RDS-managed master user secret."""
    databases = [
        d for d in config.of_type(*MASTER_SECRET_HOLDERS) if str(d.get("manage_master_user_password")).lower() == "true"
    ]
    for function in config.of_type("aws_lambda_function"):
        for variable, value in environment(function):
            for database, attribute in config.referenced(value, *MASTER_SECRET_HOLDERS):
                if attribute.startswith("master_user_secret"):
                    yield Issue(
                        function.address,
                        f"environment.variables.{variable}",
                        f"{variable} is the RDS-managed master user secret of {database.address}: the function "
                        "connects as the master user",
                    )
        role = _function_role(config, function)
        if role is None:
            continue  # a role from outside this configuration: its policies cannot be seen
        sources = role_policies(config, role)
        for database in databases:
            source = granting(sources, ("secretsmanager:GetSecretValue",), _master_secret(database))
            if source is not None:
                yield Issue(
                    function.address,
                    "role",
                    f"role {role.address} may read the RDS-managed master user secret of {database.address}: "
                    f"{source} allows secretsmanager:GetSecretValue on it",
                )
