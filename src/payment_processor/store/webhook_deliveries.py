"""Where webhook deliveries and their attempts live: the tables of migration 0013 (data access).

The dispatcher (payment_processor.webhooks.dispatcher) claims due deliveries here, recording each attempt as
dispatched (its number, when, a lease) before it is queued; results come back through :meth:`record_result`,
which applies each attempt's result once. The merchant reads the attempts and asks for a redelivery here too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import args_row

from payment_processor.store.database import Database
from payment_processor.store.interfaces import Page, PageRequest
from payment_processor.store.postgres import event_writes, in_statement, in_transaction, keyset_page
from payment_processor.webhooks.deliveries import (
    AttemptRecord,
    Delivery,
    DeliveryStatus,
    after_attempt,
)
from payment_processor.webhooks.sender import Attempt


@dataclass(frozen=True)
class DueAttempt:
    """One attempt the dispatcher queues: the delivery, its endpoint's URL and sealed secrets, the event's body."""

    delivery_id: int
    attempt: int
    event_id: str
    endpoint_id: str
    url: str
    #: The event's logged JSON text (txlog.feed_resource makes what the receiver gets of it).
    event_body: str
    #: The endpoint's sealed secrets, newest first: the previous one only while it still signs.
    sealed_secrets: tuple[bytes, ...]


@dataclass(frozen=True)
class Recorded:
    """What applying one result did: False when the result was already applied (or is stale), and the
    endpoint's disabling (its reason) when this attempt disabled it."""

    applied: bool
    disabled: str | None = None
    event_id: str | None = None


#: Give up on what an endpoint is owed (parameter: its id): it was disabled, by the sender or the merchant.
ABANDON_OWED = (
    "UPDATE webhook_deliveries SET status = 'abandoned', next_attempt_at = NULL, leased_until = NULL "
    "WHERE endpoint_id = %s AND status IN ('pending', 'retrying')"
)

_DUE = """
WITH disabled AS (
    -- Nothing is sent to a disabled endpoint: what it was owed is given up on when it comes due.
    UPDATE webhook_deliveries d SET status = 'abandoned', next_attempt_at = NULL, leased_until = NULL
      FROM webhook_endpoints e
     WHERE e.id = d.endpoint_id AND e.status = 'disabled'
       AND d.status IN ('pending', 'retrying') AND d.next_attempt_at <= %(now)s
),
flying AS (
    SELECT endpoint_id, count(*) AS n FROM webhook_deliveries
     WHERE status IN ('pending', 'retrying') AND leased_until > %(now)s GROUP BY endpoint_id
),
ranked AS (
    SELECT d.id, row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS n,
           coalesce(f.n, 0) AS in_flight,
           CASE WHEN e.failing_since IS NULL THEN %(per_endpoint)s ELSE %(per_failing_endpoint)s END AS cap
      FROM webhook_deliveries d
      JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.status = 'enabled'
      LEFT JOIN flying f ON f.endpoint_id = d.endpoint_id
     WHERE d.status IN ('pending', 'retrying') AND d.next_attempt_at <= %(now)s
       AND (d.leased_until IS NULL OR d.leased_until <= %(now)s)
),
chosen AS (
    SELECT d.id FROM webhook_deliveries d
     WHERE d.id IN (SELECT id FROM ranked WHERE n + in_flight <= cap)
     ORDER BY d.next_attempt_at, d.id LIMIT %(limit)s
       FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
   SET dispatched_attempt = d.attempts + 1, dispatched_at = %(now)s, leased_until = %(lease_until)s
  FROM chosen, webhook_endpoints e, transaction_log_outbox o
 WHERE d.id = chosen.id AND e.id = d.endpoint_id AND o.event_id = d.event_id
RETURNING d.id, d.attempts + 1, d.event_id, d.endpoint_id, e.url, o.body, e.secret_sealed,
          CASE WHEN e.previous_secret_expires_at > %(now)s THEN e.previous_secret_sealed END
"""


