"""Runtime configuration, read once from the environment the function is deployed with.

The same variables drive AWS, the local emulator and tests, so no code path checks "am I local?".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

#: Accepted values of DB_SSLMODE, as libpq names them.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


class ConfigError(ValueError):
    """The environment is missing a variable or holds an unusable value."""


@dataclass(frozen=True)
class Settings:
    """Everything the processor reads from its environment."""

    db_secret_arn: str
    db_host: str
    db_port: int
    db_name: str
    transaction_log_bucket: str
    db_sslmode: str = "prefer"
    db_sslrootcert: str | None = None
    db_connect_timeout_s: int = 3
    # How long a concurrent request with the same Idempotency-Key waits for the first one to finish
    # before it is answered 409 idempotency_key_in_use.
    idempotency_lock_timeout_ms: int = 10_000
    secret_ttl_s: int = 300
    aws_region: str | None = None
    aws_endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default: ``os.environ``); raise ConfigError naming what is wrong."""
        env = os.environ if env is None else env
        missing = [
            name for name in ("DB_SECRET_ARN", "DB_HOST", "DB_NAME", "TRANSACTION_LOG_BUCKET") if not env.get(name)
        ]
        if missing:
            raise ConfigError(
                f"missing environment variable(s): {', '.join(missing)}; the function's deployment "
                "sets them (see payments_infra), set them by hand to run it elsewhere"
            )
        sslmode = env.get("DB_SSLMODE", "prefer")
        if sslmode not in SSL_MODES:
            raise ConfigError(f"DB_SSLMODE={sslmode!r} is not one of {', '.join(SSL_MODES)}")
        return cls(
            db_secret_arn=env["DB_SECRET_ARN"],
            db_host=env["DB_HOST"],
            db_port=_int(env, "DB_PORT", 5432),
            db_name=env["DB_NAME"],
            transaction_log_bucket=env["TRANSACTION_LOG_BUCKET"],
            db_sslmode=sslmode,
            db_sslrootcert=env.get("DB_SSLROOTCERT") or None,
            db_connect_timeout_s=_int(env, "DB_CONNECT_TIMEOUT", 3),
            idempotency_lock_timeout_ms=_int(env, "IDEMPOTENCY_LOCK_TIMEOUT_MS", 10_000),
            secret_ttl_s=_int(env, "DB_SECRET_TTL", 300),
            aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be positive")
    return value
