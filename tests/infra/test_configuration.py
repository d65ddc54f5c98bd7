"""Configuration of the synthesized platform: database flags, API wiring, encryption everywhere,
network exposure, the function's environment and the provider/terraform constraints."""

from __future__ import annotations

import json
import re
import zipfile
from typing import Any

import pytest

from payment_processor.config import RDS_CA_BUNDLE, Settings
from payments_infra.api_responses import GATEWAY_RESPONSES
from payments_infra.constructs.admin_trail import CLOUDTRAIL
from payments_infra.constructs.api import (
    IDENTITY_SOURCE,
    RESOURCE_IDS,
    ROUTES,
    _literal_digest,
    configuration_hash,
)
from payments_infra.constructs.functions import RECONCILE_TIMEOUT_S
from payments_infra.constructs.webhook_queues import COURIER_TIMEOUT_S
from payments_infra.environments import get_environment
from payments_infra.synth import SynthResult
from tests.deployments import ENVIRONMENTS
from tests.infra.conftest import config_of, platform, stacks_of
from tests.infra.tfjson import Stack, refs, resource_path


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_database_flags_are_explicit_and_safe(synthesized: SynthResult, environment: str) -> None:
    """rds-defaults-implicit: publicly_accessible / multi_az left to defaults."""
    stack = platform(synthesized, environment)
    config = get_environment(environment)
    _, db = stack.only("aws_db_instance")
    assert db["publicly_accessible"] is False
    assert db["multi_az"] is config.db_multi_az
    assert db["storage_encrypted"] is True and db["kms_key_id"].startswith("${aws_kms_key.")
    assert db["deletion_protection"] is config.db_deletion_protection
    assert db["backup_retention_period"] == config.db_backup_retention_days
    # Credentials generated and kept by RDS: no password anywhere in the configuration.
    assert db["manage_master_user_password"] is True and "password" not in db
    assert db["master_user_secret_kms_key_id"].startswith("${aws_kms_key.")
    assert refs(db["vpc_security_group_ids"]) and refs(db["db_subnet_group_name"])
    (_, group) = stack.only("aws_db_parameter_group")
    assert {"name": "rds.force_ssl", "value": "1"} in group["parameter"]


def test_prod_differs_from_dev_only_through_config(synthesized: SynthResult) -> None:
    dev, prod = platform(synthesized, "dev"), platform(synthesized, "prod")
    assert dev.only("aws_db_instance")[1]["multi_az"] is False and prod.only("aws_db_instance")[1]["multi_az"] is True
    assert prod.resources("aws_s3_bucket_object_lock_configuration") and not dev.resources(
        "aws_s3_bucket_object_lock_configuration"
    )
    # Errors and throttles of every function a request or the schedule runs (the admin function is run by an
    # operator, who reads its answer), API 5xx, database CPU and free storage.
    alarms = {a["alarm_name"] for a in prod.resources("aws_cloudwatch_metric_alarm").values()}
    assert alarms == {
        *(
            f"payment-{function}-{kind}-prod-pr42"
            for function in ("processor", "reconcile", "authorizer", "webhooks")
            for kind in ("errors", "throttles")
        ),
        "payment-api-5xx-prod-pr42",
        "payment-db-cpu-prod-pr42",
        "payment-db-free-storage-prod-pr42",
        "payment-outbox-oldest-age-prod-pr42",
        "payment-outbox-dead-lettered-prod-pr42",
        "payment-processing-age-prod-pr42",
        "payment-api-keys-expiring-prod-pr42",
    }
    assert not dev.resources("aws_cloudwatch_metric_alarm")


