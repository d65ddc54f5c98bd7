"""The one naming helper: every AWS name that must be unique carries environment and suffix.

``Naming("dev", "pr42").function("processor")`` -> ``payment-processor-dev-pr42``. Names without the
deployment's suffix made two deployments collide: the second one's apply failed on the first's resources
("BucketAlreadyOwnedByYou", "EntityAlreadyExists: Role with name ... already exists",
"ResourceConflictException: Function already exist") or, worse, shared them (one state bucket and lock
table for every deployment). So the construct that creates a resource makes its name here, and each kind
of name is checked against its service's length and character rules when it is made, with the limit in
the message. A bad suffix is refused before anything is built (``Naming`` itself).

The stacks are then checked as written (``Naming.check_stack``): every name-bearing attribute of every
synthesized resource, by ``NAME_ATTRIBUTES``, obeys its service's rule and carries this deployment's suffix,
so a name made any other way, or a resource type whose name no rule covers, is refused before terraform
runs. The once-per-account stack (settings every deployment shares) has names of its own: ``AccountNaming``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: Prefix of every name: short, because S3 and RDS names are at most 63 characters.
PROJECT = "payment"

# A deployment suffix: lower-case letters, digits and single hyphens, starting with a letter or digit.
_SUFFIX = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){0,19}$")


class InvalidName(ValueError):
    """A name (or the suffix that built it) breaks a service's naming rules."""


@dataclass(frozen=True)
class NameRule:
    """One service's rule for a name: maximum length, allowed pattern, and what to call it in errors."""

    service: str
    max_length: int
    pattern: re.Pattern[str]
    description: str


RULES = {
    # S3: 3-63, lower-case letters, digits, hyphens; begins and ends with a letter or digit. (Dots
    # are legal but break virtual-hosted TLS, so they are not allowed here.)
    "s3_bucket": NameRule(
        "S3 bucket", 63, re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"), "lower-case letters, digits and hyphens"
    ),
    # RDS: 1-63, letters, digits, hyphens; begins with a letter; no '--'; no trailing hyphen.
    "rds_identifier": NameRule(
        "RDS DB identifier",
        63,
        re.compile(r"^[a-z](?:[a-z0-9]|-(?!-)){0,62}(?<!-)$"),
        "lower-case letters, digits and single hyphens, starting with a letter",
    ),
    # RDS Proxy: 1-63, letters, digits, hyphens; begins with a letter; no '--'; no trailing hyphen
    # ("InvalidParameterValue: DBProxyName ... is not a valid identifier").
    "db_proxy": NameRule(
        "RDS DB proxy",
        63,
        re.compile(r"^[a-z](?:[a-z0-9]|-(?!-)){0,62}(?<!-)$"),
        "lower-case letters, digits and single hyphens, starting with a letter",
    ),
    "db_subnet_group": NameRule(
        "DB subnet group",
        255,
        re.compile(r"^[a-z0-9][a-z0-9 ._-]{0,254}$"),
        "lower-case letters, digits, spaces, '.', '_' and '-'",
    ),
    "db_parameter_group": NameRule(
        "DB parameter group",
        255,
        re.compile(r"^[a-z](?:[a-z0-9]|-(?!-)){0,254}(?<!-)$"),
        "lower-case letters, digits and single hyphens, starting with a letter",
    ),
    # CloudTrail: 3-128, letters, digits, '.', '_', '-'; starts and ends with a letter or digit; no two of '._-'
    # side by side ("InvalidTrailNameException").
    "cloudtrail": NameRule(
        "CloudTrail trail",
        128,
        re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|[._-](?![._-])){1,126}[A-Za-z0-9]$"),
        "letters, digits and single '.', '_' or '-', starting and ending with a letter or digit",
    ),
    # Name tags of resources whose identity is an AWS-generated id (VPC, subnets, endpoints).
    "tag": NameRule("Name tag", 255, re.compile(r"^[\w .:/=+@-]{1,255}$"), "letters, digits and ' .:/=+@_-'"),
    "lambda_function": NameRule(
        "Lambda function", 64, re.compile(r"^[A-Za-z0-9_-]{1,64}$"), "letters, digits, '-' and '_'"
    ),
    "iam_role": NameRule("IAM role", 64, re.compile(r"^[\w+=,.@-]{1,64}$"), "letters, digits and +=,.@_-"),
    "iam_policy": NameRule("IAM policy", 128, re.compile(r"^[\w+=,.@-]{1,128}$"), "letters, digits and +=,.@_-"),
    "secret": NameRule(
        "Secrets Manager secret", 512, re.compile(r"^[\w/+=.@-]{1,512}$"), "letters, digits and /_+=.@-"
    ),
    "log_group": NameRule("CloudWatch log group", 512, re.compile(r"^[\w./#-]{1,512}$"), "letters, digits and ._/#-"),
    "kms_alias": NameRule(
        "KMS alias",
        256,
        re.compile(r"^alias/(?!aws/)[\w/-]{1,250}$"),
        "alias/ then letters, digits, '/', '_' and '-' (not alias/aws/)",
    ),
    "security_group": NameRule(
        "security group",
        255,
        re.compile(r"^(?!sg-)[\w .:/()#,@\[\]+=&;{}!$*-]{1,255}$"),
        "ASCII letters, digits and common punctuation, not starting with sg-",
    ),
    "api_name": NameRule("API Gateway REST API", 1024, re.compile(r"^[\w .-]{1,1024}$"), "letters, digits, ' ._-'"),
    "alarm": NameRule("CloudWatch alarm", 255, re.compile(r"^[\w .:/-]{1,255}$"), "letters, digits and ' .:/_-'"),
    "sqs_queue": NameRule("SQS queue", 80, re.compile(r"^[\w-]{1,80}$"), "letters, digits, '-' and '_'"),
    "sns_topic": NameRule("SNS topic", 256, re.compile(r"^[\w-]{1,256}$"), "letters, digits, '-' and '_'"),
    "event_rule": NameRule("EventBridge rule", 64, re.compile(r"^[\w.-]{1,64}$"), "letters, digits and ._-"),
}


