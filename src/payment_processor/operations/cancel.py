"""``POST /payments/{id}/cancel`` ``{"cancellation_reason"?}``: release an uncaptured authorization; the
payment becomes ``canceled`` (logic layer). The job cancels (``automatic``) authorizations nobody captured
within :data:`AUTHORIZATION_TTL_S`, through the same steps."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from payment_processor.connectors.base import Authorization, Connector
from payment_processor.connectors.outcomes import FollowUpOutcome
from payment_processor.deadlines import Expired
from payment_processor.errors import ServiceUnavailable
from payment_processor.operations.actions import CANCEL, ActionOperation, ActionRequest
from payment_processor.operations.driver import Driver, Pending
from payment_processor.payment import AUTOMATIC_CANCELLATION, Payment, PaymentAction
from payment_processor.states import PaymentStatus
from payment_processor.store.interfaces import IdempotencyKeyBusy

#: An authorization not captured within this long is canceled by the scheduled job (card networks let an
#: issuer drop an uncaptured authorization after about 7 days: past that, a capture may be refused).
AUTHORIZATION_TTL_S = 7 * 24 * 3600.0


class Cancel(ActionOperation):
    """Void the authorization, for a merchant's reason (default ``requested_by_customer``) or ``automatic``."""

    kind = CANCEL

    def material(self, request: ActionRequest) -> dict[str, Any]:
        return {} if request.cancellation_reason is None else {"cancellation_reason": request.cancellation_reason}

    def new_action(self, payment: Payment, key: str | None, request: ActionRequest) -> PaymentAction:
        return self._action(payment, key, cancellation_reason=request.cancellation_reason or "requested_by_customer")

    def call(
        self, connector: Connector, authorization: Authorization, record: PaymentAction, timeout_s: float
    ) -> FollowUpOutcome:
        return connector.cancel(authorization, key=record.id, timeout_s=timeout_s)

    def applied(self, payment: Payment, action: PaymentAction, refused: str | None, now: datetime) -> Payment | None:
        # The job's cancel of an expired authorization stands even if the void is refused: the issuer has
        # dropped an authorization that old, and nothing can be captured from it.
        if refused is not None and action.idempotency_key is not None:
            return None
        return replace(
            payment, status=PaymentStatus.CANCELED, cancellation_reason=action.cancellation_reason, updated_at=now
        )


def expire_authorizations(driver: Driver, cancel: Cancel, *, limit: int, expired: Expired) -> int:
    """The job: cancel (``automatic``) authorizations older than AUTHORIZATION_TTL_S; how many were canceled.

    Each cancel is recorded first, like a merchant's (with no key): one the acquirer does not answer now is a
    due action the job's next pass asks again about."""
    store = cancel.context.store
    canceled = 0
    for payment in store.expired_authorizations(limit=limit, older_than_s=AUTHORIZATION_TTL_S):
        if expired():
            break
        try:
            with store.transaction() as tx:
                current, waiting = tx.lock_payment_and_action(payment.id)
                if current is None or current.status != PaymentStatus.REQUIRES_CAPTURE or waiting is not None:
                    continue  # captured, canceled or being acted on since it was listed
                action = cancel.new_action(
                    current, None, ActionRequest(current.id, cancellation_reason=AUTOMATIC_CANCELLATION)
                )
                tx.insert_action(action)
                pending = Pending(action, current, tx.approved_connector(current.id))
        except IdempotencyKeyBusy:
            continue  # a request holds the payment right now: the next run looks again
        try:
            driver.settle(cancel, pending, expired)
            canceled += 1
        except (ServiceUnavailable, IdempotencyKeyBusy):
            pass  # the recorded cancel is a due action: the next run asks again
    return canceled