def test_the_outbox_alarms_watch_what_the_deliver_function_publishes(synthesized: SynthResult) -> None:
    """Namespace, metric names and dimensions are the ones payment_processor.handler publishes (EMF)."""
    from payment_processor import handler

    prod = platform(synthesized, "prod")
    alarms = {a["alarm_name"]: a for a in prod.resources("aws_cloudwatch_metric_alarm").values()}
    name, deliver = next(
        (n, f) for n, f in prod.resources("aws_lambda_function").items() if f["handler"].endswith(".reconcile")
    )
    age, dead = alarms["payment-outbox-oldest-age-prod-pr42"], alarms["payment-outbox-dead-lettered-prod-pr42"]
    processing = alarms["payment-processing-age-prod-pr42"]
    keys = alarms["payment-api-keys-expiring-prod-pr42"]
    for alarm, metric in (
        (age, "OutboxOldestPendingAge"),
        (dead, "OutboxDeadLettered"),
        (processing, "PaymentsOldestProcessingAge"),
        (keys, "ApiKeysExpiringSoon"),
    ):
        assert (alarm["namespace"], alarm["metric_name"]) == (handler.METRICS_NAMESPACE, metric)
        assert alarm["dimensions"] == {
            "service": deliver["environment"]["variables"]["POWERTOOLS_SERVICE_NAME"],
            "function": f"${{aws_lambda_function.{name}.function_name}}",
        }
        assert deliver["function_name"] == "payment-reconcile-prod-pr42"
        assert alarm["statistic"] == "Maximum" and alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    assert age["threshold"] == 600 and age["treat_missing_data"] == "breaching", "no report is an alarm too"
    assert dead["threshold"] == 1
    assert processing["threshold"] == 600
    assert keys["threshold"] == 1, "a key that stops working within 7 days is worth a call"


def _api(stack: Stack) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        kind: stack.resources(f"aws_api_gateway_{kind}")
        for kind in ("resource", "method", "integration", "deployment", "stage", "method_settings")
    }


def test_every_proxy_integration_has_a_permission_scoped_to_its_method(env_stack: Stack) -> None:
    """api-invoke-permission-missing: no aws_lambda_permission for API Gateway."""
    api = _api(env_stack)
    rest_api, _ = env_stack.only("aws_api_gateway_rest_api")
    permissions = [
        p for p in env_stack.resources("aws_lambda_permission").values() if p["principal"] == "apigateway.amazonaws.com"
    ]
    # create_before_destroy reaches them through the deployment: a fixed statement id would collide.
    assert all("statement_id" not in p and p["statement_id_prefix"] for p in permissions)
    scopes = {p["source_arn"] for p in permissions}
    expected = set()
    for integration in api["integration"].values():
        assert integration["type"] == "AWS_PROXY" and integration["integration_http_method"] == "POST"
        method_name = next(iter(refs(integration["http_method"]))).split(".")[1]
        http_method = api["method"][method_name]["http_method"]
        path = re.sub(r"\{[^}]+\}", "*", resource_path(env_stack, integration["resource_id"]))
        expected.add(f"${{aws_api_gateway_rest_api.{rest_api}.execution_arn}}/*/{http_method}{path}")
    # And the authorizer's own permission, scoped to the authorizer (test_api_security).
    authorizer, _ = env_stack.only("aws_api_gateway_authorizer")
    expected.add(
        f"${{aws_api_gateway_rest_api.{rest_api}.execution_arn}}/authorizers/${{aws_api_gateway_authorizer.{authorizer}.id}}"
    )
    assert scopes == expected and len(permissions) == len(ROUTES) + 1
    for permission in env_stack.resources("aws_lambda_permission").values():
        assert permission.get("source_arn"), "a permission without source_arn lets any account's resource invoke"


def test_the_processors_description_names_every_part_of_the_api_it_serves(env_stack: Stack) -> None:
    _, processor = env_stack.named("aws_lambda_function", "processor/function")
    served = {resource_path(env_stack, m["resource_id"]).split("/")[1] for m in _api(env_stack)["method"].values()}
    assert served == {"payments", "events", "webhook_endpoints"}
    assert all(f"/{part}" in processor["description"] for part in served), processor["description"]


