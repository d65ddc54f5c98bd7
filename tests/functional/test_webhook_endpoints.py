"""The webhook endpoints' operations on the real PostgreSQL server and moto's KMS over HTTP: what is stored (the
secret only sealed, also in the idempotent answer), the replay, the limit under concurrent creates, another
merchant's endpoint, and the roll of a secret."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from payment_processor.config import Settings
from payment_processor.errors import IdempotencyKeyReused, NotFound, ValidationFailed
from payment_processor.handler import build_service, build_webhooks
from payment_processor.store.interfaces import PageRequest
from payment_processor.webhooks.endpoints import (
    MAX_ENDPOINTS,
    CreateEndpointRequest,
    RollSecretRequest,
    UpdateEndpointRequest,
)
from payment_processor.webhooks.secrets import KmsSecretBox
from payment_processor.webhooks.service import NO_SUCH_ENDPOINT, WebhookEndpoints
from payment_processor.webhooks.signing import key_of
from tests.conftest import REGION, Services

OTHER = "merch_other"


def endpoints(services: Services, **overrides: object) -> WebhookEndpoints:
    """The operations as the processor wires them, on a connection of their own."""
    settings: Settings = services.settings(**overrides)
    return build_webhooks(settings, build_service(settings))


def create(webhooks: WebhookEndpoints, merchant: str = "merch_123", key: str | None = None, **fields: Any) -> Any:
    body = {"url": "https://example.com/hooks", "enabled_events": ["payment.succeeded"], **fields}
    return webhooks.create(merchant, CreateEndpointRequest(**body), key or str(uuid.uuid4()))


def stored(services: Services, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with services.admin() as conn:
        return conn.execute(sql, params).fetchall()


def test_the_secret_is_shown_once_and_stored_only_sealed(clean: Services) -> None:
    webhooks = endpoints(clean)
    key = str(uuid.uuid4())
    answer = create(webhooks, key=key, description="orders")
    body = json.loads(answer.response.body)
    assert answer.response.status == 201 and not answer.replayed
    assert body["id"].startswith("we_") and body["status"] == "enabled" and body["description"] == "orders"
    secret = body["secret"]
    assert len(key_of(secret)) == 32

    # Nowhere in the database in plain text: not the endpoint's row, not the answer kept under the key.
    raw = key_of(secret)
    for table in ("webhook_endpoints", "idempotency_keys"):
        dump = "".join(str(row) for row in stored(clean, f"SELECT t::text FROM {table} t"))
        assert secret not in dump and secret[6:] not in dump
    (sealed,) = stored(clean, "SELECT secret_sealed FROM webhook_endpoints WHERE id = %s", body["id"])[0]
    assert raw not in bytes(sealed)

    # The retry gets the first answer byte for byte, the secret opened again.
    replay = create(webhooks, key=key, description="orders")
    assert replay.replayed and replay.response == answer.response
    # Reads never show it.
    assert "secret" not in webhooks.get("merch_123", body["id"]).resource()


def test_a_sealed_secret_opens_only_for_its_endpoint(clean: Services) -> None:
    webhooks = endpoints(clean)
    first = json.loads(create(webhooks).response.body)
    second = json.loads(create(webhooks).response.body)
    (sealed,) = stored(clean, "SELECT secret_sealed FROM webhook_endpoints WHERE id = %s", first["id"])[0]
    kms = boto3.client("kms", region_name=REGION, endpoint_url=clean.moto.endpoint)
    box = KmsSecretBox(kms, clean.settings().webhook_secrets_key_id or "")
    assert box.open(first["id"], bytes(sealed)) == first["secret"]
    # The same ciphertext copied onto another endpoint does not open: the context binds it to its id.
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        box.open(second["id"], bytes(sealed))


def test_a_key_used_for_another_request_is_refused(clean: Services) -> None:
    webhooks = endpoints(clean)
    key = str(uuid.uuid4())
    create(webhooks, key=key)
    with pytest.raises(IdempotencyKeyReused):
        create(webhooks, key=key, url="https://example.com/other")
    assert stored(clean, "SELECT count(*) FROM webhook_endpoints")[0][0] == 1


def test_concurrent_creates_stop_at_the_limit(clean: Services) -> None:
    # Twenty creates at once, each on its own database connection: exactly 16 endpoints, the rest 422.
    clients = [endpoints(clean) for _ in range(MAX_ENDPOINTS + 4)]
    outcomes: list[str] = []
    start = threading.Barrier(len(clients))

    def one(webhooks: WebhookEndpoints) -> None:
        start.wait()
        try:
            create(webhooks)
            outcomes.append("created")
        except ValidationFailed as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=one, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["created"] * MAX_ENDPOINTS + ["too_many_endpoints"] * 4
    assert stored(clean, "SELECT count(*) FROM webhook_endpoints")[0][0] == MAX_ENDPOINTS
    # Another merchant is not held by the first one's limit.
    create(clients[0], OTHER)


def test_another_merchants_endpoint_is_not_found(clean: Services) -> None:
    webhooks = endpoints(clean)
    theirs = json.loads(create(webhooks, OTHER).response.body)["id"]
    unknown = "we_" + "a" * 26

    def attempts_on(e: str) -> list[Callable[[], object]]:
        return [
            lambda: webhooks.get("merch_123", e),
            lambda: webhooks.update("merch_123", e, UpdateEndpointRequest(status="disabled"), "k1"),
            lambda: webhooks.roll_secret("merch_123", e, RollSecretRequest(), "k2"),
            lambda: webhooks.delete("merch_123", e),
        ]

    for endpoint_id in (theirs, unknown, "not-an-id"):
        for attempt in attempts_on(endpoint_id):
            with pytest.raises(NotFound) as found:
                attempt()
            assert found.value.body() == NotFound(NO_SUCH_ENDPOINT).body()
    assert webhooks.get(OTHER, theirs).status == "enabled"


def test_update_changes_only_what_is_given(clean: Services) -> None:
    webhooks = endpoints(clean, webhooks_allow_http=False, webhooks_allow_loopback=False)
    made = json.loads(create(webhooks, description="orders").response.body)
    changed = webhooks.update(
        "merch_123", made["id"], UpdateEndpointRequest(enabled_events=["*"], status="disabled"), "u1"
    )
    body = json.loads(changed.response.body)
    assert (body["url"], body["enabled_events"], body["status"], body["description"]) == (
        made["url"],
        ["*"],
        "disabled",
        "orders",
    )
    assert "secret" not in body
    cleared = json.loads(
        webhooks.update("merch_123", made["id"], UpdateEndpointRequest(description=None), "u2").response.body
    )
    assert cleared["description"] is None

    # Staging's reach: plain http and loopback refused, and nothing changed.
    refusals = (
        ("http://example.com/h", "invalid_url"),
        ("https://127.0.0.1/h", "url_not_allowed"),
        ("https://[::ffff:169.254.169.254]/", "url_not_allowed"),
        ("https://localhost/", "url_not_allowed"),
    )
    for url, code in refusals:
        with pytest.raises(ValidationFailed) as refused:
            webhooks.update("merch_123", made["id"], UpdateEndpointRequest(url=url), str(uuid.uuid4()))
        assert (refused.value.code, refused.value.field) == (code, "url")
    assert webhooks.get("merch_123", made["id"]).url == made["url"]


def test_roll_keeps_the_old_secret_for_its_time(clean: Services) -> None:
    webhooks = endpoints(clean)
    made = json.loads(create(webhooks).response.body)
    rolled = json.loads(
        webhooks.roll_secret("merch_123", made["id"], RollSecretRequest(expires_in_s=600), "r1").response.body
    )
    assert rolled["secret"] != made["secret"] and len(key_of(rolled["secret"])) == 32
    row = stored(
        clean,
        "SELECT secret_sealed, previous_secret_sealed, previous_secret_expires_at - updated_at "
        "FROM webhook_endpoints WHERE id = %s",
        made["id"],
    )[0]
    kms = boto3.client("kms", region_name=REGION, endpoint_url=clean.moto.endpoint)
    box = KmsSecretBox(kms, clean.settings().webhook_secrets_key_id or "")
    assert box.open(made["id"], bytes(row[0])) == rolled["secret"]
    assert box.open(made["id"], bytes(row[1])) == made["secret"]
    assert row[2].total_seconds() == 600
    # Rolled again at once: the old one stops, and the one before is gone too.
    webhooks.roll_secret("merch_123", made["id"], RollSecretRequest(expires_in_s=0), "r2")
    assert stored(clean, "SELECT previous_secret_sealed, previous_secret_expires_at FROM webhook_endpoints")[0] == (
        None,
        None,
    )


def test_list_pages_newest_first_and_delete(clean: Services) -> None:
    webhooks = endpoints(clean)
    made = [json.loads(create(webhooks).response.body)["id"] for _ in range(3)]
    first = webhooks.list("merch_123", PageRequest(limit=2))
    assert [e.id for e in first.items] == made[::-1][:2] and first.has_more
    rest = webhooks.list("merch_123", PageRequest(limit=2, starting_after=first.items[-1].id))
    assert [e.id for e in rest.items] == [made[0]] and not rest.has_more
    assert webhooks.delete("merch_123", made[0]) == {"id": made[0], "object": "webhook_endpoint", "deleted": True}
    with pytest.raises(NotFound):
        webhooks.delete("merch_123", made[0])
    assert [e.id for e in webhooks.list("merch_123", PageRequest(limit=10)).items] == made[:0:-1]
