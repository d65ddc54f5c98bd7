"""The store's queued writes against the real PostgreSQL server: a transaction's writes that nobody reads go to the
server as one statement when it next reads or ends, the events in order, a payment's event number in its own row's
write, a transaction of thousands of writes in statements of a bounded size; and a batch's deliveries marked in one
statement (store/postgres.py)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import pq

from payment_processor.payment import Payment, new_payment_id
from payment_processor.states import PaymentStatus
from payment_processor.store.postgres import MAX_QUEUED_WRITES
from payment_processor.txlog import OutboxDelivery, payment_event
from tests.conftest import MERCHANT, Services
from tests.fakes.memory_sink import MemorySink
from tests.functional.test_outbox_delivery import queue
from tests.functional.test_postgres_flow import build_service

pytestmark = pytest.mark.functional


def _payment(status: PaymentStatus = PaymentStatus.SUCCEEDED) -> Payment:
    return Payment(
        id=new_payment_id(),
        merchant_id=MERCHANT,
        amount=100,
        currency="EUR",
        status=status,
        payment_method="tok_visa",
        created_at=datetime.now(UTC),
        authorization_code="A1",
        amount_captured=100 if status == PaymentStatus.SUCCEEDED else 0,
    )


@contextmanager
def traced(conn: psycopg.Connection[Any]) -> Iterator[list[tuple[str, str]]]:
    """What the client sent on ``conn`` in the block, from libpq's protocol trace: each message's type and, for a
    Parse or a simple Query, its statement."""
    sent: list[tuple[str, str]] = []
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield sent
        finally:
            conn.pgconn.untrace()
            trace.seek(0)
            for line in trace:
                fields = line.rstrip("\n").split("\t")
                if fields[0] == "F":
                    # Parse: its name, then the query text in double quotes; Query: the text.
                    text = fields[3].split('"')[3] if fields[2] == "Parse" else " ".join(fields[3:])
                    sent.append((fields[2], text))


@contextmanager
def statements(conn: psycopg.Connection[Any]) -> Iterator[list[str]]:
    """The statements sent on ``conn`` in the block."""
    listed: list[str] = []
    with traced(conn) as sent:
        yield listed
    listed.extend(text for kind, text in sent if kind in ("Parse", "Query"))


def waits(sent: list[tuple[str, str]]) -> int:
    """The times the client waited for the server (a simple Query, or a Sync or Flush ending what it sent; a Sync
    right after a Flush is the same wait), as bench/processor_bench.py counts round trips."""
    kinds = [kind for kind, _ in sent]
    wait = [kind in ("Query", "Sync", "Flush") for kind in kinds]
    return sum(1 for i, w in enumerate(wait) if w and not (i and wait[i - 1] and kinds[i] != "Query"))


def test_a_state_change_its_event_and_the_fan_out_are_one_statement_with_the_event_number_in_the_row(
    clean: Services,
) -> None:
    service, database = build_service(clean.settings())
    store = service._store
    try:
        held = _payment(PaymentStatus.REQUIRES_CAPTURE)
        with store.transaction() as tx:
            tx.insert_payment(held)
            tx.add_event(payment_event(held, tx.next_event_sequence(held.id)))
        captured = replace(held, status=PaymentStatus.SUCCEEDED, amount_captured=100)
        with statements(database.connection()) as sent, store.transaction() as tx:
            locked = tx.lock_payment(held.id)
            assert locked is not None
            tx.update_payment(captured, from_status=PaymentStatus.REQUIRES_CAPTURE)
            tx.add_event(payment_event(captured, tx.next_event_sequence(held.id)))
    finally:
        database.close()
    writes = [s for s in sent if not s.startswith(("BEGIN", "COMMIT", "SELECT"))]
    assert len(writes) == 1, sent
    (combined,) = writes
    assert "UPDATE payments" in combined and "INSERT INTO transaction_log_outbox" in combined
    assert "INSERT INTO webhook_deliveries" in combined
    assert "expect_one_row" in combined, "the state change still says it must change one row"
    assert combined.count("UPDATE payments") == 1, "the event number is written by the status change's own write"
    with clean.admin() as conn:
        row = conn.execute("SELECT status, event_sequence FROM payments WHERE id = %s", (held.id,)).fetchone()
    assert row == ("succeeded", 2)


def test_a_transaction_of_thousands_of_writes_goes_in_statements_of_a_bounded_size(clean: Services) -> None:
    # 3,000 payments with their events: one statement of them all would pass PostgreSQL's 65,535 parameters.
    service, database = build_service(clean.settings())
    payments = [_payment() for _ in range(3000)]
    try:
        with statements(database.connection()) as sent, service._store.transaction() as tx:
            for payment in payments:
                tx.insert_payment(payment)
                tx.add_event(payment_event(payment, tx.next_event_sequence(payment.id)))
    finally:
        database.close()
    combined = [s for s in sent if s.startswith("WITH")]
    assert len(combined) >= 2 * len(payments) // MAX_QUEUED_WRITES
    assert max(s.count(" AS (") for s in combined) <= MAX_QUEUED_WRITES + 2  # its writes, their events' two
    with clean.admin() as conn:
        rows = conn.execute(
            "SELECT p.id, p.event_sequence, o.event_id FROM transaction_log_outbox o JOIN payments p "
            "ON p.id = o.payment_id ORDER BY o.id"
        ).fetchall()
    assert [r[0] for r in rows] == [p.id for p in payments], "one event each, in the order they were taken"
    assert {r[1] for r in rows} == {1} and all(r[2] == f"{r[0]}:0001" for r in rows)


def test_the_events_of_one_statement_keep_their_order_in_the_outbox_and_the_webhook_deliveries(
    clean: Services,
) -> None:
    service, database = build_service(clean.settings())
    payment = _payment()
    try:
        with clean.admin() as conn:
            conn.execute(
                "INSERT INTO webhook_endpoints (id, merchant_id, url, enabled_events, status, created_at, updated_at, "
                "secret_sealed) VALUES ('we_' || repeat('a', 26), %s, 'https://example.com/hook', ARRAY['*'], "
                "'enabled', now(), now(), '\\x00')",
                (MERCHANT,),
            )
        with service._store.transaction() as tx:
            tx.insert_payment(payment)
            taken = [payment_event(payment, tx.next_event_sequence(payment.id)) for _ in range(8)]
            for event in taken:
                tx.add_event(event)
    finally:
        database.close()
    with clean.admin() as conn:
        logged = [r[0] for r in conn.execute("SELECT event_id FROM transaction_log_outbox ORDER BY id").fetchall()]
        owed = [r[0] for r in conn.execute("SELECT event_id FROM webhook_deliveries ORDER BY id").fetchall()]
        sequence = conn.execute("SELECT event_sequence FROM payments WHERE id = %s", (payment.id,)).fetchone()
    assert logged == owed == [e.event_id for e in taken] == [f"{payment.id}:{n:04d}" for n in range(1, 9)]
    assert sequence == (8,)


def _deliver(clean: Services, count: int) -> tuple[Any, list[str]]:
    """``count`` events queued, then delivered by one run; its report and the statements it sent."""
    queue(clean, count)
    service, database = build_service(clean.settings())
    try:
        with statements(database.connection()) as sent:
            report = OutboxDelivery(service._store, MemorySink()).deliver()
    finally:
        database.close()
    return report, sent


def test_a_new_keys_claim_goes_with_the_record_and_costs_no_wait_of_its_own(clean: Services) -> None:
    from payment_processor.validation import parse_payment_request
    from tests.support import payment_body

    service, database = build_service(clean.settings())
    try:
        with traced(database.connection()) as sent:
            first = service.create_payment(MERCHANT, parse_payment_request(payment_body()), "with-the-record")
        with traced(database.connection()) as again:
            replayed = service.create_payment(MERCHANT, parse_payment_request(payment_body()), "with-the-record")
    finally:
        database.close()
    assert first.response.status == 201 and not first.replayed
    assert replayed.replayed and replayed.response == first.response
    commit = [text for _, text in sent].index("COMMIT")
    recording = sent[: [kind for kind, _ in sent].index("Sync", commit) + 1]  # up to its COMMIT's Sync
    claims = [text for kind, text in recording if "INSERT INTO idempotency_keys" in text]
    assert len(claims) == 1 and "ON CONFLICT" not in claims[0], "claimed as new, in the pipeline"
    assert waits(recording) == 1, f"claim and record sent and committed at once: {recording}"
    # A retry's new-key claim fails (its transaction keeps nothing), and the key is read as before: one wait more.
    assert any("ON CONFLICT DO NOTHING" in text for _, text in again)
    with clean.admin() as conn:
        counted = conn.execute("SELECT count(*) FROM payments").fetchone()
    assert counted == (1,)


def test_a_batch_of_deliveries_is_marked_in_one_statement(clean: Services) -> None:
    report, sent = _deliver(clean, 7)
    assert report.delivered == 7 and report.error is None
    marks = [s for s in sent if "SET delivered_at" in s]
    assert len(marks) == 1, sent
    with clean.admin() as conn:
        rows = conn.execute("SELECT delivered_at IS NOT NULL, attempts FROM transaction_log_outbox").fetchall()
    assert rows == [(True, 1)] * 7


def test_a_database_lost_before_the_marks_is_the_runs_error_and_the_events_are_put_again_once(
    clean: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The puts are made; then the server drops the deliverer's connection and refuses it a new one, so the marks
    # cannot be written: the run says so, and the next run finds each object there (412) and marks it, so nothing
    # is lost and nothing is written twice.
    from payment_processor.store import postgres

    queue(clean, 3)
    service, database = build_service(clean.settings())
    role = database.connection().info.user
    sink = MemorySink()
    delivery = OutboxDelivery(service._store, sink, lease_s=0)
    real = postgres.PostgresOutboxBatch._write_delivered

    def database_gone(self: Any) -> None:
        # Only the deliverer's own backend: other sessions of the role (another test's cached processor) live on.
        deliverer = database.connection().info.backend_pid
        with clean.admin() as conn:
            conn.execute(f'ALTER ROLE "{role}" NOLOGIN')
            conn.execute("SELECT pg_terminate_backend(%s)", (deliverer,))
        real(self)

    monkeypatch.setattr(postgres.PostgresOutboxBatch, "_write_delivered", database_gone)
    try:
        first = delivery.deliver()
    finally:
        with clean.admin() as conn:
            conn.execute(f'ALTER ROLE "{role}" LOGIN')
    monkeypatch.setattr(postgres.PostgresOutboxBatch, "_write_delivered", real)
    second = delivery.deliver()
    database.close()
    assert first.delivered == 3 and first.error is not None and "database" in first.error
    assert (second.delivered, second.already_present, second.error) == (0, 3, None)
    assert len(sink.objects) == 3
    with clean.admin() as conn:
        rows = conn.execute("SELECT delivered_at IS NOT NULL, attempts FROM transaction_log_outbox").fetchall()
    assert rows == [(True, 1)] * 3
