"""Every check against the project's own stacks, mutated one defect at a time: the exact set of
resources each check reports must be the mutated ones, and nothing on the unmutated stacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from payments_infra.synth import SynthResult
from preflight.registry import REGISTRY, Check, all_checks
from tests.deployments import DEPLOYMENTS
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import (
    AUTHORIZER,
    Document,
    address,
    authorize_every_method,
    drop_statement,
    failing,
    findings,
    functions_running_as,
    grants,
    load_document,
    master_secret,
    named,
    resources,
    use_application_secret,
)


@dataclass(frozen=True)
class Case:
    """One mutation and the exact resources a check must then report."""

    check_id: str
    name: str
    stack: str
    mutate: Callable[[Document], set[str]]  # mutates in place, returns the addresses that must fail
    # Puts the stack in the state the check passes on first, for checks whose subject the project's
    # infrastructure is still being moved to (authorized methods, an application database secret).
    prepare: Callable[[Document], object] | None = None


def _set(doc: Document, kind: str, path_end: str, **changes: object) -> set[str]:
    name, body = named(doc, kind, path_end)
    for key, value in changes.items():
        if value is DELETE:
            body.pop(key, None)
        else:
            body[key] = value
    return {address(kind, name)}


DELETE = object()


def _every_function(doc: Document) -> set[str]:
    return {address("aws_lambda_function", n) for n in resources(doc, "aws_lambda_function")}


def _strip_suffix(kind: str, path_end: str, attribute: str) -> Callable[[Document], set[str]]:
    def mutate(doc: Document) -> set[str]:
        name, body = named(doc, kind, path_end)
        body[attribute] = body[attribute].replace("-pr42", "").replace("/pr42/", "/")
        return {address(kind, name)}

    return mutate


def _over_the_proxys_pool(doc: Document) -> set[str]:
    """Staging's pool is 150 * 90 % = 135 connections; the functions' 124 become 136."""
    _set(doc, "aws_lambda_function", "processor/function", reserved_concurrent_executions=92)
    group, _ = named(doc, "aws_db_proxy_default_target_group", "database-proxy/target-group")
    return {address("aws_db_proxy_default_target_group", group)}


def _drop(sid: str, role: str = "function-role") -> Callable[[Document], set[str]]:
    """Drop one statement from one execution role's policy: the functions running as that role fail."""

    def mutate(doc: Document) -> set[str]:
        drop_statement(doc, sid, role=role)
        return functions_running_as(doc, role)

    return mutate


def _statement(sid: str, role: str = "function-role", **changes: object) -> Callable[[Document], set[str]]:
    """Change one statement of one execution role's policy: that role's policy fails."""

    def mutate(doc: Document) -> set[str]:
        (statement,) = [s for s in grants(doc, role)["statement"] if s.get("sid") == sid]
        statement.update(changes)
        policy, _ = named(doc, "aws_iam_policy", f"{role}/policy")
        return {address("aws_iam_policy", policy)}

    return mutate


def _backend(**changes: object) -> Callable[[Document], set[str]]:
    def mutate(doc: Document) -> set[str]:
        backend = doc["terraform"]["backend"]["s3"]
        for key, value in changes.items():
            if value is DELETE:
                backend.pop(key, None)
            else:
                backend[key] = value
        return {"terraform.backend.s3"}

    return mutate


def _add(kind: str, name: str, body: dict[str, object], *, data: bool = False) -> Callable[[Document], set[str]]:
    def mutate(doc: Document) -> set[str]:
        doc.setdefault("data" if data else "resource", {}).setdefault(kind, {})[name] = body
        return {f"{'data.' if data else ''}{kind}.{name}"}

    return mutate


