"""The transition table in code (payment_processor.states): every listed move names the event it writes,
every other move is refused before anything is written. The database's copy is walked pair by pair in
tests/functional/test_transition_table.py."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from payment_processor.payment import Payment
from payment_processor.states import (
    PAYMENT_INITIAL,
    PAYMENT_TRANSITIONS,
    REFUND_INITIAL,
    REFUND_TRANSITIONS,
    SETTLED,
    ForbiddenTransition,
    PaymentStatus,
    RefundStatus,
    payment_transition,
    refund_transition,
)
from payment_processor.txlog import payment_event
from tests.fakes.memory_store import InMemoryStore


@pytest.mark.parametrize(("source", "target"), list(itertools.product(PaymentStatus, PaymentStatus)))
def test_each_payment_pair_is_a_listed_move_no_move_or_refused(source: PaymentStatus, target: PaymentStatus) -> None:
    if source == target:
        assert payment_transition(source, target) is None
    elif (source, target) in PAYMENT_TRANSITIONS:
        assert payment_transition(source, target) == PAYMENT_TRANSITIONS[source, target]
    else:
        with pytest.raises(ForbiddenTransition, match=f"a payment in {source} cannot become {target}"):
            payment_transition(source, target)


@pytest.mark.parametrize(("source", "target"), list(itertools.product(RefundStatus, RefundStatus)))
def test_each_refund_pair_is_a_listed_move_no_move_or_refused(source: RefundStatus, target: RefundStatus) -> None:
    if source == target:
        assert refund_transition(source, target) is None
    elif (source, target) in REFUND_TRANSITIONS:
        assert refund_transition(source, target) == REFUND_TRANSITIONS[source, target]
    else:
        with pytest.raises(ForbiddenTransition, match=f"a refund in {source} cannot become {target}"):
            refund_transition(source, target)


def test_the_tables_shape() -> None:
    # Every state is reachable from the initial one, final states lead nowhere, and each move's event is the
    # one the transaction log writes for the state reached.
    reached = {PAYMENT_INITIAL}
    for _ in PaymentStatus:
        reached |= {target for (source, target) in PAYMENT_TRANSITIONS if source in reached}
    assert reached == set(PaymentStatus)
    assert {source for source, _ in PAYMENT_TRANSITIONS} == {
        "processing",
        "requires_action",
        "requires_capture",
        "succeeded",
    }
    assert {source for source, _ in REFUND_TRANSITIONS} == {REFUND_INITIAL}
    assert set(PaymentStatus) - {PAYMENT_INITIAL} == SETTLED
    now = datetime.now(UTC)
    for (_, target), event in PAYMENT_TRANSITIONS.items():
        payment = Payment("pay_" + "a" * 26, "merch", 1, "EUR", target, "tok_visa", now)
        assert payment_event(payment).event_type == event
    for (_, refund_target), event in REFUND_TRANSITIONS.items():
        assert event == f"refund.{refund_target}"


def test_statuses_are_types_even_when_read_back_as_text() -> None:
    payment = Payment("pay_" + "a" * 26, "merch", 1, "EUR", "requires_capture", "tok_visa", datetime.now(UTC))  # type: ignore[arg-type]
    assert payment.status is PaymentStatus.REQUIRES_CAPTURE and payment.resource()["status"] == "requires_capture"
    with pytest.raises(ValueError, match="'paid' is not a valid PaymentStatus"):
        Payment("pay_" + "a" * 26, "merch", 1, "EUR", "paid", "tok_visa", datetime.now(UTC))  # type: ignore[arg-type]


def test_the_store_refuses_a_forbidden_move_before_writing() -> None:
    store = InMemoryStore()
    now = datetime.now(UTC)
    declined = Payment("pay_" + "b" * 26, "merch", 1, "EUR", PaymentStatus.PROCESSING, "tok_visa", now, updated_at=now)
    with store.transaction() as tx:
        tx.insert_payment(declined)
        tx.update_payment(
            replace(declined, status=PaymentStatus.DECLINED, decline_code="generic_decline"),
            from_status=PaymentStatus.PROCESSING,
        )
    captured = replace(
        declined, status=PaymentStatus.SUCCEEDED, authorization_code="A1", amount_captured=1, decline_code=None
    )
    refused = pytest.raises(ForbiddenTransition, match="a payment in declined cannot become succeeded")
    with refused, store.transaction() as tx:
        tx.update_payment(captured, from_status=PaymentStatus.DECLINED)
    assert store.get_payment(declined.id, "merch").status == "declined"  # type: ignore[union-attr]
