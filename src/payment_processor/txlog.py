"""The S3 transaction log: event objects, the S3 sink, and outbox delivery (logic + data access).

Every payment state change is one JSON object at a deterministic key
``transactions/YYYY/MM/DD/<payment_id>/<seq>-<event_type>.json``. Events are written to the
outbox table in the payment's transaction and delivered after commit; an S3 failure leaves them
pending for the next invocation or the explicit delivery entry point. The put is conditional
(``If-None-Match: *``), so a redelivery after a crash between put and mark finds the object there
and writes nothing: each event lands exactly once, even in a versioned bucket.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from payment_processor.backoff import backoff_s
from payment_processor.deadlines import Expired, never
from payment_processor.payment import Payment, Refund, has_id_shape, isoformat
from payment_processor.store.interfaces import (
    LeasedOutbox,
    OutboxBatch,
    OutboxEvent,
    PaymentStore,
    StoreUnavailable,
    Transaction,
)


class SinkUnavailable(Exception):
    """The transaction log store (S3) did not take the object; the event stays pending."""


class TransactionLogSink(Protocol):
    """Where transaction-log objects are written."""

    def put(self, key: str, body: str) -> bool:
        """Write ``body`` at ``key`` unless an object is already there; True if this call wrote it."""
        ...


#: The payment fields the transaction log keeps: ids, amounts, currency, status, codes and times.
#: No free text: description, metadata, customer_id and payment_method (a token is caller text too)
#: stay in the database, where they can be corrected or erased; the log is write-once.
LOGGED_PAYMENT_FIELDS = (
    "id",
    "object",
    "status",
    "amount",
    "currency",
    "merchant_id",
    "decline_code",
    "failure_code",
    "authorization_code",
    "capture_method",
    "amount_captured",
    "amount_refunded",
    "cancellation_reason",
    "created_at",
)
#: A refund's resource has no free text (its reason is one of a fixed list): it is logged whole.


def payment_event(
    payment: Payment, sequence: int = 1, event_type: str | None = None, occurred: datetime | None = None
) -> OutboxEvent:
    """The outbox event recording that ``payment`` reached its current status.

    ``sequence`` is the payment's event number (1 for ``processing``, 2 for the acquirer's answer, then one
    per later change, refunds' included: ``Transaction.next_event_sequence``). With the event type it makes
    the object key, so an event written twice lands at one key.
    The body holds only :data:`LOGGED_PAYMENT_FIELDS` of the payment, never caller free text. ``event_type``
    names a change that keeps the status (``payment.authorization_incremented``, which happened at ``occurred``);
    the default is the status's, reached at the payment's ``changed_at``.
    """
    return _event(payment, event_type or f"payment.{payment.status}", sequence, occurred or payment.changed_at, {})


def refund_event(payment: Payment, refund: Refund, sequence: int) -> OutboxEvent:
    """The outbox event recording that ``refund`` (of ``payment``, as it stands after it) reached its status."""
    return _event(payment, f"refund.{refund.status}", sequence, refund.updated_at, {"refund": refund.resource()})


def _event(payment: Payment, event_type: str, sequence: int, occurred: datetime, extra: dict[str, Any]) -> OutboxEvent:
    day = payment.created_at.strftime("%Y/%m/%d")
    key = f"transactions/{day}/{payment.id}/{sequence:04d}-{event_type}.json"
    resource = payment.resource()
    event_id = f"{payment.id}:{sequence:04d}"
    body = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": isoformat(occurred),
        # An allow-list, not a deny-list: a field added to the resource later stays out until added here.
        "payment": {name: resource[name] for name in LOGGED_PAYMENT_FIELDS},
        **extra,
    }
    return OutboxEvent(
        payment_id=payment.id,
        event_type=event_type,
        object_key=key,
        body=json.dumps(body, sort_keys=True, separators=(",", ":")),
        merchant_id=payment.merchant_id,
        event_id=event_id,
    )


def is_event_id(value: str) -> bool:
    """The shape of an event id (checked before touching the database): a payment's id and its event number,
    or a webhook endpoint's id and a hex suffix (``webhooks.events``)."""
    head, colon, tail = value.partition(":")
    return (
        colon == ":"
        and (has_id_shape(head, "pay") or has_id_shape(head, "we"))
        and 4 <= len(tail) <= 12
        and all(c in "0123456789abcdef" for c in tail)
    )


def feed_resource(body: str) -> dict[str, Any]:
    """A logged event as ``GET /events`` shows it: the same ids, amounts, statuses, codes and times."""
    logged = json.loads(body)
    return {
        "id": logged["event_id"],
        "object": "event",
        "type": logged["event_type"],
        "created_at": logged["occurred_at"],
        "data": {name: logged[name] for name in ("payment", "refund", "webhook_endpoint") if name in logged},
    }


