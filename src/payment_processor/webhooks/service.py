"""The webhook endpoints API's operations (logic layer): make, read, change, delete an endpoint, roll its secret.

Every change is idempotent like a payment's: the Idempotency-Key is claimed, the change made and its answer kept
under the key in one transaction, so a retry gets the first answer, byte for byte, and a request with the same
key but another body or route is 422 ``idempotency_key_reused``. The answers that show a secret are kept with
the secret sealed (:func:`secrets.sealed_answer`). KMS is called before the transaction opens, never while it
holds the merchant's rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from payment_processor.encoding import compact_json
from payment_processor.errors import InternalError, NotFound, ValidationFailed
from payment_processor.operations.driver import (
    answering_read_errors,
    answering_store_errors,
    claim,
    fingerprint,
    read_one,
)
from payment_processor.payment import utc_now
from payment_processor.store.interfaces import Page, PageRequest, StoredResponse
from payment_processor.store.webhook_endpoints import EndpointTransaction
from payment_processor.txlog import is_event_id
from payment_processor.webhooks.addresses import Reach
from payment_processor.webhooks.deliveries import AttemptRecord
from payment_processor.webhooks.endpoints import (
    MAX_ENDPOINTS,
    CreateEndpointRequest,
    RedeliverRequest,
    RollSecretRequest,
    UpdateEndpointRequest,
    WebhookEndpoint,
    checked_url,
    is_endpoint_id,
    new_endpoint_id,
)
from payment_processor.webhooks.secrets import SecretBox, opened_answer, sealed_answer
from payment_processor.webhooks.signing import new_secret

#: The one answer for an unknown endpoint id, another merchant's, and a cursor that is neither.
NO_SUCH_ENDPOINT = "no such webhook endpoint for this API key's merchant"
#: The same for an event (another merchant's is unknown too) and for an attempt used as a cursor.
NO_SUCH_EVENT = "no such event for this API key's merchant"
NO_SUCH_ATTEMPT = "no such delivery attempt of this webhook endpoint"


class DeliveryStore(Protocol):
    """What the deliveries' routes need of the store (``store.webhook_deliveries.PostgresWebhookDeliveries``)."""

    def list_attempts(self, endpoint_id: str, page: PageRequest) -> Page[AttemptRecord]: ...
    def redeliver(self, merchant_id: str, event_id: str, endpoint_id: str) -> str | None: ...


class EndpointStore(Protocol):
    """What the operations need of the store (``store.webhook_endpoints.PostgresWebhookEndpoints``)."""

    def transaction(self) -> Any: ...
    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...
    def list(self, merchant_id: str, page: PageRequest) -> Page[WebhookEndpoint]: ...


@dataclass(frozen=True)
class Answer:
    """What an operation answered, and whether it is the replay of an earlier request's answer."""

    response: StoredResponse
    #: The endpoint the answer is about.
    endpoint_id: str
    replayed: bool = False


