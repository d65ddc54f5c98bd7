"""HTTP concerns of the processor: API Gateway proxy event v1 in, proxy response out.

Routing, header and body handling, the JSON error envelope, and one structured log line per
request. Two routes do not need a web framework; keeping this small keeps the cold start small.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any

from aws_lambda_powertools import Logger

from payment_processor.errors import (
    ApiError,
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)
from payment_processor.service import PaymentService
from payment_processor.validation import parse_payment_request

#: Largest request body accepted, in bytes (a payment with full metadata is well under 16 KiB).
MAX_BODY_BYTES = 16 * 1024
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_PAYMENT_PATH = re.compile(r"^/payments/([^/]+)/?$")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway proxy response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
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


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def read_json_body(event: dict[str, Any]) -> Any:
    """The decoded JSON body: 413 over the size limit, 400 when it is not one valid JSON document."""
    raw = event.get("body")
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
        # json's message says where parsing failed (line/column), never echoing the content.
        detail = str(exc).split(":")[0] if isinstance(exc, json.JSONDecodeError) else "invalid JSON"
        raise BadRequest(f"the request body is not valid JSON ({detail})", code="malformed_json") from None


def idempotency_key(event: dict[str, Any]) -> str:
    """The Idempotency-Key header, 1..255 characters; 400 when missing or out of bounds."""
    key = header(event, "Idempotency-Key")
    if key is None or key == "":
        raise BadRequest(
            "the Idempotency-Key header is required: send a unique value (for example a UUID) per "
            "payment and reuse it only to retry that payment",
            code="missing_idempotency_key",
            field="Idempotency-Key",
        )
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            f"the Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters",
            code="invalid_idempotency_key",
            field="Idempotency-Key",
        )
    return key


class Api:
    """Routes proxy events to the payment service and shapes its answers."""

    def __init__(self, service: PaymentService, logger: Logger) -> None:
        self._service = service
        self._log = logger

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Answer one proxy event; never raises, never returns a stack trace."""
        started = time.perf_counter()
        context: dict[str, Any] = {}
        try:
            response = self._route(event, context)
        except ApiError as exc:
            response = json_response(exc.status, exc.body(), exc.headers)
            context["error_code"] = exc.code
        except Exception:  # noqa: BLE001 - the last line of defence: log it, answer a clean 500
            self._log.exception("unhandled error while answering a request")
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

    def _route(self, event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        method = str(event.get("httpMethod") or "").upper()
        path = str(event.get("path") or "")
        if path.rstrip("/") == "/payments":
            if method != "POST":
                raise MethodNotAllowed(f"{method} is not allowed on /payments; use POST", headers={"Allow": "POST"})
            return self._create(event, context)
        match = _PAYMENT_PATH.match(path)
        if match:
            if method != "GET":
                raise MethodNotAllowed(
                    f"{method} is not allowed on /payments/{{id}}; use GET", headers={"Allow": "GET"}
                )
            payment = self._service.get_payment(match.group(1))
            context["payment_id"] = payment.id
            return json_response(200, payment.resource())
        raise NotFound("no such route; the API serves POST /payments and GET /payments/{id}", code="route_not_found")

    def _create(self, event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        body = read_json_body(event)
        key = idempotency_key(event)
        request = parse_payment_request(body)
        outcome = self._service.create_payment(request, key)
        context.update(payment_id=outcome.payment_id, replayed=outcome.replayed)
        if outcome.delivery is not None and outcome.delivery.error is not None:
            # The payment is committed; its log event waits in the outbox for the next delivery.
            self._log.warning(
                "transaction log delivery deferred",
                extra={"payment_id": outcome.payment_id, "reason": outcome.delivery.error},
            )
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
        if outcome.payment_id:
            headers["Location"] = f"/payments/{outcome.payment_id}"
        return json_response(outcome.response.status, outcome.response.body, headers)
