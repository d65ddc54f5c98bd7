"""The PostgreSQL implementation of PaymentStore (data access).

Idempotency relies on PostgreSQL's unique-index behaviour: ``INSERT .. ON CONFLICT DO NOTHING`` on
a key another open transaction has inserted *waits* for that transaction. If it commits, we see its
finished record and replay it; if it rolls back, our insert goes through and we own the key. The
wait is bounded by ``lock_timeout``; past it the client gets 409 idempotency_key_in_use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payment_processor.payment import Payment
from payment_processor.store.database import Database
from payment_processor.store.interfaces import (
    IdempotencyKeyBusy,
    IdempotencyRecord,
    OutboxEvent,
    StoredResponse,
    StoreUnavailable,
)

_PAYMENT_COLUMNS = (
    "id, merchant_id, amount, currency, status, payment_method, created_at, decline_code, "
    "authorization_code, description, customer_id, metadata, idempotency_key"
)


class PostgresTransaction:
    """Statements run inside one open transaction on ``conn``."""

    def __init__(self, conn: psycopg.Connection[Any], lock_timeout_ms: int) -> None:
        self._conn = conn
        self._lock_timeout_ms = lock_timeout_ms

    def claim_idempotency_key(self, merchant_id: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
        """Insert the key, or wait for its holder and return what it recorded."""
        self._conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{self._lock_timeout_ms}ms",))
        # Two attempts: the row we conflicted with can vanish between INSERT and SELECT only if it
        # was purged in between; then the key is free and the second insert takes it.
        for _ in range(2):
            inserted = self._conn.execute(
                "INSERT INTO idempotency_keys (merchant_id, idempotency_key, request_fingerprint) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                (merchant_id, key, fingerprint),
            ).fetchone()
            if inserted is not None:
                return None
            row = self._conn.execute(
                "SELECT request_fingerprint, response_status, response_body FROM idempotency_keys "
                "WHERE merchant_id = %s AND idempotency_key = %s",
                (merchant_id, key),
            ).fetchone()
            if row is not None:
                return IdempotencyRecord(row[0], StoredResponse(row[1], row[2]))
        raise IdempotencyKeyBusy(key)  # pragma: no cover - needs a purge racing this very key twice

    def insert_payment(self, payment: Payment) -> None:
        """Insert the payment row."""
        self._conn.execute(
            f"INSERT INTO payments ({_PAYMENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                payment.id,
                payment.merchant_id,
                payment.amount,
                payment.currency,
                payment.status,
                payment.payment_method,
                payment.created_at,
                payment.decline_code,
                payment.authorization_code,
                payment.description,
                payment.customer_id,
                Jsonb(payment.metadata),
                payment.idempotency_key,
            ),
        )

    def add_event(self, event: OutboxEvent) -> None:
        """Queue the event in the outbox table."""
        self._conn.execute(
            "INSERT INTO transaction_log_outbox (payment_id, event_type, object_key, body) VALUES (%s, %s, %s, %s)",
            (event.payment_id, event.event_type, event.object_key, event.body),
        )

    def complete_idempotency_key(self, merchant_id: str, key: str, response: StoredResponse, payment_id: str) -> None:
        """Store the response under the claimed key."""
        self._conn.execute(
            "UPDATE idempotency_keys SET response_status = %s, response_body = %s, payment_id = %s "
            "WHERE merchant_id = %s AND idempotency_key = %s",
            (response.status, Jsonb(response.body), payment_id, merchant_id, key),
        )


class PostgresOutboxBatch:
    """Outbox rows locked ``FOR UPDATE SKIP LOCKED`` by this deliverer's open transaction."""

    def __init__(self, conn: psycopg.Connection[Any], events: list[OutboxEvent]) -> None:
        self._conn = conn
        self.events = events

    def mark_delivered(self, event_id: int) -> None:
        """Record delivery."""
        self._conn.execute(
            "UPDATE transaction_log_outbox SET delivered_at = now(), attempts = attempts + 1, "
            "last_error = NULL WHERE id = %s",
            (event_id,),
        )

    def mark_failed(self, event_id: int, error: str) -> None:
        """Record a failed attempt; the row stays pending."""
        self._conn.execute(
            "UPDATE transaction_log_outbox SET attempts = attempts + 1, last_error = %s WHERE id = %s",
            (error[:1000], event_id),
        )


class PostgresStore:
    """PaymentStore on a Database connection."""

    def __init__(self, database: Database, *, lock_timeout_ms: int = 10_000) -> None:
        self._db = database
        self._lock_timeout_ms = lock_timeout_ms

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        conn = self._db.connection()
        try:
            with conn.transaction():
                yield conn
        except pg_errors.LockNotAvailable:
            raise IdempotencyKeyBusy("lock timeout") from None
        except psycopg.OperationalError as exc:
            if conn.closed or conn.broken:
                self._db.discard()
            raise StoreUnavailable(f"database error: {type(exc).__name__}") from None

    @contextmanager
    def transaction(self) -> Iterator[PostgresTransaction]:
        """One transaction; rolled back if the block raises."""
        with self._transaction() as conn:
            yield PostgresTransaction(conn, self._lock_timeout_ms)

    def get_payment(self, payment_id: str) -> Payment | None:
        """Read one payment."""
        with self._transaction() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            row = cursor.execute(f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE id = %s", (payment_id,)).fetchone()
        if row is None:
            return None
        return Payment(**row)

    @contextmanager
    def claim_outbox(self, *, limit: int, payment_id: str | None = None) -> Iterator[PostgresOutboxBatch]:
        """Lock up to ``limit`` undelivered rows (skipping rows another deliverer holds)."""
        with self._transaction() as conn:
            where = "delivered_at IS NULL" + (" AND payment_id = %s" if payment_id else "")
            params: tuple[Any, ...] = (payment_id, limit) if payment_id else (limit,)
            rows = conn.execute(
                "SELECT id, payment_id, event_type, object_key, body FROM transaction_log_outbox "
                f"WHERE {where} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                params,
            ).fetchall()
            events = [OutboxEvent(id=r[0], payment_id=r[1], event_type=r[2], object_key=r[3], body=r[4]) for r in rows]
            yield PostgresOutboxBatch(conn, events)

    def purge_idempotency_keys(self, *, older_than_hours: int) -> int:
        """Delete keys older than the given age."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => %s)",
                (older_than_hours,),
            )
            return cursor.rowcount
