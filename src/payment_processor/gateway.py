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

After an authorization, the follow-ups (capture, cancel, increment, refund) succeed for every approved token above,
and fail as a real acquirer's can for these (each authorizes normally first):

=============================================  ==============================================================
token                                          follow-ups
=============================================  ==============================================================
``tok_captureRefused``                         every capture refused (``capture_refused``: the issuer let the
                                               authorization lapse); the payment stays ``requires_capture``
``tok_partialCaptureRefused``                  a capture of less than the authorized amount refused
                                               (``partial_capture_unsupported``); a full capture succeeds
``tok_cancelRefused``                          cancel refused (``cancel_refused``); the payment stays
                                               ``requires_capture``
``tok_incrementRefused``                       every increment of the authorization refused (``increment_refused``);
                                               the payment stays authorized for its amount
``tok_refundRefused``                          every refund refused (``refund_refused``): the refund is ``failed``
``tok_followUpsUnavailable``                   no answer to a capture, cancel, increment or refund: it stays
                                               pending (503),
                                               and the same Idempotency-Key or the scheduled job asks again
=============================================  ==============================================================

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


class OperationRefused(Exception):
    """The acquirer answered a capture, cancel or refund with a definite no: nothing moved.

    ``code`` says why (``capture_refused``, ``partial_capture_unsupported``, ``cancel_refused``,
    ``refund_refused``).
    """

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class FollowUp:
    """What the acquirer needs to find an authorization again: the token and its authorization code."""

    payment_method: str
    authorization_code: str
    currency: str


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

    def capture(self, authorization: FollowUp, *, amount: int, authorized: int, idempotency_key: str) -> None:
        """Capture ``amount`` of the ``authorized`` minor units; the rest of the authorization is released.

        Raises OperationRefused (nothing captured) or AcquirerUnavailable (unknown: ask again, same key).
        """
        ...

    def cancel(self, authorization: FollowUp, *, idempotency_key: str) -> None:
        """Release (void) an uncaptured authorization; raises as ``capture`` does."""
        ...

    def increment_authorization(self, authorization: FollowUp, *, amount: int, idempotency_key: str) -> None:
        """Raise an uncaptured authorization to ``amount`` minor units in all; raises as ``capture`` does."""
        ...

    def refund(self, authorization: FollowUp, *, amount: int, idempotency_key: str) -> None:
        """Return ``amount`` captured minor units to the card; raises as ``capture`` does."""
        ...


APPROVED_TOKENS = frozenset({"tok_visa", "tok_visa_debit", "tok_mastercard", "tok_amex"})
DECLINE_CODES = {
    "tok_chargeDeclined": "generic_decline",
    "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "tok_chargeDeclinedExpiredCard": "expired_card",
    "tok_chargeDeclinedProcessingError": "processing_error",
}


UNAVAILABLE_TOKENS = frozenset({"tok_acquirerUnavailable"})
#: Tokens that authorize, then fail the follow-ups named in the module docstring.
FOLLOW_UP_FAILURES = {
    "tok_captureRefused": {"capture": "capture_refused"},
    "tok_partialCaptureRefused": {"partial_capture": "partial_capture_unsupported"},
    "tok_cancelRefused": {"cancel": "cancel_refused"},
    "tok_incrementRefused": {"increment": "increment_refused"},
    "tok_refundRefused": {"refund": "refund_refused"},
}
FOLLOW_UPS_UNAVAILABLE = frozenset({"tok_followUpsUnavailable"})
AUTHORIZING_TOKENS = APPROVED_TOKENS | frozenset(FOLLOW_UP_FAILURES) | FOLLOW_UPS_UNAVAILABLE
KNOWN_TOKENS = AUTHORIZING_TOKENS | frozenset(DECLINE_CODES) | UNAVAILABLE_TOKENS


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
        if payment_method in AUTHORIZING_TOKENS:
            digest = hashlib.sha256(f"{idempotency_key}:{amount}:{currency}".encode()).hexdigest()
            self._record(idempotency_key, amount, currency, "approved")
            return Authorization(approved=True, authorization_code=digest[:6].upper())
        self._record(idempotency_key, amount, currency, "declined")
        return Authorization(approved=False, decline_code=DECLINE_CODES[payment_method])

    def capture(self, authorization: FollowUp, *, amount: int, authorized: int, idempotency_key: str) -> None:
        """Capture, or fail as the token says."""
        kind = "capture" if amount == authorized else "partial_capture"
        self._follow_up(authorization, kind, amount, idempotency_key)

    def cancel(self, authorization: FollowUp, *, idempotency_key: str) -> None:
        """Void, or fail as the token says."""
        self._follow_up(authorization, "cancel", 0, idempotency_key)

    def increment_authorization(self, authorization: FollowUp, *, amount: int, idempotency_key: str) -> None:
        """Raise the authorization, or fail as the token says."""
        self._follow_up(authorization, "increment", amount, idempotency_key)

    def refund(self, authorization: FollowUp, *, amount: int, idempotency_key: str) -> None:
        """Refund, or fail as the token says."""
        self._follow_up(authorization, "refund", amount, idempotency_key)

    def _follow_up(self, authorization: FollowUp, kind: str, amount: int, idempotency_key: str) -> None:
        token = authorization.payment_method
        if token in FOLLOW_UPS_UNAVAILABLE:
            self._record(idempotency_key, amount, authorization.currency, f"{kind}:unavailable")
            raise AcquirerUnavailable(f"the simulated acquirer does not answer {kind}s for this token")
        failures = FOLLOW_UP_FAILURES.get(token, {})
        code = failures.get(kind) or (failures.get("capture") if kind == "partial_capture" else None)
        if code is not None:
            self._record(idempotency_key, amount, authorization.currency, f"{kind}:refused")
            raise OperationRefused(code)
        self._record(idempotency_key, amount, authorization.currency, f"{kind}:done")

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
