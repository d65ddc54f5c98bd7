"""Capture and cancel of an authorized payment (``capture_method: manual``), and the job's half of both
(logic layer).

Each is recorded before the acquirer hears of it, as a payment's creation is:

1. claim the Idempotency-Key; lock the payment; it must be ``requires_capture`` with nothing waiting
   (else 409 ``payment_state_conflict``); record the action (``payment_actions``); point the key at the
   payment -> commit.
2. ask the acquirer, with the action's id as its idempotency key.
3. lock the payment and the action; apply the answer once (``succeeded`` with ``amount_captured``,
   ``canceled``, or a refusal that changes nothing), write the event, delete the action, record the
   response under the key -> commit.

A crash or an acquirer outage between 1 and 3 leaves the action for the same key or the scheduled job.
The job also cancels authorizations nobody captured within :data:`AUTHORIZATION_TTL_S`.
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
from payment_processor.errors import NotFound, ServiceUnavailable, ValidationFailed
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
)
from payment_processor.payment import Payment, PaymentAction
from payment_processor.store.interfaces import IdempotencyKeyBusy, PaymentStore, StoredResponse
from payment_processor.txlog import DeliveryReport, payment_event

CAPTURE = "capture"
CANCEL = "cancel"
#: An authorization not captured within this long is canceled by the scheduled job (card networks let an
#: issuer drop an uncaptured authorization after about 7 days: past that, a capture may be refused).
AUTHORIZATION_TTL_S = 7 * 24 * 3600.0

_REFUSALS = {
    "capture_refused": "the acquirer refused the capture; the payment is still authorized: cancel it, or try "
    "again with a new Idempotency-Key",
    "partial_capture_unsupported": "the acquirer does not capture less than the authorized amount for this card; "
    "capture the full amount or cancel, with a new Idempotency-Key",
    "cancel_refused": "the acquirer refused to cancel the authorization; the payment is still authorized",
}


class PaymentActions:
    """Captures and cancels of a merchant's payments."""

    def __init__(
        self,
        store: PaymentStore,
        gateway: PaymentGateway,
        deliver: Callable[[str, Expired], DeliveryReport],
        *,
        clock: Callable[[], datetime] = payments.utc_now,
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._deliver = deliver
        self._clock = clock

    def capture(
        self, merchant_id: str, payment_id: str, amount: int | None, key: str, *,
        expired: Expired = never, settle_by: Expired = never,
    ) -> Outcome:  # fmt: skip
        """Capture ``amount`` (default: all) of an authorized payment; the rest of the authorization is released."""

        def action(payment: Payment) -> PaymentAction:
            wanted = payment.amount if amount is None else amount
            if wanted > payment.amount:
                raise ValidationFailed(
                    f"amount is more than the {payment.amount} minor units authorized; capture at most that",
                    code="amount_exceeds_authorized",
                    field="amount",
                )
            return self._new_action(payment, CAPTURE, key, amount=wanted)

        material = {} if amount is None else {"amount": amount}
        return self._request(merchant_id, payment_id, CAPTURE, material, key, action, expired, settle_by)

    def cancel(
        self, merchant_id: str, payment_id: str, reason: str | None, key: str, *,
        expired: Expired = never, settle_by: Expired = never,
    ) -> Outcome:  # fmt: skip
        """Release an authorized payment that was not captured; it becomes ``canceled``."""
        material = {} if reason is None else {"cancellation_reason": reason}

        def action(payment: Payment) -> PaymentAction:
            return self._new_action(payment, CANCEL, key, reason=reason or "requested_by_customer")

        return self._request(merchant_id, payment_id, CANCEL, material, key, action, expired, settle_by)

    def resolve(self, *, limit: int = 100, older_than_s: float = operations.RESOLVE_AFTER_S,
                expired: Expired = never) -> tuple[int, int]:  # fmt: skip
        """The job: ask the acquirer again about captures and cancels left waiting; (answered, still waiting)."""
        return operations.ask_again(self._store.due_actions(limit=limit, older_than_s=older_than_s),
                                    self._perform, expired)  # fmt: skip

    def expire_authorizations(self, *, limit: int = 100, expired: Expired = never) -> int:
        """The job: cancel (``automatic``) authorizations older than AUTHORIZATION_TTL_S; how many were canceled."""
        canceled = 0
        for payment in self._store.expired_authorizations(limit=limit, older_than_s=AUTHORIZATION_TTL_S):
            if expired():
                break
            try:
                with self._store.transaction() as tx:
                    current = tx.lock_payment(payment.id)
                    if current is None or current.status != payments.REQUIRES_CAPTURE or tx.lock_action(payment.id):
                        continue  # captured, canceled or being acted on since it was listed
                    action = self._new_action(current, CANCEL, None, reason=payments.AUTOMATIC_CANCELLATION)
                    tx.insert_action(action)
            except IdempotencyKeyBusy:
                continue  # a request holds the payment right now: the next run looks again
            try:
                self._perform(action, expired)
                canceled += 1
            except (ServiceUnavailable, IdempotencyKeyBusy):
                pass  # the recorded cancel is a due action: the next run's resolve asks again
        return canceled

    def _new_action(
        self, payment: Payment, kind: str, key: str | None, *, amount: int | None = None, reason: str | None = None
    ) -> PaymentAction:
        return PaymentAction(
            id=payments.new_id("act"),
            payment_id=payment.id,
            action=kind,
            merchant_id=payment.merchant_id,
            requested_at=self._clock(),
            amount=amount,
            cancellation_reason=reason,
            idempotency_key=key,
        )

    def _request(
        self,
        merchant_id: str,
        payment_id: str,
        kind: str,
        material: dict[str, Any],
        key: str,
        new_action: Callable[[Payment], PaymentAction],
        expired: Expired,
        settle_by: Expired,
    ) -> Outcome:
        if not payments.is_payment_id(payment_id):
            raise NotFound(NO_SUCH_PAYMENT)
        request_fingerprint = fingerprint(f"POST /payments/{payment_id}/{kind}", material)
        #: The payment as this request's own transaction locked it (None on a retry: read anew).
        authorized: Payment | None = None
        with answering_store_errors():
            with self._store.transaction() as tx:
                previous = claim(tx, merchant_id, key, request_fingerprint)
                if previous is not None:
                    if previous.response is not None:
                        return Outcome(previous.response, replayed=True, payment_id=payment_id)
                    action = None
                else:
                    # Rolled back with the claim if refused: a 404, 409 or 422 keeps no key.
                    payment = tx.lock_payment(payment_id, merchant_id)
                    if payment is None:
                        raise NotFound(NO_SUCH_PAYMENT)
                    waiting = tx.lock_action(payment_id)
                    if waiting is not None:
                        raise PaymentStateConflict(
                            f"a {waiting.action} of this payment is already waiting for the acquirer; retry that "
                            "request with its own Idempotency-Key to get its result",
                            payment_status=payment.status,
                        )
                    if payment.status != payments.REQUIRES_CAPTURE:
                        raise PaymentStateConflict(
                            f"the payment is {payment.status}: only a payment in requires_capture (authorized "
                            f"with capture_method manual, not yet captured or canceled) can be {kind}ed",
                            payment_status=payment.status,
                        )
                    action = new_action(payment)
                    tx.insert_action(action)
                    tx.bind_idempotency_key(merchant_id, key, payment_id)
                    authorized = payment
            if action is None:
                action = self._store.get_action(payment_id)
                if action is None or action.idempotency_key != key:
                    # Answered since the claim was read (by the job, or a concurrent retry): replay that.
                    return Outcome(self._recorded(merchant_id, key, payment_id), replayed=True, payment_id=payment_id)
            response = self._perform(action, settle_by, authorized)
        return Outcome(
            response, replayed=previous is not None, payment_id=payment_id, delivery=self._deliver(payment_id, expired)
        )

    def _recorded(self, merchant_id: str, key: str, payment_id: str) -> StoredResponse:
        with self._store.transaction() as tx:
            stored = tx.stored_response(merchant_id, key)
        if stored is None:  # pragma: no cover - an action is deleted in the transaction that stores the answer
            raise still_processing(f"the payment {payment_id}'s action")
        return stored

    def _perform(self, action: PaymentAction, settle_by: Expired, payment: Payment | None = None) -> StoredResponse:
        """Ask the acquirer about a recorded action and apply its answer; 503 when there is none yet.

        ``payment`` is the payment as the action's own transaction read it (a retry or the job reads it anew).
        """
        if payment is None:
            payment = self._store.get_payment(action.payment_id, action.merchant_id)
        if payment is None or payment.authorization_code is None:  # pragma: no cover - actions need an authorization
            raise RuntimeError(f"action {action.id} has no authorized payment")
        what = f"the {action.action} of payment {payment.id}"
        if settle_by():
            raise still_processing(what)
        follow_up = FollowUp(payment.payment_method, payment.authorization_code, payment.currency)
        refused = None
        try:
            if action.action == CAPTURE:
                assert action.amount is not None
                self._gateway.capture(follow_up, amount=action.amount, authorized=payment.amount,
                                      idempotency_key=action.id)  # fmt: skip
            else:
                self._gateway.cancel(follow_up, idempotency_key=action.id)
        except AcquirerUnavailable:
            with self._store.transaction() as tx:
                tx.record_action_failure(payment.id, acquirer_backoff_s(action.acquirer_attempts + 1))
            raise still_processing(what) from None
        except OperationRefused as exc:
            refused = exc.code
        return self._finish(action, refused)

    def _finish(self, action: PaymentAction, refused: str | None) -> StoredResponse:
        with self._store.transaction() as tx:
            current = tx.lock_payment(action.payment_id)
            waiting = tx.lock_action(action.payment_id)
            if current is None:  # pragma: no cover - payments are never deleted
                raise RuntimeError(f"payment {action.payment_id} vanished")
            if waiting is None or waiting.id != action.id:
                # Another request or the job applied this answer first: answer what it recorded.
                key = action.idempotency_key
                stored = tx.stored_response(action.merchant_id, key) if key else None
                return stored or StoredResponse(200, compact_json(current.resource()))
            now = self._clock()
            if refused is None and action.action == CAPTURE:
                assert action.amount is not None
                changed: Payment | None = replace(
                    current, status=payments.SUCCEEDED, amount_captured=action.amount, updated_at=now
                )
            elif refused is None or action.idempotency_key is None:
                # The job's cancel of an expired authorization stands even if the void is refused: the
                # issuer has dropped an authorization that old, and nothing can be captured from it.
                changed = replace(
                    current, status=payments.CANCELED, cancellation_reason=action.cancellation_reason, updated_at=now
                )
            else:
                changed = None
            if changed is not None:
                tx.update_payment(changed, from_status=payments.REQUIRES_CAPTURE)
                tx.add_event(payment_event(changed, tx.next_event_sequence(changed.id)))
                response = StoredResponse(200, compact_json(changed.resource()))
            else:
                assert refused is not None
                body = current.resource()
                body["error"] = {"code": refused, "message": _REFUSALS.get(refused, refused), "payment_id": current.id}
                response = StoredResponse(402, compact_json(body))
            tx.delete_action(action.payment_id)
            if action.idempotency_key is not None:
                tx.complete_idempotency_key(action.merchant_id, action.idempotency_key, response, action.payment_id)
        return response
