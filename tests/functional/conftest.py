"""Fixtures of the functional tier beyond the session's services (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from payment_processor import handler as handler_module
from payment_processor.connectors.stripe import StripeConnector
from payment_processor.service import PaymentService
from tests.conftest import Services
from tests.fakes.localstripe_server import SECRET_KEY, LocalStripe, localstripe


@pytest.fixture
def lambda_env(clean: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    """The function's environment, and a cold handler module (as in a new Lambda container)."""
    for key, value in clean.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(handler_module, "_service", None)
    return clean


@pytest.fixture(scope="session")
def stripe_fake() -> Iterator[LocalStripe]:
    """One localstripe for the session's Stripe tests (each counts by its own payments' metadata)."""
    with localstripe() as running:
        yield running


@pytest.fixture
def stripe_service(clean: Services, stripe_fake: LocalStripe) -> Iterator[PaymentService]:
    """The payment service on the real PostgreSQL with the Stripe connector on localstripe as its acquirer."""
    from tests.functional.test_postgres_flow import build_service

    service, database = build_service(clean.settings())
    service.context.connector = StripeConnector(SECRET_KEY, api_base=stripe_fake.api_base)
    yield service
    database.close()
