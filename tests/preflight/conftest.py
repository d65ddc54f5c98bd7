"""The preflight tier: the project's own synthesized stacks (once per session), mutated per test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from payments_infra.synth import SynthResult
from tests.preflight.mutations import Document, load_document


@dataclass(frozen=True)
class Fixture:
    """A synthesized stack: where it lives and a fresh copy of its document."""

    path: Path

    def document(self) -> Document:
        """A fresh, mutable copy."""
        return load_document(self.path)


@pytest.fixture(scope="session")
def stacks(synthesized: SynthResult) -> dict[str, Fixture]:
    """dev, staging, prod platform stacks, the dev bootstrap stack (suffix pr42) and the account stack."""
    found = {env: Fixture(synthesized.stack(env, "pr42").path) for env in ("dev", "staging", "prod")}
    found["bootstrap"] = Fixture(synthesized.stack("dev", "pr42", "bootstrap").path)
    found["account"] = Fixture(synthesized.account_stack("us-east-1").path)
    return found
