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
from dataclasses import dataclass
from typing import Any, Protocol

from payment_processor.payment import Payment, isoformat
from payment_processor.store.interfaces import OutboxEvent, PaymentStore, StoreUnavailable


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
    "authorization_code",
    "created_at",
)


def payment_event(payment: Payment, sequence: int = 1) -> OutboxEvent:
    """The outbox event recording that ``payment`` reached its current status.

    The body holds only :data:`LOGGED_PAYMENT_FIELDS` of the payment, never caller free text.
    """
    event_type = f"payment.{payment.status}"
    day = payment.created_at.strftime("%Y/%m/%d")
    key = f"transactions/{day}/{payment.id}/{sequence:04d}-{event_type}.json"
    resource = payment.resource()
    body = {
        "event_id": f"{payment.id}:{sequence:04d}",
        "event_type": event_type,
        "occurred_at": isoformat(payment.created_at),
        # An allow-list, not a deny-list: a field added to the resource later stays out until added here.
        "payment": {name: resource[name] for name in LOGGED_PAYMENT_FIELDS},
    }
    return OutboxEvent(
        payment_id=payment.id,
        event_type=event_type,
        object_key=key,
        body=json.dumps(body, sort_keys=True, separators=(",", ":")),
    )


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


class MemorySink:
    """An in-memory sink for unit tests; ``available = False`` makes it fail like an S3 outage."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        self.available = True
        self.puts = 0

    def put(self, key: str, body: str) -> bool:
        """Store the object unless present."""
        if not self.available:
            raise SinkUnavailable("memory sink switched off")
        self.puts += 1
        if key in self.objects:
            return False
        self.objects[key] = body
        return True


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery pass did."""

    delivered: int = 0
    already_present: int = 0
    failed: int = 0
    error: str | None = None


class OutboxDelivery:
    """Moves pending outbox events into the sink."""

    def __init__(self, store: PaymentStore, sink: TransactionLogSink) -> None:
        self._store = store
        self._sink = sink

    def deliver(self, *, limit: int = 100, payment_id: str | None = None) -> DeliveryReport:
        """Deliver up to ``limit`` pending events (oldest first); stop at the first sink failure."""
        delivered = present = failed = 0
        error = None
        try:
            with self._store.claim_outbox(limit=limit, payment_id=payment_id) as batch:
                for event in batch.events:
                    assert event.id is not None
                    try:
                        wrote = self._sink.put(event.object_key, event.body)
                    except SinkUnavailable as exc:
                        batch.mark_failed(event.id, str(exc))
                        failed += 1
                        error = str(exc)
                        break  # the sink is down: the rest would fail the same way, slowly
                    batch.mark_delivered(event.id)
                    if wrote:
                        delivered += 1
                    else:
                        present += 1
        except StoreUnavailable as exc:
            return DeliveryReport(delivered, present, failed, str(exc))
        return DeliveryReport(delivered, present, failed, error)
