"""The PostgreSQL implementation of PaymentStore (data access).

Idempotency relies on PostgreSQL's unique-index behaviour: an insert of a key another open transaction has
inserted *waits* for that transaction. If it commits, we see its finished record and replay it; if it rolls back,
our insert goes through and we own the key. The wait is bounded by ``lock_timeout``; past it the client gets 409
idempotency_key_in_use. A key expected to be new is claimed by a plain INSERT sent with the statements that
record the operation (``claim_new_idempotency_key``): one that exists aborts that transaction, and only then is
the key read (``claim_idempotency_key``: ``ON CONFLICT DO NOTHING``, then its record).

Round trips are what a request's time is mostly made of, so a transaction is one pipeline (psycopg's pipeline
mode): BEGIN, the lock timeout and every statement whose result is not needed yet are sent without waiting,
and the client waits only where it reads a row (a lock) and once at the end, for COMMIT. The writes nobody
reads are combined into one statement (``PostgresTransaction``). A write that must change exactly one row says
so to the server (``expect_one_row``, migration 0010), so a stale precondition aborts the transaction there
instead of needing a wait to check a row count. A statement on its own runs without BEGIN and COMMIT
(autocommit): one round trip.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.rows import BaseRowFactory, args_row, dict_row
from psycopg.types.json import Jsonb

from payment_processor.apikeys import ApiKey
from payment_processor.connectors.configuration import MerchantConnector
from payment_processor.payment import Payment, PaymentAction, PaymentAttempt, Refund
from payment_processor.states import PaymentStatus, RefundStatus, payment_transition, refund_transition
from payment_processor.store.database import Database
from payment_processor.store.interfaces import (
    CursorNotFound,
    FeedEvent,
    IdempotencyKeyBusy,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    OutboxEvent,
    OutboxHealth,
    Page,
    PageRequest,
    ProcessingHealth,
    StoredResponse,
    StoreUnavailable,
)

#: The app role's own lock_timeout (migration 0011), in milliseconds.
ROLE_LOCK_TIMEOUT_MS = 10_000
#: The most writes (and events) a transaction queues before it sends them as one statement.
MAX_QUEUED_WRITES = 16

_PAYMENT_COLUMNS = (
    "id, merchant_id, amount, currency, status, payment_method, created_at, decline_code, "
    "authorization_code, description, customer_id, metadata, idempotency_key, failure_code, updated_at, "
    "acquirer_attempts, capture_method, amount_captured, amount_refunded, cancellation_reason, next_action"
)
_REFUND_COLUMNS = (
    "id, payment_id, merchant_id, amount, currency, status, created_at, updated_at, reason, failure_code, "
    "idempotency_key, acquirer_attempts"
)
_ACTION_COLUMNS = (
    "id, payment_id, action, merchant_id, requested_at, amount, cancellation_reason, idempotency_key, acquirer_attempts"
)
_ATTEMPT_COLUMNS = "id, payment_id, connector, created_at, reference, outcome, decline_code, latency_ms"
#: Reads of these columns made straight into the objects, positionally (no dict per row: a page of payments is
#: most of a list request's time in Python): the column lists above are in the dataclasses' field order, which
#: a unit test holds.
_AS_PAYMENT = args_row(Payment)
_AS_REFUND = args_row(Refund)
_AS_ATTEMPT = args_row(PaymentAttempt)
R = TypeVar("R")


@dataclass(frozen=True)
class EventNumber:
    """A parameter of a queued write that sets a payment's ``event_sequence``: the last number this transaction
    took for it when the write is sent, or NULL (keep the column) when it has none unwritten."""

    payment_id: str


@dataclass(frozen=True)
class Write:
    """A write queued to be sent with the others next to it as one statement (see ``PostgresTransaction``).
    ``stale``: it must change exactly one row, else the transaction aborts with this message."""

    sql: str
    params: tuple[Any, ...]
    stale: str | None = None


def event_writes(events: list[OutboxEvent]) -> list[Write]:
    """Events as two writes for one statement: the events, and the webhook deliveries they owe, one pending delivery
    for each of the merchant's enabled endpoints subscribed to the event's type (webhooks.deliveries.subscribed):
    never one without the other. Each is one INSERT of all the rows, in the events' order: the CTEs of a statement
    run in no set order, and the outbox's ids must follow the events'."""
    if not events:
        return []
    owed = ", ".join(["(%s::int, %s::text, %s::text, %s::text)"] * len(events))
    fan_out = Write(
        "INSERT INTO webhook_deliveries (event_id, endpoint_id, merchant_id) "
        f"SELECT e.event_id, w.id, w.merchant_id FROM (VALUES {owed}) AS e(n, event_id, merchant_id, event_type) "
        "JOIN webhook_endpoints w ON w.merchant_id = e.merchant_id AND w.status = 'enabled' "
        "AND w.enabled_events && ARRAY['*', e.event_type]::text[] ORDER BY e.n, w.id",
        tuple(value for n, e in enumerate(events) for value in (n, e.event_id, e.merchant_id, e.event_type)),
    )
    record = Write(
        "INSERT INTO transaction_log_outbox (payment_id, event_type, object_key, body, merchant_id, event_id) "
        f"VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(events))}",
        tuple(
            value
            for e in events
            for value in (e.payment_id, e.event_type, e.object_key, e.body, e.merchant_id, e.event_id)
        ),
    )
    return [fan_out, record]


def _merchant_scope(
    payment_id: str, merchant_id: str | None, column: str = "merchant_id"
) -> tuple[str, tuple[str, ...]]:
    """The filter that keeps a statement on one payment to ``merchant_id``'s rows (none when it is None), and the
    parameters of ``WHERE <payment> = %s`` followed by it."""
    if merchant_id is None:
        return "", (payment_id,)
    return f"AND {column} = %s", (payment_id, merchant_id)


class PostgresTransaction:
    """Statements run inside one open transaction on ``conn``.

    Writes whose result nobody reads (a record, its event and fan-out, a state change, the key's answer) are
    queued and sent together as one statement, each a data-modifying CTE of it, when the transaction next reads
    or ends (``flush``): the server parses, plans and runs one statement instead of several, and a payment
    whose row is written in it gets its event number in the same row write. The statements of one combination
    see one snapshot, so a write never depends on another queued with it: every read, and every write that is
    not queued, sends the queue first (``_execute``, ``_cursor``), which keeps the order they were asked in.
    """

    def __init__(self, db: Database, conn: psycopg.Connection[Any], lock_timeout_ms: int) -> None:
        self._db = db
        self._conn = conn
        # Every lock wait is bounded by the role's lock_timeout (migration 0011); another configured value is set
        # for this transaction only (SET LOCAL: it ends with the transaction; sent ahead of the first statement
        # in the pipeline, so it costs no wait).
        if lock_timeout_ms != ROLE_LOCK_TIMEOUT_MS:
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{lock_timeout_ms}ms",))
        #: Event numbers of the payments this transaction inserted or locked: the next one is known without
        #: asking; those taken here (``_unwritten``) are written once, before COMMIT (``flush``).
        self._sequences: dict[str, int] = {}
        self._unwritten: set[str] = set()
        #: The connector whose attempt authorized each payment this transaction locked, read with the lock.
        self._approved: dict[str, str | None] = {}
        #: The merchant of each payment this transaction inserted (its first attempt is written with it).
        self._inserted: dict[str, str] = {}
        self._writes: list[Write] = []
        self._events: list[OutboxEvent] = []

    def _execute(self, sql: str, params: Any = None) -> psycopg.Cursor[Any]:
        """A statement sent after the queued writes (in the pipeline: no wait of its own)."""
        self._send_writes()
        return self._conn.execute(sql, params)

    def _cursor(self, row_factory: BaseRowFactory[R]) -> psycopg.Cursor[R]:
        """A cursor for a read sent after the queued writes."""
        self._send_writes()
        return self._conn.cursor(row_factory=row_factory)

    def _write(self, sql: str, params: tuple[Any, ...], *, stale: str | None = None) -> None:
        """Queue a data-modifying statement (no WITH of its own) to go with the next combination."""
        self._writes.append(Write(sql, params, stale))
        self._send_when_full()

    def _send_when_full(self) -> None:
        # A transaction that writes many records (a seed, a batch) sends them in statements of a bounded size:
        # one statement's parameters are limited (65,535), and its planning grows with its parts.
        if len(self._writes) + len(self._events) >= MAX_QUEUED_WRITES:
            self._send_writes()

    def _send_writes(self) -> None:
        """Send the queued writes as one statement; each payment's event number taken since the last send goes
        with its row's write in it, or as a write of its own."""
        writes, self._writes = self._writes, []
        writes.extend(event_writes(self._events))
        self._events = []
        if not writes and not self._unwritten:
            return
        numbered = {p.payment_id for w in writes for p in w.params if isinstance(p, EventNumber)}
        for payment_id in sorted(self._unwritten - numbered):
            # A row changed twice by one statement keeps only one change: so an event number has its own write
            # only when no queued write of the payment's row carries it.
            writes.append(
                Write("UPDATE payments SET event_sequence = %s WHERE id = %s", (EventNumber(payment_id), payment_id))
            )
        params: list[Any] = []
        parts: list[str] = []
        checks: list[str] = []
        for i, write in enumerate(writes):
            params.extend(self._resolved(p) for p in write.params)
            if write.stale is None:
                parts.append(f"w{i} AS ({write.sql})")
            else:
                parts.append(f"w{i} AS ({write.sql} RETURNING 1)")
                checks.append(f"expect_one_row((SELECT count(*) FROM w{i}), %s)")
        self._unwritten.clear()
        stale = [w.stale for w in writes if w.stale is not None]
        if len(writes) == 1 and not stale:
            self._conn.execute(writes[0].sql, params)
            return
        # Data-modifying CTEs run to completion whether or not the query reads them; the checks read their counts.
        self._conn.execute(f"WITH {', '.join(parts)} SELECT {', '.join(checks) or '1'}", (*params, *stale))

    def _resolved(self, param: Any) -> Any:
        if isinstance(param, EventNumber):
            return self._sequences[param.payment_id] if param.payment_id in self._unwritten else None
        return param

    def claim_idempotency_key(self, merchant_id: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
        """Insert the key, or wait for its holder and return what it recorded."""
        # Two attempts: the row we conflicted with can vanish between INSERT and SELECT only if it
        # was purged in between; then the key is free and the second insert takes it.
        for _ in range(2):
            inserted = self._execute(
                "INSERT INTO idempotency_keys (merchant_id, idempotency_key, request_fingerprint) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                (merchant_id, key, fingerprint),
            ).fetchone()
            if inserted is not None:
                return None
            row = self._execute(
                "SELECT request_fingerprint, response_status, response_body, payment_id, refund_id "
                "FROM idempotency_keys WHERE merchant_id = %s AND idempotency_key = %s",
                (merchant_id, key),
            ).fetchone()
            if row is not None:
                response = None if row[1] is None else StoredResponse(row[1], row[2])
                return IdempotencyRecord(row[0], response, row[3], row[4])
        raise IdempotencyKeyBusy(key)  # pragma: no cover - needs a purge racing this very key twice

    def claim_new_idempotency_key(self, merchant_id: str, key: str, fingerprint: str) -> None:
        """Sent ahead of the record's statements, not read: the primary key refuses a key that exists (after
        waiting for an open transaction holding it), and the refusal aborts the whole transaction."""
        self._execute(
            "INSERT INTO idempotency_keys (merchant_id, idempotency_key, request_fingerprint) VALUES (%s, %s, %s)",
            (merchant_id, key, fingerprint),
        )

    def insert_payment(self, payment: Payment) -> None:
        """Insert the payment row (its events are numbered from 1), binding the key it was asked with."""
        self._sequences[payment.id] = 0
        self._inserted[payment.id] = payment.merchant_id
        self._insert_binding_key(
            f"INSERT INTO payments ({_PAYMENT_COLUMNS}, next_resolution_at, event_sequence) "
            f"VALUES ({', '.join(['%s'] * 22)}, coalesce(%s, 0))",
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
                payment.failure_code,
                payment.changed_at,
                payment.acquirer_attempts,
                payment.capture_method,
                payment.amount_captured,
                payment.amount_refunded,
                payment.cancellation_reason,
                None if payment.next_action is None else Jsonb(payment.next_action),
                payment.created_at,
                EventNumber(payment.id),
            ),
            (payment.merchant_id, payment.idempotency_key, payment.id, None),
        )

    def _insert_binding_key(
        self, insert: str, params: tuple[Any, ...], key: tuple[str, str | None, str, str | None]
    ) -> None:
        """Queue ``insert`` of an operation's record and, with it, point the key it was asked with
        (``merchant, key, payment, refund``; none when the job records) at what it recorded."""
        merchant_id, idempotency_key, payment_id, refund_id = key
        self._write(insert, params)
        if idempotency_key is not None:
            # In the same statement as the insert: the key's foreign keys are checked at the end of the whole
            # statement, so the payment or refund inserted by it is there to be referenced.
            self._write(
                "UPDATE idempotency_keys SET payment_id = %s, refund_id = %s "
                "WHERE merchant_id = %s AND idempotency_key = %s",
                (payment_id, refund_id, merchant_id, idempotency_key),
            )

    def lock_payment(self, payment_id: str, merchant_id: str | None = None) -> Payment | None:
        """SELECT .. FOR UPDATE, bounded by the lock timeout like the idempotency claim."""
        return self._locked_payment(self._send_lock_payment(payment_id, merchant_id), payment_id)

    def lock_payment_and_action(
        self, payment_id: str, merchant_id: str | None = None
    ) -> tuple[Payment | None, PaymentAction | None]:
        """Both locks sent together (one wait), the payment's first as always; the action is looked for only
        among the merchant's payments, so another merchant's id locks nothing of theirs but a missing row."""
        payment = self._send_lock_payment(payment_id, merchant_id)
        scope, params = _merchant_scope(payment_id, merchant_id, "p.merchant_id")
        action = self._cursor(dict_row).execute(
            f"SELECT {', '.join('a.' + c for c in _ACTION_COLUMNS.split(', '))} FROM payment_actions a "
            f"JOIN payments p ON p.id = a.payment_id WHERE a.payment_id = %s {scope} FOR UPDATE OF a",
            params,
        )
        locked = self._locked_payment(payment, payment_id)
        row = action.fetchone()
        return locked, (None if row is None or locked is None else PaymentAction(**row))

    def _send_lock_payment(self, payment_id: str, merchant_id: str | None) -> psycopg.Cursor[dict[str, Any]]:
        mine, params = _merchant_scope(payment_id, merchant_id)
        # NO KEY UPDATE: it excludes every other locker of the payment as FOR UPDATE would, without blocking
        # the foreign-key checks of rows that reference it (outbox events, refunds, keys).
        # The approving connector comes with the lock: a follow-up asks it, and would otherwise read it on its own.
        return self._cursor(dict_row).execute(
            f"SELECT {_PAYMENT_COLUMNS}, event_sequence, (SELECT connector FROM payment_attempts a "
            "WHERE a.payment_id = payments.id AND a.outcome = 'approved' LIMIT 1) AS approved_connector "
            f"FROM payments WHERE id = %s {mine} FOR NO KEY UPDATE",
            params,
        )

    def _locked_payment(self, sent: psycopg.Cursor[dict[str, Any]], payment_id: str) -> Payment | None:
        row = sent.fetchone()
        if row is None:
            return None
        self._sequences[payment_id] = int(row.pop("event_sequence"))
        self._approved[payment_id] = row.pop("approved_connector")
        return Payment(**row)

    def approved_connector(self, payment_id: str) -> str | None:
        """The connector that authorized a payment this transaction locked (read with the lock)."""
        return self._approved[payment_id]

    def update_payment(self, payment: Payment, *, from_status: PaymentStatus) -> None:
        """Every column a state change writes, and the event number its event took; only a row still in
        ``from_status`` is changed. A payment that left ``processing`` is no longer due for the job."""
        payment_transition(from_status, payment.status)
        self._write(
            "UPDATE payments SET status = %s, decline_code = %s, authorization_code = %s, failure_code = %s, "
            "amount_captured = %s, amount_refunded = %s, cancellation_reason = %s, updated_at = %s, "
            "next_action = %s, next_resolution_at = CASE WHEN %s = 'processing' THEN next_resolution_at END, "
            "event_sequence = coalesce(%s, event_sequence) WHERE id = %s AND status = %s",
            (
                payment.status,
                payment.decline_code,
                payment.authorization_code,
                payment.failure_code,
                payment.amount_captured,
                payment.amount_refunded,
                payment.cancellation_reason,
                payment.changed_at,
                None if payment.next_action is None else Jsonb(payment.next_action),
                payment.status,
                EventNumber(payment.id),
                payment.id,
                from_status,
            ),
            # The server aborts the transaction with this unless it changed exactly one row (expect_one_row,
            # migration 0010): no wait for a row count.
            stale=f"payment {payment.id} is no longer {from_status}",
        )

    def increment_amount(self, payment_id: str, *, from_amount: int, to_amount: int) -> None:
        """Through the one function that may change an amount (migration 0009): the role has no UPDATE on it."""
        self._execute(
            "SELECT expect_one_row(count(*), %s) FROM increment_authorized_amount(%s, %s, %s) AS raised WHERE raised",
            (f"payment {payment_id} is no longer authorized for {from_amount}", payment_id, from_amount, to_amount),
        )

    def next_event_sequence(self, payment_id: str) -> int:
        """The payment's next event number: counted here for a payment this transaction inserted or locked
        (written by ``flush``), else taken from the row (which locks it)."""
        if payment_id in self._sequences:
            self._sequences[payment_id] += 1
            self._unwritten.add(payment_id)
            return self._sequences[payment_id]
        row = self._execute(
            "UPDATE payments SET event_sequence = event_sequence + 1 WHERE id = %s RETURNING event_sequence",
            (payment_id,),
        ).fetchone()
        if row is None:
            raise RuntimeError(f"payment {payment_id} vanished")
        self._sequences[payment_id] = int(row[0])
        return int(row[0])

    def flush(self) -> None:
        """Send the queued writes and the event numbers not yet written (before COMMIT, without a wait)."""
        self._send_writes()

    def insert_action(self, action: PaymentAction) -> None:
        """Record the capture or cancel (the primary key refuses a second one for the payment), binding its key."""
        self._insert_binding_key(
            f"INSERT INTO payment_actions ({_ACTION_COLUMNS}, next_resolution_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                action.id,
                action.payment_id,
                action.action,
                action.merchant_id,
                action.requested_at,
                action.amount,
                action.cancellation_reason,
                action.idempotency_key,
                action.acquirer_attempts,
                action.requested_at,
            ),
            (action.merchant_id, action.idempotency_key, action.payment_id, None),
        )

    def delete_action(self, payment_id: str) -> None:
        """Done: the outcome is on the payment and in the log."""
        self._write("DELETE FROM payment_actions WHERE payment_id = %s", (payment_id,))

    def record_action_failure(self, payment_id: str, retry_after_s: float) -> None:
        """One more attempt without an answer; due again after the backoff."""
        self._execute(
            "UPDATE payment_actions SET acquirer_attempts = acquirer_attempts + 1, "
            "next_resolution_at = clock_timestamp() + make_interval(secs => %s) WHERE payment_id = %s",
            (retry_after_s, payment_id),
        )

    def insert_refund(self, refund: Refund) -> None:
        """Record the pending refund, binding its key; due for the job at once (it leaves young ones to their
        request)."""
        self._insert_binding_key(
            f"INSERT INTO refunds ({_REFUND_COLUMNS}, next_resolution_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                refund.id,
                refund.payment_id,
                refund.merchant_id,
                refund.amount,
                refund.currency,
                refund.status,
                refund.created_at,
                refund.updated_at,
                refund.reason,
                refund.failure_code,
                refund.idempotency_key,
                refund.acquirer_attempts,
                refund.created_at,
            ),
            (refund.merchant_id, refund.idempotency_key, refund.payment_id, refund.id),
        )

    def lock_payment_and_refund(self, payment_id: str, refund_id: str) -> tuple[Payment | None, Refund | None]:
        """Both locks sent together (one wait), the payment's first as every refund locks them."""
        payment = self._send_lock_payment(payment_id, None)
        refund = self._cursor(dict_row).execute(
            f"SELECT {_REFUND_COLUMNS} FROM refunds WHERE id = %s AND payment_id = %s FOR UPDATE",
            (refund_id, payment_id),
        )
        locked = self._locked_payment(payment, payment_id)
        row = refund.fetchone()
        return locked, (None if row is None or locked is None else Refund(**row))

    def update_refund(self, refund: Refund, *, from_status: RefundStatus) -> None:
        """The refund's new status; only a row still in ``from_status`` is changed (a final one is not due)."""
        refund_transition(from_status, refund.status)
        self._write(
            "UPDATE refunds SET status = %s, failure_code = %s, updated_at = %s, "
            "next_resolution_at = CASE WHEN %s = 'pending' THEN next_resolution_at END WHERE id = %s AND status = %s",
            (refund.status, refund.failure_code, refund.updated_at, refund.status, refund.id, from_status),
            stale=f"refund {refund.id} is no longer {from_status}",
        )

    def record_refund_failure(self, refund_id: str, retry_after_s: float) -> None:
        """One more attempt without an answer; due again after the backoff."""
        self._execute(
            "UPDATE refunds SET acquirer_attempts = acquirer_attempts + 1, "
            "next_resolution_at = clock_timestamp() + make_interval(secs => %s) WHERE id = %s AND status = 'pending'",
            (retry_after_s, refund_id),
        )

    def lock_payment_and_pending_refunds(
        self, payment_id: str, merchant_id: str | None = None
    ) -> tuple[Payment | None, int]:
        """The lock and the sum sent together (one wait). The server runs them in order, and the sum takes its
        snapshot when it starts (READ COMMITTED), after the lock is held: it counts every refund recorded by
        whoever held the lock before, as a sum read after the lock came back would."""
        payment = self._send_lock_payment(payment_id, merchant_id)
        scope, params = _merchant_scope(payment_id, merchant_id)
        pending = self._execute(
            f"SELECT coalesce(sum(amount), 0) FROM refunds WHERE payment_id = %s AND status = 'pending' {scope}",
            params,
        )
        locked = self._locked_payment(payment, payment_id)
        row = pending.fetchone()
        return locked, (int(row[0]) if row is not None and locked is not None else 0)

    def record_acquirer_failure(self, payment_id: str, retry_after_s: float) -> None:
        """One more attempt without an answer; due again after the backoff."""
        self._execute(
            "UPDATE payments SET acquirer_attempts = acquirer_attempts + 1, "
            "next_resolution_at = clock_timestamp() + make_interval(secs => %s) "
            "WHERE id = %s AND status = 'processing'",
            (retry_after_s, payment_id),
        )

    def due_again(self, payment_id: str, after_s: float) -> None:
        """The payment's next look by the job (it waits for its cardholder), in the pipeline."""
        self._execute(
            "UPDATE payments SET next_resolution_at = clock_timestamp() + make_interval(secs => %s) "
            "WHERE id = %s AND status = 'requires_action'",
            (after_s, payment_id),
        )

    def bind_idempotency_key(self, merchant_id: str, key: str, payment_id: str) -> None:
        """The claimed key's payment, in the pipeline."""
        self._execute(
            "UPDATE idempotency_keys SET payment_id = %s WHERE merchant_id = %s AND idempotency_key = %s",
            (payment_id, merchant_id, key),
        )

    def insert_attempt(self, attempt: PaymentAttempt) -> None:
        """Record the payment's first attempt in the transaction that inserted the payment (queued). Its merchant is
        the one that insert was given: the insert may go in the same statement, where it cannot be read."""
        self._write(
            "INSERT INTO payment_attempts (id, payment_id, merchant_id, connector, created_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            (attempt.id, attempt.payment_id, self._inserted[attempt.payment_id], attempt.connector, attempt.created_at),
        )

    def finish_attempt(self, attempt_id: str, outcome: str, decline_code: str | None, latency_ms: int) -> None:
        """The acquirer's outcome, on an attempt not finished before (queued)."""
        self._write(
            "UPDATE payment_attempts SET outcome = %s, decline_code = %s, latency_ms = %s, answered_at = now() "
            "WHERE id = %s AND outcome IS NULL",
            (outcome, decline_code, latency_ms, attempt_id),
        )

    def settle_attempt(self, attempt_id: str, outcome: str, decline_code: str | None) -> None:
        """The cardholder's answer on an attempt left in requires_action (its latency stays the acquirer's)."""
        self._write(
            "UPDATE payment_attempts SET outcome = %s, decline_code = %s, answered_at = now() "
            "WHERE id = %s AND outcome = 'requires_action'",
            (outcome, decline_code, attempt_id),
        )

    def stored_response(self, merchant_id: str, key: str) -> StoredResponse | None:
        """The response under the key, if it has one."""
        row = self._execute(
            "SELECT response_status, response_body FROM idempotency_keys "
            "WHERE merchant_id = %s AND idempotency_key = %s",
            (merchant_id, key),
        ).fetchone()
        return None if row is None or row[0] is None else StoredResponse(row[0], row[1])

    def add_event(self, event: OutboxEvent) -> None:
        """Queue the event in the outbox table (its ``txid`` is this transaction's, by the column default); the
        payment's event number taken for it is written by the same statement."""
        if event.merchant_id is None or event.event_id is None:
            raise ValueError("an event is written with its merchant and event id")
        # Written when the queue is sent (``event_writes``), with its payment's event number.
        self._events.append(event)
        self._send_when_full()

    def complete_idempotency_key(
        self, merchant_id: str, key: str, response: StoredResponse, payment_id: str | None
    ) -> None:
        """Store the response under the claimed key (and the payment it is about; None for a webhook endpoint)."""
        self._write(
            "UPDATE idempotency_keys SET response_status = %s, response_body = %s, payment_id = %s "
            "WHERE merchant_id = %s AND idempotency_key = %s",
            (response.status, response.body, payment_id, merchant_id, key),
        )

    def lease_outbox(self, payment_id: str, *, limit: int, lease_s: float) -> PostgresLeasedOutbox:
        """Sent in the pipeline ahead of COMMIT, without a wait: the request that wrote the events needs no
        statement, and no transaction, of its own to claim them."""
        return PostgresLeasedOutbox(
            self._db, self._execute(*_lease_outbox(limit=limit, lease_s=lease_s, payment_id=payment_id))
        )