def validate_suffix(suffix: str) -> str:
    """Return ``suffix`` if it is a valid deployment suffix; InvalidName saying what is allowed otherwise."""
    if not _SUFFIX.match(suffix):
        raise InvalidName(
            f"invalid deployment suffix {suffix!r}: use 1 to 20 lower-case letters, digits and single hyphens, "
            "starting and ending with a letter or digit (for example pr42 or alice-dev)"
        )
    if suffix.endswith("-"):
        raise InvalidName(f"invalid deployment suffix {suffix!r}: it must not end with a hyphen")
    return suffix


def check(kind: str, name: str) -> str:
    """Return ``name`` if it obeys the rule for ``kind``; InvalidName naming the rule otherwise."""
    rule = RULES[kind]
    if len(name) > rule.max_length:
        raise InvalidName(
            f"{rule.service} name {name!r} is {len(name)} characters; {rule.service} allows {rule.max_length}. "
            "Use a shorter deployment suffix."
        )
    if not rule.pattern.match(name):
        raise InvalidName(f"{rule.service} name {name!r} is not allowed: use {rule.description}")
    return name


@dataclass(frozen=True)
class Naming:
    """Names for one deployment: ``environment`` (dev, staging, prod) and its ``suffix``."""

    environment: str
    suffix: str

    def __post_init__(self) -> None:
        validate_suffix(self.suffix)
        if not re.match(r"^[a-z][a-z0-9]{1,9}$", self.environment):
            raise InvalidName(f"invalid environment name {self.environment!r}")

    def _base(self, purpose: str) -> str:
        return f"{PROJECT}-{purpose}-{self.environment}-{self.suffix}"

    @property
    def tag(self) -> str:
        """``<environment>-<suffix>``: the deployment's identity, used in tags and state keys."""
        return f"{self.environment}-{self.suffix}"

    def bucket(self, purpose: str) -> str:
        """An S3 bucket name."""
        return check("s3_bucket", self._base(purpose))

    def rds_identifier(self, purpose: str) -> str:
        """An RDS DB instance identifier."""
        return check("rds_identifier", self._base(purpose))

    def db_proxy(self, purpose: str) -> str:
        """An RDS Proxy name."""
        return check("db_proxy", self._base(purpose))

    def db_subnet_group(self, purpose: str) -> str:
        """A DB subnet group name."""
        return check("db_subnet_group", self._base(purpose))

    def db_parameter_group(self, purpose: str) -> str:
        """A DB parameter group name."""
        return check("db_parameter_group", self._base(purpose))

    def resource(self, purpose: str) -> str:
        """A Name tag for a resource AWS identifies by a generated id (VPC, subnet, endpoint)."""
        return check("tag", self._base(purpose))

    def trail(self, purpose: str) -> str:
        """A CloudTrail trail name (unique per account and region)."""
        return check("cloudtrail", self._base(purpose))

    def function(self, purpose: str) -> str:
        """A Lambda function name."""
        return check("lambda_function", self._base(purpose))

    def role(self, purpose: str) -> str:
        """An IAM role name."""
        return check("iam_role", self._base(purpose))

    def policy(self, purpose: str) -> str:
        """An IAM policy name."""
        return check("iam_policy", self._base(purpose))

    def secret(self, purpose: str) -> str:
        """A Secrets Manager secret name (path style, as AWS recommends)."""
        return check("secret", f"{PROJECT}/{self.environment}/{self.suffix}/{purpose}")

    def log_group(self, service_path: str, purpose: str) -> str:
        """A log group under an AWS service prefix, e.g. ``log_group("/aws/lambda", "processor")``."""
        return check("log_group", f"{service_path.rstrip('/')}/{self._base(purpose)}")

    def kms_alias(self, purpose: str) -> str:
        """A KMS alias."""
        return check("kms_alias", f"alias/{self._base(purpose)}")

    def security_group(self, purpose: str) -> str:
        """A security group name (unique per VPC)."""
        return check("security_group", self._base(purpose))

    def api(self, purpose: str) -> str:
        """An API Gateway REST API name."""
        return check("api_name", self._base(purpose))

    def alarm(self, purpose: str) -> str:
        """A CloudWatch alarm name."""
        return check("alarm", self._base(purpose))

    def queue(self, purpose: str) -> str:
        """An SQS queue name."""
        return check("sqs_queue", self._base(purpose))

    def topic(self, purpose: str) -> str:
        """An SNS topic name."""
        return check("sns_topic", self._base(purpose))

    def event_rule(self, purpose: str) -> str:
        """An EventBridge rule name."""
        return check("event_rule", self._base(purpose))

    # The state backend is created by the bootstrap stack before the main stack can use it.
    def state_bucket(self) -> str:
        """The Terraform state bucket of this deployment."""
        return self.bucket("tfstate")

    def state_key(self) -> str:
        """The state object key: one per environment within the deployment's bucket."""
        return f"payments/{self.environment}/terraform.tfstate"

    def check_stack(self, doc: Mapping[str, Any]) -> int:
        """Check a synthesized stack (its ``cdk.tf.json``): every name it gives a resource obeys the name's rule
        and carries this deployment's suffix. The number of names checked; InvalidName listing every name that
        breaks a rule otherwise."""
        return check_names(doc, f"this deployment's -{self.tag}", self._carries_suffix)

    def _carries_suffix(self, rule: str, name: str) -> bool:
        # At the end: "dev" and "pr4" merely somewhere in a name would let dev-pr4 and dev-pr42 collide. Secrets are
        # path style (payment/<env>/<suffix>/<purpose>): there the "/" delimits the suffix.
        if rule == "secret":
            return name.startswith(f"{PROJECT}/{self.environment}/{self.suffix}/")
        return name.endswith(f"-{self.tag}")


