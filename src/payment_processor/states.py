"""The states of payments and refunds, and the one table of moves between them (logic layer).

A status is a type, not a string: every status change goes through :func:`payment_transition` or
:func:`refund_transition`, which take the state the caller expects the object to be in and refuse any move
the table does not list. The database holds the same table as a trigger (migration 0008), so a bug in any
future code path, or an operator's hand, cannot write an impossible history either.

Payments::

    processing ──▶ succeeded ──▶ refunded          (automatic capture; refunds add up to the capture)
       │  │  └───▶ declined | failed               (the acquirer said no; no answer could be had)
       │  └──────▶ requires_capture ──▶ succeeded  (manual capture: captured, all or part)
       │                            └─▶ canceled   (canceled, or 7 days without a capture)
       └─────────▶ requires_action ──▶ succeeded | requires_capture | declined
                                   └─▶ failed      (3-D Secure: the cardholder authenticated, failed to, or
                                                    never did within the window)

Refunds: pending ──▶ succeeded | failed.

A change that keeps the status (a refund adding to ``amount_refunded``, an incremented authorization) is
not a transition; it names its own event where it writes one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, TypeVar

S = TypeVar("S", bound=StrEnum)


class PaymentStatus(StrEnum):
    """Where a payment stands. Stored as its value; compares equal to it."""

    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"


class RefundStatus(StrEnum):
    """Where a refund stands: recorded ``pending`` before the acquirer is asked, then answered once."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


#: Every move a payment may make, and the transaction-log event it writes.
PAYMENT_TRANSITIONS: Final[dict[tuple[PaymentStatus, PaymentStatus], str]] = {
    (PaymentStatus.PROCESSING, PaymentStatus.SUCCEEDED): "payment.succeeded",  # authorized and captured
    (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_CAPTURE): "payment.requires_capture",  # authorized only
    (PaymentStatus.PROCESSING, PaymentStatus.DECLINED): "payment.declined",
    (PaymentStatus.PROCESSING, PaymentStatus.FAILED): "payment.failed",
    # The issuer asked for 3-D Secure: the cardholder's answer (or its absence) settles the authorization.
    (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION): "payment.requires_action",
    (PaymentStatus.REQUIRES_ACTION, PaymentStatus.SUCCEEDED): "payment.succeeded",
    (PaymentStatus.REQUIRES_ACTION, PaymentStatus.REQUIRES_CAPTURE): "payment.requires_capture",
    (PaymentStatus.REQUIRES_ACTION, PaymentStatus.DECLINED): "payment.declined",
    (PaymentStatus.REQUIRES_ACTION, PaymentStatus.FAILED): "payment.failed",
    (PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.SUCCEEDED): "payment.succeeded",  # captured
    (PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.CANCELED): "payment.canceled",
    (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED): "payment.refunded",
}
#: Every move a refund may make, and the event it writes.
REFUND_TRANSITIONS: Final[dict[tuple[RefundStatus, RefundStatus], str]] = {
    (RefundStatus.PENDING, RefundStatus.SUCCEEDED): "refund.succeeded",
    (RefundStatus.PENDING, RefundStatus.FAILED): "refund.failed",
}
#: The state each is recorded in, before the acquirer hears of it.
PAYMENT_INITIAL: Final = PaymentStatus.PROCESSING
REFUND_INITIAL: Final = RefundStatus.PENDING
#: Statuses a payment can be in once the acquirer answered its authorization (``requires_action`` is an answer:
#: the one the creating request gets, though the cardholder's settles the payment later).
SETTLED: Final = frozenset(PaymentStatus) - {PaymentStatus.PROCESSING}


class ForbiddenTransition(RuntimeError):
    """A bug: code asked for a move the table does not list, or expected a state the object is not in.

    Raised before anything is written; the database refuses the same move (migration 0008) if it ever gets
    that far."""


def payment_transition(source: PaymentStatus | str, target: PaymentStatus | str) -> str | None:
    """The event a payment's move from ``source`` to ``target`` writes; None when the status stays."""
    return _transition("payment", PAYMENT_TRANSITIONS, PaymentStatus(source), PaymentStatus(target))


def refund_transition(source: RefundStatus | str, target: RefundStatus | str) -> str | None:
    """The event a refund's move from ``source`` to ``target`` writes; None when the status stays."""
    return _transition("refund", REFUND_TRANSITIONS, RefundStatus(source), RefundStatus(target))


def _transition(what: str, table: dict[tuple[S, S], str], source: S, target: S) -> str | None:
    if source == target:
        return None
    event = table.get((source, target))
    if event is None:
        allowed = sorted(str(to) for (frm, to) in table if frm == source) or ["nothing: it is final"]
        raise ForbiddenTransition(f"a {what} in {source} cannot become {target}; it can become {', '.join(allowed)}")
    return event
