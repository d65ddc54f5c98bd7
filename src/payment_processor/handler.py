"""Lambda entry points (handler layer).

``payment_processor.handler.handler``: the API function behind API Gateway (proxy event v1).
``payment_processor.handler.reconcile``: the scheduled function that settles payments a crash or an
acquirer outage left processing, drains the transaction-log outbox and purges expired idempotency keys.
``payment_processor.handler.authorizer``: the API Gateway request authorizer (API keys).
``payment_processor.handler.send_webhooks``: the webhook courier, fed by SQS, outside the VPC.
The operator-only admin function is ``payment_processor.admin.handler``.

Dependencies are built once per container, on first use, and reused across invocations.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from payment_processor.api import Api, json_response
from payment_processor.apikeys import ApiKeys, pepper_from
from payment_processor.authorizer import Unauthorized, authorize
from payment_processor.aws import CALL_BUDGET_S, client, new_session
from payment_processor.config import ConfigError, Settings
from payment_processor.connectors.base import Connector
from payment_processor.connectors.directory import ConnectorDirectory, build, secret_reader
from payment_processor.connectors.simulated import SimulatedAcquirer
from payment_processor.connectors.unconfigured import Unconfigured
from payment_processor.credentials import CredentialsUnavailable, SecretsManagerCredentials, SecretsManagerSecret
from payment_processor.deadlines import deadline
from payment_processor.errors import InternalError
from payment_processor.failed_authentications import FailedAuthentications
from payment_processor.store.interfaces import OutboxHealth, ProcessingHealth, StoreUnavailable
from payment_processor.txlog import DeliveryReport, OutboxDelivery, S3Sink

if TYPE_CHECKING:
    # The payment service and its operations are imported on the first request (build_service), not at
    # cold start; the authorizer, which imports this module too, never needs them.
    from payment_processor.service import PaymentService, ResolutionReport
    from payment_processor.webhooks.dispatcher import Dispatcher, DispatchReport
    from payment_processor.webhooks.service import WebhookEndpoints

logger = Logger(service="payment-processor")

#: Idempotency keys are kept at least this long (the API promises 24 hours).
IDEMPOTENCY_KEY_RETENTION_HOURS = 24
#: Time kept back before the function's deadline: no S3 call starts later than this (one call takes at
#: most aws.CALL_BUDGET_S), so the answer, or the delivery run's last commit, always goes out in time.
REQUEST_RESERVE_S = CALL_BUDGET_S + 1.0
DELIVER_RESERVE_S = CALL_BUDGET_S + 2.0
#: Time kept back before the deadline when the acquirer is to be asked: its answer must still be committed
#: and returned (the simulated acquirer answers in-process; a real one's client gets a timeout under this).
SETTLE_RESERVE_S = 2.0
#: The CloudWatch namespace of the metrics the reconcile job publishes (the alarms in payments_infra name it too).
METRICS_NAMESPACE = "Payments/Reconcile"
#: The most of a reconcile run spent dispatching webhooks (rounds stop sooner when nothing is due or in flight).
WEBHOOK_DISPATCH_BUDGET_S = 40.0
#: The courier starts no attempt with less time than this left: the attempt's 10 s and its result's SQS send.
COURIER_RESERVE_S = 10.0 + CALL_BUDGET_S + 1.0

_service: PaymentService | None = None
_webhooks: WebhookEndpoints | None = None
_dispatcher: Dispatcher | None = None
_courier: dict[str, Any] | None = None
_keys: tuple[ApiKeys, FailedAuthentications] | None = None
#: True until the process's first request has loaded the code and SDK data it needs (see _first_load). Only
#: in a Lambda execution environment (the runtime sets AWS_LAMBDA_FUNCTION_NAME, as the local target's
#: workers do): a process that imports the handler for something else (a test run) keeps its collector.
_cold = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


@contextmanager
def _first_load() -> Iterator[None]:
    """Around the process's first request, once: keep CPython's cyclic collector off what it loads.

    That request imports ~400 modules (psycopg, botocore, pydantic) and parses the SDK's service data:
    ~80,000 objects that live as long as the process. Collections triggered every 700 allocations walk
    them again and again while they load, ~0.1 s of the first request (bench/cold_start_bench.py
    --profile counts them), and never find them garbage. So the collector is paused for that request
    and everything alive after it is moved to the permanent generation (gc.freeze), which no later
    collection walks either: the work is not deferred, it is not done. Cyclic garbage the request left
    is frozen with it (a few hundred objects, measured), once per process. Later requests, and the
    collector's setting when it was already off, are left as they are.
    """
    global _cold
    if not _cold:
        yield
        return
    _cold = False
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def build_service(settings: Settings) -> PaymentService:
    """Wire the real dependencies: PostgreSQL, Secrets Manager, S3, the simulated acquirer.

    The PostgreSQL driver (and botocore, see aws.client) is imported here, on the first request, not at
    cold start: an import the function can do without until then only lengthens the init phase. Both
    clients come from one SDK session, which loads the SDK's data once.
    """
    from payment_processor.service import PaymentService
    from payment_processor.store.database import Database
    from payment_processor.store.postgres import PostgresStore

    session = new_session()
    secrets = client("secretsmanager", settings, session=session)
    database = Database(
        settings, SecretsManagerCredentials(secrets, settings.db_secret_arn, ttl_s=settings.secret_ttl_s)
    )
    store = PostgresStore(database, lock_timeout_ms=settings.idempotency_lock_timeout_ms)
    if settings.transaction_log_bucket is None:
        raise ConfigError("missing environment variable(s): TRANSACTION_LOG_BUCKET; the processor's deployment sets it")
    sink = S3Sink(client("s3", settings, session=session), settings.transaction_log_bucket)
    # A merchant's own connectors (payments connectors set) answer its payments; a merchant with none gets the
    # simulated acquirer where the environment allows it (dev, staging), and none in prod (503 no_connector).
    default: Connector = SimulatedAcquirer.from_env() if settings.simulated_acquirer_allowed else Unconfigured()
    service = PaymentService(store, default, OutboxDelivery(store, sink, lease_s=settings.outbox_lease_s))
    service.context.directory = ConnectorDirectory(
        store.merchant_connectors, secret_reader(secrets), build, enabled=settings.payment_connectors
    )
    return service


def build_webhooks(settings: Settings, service: PaymentService) -> WebhookEndpoints:
    """Wire the webhook endpoints API on the service's database connection (one per execution environment:
    the connection budget counts one) and a KMS client for the endpoints' secrets."""
    from payment_processor.store.webhook_deliveries import PostgresWebhookDeliveries
    from payment_processor.store.webhook_endpoints import PostgresWebhookEndpoints
    from payment_processor.webhooks.addresses import Reach
    from payment_processor.webhooks.secrets import KmsSecretBox
    from payment_processor.webhooks.service import WebhookEndpoints

    if settings.webhook_secrets_key_id is None:
        raise ConfigError("missing environment variable(s): WEBHOOK_SECRETS_KEY_ID; the processor's deployment sets it")
    store = PostgresWebhookEndpoints(service.database, lock_timeout_ms=settings.idempotency_lock_timeout_ms)
    box = KmsSecretBox(client("kms", settings), settings.webhook_secrets_key_id)
    reach = Reach(allow_http=settings.webhooks_allow_http, allow_loopback=settings.webhooks_allow_loopback)
    return WebhookEndpoints(store, box, reach, deliveries=PostgresWebhookDeliveries(service.database))


