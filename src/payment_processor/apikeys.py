"""API keys: issuing, authenticating and revoking merchants' secret keys (logic layer).

A key is ``<kind>_<mode>_<43 base62 characters>`` (256 random bits), Stripe's shape:

- ``sk_test_`` / ``sk_live_``: secret keys, read and write;
- ``rk_test_`` / ``rk_live_``: restricted keys, read only.

A deployment takes keys of one mode: ``live`` only where ``PAYMENTS_MODE=live`` (prod), so a test key
never moves real money and a live key never works against a test deployment.

The secret is shown once, when the key is created. Only ``HMAC-SHA256(pepper, secret)`` is stored:
a slow password hash buys nothing against 256-bit random secrets (nobody can guess one), while the
keyed hash means a copy of the table alone (a backup, a replica) cannot even confirm a leaked key.
The pepper lives in Secrets Manager, never in the database. Lookups are by hash, and the stored hash
is compared again in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from payment_processor import payment as payments
from payment_processor.credentials import CredentialsUnavailable, SecretsManagerSecret
from payment_processor.store.interfaces import KeyStore

SECRET_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
#: 43 base62 characters carry 256 bits.
SECRET_LENGTH = 43
_SECRET = re.compile(r"^(sk|rk)_(test|live)_([0-9A-Za-z]{43})$")
_MERCHANT = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
#: How much of a secret a listing shows, so an operator can tell keys apart.
HINT_LENGTH = 4


class KeyError_(ValueError):
    """A key-management request that cannot be done; the message says why (never a secret)."""


class KeyNotFound(KeyError_):
    """No key with that id."""


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    merchant_id: str
    mode: str
    read_only: bool
    hint: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def prefix(self) -> str:
        """``sk_test_`` and so on: what kind of key this is."""
        return f"{'rk' if self.read_only else 'sk'}_{self.mode}_"

    def resource(self) -> dict[str, Any]:
        """The key as key management shows it: never the secret, only its last characters."""
        return {
            "id": self.id,
            "object": "api_key",
            "merchant_id": self.merchant_id,
            "mode": self.mode,
            "read_only": self.read_only,
            "redacted_secret": f"{self.prefix}...{self.hint}",
            "created_at": payments.isoformat(self.created_at),
            "revoked_at": payments.isoformat(self.revoked_at) if self.revoked_at else None,
        }


@dataclass(frozen=True)
class IssuedKey:
    """A key just created, with its secret: the only time the secret exists outside the caller."""

    key: ApiKey
    secret: str = field(repr=False)

    def resource(self) -> dict[str, Any]:
        """The key and, this once, its secret."""
        return {**self.key.resource(), "secret": self.secret}


def hash_secret(pepper: bytes, secret: str) -> bytes:
    """The stored form of a secret: HMAC-SHA256 under the deployment's pepper."""
    return hmac.new(pepper, secret.encode("ascii"), hashlib.sha256).digest()


def secret_shape(token: str) -> tuple[bool, str] | None:
    """``(read_only, mode)`` if ``token`` has the shape of a key, else None (checked before any lookup)."""
    match = _SECRET.match(token)
    if match is None:
        return None
    return match.group(1) == "rk", match.group(2)


def pepper_from(secret: SecretsManagerSecret) -> Callable[[], bytes]:
    """The pepper kept in a Secrets Manager secret as JSON ``{"pepper": "<base64>"}``."""

    def pepper() -> bytes:
        try:
            value = base64.b64decode(str(secret.get()["pepper"]), validate=True)
        except (KeyError, ValueError):
            raise CredentialsUnavailable(f"secret {secret.secret_arn} holds no base64 'pepper'") from None
        if len(value) < 32:
            raise CredentialsUnavailable(f"the pepper in {secret.secret_arn} is shorter than 32 bytes")
        return value

    return pepper


class ApiKeys:
    """Creates, lists, revokes and authenticates API keys for one deployment."""

    def __init__(
        self,
        store: KeyStore,
        pepper: Callable[[], bytes],
        *,
        mode: str,
        clock: Callable[[], datetime] = payments.utc_now,
        token: Callable[[int], str] | None = None,
    ) -> None:
        self._store = store
        self._pepper = pepper
        self.mode = mode
        self._clock = clock
        self._token = token or (lambda n: "".join(secrets.choice(SECRET_ALPHABET) for _ in range(n)))

    def create(self, merchant_id: str, *, read_only: bool = False) -> IssuedKey:
        """Issue a new key for ``merchant_id``; its secret is in the result and nowhere else."""
        if not _MERCHANT.match(merchant_id):
            raise KeyError_("merchant id must be 1 to 64 letters, digits, '_' or '-'")
        key = ApiKey(
            id=payments.new_id("key"),
            merchant_id=merchant_id,
            mode=self.mode,
            read_only=read_only,
            hint="",
            created_at=self._clock(),
        )
        secret = key.prefix + self._token(SECRET_LENGTH)
        key = ApiKey(**{**key.__dict__, "hint": secret[-HINT_LENGTH:]})
        self._store.insert_key(key, hash_secret(self._pepper(), secret))
        return IssuedKey(key, secret)

    def authenticate(self, token: str) -> ApiKey | None:
        """The active key whose secret is ``token``; None for anything else (unknown, revoked, other mode)."""
        shape = secret_shape(token)
        if shape is None or shape[1] != self.mode:
            return None
        wanted = hash_secret(self._pepper(), token)
        found = self._store.find_key(wanted)
        if found is None:
            return None
        key, stored = found
        if not hmac.compare_digest(stored, wanted) or key.revoked_at is not None or key.read_only != shape[0]:
            return None
        return key

    def list(self, merchant_id: str | None = None) -> list[ApiKey]:
        """Every key (of one merchant, when given), newest first; never a secret."""
        return self._store.list_keys(merchant_id)

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key now (idempotent: a revoked key keeps its first revocation time)."""
        if not payments.has_id_shape(key_id, "key"):
            raise KeyNotFound("no such key: key ids look like key_ and 26 letters or digits")
        revoked = self._store.revoke_key(key_id, self._clock())
        if revoked is None:
            raise KeyNotFound("no such key")
        return revoked
