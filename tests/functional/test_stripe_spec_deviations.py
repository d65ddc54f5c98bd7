"""The Stripe connector on what localstripe does not do (its deviations, listed in connectors/stripe.py), against
a server whose every answer is Stripe's shape by Stripe's published OpenAPI description (tests.fakes.stripe_openapi,
a pinned copy): ``decline_code`` mapped by the connector's table, ``increment_authorization`` approved and
refused, ``tok_…`` tokens, and ``Idempotency-Key`` sent on every call that moves money."""

from __future__ import annotations

from collections.abc import Iterator

import jsonschema
import pytest

from payment_processor.connectors.base import Authorization, AuthorizeRequest, Forgetful
from payment_processor.connectors.outcomes import Approved, Declined, Refused
from payment_processor.connectors.stripe import StripeConnector
from tests.fakes.stripe_openapi import check, made
from tests.fakes.stripe_spec_server import StripeSpecServer, stripe_spec_server

pytestmark = pytest.mark.functional


@pytest.fixture
def server() -> Iterator[StripeSpecServer]:
    with stripe_spec_server() as running:
        yield running
    assert running.invalid == [], "every answer the tests got was Stripe's shape"


def connector(server: StripeSpecServer) -> StripeConnector:
    return StripeConnector("sk_test_spec_0123456789", api_base=server.api_base)


def authorize(server: StripeSpecServer, token: str, *, capture: bool = True, key: str = "pay_spec") -> object:
    request = AuthorizeRequest(
        key=key, payment_id=key, amount=2000, currency="EUR", payment_method=token, capture=capture
    )
    return connector(server).authorize(request, Forgetful(), timeout_s=5)


@pytest.mark.parametrize(
    ("token", "ours", "stripes"),
    [
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "insufficient_funds"),
        ("pm_card_chargeDeclinedLostCard", "lost_or_stolen_card", "lost_card"),
    ],
)
def test_stripes_decline_code_is_mapped_by_the_connectors_table(
    server: StripeSpecServer, token: str, ours: str, stripes: str
) -> None:
    assert authorize(server, token) == Declined(ours, stripes)


def test_a_token_stripe_does_not_know_is_declined_as_unknown_not_refused(server: StripeSpecServer) -> None:
    # Stripe's 400 resource_missing on payment_method (localstripe answers 404): it will not work anywhere.
    assert authorize(server, "pm_cardMissing") == Declined("payment_method_unknown", "resource_missing")


def test_a_tok_token_authorizes_and_every_money_moving_call_carries_our_key(server: StripeSpecServer) -> None:
    outcome = authorize(server, "tok_visa", key="pay_tok")
    assert isinstance(outcome, Approved) and server.intents[outcome.reference]["status"] == "succeeded"
    assert server.idempotency_keys == ["pay_tok-create", "pay_tok-confirm"]


def test_increment_authorization_approved_and_refused(server: StripeSpecServer) -> None:
    held = authorize(server, "pm_card_visa", capture=False, key="pay_inc")
    assert isinstance(held, Approved)
    authorization = Authorization(held.reference, "pm_card_visa", "EUR", 2000)
    raised = connector(server).increment_authorization(authorization, amount=2600, key="act_inc", timeout_s=5)
    assert raised == Approved(held.reference) and server.intents[held.reference]["amount"] == 2600
    # Asked again under the same key (an answer lost on the way): Stripe replays, nothing is raised twice.
    again = connector(server).increment_authorization(authorization, amount=2600, key="act_inc", timeout_s=5)
    assert again == raised and server.idempotency_keys.count("act_inc") == 1

    refusing = authorize(server, "pm_card_visaIncrementRefused", capture=False, key="pay_inc_refused")
    assert isinstance(refusing, Approved)
    kept = Authorization(refusing.reference, "pm_card_visaIncrementRefused", "EUR", 2000)
    refused = connector(server).increment_authorization(kept, amount=2600, key="act_refused", timeout_s=5)
    assert refused == Declined("increment_refused", "card_declined")
    assert server.intents[refusing.reference]["amount"] == 2000


def test_the_description_catches_an_answer_that_is_not_stripes_shape() -> None:
    intent = made("payment_intent", id="pi_x", amount=100, currency="eur", status="succeeded")
    check("/v1/payment_intents/{intent}", "get", 200, intent)
    with pytest.raises(jsonschema.ValidationError):
        check("/v1/payment_intents/{intent}", "get", 200, {**intent, "amount": "100"})
    with pytest.raises(jsonschema.ValidationError):
        check("/v1/payment_intents", "post", 402, {"error": {"type": "card_error", "decline_code": 51}})
    with stripe_spec_server() as corrupted:
        corrupted.corrupt = True
        # The create's answer is refused by the server (500): nothing can have moved, so the connector says refused.
        assert isinstance(authorize(corrupted, "pm_card_visa"), Refused)
        assert corrupted.invalid == ["POST /v1/payment_intents 200: $.amount: '2000' is not of type 'integer'"]
