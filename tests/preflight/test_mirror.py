"""The check tests mirror the checks: every module of ``preflight.checks`` has its
``tests/preflight/checks/test_<module>.py``, and every check of one configuration has a case (a stack
mutation and the exact resources it must report) in the test module of its own module."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import preflight.checks
from preflight.registry import all_checks
from tests.preflight.checks.cases import Case

TESTS = Path(__file__).parent / "checks"


def _modules() -> list[str]:
    return sorted(module.name for module in pkgutil.iter_modules(preflight.checks.__path__))


def _cases(module: str) -> list[Case]:
    cases: list[Case] = getattr(importlib.import_module(f"tests.preflight.checks.test_{module}"), "CASES", [])
    return cases


def test_every_module_of_checks_has_its_test_module() -> None:
    missing = [module for module in _modules() if not (TESTS / f"test_{module}.py").is_file()]
    assert missing == [], f"write tests/preflight/checks/test_<module>.py for {missing}"
    strays = {path.stem.removeprefix("test_") for path in TESTS.glob("test_*.py")} - set(_modules())
    assert strays == set(), "a test module of checks is named after a module that does not exist"


def test_every_check_has_a_case_in_the_tests_of_its_module() -> None:
    """Checks across configurations (PF110) have their tests in test_collisions.py, on two stacks at once."""
    cased = {(module, case.check_id) for module in _modules() for case in _cases(module)}
    expected = {
        (registered.function.__module__.rsplit(".", 1)[1], registered.id)
        for registered in all_checks()
        if not registered.across
    }
    assert cased == expected
