"""The case tables of the check tests: a mutation of one of the project's stacks and the exact resources
one check must then report, and the mutations the tables of several check modules share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.preflight.conftest import Fixture
from tests.preflight.mutations import Document, address, failing, named


@dataclass(frozen=True)
class Case:
    """One mutation and the exact resources a check must then report."""

    check_id: str
    name: str
    stack: str
    mutate: Callable[[Document], set[str]]  # mutates in place, returns the addresses that must fail
    # Puts the stack in the state the check passes on first, for checks whose subject the project's
    # infrastructure is still being moved to (authorized methods, an application database secret).
    prepare: Callable[[Document], object] | None = None

    def __str__(self) -> str:
        return f"{self.check_id}-{self.name}"


def reports_exactly(stacks: dict[str, Fixture], case: Case) -> None:
    """The unmutated stack passes the case's check; once mutated, the check reports exactly the resources the
    mutation says."""
    fixture = stacks[case.stack]
    document = fixture.document()
    if case.prepare is not None:
        case.prepare(document)
    assert failing(document, fixture.path, case.check_id) == set(), "the unmutated stack must pass"
    expected = case.mutate(document)
    assert failing(document, fixture.path, case.check_id) == expected


DELETE = object()


def set_attributes(doc: Document, kind: str, path_end: str, **changes: object) -> set[str]:
    """Set (or, with ``DELETE``, remove) arguments of one resource; returns its address."""
    name, body = named(doc, kind, path_end)
    for key, value in changes.items():
        if value is DELETE:
            body.pop(key, None)
        else:
            body[key] = value
    return {address(kind, name)}


def added(kind: str, name: str, body: dict[str, object], *, data: bool = False) -> Callable[[Document], set[str]]:
    """Add a resource (or data source); it is what fails."""

    def mutate(doc: Document) -> set[str]:
        doc.setdefault("data" if data else "resource", {}).setdefault(kind, {})[name] = body
        return {f"{'data.' if data else ''}{kind}.{name}"}

    return mutate


def backend(**changes: object) -> Callable[[Document], set[str]]:
    """Change (or, with ``DELETE``, remove) arguments of the S3 backend."""

    def mutate(doc: Document) -> set[str]:
        backend = doc["terraform"]["backend"]["s3"]
        for key, value in changes.items():
            if value is DELETE:
                backend.pop(key, None)
            else:
                backend[key] = value
        return {"terraform.backend.s3"}

    return mutate