def _permission(method: str, **changes: object) -> Callable[[Document], set[str]]:
    """Change the API permission of one method; the other method's integration stays covered."""

    def mutate(doc: Document) -> set[str]:
        _, body = named(
            doc, "aws_lambda_permission", f"api/{'post-payments' if method == 'POST' else 'get-payment'}-permission"
        )
        api, _ = named(doc, "aws_api_gateway_rest_api", "api/rest-api")
        for key, value in changes.items():
            if value is DELETE:
                body.pop(key, None)
            else:
                body[key] = str(value).replace("<api>", api)
        integration, _ = named(
            doc,
            "aws_api_gateway_integration",
            f"api/{'post-payments' if method == 'POST' else 'get-payment'}-integration",
        )
        return {address("aws_api_gateway_integration", integration)}

    return mutate


def _delete_permission(part: str) -> Callable[[Document], set[str]]:
    """Delete the API permission of one route (``post-payments``, ``capture-payment``, ...)."""

    def mutate(doc: Document) -> set[str]:
        name, _ = named(doc, "aws_lambda_permission", f"api/{part}-permission")
        del doc["resource"]["aws_lambda_permission"][name]
        for deployment in doc["resource"]["aws_api_gateway_deployment"].values():
            deployment["depends_on"].remove(address("aws_lambda_permission", name))
        integration, _ = named(doc, "aws_api_gateway_integration", f"api/{part}-integration")
        return {address("aws_api_gateway_integration", integration)}

    return mutate


def _deployment(**changes: object) -> Callable[[Document], set[str]]:
    return lambda doc: _set(doc, "aws_api_gateway_deployment", "api/deployment", **changes)


def _remove_log_group(doc: Document) -> set[str]:
    name, _ = named(doc, "aws_cloudwatch_log_group", "processor-logs")
    del doc["resource"]["aws_cloudwatch_log_group"][name]
    function, body = named(doc, "aws_lambda_function", "processor/function")
    body["depends_on"] = [d for d in body["depends_on"] if name not in d]
    return {address("aws_lambda_function", function)}


def _public_access(doc: Document) -> set[str]:
    name, body = named(doc, "aws_s3_bucket_public_access_block", "transaction-log/public-access-block")
    body["block_public_policy"] = False
    return {address("aws_s3_bucket_public_access_block", name)}


def _bucket_child_removed(kind: str, path_end: str) -> Callable[[Document], set[str]]:
    def mutate(doc: Document) -> set[str]:
        name, _ = named(doc, kind, path_end)
        del doc["resource"][kind][name]
        bucket, _ = named(doc, "aws_s3_bucket", "transaction-log/bucket")
        return {address("aws_s3_bucket", bucket)}

    return mutate


def _stage_dangling(doc: Document) -> set[str]:
    stage = _set(doc, "aws_api_gateway_stage", "api/stage", deployment_id="abc123")
    deployment, _ = named(doc, "aws_api_gateway_deployment", "api/deployment")
    return stage | {address("aws_api_gateway_deployment", deployment)}


def _open_database(doc: Document) -> set[str]:
    sg, _ = named(doc, "aws_security_group", "network/database-sg")
    return _add(
        "aws_security_group_rule",
        "db_from_anywhere",
        {
            "type": "ingress",
            "security_group_id": f"${{aws_security_group.{sg}.id}}",
            "protocol": "tcp",
            "from_port": 5400,
            "to_port": 5500,
            "cidr_blocks": ["0.0.0.0/0"],
        },
    )(doc)


