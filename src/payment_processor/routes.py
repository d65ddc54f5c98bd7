"""Every route of the merchant API, declared once (no imports: the infrastructure reads it too).

The processor's router, its "no such route" answer, API Gateway's own answer for an unknown route, and the
REST API's resources, methods, integrations and invoke permissions all come from :data:`ROUTES`; a test
holds it equal to ``openapi.yaml``'s paths and methods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    """One method on one path. ``name`` is what the infrastructure calls it (renaming one replaces its API
    Gateway method, integration and permission); ``operation`` is the OpenAPI ``operationId``."""

    method: str
    path: str
    name: str
    operation: str


ROUTES: tuple[Route, ...] = (
    Route("POST", "/payments", "post-payments", "createPayment"),
    Route("GET", "/payments", "list-payments", "listPayments"),
    Route("GET", "/payments/{id}", "get-payment", "getPayment"),
    Route("POST", "/payments/{id}/capture", "capture-payment", "capturePayment"),
    Route("POST", "/payments/{id}/cancel", "cancel-payment", "cancelPayment"),
    Route("POST", "/payments/{id}/increment_authorization", "increment-authorization", "incrementAuthorization"),
    Route("POST", "/payments/{id}/confirm", "confirm-payment", "confirmPayment"),
    Route("POST", "/payments/{id}/refunds", "create-refund", "refundPayment"),
    Route("GET", "/payments/{id}/refunds", "list-refunds", "listRefunds"),
    Route("GET", "/events", "list-events", "listEvents"),
    Route("GET", "/events/{id}", "get-event", "getEvent"),
    Route("POST", "/webhook_endpoints", "create-webhook-endpoint", "createWebhookEndpoint"),
    Route("GET", "/webhook_endpoints", "list-webhook-endpoints", "listWebhookEndpoints"),
    Route("GET", "/webhook_endpoints/{id}", "get-webhook-endpoint", "getWebhookEndpoint"),
    Route("POST", "/webhook_endpoints/{id}", "update-webhook-endpoint", "updateWebhookEndpoint"),
    Route("DELETE", "/webhook_endpoints/{id}", "delete-webhook-endpoint", "deleteWebhookEndpoint"),
    Route("POST", "/webhook_endpoints/{id}/roll_secret", "roll-webhook-endpoint-secret", "rollWebhookEndpointSecret"),
    Route("GET", "/webhook_endpoints/{id}/deliveries", "list-webhook-deliveries", "listWebhookDeliveries"),
    Route("POST", "/events/{id}/redeliver", "redeliver-event", "redeliverEvent"),
)


def paths() -> dict[str, tuple[str, ...]]:
    """Each path, in the order first declared, with the methods it serves."""
    served: dict[str, tuple[str, ...]] = {}
    for route in ROUTES:
        served[route.path] = (*served.get(route.path, ()), route.method)
    return served


_PATTERNS = tuple(
    (path, re.compile("^" + re.sub(r"\\\{\w+\\\}", "([^/]+)", re.escape(path)) + "/?$")) for path in paths()
)


def match(path: str) -> tuple[str, tuple[str, ...]] | None:
    """The declared path ``path`` is an instance of, and the values of its parameters; None for no route."""
    for template, pattern in _PATTERNS:
        found = pattern.match(path)
        if found:
            return template, found.groups()
    return None


def find(method: str, path: str) -> Route | None:
    """The route serving ``method`` on the declared ``path``, if any."""
    return next((route for route in ROUTES if route.method == method and route.path == path), None)


def served_summary() -> str:
    """What the API serves, in words: "GET and POST /payments, GET /payments/{id}, ..., and GET /events"."""
    parts = [f"{_in_words(sorted(methods))} {path}" for path, methods in paths().items()]
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


def _in_words(methods: list[str]) -> str:
    return methods[0] if len(methods) == 1 else ", ".join(methods[:-1]) + " and " + methods[-1]


#: The 404 for a path or method the API does not serve (the processor's and API Gateway's alike).
NO_SUCH_ROUTE = "no such route or method; the API serves " + served_summary()
