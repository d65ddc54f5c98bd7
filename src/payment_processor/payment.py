"""The Payment record and its public JSON resource (logic layer)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: Payment statuses. A payment is recorded as PROCESSING before the acquirer is asked, then moves once
#: to one final state: SUCCEEDED (authorized), DECLINED (the acquirer said no, with a decline code) or
#: FAILED (no answer could be had, or the acquirer refused the request, with a failure code).
PROCESSING = "processing"
SUCCEEDED = "succeeded"
DECLINED = "declined"
FAILED = "failed"
FINAL_STATUSES = frozenset({SUCCEEDED, DECLINED, FAILED})


def new_id(prefix: str) -> str:
    """A fresh, unguessable id: ``<prefix>_`` and 26 lower-case base32 characters (130 bits)."""
    return f"{prefix}_" + base64.b32encode(secrets.token_bytes(17)).decode("ascii").rstrip("=").lower()[:26]


def has_id_shape(value: str, prefix: str) -> bool:
    """True if ``value`` has the shape ``new_id(prefix)`` gives (checked before touching the database)."""
    head = f"{prefix}_"
    return (
        len(value) == len(head) + 26
        and value.startswith(head)
        and all(c in "abcdefghijklmnopqrstuvwxyz234567" for c in value[len(head) :])
    )


def new_payment_id() -> str:
    """A fresh, unguessable payment id: ``pay_`` and 26 lower-case base32 characters (130 bits)."""
    return new_id("pay")


def is_payment_id(value: str) -> bool:
    """True if ``value`` has the shape of a payment id (checked before touching the database)."""
    return has_id_shape(value, "pay")


def utc_now() -> datetime:
    """Now, in UTC, to the microsecond PostgreSQL keeps."""
    return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """RFC 3339 UTC timestamp with a Z suffix, as the API and the transaction log write them."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Payment:
    """A payment as stored. ``amount`` is integer minor units of ``currency`` (ISO 4217)."""

    id: str
    merchant_id: str
    amount: int
    currency: str
    status: str
    payment_method: str
    created_at: datetime
    decline_code: str | None = None
    authorization_code: str | None = None
    description: str | None = None
    customer_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    failure_code: str | None = None
    #: When the status last changed (the creation time while it is processing).
    updated_at: datetime | None = None
    #: Times the acquirer could not be reached for this payment.
    acquirer_attempts: int = 0

    @property
    def is_final(self) -> bool:
        """True once the payment has left ``processing``: it never changes status again."""
        return self.status in FINAL_STATUSES

    @property
    def changed_at(self) -> datetime:
        """When the current status was reached."""
        return self.updated_at or self.created_at

    def resource(self) -> dict[str, Any]:
        """The public JSON representation, as returned by the API and written to the transaction log."""
        return {
            "id": self.id,
            "object": "payment",
            "status": self.status,
            "amount": self.amount,
            "currency": self.currency,
            "merchant_id": self.merchant_id,
            "payment_method": self.payment_method,
            "description": self.description,
            "customer_id": self.customer_id,
            "metadata": dict(self.metadata),
            "decline_code": self.decline_code,
            "failure_code": self.failure_code,
            "authorization_code": self.authorization_code,
            "created_at": isoformat(self.created_at),
        }
