"""The naming helper and the environment configs (no CDK needed)."""

from __future__ import annotations

import dataclasses

import pytest

from payments_infra.environments import ENVIRONMENTS, ObjectLock, UnknownEnvironment, get_environment
from payments_infra.naming import RULES, InvalidName, Naming, check

SUFFIXES = ["pr42", "a", "alice-dev", "x" * 20, "0"]


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_unique_name_carries_environment_and_suffix(env: str, suffix: str) -> None:
    naming = Naming(env, suffix)
    names = [
        naming.bucket("txlog"),
        naming.rds_identifier("db"),
        naming.db_subnet_group("db"),
        naming.function("processor"),
        naming.role("processor"),
        naming.policy("processor"),
        naming.secret("db"),
        naming.log_group("/aws/lambda", "processor"),
        naming.kms_alias("key"),
        naming.security_group("db"),
        naming.api("api"),
        naming.alarm("errors"),
        naming.queue("dlq"),
        naming.topic("alarms"),
        naming.event_rule("reconcile"),
        naming.state_bucket(),
        naming.db_parameter_group("db"),
        naming.resource("vpc"),
        naming.db_proxy("db"),
    ]
    for name in names:
        assert env in name and suffix in name, name


def test_the_design_examples() -> None:
    naming = Naming("dev", "pr42")
    assert naming.function("processor") == "payment-processor-dev-pr42"
    assert naming.rds_identifier("db") == "payment-db-dev-pr42"
    assert naming.state_key() == "payments/dev/terraform.tfstate"


def test_two_suffixes_never_share_a_name() -> None:
    a, b = Naming("dev", "pr1"), Naming("dev", "pr12")
    assert a.bucket("txlog") != b.bucket("txlog") and a.state_bucket() != b.state_bucket()
    # Path-style secret names: the suffix is a whole segment, so neither name is a prefix of the other
    # (an ARN pattern "payment/dev/pr1/*" does not reach pr12's secrets).
    assert a.secret("db-app") == "payment/dev/pr1/db-app"
    assert not b.secret("db-app").startswith(a.secret("db-app").rsplit("/", 1)[0] + "/")


@pytest.mark.parametrize("suffix", ["", "PR42", "a--b", "-a", "a-", "a_b", "x" * 21, "pr 42", "pr.42", "ünï"])
def test_invalid_suffixes_are_refused_with_the_rule(suffix: str) -> None:
    with pytest.raises(InvalidName, match="deployment suffix"):
        Naming("dev", suffix)


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("s3_bucket", "b" * 64, "allows 63"),
        ("s3_bucket", "Upper-case", "not allowed"),
        ("rds_identifier", "r" * 64, "allows 63"),
        ("rds_identifier", "1-starts-with-digit", "not allowed"),
        ("rds_identifier", "double--hyphen", "not allowed"),
        ("db_proxy", "p" * 64, "allows 63"),
        ("db_proxy", "9-starts-with-digit", "not allowed"),
        ("db_proxy", "ends-with-hyphen-", "not allowed"),
        ("lambda_function", "f" * 65, "allows 64"),
        ("iam_role", "r" * 65, "allows 64"),
        ("kms_alias", "alias/aws/mine", "not allowed"),
        ("security_group", "sg-looks-like-an-id", "not allowed"),
        ("sqs_queue", "q" * 81, "allows 80"),
    ],
)
def test_service_limits_are_enforced(kind: str, name: str, message: str) -> None:
    with pytest.raises(InvalidName, match=message):
        check(kind, name)


def test_every_rule_accepts_a_typical_name() -> None:
    for kind in RULES:
        typical = "alias/payment-key-dev-pr42" if kind == "kms_alias" else "payment-x-dev-pr42"
        assert check(kind, typical) == typical


def test_environments_are_data_and_differ_where_expected() -> None:
    dev, staging, prod = (get_environment(n) for n in ("dev", "staging", "prod"))
    assert not dev.db_multi_az and prod.db_multi_az
    assert not dev.db_deletion_protection and prod.db_deletion_protection
    assert prod.transaction_log_lock and not dev.transaction_log_lock and not staging.transaction_log_lock
    # No alarms in dev (no thresholds either: nothing to set for alarms that do not exist); key expiry in prod.
    assert dev.alarms is None and staging.alarms and prod.alarms
    assert prod.alarms.api_keys_expiring and not staging.alarms.api_keys_expiring
    assert dev.log_retention_days < staging.log_retention_days < prod.log_retention_days
    assert dev.bucket_force_destroy and not prod.bucket_force_destroy
    # Only prod takes live API keys; a revoked key works at most the authorizer's cache time there.
    assert (dev.api_key_mode, staging.api_key_mode, prod.api_key_mode) == ("test", "test", "live")
    assert all(0 <= e.api_authorizer_cache_s <= 300 for e in (dev, staging, prod))
    limits = [e.api_rate_limit_per_credential for e in (dev, staging, prod)]
    assert limits == sorted(set(limits)), "more traffic per key where more clients are real"
    # A destroyed dev deployment's secrets go at once, so its suffix can be reused; elsewhere they can be restored.
    assert dev.secret_recovery_window_days == 0 and prod.secret_recovery_window_days == 30
    with pytest.raises(dataclasses.FrozenInstanceError):
        prod.db_multi_az = False  # type: ignore[misc]


