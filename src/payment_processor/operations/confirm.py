"""``POST /payments/{id}/confirm``: settle a payment waiting for its cardholder (3-D Secure), and the job's
look at those nobody confirms (logic layer).

A payment the issuer asked to authenticate is ``requires_action``: nothing has moved, and the merchant's front
end has taken the cardholder through ``next_action``. Confirming asks the acquirer where the authorization
stands (the status query: the connector finds the PaymentIntent its attempt remembered and sends nothing that
moves money) and applies the answer once, under the payment's lock: authenticated and authorized
(``succeeded``, or ``requires_capture`` for ``capture_method: manual``), authentication failed (``declined``,
``authentication_required``), or still waiting (``202``, unchanged). The attempt that was answered
``requires_action`` takes the cardholder's answer as its outcome, so follow-ups find the connector that
authorized.

The job asks the same of every payment still waiting, each :data:`~.create.AUTHENTICATION_POLL_S`; once one has
waited :data:`AUTHENTICATION_WINDOW_S`, it cancels the authorization at the acquirer first (under the attempt's
id as the key) and fails the payment (``authentication_abandoned``). A cancel the acquirer refuses means the
cardholder finished meanwhile: the status query then settles it as they left it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from payment_processor import payment as payments
from payment_processor.connectors.base import Authorization
from payment_processor.connectors.outcomes import Approved, Declined, RequiresAction
from payment_processor.errors import NotFound, PaymentStateConflict
from payment_processor.operations.create import (
    AUTHENTICATION_POLL_S,
    SETTLED_MEANWHILE,
    AttemptJournal,
    Settled,
    Settlement,
    authorize_request,
    payment_response,
    write_settlement,
)
from payment_processor.operations.driver import NO_SUCH_PAYMENT, Applied, Context, NoAnswer, Operation, Pending
from payment_processor.payment import Payment
from payment_processor.states import PaymentStatus
from payment_processor.store.interfaces import IdempotencyRecord, PaymentStore, Transaction

#: A cardholder who has not authenticated within this long never will (a 3-D Secure challenge is a browser
#: session): the job cancels the authorization at the acquirer and fails the payment.
AUTHENTICATION_WINDOW_S = 3600.0
#: The failure code of a payment whose cardholder never authenticated.
ABANDONED = "authentication_abandoned"


@dataclass(frozen=True)
class ConfirmRequest:
    """A confirm as the API received it: the payment in the route (no body)."""

    payment_id: str


class ConfirmPayment(Operation[ConfirmRequest, Payment, Settlement]):
    """Ask the acquirer whether the cardholder authenticated, and settle the payment if they did or failed to.

    The record is the payment with the confirm's own Idempotency-Key (None when the job asks), so the answer is
    stored under the confirm's key and the create's key keeps the ``requires_action`` answer it gave."""

    processing_code = "payment_processing"

    def __init__(self, context: Context, *, abandon_after_s: float | None = None) -> None:
        super().__init__(context)
        #: The job's instance cancels a payment waiting longer than this; a merchant's confirm never does.
        self._abandon_after_s = abandon_after_s

    def validate(self, request: ConfirmRequest) -> None:
        if not payments.is_payment_id(request.payment_id):
            raise NotFound(NO_SUCH_PAYMENT)

    def route(self, request: ConfirmRequest) -> str:
        return f"POST /payments/{request.payment_id}/confirm"

    def material(self, request: ConfirmRequest) -> dict[str, Any]:
        return {}

    def record(self, tx: Transaction, merchant_id: str, key: str, request: ConfirmRequest) -> Pending[Payment]:
        payment = tx.lock_payment(request.payment_id, merchant_id)
        if payment is None:
            raise NotFound(NO_SUCH_PAYMENT)
        if payment.status != PaymentStatus.REQUIRES_ACTION:
            raise PaymentStateConflict(
                f"the payment is {payment.status}: only a payment in requires_action (waiting for its cardholder "
                "to authenticate) can be confirmed; GET the payment for where it stands",
                payment_status=payment.status,
            )
        tx.bind_idempotency_key(merchant_id, key, payment.id)
        return Pending(replace(payment, idempotency_key=key), payment)

    def resume(self, merchant_id: str, key: str, previous: IdempotencyRecord) -> Pending[Payment]:
        payment = self.context.store.get_payment(previous.payment_id or "", merchant_id)
        if payment is None:  # pragma: no cover - the key was bound to the payment it confirms
            raise RuntimeError("a confirm's key points at a missing payment")
        return Pending(replace(payment, idempotency_key=key))

    def describe(self, record: Payment) -> str:
        return f"the confirmation of payment {record.id}"

    def ask(self, pending: Pending[Payment], timeout_s: float) -> Settlement:
        payment = pending.record
        if payment.status != PaymentStatus.REQUIRES_ACTION:
            return SETTLED_MEANWHILE  # a retry of a confirm the job or another confirm settled: apply answers it
        store: PaymentStore = self.context.store
        attempt = store.last_attempt(payment.id)
        if attempt is None or attempt.reference is None:  # pragma: no cover - requires_action names its attempt
            raise RuntimeError(f"payment {payment.id} waits for its cardholder with no attempt to ask about")
        connector = self.context.connector_named(payment.merchant_id, attempt.connector)
        if self._abandoned(payment):
            authorization = Authorization(attempt.reference, payment.payment_method, payment.currency, payment.amount)
            canceled = connector.cancel(authorization, key=attempt.id, timeout_s=timeout_s)
            if isinstance(canceled, Approved):
                return Settlement(failure_code=ABANDONED)
            if not isinstance(canceled, Declined):
                raise NoAnswer(canceled.reason)
            # Refused: the cardholder finished meanwhile, and the status query says how.
        outcome = connector.authorize(authorize_request(payment), AttemptJournal(store, attempt), timeout_s=timeout_s)
        if isinstance(outcome, RequiresAction):
            return Settlement(outcome)
        if isinstance(outcome, Approved | Declined):
            code = outcome.code if isinstance(outcome, Declined) else None
            return Settlement(outcome, attempt=Settled(attempt.id, outcome.outcome, code))
        raise NoAnswer(outcome.reason)

    def no_answer(self, tx: Transaction, record: Payment, retry_after_s: float) -> None:
        tx.due_again(record.id, retry_after_s)

    def apply(self, tx: Transaction, record: Payment, answer: Settlement) -> Applied:
        current = tx.lock_payment(record.id)
        if current is None:  # pragma: no cover - payments are never deleted
            raise RuntimeError(f"payment {record.id} vanished")
        if current.status != PaymentStatus.REQUIRES_ACTION or answer is SETTLED_MEANWHILE:
            # Settled by the job or another confirm first: this confirm answers the payment as it stands.
            return Applied(payment_response(current, created=False))
        if isinstance(answer.outcome, RequiresAction):
            tx.due_again(current.id, AUTHENTICATION_POLL_S)
            return Applied(payment_response(current, created=False))
        if answer.attempt is not None:
            answer.attempt.write(tx)
        return Applied(write_settlement(tx, current, answer, self.context.clock(), created=False))

    def payment_id(self, record: Payment) -> str:
        return record.id

    def recorded_at(self, record: Payment) -> datetime:
        return record.changed_at

    def _abandoned(self, payment: Payment) -> bool:
        if self._abandon_after_s is None:
            return False
        return (self.context.clock() - payment.changed_at).total_seconds() >= self._abandon_after_s


def waiting_for_cardholders(store: PaymentStore, *, limit: int) -> list[Payment]:
    """The job's records: payments waiting for their cardholder and due, without their creating key (the job
    answers no request, and the create's key keeps the answer it gave)."""
    return [replace(payment, idempotency_key=None) for payment in store.awaiting_authentication(limit=limit)]