_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")


def validate_account_id(account_id: str) -> str:
    """Return ``account_id`` if it is an AWS account id (12 digits); InvalidName otherwise."""
    if not _ACCOUNT_ID.match(account_id):
        raise InvalidName(f"invalid AWS account id {account_id!r}: an account id is 12 digits")
    return account_id


def validate_region(region: str) -> str:
    """Return ``region`` if it has an AWS region's shape (us-east-1, ap-southeast-2); InvalidName otherwise."""
    if not _REGION.match(region):
        raise InvalidName(f"invalid AWS region {region!r} (for example us-east-1)")
    return region


@dataclass(frozen=True)
class AccountNaming:
    """Names for the once-per-account stack of one region: settings every deployment in the account shares.

    They end in ``-account-<region>`` (``payment-apigw-logs-account-us-east-1``) where a deployment's end in
    ``-<environment>-<suffix>``: IAM names are global to the account, so the region keeps two regions' account
    stacks apart, and "account" keeps them apart from any deployment's. The state bucket also carries the account
    id: S3 names are global to every account, and this stack is the same in each of them.
    """

    account_id: str
    region: str

    def __post_init__(self) -> None:
        validate_account_id(self.account_id)
        validate_region(self.region)

    @property
    def tag(self) -> str:
        """``account-<region>``: the stack's identity in tags (``Deployment``), names and its stack's name."""
        return f"account-{self.region}"

    def role(self, purpose: str) -> str:
        """An IAM role name."""
        return check("iam_role", f"{PROJECT}-{purpose}-{self.tag}")

    def state_bucket(self) -> str:
        """The bucket that holds this stack's own state (it creates it: ``payments_cli.deploy.self_hosted_state``)."""
        return check("s3_bucket", f"{PROJECT}-tfstate-{self.account_id}-{self.tag}")

    def check_stack(self, doc: Mapping[str, Any]) -> int:
        """As ``Naming.check_stack``, with this stack's ``-account-<region>`` in place of a deployment's suffix."""
        return check_names(doc, f"the account stack's -{self.tag}", lambda _rule, name: name.endswith(f"-{self.tag}"))


