"""A merchant's connectors as an operator configures them: which acquirer, in which order, at which API base
(logic layer, no I/O). The admin function validates with this before it writes anything; the processor reads
the same shape back (``directory``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from payment_processor.connectors.stripe import STRIPE_API_BASE

#: The connectors a merchant may be configured with, and whether each needs a secret key.
KINDS = {"stripe": True, "simulated": False}
MERCHANT = re.compile(r"[A-Za-z0-9_\-]{1,64}")
#: A Stripe secret or restricted key: what ``--secret-stdin`` must be for ``stripe``.
STRIPE_SECRET = re.compile(r"(sk|rk)_(test|live)_[A-Za-z0-9]{8,255}")
MAX_PRIORITY = 100


class InvalidConnector(ValueError):
    """A configuration that cannot be right; the message says which part and how to fix it (never a secret)."""


@dataclass(frozen=True)
class MerchantConnector:
    """One of a merchant's connectors. ``secret_name`` names its Secrets Manager secret (None: it needs none)."""

    merchant_id: str
    connector: str
    priority: int
    endpoint: str | None = None
    secret_name: str | None = None

    def resource(self) -> dict[str, Any]:
        """As ``payments connectors list`` shows it: never the secret, not even its name."""
        return {
            "merchant_id": self.merchant_id,
            "connector": self.connector,
            "priority": self.priority,
            "endpoint": self.endpoint,
        }


def validated(
    merchant_id: object, connector: object, priority: object, endpoint: object, *, allow_http: bool
) -> tuple[str, str, int, str | None]:
    """The configuration's parts checked: raises InvalidConnector naming the first that is wrong."""
    if not isinstance(merchant_id, str) or not MERCHANT.fullmatch(merchant_id):
        raise InvalidConnector("merchant_id must be 1 to 64 letters, digits, '_' or '-'")
    if not isinstance(connector, str) or connector not in KINDS:
        raise InvalidConnector(f"connector must be one of {', '.join(sorted(KINDS))}")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= MAX_PRIORITY:
        raise InvalidConnector(f"priority must be a whole number from 1 (tried first) to {MAX_PRIORITY}")
    if endpoint is None:
        return merchant_id, connector, priority, (STRIPE_API_BASE if connector == "stripe" else None)
    if connector != "stripe":
        raise InvalidConnector(f"the {connector} connector takes no endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > 2048 or not endpoint.isprintable():
        raise InvalidConnector("endpoint must be a URL such as https://api.stripe.com")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise InvalidConnector("endpoint must be the API base of a Stripe-compatible server: https://host[:port]")
    if parts.username or parts.password:
        raise InvalidConnector("endpoint must not carry credentials: the secret key goes through --secret-stdin")
    if parts.scheme == "http" and not allow_http:
        raise InvalidConnector("endpoint must be https in this environment (plain http is for dev and local only)")
    return merchant_id, connector, priority, endpoint.rstrip("/")


def validated_secret(connector: str, secret: object) -> str | None:
    """The secret key a connector needs (None for one that needs none); never echoed in an error."""
    if not KINDS[connector]:
        if secret not in (None, ""):
            raise InvalidConnector(f"the {connector} connector takes no secret")
        return None
    if not isinstance(secret, str) or not STRIPE_SECRET.fullmatch(secret.strip()):
        raise InvalidConnector("stripe needs its secret key (sk_… or rk_…) on standard input (--secret-stdin)")
    return secret.strip()
