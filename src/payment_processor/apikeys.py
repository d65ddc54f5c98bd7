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

A key may expire (``expires_at``, set at creation by ``--expires-in``), and a roll issues its replacement for
the same merchant, mode and access while the old key keeps working until the overlap ends. An expired key is
refused with a reason that says so (and names its replacement's id when it was rolled). The authorizer
notes the hour a key was last used (``last_used_at``), writing at most once an hour per key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from payment_processor import payment as payments
from payment_processor.credentials import CredentialsUnavailable, SecretsManagerSecret
from payment_processor.store.interfaces import KeyStore

SECRET_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
#: 43 base62 characters carry 256 bits.
SECRET_LENGTH = 43
#: A key's shape: secret (sk) or restricted (rk), its mode, 43 characters (also WAF's scope-down regex, in
#: payments_infra.constructs.rate_limit).
KEY_SHAPE = r"(sk|rk)_(test|live)_([0-9A-Za-z]{43})"
_SECRET = re.compile(f"^{KEY_SHAPE}$")
_MERCHANT = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
#: How much of a secret a listing shows, so an operator can tell keys apart.
HINT_LENGTH = 4
#: The longest a key may live, and the longest a rolled key keeps working beside its replacement (Stripe's).
MAX_LIFETIME = timedelta(days=3 * 365)
MAX_OVERLAP = timedelta(days=7)
#: The least a key may live: an hour (a shorter one would expire within the authorizer's cache time).
MIN_LIFETIME = timedelta(hours=1)
#: The reason an unknown, revoked or other-mode key is refused (the same words for each: nothing to probe).
NOT_VALID = "the API key is not valid: it is unknown, revoked, or for another mode"


class KeyError_(ValueError):
    """A key-management request that cannot be done; the message says why (never a secret)."""


class KeyNotFound(KeyError_):
    """No key with that id."""


class KeyStateConflict(KeyError_):
    """The key is not in a state the request fits (a roll of a revoked, expired or rolled key)."""


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
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    #: The key a roll issued in this one's place.
    replaced_by: str | None = None

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
            "revoked_at": _time(self.revoked_at),
            "expires_at": _time(self.expires_at),
            "last_used_at": _time(self.last_used_at),
            "replaced_by": self.replaced_by,
        }

    def expired(self, now: datetime) -> bool:
        """True once the key's time is up (a rolled key's overlap included)."""
        return self.expires_at is not None and self.expires_at <= now


def _time(moment: datetime | None) -> str | None:
    return payments.isoformat(moment) if moment else None