class PostgresOutboxBatch:
    """Outbox rows leased to this deliverer (their ``next_attempt_at`` pushed to the lease's end, committed).

    Marks are short statements of their own, so no transaction is open while an event is put; the deliveries
    are marked together, once the batch ends (or before a failure is), in one statement. A deliverer that dies
    before marking leaves its batch's events to be put again: each finds its object (412) and is marked then.
    A mark never undoes a delivery: a deliverer whose lease ran out may put an event another one has since
    delivered (S3's conditional put refuses the second write), and whichever marks it delivered first stands.
    """

    def __init__(
        self, db: Database, events: list[OutboxEvent], due: dict[int, datetime], leased_until: datetime | None
    ) -> None:
        self._db = db
        self.events = events
        self._due = due  # each event's due time before the lease, to give unmarked ones back as they were
        self._leased_until = leased_until
        self._marked: set[int] = set()
        self._delivered: list[int] = []  # put, not yet marked

    def mark_delivered(self, event_id: int) -> None:
        """Record delivery (written with the batch's other deliveries: see the class)."""
        self._delivered.append(event_id)
        self._marked.add(event_id)

    def _write_delivered(self) -> None:
        if not self._delivered:
            return
        delivered, self._delivered = self._delivered, []
        with in_statement(self._db) as conn:
            conn.execute(
                "UPDATE transaction_log_outbox SET delivered_at = now(), attempts = attempts + 1, "
                "last_error = NULL WHERE id = ANY(%s::bigint[]) AND delivered_at IS NULL",
                (delivered,),
            )

    def mark_failed(self, event_id: int, error: str, *, retry_after_s: float | None) -> None:
        """Record a failed attempt: due again after the backoff, or dead-lettered."""
        self._write_delivered()
        params: tuple[Any, ...]
        if retry_after_s is None:
            sql, params = "dead_lettered_at = now()", (error[:1000], event_id)
        else:
            sql, params = "next_attempt_at = now() + make_interval(secs => %s)", (error[:1000], retry_after_s, event_id)
        with in_statement(self._db) as conn:
            conn.execute(
                f"UPDATE transaction_log_outbox SET attempts = attempts + 1, last_error = %s, {sql} "
                "WHERE id = %s AND delivered_at IS NULL",
                params,
            )
        self._marked.add(event_id)

    def release(self) -> None:
        """Mark the batch's deliveries, and give back the events it did not mark (a deadline or a failing sink
        stopped it first): due again as they were, unless the lease already ran out and another deliverer holds
        them now."""
        self._write_delivered()
        unmarked = [event.id for event in self.events if event.id is not None and event.id not in self._marked]
        if not unmarked:
            return
        with in_statement(self._db) as conn:
            conn.execute(
                "UPDATE transaction_log_outbox o SET next_attempt_at = u.due "
                "FROM unnest(%s::bigint[], %s::timestamptz[]) AS u(id, due) "
                "WHERE o.id = u.id AND o.next_attempt_at = %s AND o.delivered_at IS NULL",
                (unmarked, [self._due[i] for i in unmarked], self._leased_until),
            )


