"""Incremental authorization (``POST /payments/{id}/increment_authorization``), the operation written only
through the driver: through the real Api and service over in-memory fakes. Against PostgreSQL in
tests/functional/test_increment_authorization.py, over HTTP in tests/emulator/test_merchant_api_http.py."""

from __future__ import annotations

from typing import Any

import pytest

from payment_processor.connectors.base import Authorization
from payment_processor.connectors.outcomes import FollowUpOutcome, Unknown
from payment_processor.connectors.simulated import SimulatedAcquirer
from tests.support import body_of, payment_body, post, post_payment
from tests.unit.conftest import App
from tests.unit.test_merchant_api import OTHER, authorize, charge, get


def increment(app: App, payment_id: str, body: Any, key: str = "inc", **kwargs: Any) -> dict[str, Any]:
    return app.api.handle(post(f"/payments/{payment_id}/increment_authorization", body, key=key, **kwargs))


def test_an_authorization_is_raised_and_a_capture_takes_the_new_total(app: App) -> None:
    payment = authorize(app, amount=1000)
    raised = increment(app, payment["id"], {"amount": 1500})
    assert raised["statusCode"] == 200, raised["body"]
    body = body_of(raised)
    assert (body["status"], body["amount"], body["amount_captured"]) == ("requires_capture", 1500, 0)
    assert body_of(get(app, f"/payments/{payment['id']}"))["amount"] == 1500
    captured = app.api.handle(post(f"/payments/{payment['id']}/capture", key="cap"))
    assert (body_of(captured)["status"], body_of(captured)["amount_captured"]) == ("succeeded", 1500)
    app.service.deliver_pending()
    names = sorted(key.rsplit("/", 1)[1] for key in app.sink.objects if payment["id"] in key)
    assert names == [
        "0001-payment.processing.json",
        "0002-payment.requires_capture.json",
        "0003-payment.authorization_incremented.json",
        "0004-payment.succeeded.json",
    ]


def test_it_is_idempotent_like_every_post(app: App) -> None:
    payment = authorize(app, amount=1000)
    first = increment(app, payment["id"], {"amount": 1200}, key="same")
    again = increment(app, payment["id"], {"amount": 1200}, key="same")
    assert again["body"] == first["body"] and again["headers"]["Idempotent-Replayed"] == "true"
    other = increment(app, payment["id"], {"amount": 1300}, key="same")
    assert (other["statusCode"], body_of(other)["error"]["code"]) == (422, "idempotency_key_reused")
    # The same key on another route is another request.
    elsewhere = app.api.handle(post(f"/payments/{payment['id']}/capture", {"amount": 1200}, key="same"))
    assert (elsewhere["statusCode"], body_of(elsewhere)["error"]["code"]) == (422, "idempotency_key_reused")
    assert body_of(get(app, f"/payments/{payment['id']}"))["amount"] == 1200


@pytest.mark.parametrize("amount", [1000, 999, 1])
def test_an_amount_not_above_the_current_one_is_422_and_keeps_no_key(app: App, amount: int) -> None:
    payment = authorize(app, amount=1000)
    refused = increment(app, payment["id"], {"amount": amount}, key="k")
    assert refused["statusCode"] == 422
    assert (body_of(refused)["error"]["code"], body_of(refused)["error"]["field"]) == (
        "amount_not_above_authorized",
        "amount",
    )
    assert increment(app, payment["id"], {"amount": 1001}, key="k")["statusCode"] == 200


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"amount": None},
        {"amount": "2000"},
        {"amount": 20.5},
        {"amount": True},
        {"amount": 100_000_000},
        {"amount": 2000, "currency": "EUR"},
    ],
)
def test_a_body_without_one_integer_amount_is_refused(app: App, body: Any) -> None:
    payment = authorize(app, amount=1000)
    refused = increment(app, payment["id"], body)
    assert refused["statusCode"] == 422, refused["body"]
    assert body_of(get(app, f"/payments/{payment['id']}"))["amount"] == 1000


