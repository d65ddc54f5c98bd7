"""A delivery's life over three days of an injected clock: the schedule followed, Retry-After honoured, 410
and three days of failures disabling the endpoint, a success clearing its failing streak, and the whole
transition table with every forbidden move."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from payment_processor.states import ForbiddenTransition
from payment_processor.webhooks.deliveries import (
    DELIVERY_TRANSITIONS,
    DISABLED_FAILING,
    DISABLED_GONE,
    Delivery,
    DeliveryStatus,
    abandoned,
    after_attempt,
    moved,
    subscribed,
)
from payment_processor.webhooks.schedule import RETRY_DELAYS_S
from payment_processor.webhooks.sender import Attempt

START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
OK = Attempt(200, None, 12)
DOWN = Attempt(None, "connection_failed", 3)
ERROR = Attempt(500, None, 40)


def no_jitter(low: float, high: float) -> float:
    return 0.0


def test_a_receiver_down_for_good_gets_every_step_of_the_schedule_then_nothing() -> None:
    delivery, at, failing = Delivery("pay_x:0002", "we_1"), START, None
    attempts = []
    while not delivery.is_final:
        after = after_attempt(delivery, DOWN, at=at, failing_since=failing, uniform=no_jitter)
        attempts.append(after.record)
        delivery, failing = after.delivery, after.failing_since
        at = after.record.next_attempt_at or at
    gaps = [(b.attempted_at - a.attempted_at).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert gaps == list(RETRY_DELAYS_S[: len(gaps)])
    assert delivery.status == DeliveryStatus.ABANDONED and attempts[-1].next_attempt_at is None
    # The endpoint failed for three days before the schedule ran out: it is disabled on the attempt that
    # crosses three days, and the merchant is told.
    assert after.disable == DISABLED_FAILING
    assert (attempts[-1].attempted_at - START) >= timedelta(days=3)
    assert [r.attempt for r in attempts] == list(range(1, len(attempts) + 1))


def test_a_receiver_that_comes_back_gets_the_event_and_its_failing_streak_ends() -> None:
    first = after_attempt(Delivery("e", "we_1"), ERROR, at=START, failing_since=None, uniform=no_jitter)
    assert first.delivery.status == DeliveryStatus.RETRYING and first.failing_since == START
    assert first.record.next_attempt_at == START + timedelta(seconds=5)
    second = after_attempt(first.delivery, OK, at=START + timedelta(seconds=5), failing_since=START)
    assert second.delivery.status == DeliveryStatus.SUCCEEDED and second.failing_since is None
    assert second.disable is None and second.record.next_attempt_at is None and second.record.attempt == 2


def test_410_gone_disables_the_endpoint_at_once() -> None:
    after = after_attempt(Delivery("e", "we_1"), Attempt(410, None, 5), at=START, failing_since=None)
    assert (after.delivery.status, after.disable) == (DeliveryStatus.ABANDONED, DISABLED_GONE)


def test_three_days_of_failures_across_deliveries_disable_the_endpoint() -> None:
    """The streak belongs to the endpoint: a new event's first failure three days into it disables it."""
    fresh = Delivery("pay_y:0001", "we_1")
    late = START + timedelta(days=3)
    after = after_attempt(fresh, DOWN, at=late, failing_since=START)
    assert (after.delivery.status, after.disable) == (DeliveryStatus.ABANDONED, DISABLED_FAILING)
    early = after_attempt(fresh, DOWN, at=late - timedelta(seconds=1), failing_since=START)
    assert (early.delivery.status, early.disable) == (DeliveryStatus.RETRYING, None)


def test_retry_after_moves_the_next_attempt_up_to_the_next_step() -> None:
    asked = Attempt(503, None, 5, retry_after_s=120)
    after = after_attempt(Delivery("e", "we_1"), asked, at=START, failing_since=None, uniform=no_jitter)
    assert after.record.next_attempt_at == START + timedelta(seconds=120)


def test_the_record_is_what_the_deliveries_list_shows() -> None:
    after = after_attempt(
        Delivery("pay_x:0002", "we_1"), Attempt(None, "timeout", 10000), at=START, failing_since=None, uniform=no_jitter
    )
    assert after.record.resource() == {
        "event_id": "pay_x:0002",
        "attempt": 1,
        "attempted_at": "2026-12-06T12:00:00.000000Z",
        "status_code": None,
        "error": "timeout",
        "latency_ms": 10000,
        "next_attempt_at": "2026-12-06T12:00:05.000000Z",
    }


def test_every_move_outside_the_table_is_refused() -> None:
    statuses = list(DeliveryStatus)
    allowed = set(DELIVERY_TRANSITIONS)
    for source, target in itertools.product(statuses, statuses):
        delivery = Delivery("e", "we_1", status=source)
        if source == target and source not in (DeliveryStatus.SUCCEEDED, DeliveryStatus.ABANDONED):
            continue  # staying put (another retry) is not a move
        if (source, target) in allowed:
            continue
        with pytest.raises(ForbiddenTransition):
            moved(delivery, target)
    for source, target in allowed:
        assert moved(Delivery("e", "we_1", status=source), target).status == target
    for final in (DeliveryStatus.SUCCEEDED, DeliveryStatus.ABANDONED):
        with pytest.raises(ForbiddenTransition, match="final"):
            after_attempt(Delivery("e", "we_1", status=final), OK, at=START, failing_since=None)
    assert abandoned(Delivery("e", "we_1", status=DeliveryStatus.RETRYING)).status == DeliveryStatus.ABANDONED


@pytest.mark.parametrize(
    ("enabled", "event_type", "gets"),
    [
        (["*"], "payment.succeeded", True),
        (["payment.succeeded"], "payment.succeeded", True),
        (["payment.succeeded", "refund.failed"], "refund.failed", True),
        (["payment.succeeded"], "payment.failed", False),
        ([], "payment.succeeded", False),
        (["payment.*"], "payment.succeeded", False),  # no patterns: "*" alone means every event
    ],
)
def test_an_endpoint_gets_the_events_it_enabled(enabled: list[str], event_type: str, gets: bool) -> None:
    assert subscribed(enabled, event_type) is gets