def build_keys(settings: Settings) -> ApiKeys:
    """Wire the authorizer's dependencies: its read-only database login and the pepper (the driver is
    imported here, on first use, as in build_service)."""
    return build_authentication(settings)[0]


def build_authentication(settings: Settings) -> tuple[ApiKeys, FailedAuthentications]:
    """The authorizer's keys and its bound on failed authentications, on one database login."""
    from payment_processor.store.database import Database
    from payment_processor.store.postgres import PostgresKeyStore

    secrets = client("secretsmanager", settings)
    database = Database(
        settings, SecretsManagerCredentials(secrets, settings.db_secret_arn, ttl_s=settings.secret_ttl_s)
    )
    if settings.api_key_pepper_secret_arn is None:
        raise ConfigError(
            "missing environment variable(s): API_KEY_PEPPER_SECRET_ARN; the authorizer's deployment sets it"
        )
    pepper = pepper_from(SecretsManagerSecret(secrets, settings.api_key_pepper_secret_arn, ttl_s=settings.secret_ttl_s))
    store = PostgresKeyStore(database)
    try:
        failures = FailedAuthentications(
            store, limit=settings.auth_failure_limit, window_s=settings.auth_failure_window_s
        )
    except ValueError as exc:
        raise ConfigError(f"AUTH_FAILURE_LIMIT / AUTH_FAILURE_WINDOW_S: {exc}") from None
    return ApiKeys(store, pepper, mode=settings.api_key_mode), failures