class S3Sink:
    """Writes objects to one S3 bucket with a conditional put."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, body: str) -> bool:
        """Conditional put; an existing object (412) means an earlier delivery already wrote it."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body.encode(),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "412"):
                return False
            raise SinkUnavailable(f"S3 put to {self._bucket} failed: {code or 'ClientError'}") from None
        except BotoCoreError as exc:
            raise SinkUnavailable(f"S3 unreachable: {type(exc).__name__}") from None
        return True


#: Events claimed per batch: each is put, and the batch's deliveries are marked in one statement when it ends,
#: so a run killed mid-batch redoes at most this many puts (each finds its object there, 412, and is marked).
BATCH_SIZE = 10
#: How long a batch's events are held for the deliverer that claimed them (a queue's visibility timeout):
#: long enough for a whole batch of puts at CALL_BUDGET_S each. The events of a deliverer that died are due
#: again when it ends; those it let go of (deadline, failing sink) are due again at once.
LEASE_S = 60
#: Failed attempts after which an event is set aside (dead-lettered): counted, alarmed on, not retried.
MAX_ATTEMPTS = 10
#: Consecutive sink failures after which a run stops: the sink is down, and each try costs its timeout.
FAILURES_BEFORE_STOPPING = 3


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery pass did."""

    delivered: int = 0
    already_present: int = 0
    failed: int = 0
    error: str | None = None
    dead_lettered: int = 0
    stopped_by_deadline: bool = False


class OutboxDelivery:
    """Moves due outbox events into the sink, batch by batch, until none are due or time is up."""

    def __init__(self, store: PaymentStore, sink: TransactionLogSink, *, lease_s: float = LEASE_S) -> None:
        self._store = store
        self._sink = sink
        self._lease_s = lease_s

    def lease(self, tx: Transaction, payment_id: str) -> LeasedOutbox:
        """Lease a batch of the payment's due events in ``tx`` (the one that wrote them): pass it to
        :meth:`deliver` after commit, which then needs no claim of its own."""
        return tx.lease_outbox(payment_id, limit=BATCH_SIZE, lease_s=self._lease_s)

    def deliver(
        self,
        *,
        limit: int = 100,
        payment_id: str | None = None,
        expired: Expired = never,
        stop_after_failures: int = FAILURES_BEFORE_STOPPING,
        leased: LeasedOutbox | None = None,
    ) -> DeliveryReport:
        """Deliver up to ``limit`` due events (oldest first), committing every batch.

        A failing event is retried later with backoff and never blocks the events behind it; after
        MAX_ATTEMPTS it is dead-lettered. ``expired`` is checked before every put: a run stops in time
        to commit what it did (on Lambda, before the function's deadline), so it always makes progress.
        A run stops after ``stop_after_failures`` consecutive sink failures (a request stops at the first:
        its client waits). ``leased`` (from :meth:`lease`) is the first batch; it is given back, not left to
        its lease's end, whatever stops the run.
        """
        delivered = present = failed = dead = 0
        error: str | None = None
        streak = 0
        remaining = limit
        try:
            while remaining > 0 and streak < stop_after_failures:
                claimed: AbstractContextManager[OutboxBatch]
                if leased is not None:
                    asked, claimed, leased = BATCH_SIZE, leased.batch(), None
                elif expired():
                    return DeliveryReport(delivered, present, failed, error, dead, stopped_by_deadline=True)
                else:
                    asked = min(BATCH_SIZE, remaining)
                    claimed = self._store.claim_outbox(limit=asked, lease_s=self._lease_s, payment_id=payment_id)
                with claimed as batch:
                    if not batch.events:
                        break
                    # A short batch took every due event no other deliverer holds: asking again would only
                    # open another transaction to find nothing (one per request, on the request path).
                    last_batch = len(batch.events) < asked
                    remaining -= len(batch.events)
                    for event in batch.events:
                        if expired() or streak >= stop_after_failures:
                            break  # the rest are given back, due at once
                        assert event.id is not None
                        try:
                            wrote = self._sink.put(event.object_key, event.body)
                        except SinkUnavailable as exc:
                            attempts = event.attempts + 1
                            gives_up = attempts >= MAX_ATTEMPTS
                            batch.mark_failed(
                                event.id, str(exc), retry_after_s=None if gives_up else backoff_s(attempts)
                            )
                            failed += 1
                            dead += gives_up
                            streak += 1
                            error = str(exc)
                            continue
                        streak = 0
                        batch.mark_delivered(event.id)
                        if wrote:
                            delivered += 1
                        else:
                            present += 1
                if last_batch:
                    break
        except StoreUnavailable as exc:
            return DeliveryReport(delivered, present, failed, str(exc), dead)
        return DeliveryReport(delivered, present, failed, error, dead, stopped_by_deadline=expired())