#: Waiting events, dead-lettered ones, and the oldest waiting event's age in seconds (also read by
#: ``payments status`` on the local target).
OUTBOX_HEALTH_SQL = (
    "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND dead_lettered_at IS NULL), "
    "count(*) FILTER (WHERE dead_lettered_at IS NOT NULL), "
    "coalesce(extract(epoch FROM now() - min(created_at) "
    "FILTER (WHERE delivered_at IS NULL AND dead_lettered_at IS NULL)), 0) "
    "FROM transaction_log_outbox"
)


def keyset_page(
    conn: psycopg.Connection[Any],
    select: str,
    where: list[str],
    params: list[Any],
    page: PageRequest,
    order: str,
    *,
    rows_as: BaseRowFactory[R],
    cursor_sql: str,
    cursor_scope: tuple[str, ...],
    cursor_cast: str = "",
) -> Page[R]:
    """One keyset page over ``(order, id)``, newest first.

    ``starting_after`` walks older (descending from the cursor), ``ending_before`` newer (ascending from
    it, then reversed so the page still reads newest first). One row more than asked says ``has_more``.
    The cursor must be one of the listed objects (``cursor_sql`` takes its id, then ``cursor_scope``: the
    merchant, and the payment for its refunds): another merchant's is not found, like an unknown one.
    """
    where, params = list(where), list(params)
    if page.created_gte is not None:
        where.append("created_at >= %s")
        params.append(page.created_gte)
    if page.created_lt is not None:
        where.append("created_at < %s")
        params.append(page.created_lt)
    cursor_id = page.starting_after or page.ending_before
    ascending = page.ending_before is not None
    if cursor_id is not None:
        found = conn.execute(cursor_sql, (cursor_id, *cursor_scope)).fetchone()
        if found is None:
            raise CursorNotFound(cursor_id)
        where.append(f"({order}, id) {'>' if ascending else '<'} (%s{cursor_cast}, %s)")
        params.extend(found)
    direction = "ASC" if ascending else "DESC"
    rows = (
        conn.cursor(row_factory=rows_as)
        .execute(
            f"{select} WHERE {' AND '.join(where)} ORDER BY {order} {direction}, id {direction} LIMIT %s",
            (*params, page.limit + 1),
        )
        .fetchall()
    )
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    if ascending:
        rows.reverse()
    return Page(rows, has_more)


