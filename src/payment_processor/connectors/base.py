"""The connector interface: what the payment core asks an acquirer, and how (logic layer, no I/O).

Every call carries our idempotency key (the payment's, action's or refund's id) and a timeout the caller
takes from the function's remaining time, and answers in the taxonomy of :mod:`.outcomes`; a connector never
raises for an acquirer's answer or for a network failure (only for a bug). A connector sees tokens, never a
card number, and keeps its credentials out of every message it returns (they are for the log).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from payment_processor.connectors.outcomes import AuthorizeOutcome, FollowUpOutcome


class UnknownPaymentMethod(Exception):
    """The acquirer will not take this token; the request is invalid and nothing is recorded."""


@dataclass(frozen=True)
class AuthorizeRequest:
    """An authorization as a connector is asked it. ``key`` is the acquirer's idempotency key for it (unique
    to this attempt at this acquirer): asked again with the same key, an acquirer answers the first answer."""

    key: str
    payment_id: str
    amount: int
    currency: str
    payment_method: str
    capture: bool


@dataclass(frozen=True)
class Authorization:
    """An authorization a follow-up acts on: the acquirer's reference for it (``Approved.reference``), its
    token, currency and the minor units authorized."""

    reference: str
    payment_method: str
    currency: str
    amount: int


class Journal(Protocol):
    """Where a connector keeps, durably and before it moves money, what it must find again: the acquirer's
    reference for an attempt (a Stripe PaymentIntent is created, remembered, then confirmed). An acquirer that
    ignores idempotency keys then still charges once: asked again, the connector looks up what it remembered
    instead of sending a second charge."""

    @property
    def reference(self) -> str | None:
        """What an earlier try of this attempt remembered (None: nothing yet)."""
        ...

    def remember(self, reference: str) -> str:
        """Keep ``reference`` for this attempt and return the reference to go on with: ``reference``, or the one
        a concurrent try of the same payment at the same acquirer remembered first (then that one is confirmed,
        and this one, never confirmed, moves nothing). Raises if nothing can be kept (the connector stops)."""
        ...


class Connector(Protocol):
    """One acquirer. ``name`` is how merchants' configuration and ``attempts[].connector`` name it."""

    name: str

    def check_payment_method(self, payment_method: str) -> None:
        """Raise UnknownPaymentMethod for a token this acquirer will never accept (asked before any record)."""
        ...

    def authorize(self, request: AuthorizeRequest, journal: Journal, *, timeout_s: float) -> AuthorizeOutcome:
        """Authorize (and with ``request.capture``, capture) the request's amount on its token.

        Asked again with the same request and journal (after a refused or unknown outcome, a crash, a
        retry), it gives the first answer and moves no more money: this is also the status query."""
        ...

    def capture(self, authorization: Authorization, *, amount: int, key: str, timeout_s: float) -> FollowUpOutcome:
        """Capture ``amount`` (all or part) of the authorization; the rest is released."""
        ...

    def cancel(self, authorization: Authorization, *, key: str, timeout_s: float) -> FollowUpOutcome:
        """Release (void) an uncaptured authorization."""
        ...

    def increment_authorization(
        self, authorization: Authorization, *, amount: int, key: str, timeout_s: float
    ) -> FollowUpOutcome:
        """Raise an uncaptured authorization to ``amount`` minor units in all."""
        ...

    def refund(self, authorization: Authorization, *, amount: int, key: str, timeout_s: float) -> FollowUpOutcome:
        """Return ``amount`` captured minor units to the card."""
        ...


class Forgetful:
    """A journal for an attempt that keeps nothing beyond this call (the simulated acquirer needs none)."""

    def __init__(self, reference: str | None = None) -> None:
        self._reference = reference

    @property
    def reference(self) -> str | None:
        return self._reference

    def remember(self, reference: str) -> str:
        self._reference = self._reference or reference
        return self._reference
