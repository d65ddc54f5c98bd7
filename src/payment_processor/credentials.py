"""Database credentials and other JSON secrets from AWS Secrets Manager, cached with a TTL (data access).

A login secret is JSON with ``username`` and ``password``, as RDS writes for a managed master password. The
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


class SecretsManagerSecret:
    """A JSON secret in Secrets Manager, read on first use and cached for ``ttl_s`` seconds.

    Used for the database logins and the API-key pepper. The value stays in memory only; errors name
    the secret, never its content.
    """

    def __init__(
        self,
        client: Any,
        secret_arn: str,
        *,
        ttl_s: int = 300,
        clock: Callable[[], float] = time.monotonic,
        what: str = "secret",
    ) -> None:
        self._client = client
        self.secret_arn = secret_arn
        self._what = what
        self._ttl_s = ttl_s
        self._clock = clock
        self._cached: dict[str, Any] | None = None
        self._fetched_at = 0.0

    def get(self) -> dict[str, Any]:
        """The cached JSON object, or a fresh read when the cache is empty or older than the TTL."""
        now = self._clock()
        if self._cached is None or now - self._fetched_at >= self._ttl_s:
            self._cached = self._fetch()
            self._fetched_at = now
        return self._cached

    def invalidate(self) -> None:
        """Forget the cache so the next ``get`` reads the secret again."""
        self._cached = None

    def _fetch(self) -> dict[str, Any]:
        # botocore's own exceptions are caught broadly on purpose: whatever the SDK raises, the caller
        # gets one error type and a message that names the secret, never its value.
        try:
            response = self._client.get_secret_value(SecretId=self.secret_arn)
        except Exception as exc:  # noqa: BLE001
            raise CredentialsUnavailable(f"cannot read {self._what} {self.secret_arn}: {type(exc).__name__}") from None
        try:
            data = json.loads(response["SecretString"])
        except (KeyError, TypeError, ValueError):
            raise CredentialsUnavailable(f"{self._what} {self.secret_arn} is not a JSON object") from None
        if not isinstance(data, dict):
            raise CredentialsUnavailable(f"{self._what} {self.secret_arn} is not a JSON object")
        return data


class SecretsManagerCredentials:
    """Database credentials from a Secrets Manager secret with JSON ``username`` and ``password``
    (the shape RDS writes for a managed master password, and the admin function for the app roles)."""

    def __init__(
        self,
        client: Any,
        secret_arn: str,
        *,
        ttl_s: int = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._secret = SecretsManagerSecret(client, secret_arn, ttl_s=ttl_s, clock=clock, what="database secret")

    def get(self) -> DatabaseCredentials:
        """The cached credentials, or freshly read ones when the cache is empty or older than the TTL."""
        data = self._secret.get()
        try:
            return DatabaseCredentials(username=str(data["username"]), password=str(data["password"]))
        except KeyError:
            raise CredentialsUnavailable(
                f"database secret {self._secret.secret_arn} is not JSON with 'username' and 'password'"
            ) from None

    def invalidate(self) -> None:
        """Forget the cache so the next ``get`` reads the secret again."""
        self._secret.invalidate()


class StaticCredentials:
    """Fixed credentials (tests and tools that already hold them)."""

    def __init__(self, credentials: DatabaseCredentials) -> None:
        self._credentials = credentials

    def get(self) -> DatabaseCredentials:
        """The fixed credentials."""
        return self._credentials

    def invalidate(self) -> None:
        """Nothing to forget."""
