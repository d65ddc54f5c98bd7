"""``POST /payments/{id}/increment_authorization`` ``{"amount": N}``: raise an authorized, uncaptured
payment's authorization to N minor units in all (Stripe's incremental authorization), for a bill that grew
after the card was authorized (logic layer). The payment stays ``requires_capture``; its ``amount`` is N and
a capture takes up to N. Written only through the driver: its record, ask and apply steps are all it adds.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from payment_processor.connectors.base import Authorization, Connector
from payment_processor.connectors.outcomes import FollowUpOutcome
from payment_processor.errors import ValidationFailed
from payment_processor.operations.actions import INCREMENT_AUTHORIZATION, ActionOperation, ActionRequest
from payment_processor.payment import Payment, PaymentAction
from payment_processor.store.interfaces import Transaction
from payment_processor.txlog import payment_event

#: The transaction-log event of an increment (the status does not change, so it names the change).
EVENT = "payment.authorization_incremented"


class IncrementAuthorization(ActionOperation):
    """Raise the authorized amount to ``amount``, which must be above the current one."""

    kind = INCREMENT_AUTHORIZATION

    def material(self, request: ActionRequest) -> dict[str, Any]:
        return {"amount": request.amount}

    def new_action(self, payment: Payment, key: str | None, request: ActionRequest) -> PaymentAction:
        if request.amount is None or request.amount <= payment.amount:
            raise ValidationFailed(
                f"amount must be above the {payment.amount} minor units authorized now: it is the new total",
                code="amount_not_above_authorized",
                field="amount",
            )
        return self._action(payment, key, amount=request.amount)

    def call(
        self, connector: Connector, authorization: Authorization, record: PaymentAction, timeout_s: float
    ) -> FollowUpOutcome:
        assert record.amount is not None
        return connector.increment_authorization(
            authorization, amount=record.amount, key=record.id, timeout_s=timeout_s
        )

    def applied(self, payment: Payment, action: PaymentAction, refused: str | None, now: datetime) -> Payment | None:
        return None if refused is not None or action.amount is None else replace(payment, amount=action.amount)

    def write(self, tx: Transaction, current: Payment, changed: Payment) -> None:
        tx.increment_amount(current.id, from_amount=current.amount, to_amount=changed.amount)
        # The status and when it was reached stay (the 7-day expiry runs from the authorization).
        tx.add_event(payment_event(changed, tx.next_event_sequence(changed.id), EVENT, self.context.clock()))
