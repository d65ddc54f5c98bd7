"""Each of the seed post-mortem's ten defects, written into the project's dev stack as the earlier
attempt had it, is caught with an error by the check built for it."""

from __future__ import annotations

import pytest

from preflight.model import Severity
from preflight.registry import all_checks
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import findings
from tests.preflight.seed_defects import SEED


@pytest.mark.parametrize("defect", sorted(SEED))
def test_the_seed_defect_is_caught(stacks: dict[str, Fixture], defect: int) -> None:
    fixture = stacks["dev"]
    document = fixture.document()
    assert not findings(document, fixture.path)
    SEED[defect](document)
    errors = {f.check_id for f in findings(document, fixture.path) if f.severity is Severity.ERROR}
    built_for = {c.id for c in all_checks() if defect in c.seed_defects}
    assert errors & built_for, f"defect {defect}: errors {sorted(errors)}, checks for it {sorted(built_for)}"
