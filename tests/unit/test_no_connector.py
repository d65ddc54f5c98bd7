"""A merchant with no acquirer where the simulated one may not stand in (prod): 503 no_connector, nothing
recorded, nothing sent; and the setting that decides it, which fails closed."""

from __future__ import annotations

import pytest

from payment_processor.config import Settings
from payment_processor.connectors.base import Authorization, AuthorizeRequest, Forgetful
from payment_processor.connectors.outcomes import Refused
from payment_processor.connectors.unconfigured import Unconfigured
from tests.support import body_of, payment_body, post_payment
from tests.unit.conftest import App
from tests.unit.test_merchant_api import get

BASE = {"DB_HOST": "h", "DB_NAME": "n", "DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:x"}


def test_a_payment_is_refused_before_anything_is_recorded(app: App) -> None:
    app.service.context.connector = Unconfigured()
    for attempt in range(2):  # the same key again is refused again: no key was kept
        response = app.api.handle(post_payment(payment_body(), key="prod-1"))
        assert response["statusCode"] == 503, attempt
        error = body_of(response)["error"]
        assert error["code"] == "no_connector" and "nothing was recorded" in error["message"]
        assert response["headers"]["Retry-After"] == "60"
    assert body_of(get(app, "/payments"))["data"] == [] and app.store._state.keys == {}


def test_anything_that_still_reaches_it_is_refused_nothing_processed() -> None:
    unconfigured = Unconfigured()
    request = AuthorizeRequest("pay_x", "pay_x", 100, "EUR", "tok_visa", True)
    assert isinstance(unconfigured.authorize(request, Forgetful(), timeout_s=1), Refused)
    held = Authorization("ref", "tok_visa", "EUR", 100)
    outcomes = [
        unconfigured.capture(held, amount=100, key="k", timeout_s=1),
        unconfigured.cancel(held, key="k", timeout_s=1),
        unconfigured.increment_authorization(held, amount=200, key="k", timeout_s=1),
        unconfigured.refund(held, amount=100, key="k", timeout_s=1),
    ]
    assert all(isinstance(o, Refused) for o in outcomes)


@pytest.mark.parametrize(("value", "allowed"), [("true", True), ("TRUE", True), ("false", False), (None, False)])
def test_the_simulated_acquirer_is_refused_unless_the_deployment_says_otherwise(
    value: str | None, allowed: bool
) -> None:
    env = BASE if value is None else {**BASE, "SIMULATED_ACQUIRER_ALLOWED": value}
    assert Settings.from_env(env).simulated_acquirer_allowed is allowed
