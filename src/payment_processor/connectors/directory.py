"""Which acquirers a merchant's payments go to, in order: its configured connectors (``merchant_connectors``,
their secret keys from Secrets Manager; with none, the deployment's default answers: see operations.driver's
Context). Read once per ``ttl_s`` per merchant, so a request asks the database and Secrets Manager for it
at most that often (logic layer: the reads are given to it).

A connector whose secret cannot be read becomes one that refuses (nothing processed): the payment goes to
the merchant's next connector, or waits and is asked again. No secret leaves this module but into a
connector, and no message here carries one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from payment_processor.connectors.base import Authorization, AuthorizeRequest, Connector, Journal
from payment_processor.connectors.configuration import MerchantConnector
from payment_processor.connectors.outcomes import AuthorizeOutcome, FollowUpOutcome, Refused

#: How long a merchant's connectors are kept before they are read again: a change an operator makes is live
#: within this (the secret too: a rolled Stripe key).
TTL_S = 60.0


class ConnectorDirectory:
    """A merchant's connectors in the order they are tried."""

    def __init__(
        self,
        configured: Callable[[str], list[MerchantConnector]],
        secret: Callable[[str], str],
        build: Callable[[MerchantConnector, str | None], Connector],
        *,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.monotonic,
        enabled: frozenset[str] | None = None,
    ) -> None:
        self._configured = configured
        self._secret = secret
        self._build = build
        self._ttl_s = ttl_s
        self._clock = clock
        self._enabled = enabled
        self._cache: dict[str, tuple[float, list[Connector]]] = {}

    def for_merchant(self, merchant_id: str) -> list[Connector]:
        """The merchant's configured connectors, priority 1 first (none: the deployment's default answers)."""
        now = self._clock()
        cached = self._cache.get(merchant_id)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        chain = [self._connector(entry) for entry in self._configured(merchant_id)]
        self._cache[merchant_id] = (now, chain)
        return chain

    def _connector(self, entry: MerchantConnector) -> Connector:
        if self._enabled is not None and entry.connector not in self._enabled:
            # Its secret is not even read: this deployment has no business with that acquirer.
            return Unavailable(entry.connector, "this deployment does not call it (PAYMENT_CONNECTORS)")
        secret = None
        if entry.secret_name is not None:
            try:
                secret = self._secret(entry.secret_name)
            except Exception as exc:  # noqa: BLE001 - whatever the SDK raises: this connector refuses, others go on
                return Unavailable(entry.connector, f"its credentials could not be read ({type(exc).__name__})")
        return self._build(entry, secret)


def secret_reader(client: Any) -> Callable[[str], str]:
    """Reads a connector's secret key (``{"secret_key": …}``) from Secrets Manager."""

    def read(name: str) -> str:
        value = json.loads(client.get_secret_value(SecretId=name)["SecretString"])
        if not isinstance(value, dict) or not isinstance(value.get("secret_key"), str):
            raise ValueError('the connector\'s secret is not {"secret_key": ...}')
        return str(value["secret_key"])

    return read


def build(entry: MerchantConnector, secret: str | None) -> Connector:
    """The connector an entry names (the Stripe library is imported only here, when a merchant has Stripe)."""
    if entry.connector == "stripe" and secret is not None and entry.endpoint is not None:
        from payment_processor.connectors.stripe import StripeConnector

        return StripeConnector(secret, api_base=entry.endpoint)
    if entry.connector == "simulated":
        from payment_processor.connectors.simulated import SimulatedAcquirer

        return SimulatedAcquirer.from_env()
    return Unavailable(entry.connector, "its configuration is incomplete")


class Unavailable:
    """A configured connector that cannot be used now: every call is refused, nothing processed."""

    def __init__(self, name: str, why: str) -> None:
        self.name = name
        self._reason = f"the {name} connector is unavailable: {why}"

    def check_payment_method(self, payment_method: str) -> None:
        """Nothing to check against: the attempt is refused when it is sent."""

    def authorize(self, request: AuthorizeRequest, journal: Journal, *, timeout_s: float) -> AuthorizeOutcome:
        return Refused(self._reason)

    def capture(self, authorization: Authorization, *, amount: int, key: str, timeout_s: float) -> FollowUpOutcome:
        return Refused(self._reason)

    def cancel(self, authorization: Authorization, *, key: str, timeout_s: float) -> FollowUpOutcome:
        return Refused(self._reason)

    def increment_authorization(
        self, authorization: Authorization, *, amount: int, key: str, timeout_s: float
    ) -> FollowUpOutcome:
        return Refused(self._reason)

    def refund(self, authorization: Authorization, *, amount: int, key: str, timeout_s: float) -> FollowUpOutcome:
        return Refused(self._reason)


def next_after(chain: Sequence[Connector], name: str) -> Connector | None:
    """The connector after ``name`` in the chain (None after the last, or if ``name`` is not in it)."""
    names = [c.name for c in chain]
    if name not in names:
        return None
    index = names.index(name) + 1
    return chain[index] if index < len(chain) else None
