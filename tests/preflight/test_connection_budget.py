"""PF305 on the project's own stacks: the functions' reserved concurrency against the database's
max_connections. Each case shows the stack passing, then exactly what one change makes fail."""

from __future__ import annotations

import pytest

from tests.preflight.conftest import Fixture
from tests.preflight.mutations import address, failing, named


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