def test_any_state_but_requires_capture_is_409(app: App) -> None:
    automatic = charge(app, key="auto")
    declined = body_of(app.api.handle(post_payment(payment_body(payment_method="tok_chargeDeclined"), key="no")))
    captured = authorize(app, key="cap-me")
    app.api.handle(post(f"/payments/{captured['id']}/capture", key="c"))
    canceled = authorize(app, key="cancel-me")
    app.api.handle(post(f"/payments/{canceled['id']}/cancel", key="x"))
    refunded = charge(app, key="refund-me")
    app.api.handle(post(f"/payments/{refunded['id']}/refunds", key="r"))
    for payment, status in (
        (automatic, "succeeded"),
        (declined, "declined"),
        (captured, "succeeded"),
        (canceled, "canceled"),
        (refunded, "refunded"),
    ):
        refused = increment(app, payment["id"], {"amount": 5000}, key=f"i-{payment['id']}")
        assert refused["statusCode"] == 409, status
        assert body_of(refused)["error"]["code"] == "payment_state_conflict"
        assert body_of(refused)["error"]["payment_status"] == status


def test_another_merchants_payment_is_404_like_an_unknown_one(app: App) -> None:
    payment = authorize(app)
    theirs = increment(app, payment["id"], {"amount": 5000}, merchant=OTHER)
    unknown = increment(app, "pay_" + "a" * 26, {"amount": 5000})
    malformed = increment(app, "not-an-id", {"amount": 5000})
    assert theirs["statusCode"] == unknown["statusCode"] == malformed["statusCode"] == 404
    assert body_of(theirs) == body_of(unknown)
    assert body_of(get(app, f"/payments/{payment['id']}"))["amount"] == 1999


def test_a_read_only_key_cannot_increment(app: App) -> None:
    payment = authorize(app)
    refused = increment(app, payment["id"], {"amount": 5000}, read_only=True)
    assert (refused["statusCode"], body_of(refused)["error"]["code"]) == (403, "insufficient_permissions")


def test_the_acquirer_refusal_token_leaves_the_amount(app: App) -> None:
    payment = authorize(app, amount=1000, payment_method="tok_incrementRefused")
    refused = increment(app, payment["id"], {"amount": 2000})
    assert refused["statusCode"] == 402
    body = body_of(refused)
    assert (body["error"]["code"], body["status"], body["amount"]) == ("increment_refused", "requires_capture", 1000)
    assert app.api.handle(post(f"/payments/{payment['id']}/capture", key="c"))["statusCode"] == 200


class Silent(SimulatedAcquirer):
    """Increments get no answer while ``down``; every other call answers."""

    down = True
    asked: int = 0

    def increment_authorization(
        self, authorization: Authorization, *, amount: int, key: str, timeout_s: float
    ) -> FollowUpOutcome:
        self.asked += 1
        if self.down:
            return Unknown("no route to the acquirer")
        return super().increment_authorization(authorization, amount=amount, key=key, timeout_s=timeout_s)


def test_recorded_before_the_acquirer_is_asked_then_finished_by_the_job(app: App) -> None:
    acquirer = Silent()
    app.service.context.connector = acquirer
    payment = authorize(app, amount=1000)
    waiting = increment(app, payment["id"], {"amount": 3000}, key="grow")
    assert (waiting["statusCode"], body_of(waiting)["error"]["code"]) == (503, "payment_processing")
    assert acquirer.asked == 1 and app.store.get_action(payment["id"]) is not None
    assert body_of(get(app, f"/payments/{payment['id']}"))["amount"] == 1000
    # Nothing else may act on the payment meanwhile.
    blocked = app.api.handle(post(f"/payments/{payment['id']}/capture", key="cap"))
    assert blocked["statusCode"] == 409 and "already waiting" in body_of(blocked)["error"]["message"]
    acquirer.down = False
    app.store.make_resolution_due()
    assert app.service.resolve_processing(older_than_s=0).settled == 1
    assert body_of(get(app, f"/payments/{payment['id']}"))["amount"] == 3000
    replay = increment(app, payment["id"], {"amount": 3000}, key="grow")
    assert replay["statusCode"] == 200 and body_of(replay)["amount"] == 3000
    assert acquirer.asked == 2
