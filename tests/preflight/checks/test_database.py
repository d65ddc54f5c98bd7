"""PF301-PF305 (``preflight.checks.database``): RDS flags and passwords, and the functions' reserved
concurrency against the database's max_connections (dev connects directly) or the pool of the RDS Proxy
they connect through (staging, prod)."""

from __future__ import annotations

import pytest

from tests.preflight.checks.cases import DELETE, Case, reports_exactly, set_attributes
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import Document, add_resource, address, failing, findings, named


def _over_the_proxys_pool(doc: Document) -> set[str]:
    """Staging's pool is 150 * 90 % = 135 connections; the functions' 124 become 136."""
    set_attributes(doc, "aws_lambda_function", "processor/function", reserved_concurrent_executions=92)
    group, _ = named(doc, "aws_db_proxy_default_target_group", "database-proxy/target-group")
    return {address("aws_db_proxy_default_target_group", group)}


CASES = [
    Case(
        "PF301",
        "publicly_accessible unset (rds-defaults-implicit)",
        "dev",
        lambda d: set_attributes(d, "aws_db_instance", "database/instance", publicly_accessible=DELETE),
    ),
    Case(
        "PF301",
        "publicly_accessible true",
        "prod",
        lambda d: set_attributes(d, "aws_db_instance", "database/instance", publicly_accessible=True),
    ),
    Case(
        "PF302",
        "multi_az unset (rds-defaults-implicit)",
        "prod",
        lambda d: set_attributes(d, "aws_db_instance", "database/instance", multi_az=DELETE),
    ),
    Case(
        "PF303",
        "storage not encrypted",
        "dev",
        lambda d: set_attributes(d, "aws_db_instance", "database/instance", storage_encrypted=False),
    ),
    Case(
        "PF304",
        "password in config",
        "dev",
        lambda d: set_attributes(d, "aws_db_instance", "database/instance", password="hunter2hunter2"),
    ),
    Case(
        "PF305",
        "unbounded function on the database",
        "dev",
        lambda d: set_attributes(d, "aws_lambda_function", "authorizer/function", reserved_concurrent_executions=-1),
    ),
    Case("PF305", "concurrency over the proxy's pool", "staging", _over_the_proxys_pool),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly_the_mutated_resources(stacks: dict[str, Fixture], case: Case) -> None:
    reports_exactly(stacks, case)


def test_serverless_v1_clusters_are_always_encrypted(dev: Fixture) -> None:
    doc = dev.document()
    cluster = add_resource(
        doc,
        "aws_rds_cluster",
        "aurora",
        {"cluster_identifier": "payment-aurora-dev-pr42", "engine": "aurora-postgresql", "engine_mode": "serverless"},
    )
    assert failing(doc, dev.path, "PF303") == set()
    doc["resource"]["aws_rds_cluster"]["aurora"]["engine_mode"] = "provisioned"
    assert failing(doc, dev.path, "PF303") == {cluster}


# PF305, the connection budget: each case shows the stack passing, then exactly what one change makes fail.


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_stack_fits_its_database(stacks: dict[str, Fixture], environment: str) -> None:
    fixture = stacks[environment]
    assert failing(fixture.document(), fixture.path, "PF305") == set()


def test_an_unbounded_function_is_named(stacks: dict[str, Fixture]) -> None:
    fixture = stacks["dev"]
    doc = fixture.document()
    name, body = named(doc, "aws_lambda_function", "authorizer/function")
    body["reserved_concurrent_executions"] = -1
    assert failing(doc, fixture.path, "PF305") == {address("aws_lambda_function", name)}
    del body["reserved_concurrent_executions"]
    assert failing(doc, fixture.path, "PF305") == {address("aws_lambda_function", name)}


def test_too_much_concurrency_is_reported_on_the_database(stacks: dict[str, Fixture]) -> None:
    fixture = stacks["dev"]
    doc = fixture.document()
    db, _ = named(doc, "aws_db_instance", "database/instance")
    _, processor = named(doc, "aws_lambda_function", "processor/function")
    processor["reserved_concurrent_executions"] = 60  # 60 + 20 + 2 + 2 = 84 > 80 - 10
    assert failing(doc, fixture.path, "PF305") == {address("aws_db_instance", db)}
    processor["reserved_concurrent_executions"] = 46  # 70: exactly what fits
    assert failing(doc, fixture.path, "PF305") == set()


def test_a_database_without_an_explicit_max_connections_cannot_be_checked(stacks: dict[str, Fixture]) -> None:
    fixture = stacks["prod"]
    doc = fixture.document()
    db, _ = named(doc, "aws_db_instance", "database/instance")
    _, group = named(doc, "aws_db_parameter_group", "database/parameters")
    group["parameter"] = [p for p in group["parameter"] if p["name"] != "max_connections"]
    assert failing(doc, fixture.path, "PF305") == {address("aws_db_instance", db)}


def test_too_much_concurrency_through_the_proxy_is_reported_on_its_target_group(stacks: dict[str, Fixture]) -> None:
    fixture = stacks["staging"]
    doc = fixture.document()
    group, _ = named(doc, "aws_db_proxy_default_target_group", "database-proxy/target-group")
    _, processor = named(doc, "aws_lambda_function", "processor/function")
    processor["reserved_concurrent_executions"] = 92  # 92 + 40 + 2 + 2 = 136 > 135
    assert failing(doc, fixture.path, "PF305") == {address("aws_db_proxy_default_target_group", group)}
    (finding,) = [f for f in findings(doc, fixture.path) if f.check_id == "PF305"]
    assert "136 connections" in finding.message and "150 * 90 % = 135" in finding.message
    assert finding.attribute == "connection_pool_config.max_connections_percent"
    processor["reserved_concurrent_executions"] = 91  # 135: exactly what fits
    assert failing(doc, fixture.path, "PF305") == set()


def test_a_pool_too_small_for_the_functions_is_reported(stacks: dict[str, Fixture]) -> None:
    fixture = stacks["prod"]
    doc = fixture.document()
    group_name, group = named(doc, "aws_db_proxy_default_target_group", "database-proxy/target-group")
    group["connection_pool_config"]["max_connections_percent"] = 30  # 1,000 * 30 % = 300 < 306
    assert failing(doc, fixture.path, "PF305") == {address("aws_db_proxy_default_target_group", group_name)}
    group["connection_pool_config"]["max_connections_percent"] = 31  # 310 >= 306
    assert failing(doc, fixture.path, "PF305") == set()


def test_the_proxy_is_found_by_its_literal_name_too(stacks: dict[str, Fixture]) -> None:
    fixture = stacks["prod"]
    doc = fixture.document()
    _, proxy = named(doc, "aws_db_proxy", "database-proxy/proxy")
    group_name, group = named(doc, "aws_db_proxy_default_target_group", "database-proxy/target-group")
    _, target = named(doc, "aws_db_proxy_target", "database-proxy/target")
    _, instance = named(doc, "aws_db_instance", "database/instance")
    group["db_proxy_name"] = target["db_proxy_name"] = proxy["name"]
    target["db_instance_identifier"] = instance["identifier"]
    group["connection_pool_config"]["max_connections_percent"] = 30
    assert failing(doc, fixture.path, "PF305") == {address("aws_db_proxy_default_target_group", group_name)}


def test_a_pool_left_at_the_default_may_not_take_the_reserved_connections(stacks: dict[str, Fixture]) -> None:
    """Unset, max_connections_percent is 100: the pool is all 150, but the instance admits 150 - 10 = 140."""
    fixture = stacks["staging"]
    doc = fixture.document()
    group, body = named(doc, "aws_db_proxy_default_target_group", "database-proxy/target-group")
    del body["connection_pool_config"]
    _, processor = named(doc, "aws_lambda_function", "processor/function")
    processor["reserved_concurrent_executions"] = 96  # 96 + 40 + 2 + 2 = 140
    assert failing(doc, fixture.path, "PF305") == set()
    processor["reserved_concurrent_executions"] = 97  # 141 > 140
    (finding,) = [f for f in findings(doc, fixture.path) if f.check_id == "PF305"]
    assert finding.resource == address("aws_db_proxy_default_target_group", group)
    assert "150 * 100 % = 150, less the 10 kept: 140" in finding.message


def test_an_unbounded_function_through_the_proxy_is_named(stacks: dict[str, Fixture]) -> None:
    fixture = stacks["prod"]
    doc = fixture.document()
    name, body = named(doc, "aws_lambda_function", "reconcile/function")
    del body["reserved_concurrent_executions"]
    assert failing(doc, fixture.path, "PF305") == {address("aws_lambda_function", name)}


def test_a_proxy_whose_instance_is_not_in_the_configuration_cannot_be_checked(stacks: dict[str, Fixture]) -> None:
    fixture = stacks["staging"]
    doc = fixture.document()
    proxy, _ = named(doc, "aws_db_proxy", "database-proxy/proxy")
    doc["resource"].pop("aws_db_proxy_target")
    assert failing(doc, fixture.path, "PF305") == {address("aws_db_proxy", proxy)}


def test_an_instance_behind_the_proxy_without_max_connections_is_reported_once(stacks: dict[str, Fixture]) -> None:
    """The admin function names the instance's master secret but connects through the proxy: one connection path."""
    fixture = stacks["staging"]
    doc = fixture.document()
    db, _ = named(doc, "aws_db_instance", "database/instance")
    _, group = named(doc, "aws_db_parameter_group", "database/parameters")
    group["parameter"] = [p for p in group["parameter"] if p["name"] != "max_connections"]
    reported = [f.resource for f in findings(doc, fixture.path) if f.check_id == "PF305"]
    assert reported == [address("aws_db_instance", db)]


def test_a_function_bypassing_the_proxy_shares_the_instance_with_the_proxys_pool(stacks: dict[str, Fixture]) -> None:
    """Connections straight to the instance and the proxy's connections for its clients add up there."""
    fixture = stacks["staging"]
    doc = fixture.document()
    db, _ = named(doc, "aws_db_instance", "database/instance")
    _, processor = named(doc, "aws_lambda_function", "processor/function")
    processor["environment"]["variables"]["DB_HOST"] = f"${{aws_db_instance.{db}.address}}"
    # 96 direct + (40 + 2 + 2 = 44 through the proxy, within its 135) = 140 = 150 - 10 kept.
    processor["reserved_concurrent_executions"] = 96
    assert failing(doc, fixture.path, "PF305") == set()
    processor["reserved_concurrent_executions"] = 97
    (finding,) = [f for f in findings(doc, fixture.path) if f.check_id == "PF305"]
    assert finding.resource == address("aws_db_instance", db)
    assert finding.message.startswith("141 connections (97 from ") and "44 through aws_db_proxy." in finding.message
