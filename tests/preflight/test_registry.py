"""The registry: every check declares itself completely, and a check it could not report consistently is
refused."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from preflight.failures import FAILURES
from preflight.model import Configuration, Severity
from preflight.registry import REGISTRY, Issue, all_checks, check


def _nothing(config: Configuration) -> Iterable[Issue]:
    """A check that finds nothing."""
    return ()


def _register(id: str, *, defect_class: int = 7, prevents: tuple[str, ...] = ()) -> None:
    check(
        id,
        title="t",
        severity=Severity.WARNING,
        defect_class=defect_class,
        rationale="r",
        fix="f",
        prevents=prevents,
    )(_nothing)


def test_an_id_cannot_be_registered_twice() -> None:
    before = dict(REGISTRY)
    taken = all_checks()[0].id
    with pytest.raises(ValueError, match=f"check id {taken} registered twice"):
        _register(taken)
    assert before == REGISTRY


@pytest.mark.parametrize(
    ("defect_class", "prevents"), [(10, ()), (7, ("bucket-gone-missing",))], ids=["class", "deploy-failure"]
)
def test_a_check_must_belong_to_a_known_class_and_prevent_catalogued_failures(
    defect_class: int, prevents: tuple[str, ...]
) -> None:
    all_checks()
    with pytest.raises(ValueError, match="PF998: unknown defect class or deploy failure"):
        _register("PF998", defect_class=defect_class, prevents=prevents)
    assert "PF998" not in REGISTRY


def test_registry_entries_are_complete() -> None:
    checks = all_checks()
    assert len(checks) == len(REGISTRY) >= 30
    for registered in checks:
        assert registered.id.startswith("PF") and len(registered.id) == 5
        assert registered.title and registered.fix and len(registered.rationale) > 60
        assert registered.function.__doc__, f"{registered.id} needs a docstring"
    covered = {slug for c in checks for slug in c.prevents}
    assert covered == set(FAILURES)
    assert {c.defect_class for c in checks} == set(range(1, 10))  # the issue's seven, 8: webhooks' reach, 9: acquirers
