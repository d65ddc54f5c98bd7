"""The payment state machine over in-memory fakes: a record before the acquirer, one settlement per key.

A crash is modelled by an exception the service does not catch, raised at the point under test: the
in-memory store keeps what was committed before it and rolls back the transaction it interrupts, as
PostgreSQL does for a killed process. (The resilience tier kills real processes against a real server.)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from payment_processor import backoff
from payment_processor.connectors.base import Authorization, AuthorizeRequest, Journal
from payment_processor.connectors.outcomes import AuthorizeOutcome, FollowUpOutcome, Unknown
from payment_processor.connectors.simulated import SimulatedAcquirer
from payment_processor.errors import ServiceUnavailable, ValidationFailed
from payment_processor.operations import create as create_module
from payment_processor.operations.create import MAX_ACQUIRER_ATTEMPTS
from payment_processor.service import PaymentService
from payment_processor.txlog import OutboxDelivery
from payment_processor.validation import PaymentRequest, parse_payment_request
from tests.fakes.memory_sink import MemorySink
from tests.fakes.memory_store import InMemoryStore

MERCHANT = "merch_123"


class Crash(BaseException):
    """A process dying at this point (BaseException: nothing in the service catches it)."""


@dataclass
class ScriptedAcquirer:
    """The simulated acquirer, with its ledger, that can crash or go silent around a call."""

    ledger: Path
    crash_before: bool = False
    crash_after: bool = False
    unavailable: bool = False
    calls: list[str] = field(default_factory=list)
    #: Run after the acquirer answered and before the caller gets the answer (an interleaving under test).
    meanwhile: Callable[[], object] | None = None

    #: For each call the acquirer got, whether the store had a transaction open (set by the world fixture).
    open_transactions: Callable[[], int] = lambda: 0
    inside_transaction: list[str] = field(default_factory=list)

    def check_payment_method(self, payment_method: str) -> None:
        if self.open_transactions():
            self.inside_transaction.append("check_payment_method")
        SimulatedAcquirer().check_payment_method(payment_method)

    name = "scripted"

    def authorize(self, request: AuthorizeRequest, journal: Journal, *, timeout_s: float) -> AuthorizeOutcome:
        self.calls.append(request.key)
        if self.open_transactions():
            self.inside_transaction.append("authorize")
        if self.crash_before:
            raise Crash("before the acquirer")
        if self.unavailable:
            return Unknown("no route to the acquirer")
        answer = SimulatedAcquirer(ledger=str(self.ledger)).authorize(request, journal, timeout_s=timeout_s)
        if self.crash_after:
            raise Crash("after the acquirer answered")
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        return answer

    # The rest of the Connector protocol: these tests script the authorization path alone.
    def capture(self, authorization: Authorization, *, amount: int, key: str, timeout_s: float) -> FollowUpOutcome:
        raise NotImplementedError("not scripted")

    def cancel(self, authorization: Authorization, *, key: str, timeout_s: float) -> FollowUpOutcome:
        raise NotImplementedError("not scripted")

    def increment_authorization(
        self, authorization: Authorization, *, amount: int, key: str, timeout_s: float
    ) -> FollowUpOutcome:
        raise NotImplementedError("not scripted")

    def refund(self, authorization: Authorization, *, amount: int, key: str, timeout_s: float) -> FollowUpOutcome:
        raise NotImplementedError("not scripted")

    def charges(self) -> Counter[str]:
        """Approved authorizations per acquirer idempotency key, from the acquirer's own ledger: each key is
        one charge however often it was asked, so a payment charged twice would show two keys."""
        if not self.ledger.exists():
            return Counter()
        lines = [json.loads(line) for line in self.ledger.read_text().splitlines()]
        return Counter(line["idempotency_key"] for line in lines if line["outcome"] == "approved")


@dataclass
class World:
    service: PaymentService
    store: InMemoryStore
    sink: MemorySink
    acquirer: ScriptedAcquirer


@pytest.fixture
def world(tmp_path: Path) -> World:
    store, sink = InMemoryStore(), MemorySink()
    acquirer = ScriptedAcquirer(tmp_path / "ledger.jsonl")
    return World(PaymentService(store, acquirer, OutboxDelivery(store, sink)), store, sink, acquirer)


def request(token: str = "tok_visa") -> PaymentRequest:
    return parse_payment_request({"amount": 1999, "currency": "EUR", "payment_method": token})


def create(world: World, key: str = "k1", token: str = "tok_visa") -> tuple[int, dict[str, object], bool]:
    outcome = world.service.create_payment(MERCHANT, request(token), key)
    return outcome.response.status, json.loads(outcome.response.body), outcome.replayed


def only_payment(world: World) -> str:
    ids = {event.payment_id for event in world.store.pending_events()} | {
        json.loads(body)["payment"]["id"] for body in world.sink.objects.values()
    }
    assert len(ids) == 1, ids
    payment_id = ids.pop()
    assert payment_id is not None, "the events are the payment's"
    return payment_id


def event_types(world: World) -> list[str]:
    return sorted(json.loads(body)["event_type"] for body in world.sink.objects.values())


def test_the_payment_is_recorded_before_the_acquirer_is_asked_and_a_crash_then_is_settled_by_the_retry(
    world: World,
) -> None:
    world.acquirer.crash_before = True
    with pytest.raises(Crash):
        create(world)
    payment_id = only_payment(world)
    # The record survived the crash; the acquirer was asked under the payment's id, not the client's key.
    assert world.service.get_payment(MERCHANT, payment_id).status == "processing"
    assert world.acquirer.calls == [payment_id]
    assert not world.acquirer.charges()

    world.acquirer.crash_before = False
    status, body, replayed = create(world)
    assert (status, body["id"], body["status"], replayed) == (201, payment_id, "succeeded", True)
    assert world.store.payment_count() == 1 and world.acquirer.charges() == Counter({payment_id: 1})
    world.service.deliver_pending()
    assert event_types(world) == ["payment.processing", "payment.succeeded"]


def test_a_crash_after_the_acquirer_answered_never_charges_twice(world: World) -> None:
    world.acquirer.crash_after = True
    with pytest.raises(Crash):
        create(world)
    payment_id = only_payment(world)
    assert world.acquirer.charges() == Counter({payment_id: 1})  # charged, but not yet settled here

    world.acquirer.crash_after = False
    first = create(world)
    again = create(world)
    assert first[0] == again[0] == 201 and first[1] == again[1]
    # Asked twice under the same key: the acquirer's idempotency makes that one charge, not two.
    assert world.acquirer.calls == [payment_id, payment_id]
    assert world.store.payment_count() == 1


def test_the_scheduled_job_settles_what_a_crash_left_and_the_retry_replays_it(world: World) -> None:
    world.acquirer.crash_before = True
    with pytest.raises(Crash):
        create(world)
    world.acquirer.crash_before = False
    # A payment younger than the job's threshold belongs to its request: left alone.
    assert world.service.resolve_processing(older_than_s=60).settled == 0
    report = world.service.resolve_processing(older_than_s=0)
    assert (report.settled, report.failed_permanently, report.still_processing) == (1, 0, 0)
    status, body, replayed = create(world)
    assert (status, body["status"], replayed) == (201, "succeeded", True)
    # The retry replayed the job's answer instead of asking again.
    assert len(world.acquirer.calls) == 2
    world.service.deliver_pending()
    assert event_types(world) == ["payment.processing", "payment.succeeded"]


def test_an_unreachable_acquirer_answers_503_processing_and_the_job_gives_up_after_its_attempts(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backoff, "backoff_s", lambda attempts: 0.0)
    monkeypatch.setattr(create_module, "GIVE_UP_AFTER_S", 0.0)  # the attempts are what this test counts
    world.acquirer.unavailable = True
    with pytest.raises(ServiceUnavailable) as refused:
        create(world)
    assert refused.value.code == "payment_processing" and refused.value.headers["Retry-After"] == "2"
    payment_id = only_payment(world)
    assert payment_id in refused.value.message
    for _ in range(MAX_ACQUIRER_ATTEMPTS - 1):
        assert world.service.resolve_processing(older_than_s=0).still_processing == 1
    assert world.service.get_payment(MERCHANT, payment_id).acquirer_attempts == MAX_ACQUIRER_ATTEMPTS
    report = world.service.resolve_processing(older_than_s=0)
    assert (report.settled, report.failed_permanently) == (0, 1)
    status, body, _ = create(world)
    assert status == 402 and body["status"] == "failed" and body["failure_code"] == "acquirer_unavailable"
    assert body["error"]["code"] == "payment_failed"  # type: ignore[index]
    world.service.deliver_pending()
    assert event_types(world) == ["payment.failed", "payment.processing"]
    assert not world.acquirer.charges()


def test_a_client_retrying_fast_through_a_short_outage_does_not_get_its_payment_failed(world: World) -> None:
    world.acquirer.unavailable = True
    for _ in range(MAX_ACQUIRER_ATTEMPTS + 2):
        with pytest.raises(ServiceUnavailable):
            create(world)
    payment_id = only_payment(world)
    assert world.service.get_payment(MERCHANT, payment_id).acquirer_attempts == MAX_ACQUIRER_ATTEMPTS + 2
    # Enough attempts, but the payment is seconds old: the job keeps asking instead of giving up.
    world.store.make_resolution_due()
    report = world.service.resolve_processing(older_than_s=0)
    assert (report.failed_permanently, report.still_processing) == (0, 1)
    world.acquirer.unavailable = False
    world.store.make_resolution_due()
    assert world.service.resolve_processing(older_than_s=0).settled == 1
    assert create(world)[:2][0] == 201


def test_an_unknown_token_records_nothing(world: World) -> None:
    with pytest.raises(ValidationFailed) as refused:
        create(world, token="tok_neverHeardOf")
    assert refused.value.code == "payment_method_unknown"
    assert world.store.payment_count() == 0 and world.store.key_count() == 0 and not world.acquirer.calls


def test_the_acquirer_is_never_asked_inside_a_transaction(world: World) -> None:
    """No network call may hold a row lock: the token check and the authorization both run between
    transactions (the first before the key is claimed, the second after the record is committed)."""
    world.acquirer.open_transactions = lambda: world.store.open_transactions
    with pytest.raises(ValidationFailed):
        create(world, token="tok_neverHeardOf")
    assert create(world)[0] == 201
    assert world.acquirer.calls and world.acquirer.inside_transaction == []


def test_no_time_left_before_the_acquirer_answers_503_and_asks_nothing(world: World) -> None:
    with pytest.raises(ServiceUnavailable) as refused:
        world.service.create_payment(MERCHANT, request(), "k1", settle_by=lambda: True)
    assert refused.value.code == "payment_processing"
    assert not world.acquirer.calls and world.store.payment_count() == 1


def test_a_retry_racing_the_job_writes_one_final_state_and_answers_what_the_job_recorded(world: World) -> None:
    world.acquirer.crash_before = True
    with pytest.raises(Crash):
        create(world)
    world.acquirer.crash_before = False
    # While the retry waits for the acquirer, the job settles the same payment; the retry then finds it
    # final and answers the job's recorded response instead of writing a second final state.
    jobs: list[object] = []
    world.acquirer.meanwhile = lambda: jobs.append(world.service.resolve_processing(older_than_s=0))
    status, body, replayed = create(world)
    assert jobs and jobs[0].settled == 1  # type: ignore[attr-defined]
    assert (status, body["status"], replayed) == (201, "succeeded", True)
    world.service.deliver_pending()
    assert event_types(world) == ["payment.processing", "payment.succeeded"]
    # Asked twice under one key (the acquirer answers a key once and charges it once): one charge.
    assert set(world.acquirer.charges()) == {body["id"]} == {only_payment(world)}