def _lease_outbox(*, limit: int, lease_s: float, payment_id: str | None) -> tuple[str, dict[str, Any]]:
    """The statement that leases up to ``limit`` due outbox rows (oldest first, or ``payment_id``'s), skipping
    rows another deliverer is leasing this instant, and returns them with the time each was due before."""
    where = "delivered_at IS NULL AND dead_lettered_at IS NULL AND next_attempt_at <= now()" + (
        " AND payment_id = %(payment_id)s" if payment_id else ""
    )
    return (
        f"WITH due AS (SELECT id, next_attempt_at FROM transaction_log_outbox WHERE {where} "
        "ORDER BY next_attempt_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
        "UPDATE transaction_log_outbox o SET next_attempt_at = now() + make_interval(secs => %(lease)s) "
        "FROM due WHERE o.id = due.id "
        "RETURNING o.id, o.payment_id, o.event_type, o.object_key, o.body, o.attempts, due.next_attempt_at, "
        "o.next_attempt_at",
        {"payment_id": payment_id, "limit": limit, "lease": lease_s},
    )


@contextmanager
def _leased_batch(db: Database, rows: list[tuple[Any, ...]]) -> Iterator[PostgresOutboxBatch]:
    """The rows ``_lease_outbox`` returned as a batch; when the block ends its deliveries are marked and its
    unmarked rows given back."""
    rows = sorted(rows, key=lambda r: (r[6], r[0]))  # RETURNING keeps no order: oldest due first, as claimed
    events = [
        OutboxEvent(id=r[0], payment_id=r[1], event_type=r[2], object_key=r[3], body=r[4], attempts=r[5]) for r in rows
    ]
    batch = PostgresOutboxBatch(db, events, {r[0]: r[6] for r in rows}, rows[0][7] if rows else None)
    try:
        yield batch
    except BaseException:
        if rows:
            # Best effort: if the database is gone now, the lease's end gives them back instead (and the puts
            # not marked are made again, each finding its object).
            with suppress(StoreUnavailable):
                batch.release()
        raise
    if rows:
        batch.release()  # a database gone now is the run's error (StoreUnavailable), as for any mark


