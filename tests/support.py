"""Helpers shared by tests: proxy events as API Gateway sends them."""

from __future__ import annotations

import json
import uuid
from typing import Any


def proxy_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
    base64: bool = False,
    merchant: str | None = "merch_123",
    read_only: bool = False,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event (v1) like the one Lambda receives, after the API-key authorizer
    let it through for ``merchant`` (None: no authorizer context, as if the function were invoked directly)."""
    authorizer = (
        {"merchant_id": merchant, "key_id": f"key_{merchant}", "read_only": str(read_only).lower(), "principalId": "k"}
        if merchant is not None
        else None
    )
    resource = "/payments/{id}" if path.count("/") > 1 else path
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers or {},
        "multiValueHeaders": {k: [v] for k, v in (headers or {}).items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"id": path.rsplit("/", 1)[-1]} if resource.endswith("{id}") else None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "test",
            "httpMethod": method,
            **({"authorizer": authorizer} if authorizer else {}),
        },
        "body": raw_body if raw_body is not None else (None if body is None else json.dumps(body)),
        "isBase64Encoded": base64,
    }


def payment_body(**overrides: Any) -> dict[str, Any]:
    """A valid payment request body (no merchant_id: the merchant is the API key's owner)."""
    body: dict[str, Any] = {
        "amount": 1999,
        "currency": "USD",
        "payment_method": "tok_visa",
        "description": "order 42",
        "customer_id": "cus_9",
        "metadata": {"order_id": "42"},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def post_payment(body: Any, key: str | None = "key-1", **kwargs: Any) -> dict[str, Any]:
    """A POST /payments event with an Idempotency-Key header (unless key is None)."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return proxy_event("POST", "/payments", body, headers=headers, **kwargs)


def post(path: str, body: Any = None, key: str | None = "key-1", **kwargs: Any) -> dict[str, Any]:
    """A POST to ``path`` (capture, cancel, refunds) with an Idempotency-Key header (unless key is None)."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return proxy_event("POST", path, body, headers=headers, **kwargs)


def body_of(response: dict[str, Any]) -> Any:
    """The decoded JSON body of a proxy response."""
    return json.loads(response["body"])
