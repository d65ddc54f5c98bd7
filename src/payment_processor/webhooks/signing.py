"""Standard Webhooks signing (standard-webhooks/standard-webhooks, ``spec/standard-webhooks.md``).

A delivery carries ``webhook-id`` (the event id, the same on every retry: receivers deduplicate by it),
``webhook-timestamp`` (Unix seconds of this attempt: receivers refuse old ones, so a captured delivery cannot
be replayed later) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`` per
live secret, space-separated, so a secret can be rolled without a window in which deliveries fail to verify.

The secret is ``whsec_`` and the base64 of its key bytes, as the specification's libraries read it. Written
here rather than with the ``standardwebhooks`` package: signing is one HMAC, and that package (the reference
verifier) is what the tests check these headers with, which a shared implementation could not do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random

#: The prefix of a secret as the API shows it once.
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix every secret carries, not a secret
#: Random bytes in a secret: the specification asks for 24 to 64; 32 matches the HMAC-SHA256 block's use.
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh secret, ``whsec_`` and the standard base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(random.token_bytes(SECRET_BYTES)).decode("ascii")


def key_of(secret: str) -> bytes:
    """The HMAC key a secret stands for; ValueError for anything :func:`new_secret` could not have made."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise ValueError("a webhook secret is whsec_ and standard base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("a webhook secret holds 24 to 64 bytes")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,`` signature of ``body`` as sent with ``message_id`` at ``timestamp``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt, signed with every live secret (newest first)."""
    if not secrets:
        raise ValueError("a delivery is signed with at least one secret")
    if any(c in message_id for c in "., \r\n"):
        raise ValueError("a webhook id holds no '.', space or line break: it is part of what is signed")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, message_id, timestamp, body) for secret in secrets),
    }