def check_names(doc: Mapping[str, Any], ending: str, carries: Callable[[str, str], bool]) -> int:
    """Every name a synthesized stack gives obeys its rule and, by ``carries(rule, name)``, ends as the stack's names
    must (``ending`` says how, in the message); the number of names checked, or InvalidName listing every name that
    does not."""
    problems = []
    names = synthesized_names(doc)
    for name in names:
        if not name.rule:
            problems.append(f"{name.where}: no naming rule covers this attribute (add it to NAME_ATTRIBUTES)")
            continue
        try:
            check(name.rule, name.value)
        except InvalidName as error:
            problems.append(f"{name.where}: {error}")
            continue
        if not carries(name.rule, name.value):
            problems.append(
                f"{name.where}: {name.value!r} does not end with {ending} (make it with payments_infra.naming.Naming)"
            )
    if problems:
        raise InvalidName("; ".join(problems))
    return len(names)


#: Attributes that hold a name AWS requires to be unique (in the account and region, or within their API), and
#: the rule each is held to.
NAME_ATTRIBUTES = {
    ("aws_s3_bucket", "bucket"): "s3_bucket",
    ("aws_db_instance", "identifier"): "rds_identifier",
    ("aws_db_instance", "final_snapshot_identifier"): "rds_identifier",
    ("aws_db_subnet_group", "name"): "db_subnet_group",
    ("aws_db_parameter_group", "name"): "db_parameter_group",
    ("aws_db_proxy", "name"): "db_proxy",
    ("aws_lambda_function", "function_name"): "lambda_function",
    ("aws_iam_role", "name"): "iam_role",
    ("aws_iam_policy", "name"): "iam_policy",
    ("aws_cloudwatch_log_group", "name"): "log_group",
    ("aws_kms_alias", "name"): "kms_alias",
    ("aws_security_group", "name"): "security_group",
    ("aws_api_gateway_rest_api", "name"): "api_name",
    ("aws_cloudwatch_metric_alarm", "alarm_name"): "alarm",
    ("aws_sns_topic", "name"): "sns_topic",
    ("aws_cloudwatch_event_rule", "name"): "event_rule",
    ("aws_secretsmanager_secret", "name"): "secret",
    # Unique per REST API / per region and scope: made by Naming.resource, held to its rule.
    ("aws_api_gateway_authorizer", "name"): "tag",
    ("aws_wafv2_web_acl", "name"): "tag",
    ("aws_sqs_queue", "name"): "sqs_queue",
    ("aws_cloudtrail", "name"): "cloudtrail",
}
#: Any top-level attribute of these names is taken for a name, so a new resource type cannot slip by unchecked.
NAME_LIKE = frozenset(
    {"name", "bucket", "identifier", "function_name", "alarm_name", "name_prefix", "final_snapshot_identifier"}
)


@dataclass(frozen=True)
class SynthesizedName:
    """A name a synthesized stack gives: where (``aws_s3_bucket.<logical id>.bucket``), the name, and the rule
    it is held to ("" when none covers it)."""

    where: str
    value: str
    rule: str


def synthesized_names(doc: Mapping[str, Any]) -> list[SynthesizedName]:
    """Every literal name in a synthesized stack: name-like attributes of its resources (references to another
    resource's name are that resource's), their Name tags, and its S3 backend's bucket."""
    found = []
    for kind, resources in doc.get("resource", {}).items():
        for logical, body in resources.items():
            for attribute in sorted(NAME_LIKE & body.keys()):
                value = body[attribute]
                if isinstance(value, str) and "${" not in value:
                    rule = NAME_ATTRIBUTES.get((kind, attribute), "")
                    found.append(SynthesizedName(f"{kind}.{logical}.{attribute}", value, rule))
            tags = body.get("tags")
            tag = tags.get("Name") if isinstance(tags, dict) else None
            if tag:
                found.append(SynthesizedName(f"{kind}.{logical}.tags.Name", tag, "tag"))
    backend = doc.get("terraform", {}).get("backend", {}).get("s3")
    if backend:
        found.append(SynthesizedName("terraform.backend.s3.bucket", backend["bucket"], "s3_bucket"))
    return found
