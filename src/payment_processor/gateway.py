"""The payment-gateway interface and the default simulated acquirer (logic layer).

A real acquirer plugs in behind ``PaymentGateway``. The simulated one is deterministic and answers
the test tokens below, named after Stripe's, so every decline path can be exercised end to end:

==========================================  =========  ==========================
token                                       outcome    decline_code
==========================================  =========  ==========================
``tok_visa``, ``tok_mastercard``, ``tok_amex``  approved   -
``tok_chargeDeclined``                      declined   ``generic_decline``
``tok_chargeDeclinedInsufficientFunds``     declined   ``insufficient_funds``
``tok_chargeDeclinedExpiredCard``           declined   ``expired_card``
``tok_chargeDeclinedProcessingError``       declined   ``processing_error``
==========================================  =========  ==========================

Any other token is unknown to the acquirer and refused as invalid input (nothing is recorded).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Authorization:
    """The acquirer's answer: approved with an authorization code, or declined with a decline code."""

    approved: bool
    authorization_code: str | None = None
    decline_code: str | None = None


class UnknownPaymentMethod(Exception):
    """The acquirer does not know this token; the request is invalid and nothing is recorded."""


class PaymentGateway(Protocol):
    """Authorizes a payment with an acquirer."""

    def authorize(self, *, amount: int, currency: str, payment_method: str, idempotency_key: str) -> Authorization:
        """Authorize ``amount`` minor units of ``currency`` on ``payment_method``.

        ``idempotency_key`` is stable for one payment attempt, so a real acquirer can recognise a
        retry after a crash between its answer and our commit and not charge twice.
        """
        ...


APPROVED_TOKENS = frozenset({"tok_visa", "tok_visa_debit", "tok_mastercard", "tok_amex"})
DECLINE_CODES = {
    "tok_chargeDeclined": "generic_decline",
    "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "tok_chargeDeclinedExpiredCard": "expired_card",
    "tok_chargeDeclinedProcessingError": "processing_error",
}


class SimulatedAcquirer:
    """A deterministic acquirer for development, tests and the local target."""

    def authorize(self, *, amount: int, currency: str, payment_method: str, idempotency_key: str) -> Authorization:
        """Answer by token, as the table in this module's docstring says."""
        if payment_method in APPROVED_TOKENS:
            digest = hashlib.sha256(f"{idempotency_key}:{amount}:{currency}".encode()).hexdigest()
            return Authorization(approved=True, authorization_code=digest[:6].upper())
        if payment_method in DECLINE_CODES:
            return Authorization(approved=False, decline_code=DECLINE_CODES[payment_method])
        raise UnknownPaymentMethod(payment_method)
