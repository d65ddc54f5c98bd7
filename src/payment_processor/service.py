"""The payment service: the operations, the reads, and the scheduled job's passes, wired to one store,
acquirer and transaction log (logic layer).

Every money-moving operation (create, capture, cancel, increment, refund) runs through the one protocol in
:mod:`payment_processor.operations.driver`: recorded before the acquirer hears of it, settled once, replayed
for a retry. After commit the events are delivered to S3 within the request's time budget; a failure there
never fails the operation (the outbox keeps them for the scheduled delivery).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from payment_processor import payment as payments
from payment_processor import txlog
from payment_processor.connectors.base import Connector
from payment_processor.deadlines import Expired, never
from payment_processor.errors import NotFound
from payment_processor.operations.actions import CANCEL, CAPTURE, ActionOperation, ActionRequest
from payment_processor.operations.cancel import Cancel, expire_authorizations
from payment_processor.operations.capture import Capture
from payment_processor.operations.confirm import (
    AUTHENTICATION_WINDOW_S,
    ConfirmPayment,
    ConfirmRequest,
    waiting_for_cardholders,
)
from payment_processor.operations.create import CreatePayment
from payment_processor.operations.driver import (
    NO_SUCH_PAYMENT,
    RESOLVE_AFTER_S,
    Context,
    Driver,
    JobCounts,
    Outcome,
    answering_read_errors,
    read_one,
)
from payment_processor.operations.increment import IncrementAuthorization
from payment_processor.operations.refund import CreateRefund, RefundRequest
from payment_processor.payment import Payment, PaymentAction, Refund
from payment_processor.store.interfaces import (
    FeedEvent,
    LeasedOutbox,
    OutboxHealth,
    Page,
    PageRequest,
    PaymentStore,
    ProcessingHealth,
    StoreUnavailable,
)
from payment_processor.txlog import DeliveryReport, OutboxDelivery

if TYPE_CHECKING:
    from payment_processor.validation import PaymentRequest

#: The one answer for an unknown event id used as a cursor, and for another merchant's.
NO_SUCH_EVENT = "no such event for this API key's merchant"
#: The one answer for an unknown refund id used as a cursor, and for another merchant's.
NO_SUCH_REFUND = "no such refund of this payment for this API key's merchant"
#: An API key this close to its expiry is counted (ApiKeysExpiringSoon) and, in prod, alarmed on.
KEY_EXPIRY_WARNING_S = 7 * 86400.0
#: Events from earlier failed deliveries retried on a request once its own went through.
BACKLOG_PER_REQUEST = 10
#: Once a request found no backlog, the process's requests look again only after this long, or after a
#: delivery of theirs failed.
BACKLOG_RECHECK_S = 30.0


@dataclass(frozen=True)
class ResolutionReport:
    """What one pass of the scheduled job did, step by step: payments, payment actions (captures, cancels,
    increments) and refunds left waiting for the acquirer, then authorizations past their time, then payments
    waiting for their cardholder (3-D Secure: ``answered`` counts those asked, settled or still waiting)."""

    payments: JobCounts = dataclasses.field(default_factory=JobCounts)
    actions: JobCounts = dataclasses.field(default_factory=JobCounts)
    refunds: JobCounts = dataclasses.field(default_factory=JobCounts)
    canceled_expired: int = 0
    error: str | None = None
    authentications: JobCounts = dataclasses.field(default_factory=JobCounts)

    @property
    def settled(self) -> int:
        """Operations the acquirer answered in this pass."""
        return self.payments.answered + self.actions.answered + self.refunds.answered

    @property
    def failed_permanently(self) -> int:
        """Payments given up on (``failed``, ``acquirer_unavailable``)."""
        return self.payments.gave_up + self.actions.gave_up + self.refunds.gave_up

    @property
    def still_processing(self) -> int:
        """Operations still without an answer, left for the next pass."""
        return self.payments.still_waiting + self.actions.still_waiting + self.refunds.still_waiting

    def steps(self) -> dict[str, dict[str, int]]:
        """Each step's counts, as the job's log line shows them."""
        passes = {
            "settle_payments": self.payments,
            "finish_payment_actions": self.actions,
            "finish_refunds": self.refunds,
        }
        counts = {name: dataclasses.asdict(found) for name, found in passes.items()}
        return {
            **counts,
            "expire_authorizations": {"canceled": self.canceled_expired},
            "settle_authentications": dataclasses.asdict(self.authentications),
        }


class PaymentService:
    """The merchant API's operations and reads, and the scheduled job's passes."""

    def __init__(
        self,
        store: PaymentStore,
        connector: Connector,
        delivery: OutboxDelivery,
        *,
        clock: Callable[[], datetime] = payments.utc_now,
        new_id: Callable[[], str] = payments.new_payment_id,
    ) -> None:
        self._store = store
        self._delivery = delivery
        self._monotonic = time.monotonic
        #: When a request of this process last found the outbox's backlog drained (None: look on the next one).
        self._backlog_checked_at: float | None = None
        #: The store, acquirer and clock every operation works with (one object: swapping the acquirer here
        #: swaps it for all of them).
        self.context = Context(store, connector, clock)
        self._driver = Driver(self.context, self._deliver, self._delivery.lease)
        self.create = CreatePayment(self.context, new_id)
        self.capture = Capture(self.context)
        self.cancel = Cancel(self.context)
        self.refund = CreateRefund(self.context)
        self.increment = IncrementAuthorization(self.context)
        self.confirm = ConfirmPayment(self.context)
        #: The job's look at payments waiting for their cardholder: it gives up on them after the window.
        self.settle_authentication = ConfirmPayment(self.context, abandon_after_s=AUTHENTICATION_WINDOW_S)
        #: The operation each kind of waiting payment action is asked again through.
        self._actions: dict[str, ActionOperation] = {
            CAPTURE: self.capture,
            CANCEL: self.cancel,
            self.increment.kind: self.increment,
        }

    def create_payment(
        self,
        merchant_id: str,
        request: PaymentRequest,
        idempotency_key: str,
        *,
        expired: Expired = never,
        settle_by: Expired = never,
    ) -> Outcome:
        """Take the payment once per (merchant, key); replay the first answer for retries."""
        return self._driver.run(
            self.create, merchant_id, idempotency_key, request, expired=expired, settle_by=settle_by
        )

    def capture_payment(
        self,
        merchant_id: str,
        payment_id: str,
        amount: int | None,
        key: str,
        *,
        expired: Expired = never,
        settle_by: Expired = never,
    ) -> Outcome:
        """Capture ``amount`` (default: all) of an authorized payment; the rest of the authorization is released."""
        return self._driver.run(
            self.capture,
            merchant_id,
            key,
            ActionRequest(payment_id, amount=amount),
            expired=expired,
            settle_by=settle_by,
        )

    def cancel_payment(
        self,
        merchant_id: str,
        payment_id: str,
        reason: str | None,
        key: str,
        *,
        expired: Expired = never,
        settle_by: Expired = never,
    ) -> Outcome:
        """Release an authorized payment that was not captured; it becomes ``canceled``."""
        return self._driver.run(
            self.cancel,
            merchant_id,
            key,
            ActionRequest(payment_id, cancellation_reason=reason),
            expired=expired,
            settle_by=settle_by,
        )

    def increment_authorization(
        self,
        merchant_id: str,
        payment_id: str,
        amount: int,
        key: str,
        *,
        expired: Expired = never,
        settle_by: Expired = never,
    ) -> Outcome:
        """Raise an authorized payment's authorization to ``amount`` minor units in all."""
        return self._driver.run(
            self.increment,
            merchant_id,
            key,
            ActionRequest(payment_id, amount=amount),
            expired=expired,
            settle_by=settle_by,
        )

    def confirm_payment(
        self,
        merchant_id: str,
        payment_id: str,
        idempotency_key: str,
        *,
        expired: Expired = never,
        settle_by: Expired = never,
    ) -> Outcome:
        """``POST /payments/{id}/confirm``: settle a payment waiting for its cardholder (see operations.confirm)."""
        return self._driver.run(
            self.confirm, merchant_id, idempotency_key, ConfirmRequest(payment_id), expired=expired, settle_by=settle_by
        )

    def refund_payment(
        self,
        merchant_id: str,
        payment_id: str,
        amount: int | None,
        reason: str | None,
        key: str,
        *,
        expired: Expired = never,
        settle_by: Expired = never,
    ) -> Outcome:
        """Refund ``amount`` (default: all that is left) of the merchant's captured payment, once per key."""
        return self._driver.run(
            self.refund,
            merchant_id,
            key,
            RefundRequest(payment_id, amount, reason),
            expired=expired,
            settle_by=settle_by,
        )

    def resolve_processing(
        self, *, limit: int = 100, older_than_s: float = RESOLVE_AFTER_S, expired: Expired = never
    ) -> ResolutionReport:
        """The scheduled job's half of the protocol: ask the acquirer again about payments, captures, cancels
        and refunds a crash or an acquirer outage left waiting (the driver's one backoff and give-up policy),
        then cancel authorizations nobody captured in time."""
        store, driver = self._store, self._driver
        found: dict[str, JobCounts] = {}

        def action_operation(action: PaymentAction) -> ActionOperation:
            return self._actions[action.action]

        try:
            found["payments"] = driver.ask_again(
                store.processing_payments(limit=limit, older_than_s=older_than_s), lambda _: self.create, expired
            )
            found["actions"] = driver.ask_again(
                store.due_actions(limit=limit, older_than_s=older_than_s), action_operation, expired
            )
            found["refunds"] = driver.ask_again(
                store.pending_refunds(limit=limit, older_than_s=older_than_s), lambda _: self.refund, expired
            )
            canceled = expire_authorizations(driver, self.cancel, limit=limit, expired=expired)
            found["authentications"] = driver.ask_again(
                waiting_for_cardholders(store, limit=limit), lambda _: self.settle_authentication, expired
            )
        except StoreUnavailable as exc:
            return ResolutionReport(
                found.get("payments", JobCounts()),
                found.get("actions", JobCounts()),
                found.get("refunds", JobCounts()),
                error=str(exc),
                authentications=found.get("authentications", JobCounts()),
            )
        return ResolutionReport(
            found["payments"], found["actions"], found["refunds"], canceled, authentications=found["authentications"]
        )

    @property
    def database(self) -> Any:
        """The store's database connection, for what else the processor keeps there (webhook endpoints)."""
        return self._store.database  # type: ignore[attr-defined]

    def get_payment(self, merchant_id: str, payment_id: str) -> Payment:
        """The merchant's payment, or NotFound: an unknown id and another merchant's payment answer the same.

        The message never repeats the id: what the caller sent is not echoed.
        """
        return read_one(
            payments.is_payment_id(payment_id),
            NO_SUCH_PAYMENT,
            lambda: self._store.get_payment(payment_id, merchant_id),
        )

    def payment_with_attempts(self, merchant_id: str, payment_id: str) -> dict[str, Any]:
        """``GET /payments/{id}``: the merchant's payment with its attempts, or NotFound as :meth:`get_payment`."""
        payment, attempts = read_one(
            payments.is_payment_id(payment_id),
            NO_SUCH_PAYMENT,
            lambda: self._store.get_payment_with_attempts(payment_id, merchant_id),
        )
        return {**payment.resource(), "attempts": [attempt.resource() for attempt in attempts]}

    def list_payments(self, merchant_id: str, page: PageRequest, *, status: str | None = None) -> Page[Payment]:
        """The merchant's payments, newest first; a cursor that is not one of them is 404 like an unknown id."""
        with answering_read_errors(NO_SUCH_PAYMENT):
            return self._store.list_payments(merchant_id, page, status=status)

    def list_refunds(self, merchant_id: str, payment_id: str, page: PageRequest) -> Page[Refund]:
        """The refunds of the merchant's payment, newest first; 404 for another merchant's payment."""
        if not payments.is_payment_id(payment_id):
            raise NotFound(NO_SUCH_PAYMENT)
        with answering_read_errors(NO_SUCH_REFUND):
            if self._store.get_payment(payment_id, merchant_id) is None:
                raise NotFound(NO_SUCH_PAYMENT)
            return self._store.list_refunds(merchant_id, payment_id, page)

    def get_event(self, merchant_id: str, event_id: str) -> FeedEvent:
        """The merchant's event; 404 for an unknown id and another merchant's alike."""
        return read_one(
            txlog.is_event_id(event_id), NO_SUCH_EVENT, lambda: self._store.get_event(merchant_id, event_id)
        )

    def list_events(self, merchant_id: str, page: PageRequest) -> Page[FeedEvent]:
        """The merchant's transaction-log events, newest first (see ``PaymentStore.list_events``)."""
        with answering_read_errors(NO_SUCH_EVENT):
            return self._store.list_events(merchant_id, page)

    def deliver_pending(self, limit: int = 1000, *, expired: Expired = never) -> DeliveryReport:
        """Deliver the outbox backlog (the explicit delivery entry point), stopping when ``expired``."""
        return self._delivery.deliver(limit=limit, expired=expired)

    def outbox_health(self) -> OutboxHealth:
        """What waits in the outbox, what was dead-lettered, and the oldest waiting event's age."""
        return self._store.outbox_health()

    def processing_health(self) -> ProcessingHealth:
        """Payments recorded but not yet settled, and the oldest one's age."""
        return self._store.processing_health()

    def keys_expiring_soon(self) -> int:
        """Active API keys that stop working within KEY_EXPIRY_WARNING_S (alarmed on in prod)."""
        return self._store.keys_expiring_within(KEY_EXPIRY_WARNING_S)

    def purge_idempotency_keys(self, older_than_hours: int) -> int:
        """Delete idempotency keys past their retention; return how many."""
        return self._store.purge_idempotency_keys(older_than_hours=older_than_hours)

    def _deliver(self, payment_id: str, expired: Expired, leased: LeasedOutbox | None = None) -> DeliveryReport:
        # The payment is committed: whatever S3 does now, the answer must go out before the function's
        # deadline, so every put is started only while ``expired`` says there is time for it.
        # One failed put is enough to know S3 is not answering: the client is not kept waiting for more.
        report = self._delivery.deliver(payment_id=payment_id, expired=expired, stop_after_failures=1, leased=leased)
        if report.error is not None or report.stopped_by_deadline:
            self._backlog_checked_at = None  # this request's own events are left: a backlog there is
            return report
        if self._backlog_checked_at is None or self._monotonic() - self._backlog_checked_at >= BACKLOG_RECHECK_S:
            # The sink works: take the chance to drain a little of any backlog from an outage.
            backlog = self._delivery.deliver(limit=BACKLOG_PER_REQUEST, expired=expired, stop_after_failures=1)
            found = backlog.delivered + backlog.already_present + backlog.failed
            # Nothing was due: no request of this process looks again for a while (the scheduled job drains
            # what comes due meanwhile), which saves every request a round trip.
            self._backlog_checked_at = self._monotonic() if found == 0 and backlog.error is None else None
            return DeliveryReport(
                report.delivered + backlog.delivered,
                report.already_present + backlog.already_present,
                backlog.failed,
                backlog.error,
            )
        return report
