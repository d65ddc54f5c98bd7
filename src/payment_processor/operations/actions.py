"""What capture and cancel share: both act on an authorized payment (``requires_capture``), one at a time
per payment, recorded in ``payment_actions`` before the acquirer hears of them under the action's own id
(``act_…``), and deleted in the transaction that applies the answer (logic layer).

A subclass supplies its validation and record (:meth:`ActionOperation.new_action`), its acquirer call and
the payment its success makes (:meth:`ActionOperation.applied`); a definite refusal changes nothing and is
answered 402 with the payment and the refusal's code.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payment_processor import payment as payments
from payment_processor.encoding import compact_json
from payment_processor.errors import NotFound, PaymentStateConflict
from payment_processor.operations.driver import NO_SUCH_PAYMENT, Applied, OnPayment, Pending, recorded_answer
from payment_processor.payment import Payment, PaymentAction
from payment_processor.states import PaymentStatus
from payment_processor.store.interfaces import IdempotencyRecord, StoredResponse, Transaction
from payment_processor.txlog import payment_event

CAPTURE = "capture"
CANCEL = "cancel"
INCREMENT_AUTHORIZATION = "increment_authorization"

_REFUSALS = {
    "capture_refused": "the acquirer refused the capture; the payment is still authorized: cancel it, or try "
    "again with a new Idempotency-Key",
    "partial_capture_unsupported": "the acquirer does not capture less than the authorized amount for this card; "
    "capture the full amount or cancel, with a new Idempotency-Key",
    "cancel_refused": "the acquirer refused to cancel the authorization; the payment is still authorized",
    "increment_refused": "the acquirer refused to increment the authorization; the payment is still authorized for "
    "its amount: capture or cancel it, or try again with a new Idempotency-Key",
}


@dataclass(frozen=True)
class ActionRequest:
    """A capture or cancel as the API received it: the payment, and the capture's amount or the cancel's reason."""

    payment_id: str
    amount: int | None = None
    cancellation_reason: str | None = None


class ActionOperation(OnPayment[ActionRequest, PaymentAction]):
    """An action on an authorized payment; the acquirer's answer is None (done) or a refusal's code."""

    #: ``capture`` or ``cancel``: ``payment_actions.action``, and the route's last segment.
    kind: str

    @property
    def segment(self) -> str:  # type: ignore[override]
        return self.kind

    @abstractmethod
    def new_action(self, payment: Payment, key: str | None, request: ActionRequest) -> PaymentAction:
        """The action to record on ``payment`` (locked, authorized, nothing waiting); raise to refuse."""

    @abstractmethod
    def applied(self, payment: Payment, action: PaymentAction, refused: str | None, now: datetime) -> Payment | None:
        """The payment after the answer, or None when the answer changes nothing (a refusal)."""

    def record(self, tx: Transaction, merchant_id: str, key: str, request: ActionRequest) -> Pending[PaymentAction]:
        payment, waiting = tx.lock_payment_and_action(request.payment_id, merchant_id)
        if payment is None:
            raise NotFound(NO_SUCH_PAYMENT)
        if waiting is not None:
            raise PaymentStateConflict(
                f"a {waiting.action} of this payment is already waiting for the acquirer; retry that "
                "request with its own Idempotency-Key to get its result",
                payment_status=payment.status,
            )
        if payment.status != PaymentStatus.REQUIRES_CAPTURE:
            raise PaymentStateConflict(
                f"the payment is {payment.status}: only a payment in requires_capture (authorized "
                f"with capture_method manual, not yet captured or canceled) can be {self.kind}ed",
                payment_status=payment.status,
            )
        action = self.new_action(payment, key, request)
        tx.insert_action(action)
        return Pending(action, payment, tx.approved_connector(payment.id))

    def resume(self, merchant_id: str, key: str, previous: IdempotencyRecord) -> Pending[PaymentAction] | None:
        action = self.context.store.get_action(previous.payment_id or "")
        # Gone, or another key's: answered since the claim was read (by the job, or a concurrent retry).
        return None if action is None or action.idempotency_key != key else Pending(action)

    def describe(self, record: PaymentAction) -> str:
        return f"the {record.action} of payment {record.payment_id}"

    def no_answer(self, tx: Transaction, record: PaymentAction, retry_after_s: float) -> None:
        tx.record_action_failure(record.payment_id, retry_after_s)

    def apply(self, tx: Transaction, record: PaymentAction, answer: str | None) -> Applied:
        current, waiting = tx.lock_payment_and_action(record.payment_id)
        if current is None:  # pragma: no cover - payments are never deleted
            raise RuntimeError(f"payment {record.payment_id} vanished")
        if waiting is None or waiting.id != record.id:
            # Another request or the job applied this answer first: answer what it recorded.
            return Applied(
                recorded_answer(tx, record, lambda: StoredResponse(200, compact_json(current.resource()))), now=False
            )
        changed = self.applied(current, record, answer, self.context.clock())
        if changed is not None:
            self.write(tx, current, changed)
            response = StoredResponse(200, compact_json(changed.resource()))
        else:
            assert answer is not None
            body: dict[str, Any] = current.resource()
            body["error"] = {"code": answer, "message": _REFUSALS.get(answer, answer), "payment_id": current.id}
            response = StoredResponse(402, compact_json(body))
        tx.delete_action(record.payment_id)
        return Applied(response)

    def write(self, tx: Transaction, current: Payment, changed: Payment) -> None:
        """Write the payment the answer made, and its event (a state change, by default)."""
        tx.update_payment(changed, from_status=current.status)
        tx.add_event(payment_event(changed, tx.next_event_sequence(changed.id)))

    def payment_id(self, record: PaymentAction) -> str:
        return record.payment_id

    def recorded_at(self, record: PaymentAction) -> datetime:
        return record.requested_at

    def _action(self, payment: Payment, key: str | None, **details: Any) -> PaymentAction:
        return PaymentAction(
            id=payments.new_id("act"),
            payment_id=payment.id,
            action=self.kind,
            merchant_id=payment.merchant_id,
            requested_at=self.context.clock(),
            idempotency_key=key,
            **details,
        )