class PostgresLeasedOutbox:
    """What ``PostgresTransaction.lease_outbox`` sent: its rows are read once the transaction committed."""

    def __init__(self, db: Database, sent: psycopg.Cursor[Any]) -> None:
        self._db = db
        self._sent = sent

    def batch(self) -> AbstractContextManager[PostgresOutboxBatch]:
        """The leased rows as a batch (the pipeline's results are in the cursor after COMMIT)."""
        return _leased_batch(self._db, self._sent.fetchall())


@contextmanager
def in_transaction(db: Database) -> Iterator[psycopg.Connection[Any]]:
    """One transaction on the database's connection, as one pipeline: BEGIN and the statements are sent
    without waiting until a row is read, COMMIT with the last of them; driver failures mapped to the store's
    errors. An exception in the block, or a statement the server refused, rolls it back."""
    conn = db.connection()
    with _store_errors(db, conn):
        try:
            with conn.pipeline():
                conn.execute("BEGIN")
                yield conn
                conn.execute("COMMIT")
        except BaseException:
            if not conn.broken and conn.info.transaction_status != pq.TransactionStatus.IDLE:
                with suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
            raise


@contextmanager
def in_statement(db: Database) -> Iterator[psycopg.Connection[Any]]:
    """A statement on its own (autocommit: the server runs it as its own transaction, one round trip), with
    driver failures mapped to the store's errors."""
    conn = db.connection()
    with _store_errors(db, conn):
        yield conn


