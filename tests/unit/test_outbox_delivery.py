"""Delivery that always makes progress, over the in-memory store: batches, per-event retry with backoff,
dead-lettering, stopping at a deadline, and a failing event never blocking the others."""

from __future__ import annotations

import pytest

from payment_processor.backoff import MAX_BACKOFF_S, backoff_s
from payment_processor.store.interfaces import OutboxEvent
from payment_processor.txlog import (
    BATCH_SIZE,
    FAILURES_BEFORE_STOPPING,
    MAX_ATTEMPTS,
    OutboxDelivery,
    SinkUnavailable,
)
from tests.fakes.memory_sink import MemorySink
from tests.fakes.memory_store import InMemoryStore


class PickySink(MemorySink):
    """Refuses the keys in ``refused`` (a bad event), takes the rest."""

    def __init__(self, refused: set[str]) -> None:
        super().__init__()
        self.refused = refused

    def put(self, key: str, body: str) -> bool:
        if key in self.refused:
            raise SinkUnavailable(f"refused {key}")
        return super().put(key, body)


def queue(store: InMemoryStore, count: int) -> list[str]:
    keys = [f"transactions/e{i:04d}.json" for i in range(count)]
    with store.transaction() as tx:
        for i, key in enumerate(keys):
            tx.add_event(OutboxEvent(payment_id=f"p{i}", event_type="payment.succeeded", object_key=key, body="{}"))
    return keys


def test_a_failing_event_does_not_block_the_ones_behind_it() -> None:
    store = InMemoryStore()
    keys = queue(store, 25)
    sink = PickySink({keys[0]})
    report = OutboxDelivery(store, sink).deliver(limit=100)
    assert (report.delivered, report.failed) == (24, 1)
    assert set(sink.objects) == set(keys[1:])
    assert [e.object_key for e in store.pending_events()] == [keys[0]]


def test_a_failed_event_waits_for_its_backoff_then_is_dead_lettered() -> None:
    store = InMemoryStore()
    (key,) = queue(store, 1)
    delivery = OutboxDelivery(store, PickySink({key}))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = delivery.deliver()
        assert report.failed == 1, attempt
        assert delivery.deliver().failed == 0, "not due again before its backoff"
        store.make_due()
    assert report.dead_lettered == 1
    health = store.outbox_health()
    assert (health.pending, health.dead_lettered) == (0, 1)
    assert delivery.deliver().failed == 0, "a dead-lettered event is never retried by itself"
    assert [backoff_s(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0] and backoff_s(30) == MAX_BACKOFF_S


def test_a_sink_that_is_down_stops_the_run_after_a_few_failures() -> None:
    store = InMemoryStore()
    queue(store, 50)
    sink = MemorySink()
    sink.available = False
    report = OutboxDelivery(store, sink).deliver(limit=100)
    assert report.failed == FAILURES_BEFORE_STOPPING and report.error
    assert store.outbox_health().pending == 50


def test_the_deadline_stops_the_run_and_keeps_what_it_did() -> None:
    store = InMemoryStore()
    queue(store, 3 * BATCH_SIZE)
    sink = MemorySink()
    calls = {"n": 0}

    def expired() -> bool:
        calls["n"] += 1
        return sink.puts >= BATCH_SIZE + 3  # mid-way through the second batch

    report = OutboxDelivery(store, sink).deliver(limit=1000, expired=expired)
    assert report.stopped_by_deadline and report.delivered == BATCH_SIZE + 3
    assert store.outbox_health().pending == 3 * BATCH_SIZE - (BATCH_SIZE + 3), "every put made is marked"
    again = OutboxDelivery(store, sink).deliver(limit=1000)
    assert again.delivered == 2 * BATCH_SIZE - 3 and again.already_present == 0 and not again.stopped_by_deadline


@pytest.mark.parametrize("count", [0, 1, BATCH_SIZE, BATCH_SIZE + 1])
def test_limit_and_batches(count: int) -> None:
    store = InMemoryStore()
    queue(store, count)
    report = OutboxDelivery(store, MemorySink()).deliver(limit=count or 1)
    assert report.delivered == count and store.outbox_health().pending == 0
