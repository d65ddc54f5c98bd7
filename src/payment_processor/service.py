"""Payment logic: take a validated request through idempotency, the gateway and one transaction.

Order of work for ``POST /payments`` (all inside one database transaction):
claim the idempotency key (or replay what it answered) -> authorize with the gateway -> insert the
payment -> queue its transaction-log event -> record the response under the key -> commit.
After commit the event is delivered to S3; a failure there never fails the payment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payment_processor import payment as payments
from payment_processor.deadlines import Expired, never
from payment_processor.encoding import compact_json
from payment_processor.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)
from payment_processor.gateway import PaymentGateway, UnknownPaymentMethod
from payment_processor.payment import Payment
from payment_processor.store.interfaces import (
    IdempotencyKeyBusy,
    OutboxHealth,
    PaymentStore,
    StoredResponse,
    StoreUnavailable,
)
from payment_processor.txlog import DeliveryReport, OutboxDelivery, payment_event
from payment_processor.validation import PaymentRequest

#: Events from earlier failed deliveries retried on each request once the current one went through.
BACKLOG_PER_REQUEST = 10


#: The one answer for an unknown id and for another merchant's payment.
NO_SUCH_PAYMENT = "no such payment for this API key's merchant"


@dataclass(frozen=True)
class Outcome:
    """The answer to a create-payment request: the stored response, and whether it is a replay."""

    response: StoredResponse
    replayed: bool
    payment_id: str | None
    delivery: DeliveryReport | None = None


def fingerprint(request: PaymentRequest) -> str:
    """SHA-256 over the canonical request: equal for the same payment however the JSON was spelled.

    The merchant is not part of it: idempotency keys are already scoped by the authenticated merchant.
    """
    canonical = json.dumps(request.fingerprint_material(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"POST /payments\n{canonical}".encode()).hexdigest()


def unavailable(exc: StoreUnavailable) -> ServiceUnavailable:
    """The client-facing 503 for a database outage."""
    del exc  # the detail goes to the log, not to the client
    return ServiceUnavailable(
        "the payment database is unreachable; retry with the same Idempotency-Key",
        code="database_unavailable",
    )


class PaymentService:
    """Creates and reads payments."""

    def __init__(
        self,
        store: PaymentStore,
        gateway: PaymentGateway,
        delivery: OutboxDelivery,
        *,
        clock: Callable[[], datetime] = payments.utc_now,
        new_id: Callable[[], str] = payments.new_payment_id,
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._delivery = delivery
        self._clock = clock
        self._new_id = new_id

    def create_payment(
        self, merchant_id: str, request: PaymentRequest, idempotency_key: str, *, expired: Expired = never
    ) -> Outcome:
        """Take the payment once per (merchant, key); replay the first answer for retries.

        ``merchant_id`` is the authenticated key's, never the request's: one merchant's keys and
        payments are invisible to another (a probe with another merchant's key just makes a new claim).
        """
        request_fingerprint = fingerprint(request)
        try:
            with self._store.transaction() as tx:
                previous = tx.claim_idempotency_key(merchant_id, idempotency_key, request_fingerprint)
                if previous is not None:
                    if previous.fingerprint != request_fingerprint:
                        raise IdempotencyKeyReused(
                            "this Idempotency-Key was already used with a different request body; "
                            "use a new key for a new payment",
                            field="Idempotency-Key",
                        )
                    return Outcome(previous.response, replayed=True, payment_id=previous.payment_id)
                payment = self._authorize(merchant_id, request, idempotency_key)
                status = 201 if payment.status == payments.SUCCEEDED else 402
                response = StoredResponse(status, compact_json(_response_body(payment)))
                tx.insert_payment(payment)
                tx.add_event(payment_event(payment))
                tx.complete_idempotency_key(merchant_id, idempotency_key, response, payment.id)
        except IdempotencyKeyBusy:
            raise IdempotencyKeyInUse(
                "a request with this Idempotency-Key is still being processed; retry shortly",
                field="Idempotency-Key",
            ) from None
        except StoreUnavailable as exc:
            raise unavailable(exc) from None
        return Outcome(response, replayed=False, payment_id=payment.id, delivery=self._deliver(payment.id, expired))

    def get_payment(self, merchant_id: str, payment_id: str) -> Payment:
        """The merchant's payment, or NotFound: an unknown id and another merchant's payment answer the same.

        The message never repeats the id: what the caller sent is not echoed.
        """
        if not payments.is_payment_id(payment_id):
            raise NotFound(NO_SUCH_PAYMENT)
        try:
            found = self._store.get_payment(payment_id, merchant_id)
        except StoreUnavailable as exc:
            raise unavailable(exc) from None
        if found is None:
            raise NotFound(NO_SUCH_PAYMENT)
        return found

    def deliver_pending(self, limit: int = 1000, *, expired: Expired = never) -> DeliveryReport:
        """Deliver the outbox backlog (the explicit delivery entry point), stopping when ``expired``."""
        return self._delivery.deliver(limit=limit, expired=expired)

    def outbox_health(self) -> OutboxHealth:
        """What waits in the outbox, what was dead-lettered, and the oldest waiting event's age."""
        return self._store.outbox_health()

    def purge_idempotency_keys(self, older_than_hours: int) -> int:
        """Delete idempotency keys past their retention; return how many."""
        return self._store.purge_idempotency_keys(older_than_hours=older_than_hours)

    def _authorize(self, merchant_id: str, request: PaymentRequest, idempotency_key: str) -> Payment:
        payment_id = self._new_id()
        try:
            result = self._gateway.authorize(
                amount=request.amount,
                currency=request.currency,
                payment_method=request.payment_method,
                idempotency_key=f"{merchant_id}:{idempotency_key}",
            )
        except UnknownPaymentMethod:
            raise ValidationFailed(
                "payment_method is not a token the acquirer knows; see the documented test tokens",
                code="payment_method_unknown",
                field="payment_method",
            ) from None
        return Payment(
            id=payment_id,
            merchant_id=merchant_id,
            amount=request.amount,
            currency=request.currency,
            status=payments.SUCCEEDED if result.approved else payments.DECLINED,
            payment_method=request.payment_method,
            created_at=self._clock(),
            decline_code=result.decline_code,
            authorization_code=result.authorization_code,
            description=request.description,
            customer_id=request.customer_id,
            metadata=dict(request.metadata or {}),
            idempotency_key=idempotency_key,
        )

    def _deliver(self, payment_id: str, expired: Expired) -> DeliveryReport:
        # The payment is committed: whatever S3 does now, the answer must go out before the function's
        # deadline, so every put is started only while ``expired`` says there is time for it.
        report = self._delivery.deliver(payment_id=payment_id, expired=expired)
        if report.error is None and not report.stopped_by_deadline:
            # The sink works: take the chance to drain a little of any backlog from an outage.
            backlog = self._delivery.deliver(limit=BACKLOG_PER_REQUEST, expired=expired)
            return DeliveryReport(
                report.delivered + backlog.delivered,
                report.already_present + backlog.already_present,
                backlog.failed,
                backlog.error,
            )
        return report


def _response_body(payment: Payment) -> dict[str, Any]:
    body = payment.resource()
    if payment.status == payments.DECLINED:
        # A decline is a 402 carrying the recorded payment plus the error envelope every error has.
        body["error"] = {
            "code": "card_declined",
            "message": f"the card was declined ({payment.decline_code})",
            "decline_code": payment.decline_code,
            "payment_id": payment.id,
        }
    return body
