"""``POST /payments/{id}/refunds`` ``{"amount"?, "reason"?}``: refund all that is left, or ``amount``, of a
captured payment (logic layer).

The refund is recorded ``pending`` with its event under the payment's row lock, where every refund of one
payment queues: pending refunds count against what is left, so concurrent refunds can never together pass
the captured amount, whatever the acquirer later answers. The answer moves it once to ``succeeded`` (adding
to the payment's ``amount_refunded``; the payment becomes ``refunded`` when that reaches
``amount_captured``) or ``failed``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from payment_processor import payment as payments
from payment_processor.connectors.base import Authorization, Connector
from payment_processor.connectors.outcomes import FollowUpOutcome
from payment_processor.encoding import compact_json
from payment_processor.errors import NotFound, PaymentStateConflict, ValidationFailed
from payment_processor.operations.driver import NO_SUCH_PAYMENT, Applied, OnPayment, Pending, recorded_answer
from payment_processor.payment import Refund
from payment_processor.states import PaymentStatus, RefundStatus
from payment_processor.store.interfaces import IdempotencyRecord, StoredResponse, Transaction
from payment_processor.txlog import payment_event, refund_event


@dataclass(frozen=True)
class RefundRequest:
    """A refund as the API received it."""

    payment_id: str
    amount: int | None = None
    reason: str | None = None


class CreateRefund(OnPayment[RefundRequest, Refund]):
    """Refund a captured payment; the acquirer's answer is None (refunded) or a refusal's code."""

    segment = "refunds"
    processing_code = "refund_processing"

    def material(self, request: RefundRequest) -> dict[str, Any]:
        return {"amount": request.amount, "reason": request.reason}

    def record(self, tx: Transaction, merchant_id: str, key: str, request: RefundRequest) -> Pending[Refund]:
        # Summed under the payment's lock: no other refund of it can be recorded until this transaction ends.
        payment, pending = tx.lock_payment_and_pending_refunds(request.payment_id, merchant_id)
        if payment is None:
            raise NotFound(NO_SUCH_PAYMENT)
        if payment.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
            raise PaymentStateConflict(
                f"the payment is {payment.status}: only a succeeded (captured) payment can be refunded",
                payment_status=payment.status,
            )
        left = payment.refundable - pending
        wanted = left if request.amount is None else request.amount
        if wanted <= 0 or wanted > left:
            raise ValidationFailed(
                f"the refunds of this payment would exceed the {payment.amount_captured} minor units captured: "
                f"{max(left, 0)} are left to refund (refunds still pending count against it)",
                code="refund_exceeds_captured",
                field="amount" if request.amount is not None else None,
            )
        now = self.context.clock()
        refund = Refund(
            id=payments.new_refund_id(),
            payment_id=payment.id,
            merchant_id=merchant_id,
            amount=wanted,
            currency=payment.currency,
            status=RefundStatus.PENDING,
            created_at=now,
            updated_at=now,
            reason=request.reason,
            idempotency_key=key,
        )
        tx.insert_refund(refund)
        tx.add_event(refund_event(payment, refund, tx.next_event_sequence(payment.id)))
        return Pending(refund, payment, tx.approved_connector(payment.id))

    def resume(self, merchant_id: str, key: str, previous: IdempotencyRecord) -> Pending[Refund]:
        refund = self.context.store.get_refund(previous.refund_id or "", merchant_id)
        if refund is None:  # pragma: no cover - the key's foreign key keeps the refund
            raise RuntimeError("an idempotency key points at a missing refund")
        return Pending(refund)

    def answered(self, pending: Pending[Refund]) -> StoredResponse | None:
        if not pending.record.is_final:
            return None
        with self.context.store.transaction() as tx:
            return _answered(tx, pending.record)

    def describe(self, record: Refund) -> str:
        return f"the refund {record.id}"

    def call(
        self, connector: Connector, authorization: Authorization, record: Refund, timeout_s: float
    ) -> FollowUpOutcome:
        return connector.refund(authorization, amount=record.amount, key=record.id, timeout_s=timeout_s)

    def no_answer(self, tx: Transaction, record: Refund, retry_after_s: float) -> None:
        tx.record_refund_failure(record.id, retry_after_s)

    def apply(self, tx: Transaction, record: Refund, answer: str | None) -> Applied:
        payment, current = tx.lock_payment_and_refund(record.payment_id, record.id)  # the payment first, always
        if payment is None or current is None:  # pragma: no cover - neither is ever deleted
            raise RuntimeError(f"refund {record.id} or its payment vanished")
        if current.is_final:
            return Applied(_answered(tx, current), now=False)
        now = self.context.clock()
        if answer is not None:
            final = replace(current, status=RefundStatus.FAILED, failure_code=answer, updated_at=now)
            tx.update_refund(final, from_status=current.status)
            tx.add_event(refund_event(payment, final, tx.next_event_sequence(payment.id)))
        else:
            final = replace(current, status=RefundStatus.SUCCEEDED, updated_at=now)
            tx.update_refund(final, from_status=current.status)
            refunded = payment.amount_refunded + final.amount
            whole = refunded == payment.amount_captured
            after = replace(
                payment,
                amount_refunded=refunded,
                status=PaymentStatus.REFUNDED if whole else payment.status,
                updated_at=now if whole else payment.updated_at,
            )
            tx.update_payment(after, from_status=payment.status)
            tx.add_event(refund_event(after, final, tx.next_event_sequence(payment.id)))
            if whole:
                tx.add_event(payment_event(after, tx.next_event_sequence(payment.id)))
        return Applied(_response(final))

    def payment_id(self, record: Refund) -> str:
        return record.payment_id

    def refund_id(self, record: Refund) -> str | None:
        return record.id

    def recorded_at(self, record: Refund) -> datetime:
        return record.created_at


def _answered(tx: Transaction, refund: Refund) -> StoredResponse:
    """What a final refund answered: the bytes recorded under its key (rebuilt only if the key was purged)."""
    return recorded_answer(tx, refund, lambda: _response(refund))


def _response(refund: Refund) -> StoredResponse:
    """201 with the refund; a failed one is 402 with the refund and the error envelope every error has."""
    body = refund.resource()
    if refund.status == RefundStatus.FAILED:
        body["error"] = {
            "code": "refund_failed",
            "message": f"the acquirer refused the refund ({refund.failure_code}); nothing was refunded",
            "failure_code": refund.failure_code,
            "refund_id": refund.id,
        }
        return StoredResponse(402, compact_json(body))
    return StoredResponse(201, compact_json(body))