def _get_service() -> PaymentService:
    global _service
    if _service is None:
        _service = build_service(Settings.from_env(require=("TRANSACTION_LOG_BUCKET",)))
    return _service


def _get_webhooks() -> WebhookEndpoints:
    global _webhooks
    if _webhooks is None:
        _webhooks = build_webhooks(Settings.from_env(require=("WEBHOOK_SECRETS_KEY_ID",)), _get_service())
    return _webhooks


def build_dispatcher(settings: Settings, service: PaymentService) -> Dispatcher | None:
    """The webhook dispatcher on the service's database connection; None where the deployment has no queues."""
    from payment_processor.store.webhook_deliveries import PostgresWebhookDeliveries
    from payment_processor.webhooks.dispatcher import Dispatcher
    from payment_processor.webhooks.queues import SqsQueue

    if settings.webhook_attempts_queue_url is None or settings.webhook_results_queue_url is None:
        return None
    sqs = client("sqs", settings)
    return Dispatcher(
        PostgresWebhookDeliveries(service.database),
        SqsQueue(sqs, settings.webhook_attempts_queue_url),
        SqsQueue(sqs, settings.webhook_results_queue_url),
    )


def _get_dispatcher() -> Dispatcher | None:
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = build_dispatcher(Settings.from_env(), _get_service())
    return _dispatcher


def _get_keys() -> tuple[ApiKeys, FailedAuthentications]:
    global _keys
    if _keys is None:
        _keys = build_authentication(Settings.from_env(require=("API_KEY_PEPPER_SECRET_ARN",)))
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
    with _first_load():
        return _answer(event, context)


def _answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _bind_request(event, context)
    try:
        service = _get_service()
    except ConfigError as exc:
        logger.error("function is misconfigured", extra={"reason": str(exc)})
        error = InternalError("the payment service is misconfigured; the operator has the details in the logs")
        return json_response(error.status, error.body())
    return Api(service, logger, _get_webhooks).handle(
        event,
        expired=deadline(context, reserve_s=REQUEST_RESERVE_S),
        settle_by=deadline(context, reserve_s=SETTLE_RESERVE_S),
    )


def authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway REQUEST authorizer entry point (see ``payment_processor.authorizer``).

    Raises ``Unauthorized`` for a missing or malformed header (API Gateway: 401); a database or
    secret outage raises too, which API Gateway answers as an authorizer failure (503, retry).
    """
    with _first_load():
        return _authorize(event, context)


def _write_not_kept(subject: str, reason: str) -> None:
    """A best-effort write of the authorizer's failed: a key's hour of use, or an address's failure count."""
    what = "the key's hour of use" if subject.startswith("key_") else "the address's failed authentication"
    logger.warning(f"{what} was not kept", extra={"subject": subject, "reason": reason})


def _authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _bind_request(event, context)
    try:
        keys, failures = _get_keys()
        answer = authorize(event, keys, failures=failures, unnoted=_write_not_kept)
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
            "code": answer["context"].get("error_code"),
        },
    )
    return answer


