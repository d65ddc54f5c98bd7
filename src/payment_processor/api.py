"""HTTP concerns of the processor: API Gateway proxy event v1 in, proxy response out.

Routing, header, query and body handling, the JSON error envelope, and one structured log line per
request. The routes are declared once, in :mod:`payment_processor.routes`; nine routes on four paths do not
need a web framework, and keeping this small keeps the cold start small.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from payment_processor import routes
from payment_processor.deadlines import Expired, never
from payment_processor.encoding import compact_json
from payment_processor.errors import (
    ApiError,
    AuthenticationRequired,
    BadRequest,
    CardNumberRefused,
    InsufficientPermissions,
    InternalError,
    InvalidCharacter,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)
from payment_processor.payment import is_payment_id
from payment_processor.redaction import describe_exception
from payment_processor.screening import contains_card_number, has_unstorable_character

if TYPE_CHECKING:
    from payment_processor.service import PaymentService
    from payment_processor.webhooks.service import WebhookEndpoints

#: Largest request body accepted, in bytes (a payment with full metadata is well under 16 KiB).
MAX_BODY_BYTES = 16 * 1024
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def base_path(event: dict[str, Any]) -> str:
    """What the client's URL has before the route's path: ``/v1`` (the stage) on API Gateway's own domain,
    a mapping's base path on a custom domain, nothing when called directly. A ``Location`` built on it can be
    followed as it is."""
    requested = str((event.get("requestContext") or {}).get("path") or "")
    path = str(event.get("path") or "")
    if path and requested.endswith(path) and requested != path:
        return requested[: -len(path)].rstrip("/")
    return ""


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway proxy response with a JSON body (``str``: JSON text already encoded, sent as is)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": body if isinstance(body, str) else compact_json(body),
        "isBase64Encoded": False,
    }


def header(event: dict[str, Any], name: str) -> str | None:
    """A request header by case-insensitive name (API Gateway passes names as the client sent them)."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted:
            return value if isinstance(value, str) else None
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if key.lower() == wanted and values:
            return values[0] if isinstance(values[0], str) else None
    return None


def query_values(event: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, str]:
    """The query string's parameters, one value each, only ones the route takes (400 otherwise)."""
    from payment_processor.pagination import single_values

    return single_values(event.get("multiValueQueryStringParameters"), event.get("queryStringParameters"), allowed)


