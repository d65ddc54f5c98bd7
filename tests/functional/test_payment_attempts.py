"""Payments through a connector on the real PostgreSQL: each attempt recorded before it is sent, its outcome
written with the answer, and the Stripe connector against localstripe charging once through crashes and
retries (money counted on localstripe's side)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from payment_processor.connectors.base import AuthorizeRequest, Connector, Journal
from payment_processor.connectors.outcomes import AuthorizeOutcome, Unknown
from payment_processor.connectors.stripe import StripeConnector
from payment_processor.errors import StillProcessing
from payment_processor.payment import new_attempt_id
from payment_processor.service import PaymentService
from payment_processor.validation import parse_payment_request
from tests.conftest import MERCHANT, Services
from tests.fakes.localstripe_server import DECLINED, THREE_D_SECURE, VISA, LocalStripe
from tests.functional.test_postgres_flow import build_service

pytestmark = pytest.mark.functional


def create(service: PaymentService, token: str, key: str, **fields: Any) -> tuple[int, dict[str, Any]]:
    body = {"amount": 1500, "currency": "EUR", "payment_method": token, **fields}
    outcome = service.create_payment(MERCHANT, parse_payment_request(body), key)
    return outcome.response.status, json.loads(outcome.response.body)


def attempts(service: PaymentService, payment_id: str) -> list[tuple[str, str, str | None]]:
    shown = service.payment_with_attempts(MERCHANT, payment_id)["attempts"]
    return [(a["connector"], a["outcome"], a["decline_code"]) for a in shown]


def test_a_stripe_payment_manual_capture_refund_through_the_protocol(
    stripe_service: PaymentService, stripe_fake: LocalStripe
) -> None:
    status, payment = create(stripe_service, stripe_fake.card(VISA), "k-manual", capture_method="manual")
    assert (status, payment["status"]) == (201, "requires_capture")
    assert payment["authorization_code"].startswith("pi_")
    assert attempts(stripe_service, payment["id"]) == [("stripe", "approved", None)]
    captured = stripe_service.capture_payment(MERCHANT, payment["id"], 1000, "k-capture")
    assert json.loads(captured.response.body)["amount_captured"] == 1000
    refunded = stripe_service.refund_payment(MERCHANT, payment["id"], 400, None, "k-refund")
    assert json.loads(refunded.response.body)["status"] == "succeeded"
    assert len(stripe_fake.charges(payment["id"])) == 1
    intent = stripe_fake.intents(payment["id"])[0]
    assert intent["latest_charge"]["amount"] - intent["latest_charge"]["amount_refunded"] == 1000 - 500 + 500 - 400


def test_a_declined_card_and_a_3ds_card_charge_nothing_and_say_why(
    stripe_service: PaymentService, stripe_fake: LocalStripe
) -> None:
    status, declined = create(stripe_service, stripe_fake.card(DECLINED), "k-declined")
    assert (status, declined["status"], declined["decline_code"]) == (402, "declined", "generic_decline")
    assert attempts(stripe_service, declined["id"]) == [("stripe", "declined", "generic_decline")]
    status, challenged = create(stripe_service, stripe_fake.card(THREE_D_SECURE), "k-3ds")
    assert (status, challenged["status"], challenged["next_action"]["type"]) == (
        202,
        "requires_action",
        "use_stripe_sdk",
    )
    assert attempts(stripe_service, challenged["id"]) == [("stripe", "requires_action", None)]
    assert stripe_fake.charges(declined["id"]) == [] and stripe_fake.charges(challenged["id"]) == []


class _DiesAfterTheAcquirer:
    """Stripe answers, and the process dies before the answer is recorded (the crash point that charges twice
    if asking again sends a new charge: localstripe ignores the Idempotency-Key)."""

    def __init__(self, connector: StripeConnector) -> None:
        self._connector = connector
        self.name = connector.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connector, name)

    def authorize(self, request: AuthorizeRequest, journal: Journal, *, timeout_s: float) -> AuthorizeOutcome:
        self._connector.authorize(request, journal, timeout_s=timeout_s)
        raise SystemExit("the process dies after the acquirer answered")


def test_a_crash_after_stripe_answered_then_the_same_key_charges_once(
    clean: Services, stripe_service: PaymentService, stripe_fake: LocalStripe
) -> None:
    token = stripe_fake.card(VISA)
    connector = stripe_service.context.connector
    assert isinstance(connector, StripeConnector)
    dying, database = build_service(clean.settings())
    dying.context.connector = _DiesAfterTheAcquirer(connector)
    with pytest.raises(SystemExit):
        create(dying, token, "k-crash")
    database.close()
    status, payment = create(stripe_service, token, "k-crash")
    assert (status, payment["status"]) == (201, "succeeded")
    assert len(stripe_fake.intents(payment["id"])) == 1 and len(stripe_fake.charges(payment["id"])) == 1
    # The dead process's attempt was never answered (unknown); the retry's found the intent it remembered.
    assert attempts(stripe_service, payment["id"]) == [("stripe", "unknown", None), ("stripe", "approved", None)]
    with clean.admin() as conn:
        references = conn.execute("SELECT reference FROM payment_attempts ORDER BY created_at").fetchall()
    assert references == [(payment["authorization_code"],), (None,)], "kept once, on the attempt that made it"


def processing(service: PaymentService, services: Services, token: str, key: str) -> str:
    """A payment left processing by an unanswered first attempt (the request is 503): its id."""
    body = {"amount": 100, "currency": "USD", "payment_method": token}
    with pytest.raises(StillProcessing):
        service.create_payment(MERCHANT, parse_payment_request(body), key)
    with services.admin() as conn:
        row = conn.execute("SELECT id FROM payments WHERE idempotency_key = %s", (key,)).fetchone()
    assert row is not None
    return str(row[0])


class _SilentOnce:
    """No answer the first time (unknown), then the acquirer's."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self.name = connector.name
        self.silent = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connector, name)

    def authorize(self, request: AuthorizeRequest, journal: Journal, *, timeout_s: float) -> AuthorizeOutcome:
        if self.silent:
            self.silent = False
            return Unknown("no answer")
        return self._connector.authorize(request, journal, timeout_s=timeout_s)