@dataclass(frozen=True)
class Refusal:
    """Why a token does not authenticate, in words the client is shown (never the secret, nor whose key)."""

    reason: str
    #: Whether the refusal cost a database lookup (a token of the wrong shape or mode is refused without one):
    #: what the authorizer counts against the caller's address (payment_processor.failed_authentications).
    looked_up: bool = True


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

    def create(self, merchant_id: str, *, read_only: bool = False, expires_in: timedelta | None = None) -> IssuedKey:
        """Issue a new key for ``merchant_id`` (expiring ``expires_in`` from now, if given); its secret is in the
        result and nowhere else."""
        if not _MERCHANT.match(merchant_id):
            raise KeyError_("merchant id must be 1 to 64 letters, digits, '_' or '-'")
        if expires_in is not None and not MIN_LIFETIME <= expires_in <= MAX_LIFETIME:
            raise KeyError_("a key expires between 1 hour and 3 years after it is created (--expires-in 1h to 1095d)")
        now = self._clock()
        return self._issue(merchant_id, read_only, now, None if expires_in is None else now + expires_in)

    def roll(self, key_id: str, *, overlap: timedelta) -> tuple[IssuedKey, ApiKey]:
        """Issue ``key_id``'s replacement (same merchant, mode and access; as long a life as the old key was
        given, if it had one) and end the old key's life ``overlap`` from now: the new key, and the old one as
        it is stored now. A revoked, expired or already rolled key cannot be rolled."""
        if not timedelta(0) <= overlap <= MAX_OVERLAP:
            raise KeyError_("the overlap is between 0 and 7 days (--overlap 0 to 7d)")
        old = self._store.get_key(self._checked_id(key_id))
        if old is None:
            raise KeyNotFound("no such key")
        now = self._clock()
        if old.revoked_at is not None or old.expired(now) or old.replaced_by is not None:
            state = "revoked" if old.revoked_at else "already rolled" if old.replaced_by else "expired"
            raise KeyStateConflict(f"key {old.id} is {state}: create a new key instead (payments keys create)")
        lifetime = None if old.expires_at is None else old.expires_at - old.created_at
        issued = self._issue(old.merchant_id, old.read_only, now, None if lifetime is None else now + lifetime)
        ends = now + overlap if old.expires_at is None else min(old.expires_at, now + overlap)
        rolled = self._store.roll_key(old.id, issued.key.id, ends)
        if rolled is None:  # rolled, revoked or gone between the read and the write: the new key is withdrawn
            self._store.revoke_key(issued.key.id, now)
            raise KeyStateConflict(f"key {old.id} changed while it was being rolled; list the keys and try again")
        return issued, rolled

    def _issue(self, merchant_id: str, read_only: bool, now: datetime, expires_at: datetime | None) -> IssuedKey:
        key = ApiKey(
            id=payments.new_id("key"),
            merchant_id=merchant_id,
            mode=self.mode,
            read_only=read_only,
            hint="",
            created_at=now,
            expires_at=expires_at,
        )
        secret = key.prefix + self._token(SECRET_LENGTH)
        key = replace(key, hint=secret[-HINT_LENGTH:])
        self._store.insert_key(key, hash_secret(self._pepper(), secret))
        return IssuedKey(key, secret)

    def authenticate(self, token: str) -> ApiKey | None:
        """The active key whose secret is ``token``; None for anything else (unknown, revoked, other mode,
        expired)."""
        found = self.check(token)
        return found if isinstance(found, ApiKey) else None

    def check(self, token: str) -> ApiKey | Refusal:
        """The active key whose secret is ``token``, or why it is refused: an expired key says so (and names
        the key that replaced it); every other refusal is the same words."""
        shape = secret_shape(token)
        if shape is None or shape[1] != self.mode:
            return Refusal(NOT_VALID, looked_up=False)
        wanted = hash_secret(self._pepper(), token)
        found = self._store.find_key(wanted)
        if found is None:
            return Refusal(NOT_VALID)
        key, stored = found
        if not hmac.compare_digest(stored, wanted) or key.revoked_at is not None or key.read_only != shape[0]:
            return Refusal(NOT_VALID)
        if key.expired(self._clock()):
            assert key.expires_at is not None
            instead = f"use {key.replaced_by}, which replaced it" if key.replaced_by else "create a new key"
            return Refusal(f"the API key {key.id} expired at {payments.isoformat(key.expires_at)}; {instead}")
        return key

    def note_use(self, key: ApiKey) -> None:
        """Keep the hour ``key`` was used in, unless it is kept already (one write an hour per key at most)."""
        hour = self._clock().replace(minute=0, second=0, microsecond=0)
        if key.last_used_at is None or key.last_used_at < hour:
            self._store.note_key_use(key.id, hour)

    def list(self, merchant_id: str | None = None) -> list[ApiKey]:
        """Every key (of one merchant, when given), newest first; never a secret."""
        return self._store.list_keys(merchant_id)

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key now (idempotent: a revoked key keeps its first revocation time)."""
        revoked = self._store.revoke_key(self._checked_id(key_id), self._clock())
        if revoked is None:
            raise KeyNotFound("no such key")
        return revoked

    @staticmethod
    def _checked_id(key_id: str) -> str:
        if not payments.has_id_shape(key_id, "key"):
            raise KeyNotFound("no such key: key ids look like key_ and 26 letters or digits")
        return key_id
