"""Lambda entry points (handler layer).

``payment_processor.handler.handler``: the API function behind API Gateway (proxy event v1).
``payment_processor.handler.deliver``: the scheduled function that drains the transaction-log
outbox and purges expired idempotency keys.
``payment_processor.handler.authorizer``: the API Gateway request authorizer (API keys).
The operator-only admin function is ``payment_processor.admin.handler``.

Dependencies are built once per container, on first use, and reused across invocations.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from payment_processor.api import Api, json_response
from payment_processor.apikeys import ApiKeys, pepper_from
from payment_processor.authorizer import Unauthorized, authorize
from payment_processor.aws import client
from payment_processor.config import ConfigError, Settings
from payment_processor.credentials import CredentialsUnavailable, SecretsManagerCredentials, SecretsManagerSecret
from payment_processor.errors import InternalError
from payment_processor.gateway import SimulatedAcquirer
from payment_processor.service import PaymentService
from payment_processor.store.database import Database
from payment_processor.store.interfaces import StoreUnavailable
from payment_processor.store.postgres import PostgresKeyStore, PostgresStore
from payment_processor.txlog import OutboxDelivery, S3Sink

logger = Logger(service="payment-processor")

#: Idempotency keys are kept at least this long (the API promises 24 hours).
IDEMPOTENCY_KEY_RETENTION_HOURS = 24

_service: PaymentService | None = None
_keys: ApiKeys | None = None


def build_service(settings: Settings) -> PaymentService:
    """Wire the real dependencies: PostgreSQL, Secrets Manager, S3, the simulated acquirer."""
    database = Database(
        settings,
        SecretsManagerCredentials(
            client("secretsmanager", settings), settings.db_secret_arn, ttl_s=settings.secret_ttl_s
        ),
    )
    store = PostgresStore(database, lock_timeout_ms=settings.idempotency_lock_timeout_ms)
    assert settings.transaction_log_bucket is not None  # required by _get_service's Settings
    sink = S3Sink(client("s3", settings), settings.transaction_log_bucket)
    return PaymentService(store, SimulatedAcquirer(), OutboxDelivery(store, sink))


def build_keys(settings: Settings) -> ApiKeys:
    """Wire the authorizer's dependencies: its read-only database login and the pepper."""
    secrets = client("secretsmanager", settings)
    database = Database(
        settings, SecretsManagerCredentials(secrets, settings.db_secret_arn, ttl_s=settings.secret_ttl_s)
    )
    assert settings.api_key_pepper_secret_arn is not None  # required by _get_keys's Settings
    pepper = pepper_from(SecretsManagerSecret(secrets, settings.api_key_pepper_secret_arn, ttl_s=settings.secret_ttl_s))
    return ApiKeys(PostgresKeyStore(database), pepper, mode=settings.api_key_mode)


def _get_service() -> PaymentService:
    global _service
    if _service is None:
        _service = build_service(Settings.from_env(require=("TRANSACTION_LOG_BUCKET",)))
    return _service


def _get_keys() -> ApiKeys:
    global _keys
    if _keys is None:
        _keys = build_keys(Settings.from_env(require=("API_KEY_PEPPER_SECRET_ARN",)))
    return _keys


def _bind_request(event: dict[str, Any], context: Any) -> None:
    logger.clear_state()
    request_context = event.get("requestContext") or {}
    logger.append_keys(
        request_id=request_context.get("requestId"),
        lambda_request_id=getattr(context, "aws_request_id", None),
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway REST (proxy v1) entry point."""
    _bind_request(event, context)
    try:
        service = _get_service()
    except ConfigError as exc:
        logger.error("function is misconfigured", extra={"reason": str(exc)})
        error = InternalError("the payment service is misconfigured; the operator has the details in the logs")
        return json_response(error.status, error.body())
    return Api(service, logger).handle(event)


def authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway REQUEST authorizer entry point (see ``payment_processor.authorizer``).

    Raises ``Unauthorized`` for a missing or malformed header (API Gateway: 401); a database or
    secret outage raises too, which API Gateway answers as an authorizer failure (503, retry).
    """
    _bind_request(event, context)
    try:
        answer = authorize(event, _get_keys())
    except Unauthorized:
        logger.info("authorizer", extra={"outcome": "unauthorized"})
        raise
    except (StoreUnavailable, CredentialsUnavailable) as exc:
        logger.error("authorizer cannot check keys", extra={"reason": str(exc)})
        raise
    logger.info(
        "authorizer",
        extra={
            "outcome": answer["policyDocument"]["Statement"][0]["Effect"],
            "key_id": answer["context"].get("key_id"),
        },
    )
    return answer


def deliver(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled entry point: deliver pending transaction-log events, purge expired keys."""
    _bind_request(event, context)
    service = _get_service()
    report = service.deliver_pending()
    error = report.error
    purged = 0
    try:
        purged = service.purge_idempotency_keys(IDEMPOTENCY_KEY_RETENTION_HOURS)
    except StoreUnavailable as exc:
        error = error or str(exc)
    result = {
        "delivered": report.delivered,
        "already_present": report.already_present,
        "failed": report.failed,
        "error": error,
        "idempotency_keys_purged": purged,
    }
    logger.info("outbox delivery", extra=result)
    return result