def _admin_attached(doc: Document) -> set[str]:
    role, _ = named(doc, "aws_iam_role", "function-role/role")
    _add(
        "aws_iam_role_policy_attachment",
        "admin",
        {"role": f"${{aws_iam_role.{role}.name}}", "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )(doc)
    return {address("aws_iam_role", role)}


def _no_role_policy(doc: Document) -> set[str]:
    name, _ = named(doc, "aws_iam_role_policy_attachment", "function-role/attachment")
    del doc["resource"]["aws_iam_role_policy_attachment"][name]
    for function in doc["resource"]["aws_lambda_function"].values():
        function["depends_on"] = [d for d in function["depends_on"] if name not in d]
    return functions_running_as(doc, "function-role")


def _secret_in_env(doc: Document) -> set[str]:
    name, body = named(doc, "aws_lambda_function", "processor/function")
    body["environment"]["variables"]["DB_PASSWORD"] = "hunter2-but-longer"
    return {address("aws_lambda_function", name)}


def _bad_handler(doc: Document) -> set[str]:
    return _set(doc, "aws_lambda_function", "reconcile/function", handler="index.handler", runtime="nodejs20.x")


def _grant_elsewhere(doc: Document) -> set[str]:
    _statement("WriteTransactionEvents", resources=["arn:aws:s3:::someone-elses-bucket/*"])(doc)
    return functions_running_as(doc, "function-role")


def _placeholder_package(doc: Document) -> set[str]:
    for function in doc["resource"]["aws_lambda_function"].values():
        function["filename"] = "lambda-placeholder.zip"
    return _every_function(doc)


def _method(path_end: str, **changes: object) -> Callable[[Document], set[str]]:
    return lambda doc: _set(doc, "aws_api_gateway_method", f"api/{path_end}-method", **changes)


def _authorizer_is_the_api(doc: Document) -> set[str]:
    api, _ = named(doc, "aws_api_gateway_rest_api", "api/rest-api")
    return _method("post-payments", authorizer_id=f"${{aws_api_gateway_rest_api.{api}.id}}")(doc)


def _authorizer_ttl(doc: Document) -> set[str]:
    doc["resource"]["aws_api_gateway_authorizer"][AUTHORIZER]["authorizer_result_ttl_in_seconds"] = 3600
    return {address("aws_api_gateway_authorizer", AUTHORIZER)}


def _sharing_the_role_of(doc: Document, path_end: str) -> set[str]:
    """The functions whose execution role is that of the function at ``path_end``."""
    _, function = named(doc, "aws_lambda_function", path_end)
    return {
        address("aws_lambda_function", name)
        for name, body in resources(doc, "aws_lambda_function").items()
        if body["role"] == function["role"]
    }


def _webhook_widening(variable: str, value: str = "true") -> Callable[[Document], set[str]]:
    """A staging/prod stack whose processor and courier were given a dev-only webhook setting."""

    def mutate(doc: Document) -> set[str]:
        failed = set()
        for path in ("processor/function", "webhooks/function"):
            name, body = named(doc, "aws_lambda_function", path)
            body["environment"]["variables"][variable] = value
            failed.add(address("aws_lambda_function", name))
        return failed

    return mutate


def _simulated_acquirer(value: str) -> Callable[[Document], set[str]]:
    """A prod stack whose processor and reconcile job were told the simulated acquirer may answer."""

    def mutate(doc: Document) -> set[str]:
        failed = set()
        for path in ("processor/function", "reconcile/function"):
            name, body = named(doc, "aws_lambda_function", path)
            body["environment"]["variables"]["SIMULATED_ACQUIRER_ALLOWED"] = value
            failed.add(address("aws_lambda_function", name))
        return failed

    return mutate


def _acquirer_callers(doc: Document) -> set[str]:
    return {address("aws_lambda_function", named(doc, "aws_lambda_function", p)[0]) for p in ACQUIRER_CALLERS}


ACQUIRER_CALLERS = ("processor/function", "reconcile/function")


def _without_route(path_end: str) -> Callable[[Document], set[str]]:
    """A stack whose network lost one route (the functions' way to the NAT, or the NAT's to the internet)."""

    def mutate(doc: Document) -> set[str]:
        name, _ = named(doc, "aws_route", path_end)
        del doc["resource"]["aws_route"][name]
        return _acquirer_callers(doc)

    return mutate


def _private_nat(doc: Document) -> set[str]:
    """A NAT gateway made private: it translates into other networks, never to the internet."""
    _set(doc, "aws_nat_gateway", "network/nat-0", connectivity_type="private", allocation_id=DELETE)
    return _acquirer_callers(doc)


def _simulated_only_needs_no_route(doc: Document) -> set[str]:
    """The control: functions that call the simulated acquirer alone need no way out."""
    _without_route("network/private-internet")(doc)
    for path in ACQUIRER_CALLERS:
        named(doc, "aws_lambda_function", path)[1]["environment"]["variables"]["PAYMENT_CONNECTORS"] = "simulated"
    return set()


def _egress(
    group_path: str, rule: dict[str, object], kind: str = "aws_security_group_rule"
) -> Callable[[Document], set[str]]:
    """An egress rule added to a security group (the construct path of the group)."""

    def mutate(doc: Document) -> set[str]:
        group, _ = named(doc, "aws_security_group", group_path)
        return _add(kind, "wide_egress", {"security_group_id": f"${{aws_security_group.{group}.id}}", **rule})(doc)

    return mutate


def _inline_egress_on_the_database(doc: Document) -> set[str]:
    """The control: a group no function holds is not a payment function's way out (PF707 is the database's)."""
    _set(
        doc,
        "aws_security_group",
        "network/database-sg",
        egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
    )
    return set()


def _master_secret_in_env(doc: Document) -> set[str]:
    name, body = named(doc, "aws_lambda_function", "processor/function")
    body["environment"]["variables"]["DB_SECRET_ARN"] = master_secret(doc)
    return {address("aws_lambda_function", name)}


def _master_secret_granted(doc: Document) -> set[str]:
    _, grants = named(doc, "aws_iam_policy_document", "function-role/grants", section="data")
    grants["statement"].append(
        {
            "sid": "ReadMasterCredentials",
            "effect": "Allow",
            "actions": ["secretsmanager:GetSecretValue"],
            "resources": [master_secret(doc)],
        }
    )
    return _sharing_the_role_of(doc, "processor/function")


def _suppression_without_reason(doc: Document) -> set[str]:
    name, body = named(doc, "aws_s3_bucket", "transaction-log/bucket")
    body["//"]["preflight_skip"] = {"PF711": "no"}
    return {address("aws_s3_bucket", name)}


CASES = [
    # Class 1: names
    Case("PF101", "txlog bucket (seed 5)", "dev", _strip_suffix("aws_s3_bucket", "transaction-log/bucket", "bucket")),
    Case("PF101", "state bucket in bootstrap", "bootstrap", _strip_suffix("aws_s3_bucket", "state/bucket", "bucket")),
    Case(
        "PF101", "RDS identifier (seed 3)", "dev", _strip_suffix("aws_db_instance", "database/instance", "identifier")
    ),
    Case(
        "PF101",
        "function name (seed 7)",
        "dev",
        _strip_suffix("aws_lambda_function", "processor/function", "function_name"),
    ),
    Case("PF101", "role", "dev", _strip_suffix("aws_iam_role", "function-role/role", "name")),
    Case("PF101", "policy", "dev", _strip_suffix("aws_iam_policy", "function-role/policy", "name")),
    Case("PF101", "log group", "dev", _strip_suffix("aws_cloudwatch_log_group", "processor-logs", "name")),
    Case("PF101", "KMS alias", "dev", _strip_suffix("aws_kms_alias", "encryption/alias", "name")),
    Case("PF101", "security group", "dev", _strip_suffix("aws_security_group", "network/database-sg", "name")),
    Case("PF101", "REST API", "dev", _strip_suffix("aws_api_gateway_rest_api", "api/rest-api", "name")),
    Case("PF101", "event rule", "dev", _strip_suffix("aws_cloudwatch_event_rule", "reconcile-schedule", "name")),
    Case("PF101", "DB subnet group", "dev", _strip_suffix("aws_db_subnet_group", "database/subnets", "name")),
    Case("PF101", "DB proxy", "staging", _strip_suffix("aws_db_proxy", "database-proxy/proxy", "name")),
    Case("PF101", "alarm", "staging", _strip_suffix("aws_cloudwatch_metric_alarm", "monitoring/db-cpu", "alarm_name")),
    Case("PF101", "SNS topic", "staging", _strip_suffix("aws_sns_topic", "monitoring/alarms-topic", "name")),
    Case("PF101", "backend bucket (seed 1)", "dev", _backend(bucket="terraform-state-payment-processing")),
    Case("PF101", "backend lock table (seed 1)", "dev", _backend(dynamodb_table="terraform-state-lock")),
    Case(
        "PF101",
        "secret lookup (seed 2)",
        "dev",
        _add("aws_secretsmanager_secret", "db", {"name": "payment-db-password-dev"}, data=True),
    ),
    Case("PF101", "secret", "dev", _add("aws_secretsmanager_secret", "db", {"name": "payment-db-password-dev"})),
    Case("PF101", "queue", "dev", _add("aws_sqs_queue", "q", {"name": "payment-dlq-dev"})),
    Case("PF101", "table", "dev", _add("aws_dynamodb_table", "t", {"name": "payment-locks-dev", "hash_key": "id"})),
    Case(
        "PF102",
        "function over 64",
        "dev",
        lambda d: _set(
            d, "aws_lambda_function", "processor/function", function_name="payment-processor-" + "x" * 50 + "-dev-pr42"
        ),
    ),
    Case(
        "PF102",
        "DB proxy with a double hyphen",
        "prod",
        lambda d: _set(d, "aws_db_proxy", "database-proxy/proxy", name="payment-db--prod-pr42"),
    ),
    Case(
        "PF102",
        "bucket with capitals",
        "dev",
        lambda d: _set(d, "aws_s3_bucket", "transaction-log/bucket", bucket="Payment-TxLog-dev-pr42"),
    ),
    # Class 2: IAM
    Case("PF201", "no S3 grant (seed 6)", "dev", _drop("WriteTransactionEvents")),
    Case("PF201", "no secret grant", "dev", _drop("ReadDatabaseLogin")),
    Case("PF201", "no KMS grant", "dev", _drop("UseDataKeyThroughS3AndSecretsManager")),
    Case("PF201", "grant on another bucket", "dev", _grant_elsewhere),
    Case("PF201", "policy detached", "dev", _no_role_policy),
    Case("PF201", "authorizer without its login", "dev", _drop("ReadDatabaseLogin", "authorizer-role")),
    Case("PF201", "authorizer without the pepper", "dev", _drop("ReadPepper", "authorizer-role")),
    Case("PF201", "authorizer cannot decrypt", "dev", _drop("DecryptSecrets", "authorizer-role")),
    Case("PF201", "admin without the master login", "dev", _drop("ReadAdminLogin", "admin-role")),
    Case("PF201", "admin cannot read a login it sets", "dev", _drop("SetAuthorizerLogin", "admin-role")),
    Case("PF201", "admin cannot decrypt", "dev", _drop("EncryptSecretsAndAuditEntries", "admin-role")),
    Case("PF201", "admin cannot copy its audit entries", "dev", _drop("WriteAuditEntries", "admin-role")),
    Case("PF202", "s3:* action", "dev", _statement("WriteTransactionEvents", actions=["s3:*"])),
    Case("PF202", "secret on *", "dev", _statement("ReadDatabaseLogin", resources=["*"])),
    Case("PF202", "* action", "dev", _statement("WriteOwnLogs", actions=["*"])),
    Case("PF202", "admin secretsmanager:*", "dev", _statement("SetPepper", "admin-role", actions=["secretsmanager:*"])),
    Case("PF202", "authorizer key on *", "dev", _statement("DecryptSecrets", "authorizer-role", resources=["*"])),
    Case("PF203", "no ENI actions", "dev", _drop("AttachToPrivateSubnets")),
    Case("PF203", "authorizer without ENI actions", "dev", _drop("AttachToPrivateSubnets", "authorizer-role")),
    Case("PF204", "no log grant", "dev", _drop("WriteOwnLogs")),
    Case("PF204", "admin without a log grant", "dev", _drop("WriteOwnLogs", "admin-role")),
    Case("PF205", "AdministratorAccess", "dev", _admin_attached),
    Case("PF206", "master secret in the environment", "dev", _master_secret_in_env, use_application_secret),
    Case("PF206", "master secret granted to the role", "dev", _master_secret_granted, use_application_secret),
    # Class 3: database
    Case(
        "PF301",
        "publicly_accessible unset (seed 4)",
        "dev",
        lambda d: _set(d, "aws_db_instance", "database/instance", publicly_accessible=DELETE),
    ),
    Case(
        "PF301",
        "publicly_accessible true",
        "prod",
        lambda d: _set(d, "aws_db_instance", "database/instance", publicly_accessible=True),
    ),
    Case(
        "PF302",
        "multi_az unset (seed 4)",
        "prod",
        lambda d: _set(d, "aws_db_instance", "database/instance", multi_az=DELETE),
    ),
    Case(
        "PF303",
        "storage not encrypted",
        "dev",
        lambda d: _set(d, "aws_db_instance", "database/instance", storage_encrypted=False),
    ),
    Case(
        "PF304",
        "password in config",
        "dev",
        lambda d: _set(d, "aws_db_instance", "database/instance", password="hunter2hunter2"),
    ),
    Case(
        "PF305",
        "unbounded function on the database",
        "dev",
        lambda d: _set(d, "aws_lambda_function", "authorizer/function", reserved_concurrent_executions=-1),
    ),
    Case("PF305", "concurrency over the proxy's pool", "staging", _over_the_proxys_pool),
    # Class 4: package
    Case("PF401", "placeholder (seed 8)", "dev", _placeholder_package),
    Case(
        "PF401",
        "missing zip",
        "dev",
        lambda d: _set(d, "aws_lambda_function", "reconcile/function", filename="assets/nowhere/code.zip"),
    ),
    Case(
        "PF402",
        "placeholder hash (seed 8)",
        "dev",
        lambda d: _set(d, "aws_lambda_function", "processor/function", source_code_hash="placeholder-hash"),
    ),
    Case(
        "PF402",
        "no hash",
        "dev",
        lambda d: _set(d, "aws_lambda_function", "processor/function", source_code_hash=DELETE),
    ),
    Case(
        "PF402",
        "stale hash",
        "dev",
        lambda d: _set(
            d,
            "aws_lambda_function",
            "reconcile/function",
            source_code_hash="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        ),
    ),
    Case("PF403", "handler not in zip", "dev", _bad_handler),
    # Class 5: permissions
    Case("PF501", "no permission for POST (seed 9)", "dev", _delete_permission("post-payments")),
    Case("PF501", "no permission for a nested route", "dev", _delete_permission("capture-payment")),
    Case("PF501", "no permission for a second top-level resource", "dev", _delete_permission("list-events")),
    Case(
        "PF501",
        "GET permission scoped to POST",
        "dev",
        _permission("GET", source_arn="${aws_api_gateway_rest_api.<api>.execution_arn}/*/POST/payments"),
    ),
    Case(
        "PF501",
        "permission for another API",
        "dev",
        _permission("POST", source_arn="arn:aws:execute-api:us-east-1:123456789012:otherapi/*/POST/payments"),
    ),
    Case(
        "PF502",
        "permission without source_arn",
        "dev",
        lambda d: _set(d, "aws_lambda_permission", "reconcile-permission", source_arn=DELETE),
    ),
    Case(
        "PF503",
        "method open to anyone",
        "dev",
        _method("post-payments", authorization="NONE", authorizer_id=DELETE),
        authorize_every_method,
    ),
    Case(
        "PF503",
        "authorization unset",
        "dev",
        _method("get-payment", authorization=DELETE, authorizer_id=DELETE),
        authorize_every_method,
    ),
    Case(
        "PF504",
        "CUSTOM without authorizer_id",
        "dev",
        _method("get-payment", authorizer_id=DELETE),
        authorize_every_method,
    ),
    Case("PF504", "authorizer_id of the API itself", "dev", _authorizer_is_the_api, authorize_every_method),
    Case("PF505", "authorizer cached for an hour", "dev", _authorizer_ttl, authorize_every_method),
    # Class 6: deployment
    Case("PF601", "no triggers (seed 10)", "dev", _deployment(triggers=DELETE)),
    Case("PF601", "literal trigger", "dev", _deployment(triggers={"redeployment": "1731234567890"})),
    Case("PF602", "no dependencies (seed 10)", "dev", _deployment(triggers=DELETE, depends_on=DELETE)),
    Case("PF603", "no create_before_destroy", "dev", _deployment(lifecycle=DELETE)),
    Case("PF604", "stage points at nothing", "dev", _stage_dangling),
    Case("PF605", "timestamp trigger", "dev", _deployment(triggers={"redeployment": "${timestamp()}"})),
    # Class 7: storage and exposure
    Case(
        "PF701",
        "bucket unencrypted",
        "dev",
        _bucket_child_removed("aws_s3_bucket_server_side_encryption_configuration", "transaction-log/encryption"),
    ),
    Case(
        "PF702",
        "public access block removed",
        "dev",
        _bucket_child_removed("aws_s3_bucket_public_access_block", "transaction-log/public-access-block"),
    ),
    Case("PF702", "public policy not blocked", "dev", _public_access),
    # Class 8: webhooks
    Case("PF801", "loopback allowed in staging", "staging", _webhook_widening("WEBHOOKS_ALLOW_LOOPBACK")),
    Case("PF801", "plain http allowed in prod", "prod", _webhook_widening("WEBHOOKS_ALLOW_HTTP", "TRUE")),
    Case("PF801", "dev allows both", "dev", lambda d: set()),
    # Class 9: acquirers
    Case("PF901", "simulated acquirer in prod", "prod", _simulated_acquirer("true")),
    Case("PF901", "simulated acquirer in prod, spelled otherwise", "prod", _simulated_acquirer("1")),
    Case("PF901", "staging may simulate", "staging", lambda d: set()),
    Case("PF902", "no route to the NAT gateway", "dev", _without_route("network/private-internet")),
    Case("PF902", "prod: the second AZ's route gone", "prod", _without_route("network/private-internet-1")),
    Case("PF902", "the NAT gateway's subnet not routed out", "dev", _without_route("network/public-internet")),
    Case("PF902", "a private NAT gateway", "staging", _private_nat),
    Case("PF902", "the simulated acquirer alone needs no route", "dev", _simulated_only_needs_no_route),
    Case(
        "PF903",
        "the egress group opened on every port",
        "prod",
        lambda d: _set(
            d, "aws_security_group_rule", "network/egress-to-acquirers", protocol="-1", from_port=0, to_port=0
        ),
    ),
    Case(
        "PF903",
        "plain http to the internet from the processor's group",
        "dev",
        _egress(
            "network/function-sg",
            {"ip_protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_ipv4": "0.0.0.0/0"},
            "aws_vpc_security_group_egress_rule",
        ),
    ),
    Case(
        "PF903",
        "IPv6 anywhere on 8443",
        "staging",
        _egress(
            "network/egress-sg",
            {"type": "egress", "protocol": "tcp", "from_port": 8443, "to_port": 8443, "ipv6_cidr_blocks": ["::/0"]},
        ),
    ),
    Case("PF903", "a group no function holds", "dev", _inline_egress_on_the_database),
    Case("PF702", "public ACL", "dev", lambda d: _set(d, "aws_s3_bucket", "transaction-log/bucket", acl="public-read")),
    Case(
        "PF703",
        "no retention",
        "dev",
        lambda d: _set(d, "aws_cloudwatch_log_group", "processor-logs", retention_in_days=DELETE),
    ),
    Case("PF704", "function log group not managed", "dev", _remove_log_group),
    Case(
        "PF705",
        "log group without key",
        "dev",
        lambda d: _set(d, "aws_cloudwatch_log_group", "api/access-logs", kms_key_id=DELETE),
    ),
    Case("PF706", "state not encrypted", "dev", _backend(encrypt=False)),
    Case("PF706", "state not locked", "dev", _backend(use_lockfile=DELETE)),
    Case("PF707", "database port open", "dev", _open_database),
    Case(
        "PF708",
        "topic unencrypted",
        "staging",
        lambda d: _set(d, "aws_sns_topic", "monitoring/alarms-topic", kms_master_key_id=DELETE),
    ),
    Case(
        "PF709",
        "key rotation off",
        "dev",
        lambda d: _set(d, "aws_kms_key", "encryption/key", enable_key_rotation=False),
    ),
    Case("PF710", "password in environment", "dev", _secret_in_env),
    Case(
        "PF711",
        "bucket not versioned",
        "dev",
        _bucket_child_removed("aws_s3_bucket_versioning", "transaction-log/versioning"),
    ),
    # Silences
    Case("PF000", "silence without a reason", "dev", _suppression_without_reason),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.check_id}-{c.name}")
def test_the_check_reports_exactly_the_mutated_resources(stacks: dict[str, Fixture], case: Case) -> None:
    fixture = stacks[case.stack]
    document = fixture.document()
    if case.prepare is not None:
        case.prepare(document)
    assert failing(document, fixture.path, case.check_id) == set(), "the unmutated stack must pass"
    expected = case.mutate(document)
    assert failing(document, fixture.path, case.check_id) == expected


def test_every_check_has_a_case() -> None:
    """Checks across configurations (PF110) have their cases in test_collisions.py."""
    assert {c.check_id for c in CASES} == {c.id for c in all_checks() if isinstance(c, Check)} | {"PF000"}


def test_the_project_stacks_have_zero_findings(synthesized: SynthResult) -> None:
    for deployment in DEPLOYMENTS:
        for kind in ("bootstrap", "platform"):
            stack = synthesized.stack(deployment.environment, deployment.suffix, kind)
            assert findings(load_document(stack.path), stack.path) == [], stack.name


def test_a_reasoned_silence_silences_only_that_check_on_that_resource(stacks: dict[str, Fixture]) -> None:
    fixture = stacks["dev"]
    document = fixture.document()
    name, bucket = named(document, "aws_s3_bucket", "transaction-log/bucket")
    bucket["bucket"] = "payment-legacy-transaction-logs"
    bucket["acl"] = "public-read"
    assert failing(document, fixture.path, "PF101") == {address("aws_s3_bucket", name)}
    bucket["//"]["preflight_skip"] = {"PF101": "imported from the old account; renaming would lose its history"}
    assert failing(document, fixture.path, "PF101") == set()
    assert failing(document, fixture.path, "PF702") == {address("aws_s3_bucket", name)}, "other checks still apply"
    bucket["//"]["preflight_skip"] = {"PF999": "no such check exists anywhere"}
    assert {f.check_id for f in findings(document, fixture.path) if f.resource == address("aws_s3_bucket", name)} >= {
        "PF000",
        "PF101",
    }


def test_registry_entries_are_complete() -> None:
    checks = all_checks()
    assert len(checks) == len(REGISTRY) >= 30
    for check in checks:
        assert check.id.startswith("PF") and len(check.id) == 5
        assert check.title and check.fix and len(check.rationale) > 60
        assert check.function.__doc__, f"{check.id} needs a docstring"
    covered = {d for c in checks for d in c.seed_defects}
    assert covered == set(range(1, 11))
    assert {c.defect_class for c in checks} == set(range(1, 10))  # the issue's seven, 8: webhooks' reach, 9: acquirers
