"""PF801 (``preflight.checks.webhooks``): webhook deliveries widened to loopback or plain http where real
merchants' URLs are called."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.preflight.checks.cases import Case, reports_exactly
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import Document, address, named


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


CASES = [
    Case("PF801", "loopback allowed in staging", "staging", _webhook_widening("WEBHOOKS_ALLOW_LOOPBACK")),
    Case("PF801", "plain http allowed in prod", "prod", _webhook_widening("WEBHOOKS_ALLOW_HTTP", "TRUE")),
    Case("PF801", "dev allows both", "dev", lambda d: set()),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly_the_mutated_resources(stacks: dict[str, Fixture], case: Case) -> None:
    reports_exactly(stacks, case)
