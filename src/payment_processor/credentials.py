"""Database credentials from AWS Secrets Manager, cached with a TTL (data access).

The secret is the JSON RDS writes for a managed master password (``username``, ``password``). The
password lives in this object's memory only: it is never logged, never in repr, never returned in
an error message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class CredentialsUnavailable(Exception):
    """The secret cannot be read or does not hold a username and password."""


@dataclass(frozen=True)
class DatabaseCredentials:
    """A database login. ``repr`` never shows the password."""

    username: str
    password: str = field(repr=False)


class CredentialsProvider(Protocol):
    """Gives the current database credentials."""

    def get(self) -> DatabaseCredentials:
        """The credentials, possibly cached."""
        ...

    def invalidate(self) -> None:
        """Forget the cached credentials (the password was rotated)."""
        ...


class SecretsManagerCredentials:
    """Reads ``secret_arn`` from Secrets Manager and caches it for ``ttl_s`` seconds."""

    def __init__(
        self,
        client: Any,
        secret_arn: str,
        *,
        ttl_s: int = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._secret_arn = secret_arn
        self._ttl_s = ttl_s
        self._clock = clock
        self._cached: DatabaseCredentials | None = None
        self._fetched_at = 0.0

    def get(self) -> DatabaseCredentials:
        """The cached credentials, or freshly read ones when the cache is empty or older than the TTL."""
        now = self._clock()
        if self._cached is None or now - self._fetched_at >= self._ttl_s:
            self._cached = self._fetch()
            self._fetched_at = now
        return self._cached

    def invalidate(self) -> None:
        """Forget the cache so the next ``get`` reads the secret again."""
        self._cached = None

    def _fetch(self) -> DatabaseCredentials:
        # botocore's own exceptions are caught broadly on purpose: whatever the SDK raises, the caller
        # gets one error type and a message that names the secret, never its value.
        try:
            response = self._client.get_secret_value(SecretId=self._secret_arn)
        except Exception as exc:  # noqa: BLE001
            raise CredentialsUnavailable(
                f"cannot read database secret {self._secret_arn}: {type(exc).__name__}"
            ) from None
        try:
            data = json.loads(response["SecretString"])
            return DatabaseCredentials(username=str(data["username"]), password=str(data["password"]))
        except (KeyError, TypeError, ValueError):
            raise CredentialsUnavailable(
                f"database secret {self._secret_arn} is not JSON with 'username' and 'password'"
            ) from None


class StaticCredentials:
    """Fixed credentials (tests and tools that already hold them)."""

    def __init__(self, credentials: DatabaseCredentials) -> None:
        self._credentials = credentials

    def get(self) -> DatabaseCredentials:
        """The fixed credentials."""
        return self._credentials

    def invalidate(self) -> None:
        """Nothing to forget."""
