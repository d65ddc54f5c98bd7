"""Fixtures of the functional tier beyond the session's services (tests/conftest.py)."""

from __future__ import annotations

import pytest

from payment_processor import handler as handler_module
from tests.conftest import Services


@pytest.fixture
def lambda_env(clean: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    """The function's environment, and a cold handler module (as in a new Lambda container)."""
    for key, value in clean.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(handler_module, "_service", None)
    return clean
