"""The registry refuses a check it could not report consistently."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from preflight.model import Configuration, Severity
from preflight.registry import REGISTRY, Issue, all_checks, check


def _nothing(config: Configuration) -> Iterable[Issue]:
    """A check that finds nothing."""
    return ()


def _register(id: str, *, defect_class: int = 7, seed_defects: tuple[int, ...] = ()) -> None:
    check(
        id,
        title="t",
        severity=Severity.WARNING,
        defect_class=defect_class,
        rationale="r",
        fix="f",
        seed_defects=seed_defects,
    )(_nothing)


def test_an_id_cannot_be_registered_twice() -> None:
    before = dict(REGISTRY)
    taken = all_checks()[0].id
    with pytest.raises(ValueError, match=f"check id {taken} registered twice"):
        _register(taken)
    assert before == REGISTRY


@pytest.mark.parametrize(("defect_class", "seed_defects"), [(10, ()), (7, (11,))], ids=["class", "seed-defect"])
def test_a_check_must_belong_to_a_known_class_and_seed_defect(defect_class: int, seed_defects: tuple[int, ...]) -> None:
    all_checks()
    with pytest.raises(ValueError, match="PF998: unknown defect class or seed defect"):
        _register("PF998", defect_class=defect_class, seed_defects=seed_defects)
    assert "PF998" not in REGISTRY