def list_response(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """A list page: ``{"object": "list", "data": [...], "has_more": bool}``."""
    return json_response(200, {"object": "list", "data": items, "has_more": has_more})


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def read_json_body(event: dict[str, Any], *, optional: bool = False) -> Any:
    """The decoded JSON body: 413 over the size limit, 400 when it is not one valid JSON document.

    ``optional``: no body at all is ``{}`` (capture, cancel and refund have only optional fields).
    """
    raw = event.get("body")
    if (raw is None or raw == "") and optional:
        return {}
    if raw is None or raw == "":
        raise BadRequest("the request body must be a JSON object", code="malformed_json")
    if not isinstance(raw, str):
        raise BadRequest("the request body must be text", code="malformed_json")
    if event.get("isBase64Encoded"):
        if len(raw) > MAX_BODY_BYTES * 4 // 3 + 4:
            raise PayloadTooLarge(f"the request body is over {MAX_BODY_BYTES} bytes")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the request body is not valid base64", code="malformed_json") from None
    else:
        data = raw.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is over {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(data, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        # JSONDecodeError.msg is one of json's fixed phrases ("Expecting value"), never the content;
        # other errors (a duplicate key, bad UTF-8) carry the content in their text, so say nothing.
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "invalid JSON"
        raise BadRequest(f"the request body is not valid JSON ({detail})", code="malformed_json") from None


def idempotency_key(event: dict[str, Any]) -> str:
    """The Idempotency-Key header, 1..255 printable characters; 400 when missing or out of bounds.

    A card number in it is 422 ``card_number_refused``, a NUL or unpaired surrogate 422
    ``invalid_character`` (both with ``field = Idempotency-Key``); no message echoes the key.
    """
    key = header(event, "Idempotency-Key")
    if key is None or key == "":
        raise BadRequest(
            "the Idempotency-Key header is required: send a unique value (for example a UUID) per "
            "payment and reuse it only to retry that payment",
            code="missing_idempotency_key",
            field="Idempotency-Key",
        )
    # Screened like the body, before anything else is done with it: the key is stored and logged.
    if contains_card_number(key):
        raise CardNumberRefused(field="Idempotency-Key")
    if has_unstorable_character(key):
        raise InvalidCharacter(field="Idempotency-Key")
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            f"the Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters",
            code="invalid_idempotency_key",
            field="Idempotency-Key",
        )
    return key


@dataclass(frozen=True)
class Caller:
    """Who is calling: what the API authorizer established from the request's key."""

    merchant_id: str
    key_id: str
    read_only: bool

    def require_write(self) -> None:
        """403 for a read-only key."""
        if self.read_only:
            raise InsufficientPermissions(
                "this API key is read-only (rk_…): use a secret key (sk_…) to create, capture, cancel or "
                "refund payments, or to make or change webhook endpoints"
            )


def authenticated_caller(event: dict[str, Any]) -> Caller:
    """The caller the authorizer put in ``requestContext.authorizer``; 401 when there is none.

    The merchant always comes from here, never from the request: on AWS a request without a valid
    key never reaches this function, and this check keeps that true if the function is ever invoked
    some other way.
    """
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    merchant, key_id = context.get("merchant_id"), context.get("key_id")
    if not isinstance(merchant, str) or not merchant or not isinstance(key_id, str) or not key_id:
        raise AuthenticationRequired(
            "send your secret API key as `Authorization: Bearer sk_test_...` (create one with `payments keys create`)"
        )
    # Fails closed: a context without the flag (the authorizer always sets it) is read-only, never write-capable.
    return Caller(merchant, key_id, str(context.get("read_only", "true")).lower() != "false")


class Api:
    """Routes proxy events to the payment service and shapes its answers."""

    def __init__(
        self, service: PaymentService, logger: Logger, webhooks: Callable[[], WebhookEndpoints] | None = None
    ) -> None:
        self._service = service
        self._log = logger
        #: Built on the first webhook endpoint request (it needs a KMS client, the payment routes do not).
        self._webhooks = webhooks

    def handle(
        self, event: dict[str, Any], *, expired: Expired | None = None, settle_by: Expired | None = None
    ) -> dict[str, Any]:
        """Answer one proxy event; never raises, never returns a stack trace.

        ``expired`` says when no further work may start (the function's deadline is near): the answer
        for a committed payment goes out then, and its transaction-log event waits in the outbox.
        """
        started = time.perf_counter()
        context: dict[str, Any] = {}
        try:
            response = self._route(event, context, expired or never, settle_by or never)
        except ApiError as exc:
            response = json_response(exc.status, exc.body(), exc.headers)
            context["error_code"] = exc.code
        except Exception as exc:  # noqa: BLE001 - the last line of defence: log it, answer a clean 500
            # Not logger.exception: str(exc) and the formatted traceback can hold the request itself
            # (a psycopg error's DETAIL and CONTEXT quote the values sent). Type, SQLSTATE, frames.
            self._log.error("unhandled error while answering a request", extra={"error": describe_exception(exc)})
            error = InternalError("internal error; the request id identifies it in the logs")
            response = json_response(error.status, error.body())
            context["error_code"] = error.code
        self._log.info(
            "request",
            extra={
                "method": event.get("httpMethod"),
                "path": event.get("resource") or event.get("path"),
                "status": response["statusCode"],
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                **context,
            },
        )
        return response

    def _route(
        self, event: dict[str, Any], context: dict[str, Any], expired: Expired, settle_by: Expired
    ) -> dict[str, Any]:
        method = str(event.get("httpMethod") or "").upper()
        path = str(event.get("path") or "")
        caller = authenticated_caller(event)
        context.update(merchant_id=caller.merchant_id, key_id=caller.key_id)
        found = routes.match(path)
        if found is None:
            raise NotFound(routes.NO_SUCH_ROUTE, code="route_not_found")
        template, parameters = found
        route = routes.find(method, template)
        if route is None:
            allowed = ", ".join(sorted(routes.paths()[template]))
            raise MethodNotAllowed(f"{method} is not allowed on {template}; use {allowed}", headers={"Allow": allowed})
        # Logged only in the shape of an id: the path is the caller's text and could hold anything.
        if parameters and is_payment_id(parameters[0]):
            context["payment_id"] = parameters[0]
        operation = route.operation
        if template.startswith("/webhook_endpoints") or operation == "redeliverEvent":
            return self._webhook_endpoints(caller, operation, parameters, event, context)
        if operation == "listPayments":
            return self._list_payments(caller, event)
        if operation == "listEvents":
            return self._list_events(caller, event)
        if operation == "getEvent":
            from payment_processor.txlog import feed_resource

            return json_response(200, feed_resource(self._service.get_event(caller.merchant_id, parameters[0]).body))
        if operation == "getPayment":
            return json_response(200, self._service.payment_with_attempts(caller.merchant_id, parameters[0]))
        if operation == "listRefunds":
            return self._list_refunds(caller, parameters[0], event)
        caller.require_write()  # every other route is a POST
        if operation == "createPayment":
            return self._create(caller, event, context, expired, settle_by)
        return self._follow_up(caller, parameters[0], operation, event, context, expired, settle_by)

    def _list_payments(self, caller: Caller, event: dict[str, Any]) -> dict[str, Any]:
        from payment_processor.pagination import PAGE_PARAMETERS, invalid, page_request
        from payment_processor.payment import STATUSES

        values = query_values(event, (*PAGE_PARAMETERS, "status"))
        status = values.get("status")
        if status is not None and status not in STATUSES:
            raise invalid("status", "status must be one of " + ", ".join(STATUSES))
        page = self._service.list_payments(caller.merchant_id, page_request(values), status=status)
        return list_response([payment.resource() for payment in page.items], page.has_more)

    def _list_refunds(self, caller: Caller, payment_id: str, event: dict[str, Any]) -> dict[str, Any]:
        from payment_processor.pagination import PAGE_PARAMETERS, page_request

        page = self._service.list_refunds(
            caller.merchant_id, payment_id, page_request(query_values(event, PAGE_PARAMETERS))
        )
        return list_response([refund.resource() for refund in page.items], page.has_more)

    def _list_events(self, caller: Caller, event: dict[str, Any]) -> dict[str, Any]:
        from payment_processor.pagination import PAGE_PARAMETERS, page_request
        from payment_processor.txlog import feed_resource

        page = self._service.list_events(caller.merchant_id, page_request(query_values(event, PAGE_PARAMETERS)))
        return list_response([feed_resource(item.body) for item in page.items], page.has_more)

    def _follow_up(
        self,
        caller: Caller,
        payment_id: str,
        operation: str,
        event: dict[str, Any],
        context: dict[str, Any],
        expired: Expired,
        settle_by: Expired,
    ) -> dict[str, Any]:
        """Capture, cancel, increment, confirm or refund: the body, the key, then the operation."""
        from payment_processor.validation import (
            CancelRequest,
            CaptureRequest,
            ConfirmRequest,
            IncrementAuthorizationRequest,
            RefundRequest,
            parse_body,
        )

        body = read_json_body(event, optional=True)
        key = idempotency_key(event)
        merchant = caller.merchant_id
        if operation == "capturePayment":
            capture = parse_body(CaptureRequest, body)
            outcome = self._service.capture_payment(
                merchant, payment_id, capture.amount, key, expired=expired, settle_by=settle_by
            )
        elif operation == "cancelPayment":
            cancel = parse_body(CancelRequest, body)
            outcome = self._service.cancel_payment(
                merchant, payment_id, cancel.cancellation_reason, key, expired=expired, settle_by=settle_by
            )
        elif operation == "incrementAuthorization":
            increment = parse_body(IncrementAuthorizationRequest, body)
            outcome = self._service.increment_authorization(
                merchant, payment_id, increment.amount, key, expired=expired, settle_by=settle_by
            )
        elif operation == "confirmPayment":
            parse_body(ConfirmRequest, body)
            outcome = self._service.confirm_payment(merchant, payment_id, key, expired=expired, settle_by=settle_by)
        else:
            refund = parse_body(RefundRequest, body)
            outcome = self._service.refund_payment(
                merchant, payment_id, refund.amount, refund.reason, key, expired=expired, settle_by=settle_by
            )
            context["refund_id"] = outcome.refund_id
        context["replayed"] = outcome.replayed
        self._log_deferred(outcome.delivery, outcome.payment_id)
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
        return json_response(outcome.response.status, outcome.response.body, headers)

    def _webhook_endpoints(
        self,
        caller: Caller,
        operation: str,
        parameters: tuple[str, ...],
        event: dict[str, Any],
        context: dict[str, Any],
    ) -> dict[str, Any]:
        """The webhook endpoint routes: reads for any key, changes for a secret key, each POST idempotent."""
        from payment_processor.webhooks.endpoints import (
            CreateEndpointRequest,
            RollSecretRequest,
            UpdateEndpointRequest,
            is_endpoint_id,
        )

        if self._webhooks is None:
            raise InternalError("webhook endpoints are not configured on this deployment")
        webhooks = self._webhooks()
        merchant = caller.merchant_id
        endpoint_id = parameters[0] if parameters and operation != "redeliverEvent" else ""
        if is_endpoint_id(endpoint_id):
            context["webhook_endpoint_id"] = endpoint_id
        if operation == "listWebhookEndpoints":
            from payment_processor.pagination import PAGE_PARAMETERS, page_request

            page = webhooks.list(merchant, page_request(query_values(event, PAGE_PARAMETERS)))
            return list_response([endpoint.resource() for endpoint in page.items], page.has_more)
        if operation == "getWebhookEndpoint":
            return json_response(200, webhooks.get(merchant, endpoint_id).resource())
        if operation == "listWebhookDeliveries":
            from payment_processor.pagination import PAGE_PARAMETERS, page_request

            attempts = webhooks.attempts(merchant, endpoint_id, page_request(query_values(event, PAGE_PARAMETERS)))
            return list_response([attempt.resource() for attempt in attempts.items], attempts.has_more)
        caller.require_write()
        if operation == "redeliverEvent":
            from payment_processor.validation import parse_body
            from payment_processor.webhooks.endpoints import RedeliverRequest

            request = parse_body(RedeliverRequest, read_json_body(event))
            return json_response(202, webhooks.redeliver(merchant, parameters[0], request))
        if operation == "deleteWebhookEndpoint":
            return json_response(200, webhooks.delete(merchant, endpoint_id))
        from payment_processor.validation import parse_body

        body = read_json_body(event, optional=operation != "createWebhookEndpoint")
        key = idempotency_key(event)
        if operation == "createWebhookEndpoint":
            answer = webhooks.create(merchant, parse_body(CreateEndpointRequest, body), key)
        elif operation == "updateWebhookEndpoint":
            answer = webhooks.update(merchant, endpoint_id, parse_body(UpdateEndpointRequest, body), key)
        else:
            answer = webhooks.roll_secret(merchant, endpoint_id, parse_body(RollSecretRequest, body), key)
        context.update(webhook_endpoint_id=answer.endpoint_id, replayed=answer.replayed)
        headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
        if operation == "createWebhookEndpoint":
            headers["Location"] = f"{base_path(event)}/webhook_endpoints/{answer.endpoint_id}"
        return json_response(answer.response.status, answer.response.body, headers)

    def _log_deferred(self, delivery: Any, payment_id: str | None) -> None:
        if delivery is not None and delivery.error is not None:
            # The change is committed; its log event waits in the outbox for the next delivery.
            self._log.warning(
                "transaction log delivery deferred", extra={"payment_id": payment_id, "reason": delivery.error}
            )

    def _create(
        self, caller: Caller, event: dict[str, Any], context: dict[str, Any], expired: Expired, settle_by: Expired
    ) -> dict[str, Any]:
        body = read_json_body(event)
        key = idempotency_key(event)
        # Imported on the first POST, not at cold start: validation builds its pydantic models at import.
        from payment_processor.validation import parse_payment_request

        request = parse_payment_request(body)
        outcome = self._service.create_payment(caller.merchant_id, request, key, expired=expired, settle_by=settle_by)
        context.update(payment_id=outcome.payment_id, replayed=outcome.replayed)
        self._log_deferred(outcome.delivery, outcome.payment_id)
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
        if outcome.payment_id:
            headers["Location"] = f"{base_path(event)}/payments/{outcome.payment_id}"
        return json_response(outcome.response.status, outcome.response.body, headers)
