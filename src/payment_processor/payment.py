"""The Payment record and its public JSON resource (logic layer)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from payment_processor.states import SETTLED, PaymentStatus, RefundStatus

# The statuses and the moves between them are in payment_processor.states; these names stay for readers of
# the resources below.
PROCESSING = PaymentStatus.PROCESSING
REQUIRES_CAPTURE = PaymentStatus.REQUIRES_CAPTURE
SUCCEEDED = PaymentStatus.SUCCEEDED
DECLINED = PaymentStatus.DECLINED
FAILED = PaymentStatus.FAILED
CANCELED = PaymentStatus.CANCELED
REFUNDED = PaymentStatus.REFUNDED
STATUSES = tuple(str(status) for status in PaymentStatus)
#: Statuses a payment can be in once the acquirer answered its authorization.
SETTLED_STATUSES = SETTLED

AUTOMATIC = "automatic"
MANUAL = "manual"
CAPTURE_METHODS = (AUTOMATIC, MANUAL)
#: Why a payment was canceled: the merchant's reasons, or ``automatic`` (7 days without a capture).
CANCELLATION_REASONS = ("requested_by_customer", "duplicate", "fraudulent", "abandoned")
AUTOMATIC_CANCELLATION = "automatic"
#: Why a refund was asked for.
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
REFUND_PENDING = RefundStatus.PENDING
REFUND_SUCCEEDED = RefundStatus.SUCCEEDED
REFUND_FAILED = RefundStatus.FAILED


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


def new_attempt_id() -> str:
    """A fresh attempt id: ``att_`` and 26 lower-case base32 characters."""
    return new_id("att")


def new_refund_id() -> str:
    """A fresh, unguessable refund id: ``re_`` and 26 lower-case base32 characters."""
    return new_id("re")


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
    status: PaymentStatus
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
    capture_method: str = AUTOMATIC
    #: Minor units captured (0 until captured) and refunded so far (never more than captured).
    amount_captured: int = 0
    amount_refunded: int = 0
    cancellation_reason: str | None = None
    #: What the cardholder must do (3-D Secure), as the acquirer gave it; None outside ``requires_action``.
    next_action: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # Rows come back from the database as text: held as the type from here on.
        object.__setattr__(self, "status", PaymentStatus(self.status))

    @property
    def is_final(self) -> bool:
        """True once the acquirer answered the authorization (the payment left ``processing``); its
        answer is kept under the creating key from then on, whatever happens to the payment later."""
        return self.status in SETTLED_STATUSES

    @property
    def refundable(self) -> int:
        """Minor units captured and not yet refunded (pending refunds are the store's to subtract)."""
        return self.amount_captured - self.amount_refunded

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
            "capture_method": self.capture_method,
            "amount_captured": self.amount_captured,
            "amount_refunded": self.amount_refunded,
            "cancellation_reason": self.cancellation_reason,
            "next_action": self.next_action,
            "created_at": isoformat(self.created_at),
        }


@dataclass(frozen=True)
class Refund:
    """A refund of part or all of a captured payment, in the payment's currency (integer minor units)."""

    id: str
    payment_id: str
    merchant_id: str
    amount: int
    currency: str
    status: RefundStatus
    created_at: datetime
    updated_at: datetime
    reason: str | None = None
    failure_code: str | None = None
    idempotency_key: str | None = None
    acquirer_attempts: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RefundStatus(self.status))

    @property
    def is_final(self) -> bool:
        """True once the acquirer answered: the refund never changes status again."""
        return self.status != REFUND_PENDING

    def resource(self) -> dict[str, Any]:
        """The public JSON representation (no free text: it is written to the transaction log whole)."""
        return {
            "id": self.id,
            "object": "refund",
            "payment_id": self.payment_id,
            "status": self.status,
            "amount": self.amount,
            "currency": self.currency,
            "reason": self.reason,
            "failure_code": self.failure_code,
            "created_at": isoformat(self.created_at),
        }


@dataclass(frozen=True)
class PaymentAction:
    """A capture or cancel asked of the acquirer, recorded before it is asked (one at a time per payment)."""

    id: str  # act_…: the acquirer's idempotency key for this action
    payment_id: str
    action: str  # "capture" or "cancel"
    merchant_id: str
    requested_at: datetime
    amount: int | None = None  # the capture's amount
    cancellation_reason: str | None = None  # the cancel's reason
    idempotency_key: str | None = None  # None when the scheduled job asked (an expired authorization)
    acquirer_attempts: int = 0


@dataclass(frozen=True)
class PaymentAttempt:
    """One sending of a payment's authorization to an acquirer, recorded before it is sent.

    ``outcome`` is None while it is out (or its process died with it: shown as ``unknown``); ``reference`` is
    the acquirer's id for what it made (kept so that the attempt asked again finds it, never shown)."""

    id: str
    payment_id: str
    connector: str
    created_at: datetime
    reference: str | None = None
    outcome: str | None = None
    decline_code: str | None = None
    latency_ms: int | None = None

    def resource(self) -> dict[str, Any]:
        """As ``GET /payments/{id}`` shows it in ``attempts``."""
        return {
            "id": self.id,
            "connector": self.connector,
            "outcome": self.outcome or "unknown",
            "decline_code": self.decline_code,
            "latency_ms": self.latency_ms,
            "created_at": isoformat(self.created_at),
        }
