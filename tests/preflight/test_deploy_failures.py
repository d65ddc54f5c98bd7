"""The catalog of deploy failures (``preflight.failures``): each one, written into the project's dev stack as
it happened, is caught with an error by a check that declares it prevents that failure, and the README's
table of them says what the catalog and the registry say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from preflight.failures import FAILURES
from preflight.model import Severity
from preflight.registry import all_checks
from tests.preflight.conftest import Fixture
from tests.preflight.deploy_failures import REPRODUCTIONS
from tests.preflight.mutations import findings


@pytest.mark.parametrize("failure", list(REPRODUCTIONS))
def test_the_failure_is_caught(stacks: dict[str, Fixture], failure: str) -> None:
    fixture = stacks["dev"]
    document = fixture.document()
    assert not findings(document, fixture.path)
    REPRODUCTIONS[failure](document)
    errors = {f.check_id for f in findings(document, fixture.path) if f.severity is Severity.ERROR}
    built_for = {c.id for c in all_checks() if failure in c.prevents}
    assert errors & built_for, f"{failure}: errors {sorted(errors)}, checks for it {sorted(built_for)}"


def test_each_catalogued_failure_has_a_stable_slug_the_error_it_gave_and_its_effect() -> None:
    assert list(FAILURES) == list(REPRODUCTIONS)
    for slug, failure in FAILURES.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", slug) and failure.slug == slug
        assert failure.title and failure.error and failure.effect, slug


README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_each_failure_with_the_error_it_gave_and_the_checks_that_prevent_it() -> None:
    rows: dict[str, tuple[str, list[str]]] = {}
    for line in README.read_text().splitlines():
        row = re.fullmatch(r"\| `([a-z0-9-]+)` \| (.+) \| (PF\d{3}(?:, PF\d{3})*) \|", line)
        if row:
            rows[row.group(1)] = (row.group(2), row.group(3).split(", "))
    assert list(rows) == list(FAILURES)
    for slug, (error, checks) in rows.items():
        assert checks == [c.id for c in all_checks() if slug in c.prevents], slug
        quoted = re.findall(r"`([^`]+)`", error)
        if quoted:
            assert quoted == [FAILURES[slug].error], slug
        else:  # a failure AWS accepted silently: no error to quote
            assert error.startswith(FAILURES[slug].error), slug