def test_unknown_environment_lists_the_choices() -> None:
    with pytest.raises(UnknownEnvironment, match="dev, staging, prod"):
        get_environment("production")


def test_inconsistent_config_is_refused() -> None:
    with pytest.raises(ValueError, match="object lock"):
        ObjectLock(retention_days=0)
    with pytest.raises(ValueError, match="KMS"):
        dataclasses.replace(get_environment("dev"), kms_deletion_window_days=3)
    with pytest.raises(ValueError, match="allocated"):
        dataclasses.replace(get_environment("dev"), db_max_allocated_storage_gb=1)


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_the_functions_connections_fit_the_database_with_room_to_spare(environment: str) -> None:
    from payments_infra.environments import DB_RESERVED_CONNECTIONS

    config = get_environment(environment)
    assert (
        config.function_connections()
        <= config.connection_budget()
        <= (config.db_max_connections - DB_RESERVED_CONNECTIONS)
    )
    # One more processor environment than fits is refused before anything is synthesized.
    spare = config.connection_budget() - config.function_connections()
    with pytest.raises(ValueError, match="does not fit the proxy's pool" if config.proxy else "max_connections"):
        dataclasses.replace(config, processor_concurrency=config.processor_concurrency + spare + 1)
    dataclasses.replace(config, processor_concurrency=config.processor_concurrency + spare)


def test_staging_and_prod_connect_through_a_proxy_whose_pool_the_arithmetic_gives() -> None:
    """The figures in environments.py's comments: max_connections * percent / 100, against the functions' sum."""
    dev, staging, prod = (get_environment(n) for n in ("dev", "staging", "prod"))
    assert dev.proxy is None and dev.connection_budget() == 80 - 10 and dev.function_connections() == 64
    assert staging.proxy and staging.connection_budget() == 150 * 90 // 100 == 135
    assert staging.function_connections() == 80 + 40 + 2 + 2 == 124
    assert prod.proxy and prod.connection_budget() == 1000 * 40 // 100 == 400
    assert prod.function_connections() == 200 + 100 + 4 + 2 == 306
    for config in (staging, prod):
        assert config.proxy
        assert 0 < config.proxy.borrow_timeout_s < config.lambda_timeout_s
        assert config.proxy.max_idle_connections_percent <= config.proxy.max_connections_percent


@pytest.mark.parametrize(
    ("environment", "changes", "message"),
    [
        # A pool that would take the connections kept for RDS and an operator: 150 * 95 % = 142 > 140.
        ("staging", {"max_connections_percent": 95}, "kept for RDS and an operator"),
        # A pool too small for the functions: 150 * 80 % = 120 < 124.
        ("staging", {"max_connections_percent": 80}, "does not fit the proxy's pool"),
        ("prod", {"max_connections_percent": 0}, "1..100"),
        ("prod", {"max_connections_percent": 101}, "1..100"),
        ("prod", {"max_idle_connections_percent": 41}, "0..max_connections_percent"),
        ("prod", {"borrow_timeout_s": 15}, "less than lambda_timeout_s"),
        ("prod", {"borrow_timeout_s": 0}, "less than lambda_timeout_s"),
    ],
)
def test_proxy_settings_outside_what_rds_proxy_or_the_budget_admit_are_refused(
    environment: str, changes: dict[str, int], message: str
) -> None:
    config = get_environment(environment)
    assert config.proxy
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(config, proxy=dataclasses.replace(config.proxy, **changes))


def test_without_a_proxy_the_functions_fit_the_instance_itself() -> None:
    """Dropping the proxy puts the functions on the instance directly: prod's 306 fit 1,000 - 10, staging's 124 fit
    150 - 10. No proxy setting is left behind to be read: there is no proxy config to hold one."""
    for environment in ("staging", "prod"):
        direct = dataclasses.replace(get_environment(environment), proxy=None)
        assert direct.proxy_pool_connections() == 0
        assert direct.connection_budget() == direct.db_max_connections - 10 >= direct.function_connections()
    with pytest.raises(ValueError, match="does not fit max_connections"):
        dataclasses.replace(get_environment("staging"), proxy=None, db_max_connections=100)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"api_authorizer_cache_s": 301}, "0..300 seconds"),
        ({"api_authorizer_cache_s": -1}, "0..300 seconds"),
        ({"api_key_mode": "prod"}, "'test' or 'live'"),
        ({"api_rate_limit_per_credential": 9}, "rate limit"),
        ({"api_rate_limit_window_s": 30}, "rate limit"),
        # The same numbers make WAF's per-address rule: WAF's own bounds.
        ({"auth_failure_limit": 9}, "auth failure limit"),
        ({"auth_failure_window_s": 900}, "auth failure limit"),
        ({"secret_recovery_window_days": 3}, "recovery window"),
        ({"secret_recovery_window_days": 31}, "recovery window"),
    ],
)
def test_authentication_settings_outside_what_aws_accepts_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(get_environment("dev"), **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"api_authorizer_cache_s": 0},
        {"api_authorizer_cache_s": 300},
        {"api_rate_limit_per_credential": 10, "api_rate_limit_window_s": 600},
        {"auth_failure_limit": 10, "auth_failure_window_s": 600},
        {"secret_recovery_window_days": 7},
    ],
)
def test_the_limits_themselves_are_accepted(changes: dict[str, object]) -> None:
    dataclasses.replace(get_environment("dev"), **changes)  # type: ignore[arg-type]
