"""A refund's locks against the real PostgreSQL server: its record locks the payment and sums the pending refunds in
one wait, the sum counting what the lock's previous holder recorded; its settlement locks the payment and the refund
in one wait. With the claim and the commits, a refund waits five times, as the bench's floor does."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from payment_processor.payment import Payment, Refund, new_payment_id, new_refund_id
from payment_processor.states import PaymentStatus, RefundStatus
from payment_processor.validation import parse_payment_request
from tests.conftest import MERCHANT, Services
from tests.functional.test_postgres_flow import build_service
from tests.functional.test_queued_writes import traced, waits
from tests.support import payment_body

pytestmark = pytest.mark.functional


def _captured(amount: int = 100) -> Payment:
    return Payment(
        id=new_payment_id(),
        merchant_id=MERCHANT,
        amount=amount,
        currency="EUR",
        status=PaymentStatus.SUCCEEDED,
        payment_method="tok_visa",
        created_at=datetime.now(UTC),
        authorization_code="A1",
        amount_captured=amount,
    )


def _pending_refund(payment: Payment, amount: int) -> Refund:
    now = datetime.now(UTC)
    return Refund(
        id=new_refund_id(),
        payment_id=payment.id,
        merchant_id=payment.merchant_id,
        amount=amount,
        currency=payment.currency,
        status=RefundStatus.PENDING,
        created_at=now,
        updated_at=now,
    )


def _wait_until_blocked(clean: Services, backend_pid: int, timeout_s: float = 30) -> None:
    """Until the server reports ``backend_pid`` waiting for a lock (a condition, not a guess at a duration)."""
    deadline = time.monotonic() + timeout_s
    with clean.admin() as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (backend_pid,)).fetchone()
            if row == ("Lock",):
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {backend_pid} never waited for a lock")


def test_a_refund_waits_five_times_its_locks_each_sent_with_what_they_read(clean: Services) -> None:
    service, database = build_service(clean.settings())
    try:
        paid = service.create_payment(MERCHANT, parse_payment_request(payment_body(amount=1000)), "paid")
        assert paid.response.status == 201 and paid.payment_id is not None
        with traced(database.connection()) as sent:
            refunded = service.refund_payment(MERCHANT, paid.payment_id, 300, None, "refund-once")
    finally:
        database.close()
    assert refunded.response.status == 201, refunded.response
    # The claim, the payment's lock and the pending sum: one wait; the record and COMMIT: one; the settlement's two
    # locks: one; its writes, the lease and COMMIT: one; the marks of its events after their puts: one.
    assert waits(sent) == 5, sent
    texts = [text for _, text in sent]
    first_wait = texts[: [kind for kind, _ in sent].index("Flush")]
    assert any("FOR NO KEY UPDATE" in t for t in first_wait) and any("sum(amount)" in t for t in first_wait)


def test_the_pending_sum_waits_for_the_lock_and_counts_the_refund_its_holder_recorded(clean: Services) -> None:
    holder_service, holder_db = build_service(clean.settings())
    waiter_service, waiter_db = build_service(clean.settings())
    payment = _captured(100)
    seen: dict[str, Any] = {}
    try:
        with holder_service._store.transaction() as tx:
            tx.insert_payment(payment)

        def lock_and_sum() -> None:
            try:
                with waiter_service._store.transaction() as tx:
                    seen["locked"], seen["pending"] = tx.lock_payment_and_pending_refunds(payment.id, MERCHANT)
            except Exception as exc:  # handed to the test's thread, which fails on it
                seen["error"] = exc

        waiter_pid = waiter_db.connection().info.backend_pid
        with holder_service._store.transaction() as tx:
            assert tx.lock_payment(payment.id) is not None
            tx.insert_refund(_pending_refund(payment, 60))
            waiter = threading.Thread(target=lock_and_sum)
            waiter.start()
            _wait_until_blocked(clean, waiter_pid)
        waiter.join(timeout=30)
        assert "error" not in seen, seen.get("error")
        assert seen["locked"] is not None and seen["pending"] == 60, "the sum's snapshot is taken after the lock"

        # Why the sum is a statement of its own: as a subquery of the locking statement it would take the snapshot
        # from before the wait, and miss the refund the lock's holder recorded (40 more of 100 would look free).
        with holder_service._store.transaction() as tx:
            assert tx.lock_payment(payment.id) is not None
            tx.insert_refund(_pending_refund(payment, 30))
            one_statement: dict[str, Any] = {}

            def subquery() -> None:
                with clean.admin() as conn:
                    one_statement["pid"] = conn.info.backend_pid
                    one_statement["row"] = conn.execute(
                        "SELECT (SELECT coalesce(sum(amount), 0) FROM refunds r WHERE r.payment_id = p.id "
                        "AND r.status = 'pending') FROM payments p WHERE p.id = %s FOR NO KEY UPDATE",
                        (payment.id,),
                    ).fetchone()

            racer = threading.Thread(target=subquery)
            racer.start()
            deadline = time.monotonic() + 30
            while "pid" not in one_statement and time.monotonic() < deadline:
                time.sleep(0.01)
            _wait_until_blocked(clean, one_statement["pid"])
        racer.join(timeout=30)
        assert one_statement["row"] == (60,), "one statement misses the 30 its lock's holder recorded"
    finally:
        holder_db.close()
        waiter_db.close()
