"""What API Gateway answers itself, before the processor runs, in the API's error shape.

CDK-free, so the unit tests can check these answers against the OpenAPI document; the ``PaymentsApi``
construct creates one gateway response from each entry.
"""

from __future__ import annotations

import json

from payment_processor.routes import NO_SUCH_ROUTE

#: Response type → (status, code, message, headers), in the API's error shape ``{"error": {"code", "message"}}``.
#: ``$context.requestId`` lets a caller quote the request; nothing the caller sent is echoed.
GATEWAY_RESPONSES: dict[str, tuple[int, str, str, dict[str, str]]] = {
    # No Authorization header: API Gateway answers before the authorizer runs.
    "UNAUTHORIZED": (
        401,
        "authentication_required",
        "send your secret API key as `Authorization: Bearer sk_test_...`",
        {"WWW-Authenticate": "Bearer"},
    ),
    # The authorizer's Deny: an unknown, revoked, other-mode or expired key (invalid_api_key), or a source address
    # locked out after too many of those (too_many_failed_authentications); the code and message are the Deny's
    # own (payment_processor.apikeys: one text for the first three, an expiry's names its time and replacement).
    "ACCESS_DENIED": (
        401,
        "$context.authorizer.error_code",
        "$context.authorizer.message",
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
    ),
    # The authorizer could not check the key (database or secret unreachable): retry, as for a 503.
    "AUTHORIZER_FAILURE": (
        503,
        "service_unavailable",
        "the API cannot check keys right now; retry",
        {"Retry-After": "5"},
    ),
    "AUTHORIZER_CONFIGURATION_ERROR": (
        503,
        "service_unavailable",
        "the API cannot check keys right now; retry",
        {"Retry-After": "5"},
    ),
    "THROTTLED": (429, "rate_limited", "too many requests; retry after the time in Retry-After", {"Retry-After": "1"}),
    # An unknown path or method ("Missing Authentication Token" by default).
    "MISSING_AUTHENTICATION_TOKEN": (
        404,
        "route_not_found",
        NO_SUCH_ROUTE,
        {},
    ),
}


def gateway_response_template(code: str, message: str) -> str:
    """The ``application/json`` template of a gateway response; API Gateway fills in ``$context.requestId``."""
    return json.dumps(
        {"error": {"code": code, "message": message, "request_id": "$context.requestId"}}, separators=(",", ":")
    )