def reconcile(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled entry point: bring what requests left unfinished to its end, one named step after another,
    each with its counts in the run's log line (``steps``):

    - ``settle_payments``, ``finish_payment_actions``, ``finish_refunds``: ask the acquirer again about
      payments, captures / cancels / increments and refunds left without an answer (or give up on a payment);
    - ``expire_authorizations``: cancel authorizations nobody captured in 7 days;
    - ``settle_authentications``: ask the acquirer about payments waiting for their cardholder (3-D Secure),
      and fail those waiting over an hour (the authorization canceled at the acquirer first);
    - ``deliver_outbox``: put due transaction-log events until none are due or the deadline is near;
    - ``purge_idempotency_keys``: delete answered keys past their 24 hours;
    - ``health``: publish the outbox's and the waiting operations' health, and the API keys expiring within 7
      days, as metrics (alarmed on in staging/prod; the keys in prod).

    ``event["resolve_after_s"]`` (operators and tests) overrides how old a processing payment must be
    before the job settles it; the schedule sends no such field.
    """
    _bind_request(event, context)
    with _first_load():  # the wiring only: a delivery run may be long
        service = _get_service()
    expired = deadline(context, reserve_s=DELIVER_RESERVE_S)
    resolve_after = event.get("resolve_after_s") if isinstance(event, dict) else None
    # Unless told, the service's own default (operations.driver.RESOLVE_AFTER_S) applies.
    if isinstance(resolve_after, int | float):
        resolution = service.resolve_processing(older_than_s=float(resolve_after), expired=expired)
    else:
        resolution = service.resolve_processing(expired=expired)
    # Settling wrote new events: deliver them in the same run.
    report = service.deliver_pending(expired=expired)
    error = report.error or resolution.error
    webhooks = _dispatch_webhooks(expired)
    error = error or webhooks.error
    purged = 0
    health = None
    processing = None
    keys_expiring: int | None = None
    try:
        purged = service.purge_idempotency_keys(IDEMPOTENCY_KEY_RETENTION_HOURS)
        health = service.outbox_health()
        processing = service.processing_health()
        keys_expiring = service.keys_expiring_soon()
    except StoreUnavailable as exc:
        error = error or str(exc)
    result: dict[str, Any] = {
        "payments_settled": resolution.settled,
        "payments_failed": resolution.failed_permanently,
        "payments_still_processing": resolution.still_processing,
        "authorizations_expired": resolution.canceled_expired,
        "delivered": report.delivered,
        "already_present": report.already_present,
        "failed": report.failed,
        "dead_lettered_now": report.dead_lettered,
        "stopped_by_deadline": report.stopped_by_deadline,
        "error": error,
        "idempotency_keys_purged": purged,
        "pending": health.pending if health else None,
        "dead_lettered": health.dead_lettered if health else None,
        "oldest_pending_age_s": round(health.oldest_pending_age_s, 1) if health else None,
        "processing": processing.processing if processing else None,
        "oldest_processing_age_s": round(processing.oldest_processing_age_s, 1) if processing else None,
        "api_keys_expiring_soon": keys_expiring,
    }
    result["steps"] = {
        **resolution.steps(),
        "deliver_outbox": {
            "delivered": report.delivered,
            "already_present": report.already_present,
            "failed": report.failed,
            "dead_lettered": report.dead_lettered,
        },
        "dispatch_webhooks": webhooks.step(),
        "purge_idempotency_keys": {"purged": purged},
        "health": {
            "pending": result["pending"],
            "processing": result["processing"],
            "api_keys_expiring_soon": keys_expiring,
        },
    }
    logger.info("reconcile", extra=result)
    if health is not None and processing is not None and keys_expiring is not None:
        publish_outbox_metrics(report, health, resolution, processing, keys_expiring)
    return result


def _dispatch_webhooks(expired: Any) -> DispatchReport:
    """The reconcile job's webhook step: record the courier's results, queue due attempts (see dispatcher)."""
    from payment_processor.webhooks.dispatcher import DispatchReport

    try:
        dispatcher = _get_dispatcher()
        if dispatcher is None:
            return DispatchReport()
        return dispatcher.run(expired=expired, budget_s=WEBHOOK_DISPATCH_BUDGET_S)
    except (StoreUnavailable, ConfigError) as exc:
        return DispatchReport(error=str(exc))
    except Exception as exc:  # an SQS outage must not stop the rest of the job: logged, retried next run
        logger.exception("webhook dispatch failed")
        return DispatchReport(error=f"webhook dispatch failed: {type(exc).__name__}")


def send_webhooks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS entry point of the webhook courier: a batch of attempts, made concurrently (see webhooks.courier).

    Answers the messages it could not finish as ``batchItemFailures`` (the event source mapping reports them):
    SQS makes them visible again, and after the queue's receive limit moves them to its dead-letter queue.
    """
    from payment_processor.webhooks.courier import deliver_batch

    _bind_request(event, context)
    courier = _get_courier()
    outcome = deliver_batch(
        list(event.get("Records", [])),
        box=courier["box"],
        reach=courier["reach"],
        results=courier["results"],
        # No attempt starts without time for its 10 s and its result's send: left to the queue instead.
        has_time=lambda: context is None or context.get_remaining_time_in_millis() >= COURIER_RESERVE_S * 1000,
    )
    for message_id, reason in outcome.refused:
        logger.error("webhook attempt message refused", extra={"message_id": message_id, "reason": reason})
    for message, result in outcome.made:
        found = result.attempt
        logger.info(
            "webhook attempt",
            extra={
                "event_id": message.event_id,
                "webhook_endpoint_id": message.endpoint_id,
                "attempt": message.attempt,
                "status_code": found.status_code,
                "error": found.error,
                "latency_ms": found.latency_ms,
            },
        )
    if outcome.failed:
        logger.warning("webhook attempts left to the queue", extra={"count": len(outcome.failed)})
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in outcome.failed]}


