"""The events webhooks themselves cause: ``webhook_endpoint.disabled`` (logic layer: no I/O).

It is written to the transaction-log outbox like a payment's event, so the merchant sees it in ``GET /events``
and its other endpoints subscribed to it get it pushed. It names the endpoint and why it was disabled, never
its URL (caller text, which may carry a token in its path).
"""

from __future__ import annotations

import json
from datetime import datetime

from payment_processor.payment import isoformat
from payment_processor.store.interfaces import OutboxEvent
from payment_processor.webhooks.deliveries import ENDPOINT_DISABLED


def endpoint_disabled_event(
    merchant_id: str, endpoint_id: str, reason: str, at: datetime, *, suffix: str
) -> OutboxEvent:
    """The event telling the merchant its endpoint was disabled at ``at`` for ``reason`` (``gone``: it answered
    410; ``failing``: every attempt failed for three days). ``suffix`` makes the id unique: an endpoint enabled
    again can be disabled again."""
    event_id = f"{endpoint_id}:{suffix}"
    body = {
        "event_id": event_id,
        "event_type": ENDPOINT_DISABLED,
        "occurred_at": isoformat(at),
        "webhook_endpoint": {"id": endpoint_id, "status": "disabled", "disabled_reason": reason},
    }
    return OutboxEvent(
        payment_id=None,
        event_type=ENDPOINT_DISABLED,
        object_key=f"webhooks/{at.strftime('%Y/%m/%d')}/{endpoint_id}/{suffix}-{ENDPOINT_DISABLED}.json",
        body=json.dumps(body, sort_keys=True, separators=(",", ":")),
        merchant_id=merchant_id,
        event_id=event_id,
    )
