"""``POST /payments/{id}/capture`` ``{"amount"?}``: capture all or part of an authorization; the rest is
released (logic layer). The payment becomes ``succeeded`` with ``amount_captured``."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from payment_processor.connectors.base import Authorization, Connector
from payment_processor.connectors.outcomes import FollowUpOutcome
from payment_processor.errors import ValidationFailed
from payment_processor.operations.actions import CAPTURE, ActionOperation, ActionRequest
from payment_processor.payment import Payment, PaymentAction
from payment_processor.states import PaymentStatus


class Capture(ActionOperation):
    """Capture ``amount`` (default: all that was authorized)."""

    kind = CAPTURE

    def material(self, request: ActionRequest) -> dict[str, Any]:
        return {} if request.amount is None else {"amount": request.amount}

    def new_action(self, payment: Payment, key: str | None, request: ActionRequest) -> PaymentAction:
        wanted = payment.amount if request.amount is None else request.amount
        if wanted > payment.amount:
            raise ValidationFailed(
                f"amount is more than the {payment.amount} minor units authorized; capture at most that",
                code="amount_exceeds_authorized",
                field="amount",
            )
        return self._action(payment, key, amount=wanted)

    def call(
        self, connector: Connector, authorization: Authorization, record: PaymentAction, timeout_s: float
    ) -> FollowUpOutcome:
        assert record.amount is not None
        return connector.capture(authorization, amount=record.amount, key=record.id, timeout_s=timeout_s)

    def applied(self, payment: Payment, action: PaymentAction, refused: str | None, now: datetime) -> Payment | None:
        if refused is not None:
            return None
        assert action.amount is not None
        return replace(payment, status=PaymentStatus.SUCCEEDED, amount_captured=action.amount, updated_at=now)
