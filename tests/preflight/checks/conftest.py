"""The check tests' fixture, and assertion rewriting for ``cases``, whose ``reports_exactly`` holds the
assertions of every case table."""

from __future__ import annotations

import pytest

from tests.preflight.conftest import Fixture

pytest.register_assert_rewrite("tests.preflight.checks.cases")


@pytest.fixture
def dev(stacks: dict[str, Fixture]) -> Fixture:
    """The dev platform stack: four functions (processor and delivery job sharing one role, the authorizer
    and the admin function each with their own) behind one REST API, in a VPC, with a KMS key, all sharing
    the real package."""
    return stacks["dev"]