def test_deployment_triggers_hash_everything_it_serves_and_waits_for_it(env_stack: Stack) -> None:
    """api-deployment-stale: deployment without triggers/dependencies on methods and integrations."""
    api = _api(env_stack)
    (deployment,) = api["deployment"].values()
    trigger = deployment["triggers"]["redeployment"]
    assert trigger.startswith("${sha1(jsonencode(")
    kinds = ("resource", "method", "integration", "authorizer", "gateway_response")
    served = {f"aws_api_gateway_{kind}": env_stack.resources(f"aws_api_gateway_{kind}") for kind in kinds}
    assert {kind: len(items) for kind, items in served.items()} == {
        "aws_api_gateway_resource": len(RESOURCE_IDS),
        "aws_api_gateway_method": len(ROUTES),
        "aws_api_gateway_integration": len(ROUTES),
        "aws_api_gateway_authorizer": 1,
        "aws_api_gateway_gateway_response": len(GATEWAY_RESPONSES),
    }
    for kind, items in served.items():
        for name, body in items.items():
            assert f"{kind}.{name}" in deployment["depends_on"]
            assert f'"id" = {kind}.{name}.id' in trigger
            # The arguments themselves are hashed, not only ids: a changed integration URI, method,
            # authorizer cache time or gateway response template changes the trigger. A reference is
            # hashed by Terraform, a literal by its SHA-256 (quotes and backticks are unsafe in HCL).
            for argument, value in body.items():
                if argument in ("//", "depends_on", "lifecycle"):
                    continue
                if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
                    assert f'"{argument}" = {value[2:-1]}' in trigger, (kind, name, argument)
                else:
                    assert f'"{argument}" = "{_literal_digest(value)}"' in trigger, (kind, name, argument)
    for literal in ("AWS_PROXY", "POST", "GET", "CUSTOM", "{id}", "REQUEST", IDENTITY_SOURCE):
        assert f'"{_literal_digest(literal)}"' in trigger, literal
    assert ".invoke_arn" in trigger
    permissions = {
        f"aws_lambda_permission.{n}"
        for n, p in env_stack.resources("aws_lambda_permission").items()
        if p["principal"] == "apigateway.amazonaws.com"
    }
    assert len(permissions) == len(ROUTES) + 1 and permissions <= set(deployment["depends_on"])
    assert deployment["lifecycle"] == {"create_before_destroy": True}
    (stage,) = api["stage"].values()
    assert refs(stage["deployment_id"]) == {f"aws_api_gateway_deployment.{next(iter(api['deployment']))}"}
    assert stage["access_log_settings"]["destination_arn"].startswith("${aws_cloudwatch_log_group.")
    (settings,) = api["method_settings"].values()
    config = config_of(env_stack)
    assert settings["settings"]["throttling_rate_limit"] == config.api_throttle_rate_limit
    assert settings["settings"]["throttling_burst_limit"] == config.api_throttle_burst_limit
    assert settings["settings"]["data_trace_enabled"] is False


def test_the_trigger_expression_is_made_of_every_argument() -> None:
    from cdktn import TerraformOutput, TerraformStack, Testing

    def expression(served: list[dict[str, object]]) -> str:
        stack = TerraformStack(Testing.app(), "scratch")
        TerraformOutput(stack, "trigger", value=configuration_hash(served))
        return str(json.loads(Testing.synth(stack))["output"]["trigger"]["value"])

    base = expression([{"http_method": "POST", "uri": "arn:1", "skip": None}, {"path_part": "payments"}])
    assert base == '${sha1(jsonencode([{"http_method" = "POST", "uri" = "arn:1"}, {"path_part" = "payments"}]))}'
    assert expression([{"http_method": "POST", "uri": "arn:2"}, {"path_part": "payments"}]) != base


