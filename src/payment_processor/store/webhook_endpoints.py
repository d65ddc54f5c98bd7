"""Where webhook endpoints live: the PostgreSQL table of migration 0012 (data access).

A change to an endpoint is one transaction with its Idempotency-Key, as a payment's is: the key is claimed
(waiting for another request holding it), the change made, and the answer kept under the key, together.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import args_row

from payment_processor.store.database import Database
from payment_processor.store.interfaces import IdempotencyRecord, Page, PageRequest, StoredResponse
from payment_processor.store.postgres import (
    ROLE_LOCK_TIMEOUT_MS,
    PostgresTransaction,
    in_statement,
    in_transaction,
    keyset_page,
)
from payment_processor.store.webhook_deliveries import ABANDON_OWED
from payment_processor.webhooks.endpoints import WebhookEndpoint

_COLUMNS = "id, merchant_id, url, enabled_events, description, status, created_at, updated_at"


def _endpoint(
    id_: str,
    merchant_id: str,
    url: str,
    events: list[str],
    description: str | None,
    status: str,
    created_at: datetime,
    updated_at: datetime,
) -> WebhookEndpoint:
    return WebhookEndpoint(id_, merchant_id, url, tuple(events), description, status, created_at, updated_at)


_AS_ENDPOINT = args_row(_endpoint)


class EndpointTransaction:
    """Statements on webhook endpoints inside one open transaction."""

    def __init__(self, keys: PostgresTransaction, conn: psycopg.Connection[Any]) -> None:
        self._keys = keys
        self._conn = conn

    def claim_idempotency_key(self, merchant_id: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
        """As ``Transaction.claim_idempotency_key``: the payments' keys and these share one namespace."""
        return self._keys.claim_idempotency_key(merchant_id, key, fingerprint)

    def complete_idempotency_key(self, merchant_id: str, key: str, response: StoredResponse) -> None:
        """Keep the answer under the claimed key (about no payment)."""
        self._keys.complete_idempotency_key(merchant_id, key, response, None)

    def lock_merchant(self, merchant_id: str) -> int:
        """Take the merchant's endpoint lock for this transaction (two creates cannot both see 15 and make 17);
        how many endpoints it has."""
        # Two statements: a count in the lock's own statement would read the snapshot taken before the wait,
        # missing what the holder committed meanwhile. Pipelined, the second costs no wait of its own.
        self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('webhook_endpoints:' || %s, 0))", (merchant_id,)
        )
        row = self._conn.execute(
            "SELECT count(*) FROM webhook_endpoints WHERE merchant_id = %s", (merchant_id,)
        ).fetchone()
        assert row is not None
        return int(row[0])

    def insert(self, endpoint: WebhookEndpoint, secret: bytes) -> None:
        """Store a new endpoint with its sealed secret."""
        self._conn.execute(
            f"INSERT INTO webhook_endpoints ({_COLUMNS}, secret_sealed) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (*_values(endpoint), secret),
        )

    def lock(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """The merchant's endpoint, locked until this transaction ends (another merchant's is None)."""
        return (
            self._conn.cursor(row_factory=_AS_ENDPOINT)
            .execute(
                f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE id = %s AND merchant_id = %s FOR UPDATE",
                (endpoint_id, merchant_id),
            )
            .fetchone()
        )

    def update(self, endpoint: WebhookEndpoint) -> None:
        """Write a locked endpoint's URL, events, description, status and ``updated_at``."""
        # Enabled again by the merchant: its failures so far no longer count towards the 3 days that disable it.
        self._conn.execute(
            "UPDATE webhook_endpoints SET url = %s, enabled_events = %s, description = %s, status = %s, "
            "updated_at = %s, "
            "failing_since = CASE WHEN %s = 'enabled' AND status <> 'enabled' THEN NULL ELSE failing_since END, "
            "disabled_reason = CASE WHEN %s = 'enabled' THEN NULL ELSE disabled_reason END WHERE id = %s",
            (
                endpoint.url,
                list(endpoint.enabled_events),
                endpoint.description,
                endpoint.status,
                endpoint.updated_at,
                endpoint.status,
                endpoint.status,
                endpoint.id,
            ),
        )
        if endpoint.status == "disabled":  # nothing more is sent to it: what it was owed is given up on now
            self._conn.execute(ABANDON_OWED, (endpoint.id,))

    def replace_secret(self, endpoint_id: str, sealed: bytes, old_until: datetime | None, at: datetime) -> None:
        """Roll a locked endpoint's secret to ``sealed``: the one it had keeps signing until ``old_until``
        (None: it is dropped, as is any older one). The old secret is moved within the database, never read."""
        self._conn.execute(
            "UPDATE webhook_endpoints SET secret_sealed = %s, "
            "previous_secret_sealed = CASE WHEN %s::timestamptz IS NULL THEN NULL ELSE secret_sealed END, "
            "previous_secret_expires_at = %s, updated_at = %s WHERE id = %s",
            (sealed, old_until, old_until, at, endpoint_id),
        )

    def delete(self, endpoint_id: str) -> None:
        """Remove a locked endpoint."""
        self._conn.execute("DELETE FROM webhook_endpoints WHERE id = %s", (endpoint_id,))


class PostgresWebhookEndpoints:
    """Webhook endpoints on a Database connection."""

    def __init__(self, database: Database, *, lock_timeout_ms: int = ROLE_LOCK_TIMEOUT_MS) -> None:
        self._db = database
        self._lock_timeout_ms = lock_timeout_ms

    @contextmanager
    def transaction(self) -> Iterator[EndpointTransaction]:
        """One transaction; rolled back if the block raises."""
        with in_transaction(self._db) as conn:
            keys = PostgresTransaction(self._db, conn, self._lock_timeout_ms)
            yield EndpointTransaction(keys, conn)
            keys.flush()  # the key's answer is queued (see PostgresTransaction)

    def get(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """The merchant's endpoint (another merchant's is None, as an unknown one)."""
        with in_statement(self._db) as conn:
            return (
                conn.cursor(row_factory=_AS_ENDPOINT)
                .execute(
                    f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE id = %s AND merchant_id = %s",
                    (endpoint_id, merchant_id),
                )
                .fetchone()
            )

    def list(self, merchant_id: str, page: PageRequest) -> Page[WebhookEndpoint]:
        """The merchant's endpoints, newest first, keyset-paginated like payments."""
        with in_statement(self._db) as conn:
            return keyset_page(
                conn,
                f"SELECT {_COLUMNS} FROM webhook_endpoints",
                ["merchant_id = %s"],
                [merchant_id],
                page,
                "created_at",
                rows_as=_AS_ENDPOINT,
                cursor_sql="SELECT created_at, id FROM webhook_endpoints WHERE id = %s AND merchant_id = %s",
                cursor_scope=(merchant_id,),
            )


def _values(endpoint: WebhookEndpoint) -> tuple[Any, ...]:
    return (
        endpoint.id,
        endpoint.merchant_id,
        endpoint.url,
        list(endpoint.enabled_events),
        endpoint.description,
        endpoint.status,
        endpoint.created_at,
        endpoint.updated_at,
    )
