"""The connector of a merchant that has none, where the simulated acquirer may not stand in (prod).

It refuses before anything is recorded (``NoConnectorConfigured``: the API's 503 ``no_connector``), so no
payment there is ever approved by a simulation; a call that still reaches it (a payment recorded before the
merchant's connector was removed) is refused, nothing processed, and asked again later (logic layer).
"""

from __future__ import annotations

from payment_processor.connectors.base import Authorization, AuthorizeRequest, Journal
from payment_processor.connectors.outcomes import AuthorizeOutcome, FollowUpOutcome, Refused


class NoConnectorConfigured(Exception):
    """No acquirer is configured for the merchant, and the deployment refuses the simulated one."""


REASON = "no acquirer connector is configured for this merchant"


class Unconfigured:
    """Refuses everything: see the module docstring."""

    name = "unconfigured"

    def check_payment_method(self, payment_method: str) -> None:
        raise NoConnectorConfigured(REASON)

    def authorize(self, request: AuthorizeRequest, journal: Journal, *, timeout_s: float) -> AuthorizeOutcome:
        return Refused(REASON)

    def capture(self, authorization: Authorization, *, amount: int, key: str, timeout_s: float) -> FollowUpOutcome:
        return Refused(REASON)

    def cancel(self, authorization: Authorization, *, key: str, timeout_s: float) -> FollowUpOutcome:
        return Refused(REASON)

    def increment_authorization(
        self, authorization: Authorization, *, amount: int, key: str, timeout_s: float
    ) -> FollowUpOutcome:
        return Refused(REASON)

    def refund(self, authorization: Authorization, *, amount: int, key: str, timeout_s: float) -> FollowUpOutcome:
        return Refused(REASON)
