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
``tok_acquirerUnavailable``                 no answer  - (the acquirer cannot be reached)
==========================================  =========  ==========================

Any other token is unknown to the acquirer and refused as invalid input before anything is recorded.
``tok_acquirerUnavailable`` leaves the payment ``processing``: the request answers 503 and the
scheduled job asks again until it gives up and marks the payment ``failed`` (``acquirer_unavailable``).

Authorizations are idempotent by key, as a real acquirer's are: asking again under the same key gives
the first answer and charges nothing more. With ``ledger`` set (``SIMULATED_ACQUIRER_LEDGER``), every
call is appended to that file as one JSON line, so tests can count what was asked and charged.
"""

from __future__ import annotations

import hashlib
import json
import os
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


class AcquirerUnavailable(Exception):
    """No answer from the acquirer (refused, timed out, 5xx): whether it authorized is unknown until it is
    asked again under the same idempotency key."""


class PaymentGateway(Protocol):
    """Authorizes a payment with an acquirer."""

    def check_payment_method(self, payment_method: str) -> None:
        """Raise UnknownPaymentMethod for a token the acquirer will not accept (asked before any record)."""
        ...

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


UNAVAILABLE_TOKENS = frozenset({"tok_acquirerUnavailable"})
KNOWN_TOKENS = APPROVED_TOKENS | frozenset(DECLINE_CODES) | UNAVAILABLE_TOKENS


class SimulatedAcquirer:
    """A deterministic acquirer for development, tests and the local target."""

    def __init__(self, ledger: str | None = None) -> None:
        self._ledger = ledger

    @classmethod
    def from_env(cls) -> SimulatedAcquirer:
        """The acquirer the functions use; ``SIMULATED_ACQUIRER_LEDGER`` (tests only) names its ledger file."""
        return cls(ledger=os.environ.get("SIMULATED_ACQUIRER_LEDGER") or None)

    def check_payment_method(self, payment_method: str) -> None:
        """Known tokens pass; anything else is UnknownPaymentMethod."""
        if payment_method not in KNOWN_TOKENS:
            raise UnknownPaymentMethod(payment_method)

    def authorize(self, *, amount: int, currency: str, payment_method: str, idempotency_key: str) -> Authorization:
        """Answer by token, as the table in this module's docstring says."""
        self.check_payment_method(payment_method)
        if payment_method in UNAVAILABLE_TOKENS:
            self._record(idempotency_key, amount, currency, "unavailable")
            raise AcquirerUnavailable("the simulated acquirer is unavailable for this token")
        if payment_method in APPROVED_TOKENS:
            digest = hashlib.sha256(f"{idempotency_key}:{amount}:{currency}".encode()).hexdigest()
            self._record(idempotency_key, amount, currency, "approved")
            return Authorization(approved=True, authorization_code=digest[:6].upper())
        self._record(idempotency_key, amount, currency, "declined")
        return Authorization(approved=False, decline_code=DECLINE_CODES[payment_method])

    def _record(self, idempotency_key: str, amount: int, currency: str, outcome: str) -> None:
        # The acquirer's own record, written before it answers (as its side of a charge is): one line per
        # call, appended in one write so lines from concurrent processes never interleave.
        if self._ledger is None:
            return
        line = json.dumps({"idempotency_key": idempotency_key, "amount": amount, "currency": currency,
                           "outcome": outcome}) + "\n"  # fmt: skip
        fd = os.open(self._ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