@contextmanager
def _store_errors(db: Database, conn: psycopg.Connection[Any]) -> Iterator[None]:
    try:
        yield
    except pg_errors.LockNotAvailable:
        raise IdempotencyKeyBusy("lock timeout") from None
    except pg_errors.UniqueViolation as exc:
        if exc.diag.constraint_name == "idempotency_keys_pkey":
            raise IdempotencyKeyTaken() from None
        raise
    except psycopg.OperationalError as exc:
        if conn.closed or conn.broken:
            db.discard()
        raise StoreUnavailable(f"database error: {type(exc).__name__}") from None


class PostgresStore:
    """PaymentStore on a Database connection."""

    def __init__(self, database: Database, *, lock_timeout_ms: int = ROLE_LOCK_TIMEOUT_MS) -> None:
        self._db = database
        self._lock_timeout_ms = lock_timeout_ms

    @property
    def database(self) -> Database:
        """The connection this store works on."""
        return self._db

    def _transaction(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return in_transaction(self._db)

    @contextmanager
    def transaction(self) -> Iterator[PostgresTransaction]:
        """One transaction; rolled back if the block raises."""
        with self._transaction() as conn:
            tx = PostgresTransaction(self._db, conn, self._lock_timeout_ms)
            yield tx
            tx.flush()

    def _statement(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return in_statement(self._db)

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        """One read statement on its own (no BEGIN, no COMMIT), its rows as column-name dicts."""
        with self._statement() as conn:
            return conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()

    def get_payment(self, payment_id: str, merchant_id: str) -> Payment | None:
        """Read one payment of this merchant (another merchant's is not found, exactly as an unknown id)."""
        with self._statement() as conn:
            return (
                conn.cursor(row_factory=_AS_PAYMENT)
                .execute(
                    f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE id = %s AND merchant_id = %s",
                    (payment_id, merchant_id),
                )
                .fetchone()
            )

    def get_payment_with_attempts(
        self, payment_id: str, merchant_id: str
    ) -> tuple[Payment, list[PaymentAttempt]] | None:
        """The payment and its attempts: two reads sent together, one round trip."""
        with self._statement() as conn, conn.pipeline():
            found = conn.cursor(row_factory=_AS_PAYMENT).execute(
                f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE id = %s AND merchant_id = %s",
                (payment_id, merchant_id),
            )
            attempts = conn.cursor(row_factory=_AS_ATTEMPT).execute(
                f"SELECT {_ATTEMPT_COLUMNS} FROM payment_attempts WHERE payment_id = %s AND merchant_id = %s "
                "ORDER BY created_at, id",
                (payment_id, merchant_id),
            )
            payment = found.fetchone()
            return None if payment is None else (payment, attempts.fetchall())

    def last_attempt(self, payment_id: str) -> PaymentAttempt | None:
        """The latest attempt of the payment."""
        with self._statement() as conn:
            return (
                conn.cursor(row_factory=_AS_ATTEMPT)
                .execute(
                    f"SELECT {_ATTEMPT_COLUMNS} FROM payment_attempts WHERE payment_id = %s "
                    "ORDER BY created_at DESC, id DESC LIMIT 1",
                    (payment_id,),
                )
                .fetchone()
            )

    def approved_connector(self, payment_id: str) -> str | None:
        """The connector of the payment's approved attempt."""
        rows = self._rows(
            "SELECT connector FROM payment_attempts WHERE payment_id = %s AND outcome = 'approved' LIMIT 1",
            (payment_id,),
        )
        return str(rows[0]["connector"]) if rows else None

    def merchant_connectors(self, merchant_id: str) -> list[MerchantConnector]:
        """The merchant's connectors, priority 1 first."""
        rows = self._rows(
            "SELECT merchant_id, connector, priority, endpoint, secret_name FROM merchant_connectors "
            "WHERE merchant_id = %s ORDER BY priority",
            (merchant_id,),
        )
        return [MerchantConnector(**row) for row in rows]

    def next_attempt(self, attempt_id: str, payment_id: str, connector: str) -> PaymentAttempt | None:
        """One statement: the attempt, and the reference the connector's earlier attempts remembered."""
        rows = self._rows(
            "INSERT INTO payment_attempts (id, payment_id, merchant_id, connector) "
            "SELECT %s, id, merchant_id, %s FROM payments WHERE id = %s AND status = 'processing' "
            "RETURNING created_at, (SELECT reference FROM payment_attempts WHERE payment_id = %s AND connector = %s "
            "AND reference IS NOT NULL) AS reference",
            (attempt_id, connector, payment_id, payment_id, connector),
        )
        if not rows:
            return None
        return PaymentAttempt(attempt_id, payment_id, connector, rows[0]["created_at"], rows[0]["reference"])

    def remember_reference(self, attempt: PaymentAttempt, reference: str) -> str:
        """The attempt's reference, unless another attempt at the connector kept one first (a unique index
        allows one per payment and connector): then that one."""
        with suppress(pg_errors.UniqueViolation):
            if self._rows(
                "UPDATE payment_attempts SET reference = %s WHERE id = %s AND reference IS NULL RETURNING 1",
                (reference, attempt.id),
            ):
                return reference
        rows = self._rows(
            "SELECT reference FROM payment_attempts WHERE payment_id = %s AND connector = %s AND reference IS NOT NULL",
            (attempt.payment_id, attempt.connector),
        )
        return str(rows[0]["reference"]) if rows else reference

    def get_refund(self, refund_id: str, merchant_id: str) -> Refund | None:
        """Read one refund of this merchant."""
        rows = self._rows(
            f"SELECT {_REFUND_COLUMNS} FROM refunds WHERE id = %s AND merchant_id = %s", (refund_id, merchant_id)
        )
        return Refund(**rows[0]) if rows else None

    def get_action(self, payment_id: str) -> PaymentAction | None:
        """The payment's waiting action, if any."""
        rows = self._rows(f"SELECT {_ACTION_COLUMNS} FROM payment_actions WHERE payment_id = %s", (payment_id,))
        return PaymentAction(**rows[0]) if rows else None

    def list_payments(self, merchant_id: str, page: PageRequest, *, status: str | None = None) -> Page[Payment]:
        """Keyset pagination on (created_at, id): a page is one index range scan, and a cursor is exact."""
        where, params = ["merchant_id = %s"], [merchant_id]
        if status is not None:
            where.append("status = %s")
            params.append(status)
        with self._statement() as conn:
            rows = keyset_page(
                conn,
                f"SELECT {_PAYMENT_COLUMNS} FROM payments",
                where,
                params,
                page,
                "created_at",
                rows_as=_AS_PAYMENT,
                cursor_sql="SELECT created_at, id FROM payments WHERE id = %s AND merchant_id = %s",
                cursor_scope=(merchant_id,),
            )
        return rows

    def list_refunds(self, merchant_id: str, payment_id: str, page: PageRequest) -> Page[Refund]:
        """The payment's refunds, keyset-paginated like payments."""
        with self._statement() as conn:
            rows = keyset_page(
                conn,
                f"SELECT {_REFUND_COLUMNS} FROM refunds",
                ["merchant_id = %s", "payment_id = %s"],
                [merchant_id, payment_id],
                page,
                "created_at",
                rows_as=_AS_REFUND,
                cursor_sql="SELECT created_at, id FROM refunds WHERE id = %s AND merchant_id = %s AND payment_id = %s",
                cursor_scope=(merchant_id, payment_id),
            )
        return rows

    def get_event(self, merchant_id: str, event_id: str) -> FeedEvent | None:
        """The merchant's event (another merchant's is None, as an unknown one)."""
        with self._statement() as conn:
            return (
                conn.cursor(row_factory=args_row(FeedEvent))
                .execute(
                    "SELECT event_id, body FROM transaction_log_outbox WHERE event_id = %s AND merchant_id = %s",
                    (event_id, merchant_id),
                )
                .fetchone()
            )

    def list_events(self, merchant_id: str, page: PageRequest) -> Page[FeedEvent]:
        """Events ordered by writing transaction, then id; only transactions older than every one still
        running (migration 0007 says why), so a cursor walk never skips an event that commits late."""
        where = ["merchant_id = %s", "txid < pg_snapshot_xmin(pg_current_snapshot())"]
        with self._statement() as conn:
            rows = keyset_page(
                conn,
                "SELECT event_id, body FROM transaction_log_outbox",
                where,
                [merchant_id],
                page,
                "txid",
                rows_as=args_row(FeedEvent),
                cursor_sql="SELECT txid::text, id FROM transaction_log_outbox WHERE event_id = %s AND merchant_id = %s",
                cursor_scope=(merchant_id,),
                cursor_cast="::xid8",
            )
        return rows

    def due_actions(self, *, limit: int, older_than_s: float) -> list[PaymentAction]:
        """Waiting captures and cancels due for another try, oldest first."""
        rows = self._rows(
            f"SELECT {_ACTION_COLUMNS} FROM payment_actions WHERE next_resolution_at <= now() "
            "AND requested_at < now() - make_interval(secs => %s) ORDER BY next_resolution_at LIMIT %s",
            (older_than_s, limit),
        )
        return [PaymentAction(**row) for row in rows]

    def pending_refunds(self, *, limit: int, older_than_s: float) -> list[Refund]:
        """Pending refunds due for another try, oldest first (the partial index serves it)."""
        rows = self._rows(
            f"SELECT {_REFUND_COLUMNS} FROM refunds WHERE status = 'pending' AND next_resolution_at <= now() "
            "AND created_at < now() - make_interval(secs => %s) ORDER BY next_resolution_at LIMIT %s",
            (older_than_s, limit),
        )
        return [Refund(**row) for row in rows]

    def expired_authorizations(self, *, limit: int, older_than_s: float) -> list[Payment]:
        """Authorizations older than the limit with no capture or cancel waiting (the partial index serves it)."""
        rows = self._rows(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments p WHERE status = 'requires_capture' "
            "AND updated_at < now() - make_interval(secs => %s) "
            "AND NOT EXISTS (SELECT 1 FROM payment_actions a WHERE a.payment_id = p.id) "
            "ORDER BY updated_at LIMIT %s",
            (older_than_s, limit),
        )
        return [Payment(**row) for row in rows]

    def processing_payments(self, *, limit: int, older_than_s: float) -> list[Payment]:
        """Payments a crash or an outage left processing, due for another try (the partial index serves it)."""
        rows = self._rows(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE status = 'processing' "
            "AND next_resolution_at <= now() AND updated_at < now() - make_interval(secs => %s) "
            "ORDER BY next_resolution_at LIMIT %s",
            (older_than_s, limit),
        )
        return [Payment(**row) for row in rows]

    def keys_expiring_within(self, window_s: float) -> int:
        """Through migration 0017's function: the app role reads nothing else of api_keys."""
        rows = self._rows("SELECT api_keys_expiring_within(%s) AS expiring", (window_s,))
        return int(rows[0]["expiring"])

    def awaiting_authentication(self, *, limit: int) -> list[Payment]:
        """Payments waiting for their cardholder, due (the partial index of migration 0016 serves it)."""
        rows = self._rows(
            f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE status = 'requires_action' "
            "AND next_resolution_at <= now() ORDER BY next_resolution_at LIMIT %s",
            (limit,),
        )
        return [Payment(**row) for row in rows]

    @contextmanager
    def claim_outbox(
        self, *, limit: int, lease_s: float, payment_id: str | None = None
    ) -> Iterator[PostgresOutboxBatch]:
        """Lease up to ``limit`` due rows (skipping rows another deliverer is leasing this instant) in one
        short transaction; the batch's unmarked rows are given back when the block ends."""
        with self._statement() as conn:
            rows = conn.execute(*_lease_outbox(limit=limit, lease_s=lease_s, payment_id=payment_id)).fetchall()
        with _leased_batch(self._db, rows) as batch:
            yield batch

    def outbox_health(self) -> OutboxHealth:
        """Counts and the oldest waiting event's age, in one statement."""
        with self._statement() as conn:
            row = conn.execute(OUTBOX_HEALTH_SQL).fetchone()
        assert row is not None
        return OutboxHealth(int(row[0]), int(row[1]), float(row[2]))

    def processing_health(self) -> ProcessingHealth:
        """Count and oldest age of everything waiting for the acquirer: processing payments, captures and
        cancels, pending refunds (partial indexes serve each part)."""
        with self._statement() as conn:
            row = conn.execute(
                "SELECT count(*), coalesce(extract(epoch FROM now() - min(since)), 0) FROM ("
                "SELECT created_at AS since FROM payments WHERE status = 'processing' "
                "UNION ALL SELECT requested_at FROM payment_actions "
                "UNION ALL SELECT created_at FROM refunds WHERE status = 'pending') AS waiting"
            ).fetchone()
        assert row is not None
        return ProcessingHealth(int(row[0]), float(row[1]))

    def purge_idempotency_keys(self, *, older_than_hours: int) -> int:
        """Delete keys older than the given age."""
        with self._statement() as conn:
            cursor = conn.execute(
                # Only answered keys: a key whose payment, capture, cancel or refund still waits for the acquirer
                # is what its client retries with, and deleting it would let that retry do the operation again.
                "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => %s) "
                "AND response_status IS NOT NULL",
                (older_than_hours,),
            )
            return cursor.rowcount


_KEY_COLUMNS = "id, merchant_id, mode, read_only, hint, created_at, revoked_at, expires_at, last_used_at, replaced_by"


class PostgresKeyStore:
    """KeyStore on a Database connection: the ``api_keys`` table (migration 0002)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def insert_key(self, key: ApiKey, secret_hash: bytes) -> None:
        """Store a new key and its hash."""
        with in_statement(self._db) as conn:
            conn.execute(
                f"INSERT INTO api_keys ({_KEY_COLUMNS}, secret_hash) VALUES ({', '.join(['%s'] * 11)})",
                (
                    key.id,
                    key.merchant_id,
                    key.mode,
                    key.read_only,
                    key.hint,
                    key.created_at,
                    key.revoked_at,
                    key.expires_at,
                    key.last_used_at,
                    key.replaced_by,
                    secret_hash,
                ),
            )

    def find_key(self, secret_hash: bytes) -> tuple[ApiKey, bytes] | None:
        """The key with this hash, and the stored hash."""
        with in_statement(self._db) as conn:
            row = (
                conn.cursor(row_factory=dict_row)
                .execute(f"SELECT {_KEY_COLUMNS}, secret_hash FROM api_keys WHERE secret_hash = %s", (secret_hash,))
                .fetchone()
            )
        if row is None:
            return None
        stored = bytes(row.pop("secret_hash"))
        return ApiKey(**row), stored

    def list_keys(self, merchant_id: str | None) -> list[ApiKey]:
        """Keys newest first."""
        where, params = ("WHERE merchant_id = %s", (merchant_id,)) if merchant_id else ("", ())
        with in_statement(self._db) as conn:
            rows = (
                conn.cursor(row_factory=dict_row)
                .execute(f"SELECT {_KEY_COLUMNS} FROM api_keys {where} ORDER BY created_at DESC, id", params)
                .fetchall()
            )
        return [ApiKey(**row) for row in rows]

    def revoke_key(self, key_id: str, at: datetime) -> ApiKey | None:
        """Revoke once; the key as stored."""
        with in_transaction(self._db) as conn:
            conn.execute("UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL", (at, key_id))
            return self._key(conn, key_id)

    def get_key(self, key_id: str) -> ApiKey | None:
        """The key with this id."""
        with in_statement(self._db) as conn:
            return self._key(conn, key_id)

    def roll_key(self, key_id: str, replaced_by: str, expires_at: datetime) -> ApiKey | None:
        """One statement: only a key neither revoked nor rolled is rolled."""
        with in_statement(self._db) as conn:
            row = (
                conn.cursor(row_factory=dict_row)
                .execute(
                    f"UPDATE api_keys SET replaced_by = %s, expires_at = %s WHERE id = %s AND revoked_at IS NULL "
                    f"AND replaced_by IS NULL RETURNING {_KEY_COLUMNS}",
                    (replaced_by, expires_at, key_id),
                )
                .fetchone()
            )
        return None if row is None else ApiKey(**row)

    def note_key_use(self, key_id: str, hour: datetime) -> None:
        """The authorizer's one write (its role may update this column alone). Any refusal of it is
        StoreUnavailable: it must never turn into an authorizer failure."""
        with in_statement(self._db) as conn:
            try:
                conn.execute(
                    "UPDATE api_keys SET last_used_at = %s WHERE id = %s "
                    "AND (last_used_at IS NULL OR last_used_at < %s)",
                    (hour, key_id, hour),
                )
            except psycopg.Error as exc:
                if isinstance(exc, psycopg.OperationalError):
                    raise  # the connection's own trouble: _store_errors maps it (and drops a broken connection)
                raise StoreUnavailable(f"the hour of use was refused: {type(exc).__name__}") from None

    def note_failed_authentication(self, address: str, window_s: int) -> tuple[int, datetime]:
        """Through migration 0019's function, the authorizer's role's only access to the counts. Any refusal
        of it is StoreUnavailable, as for the hour of use: it must never turn into an authorizer failure."""
        with in_statement(self._db) as conn:
            try:
                row = conn.execute(
                    "SELECT failures, window_ends FROM note_failed_authentication(%s::inet, %s)", (address, window_s)
                ).fetchone()
            except psycopg.Error as exc:
                if isinstance(exc, psycopg.OperationalError):
                    raise
                raise StoreUnavailable(f"the failed authentication was not counted: {type(exc).__name__}") from None
        if row is None:
            raise StoreUnavailable("the failed authentication was not counted: no row")
        return int(row[0]), row[1]

    @staticmethod
    def _key(conn: Any, key_id: str) -> ApiKey | None:
        row = (
            conn.cursor(row_factory=dict_row)
            .execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = %s", (key_id,))
            .fetchone()
        )
        return None if row is None else ApiKey(**row)
