"""Refunds of a captured payment, and the job's half of them (logic layer).

A refund is recorded before the acquirer hears of it, as a payment's creation is:

1. claim the Idempotency-Key; lock the payment (every refund of one payment queues on this lock); check
   that the amount fits in what is captured and not yet refunded or pending (else 422
   ``refund_exceeds_captured``); insert the refund as ``pending`` with its event; point the key at it -> commit.
2. ask the acquirer, with the refund id as its idempotency key.
3. lock the payment and the refund; if still pending, move it once to ``succeeded`` (adding to the payment's
   ``amount_refunded``; the payment becomes ``refunded`` when that reaches ``amount_captured``) or ``failed``;
   write the events; record the response under the key -> commit.

Because pending refunds count against what is left, concurrent refunds can never together pass the
captured amount, whatever the acquirer later answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from payment_processor import operations
from payment_processor import payment as payments
from payment_processor.deadlines import Expired, never
from payment_processor.encoding import compact_json
from payment_processor.errors import NotFound, ValidationFailed
from payment_processor.gateway import AcquirerUnavailable, FollowUp, OperationRefused, PaymentGateway
from payment_processor.operations import (
    NO_SUCH_PAYMENT,
    Outcome,
    PaymentStateConflict,
    acquirer_backoff_s,
    answering_store_errors,
    claim,
    fingerprint,
    still_processing,
    unavailable,
)
from payment_processor.payment import Payment, Refund
from payment_processor.store.interfaces import (
    CursorNotFound,
    Page,
    PageRequest,
    PaymentStore,
    StoredResponse,
    StoreUnavailable,
)
from payment_processor.txlog import DeliveryReport, payment_event, refund_event

#: The one answer for an unknown refund id used as a cursor, and for another merchant's.
NO_SUCH_REFUND = "no such refund of this payment for this API key's merchant"


class Refunds:
    """Refunds of a merchant's payments."""

    def __init__(
        self,
        store: PaymentStore,
        gateway: PaymentGateway,
        deliver: Callable[[str, Expired], DeliveryReport],
        *,
        clock: Callable[[], datetime] = payments.utc_now,
        new_id: Callable[[], str] = payments.new_refund_id,
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._deliver = deliver
        self._clock = clock
        self._new_id = new_id

    def create(
        self, merchant_id: str, payment_id: str, amount: int | None, reason: str | None, key: str, *,
        expired: Expired = never, settle_by: Expired = never,
    ) -> Outcome:  # fmt: skip
        """Refund ``amount`` (default: all that is left) of the merchant's captured payment, once per key."""
        if not payments.is_payment_id(payment_id):
            raise NotFound(NO_SUCH_PAYMENT)
        material: dict[str, Any] = {"amount": amount, "reason": reason}
        request_fingerprint = fingerprint(f"POST /payments/{payment_id}/refunds", material)
        with answering_store_errors():
            with self._store.transaction() as tx:
                previous = claim(tx, merchant_id, key, request_fingerprint)
                if previous is not None:
                    if previous.response is not None:
                        return Outcome(previous.response, True, payment_id, refund_id=previous.refund_id)
                    refund = payment = None
                else:
                    refund, payment = self._record(tx, merchant_id, payment_id, amount, reason, key)
            if refund is None:
                assert previous is not None and previous.refund_id is not None
                refund = self._store.get_refund(previous.refund_id, merchant_id)
                if refund is None:  # pragma: no cover - the key's foreign key keeps the refund
                    raise RuntimeError("an idempotency key points at a missing refund")
            response = self._perform(refund, settle_by, payment)
        return Outcome(
            response,
            replayed=previous is not None,
            payment_id=payment_id,
            delivery=self._deliver(payment_id, expired),
            refund_id=refund.id,
        )

    def _record(
        self, tx: Any, merchant_id: str, payment_id: str, amount: int | None, reason: str | None, key: str
    ) -> tuple[Refund, Payment]:
        # Everything here rolls back with the claim when refused: a 404, 409 or 422 keeps no key.
        payment = tx.lock_payment(payment_id, merchant_id)
        if payment is None:
            raise NotFound(NO_SUCH_PAYMENT)
        if payment.status not in (payments.SUCCEEDED, payments.REFUNDED):
            raise PaymentStateConflict(
                f"the payment is {payment.status}: only a succeeded (captured) payment can be refunded",
                payment_status=payment.status,
            )
        # Under the payment's lock: no other refund of it can be recorded until this transaction ends.
        left = payment.refundable - tx.pending_refund_total(payment_id)
        wanted = left if amount is None else amount
        if wanted <= 0 or wanted > left:
            raise ValidationFailed(
                f"the refunds of this payment would exceed the {payment.amount_captured} minor units captured: "
                f"{max(left, 0)} are left to refund (refunds still pending count against it)",
                code="refund_exceeds_captured",
                field="amount" if amount is not None else None,
            )
        now = self._clock()
        refund = Refund(
            id=self._new_id(),
            payment_id=payment_id,
            merchant_id=merchant_id,
            amount=wanted,
            currency=payment.currency,
            status=payments.REFUND_PENDING,
            created_at=now,
            updated_at=now,
            reason=reason,
            idempotency_key=key,
        )
        tx.insert_refund(refund)
        tx.add_event(refund_event(payment, refund, tx.next_event_sequence(payment_id)))
        tx.bind_idempotency_key(merchant_id, key, payment_id, refund.id)
        return refund, payment

    def list_refunds(self, merchant_id: str, payment_id: str, page: PageRequest) -> Page[Refund]:
        """The refunds of the merchant's payment, newest first; 404 for another merchant's payment."""
        if not payments.is_payment_id(payment_id):
            raise NotFound(NO_SUCH_PAYMENT)
        try:
            if self._store.get_payment(payment_id, merchant_id) is None:
                raise NotFound(NO_SUCH_PAYMENT)
            return self._store.list_refunds(merchant_id, payment_id, page)
        except CursorNotFound:
            raise NotFound(NO_SUCH_REFUND) from None
        except StoreUnavailable as exc:
            raise unavailable(exc) from None

    def resolve(self, *, limit: int = 100, older_than_s: float = operations.RESOLVE_AFTER_S,
                expired: Expired = never) -> tuple[int, int]:  # fmt: skip
        """The job: ask the acquirer again about refunds left pending; (answered, still waiting)."""
        return operations.ask_again(self._store.pending_refunds(limit=limit, older_than_s=older_than_s),
                                    self._perform, expired)  # fmt: skip

    def _perform(self, refund: Refund, settle_by: Expired, payment: Payment | None = None) -> StoredResponse:
        """Ask the acquirer about a recorded refund and apply its answer; 503 when there is none yet.

        ``payment`` is the payment as the refund's own transaction read it (a retry or the job reads it anew).
        """
        if refund.is_final:
            with self._store.transaction() as tx:
                return _answered(tx, refund)
        if payment is None:
            payment = self._store.get_payment(refund.payment_id, refund.merchant_id)
        if payment is None or payment.authorization_code is None:  # pragma: no cover - refunds need a capture
            raise RuntimeError(f"refund {refund.id} has no captured payment")
        what = f"the refund {refund.id}"
        if settle_by():
            raise still_processing(what, code="refund_processing")
        failure = None
        try:
            self._gateway.refund(
                FollowUp(payment.payment_method, payment.authorization_code, payment.currency),
                amount=refund.amount,
                idempotency_key=refund.id,
            )
        except AcquirerUnavailable:
            with self._store.transaction() as tx:
                tx.record_refund_failure(refund.id, acquirer_backoff_s(refund.acquirer_attempts + 1))
            raise still_processing(what, code="refund_processing") from None
        except OperationRefused as exc:
            failure = exc.code
        return self._finish(refund, failure)

    def _finish(self, refund: Refund, failure: str | None) -> StoredResponse:
        with self._store.transaction() as tx:
            payment = tx.lock_payment(refund.payment_id)  # the payment first: the order every refund locks in
            current = tx.lock_refund(refund.id)
            if payment is None or current is None:  # pragma: no cover - neither is ever deleted
                raise RuntimeError(f"refund {refund.id} or its payment vanished")
            if current.is_final:
                return _answered(tx, current)
            now = self._clock()
            if failure is not None:
                final = replace(current, status=payments.REFUND_FAILED, failure_code=failure, updated_at=now)
                tx.update_refund(final, from_status=current.status)
                tx.add_event(refund_event(payment, final, tx.next_event_sequence(payment.id)))
            else:
                final = replace(current, status=payments.REFUND_SUCCEEDED, updated_at=now)
                tx.update_refund(final, from_status=current.status)
                refunded = payment.amount_refunded + final.amount
                whole = refunded == payment.amount_captured
                after = replace(
                    payment,
                    amount_refunded=refunded,
                    status=payments.REFUNDED if whole else payment.status,
                    updated_at=now if whole else payment.updated_at,
                )
                tx.update_payment(after, from_status=payment.status)
                tx.add_event(refund_event(after, final, tx.next_event_sequence(payment.id)))
                if whole:
                    tx.add_event(payment_event(after, tx.next_event_sequence(payment.id)))
            response = _response(final)
            if final.idempotency_key is not None:
                tx.complete_idempotency_key(final.merchant_id, final.idempotency_key, response, final.payment_id)
        return response


def _answered(tx: Any, refund: Refund) -> StoredResponse:
    """What a final refund answered: the bytes recorded under its key (rebuilt only if the key was purged)."""
    key = refund.idempotency_key
    return (tx.stored_response(refund.merchant_id, key) if key else None) or _response(refund)


def _response(refund: Refund) -> StoredResponse:
    """201 with the refund; a failed one is 402 with the refund and the error envelope every error has."""
    body = refund.resource()
    if refund.status == payments.REFUND_FAILED:
        body["error"] = {
            "code": "refund_failed",
            "message": f"the acquirer refused the refund ({refund.failure_code}); nothing was refunded",
            "failure_code": refund.failure_code,
            "refund_id": refund.id,
        }
        return StoredResponse(402, compact_json(body))
    return StoredResponse(201, compact_json(body))