def _get_courier() -> dict[str, Any]:
    """The courier's clients, once per execution environment: KMS (the secrets) and the results queue."""
    global _courier
    if _courier is None:
        from payment_processor.webhooks.addresses import Reach
        from payment_processor.webhooks.queues import SqsQueue
        from payment_processor.webhooks.secrets import KmsSecretBox

        settings = Settings.from_env(require=("WEBHOOK_SECRETS_KEY_ID", "WEBHOOK_RESULTS_QUEUE_URL"), database=False)
        session = new_session()
        _courier = {
            "box": KmsSecretBox(client("kms", settings, session=session), settings.webhook_secrets_key_id or ""),
            "results": SqsQueue(client("sqs", settings, session=session), settings.webhook_results_queue_url or ""),
            "reach": Reach(allow_http=settings.webhooks_allow_http, allow_loopback=settings.webhooks_allow_loopback),
        }
    return _courier


#: The handler path the scheduled function had before it was named for what it does; kept for one release so
#: a deployment made before then keeps working until it is applied again.
deliver = reconcile


def publish_outbox_metrics(
    report: DeliveryReport,
    health: OutboxHealth,
    resolution: ResolutionReport,
    processing: ProcessingHealth,
    keys_expiring: int = 0,
) -> None:
    """CloudWatch metrics in the embedded metric format (a log line, no API call), one set per run.

    Dimensions: ``service`` and ``function`` (this deployment's reconcile function), which the
    deployment's alarms name. Imported here: only the reconcile function pays for the metrics module.
    """
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = Metrics(namespace=METRICS_NAMESPACE, service=os.environ.get("POWERTOOLS_SERVICE_NAME", "payments"))
    metrics.add_dimension("function", os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local"))
    metrics.add_metric(name="OutboxOldestPendingAge", unit=MetricUnit.Seconds, value=health.oldest_pending_age_s)
    metrics.add_metric(name="OutboxPending", unit=MetricUnit.Count, value=health.pending)
    metrics.add_metric(name="OutboxDeadLettered", unit=MetricUnit.Count, value=health.dead_lettered)
    metrics.add_metric(name="OutboxDelivered", unit=MetricUnit.Count, value=report.delivered + report.already_present)
    metrics.add_metric(name="OutboxDeliveryFailures", unit=MetricUnit.Count, value=report.failed)
    # Payments, captures, cancels and refunds recorded but not answered: an acquirer that stopped answering
    # shows here first (the age alarm reads PaymentsOldestProcessingAge).
    metrics.add_metric(name="PaymentsProcessing", unit=MetricUnit.Count, value=processing.processing)
    metrics.add_metric(
        name="PaymentsOldestProcessingAge", unit=MetricUnit.Seconds, value=processing.oldest_processing_age_s
    )
    metrics.add_metric(name="PaymentsSettledByJob", unit=MetricUnit.Count, value=resolution.settled)
    metrics.add_metric(name="PaymentsFailedByJob", unit=MetricUnit.Count, value=resolution.failed_permanently)
    # Active API keys that stop working within 7 days (the prod alarm reads it): roll them before then.
    metrics.add_metric(name="ApiKeysExpiringSoon", unit=MetricUnit.Count, value=keys_expiring)
    metrics.flush_metrics()