def test_an_unknown_outcome_is_asked_again_by_the_job_and_each_attempt_is_shown(lambda_env: Services) -> None:
    service, database = build_service(lambda_env.settings())
    service.context.connector = _SilentOnce(service.context.connector)
    payment_id = processing(service, lambda_env, "tok_visa", "k-silent")
    assert attempts(service, payment_id) == [("simulated", "unknown", None)]
    with lambda_env.admin() as conn:  # its backoff is over
        conn.execute("UPDATE payments SET next_resolution_at = now() - interval '1 second'")
    report = service.resolve_processing(older_than_s=0)
    assert report.payments.answered == 1
    assert attempts(service, payment_id) == [("simulated", "unknown", None), ("simulated", "approved", None)]
    with lambda_env.admin() as conn:
        rows = conn.execute("SELECT id, latency_ms IS NOT NULL FROM payment_attempts ORDER BY created_at").fetchall()
    assert rows == [("att_" + payment_id.removeprefix("pay_"), True), (rows[1][0], True)]
    database.close()


def test_attempts_racing_are_all_recorded_and_keep_one_reference(clean: Services) -> None:
    """Eight connections' worth of retries record attempts of one payment at once: each is recorded, and of the
    references they try to keep for one connector, exactly one is kept and every one of them is told it."""
    service, database = build_service(clean.settings())
    payment_id = processing(service, clean, "tok_acquirerUnavailable", "k-race")
    stores = [build_service(clean.settings()) for _ in range(8)]
    barrier = threading.Barrier(8)
    told: list[str] = []
    made_ids: list[str] = []

    def attempt(store_service: PaymentService, n: int) -> None:
        store = store_service.context.store
        barrier.wait(timeout=30)
        made = store.next_attempt(new_attempt_id(), payment_id, "stripe")
        assert made is not None
        made_ids.append(made.id)
        told.append(store.remember_reference(made, f"pi_racer{n}"))

    threads = [threading.Thread(target=attempt, args=(s, n)) for n, (s, _) in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for _, db in stores:
        db.close()
    database.close()
    assert len(set(made_ids)) == 8 and len(set(told)) == 1 and len(told) == 8
    shown = stores[0][0].payment_with_attempts(MERCHANT, payment_id)["attempts"]
    assert len(shown) == 9 and [a["connector"] for a in shown] == ["simulated"] + ["stripe"] * 8
    with clean.admin() as conn:
        kept = conn.execute("SELECT reference FROM payment_attempts WHERE reference IS NOT NULL").fetchall()
    assert kept == [(told[0],)]
