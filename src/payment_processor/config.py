"""Runtime configuration, read once from the environment the function is deployed with.

The same variables drive AWS, the local emulator and tests, so no code path checks "am I local?".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Where the zip is unpacked (/var/task on Lambda): relative DB_SSLROOTCERT paths start here.
TASK_ROOT = Path(__file__).resolve().parent.parent
#: The RDS and RDS Proxy CA certificates shipped in the package (``make rds-ca-bundle``).
RDS_CA_BUNDLE = "payment_processor/certs/rds-ca-bundle.pem"
#: Accepted values of DB_SSLMODE, as libpq names them.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
#: Which secret API keys a deployment accepts: ``sk_live_``/``rk_live_`` only where PAYMENTS_MODE=live (prod).
PAYMENTS_MODES = ("test", "live")


class ConfigError(ValueError):
    """The environment is missing a variable or holds an unusable value."""


@dataclass(frozen=True)
class Settings:
    """Everything the processor reads from its environment."""

    db_secret_arn: str
    db_host: str
    db_port: int
    db_name: str
    transaction_log_bucket: str | None = None
    db_sslmode: str = "prefer"
    db_sslrootcert: str | None = None
    db_connect_timeout_s: int = 3
    # How long a concurrent request with the same Idempotency-Key waits for the first one to finish
    # before it is answered 409 idempotency_key_in_use.
    idempotency_lock_timeout_ms: int = 10_000
    secret_ttl_s: int = 300
    # How long a deliverer holds the outbox events it claimed (txlog.LEASE_S); a shorter one only in tests
    # that kill deliverers and want their events back at once.
    outbox_lease_s: int = 60
    aws_region: str | None = None
    aws_endpoint_url: str | None = None
    # Authentication: the secret holding the API-key pepper, and which keys this deployment takes.
    api_key_pepper_secret_arn: str | None = None
    api_key_mode: str = "test"
    # The authorizer's bound on key guessing (payment_processor.failed_authentications): this many refused
    # lookups from one source address in a fixed window of this many seconds lock the address out until the
    # window ends.
    auth_failure_limit: int = 30
    auth_failure_window_s: int = 60
    # Only the admin function (migrations, key management) reads these: the secrets it fills with the
    # application roles' generated passwords.
    app_db_secret_arn: str | None = None
    auth_db_secret_arn: str | None = None
    # Webhooks: the KMS key their signing secrets are sealed with, and what a merchant's URL may reach beyond
    # public HTTPS addresses (plain http and this machine: only dev and the local target, never staging or prod).
    webhook_secrets_key_id: str | None = None
    webhooks_allow_http: bool = False
    webhooks_allow_loopback: bool = False
    # Whether a merchant with no connector of its own is answered by the simulated acquirer (dev and staging,
    # the test mode) or refused with 503 no_connector (prod: no payment there is ever approved by a simulation).
    # Unset is refused: a deployment that forgot it fails closed.
    simulated_acquirer_allowed: bool = False
    # Merchants' connectors (the admin function alone writes them): where their secret keys are kept in Secrets
    # Manager (one secret per merchant connector under this name prefix, encrypted with this key), and whether
    # a connector's endpoint may be plain http (dev and the local target: localstripe on 127.0.0.1).
    connector_secrets_prefix: str | None = None
    connector_secrets_key_id: str | None = None
    connectors_allow_http: bool = False
    # The acquirers this deployment calls (PAYMENT_CONNECTORS, comma-separated): a merchant's connector not
    # listed is refused (nothing sent), so a deployment whose network has no way to one never tries it.
    # Unset: every kind (the local target and tests).
    payment_connectors: frozenset[str] | None = None
    # The queues between the webhook dispatcher (the reconcile job) and the courier (outside the VPC).
    webhook_attempts_queue_url: str | None = None
    webhook_results_queue_url: str | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, require: tuple[str, ...] = (), database: bool = True
    ) -> Settings:
        """Build settings from ``env`` (default: ``os.environ``); raise ConfigError naming what is wrong.

        ``require`` names the variables this entry point needs beyond the database's (each function is
        deployed with only what it uses: the authorizer has no bucket, the processor no pepper). Without
        ``database`` (the webhook courier, which has no path to it) the database's are not asked for.
        """
        env = os.environ if env is None else env
        needed = ("DB_SECRET_ARN", "DB_HOST", "DB_NAME") if database else ()
        missing = [name for name in (*needed, *require) if not env.get(name)]
        if missing:
            raise ConfigError(
                f"missing environment variable(s): {', '.join(missing)}; the function's deployment "
                "sets them (see payments_infra), set them by hand to run it elsewhere"
            )
        sslmode = env.get("DB_SSLMODE", "prefer")
        if sslmode not in SSL_MODES:
            raise ConfigError(f"DB_SSLMODE={sslmode!r} is not one of {', '.join(SSL_MODES)}")
        mode = env.get("PAYMENTS_MODE", "test")
        if mode not in PAYMENTS_MODES:
            raise ConfigError(f"PAYMENTS_MODE={mode!r} is not one of {', '.join(PAYMENTS_MODES)}")
        return cls(
            db_secret_arn=env.get("DB_SECRET_ARN", ""),
            db_host=env.get("DB_HOST", ""),
            db_port=_int(env, "DB_PORT", 5432),
            db_name=env.get("DB_NAME", ""),
            transaction_log_bucket=env.get("TRANSACTION_LOG_BUCKET") or None,
            db_sslmode=sslmode,
            db_sslrootcert=_ca_bundle(env.get("DB_SSLROOTCERT") or None),
            db_connect_timeout_s=_int(env, "DB_CONNECT_TIMEOUT", 3),
            idempotency_lock_timeout_ms=_int(env, "IDEMPOTENCY_LOCK_TIMEOUT_MS", 10_000),
            secret_ttl_s=_int(env, "DB_SECRET_TTL", 300),
            outbox_lease_s=_int(env, "OUTBOX_LEASE_S", 60),
            aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            api_key_pepper_secret_arn=env.get("API_KEY_PEPPER_SECRET_ARN") or None,
            api_key_mode=mode,
            auth_failure_limit=_int(env, "AUTH_FAILURE_LIMIT", 30),
            auth_failure_window_s=_int(env, "AUTH_FAILURE_WINDOW_S", 60),
            app_db_secret_arn=env.get("APP_DB_SECRET_ARN") or None,
            auth_db_secret_arn=env.get("AUTH_DB_SECRET_ARN") or None,
            webhook_secrets_key_id=env.get("WEBHOOK_SECRETS_KEY_ID") or None,
            webhooks_allow_http=_flag(env, "WEBHOOKS_ALLOW_HTTP"),
            webhooks_allow_loopback=_flag(env, "WEBHOOKS_ALLOW_LOOPBACK"),
            simulated_acquirer_allowed=_flag(env, "SIMULATED_ACQUIRER_ALLOWED"),
            connector_secrets_prefix=env.get("CONNECTOR_SECRET_NAME_PREFIX") or None,
            connector_secrets_key_id=env.get("CONNECTOR_SECRETS_KEY_ID") or None,
            connectors_allow_http=_flag(env, "CONNECTORS_ALLOW_HTTP"),
            payment_connectors=_connectors(env),
            webhook_attempts_queue_url=env.get("WEBHOOK_ATTEMPTS_QUEUE_URL") or None,
            webhook_results_queue_url=env.get("WEBHOOK_RESULTS_QUEUE_URL") or None,
        )


def _ca_bundle(path: str | None) -> str | None:
    """DB_SSLROOTCERT as libpq needs it: a relative path names a file shipped in the package's folder
    (``payment_processor/certs/rds-ca-bundle.pem`` is ``/var/task/...`` on Lambda, wherever the zip is
    unpacked elsewhere); a missing file is a configuration error, not a silent fallback to no check."""
    if path is None:
        return None
    resolved = Path(path) if Path(path).is_absolute() else TASK_ROOT / path
    if not resolved.is_file():
        raise ConfigError(f"DB_SSLROOTCERT={path!r}: no such CA bundle ({resolved})")
    return str(resolved)


def _flag(env: Mapping[str, str], name: str) -> bool:
    """A true/false variable (unset: false); anything else is a configuration error, not a guess."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "false"):
        return False
    if raw == "true":
        return True
    raise ConfigError(f"{name}={raw!r} must be true or false")


def _connectors(env: Mapping[str, str]) -> frozenset[str] | None:
    """PAYMENT_CONNECTORS: the connector kinds named (unset: None, every kind); an unknown name is an error."""
    from payment_processor.connectors.configuration import KINDS

    raw = env.get("PAYMENT_CONNECTORS")
    if raw is None:
        return None
    names = frozenset(name.strip() for name in raw.split(",") if name.strip())
    unknown = sorted(names - KINDS.keys())
    if unknown:
        raise ConfigError(
            f"PAYMENT_CONNECTORS names {', '.join(map(repr, unknown))}: the connectors are {', '.join(sorted(KINDS))}"
        )
    return names


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
