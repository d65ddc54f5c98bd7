"""The webhook endpoint routes through the real API layer (payment_processor.api: routing, the caller's scope and
write permission, idempotency headers, Location, the JSON answers) on the real PostgreSQL server and moto's KMS.

The emulator tier sends the same requests over HTTP to the deployed zip, where coverage cannot follow; here the
same layer runs in the test's process, event in, proxy response out.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aws_lambda_powertools import Logger

from payment_processor.api import Api
from payment_processor.handler import build_service, build_webhooks
from tests.conftest import Services
from tests.support import payment_body, post_payment, proxy_event


def api_of(services: Services) -> Api:
    settings = services.settings()
    service = build_service(settings)
    return Api(service, Logger(service="webhook-endpoints-api"), lambda: build_webhooks(settings, service))


def call(
    api: Api,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    merchant: str = "merch_123",
    read_only: bool = False,
    query: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    headers = {"Content-Type": "application/json"} | ({"Idempotency-Key": key} if key else {})
    event = proxy_event(method, path, body, headers=headers, merchant=merchant, read_only=read_only, query=query)
    response = api.handle(event)
    return response["statusCode"], json.loads(response["body"] or "null"), response.get("headers") or {}


def test_an_endpoint_through_its_whole_life_over_the_api(clean: Services) -> None:
    api = api_of(clean)
    key = str(uuid.uuid4())
    request = {"url": "https://example.com/hooks", "enabled_events": ["payment.succeeded"], "description": "orders"}
    status, created, headers = call(api, "POST", "/webhook_endpoints", request, key=key)
    assert status == 201 and created["id"].startswith("we_") and created["secret"].startswith("whsec_")
    endpoint = created["id"]
    assert headers["Location"].endswith(f"/webhook_endpoints/{endpoint}") and "Idempotent-Replayed" not in headers
    status, replayed, headers = call(api, "POST", "/webhook_endpoints", request, key=key)
    assert (status, replayed["id"], headers.get("Idempotent-Replayed")) == (201, endpoint, "true")

    status, listed, _ = call(api, "GET", "/webhook_endpoints", query={"limit": "10"})
    assert status == 200 and [item["id"] for item in listed["data"]] == [endpoint]
    assert "secret" not in listed["data"][0], "the secret is shown once, at creation"
    status, got, _ = call(api, "GET", f"/webhook_endpoints/{endpoint}")
    assert (status, got["description"]) == (200, "orders")

    status, updated, _ = call(api, "POST", f"/webhook_endpoints/{endpoint}", {"description": "all"}, key="k-up")
    assert (status, updated["description"]) == (200, "all")
    status, rolled, _ = call(api, "POST", f"/webhook_endpoints/{endpoint}/roll_secret", key="k-roll")
    assert status == 200 and rolled["secret"].startswith("whsec_") and rolled["secret"] != created["secret"]
    status, attempts, _ = call(api, "GET", f"/webhook_endpoints/{endpoint}/deliveries")
    assert (status, attempts["data"], attempts["has_more"]) == (200, [], False)

    paid = api.handle(post_payment(payment_body(), key=str(uuid.uuid4())))
    assert paid["statusCode"] == 201
    status, events, _ = call(api, "GET", "/events")
    event_id = events["data"][0]["id"]
    status, queued, _ = call(api, "POST", f"/events/{event_id}/redeliver", {"endpoint": endpoint}, key="k-re")
    assert status == 202 and queued["event_id"] == event_id

    status, deleted, _ = call(api, "DELETE", f"/webhook_endpoints/{endpoint}")
    assert status == 200 and deleted["id"] == endpoint and deleted["deleted"] is True
    assert call(api, "GET", f"/webhook_endpoints/{endpoint}")[0] == 404


def test_reads_need_any_key_changes_a_secret_key_and_another_merchants_endpoint_is_not_found(
    clean: Services,
) -> None:
    api = api_of(clean)
    request = {"url": "https://example.com/hooks", "enabled_events": ["payment.succeeded"]}
    endpoint = call(api, "POST", "/webhook_endpoints", request, key=str(uuid.uuid4()))[1]["id"]
    assert call(api, "GET", f"/webhook_endpoints/{endpoint}", read_only=True)[0] == 200
    for method, path in (("POST", f"/webhook_endpoints/{endpoint}"), ("DELETE", f"/webhook_endpoints/{endpoint}")):
        status, refused, _ = call(api, method, path, {"description": "x"}, key="k-ro", read_only=True)
        assert status == 403, (method, refused)
    for method, path in (("GET", f"/webhook_endpoints/{endpoint}"), ("DELETE", f"/webhook_endpoints/{endpoint}")):
        assert call(api, method, path, merchant="merch_other")[0] == 404, method
    assert call(api, "GET", f"/webhook_endpoints/{endpoint}")[0] == 200, "still there for its merchant"
