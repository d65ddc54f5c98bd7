"""What an attempt does to its delivery and its endpoint (logic layer: no I/O, times passed in).

A delivery is one event for one endpoint. It is tried until it succeeds, the schedule (:mod:`schedule`) is
over, or its endpoint is disabled; an endpoint is disabled at once by ``410 Gone``, or when every attempt
to it has failed for :data:`~payment_processor.webhooks.schedule.DISABLE_AFTER_S` (three days), and the
merchant is told by a ``webhook_endpoint.disabled`` event::

    pending ──▶ succeeded
       │            ▲
       ├──▶ retrying ┤  (each failure with a next step: due again after its delay)
       │            ▼
       └──────▶ abandoned  (the schedule is over, or the endpoint was disabled or deleted)

The store keeps a delivery's status with the same table as a check, as it does for payments.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from payment_processor.payment import isoformat
from payment_processor.states import ForbiddenTransition
from payment_processor.webhooks.schedule import DISABLE_AFTER_S, retry_delay_s
from payment_processor.webhooks.sender import Attempt

#: The event a merchant gets (on its other endpoints, and in ``GET /events``) when an endpoint is disabled.
ENDPOINT_DISABLED: Final = "webhook_endpoint.disabled"
#: An endpoint subscribed to this gets every event.
EVERY_EVENT: Final = "*"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    ABANDONED = "abandoned"


#: Every move a delivery may make. Retrying again keeps the status (not a move).
DELIVERY_TRANSITIONS: Final = frozenset(
    {
        (DeliveryStatus.PENDING, DeliveryStatus.SUCCEEDED),
        (DeliveryStatus.PENDING, DeliveryStatus.RETRYING),
        (DeliveryStatus.PENDING, DeliveryStatus.ABANDONED),
        (DeliveryStatus.RETRYING, DeliveryStatus.SUCCEEDED),
        (DeliveryStatus.RETRYING, DeliveryStatus.ABANDONED),
    }
)
#: Why an endpoint is disabled by the sender (the merchant may also disable one through the API).
DISABLED_GONE: Final = "gone"
DISABLED_FAILING: Final = "failing"


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one endpoint."""

    event_id: str
    endpoint_id: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None

    @property
    def is_final(self) -> bool:
        return self.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.ABANDONED)


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt, as ``GET /webhook_endpoints/{id}/deliveries`` shows it."""

    event_id: str
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    latency_ms: int
    next_attempt_at: datetime | None

    def resource(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "attempt": self.attempt,
            "attempted_at": isoformat(self.attempted_at),
            "status_code": self.status_code,
            "error": self.error,
            "latency_ms": self.latency_ms,
            "next_attempt_at": None if self.next_attempt_at is None else isoformat(self.next_attempt_at),
        }


@dataclass(frozen=True)
class AfterAttempt:
    """What one attempt changes: the delivery, its record, when the endpoint started failing (None: it is
    answering), and why the endpoint is disabled now (None: it is not)."""

    delivery: Delivery
    record: AttemptRecord
    failing_since: datetime | None
    disable: str | None = None


def after_attempt(
    delivery: Delivery,
    attempt: Attempt,
    *,
    at: datetime,
    failing_since: datetime | None,
    retries: bool = True,
    uniform: Callable[[float, float], float] = random.uniform,
) -> AfterAttempt:
    """The delivery after ``attempt`` (made ``at``), given when its endpoint started failing. Without
    ``retries`` (a redelivery the merchant asked for: tried once) a failure is the delivery's end."""
    number = delivery.attempts + 1
    disable = None
    next_at: datetime | None = None
    if attempt.succeeded:
        status, failing_since = DeliveryStatus.SUCCEEDED, None
    else:
        failing_since = failing_since or at
        delay = retry_delay_s(number, retry_after_s=attempt.retry_after_s, uniform=uniform)
        if attempt.gone:
            status, disable = DeliveryStatus.ABANDONED, DISABLED_GONE
        elif (at - failing_since).total_seconds() >= DISABLE_AFTER_S:
            status, disable = DeliveryStatus.ABANDONED, DISABLED_FAILING
        elif delay is None or not retries:
            status = DeliveryStatus.ABANDONED
        else:
            status, next_at = DeliveryStatus.RETRYING, at + timedelta(seconds=delay)
    after = moved(delivery, status, attempts=number, next_attempt_at=next_at)
    record = AttemptRecord(
        delivery.event_id, number, at, attempt.status_code, attempt.error, attempt.latency_ms, next_at
    )
    return AfterAttempt(after, record, failing_since, disable)


def abandoned(delivery: Delivery) -> Delivery:
    """The delivery of an endpoint disabled or deleted meanwhile: nothing more is sent to it."""
    return moved(delivery, DeliveryStatus.ABANDONED, next_attempt_at=None)


def subscribed(enabled_events: Iterable[str], event_type: str) -> bool:
    """Whether an endpoint with these ``enabled_events`` gets an event of ``event_type``."""
    events = set(enabled_events)
    return EVERY_EVENT in events or event_type in events


def moved(delivery: Delivery, status: DeliveryStatus, **changes: Any) -> Delivery:
    """The delivery in ``status`` with ``changes``: the one way its status changes, checked against the table."""
    if delivery.is_final:
        raise ForbiddenTransition(f"a delivery {delivery.status} is final")
    if delivery.status != status and (delivery.status, status) not in DELIVERY_TRANSITIONS:
        raise ForbiddenTransition(f"a delivery {delivery.status} cannot become {status}")
    return replace(delivery, status=status, **changes)