def _due(
    delivery_id: int,
    attempt: int,
    event_id: str,
    endpoint_id: str,
    url: str,
    body: str,
    secret: bytes,
    previous: bytes | None,
) -> DueAttempt:
    sealed = (bytes(secret),) if previous is None else (bytes(secret), bytes(previous))
    return DueAttempt(delivery_id, attempt, event_id, endpoint_id, url, body, sealed)


def _record(
    event_id: str,
    attempt: int,
    attempted_at: datetime,
    status_code: int | None,
    error: str | None,
    latency_ms: int,
    next_attempt_at: datetime | None,
) -> AttemptRecord:
    return AttemptRecord(event_id, attempt, attempted_at, status_code, error, latency_ms, next_attempt_at)


class PostgresWebhookDeliveries:
    """Webhook deliveries on a Database connection."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def claim_due(
        self, *, now: datetime, limit: int, lease_s: float, per_endpoint: int, per_failing_endpoint: int
    ) -> list[DueAttempt]:
        """Up to ``limit`` due deliveries, each recorded as dispatched (its next attempt's number, ``now``, and a
        lease of ``lease_s``: without a result by then it is sent again). An endpoint has at most
        ``per_endpoint`` attempts in flight (``per_failing_endpoint`` while it is failing), so one slow or dead
        receiver cannot take the senders from the others."""
        params = {
            "now": now,
            "lease_until": now + timedelta(seconds=lease_s),
            "limit": limit,
            "per_endpoint": per_endpoint,
            "per_failing_endpoint": per_failing_endpoint,
        }
        with in_transaction(self._db) as conn:
            rows = conn.execute(_DUE, params).fetchall()
        return [_due(*row) for row in rows]

    def record_result(self, delivery_id: int, attempt_number: int, attempt: Attempt) -> Recorded:
        """Apply one attempt's result (a retry of the same result, or one for an attempt already answered, is
        ignored): the attempt's record, the delivery's next step, and the endpoint's failing time; when the
        attempt disables the endpoint, its other deliveries are given up on and the merchant's
        ``webhook_endpoint.disabled`` event is written (and fanned out to its other endpoints) in the same
        transaction."""
        with in_transaction(self._db) as conn:
            row = conn.execute(
                "SELECT d.event_id, d.endpoint_id, d.status, d.attempts, d.dispatched_attempt, d.dispatched_at, "
                "d.manual FROM webhook_deliveries d WHERE d.id = %s FOR UPDATE",
                (delivery_id,),
            ).fetchone()
            if row is None:  # its endpoint was deleted meanwhile
                return Recorded(applied=False)
            event_id, endpoint_id, status, attempts, dispatched, dispatched_at, manual = row
            delivery = Delivery(event_id, endpoint_id, DeliveryStatus(status), attempts)
            if delivery.is_final or dispatched != attempt_number or attempts >= attempt_number:
                return Recorded(applied=False)
            endpoint = conn.execute(
                "SELECT merchant_id, status, failing_since FROM webhook_endpoints WHERE id = %s FOR UPDATE",
                (endpoint_id,),
            ).fetchone()
            assert endpoint is not None  # the delivery's foreign key: deleted together
            merchant_id, endpoint_status, failing_since = endpoint
            after = after_attempt(delivery, attempt, at=dispatched_at, failing_since=failing_since, retries=not manual)
            record = after.record
            conn.execute(
                "INSERT INTO webhook_attempts (delivery_id, endpoint_id, event_id, attempt, attempted_at, "
                "status_code, error, latency_ms, next_attempt_at, excerpt) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    delivery_id,
                    endpoint_id,
                    event_id,
                    record.attempt,
                    record.attempted_at,
                    record.status_code,
                    record.error,
                    record.latency_ms,
                    record.next_attempt_at,
                    attempt.excerpt,
                ),
            )
            moved = after.delivery
            conn.execute(
                "UPDATE webhook_deliveries SET status = %s, attempts = %s, next_attempt_at = %s, "
                "dispatched_attempt = NULL, dispatched_at = NULL, leased_until = NULL WHERE id = %s",
                (moved.status.value, moved.attempts, moved.next_attempt_at, delivery_id),
            )
            if endpoint_status != "enabled":
                return Recorded(applied=True)
            conn.execute(
                "UPDATE webhook_endpoints SET failing_since = %s WHERE id = %s", (after.failing_since, endpoint_id)
            )
            if after.disable is None:
                return Recorded(applied=True)
            disabled_event = _disable(conn, merchant_id, endpoint_id, after.disable, dispatched_at)
            return Recorded(applied=True, disabled=after.disable, event_id=disabled_event)

    def list_attempts(self, endpoint_id: str, page: PageRequest) -> Page[AttemptRecord]:
        """An endpoint's attempts, newest first (the caller has checked the endpoint is the merchant's)."""
        with in_statement(self._db) as conn:
            return keyset_page(
                conn,
                "SELECT event_id, attempt, attempted_at, status_code, error, latency_ms, next_attempt_at FROM "
                "(SELECT *, attempted_at AS created_at FROM webhook_attempts) a",
                ["endpoint_id = %s"],
                [endpoint_id],
                page,
                "created_at",
                rows_as=args_row(_record),
                # Compared as text: a cursor is the caller's string (another list's id, any text), never cast, so
                # one that is not an attempt of this endpoint is 404 like every list's, not a database error.
                cursor_sql="SELECT attempted_at, id FROM webhook_attempts WHERE id::text = %s AND endpoint_id = %s",
                cursor_scope=(endpoint_id,),
            )

    def redeliver(self, merchant_id: str, event_id: str, endpoint_id: str) -> str | None:
        """Queue one more delivery of the merchant's event to its enabled endpoint, due now: None if done; else
        what is missing (``event``, ``endpoint``, or ``disabled``)."""
        with in_transaction(self._db) as conn:
            event = conn.execute(
                "SELECT 1 FROM transaction_log_outbox WHERE event_id = %s AND merchant_id = %s",
                (event_id, merchant_id),
            ).fetchone()
            if event is None:
                return "event"
            endpoint = conn.execute(
                "SELECT status FROM webhook_endpoints WHERE id = %s AND merchant_id = %s", (endpoint_id, merchant_id)
            ).fetchone()
            if endpoint is None:
                return "endpoint"
            if endpoint[0] != "enabled":
                return "disabled"
            conn.execute(
                "INSERT INTO webhook_deliveries (event_id, endpoint_id, merchant_id, manual) VALUES (%s, %s, %s, true) "
                "ON CONFLICT (event_id, endpoint_id) WHERE manual AND status IN ('pending', 'retrying') DO NOTHING",
                (event_id, endpoint_id, merchant_id),
            )
        return None


def _disable(conn: psycopg.Connection[Any], merchant_id: str, endpoint_id: str, reason: str, at: datetime) -> str:
    """Disable the endpoint, give up on what it was owed, and write the merchant's event saying so; its id."""
    from payment_processor.webhooks.events import endpoint_disabled_event

    conn.execute(
        "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = %s, updated_at = %s WHERE id = %s",
        (reason, at, endpoint_id),
    )
    conn.execute(ABANDON_OWED, (endpoint_id,))
    event = endpoint_disabled_event(merchant_id, endpoint_id, reason, at, suffix=secrets.token_hex(6))
    # The disabled endpoint is not among those it fans out to: its status changed in the statement before.
    fan_out, record = event_writes([event])
    conn.execute(f"WITH fan_out AS ({fan_out.sql}) {record.sql}", (*fan_out.params, *record.params))
    assert event.event_id is not None
    return event.event_id