def test_encryption_everywhere(env_stack: Stack) -> None:
    buckets = env_stack.resources("aws_s3_bucket")
    encryption = env_stack.resources("aws_s3_bucket_server_side_encryption_configuration")
    assert {next(iter(refs(e["bucket"]))) for e in encryption.values()} == {f"aws_s3_bucket.{b}" for b in buckets}
    for config in encryption.values():
        (rule,) = config["rule"]
        assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
        assert rule["apply_server_side_encryption_by_default"]["kms_master_key_id"].startswith("${aws_kms_key.")
    for group in env_stack.resources("aws_cloudwatch_log_group").values():
        assert group["kms_key_id"].startswith("${aws_kms_key.") and group["retention_in_days"] > 0
    for topic in env_stack.resources("aws_sns_topic").values():
        assert topic["kms_master_key_id"].startswith("${aws_kms_key.")
    (_, key) = env_stack.only("aws_kms_key")
    assert key["enable_key_rotation"] is True


def test_every_bucket_is_private_versioned_and_tls_only(synthesized: SynthResult) -> None:
    for _, bootstrap, stack in stacks_of(synthesized):
        for s in (bootstrap, stack):
            buckets = {f"aws_s3_bucket.{b}" for b in s.resources("aws_s3_bucket")}
            blocks = s.resources("aws_s3_bucket_public_access_block").values()
            assert {next(iter(refs(b["bucket"]))) for b in blocks} == buckets
            for block in blocks:
                assert all(
                    block[f] is True
                    for f in (
                        "block_public_acls",
                        "block_public_policy",
                        "ignore_public_acls",
                        "restrict_public_buckets",
                    )
                )
            versioning = s.resources("aws_s3_bucket_versioning").values()
            assert {v["versioning_configuration"]["status"] for v in versioning} == {"Enabled"} and len(
                versioning
            ) == len(buckets)
            for policy in s.resources("aws_s3_bucket_policy").values():
                # The deny first; only the admin trail's bucket grants a service anything beside it.
                deny, *grants = s.policy_statements(policy["policy"])
                assert deny["effect"] == "Deny" and deny["condition"][0]["variable"] == "aws:SecureTransport"
                assert all(g["principals"] == [{"type": "Service", "identifiers": [CLOUDTRAIL]}] for g in grants)
            assert len(s.resources("aws_s3_bucket_policy")) == len(buckets)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_key_lets_logs_and_alarms_of_this_deployment_only_use_it(
    synthesized: SynthResult, environment: str
) -> None:
    stack = platform(synthesized, environment)
    (_, key) = stack.only("aws_kms_key")
    statements = {s["sid"]: s for s in stack.policy_statements(key["policy"])}
    suffix = f"-{environment}-pr42"
    (logs_condition,) = statements["CloudWatchLogsUsesKeyForThisDeployment"]["condition"]
    # Anchored at the end: "*-dev-pr4" must not also match the log groups of dev-pr42.
    assert logs_condition["test"] == "ArnLike" and logs_condition["values"][0].endswith(f":log-group:*{suffix}")
    alarms = statements.get("CloudWatchAlarmsPublishForThisDeployment")
    if get_environment(environment).alarms:
        # The alarm topic is encrypted with this key; without the grant, notifications are dropped.
        assert alarms is not None and alarms["principals"] == [
            {"type": "Service", "identifiers": ["cloudwatch.amazonaws.com"]}
        ]
        assert sorted(alarms["actions"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
        (alarm_condition,) = alarms["condition"]
        assert alarm_condition["variable"] == "aws:SourceArn" and alarm_condition["values"][0].endswith(
            f":alarm:*{suffix}"
        )
        alarm_names = [a["alarm_name"] for a in stack.resources("aws_cloudwatch_metric_alarm").values()]
        assert alarm_names and all(name.endswith(suffix) for name in alarm_names)
    else:
        assert alarms is None and not stack.resources("aws_sns_topic")


def test_bucket_policies_wait_for_the_public_access_block_and_lifecycles_for_versioning(
    synthesized: SynthResult,
) -> None:
    """S3 refuses concurrent writes of a bucket's policy and public-access block."""
    for _, bootstrap, stack in stacks_of(synthesized):
        for s in (bootstrap, stack):
            for policy in s.resources("aws_s3_bucket_policy").values():
                assert any(d.startswith("aws_s3_bucket_public_access_block.") for d in policy["depends_on"])
            for lifecycle in s.resources("aws_s3_bucket_lifecycle_configuration").values():
                assert any(d.startswith("aws_s3_bucket_versioning.") for d in lifecycle["depends_on"])


def test_api_gateway_creates_no_log_group_outside_the_stack(env_stack: Stack) -> None:
    """Execution logging would create an unencrypted, never-expiring log group the stack doesn't manage."""
    (_, settings) = env_stack.only("aws_api_gateway_method_settings")
    assert settings["settings"]["logging_level"] == "OFF" and settings["settings"]["data_trace_enabled"] is False


def test_the_state_bucket_is_encrypted(synthesized: SynthResult) -> None:
    for _, bootstrap, _ in stacks_of(synthesized):
        (config,) = bootstrap.resources("aws_s3_bucket_server_side_encryption_configuration").values()
        assert config["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "AES256"


def _linked(stack: Stack, kind: str, group: str, port: int) -> list[str]:
    """The security groups (by purpose: db, processor, proxy, endpoints) that ``group``'s rules of ``kind`` on
    ``port`` name: the sources of its ingress, the destinations of its egress."""
    groups = {body["name"].split("-")[1]: name for name, body in stack.resources("aws_security_group").items()}
    found = [
        r
        for r in stack.resources("aws_security_group_rule").values()
        if r["type"] == kind and f".{groups[group]}." in r["security_group_id"] and r["from_port"] == port
    ]
    assert all(r["to_port"] == port and r["protocol"] == "tcp" for r in found), found
    other = [r.get("source_security_group_id", "") for r in found]
    return sorted(purpose for o in other for purpose, name in groups.items() if f".{name}." in o)


def test_database_is_reachable_only_from_the_function(env_stack: Stack) -> None:
    """Directly in dev; where there is a proxy, the database admits the proxy alone and the proxy the functions."""
    rules = env_stack.resources("aws_security_group_rule")
    egress_group, _ = env_stack.named("aws_security_group", "network/egress-sg")
    for rule in rules.values():
        if f".{egress_group}." in rule["security_group_id"]:
            continue  # the acquirers' way out: test_only_the_acquirer_callers_reach_the_internet_and_by_https_alone
        assert "cidr_blocks" not in rule and "ipv6_cidr_blocks" not in rule, "no rule opens to an address range"
    groups = {body["name"].split("-")[1] for body in env_stack.resources("aws_security_group").values()}
    groups.remove("egress")
    if config_of(env_stack).proxy:
        assert groups == {"processor", "db", "endpoints", "proxy"}
        assert _linked(env_stack, "ingress", "db", 5432) == ["proxy"]
        assert _linked(env_stack, "ingress", "proxy", 5432) == ["processor"]
        assert _linked(env_stack, "egress", "processor", 5432) == ["proxy"]
        assert _linked(env_stack, "egress", "proxy", 5432) == ["db"]
        # The proxy reads its logins' secrets through the Secrets Manager endpoint, as the functions do.
        assert _linked(env_stack, "ingress", "endpoints", 443) == ["processor", "proxy"]
        assert _linked(env_stack, "egress", "proxy", 443) == ["endpoints"]
    else:
        assert groups == {"processor", "db", "endpoints"}
        assert _linked(env_stack, "ingress", "db", 5432) == ["processor"]
        assert _linked(env_stack, "egress", "processor", 5432) == ["db"]
    assert len([r for r in rules.values() if r["type"] == "ingress" and r["from_port"] == 5432]) == len(
        [r for r in rules.values() if r["type"] == "egress" and r["from_port"] == 5432]
    ), "every path to PostgreSQL is opened at both ends, and no other is"
    for group in env_stack.resources("aws_security_group").values():
        assert "ingress" not in group and "egress" not in group
    for subnet in env_stack.resources("aws_subnet").values():
        assert subnet["map_public_ip_on_launch"] is False
    endpoints = {e["service_name"].rsplit(".", 1)[1]: e for e in env_stack.resources("aws_vpc_endpoint").values()}
    assert endpoints["s3"]["vpc_endpoint_type"] == "Gateway"
    assert (
        endpoints["secretsmanager"]["vpc_endpoint_type"] == "Interface"
        and endpoints["secretsmanager"]["private_dns_enabled"]
    )


def test_only_the_acquirer_callers_reach_the_internet_and_by_https_alone(env_stack: Stack) -> None:
    """Egress: NAT gateways (one per AZ where the environment asks for it), each private subnet routed to one (its
    own AZ's in prod), and the one rule to the internet, TCP 443, on a group only the processor and the reconcile
    job hold."""
    config = config_of(env_stack)
    nats = env_stack.resources("aws_nat_gateway")
    assert len(nats) == config.nat_gateways == (2 if config.name == "prod" else 1)
    assert len(env_stack.resources("aws_eip")) == len(nats) and len(env_stack.resources("aws_internet_gateway")) == 1
    public = {n: s for n, s in env_stack.resources("aws_subnet").items() if s["tags"]["Tier"] == "public"}
    private = {n: s for n, s in env_stack.resources("aws_subnet").items() if s["tags"]["Tier"] == "private"}
    assert len(public) == len(nats) and len(private) == 2
    for nat in nats.values():
        assert nat["connectivity_type"] == "public" and any(f".{n}." in nat["subnet_id"] for n in public)
    routes = env_stack.resources("aws_route")
    associations = env_stack.resources("aws_route_table_association").values()
    for name, subnet in private.items():
        (table,) = [a["route_table_id"] for a in associations if f".{name}." in a["subnet_id"]]
        (route,) = [r for r in routes.values() if r["route_table_id"] == table]
        assert route["destination_cidr_block"] == "0.0.0.0/0"
        (nat_name,) = [n for n in nats if f".{n}." in route["nat_gateway_id"]]
        if config.nat_gateways == 2:  # through the NAT of the subnet's own AZ
            nat_subnet = next(n for n in public if f".{n}." in nats[nat_name]["subnet_id"])
            assert public[nat_subnet]["availability_zone"] == subnet["availability_zone"]
    egress_group, _ = env_stack.named("aws_security_group", "network/egress-sg")
    wide = [r for r in env_stack.resources("aws_security_group_rule").values() if "cidr_blocks" in r]
    assert (
        wide
        == [
            {
                **wide[0],
                "type": "egress",
                "cidr_blocks": ["0.0.0.0/0"],
                "protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
            }
        ]
        and f".{egress_group}." in wide[0]["security_group_id"]
    )
    holders = {
        body["//"]["metadata"]["path"].split("/")[-2]
        for body in env_stack.resources("aws_lambda_function").values()
        if any(f".{egress_group}." in g for g in body.get("vpc_config", {}).get("security_group_ids", []))
    }
    assert holders == {"processor", "reconcile"}


def test_functions_get_exactly_the_environment_their_entry_point_reads(env_stack: Stack) -> None:
    config = config_of(env_stack)
    db, _ = env_stack.only("aws_db_instance")
    bucket, _ = env_stack.named("aws_s3_bucket", "transaction-log/bucket")
    master = f"${{aws_db_instance.{db}.master_user_secret[0].secret_arn}}"
    app, auth, pepper = (
        f"${{aws_secretsmanager_secret.{env_stack.named('aws_secretsmanager_secret', f'{c}/secret')[0]}.arn}}"
        for c in ("app-login", "auth-login", "api-key-pepper")
    )
    # Through the proxy where the environment has one (staging, prod), else to the instance (dev).
    host = (
        f"${{aws_db_proxy.{env_stack.only('aws_db_proxy')[0]}.endpoint}}"
        if config.proxy
        else f"${{aws_db_instance.{db}.address}}"
    )
    database = {
        "DB_HOST": host,
        "DB_PORT": "5432",
        "DB_NAME": "payments",
        # verify-full: TLS to a server proven to be the instance, by the RDS CA bundle the zip ships.
        "DB_SSLMODE": "verify-full",
        "DB_SSLROOTCERT": RDS_CA_BUNDLE,
        "POWERTOOLS_SERVICE_NAME": "payments",
    }
    common = {
        **database,
        "DB_SECRET_ARN": app,
        "TRANSACTION_LOG_BUCKET": f"${{aws_s3_bucket.{bucket}.bucket}}",
        # Prod refuses a merchant without a connector instead of simulating its payments.
        "SIMULATED_ACQUIRER_ALLOWED": {"prod": "false"}.get(config.name, "true"),
        # The acquirers it calls (prod: real ones only).
        "PAYMENT_CONNECTORS": {"prod": "stripe"}.get(config.name, "stripe,simulated"),
    }
    queue = {
        purpose: f"${{aws_sqs_queue.{env_stack.named('aws_sqs_queue', f'webhook-queues/{purpose}/queue')[0]}.url}}"
        for purpose in ("attempts", "results")
    }
    # The reconcile job dispatches webhook attempts and reads their results.
    queues = {"WEBHOOK_ATTEMPTS_QUEUE_URL": queue["attempts"], "WEBHOOK_RESULTS_QUEUE_URL": queue["results"]}
    reconcile = {**common, **queues}
    # The webhook endpoints API: the key sealing their secrets, and the URLs the environment lets them reach.
    flag = {True: "true", False: "false"}
    reach = {
        "WEBHOOK_SECRETS_KEY_ID": f"${{aws_kms_key.{env_stack.only('aws_kms_key')[0]}.arn}}",
        "WEBHOOKS_ALLOW_HTTP": flag[config.webhooks_allow_http],
        "WEBHOOKS_ALLOW_LOOPBACK": flag[config.webhooks_allow_loopback],
    }
    processor = {**common, **reach}
    # The courier: no database at all, the secrets' key, the results queue, the same reach.
    courier = {"POWERTOOLS_SERVICE_NAME": "payments", "WEBHOOK_RESULTS_QUEUE_URL": queue["results"], **reach}
    keys = {"API_KEY_PEPPER_SECRET_ARN": pepper, "PAYMENTS_MODE": config.api_key_mode}
    # function -> (handler, what its entry point requires beyond the database's, its whole environment)
    expected: dict[str, tuple[str, tuple[str, ...], dict[str, str]]] = {
        "processor": (
            "payment_processor.handler.handler",
            ("TRANSACTION_LOG_BUCKET", "WEBHOOK_SECRETS_KEY_ID"),
            processor,
        ),
        "reconcile": ("payment_processor.handler.reconcile", ("TRANSACTION_LOG_BUCKET",), reconcile),
        "authorizer": (
            "payment_processor.handler.authorizer",
            ("API_KEY_PEPPER_SECRET_ARN",),
            {
                **database,
                "DB_SECRET_ARN": auth,
                **keys,
                # The bound on key guessing (payment_processor.failed_authentications).
                "AUTH_FAILURE_LIMIT": str(config.auth_failure_limit),
                "AUTH_FAILURE_WINDOW_S": str(config.auth_failure_window_s),
            },
        ),
        "admin": (
            "payment_processor.admin.handler",
            ("APP_DB_SECRET_ARN", "AUTH_DB_SECRET_ARN", "API_KEY_PEPPER_SECRET_ARN"),
            {
                **database,
                "DB_SECRET_ARN": master,
                "APP_DB_SECRET_ARN": app,
                "AUTH_DB_SECRET_ARN": auth,
                **keys,
                # Merchants' connector secrets: the admin function alone writes them.
                "CONNECTOR_SECRET_NAME_PREFIX": f"payment/{config.name}/pr42/connectors",
                "CONNECTOR_SECRETS_KEY_ID": reach["WEBHOOK_SECRETS_KEY_ID"],
                "CONNECTORS_ALLOW_HTTP": flag[config.connectors_allow_http],
                # The audit log's copies (under audit/).
                "TRANSACTION_LOG_BUCKET": common["TRANSACTION_LOG_BUCKET"],
            },
        ),
        "webhooks": (
            "payment_processor.handler.send_webhooks",
            ("WEBHOOK_SECRETS_KEY_ID", "WEBHOOK_RESULTS_QUEUE_URL"),
            courier,
        ),
    }
    assert len(env_stack.resources("aws_lambda_function")) == len(expected)
    for function, (handler, required, environment) in expected.items():
        _, body = env_stack.named("aws_lambda_function", f"{function}/function")
        variables = body["environment"]["variables"]
        assert variables == environment, function
        assert "AWS_REGION" not in variables, "a reserved key: Lambda refuses it"
        # What the entry point's Settings make of it (Terraform fills in the references).
        literal = {k: f"resolved-{k.lower()}" if "${" in v else v for k, v in variables.items()}
        in_vpc = function != "webhooks"  # the courier: outside the VPC, no database
        settings = Settings.from_env({**literal, "AWS_REGION": "us-east-1"}, require=required, database=in_vpc)
        assert bool(body.get("vpc_config")) is in_vpc, function
        if in_vpc:
            assert settings.db_sslmode == "verify-full" and settings.db_name == "payments" and settings.db_port == 5432
        assert RDS_CA_BUNDLE in zipfile.ZipFile(env_stack.package(body)).namelist()
        if function in ("authorizer", "admin"):  # the two that check or make API keys
            assert settings.api_key_mode == config.api_key_mode
        if function == "authorizer":
            bound = (settings.auth_failure_limit, settings.auth_failure_window_s)
            assert bound == (config.auth_failure_limit, config.auth_failure_window_s)
        if function in ("processor", "webhooks"):  # staging and prod deliver to public HTTPS addresses only
            assert (settings.webhooks_allow_http, settings.webhooks_allow_loopback) == (config.name == "dev",) * 2
        assert body["handler"] == handler
        assert body["runtime"] == "python3.12" and body["architectures"] == ["x86_64"]
        if in_vpc:
            assert len(body["vpc_config"]["subnet_ids"]) == 2
        # The admin's migrations, the reconcile job's webhook rounds and the courier's 10 s attempt have their own.
        timeouts = {"admin": 60, "reconcile": RECONCILE_TIMEOUT_S, "webhooks": COURIER_TIMEOUT_S}
        assert body["timeout"] == timeouts.get(function, config.lambda_timeout_s)
        # Every function is bounded: each execution environment holds a database connection (but the courier's).
        concurrency = "webhook_courier" if function == "webhooks" else function
        assert body["reserved_concurrent_executions"] == getattr(config, f"{concurrency}_concurrency") > 0


def test_the_deliver_function_is_scheduled_with_a_scoped_permission(env_stack: Stack) -> None:
    rule_name, rule = env_stack.only("aws_cloudwatch_event_rule")
    assert rule["schedule_expression"] == "rate(1 minute)"
    (permission,) = [
        p for p in env_stack.resources("aws_lambda_permission").values() if p["principal"] == "events.amazonaws.com"
    ]
    assert permission["source_arn"] == f"${{aws_cloudwatch_event_rule.{rule_name}.arn}}"


def test_provider_and_terraform_versions_admit_the_mirror_and_6x(synthesized: SynthResult) -> None:
    for _, bootstrap, stack in stacks_of(synthesized):
        for s in (bootstrap, stack):
            terraform = s.doc["terraform"]
            assert terraform["required_providers"]["aws"] == {
                "source": "hashicorp/aws",
                "version": ">= 5.100.0, < 7.0.0",
            }
            assert terraform["required_version"] == ">= 1.10.0"


def test_no_password_or_secret_value_in_any_stack(synthesized: SynthResult) -> None:
    for _, bootstrap, stack in stacks_of(synthesized):
        for s in (bootstrap, stack):
            text = json.dumps(s.doc)
            assert not re.search(r'"(password|master_password|secret_string|access_key|secret_key)"', text)
