"""The simulated acquirer: the test mode, and the connector of a merchant with none outside prod (logic layer).

It is deterministic and answers
the test tokens below, named after Stripe's, so every decline path can be exercised end to end:

==========================================  =========  ==========================
token                                       outcome    decline_code
==========================================  =========  ==========================
``tok_visa``, ``tok_mastercard``, ``tok_amex``  approved   -
``tok_chargeDeclined``                      declined   ``generic_decline``
``tok_chargeDeclinedInsufficientFunds``     declined   ``insufficient_funds``
``tok_chargeDeclinedExpiredCard``           declined   ``expired_card``
``tok_chargeDeclinedProcessingError``       declined   ``processing_error``
``tok_acquirerUnavailable``                 unknown    - (no answer: it may have been processed)
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
``tok_followUpsUnavailable``                   an unknown outcome for a capture, cancel, increment or refund: it stays
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

from payment_processor.connectors.base import Authorization, AuthorizeRequest, Journal, UnknownPaymentMethod
from payment_processor.connectors.outcomes import Approved, AuthorizeOutcome, Declined, FollowUpOutcome, Unknown

APPROVED_TOKENS = frozenset({"tok_visa", "tok_visa_debit", "tok_mastercard", "tok_amex"})
#: The decline table: the token's decline is already in our codes (the simulated acquirer speaks ours).
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

    name = "simulated"

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

    def authorize(self, request: AuthorizeRequest, journal: Journal, *, timeout_s: float) -> AuthorizeOutcome:
        """Answer by token, as the table in this module's docstring says (the same answer for the same key)."""
        token, key = request.payment_method, request.key
        self.check_payment_method(token)
        if token in UNAVAILABLE_TOKENS:
            self._record(key, request.amount, request.currency, "unavailable")
            return Unknown("the simulated acquirer does not answer for this token")
        if token in AUTHORIZING_TOKENS:
            digest = hashlib.sha256(f"{key}:{request.amount}:{request.currency}".encode()).hexdigest()
            self._record(key, request.amount, request.currency, "approved")
            return Approved(digest[:6].upper())
        self._record(key, request.amount, request.currency, "declined")
        return Declined(DECLINE_CODES[token], acquirer_code=DECLINE_CODES[token])

    def capture(self, authorization: Authorization, *, amount: int, key: str, timeout_s: float) -> FollowUpOutcome:
        """Capture, or fail as the token says."""
        kind = "capture" if amount == authorization.amount else "partial_capture"
        return self._follow_up(authorization, kind, amount, key)

    def cancel(self, authorization: Authorization, *, key: str, timeout_s: float) -> FollowUpOutcome:
        """Void, or fail as the token says."""
        return self._follow_up(authorization, "cancel", 0, key)

    def increment_authorization(
        self, authorization: Authorization, *, amount: int, key: str, timeout_s: float
    ) -> FollowUpOutcome:
        """Raise the authorization, or fail as the token says."""
        return self._follow_up(authorization, "increment", amount, key)

    def refund(self, authorization: Authorization, *, amount: int, key: str, timeout_s: float) -> FollowUpOutcome:
        """Refund, or fail as the token says."""
        return self._follow_up(authorization, "refund", amount, key)

    def _follow_up(self, authorization: Authorization, kind: str, amount: int, key: str) -> FollowUpOutcome:
        token = authorization.payment_method
        if token in FOLLOW_UPS_UNAVAILABLE:
            self._record(key, amount, authorization.currency, f"{kind}:unavailable")
            return Unknown(f"the simulated acquirer does not answer {kind}s for this token")
        failures = FOLLOW_UP_FAILURES.get(token, {})
        code = failures.get(kind) or (failures.get("capture") if kind == "partial_capture" else None)
        if code is not None:
            self._record(key, amount, authorization.currency, f"{kind}:refused")
            return Declined(code)
        self._record(key, amount, authorization.currency, f"{kind}:done")
        return Approved(key)

    def _record(self, idempotency_key: str, amount: int, currency: str, outcome: str) -> None:
        # The acquirer's own record, written before it answers (as its side of a charge is): one line per
        # call, appended in one write so lines from concurrent processes never interleave.
        if self._ledger is None:
            return
        line = (
            json.dumps({"idempotency_key": idempotency_key, "amount": amount, "currency": currency, "outcome": outcome})
            + "\n"
        )
        fd = os.open(self._ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