class WebhookEndpoints:
    """The merchant's webhook endpoints, as the API offers them."""

    def __init__(
        self,
        store: EndpointStore,
        box: SecretBox,
        reach: Reach,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = new_endpoint_id,
        deliveries: DeliveryStore | None = None,
    ) -> None:
        self._deliveries = deliveries
        self._store = store
        self._box = box
        self._reach = reach
        self._clock = clock
        self._new_id = new_id

    def create(self, merchant_id: str, request: CreateEndpointRequest, key: str) -> Answer:
        """Make an endpoint (at most :data:`MAX_ENDPOINTS` a merchant); the answer shows its secret, once."""
        checked_url(request.url, self._reach)
        endpoint_id, secret = self._new_id(), new_secret()
        sealed = self._box.seal(endpoint_id, secret)
        now = self._clock()
        endpoint = WebhookEndpoint(
            endpoint_id,
            merchant_id,
            request.url,
            tuple(request.enabled_events),
            request.description,
            "enabled",
            now,
            now,
        )

        def make(tx: EndpointTransaction) -> dict[str, Any]:
            if tx.lock_merchant(merchant_id) >= MAX_ENDPOINTS:
                raise ValidationFailed(
                    f"this merchant already has {MAX_ENDPOINTS} webhook endpoints, the most it may have; delete one "
                    "it no longer uses, or subscribe an existing one to more events",
                    code="too_many_endpoints",
                )
            tx.insert(endpoint, sealed)
            return {**endpoint.resource(), "secret": secret}

        return self._once(
            merchant_id, key, "POST /webhook_endpoints", request.model_dump(), make, status=201, secret=(secret, sealed)
        )

    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint:
        """The merchant's endpoint; 404 for an unknown id and another merchant's alike."""
        return read_one(
            is_endpoint_id(endpoint_id), NO_SUCH_ENDPOINT, lambda: self._store.get(merchant_id, endpoint_id)
        )

    def list(self, merchant_id: str, page: PageRequest) -> Page[WebhookEndpoint]:
        """The merchant's endpoints, newest first."""
        with answering_read_errors(NO_SUCH_ENDPOINT):
            return self._store.list(merchant_id, page)

    def attempts(self, merchant_id: str, endpoint_id: str, page: PageRequest) -> Page[AttemptRecord]:
        """The endpoint's delivery attempts, newest first; 404 for another merchant's endpoint as for an unknown."""
        self.get(merchant_id, endpoint_id)
        with answering_read_errors(NO_SUCH_ATTEMPT):
            return self._delivery_store().list_attempts(endpoint_id, page)

    def redeliver(self, merchant_id: str, event_id: str, request: RedeliverRequest) -> dict[str, Any]:
        """Queue one more delivery of the merchant's event to one of its enabled endpoints, due now (tried once:
        a failure is shown in the endpoint's attempts, not retried). While one is queued, asking again queues
        no other (the receiver would drop it by its ``webhook-id`` anyway)."""
        if not is_event_id(event_id):
            raise NotFound(NO_SUCH_EVENT)
        if not is_endpoint_id(request.endpoint):
            raise ValidationFailed(NO_SUCH_ENDPOINT, field="endpoint")
        with answering_store_errors():
            missing = self._delivery_store().redeliver(merchant_id, event_id, request.endpoint)
        if missing == "event":
            raise NotFound(NO_SUCH_EVENT)
        if missing == "endpoint":
            raise ValidationFailed(NO_SUCH_ENDPOINT, field="endpoint")
        if missing == "disabled":
            raise ValidationFailed(
                "the webhook endpoint is disabled: enable it (POST /webhook_endpoints/{id} with status enabled) "
                "and ask again",
                code="webhook_endpoint_disabled",
                field="endpoint",
            )
        return {"object": "redelivery", "event_id": event_id, "endpoint": request.endpoint, "status": "queued"}

    def _delivery_store(self) -> DeliveryStore:
        if self._deliveries is None:
            raise InternalError("webhook deliveries are not configured on this deployment")
        return self._deliveries

    def update(self, merchant_id: str, endpoint_id: str, request: UpdateEndpointRequest, key: str) -> Answer:
        """Change the fields the request gives."""
        changes = request.changes()
        if "url" in changes:
            checked_url(changes["url"], self._reach)
        if "enabled_events" in changes:
            changes["enabled_events"] = tuple(changes["enabled_events"])
        self._known_shape(endpoint_id)

        def change(tx: EndpointTransaction) -> dict[str, Any]:
            endpoint = self._locked(tx, merchant_id, endpoint_id)
            changed = replace(endpoint, **changes, updated_at=self._clock())
            tx.update(changed)
            return changed.resource()

        material = {"id": endpoint_id, **request.model_dump(exclude_unset=True)}
        return self._once(merchant_id, key, "POST /webhook_endpoints/{id}", material, change, status=200)

    def roll_secret(self, merchant_id: str, endpoint_id: str, request: RollSecretRequest, key: str) -> Answer:
        """A new secret (shown once); the old one keeps signing for ``expires_in_s`` (0: it stops at once)."""
        self._known_shape(endpoint_id)
        secret = new_secret()
        sealed = self._box.seal(endpoint_id, secret)

        def roll(tx: EndpointTransaction) -> dict[str, Any]:
            endpoint = self._locked(tx, merchant_id, endpoint_id)
            now = self._clock()
            old_until = now + timedelta(seconds=request.expires_in_s) if request.expires_in_s else None
            tx.replace_secret(endpoint_id, sealed, old_until, now)
            return {**replace(endpoint, updated_at=now).resource(), "secret": secret}

        material = {"id": endpoint_id, **request.model_dump()}
        return self._once(
            merchant_id,
            key,
            "POST /webhook_endpoints/{id}/roll_secret",
            material,
            roll,
            status=200,
            secret=(secret, sealed),
        )

    def delete(self, merchant_id: str, endpoint_id: str) -> dict[str, Any]:
        """Remove the endpoint: nothing more is sent to it."""
        self._known_shape(endpoint_id)
        with answering_store_errors(), self._store.transaction() as tx:
            self._locked(tx, merchant_id, endpoint_id)
            tx.delete(endpoint_id)
        return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}

    def _once(
        self,
        merchant_id: str,
        key: str,
        route: str,
        material: dict[str, Any],
        work: Callable[[EndpointTransaction], dict[str, Any]],
        *,
        status: int,
        secret: tuple[str, bytes] | None = None,
    ) -> Answer:
        """``work`` once per key, its answer kept under the key (a secret in it sealed); a retry's replay."""
        with answering_store_errors(), self._store.transaction() as tx:
            previous = claim(tx, merchant_id, key, fingerprint(route, material))
            stored = None if previous is None else previous.response
            if stored is None:
                answer = work(tx)
                body = compact_json(answer)
                kept = body if secret is None else sealed_answer(body, *secret)
                tx.complete_idempotency_key(merchant_id, key, StoredResponse(status, kept))
        if stored is None:
            return Answer(StoredResponse(status, body), str(answer["id"]))
        # A retry: the first answer, its secret opened once the transaction has ended (no KMS call inside one).
        endpoint_id = str(json.loads(stored.body)["id"])
        return Answer(
            StoredResponse(stored.status, opened_answer(stored.body, endpoint_id, self._box)),
            endpoint_id,
            replayed=True,
        )

    def _locked(self, tx: EndpointTransaction, merchant_id: str, endpoint_id: str) -> WebhookEndpoint:
        found = tx.lock(merchant_id, endpoint_id)
        if found is None:
            raise NotFound(NO_SUCH_ENDPOINT)
        return found

    @staticmethod
    def _known_shape(endpoint_id: str) -> None:
        if not is_endpoint_id(endpoint_id):
            raise NotFound(NO_SUCH_ENDPOINT)
