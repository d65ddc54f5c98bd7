"""The transition table as the database enforces it (migrations 0008 and 0016), walked pair by pair against the one in
payment_processor.states: every listed move goes through, every other one is refused by the trigger (not by a
CHECK that happens to catch it), whoever writes it, the superuser included."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from payment_processor.payment import new_payment_id, new_refund_id
from payment_processor.states import PAYMENT_TRANSITIONS, REFUND_TRANSITIONS, PaymentStatus, RefundStatus
from tests.conftest import Services

pytestmark = pytest.mark.functional

AMOUNT = 1000
#: What each payment status must carry to pass the table's CHECK constraints; every other state column is reset.
_PAYMENT_COLUMNS: dict[PaymentStatus, dict[str, Any]] = {
    PaymentStatus.PROCESSING: {},
    PaymentStatus.REQUIRES_ACTION: {"next_action": Jsonb({"type": "use_stripe_sdk"})},
    PaymentStatus.REQUIRES_CAPTURE: {"authorization_code": "A1B2C3"},
    PaymentStatus.SUCCEEDED: {"authorization_code": "A1B2C3", "amount_captured": AMOUNT},
    PaymentStatus.DECLINED: {"decline_code": "generic_decline"},
    PaymentStatus.FAILED: {"failure_code": "acquirer_unavailable"},
    PaymentStatus.CANCELED: {"authorization_code": "A1B2C3", "cancellation_reason": "abandoned"},
    PaymentStatus.REFUNDED: {"authorization_code": "A1B2C3", "amount_captured": AMOUNT, "amount_refunded": AMOUNT},
}
_RESET = {
    "authorization_code": None,
    "decline_code": None,
    "failure_code": None,
    "cancellation_reason": None,
    "amount_captured": 0,
    "amount_refunded": 0,
    "next_action": None,
}


def _payment_state(status: PaymentStatus) -> dict[str, Any]:
    return {**_RESET, **_PAYMENT_COLUMNS[status], "status": str(status)}


def _insert_payment(conn: psycopg.Connection[Any], status: PaymentStatus) -> str:
    payment_id, now = new_payment_id(), datetime.now(UTC)
    state = _payment_state(status)
    columns = ["id", "merchant_id", "amount", "currency", "payment_method", "created_at", "updated_at", *state]
    conn.execute(
        f"INSERT INTO payments ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
        (payment_id, "merch_walk", AMOUNT, "EUR", "tok_visa", now, now, *state.values()),
    )
    return payment_id


def _refused_by_the_table(attempt: Any) -> bool:
    try:
        attempt()
    except psycopg.errors.CheckViolation as exc:
        if exc.diag.constraint_name in ("payments_status_transition", "refunds_status_transition"):
            return True
        raise AssertionError(f"refused by {exc.diag.constraint_name}, not by the transition table") from None
    return False


def test_every_payment_move_the_table_lists_and_no_other_is_allowed(clean: Services) -> None:
    allowed: set[tuple[PaymentStatus, PaymentStatus]] = set()
    with clean.admin() as conn:
        for source, target in itertools.permutations(PaymentStatus, 2):
            payment_id = _insert_payment(conn, source)
            state = _payment_state(target)
            sql = f"UPDATE payments SET {', '.join(f'{c} = %s' for c in state)} WHERE id = %s"

            def move(sql: str = sql, values: tuple[Any, ...] = (*state.values(), payment_id)) -> None:
                conn.execute(sql, values)

            if not _refused_by_the_table(move):
                allowed.add((source, target))
    assert allowed == set(PAYMENT_TRANSITIONS)
    assert len(allowed) == 12 and len(PaymentStatus) * (len(PaymentStatus) - 1) - len(allowed) == 44


def test_every_refund_move_the_table_lists_and_no_other_is_allowed(clean: Services) -> None:
    allowed: set[tuple[RefundStatus, RefundStatus]] = set()
    with clean.admin() as conn:
        payment_id = _insert_payment(conn, PaymentStatus.SUCCEEDED)
        for source, target in itertools.permutations(RefundStatus, 2):
            refund_id, now = new_refund_id(), datetime.now(UTC)
            conn.execute(
                "INSERT INTO refunds (id, payment_id, merchant_id, amount, currency, status, failure_code, "
                "created_at, updated_at) VALUES (%s, %s, 'merch_walk', 1, 'EUR', %s, %s, %s, %s)",
                (refund_id, payment_id, str(source), "refund_refused" if source == "failed" else None, now, now),
            )

            def move(target: RefundStatus = target, refund_id: str = refund_id) -> None:
                conn.execute(
                    "UPDATE refunds SET status = %s, failure_code = %s WHERE id = %s",
                    (str(target), "refund_refused" if target == "failed" else None, refund_id),
                )

            if not _refused_by_the_table(move):
                allowed.add((source, target))
    assert allowed == set(REFUND_TRANSITIONS)


def test_a_change_that_keeps_the_status_is_no_move(clean: Services) -> None:
    with clean.admin() as conn:
        payment_id = _insert_payment(conn, PaymentStatus.REFUNDED)
        conn.execute("UPDATE payments SET status = 'refunded', acquirer_attempts = 3 WHERE id = %s", (payment_id,))
        row = conn.execute("SELECT status, acquirer_attempts FROM payments WHERE id = %s", (payment_id,)).fetchone()
    assert row == ("refunded", 3)


def test_a_write_whose_precondition_no_longer_holds_aborts_its_whole_transaction(clean: Services) -> None:
    # The store sends a state change without waiting for its row count (one pipeline per transaction); the
    # server checks it (expect_one_row, migration 0010). Shown here: the row moved behind the store's back,
    # and nothing of the transaction (its event, the key's answer) is committed.
    from dataclasses import replace

    from payment_processor.txlog import payment_event
    from tests.functional.test_postgres_flow import build_service

    with clean.admin() as conn:
        payment_id = _insert_payment(conn, PaymentStatus.REQUIRES_CAPTURE)
    service, database = build_service(clean.settings())
    store = service.context.store
    try:
        payment = store.get_payment(payment_id, "merch_walk")
        assert payment is not None
        captured = replace(payment, status=PaymentStatus.SUCCEEDED, amount_captured=AMOUNT)
        with clean.admin() as conn:  # canceled meanwhile
            conn.execute(
                "UPDATE payments SET status = 'canceled', cancellation_reason = 'abandoned' WHERE id = %s",
                (payment_id,),
            )
        refused = pytest.raises(psycopg.errors.NoDataFound, match=f"payment {payment_id} is no longer requires_capture")
        with refused, store.transaction() as tx:
            tx.update_payment(captured, from_status=PaymentStatus.REQUIRES_CAPTURE)
            tx.add_event(payment_event(captured, tx.next_event_sequence(payment_id)))
    finally:
        database.close()
    with clean.admin() as conn:
        row = conn.execute("SELECT status, event_sequence FROM payments WHERE id = %s", (payment_id,)).fetchone()
        events = conn.execute(
            "SELECT count(*) FROM transaction_log_outbox WHERE payment_id = %s", (payment_id,)
        ).fetchone()
    assert row == ("canceled", 0) and events == (0,)
