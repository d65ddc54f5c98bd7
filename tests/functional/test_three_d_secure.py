"""3-D Secure as a payment state, on the real PostgreSQL with the Stripe connector against localstripe: a card
that asks for authentication makes the payment ``requires_action`` (nothing charged), and the merchant's confirm
or the scheduled job settles it as the cardholder left it; a cardholder who never authenticates has the
authorization canceled at localstripe and the payment failed. Money counted on localstripe's side.

The cardholder is played by the test: it authenticates through localstripe's own ``_authenticate`` endpoint
with the PaymentIntent's client secret, as Stripe.js's handleNextAction does in a browser."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any, cast

import pytest

from payment_processor.connectors.stripe import StripeConnector
from payment_processor.errors import NotFound, PaymentStateConflict, StillProcessing
from payment_processor.operations.confirm import AUTHENTICATION_WINDOW_S
from payment_processor.payment import utc_now
from payment_processor.service import PaymentService
from tests.conftest import MERCHANT, Services
from tests.fakes.localstripe_server import SECRET_KEY, THREE_D_SECURE, VISA, LocalStripe
from tests.functional.test_payment_attempts import attempts, create
from tests.functional.test_postgres_flow import build_service

pytestmark = pytest.mark.functional


def authenticate(stripe_fake: LocalStripe, payment_id: str, *, success: bool) -> None:
    """The cardholder answers the challenge (Stripe.js in their browser, with the intent's client secret)."""
    (intent,) = stripe_fake.intents(payment_id)
    stripe_fake.post(
        f"/v1/payment_intents/{intent['id']}/_authenticate",
        {"client_secret": intent["client_secret"], "success": "true" if success else "false"},
    )


def confirm(service: PaymentService, payment_id: str, key: str, merchant: str = MERCHANT) -> tuple[int, dict[str, Any]]:
    outcome = service.confirm_payment(merchant, payment_id, key)
    return outcome.response.status, json.loads(outcome.response.body)


def events(services: Services, payment_id: str) -> list[str]:
    with services.admin() as conn:
        rows = conn.execute(
            "SELECT event_type FROM transaction_log_outbox WHERE payment_id = %s ORDER BY id", (payment_id,)
        ).fetchall()
    return [cast(str, row[0]) for row in rows]  # event_type is text


def make_due(services: Services, payment_id: str) -> None:
    """The job's poll interval passed (the database's clock decides what is due)."""
    with services.admin() as conn:
        conn.execute(
            "UPDATE payments SET next_resolution_at = now() - interval '1 second' WHERE id = %s", (payment_id,)
        )


def challenged(service: PaymentService, stripe_fake: LocalStripe, key: str, **fields: Any) -> dict[str, Any]:
    status, payment = create(service, stripe_fake.card(THREE_D_SECURE), key, **fields)
    assert (status, payment["status"]) == (202, "requires_action"), payment
    return payment


def test_a_3ds_card_waits_for_its_cardholder_then_the_merchants_confirm_settles_it(
    clean: Services, stripe_service: PaymentService, stripe_fake: LocalStripe
) -> None:
    status, payment = create(stripe_service, stripe_fake.card(THREE_D_SECURE), "k-3ds")
    assert (status, payment["status"], payment["failure_code"]) == (202, "requires_action", None)
    assert payment["next_action"]["type"] == "use_stripe_sdk", "Stripe's next_action, passed through"
    assert payment["authorization_code"] is None and payment["amount_captured"] == 0
    assert attempts(stripe_service, payment["id"]) == [("stripe", "requires_action", None)]
    assert stripe_fake.charges(payment["id"]) == [], "nothing moves before the cardholder authenticates"
    # Confirmed too early: still waiting, unchanged (202), and nothing sent that moves money.
    early_status, early = confirm(stripe_service, payment["id"], "k-confirm-early")
    assert (early_status, early["status"]) == (202, "requires_action")

    authenticate(stripe_fake, payment["id"], success=True)
    status, settled = confirm(stripe_service, payment["id"], "k-confirm")
    assert (status, settled["status"], settled["amount_captured"], settled["next_action"]) == (
        200,
        "succeeded",
        1500,
        None,
    )
    assert settled["authorization_code"] == stripe_fake.intents(payment["id"])[0]["id"]
    assert attempts(stripe_service, payment["id"]) == [("stripe", "approved", None)]
    assert len(stripe_fake.charges(payment["id"])) == 1
    assert events(clean, payment["id"]) == ["payment.processing", "payment.requires_action", "payment.succeeded"]
    # Each key keeps its own answer: the create's key still replays the 202 it gave, the confirm's its 200.
    replay = stripe_service.create_payment(MERCHANT, _body(stripe_fake, payment), "k-3ds")
    assert (replay.replayed, replay.response.status, json.loads(replay.response.body)["status"]) == (
        True,
        202,
        "requires_action",
    )
    again = stripe_service.confirm_payment(MERCHANT, payment["id"], "k-confirm")
    assert (again.replayed, again.response.status) == (True, 200)
    # Settled: a new confirm is a conflict naming the state; the follow-ups find the connector that authorized.
    with pytest.raises(PaymentStateConflict) as conflict:
        confirm(stripe_service, payment["id"], "k-confirm-late")
    assert conflict.value.payment_status == "succeeded"
    refunded = stripe_service.refund_payment(MERCHANT, payment["id"], 500, None, "k-refund")
    assert json.loads(refunded.response.body)["status"] == "succeeded"
    assert len(stripe_fake.charges(payment["id"])) == 1


def _body(stripe_fake: LocalStripe, payment: dict[str, Any]) -> Any:
    from payment_processor.validation import parse_payment_request

    return parse_payment_request({"amount": 1500, "currency": "EUR", "payment_method": payment["payment_method"]})


def test_a_manual_3ds_payment_is_authorized_by_the_confirm_and_captured_after(
    stripe_service: PaymentService, stripe_fake: LocalStripe
) -> None:
    payment = challenged(stripe_service, stripe_fake, "k-manual", capture_method="manual")
    authenticate(stripe_fake, payment["id"], success=True)
    status, settled = confirm(stripe_service, payment["id"], "k-confirm")
    assert (status, settled["status"], settled["amount_captured"]) == (200, "requires_capture", 0)
    captured = stripe_service.capture_payment(MERCHANT, payment["id"], 1200, "k-capture")
    assert json.loads(captured.response.body)["amount_captured"] == 1200
    assert stripe_fake.intents(payment["id"])[0]["status"] == "succeeded"


def test_a_failed_authentication_declines_the_payment_and_charges_nothing(
    clean: Services, stripe_service: PaymentService, stripe_fake: LocalStripe
) -> None:
    payment = challenged(stripe_service, stripe_fake, "k-fail")
    authenticate(stripe_fake, payment["id"], success=False)
    status, declined = confirm(stripe_service, payment["id"], "k-confirm")
    assert (status, declined["status"], declined["decline_code"]) == (402, "declined", "authentication_required")
    assert declined["error"]["code"] == "card_declined"
    assert attempts(stripe_service, payment["id"]) == [("stripe", "declined", "authentication_required")]
    assert stripe_fake.charges(payment["id"]) == []
    assert events(clean, payment["id"])[-1] == "payment.declined"


def test_confirm_is_the_callers_own_payment_in_requires_action_only(
    stripe_service: PaymentService, stripe_fake: LocalStripe
) -> None:
    payment = challenged(stripe_service, stripe_fake, "k-own")
    with pytest.raises(NotFound):
        confirm(stripe_service, payment["id"], "k-other", merchant="merchant_other")
    with pytest.raises(NotFound):
        confirm(stripe_service, "pay_" + "a" * 26, "k-unknown")
    status, plain = create(stripe_service, stripe_fake.card(VISA), "k-plain")
    assert status == 201
    with pytest.raises(PaymentStateConflict) as conflict:
        confirm(stripe_service, plain["id"], "k-plain-confirm")
    assert conflict.value.payment_status == "succeeded"
    # The refusals kept no key: the same keys work for a request that fits.
    authenticate(stripe_fake, payment["id"], success=True)
    assert confirm(stripe_service, payment["id"], "k-other")[0] == 200


def test_the_job_settles_a_payment_nobody_confirms(
    clean: Services, stripe_service: PaymentService, stripe_fake: LocalStripe
) -> None:
    payment = challenged(stripe_service, stripe_fake, "k-job")
    report = stripe_service.resolve_processing(older_than_s=0)
    assert report.authentications.answered == 0, "not due before the poll interval"
    make_due(clean, payment["id"])
    report = stripe_service.resolve_processing(older_than_s=0)
    assert report.authentications.answered == 1
    assert stripe_service.get_payment(MERCHANT, payment["id"]).status == "requires_action", "still waiting"
    authenticate(stripe_fake, payment["id"], success=True)
    assert stripe_service.resolve_processing(older_than_s=0).authentications.answered == 0, "pushed back a poll"
    make_due(clean, payment["id"])
    report = stripe_service.resolve_processing(older_than_s=0)
    assert (report.authentications.answered, report.error) == (1, None)
    assert stripe_service.get_payment(MERCHANT, payment["id"]).status == "succeeded"
    assert len(stripe_fake.charges(payment["id"])) == 1
    assert events(clean, payment["id"]) == ["payment.processing", "payment.requires_action", "payment.succeeded"]
    # The create's key still answers what it answered.
    with clean.admin() as conn:
        row = conn.execute("SELECT response_status FROM idempotency_keys WHERE idempotency_key = 'k-job'").fetchone()
    assert row == (202,)


def test_a_cardholder_who_never_authenticates_is_canceled_at_the_acquirer_and_the_payment_fails(
    clean: Services, stripe_service: PaymentService, stripe_fake: LocalStripe
) -> None:
    payment = challenged(stripe_service, stripe_fake, "k-abandoned")
    stripe_service.context.clock = lambda: utc_now() + timedelta(seconds=AUTHENTICATION_WINDOW_S + 1)
    make_due(clean, payment["id"])
    report = stripe_service.resolve_processing(older_than_s=0)
    assert report.authentications.answered == 1
    failed = stripe_service.get_payment(MERCHANT, payment["id"])
    assert (failed.status, failed.failure_code, failed.next_action) == ("failed", "authentication_abandoned", None)
    assert stripe_fake.intents(payment["id"])[0]["status"] == "canceled"
    assert stripe_fake.charges(payment["id"]) == []
    # The cardholder comes back too late: localstripe refuses, and nothing is charged.
    with pytest.raises(Exception):  # noqa: B017,PT011 - localstripe's 400 for an intent no longer requires_action
        authenticate(stripe_fake, payment["id"], success=True)
    assert stripe_fake.charges(payment["id"]) == []


def test_a_cardholder_who_finishes_as_the_window_closes_is_settled_not_canceled(
    clean: Services, stripe_service: PaymentService, stripe_fake: LocalStripe
) -> None:
    payment = challenged(stripe_service, stripe_fake, "k-late")
    authenticate(stripe_fake, payment["id"], success=True)
    stripe_service.context.clock = lambda: utc_now() + timedelta(seconds=AUTHENTICATION_WINDOW_S + 1)
    make_due(clean, payment["id"])
    stripe_service.resolve_processing(older_than_s=0)
    # The cancel was refused (the intent had succeeded), and the status query settled it as the cardholder left it.
    assert stripe_service.get_payment(MERCHANT, payment["id"]).status == "succeeded"
    assert len(stripe_fake.charges(payment["id"])) == 1


def test_confirm_without_an_answer_from_stripe_is_503_and_the_same_key_settles_it_later(
    clean: Services, stripe_service: PaymentService, stripe_fake: LocalStripe
) -> None:
    payment = challenged(stripe_service, stripe_fake, "k-outage")
    authenticate(stripe_fake, payment["id"], success=True)
    reachable = stripe_service.context.connector
    # A stopped acquirer: a port on loopback nothing listens on (connections refused).
    stripe_service.context.connector = StripeConnector(SECRET_KEY, api_base="http://127.0.0.1:9")
    with pytest.raises(StillProcessing):
        confirm(stripe_service, payment["id"], "k-confirm")
    assert stripe_service.get_payment(MERCHANT, payment["id"]).status == "requires_action"
    stripe_service.context.connector = reachable
    status, settled = confirm(stripe_service, payment["id"], "k-confirm")
    assert (status, settled["status"]) == (200, "succeeded")
    assert len(stripe_fake.charges(payment["id"])) == 1


def test_concurrent_confirms_and_the_job_settle_it_once(
    clean: Services, stripe_service: PaymentService, stripe_fake: LocalStripe
) -> None:
    payment = challenged(stripe_service, stripe_fake, "k-race")
    authenticate(stripe_fake, payment["id"], success=True)
    make_due(clean, payment["id"])
    services = [build_service(clean.settings()) for _ in range(3)]
    for service, _ in services:
        service.context.connector = stripe_service.context.connector
    answers: list[Any] = []
    start = threading.Barrier(4)

    def confirming(service: PaymentService, key: str) -> None:
        start.wait()
        try:
            answers.append(confirm(service, payment["id"], key))
        except PaymentStateConflict as exc:  # it arrived once another had settled it
            answers.append((409, {"status": exc.payment_status}))

    def job(service: PaymentService) -> None:
        start.wait()
        answers.append(service.resolve_processing(older_than_s=0).error)

    threads = [
        threading.Thread(target=confirming, args=(services[0][0], "k-a")),
        threading.Thread(target=confirming, args=(services[1][0], "k-b")),
        threading.Thread(target=job, args=(services[2][0],)),
    ]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join()
    for _, database in services:
        database.close()
    confirmed = [answer for answer in answers if isinstance(answer, tuple)]
    assert sorted(status for status, _ in confirmed) in ([200, 200], [200, 409])
    assert {body["status"] for _, body in confirmed} == {"succeeded"}
    assert events(clean, payment["id"]).count("payment.succeeded") == 1
    assert len(stripe_fake.charges(payment["id"])) == 1
