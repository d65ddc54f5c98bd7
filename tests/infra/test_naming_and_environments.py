"""The naming helper and the environment configs (no CDK needed)."""

from __future__ import annotations

import dataclasses

import pytest

from payments_infra.environments import ENVIRONMENTS, UnknownEnvironment, get_environment
from payments_infra.naming import RULES, InvalidName, Naming, check

SUFFIXES = ["pr42", "a", "alice-dev", "x" * 20, "0"]


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_unique_name_carries_environment_and_suffix(env: str, suffix: str) -> None:
    naming = Naming(env, suffix)
    names = [
        naming.bucket("txlog"), naming.rds_identifier("db"), naming.db_subnet_group("db"),
        naming.function("processor"), naming.role("processor"), naming.policy("processor"),
        naming.secret("db"), naming.log_group("/aws/lambda", "processor"), naming.kms_alias("key"),
        naming.table("x"), naming.security_group("db"), naming.api("api"), naming.alarm("errors"),
        naming.queue("dlq"), naming.topic("alarms"), naming.event_rule("deliver"),
        naming.state_bucket(), naming.db_parameter_group("db"), naming.resource("vpc"),
    ]  # fmt: skip
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
    assert prod.transaction_log_object_lock and not dev.transaction_log_object_lock
    assert dev.log_retention_days < staging.log_retention_days < prod.log_retention_days
    assert dev.bucket_force_destroy and not prod.bucket_force_destroy
    with pytest.raises(dataclasses.FrozenInstanceError):
        prod.db_multi_az = False  # type: ignore[misc]


def test_unknown_environment_lists_the_choices() -> None:
    with pytest.raises(UnknownEnvironment, match="dev, staging, prod"):
        get_environment("production")


def test_inconsistent_config_is_refused() -> None:
    with pytest.raises(ValueError, match="object lock"):
        dataclasses.replace(get_environment("dev"), transaction_log_object_lock=True, transaction_log_lock_days=0)
    with pytest.raises(ValueError, match="KMS"):
        dataclasses.replace(get_environment("dev"), kms_deletion_window_days=3)
    with pytest.raises(ValueError, match="allocated"):
        dataclasses.replace(get_environment("dev"), db_max_allocated_storage_gb=1)
