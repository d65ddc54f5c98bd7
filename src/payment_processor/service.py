"""Payment logic: a payment is recorded before the acquirer hears of it, and settled once.

``POST /payments`` is two database transactions around one acquirer call:

1. claim the idempotency key (or replay what it answered), insert the payment as ``processing`` with
   its first transaction-log event, point the key at it -> commit. A durable record now exists.
2. ask the acquirer, with the payment id as the acquirer's idempotency key.
3. lock the payment; if it is still ``processing``, move it to ``succeeded`` / ``declined`` /
   ``failed`` with its second event and record the response under the key -> commit.

A crash or an outage between 1 and 3 leaves the payment ``processing``. The next request with the same
key, or the scheduled job (:meth:`PaymentService.resolve_processing`), repeats 2 and 3: the acquirer
answers the same key with its first answer and charges nothing more, and the lock in 3 lets exactly
one settlement through. Never a charge without a record, never two charges for one key.
After commit the events are delivered to S3 within the request's time budget; a failure there never
fails the payment (the outbox keeps them for the scheduled delivery).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from payment_processor import payment as payments
from payment_processor.capture import PaymentActions
from payment_processor.deadlines import Expired, never
from payment_processor.encoding import compact_json
from payment_processor.errors import NotFound, ServiceUnavailable, ValidationFailed
from payment_processor.gateway import AcquirerUnavailable, Authorization, PaymentGateway, UnknownPaymentMethod
from payment_processor.operations import (
    NO_SUCH_PAYMENT,
    RESOLVE_AFTER_S,
    Outcome,
    acquirer_backoff_s,
    answering_store_errors,
    claim,
    fingerprint,
    still_processing,
    unavailable,
)
from payment_processor.payment import Payment
from payment_processor.refunds import Refunds
from payment_processor.store.interfaces import (
    CursorNotFound,
    FeedEvent,
    IdempotencyKeyBusy,
    OutboxHealth,
    Page,
    PageRequest,
    PaymentStore,
    ProcessingHealth,
    StoredResponse,
    StoreUnavailable,
)
from payment_processor.txlog import DeliveryReport, OutboxDelivery, payment_event

if TYPE_CHECKING:
    # Annotations only: validation builds pydantic models at import (~0.2 s of a cold start); the API layer
    # imports it on the first request that has a body to parse.
    from payment_processor.validation import PaymentRequest

#: The one answer for an unknown event id used as a cursor, and for another merchant's.
NO_SUCH_EVENT = "no such event for this API key's merchant"
#: Events from earlier failed deliveries retried on each request once the current one went through.
BACKLOG_PER_REQUEST = 10
#: The job gives up on a payment (``failed``, ``acquirer_unavailable``) once both hold: this many attempts
#: got no answer from the acquirer, and the payment is this old. Both, because a client retrying every
#: 2 s makes ten attempts in twenty seconds, and an outage that short must not fail its payments.
MAX_ACQUIRER_ATTEMPTS = 10
GIVE_UP_AFTER_S = 1800.0


@dataclass(frozen=True)
class ResolutionReport:
    """What one pass of the scheduled job did with payments, captures, cancels and refunds left waiting."""

    settled: int = 0
    failed_permanently: int = 0
    still_processing: int = 0
    error: str | None = None
    canceled_expired: int = 0


def request_fingerprint_of(request: PaymentRequest) -> str:
    """The create request's idempotency fingerprint (see operations.fingerprint)."""
    return fingerprint("POST /payments", request.fingerprint_material())


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
        #: Captures and cancels of authorized payments; refunds of captured ones.
        self.actions = PaymentActions(store, gateway, self._deliver, clock=clock)
        self.refunds = Refunds(store, gateway, self._deliver, clock=clock)

    def create_payment(
        self,
        merchant_id: str,
        request: PaymentRequest,
        idempotency_key: str,
        *,
        expired: Expired = never,
        settle_by: Expired = never,
    ) -> Outcome:
        """Take the payment once per (merchant, key); replay the first answer for retries.

        ``settle_by`` says when the acquirer may no longer be asked (its answer could not be committed
        and returned in time: the client gets 503 and the payment stays processing for the same key or
        the job); ``expired`` when no S3 put may start.

        ``merchant_id`` is the authenticated key's, never the request's: one merchant's keys and
        payments are invisible to another (a probe with another merchant's key just makes a new claim).
        """
        request_fingerprint = request_fingerprint_of(request)
        # Asked before the transaction opens (an acquirer's lookup must not hold the new key's row lock), and
        # answered only for a new key: a token the acquirer will never take records nothing, a replay replays.
        unknown_method: ValidationFailed | None = None
        try:
            self._check_payment_method(request.payment_method)
        except ValidationFailed as refused:
            unknown_method = refused
        with answering_store_errors():
            with self._store.transaction() as tx:
                previous = claim(tx, merchant_id, idempotency_key, request_fingerprint)
                if previous is not None:
                    if previous.response is not None:
                        return Outcome(previous.response, replayed=True, payment_id=previous.payment_id)
                    if previous.payment_id is None:  # pragma: no cover - a claim is bound in its own transaction
                        raise RuntimeError("an idempotency key was committed without its payment")
                    payment = None
                    payment_id = previous.payment_id
                else:
                    if unknown_method is not None:
                        raise unknown_method
                    payment = self._new_payment(merchant_id, request, idempotency_key)
                    tx.insert_payment(payment)
                    tx.add_event(payment_event(payment, tx.next_event_sequence(payment.id)))
                    tx.bind_idempotency_key(merchant_id, idempotency_key, payment.id)
                    payment_id = payment.id
            # Committed: from here on a crash leaves a record that the same key or the job settles.
            if payment is None:
                payment = self._store.get_payment(payment_id, merchant_id)
                if payment is None:  # pragma: no cover - the key's foreign key keeps the payment
                    raise RuntimeError("an idempotency key points at a missing payment")
            response = self._settle(payment, settle_by)
        return Outcome(
            response,
            replayed=previous is not None,
            payment_id=payment.id,
            delivery=self._deliver(payment.id, expired),
        )

    def resolve_processing(self, *, limit: int = 100, older_than_s: float = RESOLVE_AFTER_S,
                           expired: Expired = never) -> ResolutionReport:  # fmt: skip
        """The scheduled job's half of the state machine: settle payments a crash or an acquirer outage left
        ``processing``, asking the acquirer again under the same key; give up on one (``failed``,
        ``acquirer_unavailable``) after MAX_ACQUIRER_ATTEMPTS attempts without an answer and GIVE_UP_AFTER_S.
        Then the same for captures, cancels and refunds left waiting (never given up on: the money has moved
        or not, and only the acquirer can say which; the age alarm calls an operator), and cancel
        authorizations nobody captured in time."""
        settled = failed = waiting = expired_count = 0
        try:
            for payment in self._store.processing_payments(limit=limit, older_than_s=older_than_s):
                if expired():
                    break
                try:
                    age_s = (self._clock() - payment.created_at).total_seconds()
                    if payment.acquirer_attempts >= MAX_ACQUIRER_ATTEMPTS and age_s >= GIVE_UP_AFTER_S:
                        self._finish(payment, Authorization(approved=False), failure_code="acquirer_unavailable")
                        failed += 1
                    else:
                        self._settle(payment, expired)
                        settled += 1
                except (ServiceUnavailable, IdempotencyKeyBusy):
                    waiting += 1  # no answer from the acquirer yet, or a request is settling it right now
            answered, left = self.actions.resolve(limit=limit, older_than_s=older_than_s, expired=expired)
            settled, waiting = settled + answered, waiting + left
            answered, left = self.refunds.resolve(limit=limit, older_than_s=older_than_s, expired=expired)
            settled, waiting = settled + answered, waiting + left
            expired_count = self.actions.expire_authorizations(limit=limit, expired=expired)
        except StoreUnavailable as exc:
            return ResolutionReport(settled, failed, waiting, str(exc), expired_count)
        return ResolutionReport(settled, failed, waiting, canceled_expired=expired_count)

    def _check_payment_method(self, payment_method: str) -> None:
        try:
            self._gateway.check_payment_method(payment_method)
        except UnknownPaymentMethod:
            raise ValidationFailed(
                "payment_method is not a token the acquirer knows; see the documented test tokens",
                code="payment_method_unknown",
                field="payment_method",
            ) from None

    def _new_payment(self, merchant_id: str, request: PaymentRequest, idempotency_key: str) -> Payment:
        now = self._clock()
        return Payment(
            id=self._new_id(),
            merchant_id=merchant_id,
            amount=request.amount,
            currency=request.currency,
            status=payments.PROCESSING,
            payment_method=request.payment_method,
            created_at=now,
            updated_at=now,
            description=request.description,
            customer_id=request.customer_id,
            metadata=dict(request.metadata or {}),
            idempotency_key=idempotency_key,
            capture_method=request.capture_method,
        )

    def _settle(self, payment: Payment, expired: Expired) -> StoredResponse:
        """Ask the acquirer about a recorded payment and write its final state; the stored response.

        Raises ServiceUnavailable (503, retry with the same key) when there is no answer to record: the
        acquirer is unreachable, or the deadline leaves no time to ask it.
        """
        if payment.is_final:
            return self._final_response(payment)
        if expired():
            raise still_processing(f"the payment {payment.id}")
        failure_code = None
        try:
            answer = self._gateway.authorize(
                amount=payment.amount,
                currency=payment.currency,
                payment_method=payment.payment_method,
                # The payment id, not the client's key: one charge per recorded payment, whoever asks.
                idempotency_key=payment.id,
            )
        except AcquirerUnavailable:
            with self._store.transaction() as tx:
                tx.record_acquirer_failure(payment.id, acquirer_backoff_s(payment.acquirer_attempts + 1))
            raise still_processing(f"the payment {payment.id}") from None
        except UnknownPaymentMethod:
            # Checked before recording, so only a token withdrawn since: a definite refusal, nothing charged.
            answer, failure_code = Authorization(approved=False), "payment_method_unknown"
        return self._finish(payment, answer, failure_code=failure_code)

    def _finish(self, payment: Payment, answer: Authorization, *, failure_code: str | None = None) -> StoredResponse:
        """Move a processing payment to its final state, once: a concurrent settlement waits on the row lock
        and then finds the payment final and answers what was recorded."""
        with self._store.transaction() as tx:
            current = tx.lock_payment(payment.id)
            if current is None:  # pragma: no cover - payments are never deleted
                raise RuntimeError(f"payment {payment.id} vanished")
            if current.is_final:
                return self._final_response(current, tx.stored_response)
            if failure_code is not None:
                status = payments.FAILED
            elif not answer.approved:
                status = payments.DECLINED
            else:
                # Authorized: captured now (automatic), or held for a capture or cancel (manual).
                manual = current.capture_method == payments.MANUAL
                status = payments.REQUIRES_CAPTURE if manual else payments.SUCCEEDED
            final = replace(
                current,
                status=status,
                updated_at=self._clock(),
                failure_code=failure_code,
                authorization_code=answer.authorization_code if answer.approved and failure_code is None else None,
                decline_code=answer.decline_code if status == payments.DECLINED else None,
                amount_captured=current.amount if status == payments.SUCCEEDED else 0,
            )
            response = StoredResponse(_status_code(final), compact_json(_response_body(final)))
            tx.update_payment(final, from_status=current.status)
            tx.add_event(payment_event(final, tx.next_event_sequence(final.id)))
            if final.idempotency_key is not None:
                tx.complete_idempotency_key(final.merchant_id, final.idempotency_key, response, final.id)
        return response

    def _final_response(
        self, payment: Payment, stored: Callable[[str, str], StoredResponse | None] | None = None
    ) -> StoredResponse:
        """What a final payment answered: the bytes recorded under its key (rebuilt only if the key was purged)."""
        if stored is None:
            with self._store.transaction() as tx:
                return self._final_response(payment, tx.stored_response)
        recorded = stored(payment.merchant_id, payment.idempotency_key) if payment.idempotency_key else None
        return recorded or StoredResponse(_status_code(payment), compact_json(_response_body(payment)))

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

    def list_payments(self, merchant_id: str, page: PageRequest, *, status: str | None = None) -> Page[Payment]:
        """The merchant's payments, newest first; a cursor that is not one of them is 404 like an unknown id."""
        try:
            return self._store.list_payments(merchant_id, page, status=status)
        except CursorNotFound:
            raise NotFound(NO_SUCH_PAYMENT) from None
        except StoreUnavailable as exc:
            raise unavailable(exc) from None

    def list_events(self, merchant_id: str, page: PageRequest) -> Page[FeedEvent]:
        """The merchant's transaction-log events, newest first (see ``PaymentStore.list_events``)."""
        try:
            return self._store.list_events(merchant_id, page)
        except CursorNotFound:
            raise NotFound(NO_SUCH_EVENT) from None
        except StoreUnavailable as exc:
            raise unavailable(exc) from None

    def deliver_pending(self, limit: int = 1000, *, expired: Expired = never) -> DeliveryReport:
        """Deliver the outbox backlog (the explicit delivery entry point), stopping when ``expired``."""
        return self._delivery.deliver(limit=limit, expired=expired)

    def outbox_health(self) -> OutboxHealth:
        """What waits in the outbox, what was dead-lettered, and the oldest waiting event's age."""
        return self._store.outbox_health()

    def processing_health(self) -> ProcessingHealth:
        """Payments recorded but not yet settled, and the oldest one's age."""
        return self._store.processing_health()

    def purge_idempotency_keys(self, older_than_hours: int) -> int:
        """Delete idempotency keys past their retention; return how many."""
        return self._store.purge_idempotency_keys(older_than_hours=older_than_hours)

    def _deliver(self, payment_id: str, expired: Expired) -> DeliveryReport:
        # The payment is committed: whatever S3 does now, the answer must go out before the function's
        # deadline, so every put is started only while ``expired`` says there is time for it.
        # One failed put is enough to know S3 is not answering: the client is not kept waiting for more.
        report = self._delivery.deliver(payment_id=payment_id, expired=expired, stop_after_failures=1)
        if report.error is None and not report.stopped_by_deadline:
            # The sink works: take the chance to drain a little of any backlog from an outage.
            backlog = self._delivery.deliver(limit=BACKLOG_PER_REQUEST, expired=expired, stop_after_failures=1)
            return DeliveryReport(
                report.delivered + backlog.delivered,
                report.already_present + backlog.already_present,
                backlog.failed,
                backlog.error,
            )
        return report


def _status_code(payment: Payment) -> int:
    """201 for an authorized payment (whatever became of it since); 402 (payment required) for one declined
    or failed."""
    return 402 if payment.status in (payments.DECLINED, payments.FAILED) else 201


def _response_body(payment: Payment) -> dict[str, Any]:
    body = payment.resource()
    if payment.status == payments.FAILED:
        body["error"] = {
            "code": "payment_failed",
            "message": f"the payment failed ({payment.failure_code}); use a new Idempotency-Key to try again",
            "failure_code": payment.failure_code,
            "payment_id": payment.id,
        }
    if payment.status == payments.DECLINED:
        # A decline is a 402 carrying the recorded payment plus the error envelope every error has.
        body["error"] = {
            "code": "card_declined",
            "message": f"the card was declined ({payment.decline_code})",
            "decline_code": payment.decline_code,
            "payment_id": payment.id,
        }
    return body
