"""Delivery against the real PostgreSQL server and S3 on the moto server: due events only, backoff and
dead-lettering in SQL, every batch committed, a deadline honoured, and concurrent deliverer processes
that never put one event twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from typing import cast

import pytest

from payment_processor import handler as handler_module
from payment_processor.payment import Payment, new_payment_id
from payment_processor.states import PaymentStatus
from payment_processor.store.interfaces import PageRequest
from payment_processor.txlog import MAX_ATTEMPTS, OutboxDelivery, payment_event
from tests.conftest import BUCKET, MERCHANT, Services
from tests.fakes.memory_sink import MemorySink
from tests.functional.test_postgres_flow import build_service, objects
from tests.support import payment_body

pytestmark = pytest.mark.functional


def queue(services: Services, count: int) -> list[str]:
    """``count`` committed payments whose events wait in the outbox, written as the app role would."""
    service, database = build_service(services.settings())
    rows = []
    for _ in range(count):
        payment = Payment(
            id=new_payment_id(),
            merchant_id=MERCHANT,
            amount=100,
            currency="EUR",
            status=PaymentStatus.SUCCEEDED,
            payment_method="tok_visa",
            created_at=datetime.now(UTC),
            authorization_code="A1",
            amount_captured=100,
        )
        rows.append(payment)
    with service._store.transaction() as tx:
        for payment in rows:
            tx.insert_payment(payment)
            tx.add_event(payment_event(payment))
    database.close()
    return [payment_event(p).object_key for p in rows]


def outbox(services: Services) -> dict[str, int]:
    with services.admin() as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND dead_lettered_at IS NULL),"
            " count(*) FILTER (WHERE delivered_at IS NOT NULL), count(*) FILTER (WHERE dead_lettered_at IS NOT NULL)"
            " FROM transaction_log_outbox"
        ).fetchone()
    assert row is not None
    counts = cast("tuple[int, int, int]", row)  # three count(*)s: bigints, which psycopg reads as ints
    return {"pending": counts[0], "delivered": counts[1], "dead": counts[2]}


def test_failures_back_off_in_sql_and_end_dead_lettered(clean: Services) -> None:
    (key,) = queue(clean, 1)
    down, database = build_service(clean.settings(), s3_endpoint="http://127.0.0.1:9")  # nothing listens
    report = down.deliver_pending()
    assert report.failed == 1 and report.dead_lettered == 0
    assert down.deliver_pending().failed == 0, "not due before its backoff"
    with clean.admin() as conn:
        conn.execute(f"UPDATE transaction_log_outbox SET attempts = {MAX_ATTEMPTS - 1}, next_attempt_at = now()")
    report = down.deliver_pending()
    assert report.dead_lettered == 1
    health = down.outbox_health()
    assert (health.pending, health.dead_lettered) == (0, 1)
    database.close()
    assert outbox(clean) == {"pending": 0, "delivered": 0, "dead": 1}
    assert key not in objects(clean)


def test_the_deliver_entry_point_reports_health_and_publishes_metrics(
    clean: Services, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    queue(clean, 3)
    for name, value in clean.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "payment-reconcile-dev-test")
    monkeypatch.setattr(handler_module, "_service", None)

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 60_000

    result = handler_module.reconcile({}, Context())
    assert (result["delivered"], result["pending"], result["dead_lettered"]) == (3, 0, 0)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf, "metrics in the embedded metric format"
    metrics = emf[-1]
    dead = metrics["OutboxDeadLettered"]
    assert metrics["function"] == "payment-reconcile-dev-test" and (dead[0] if isinstance(dead, list) else dead) == 0
    names = {m["Name"] for m in metrics["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"OutboxOldestPendingAge", "OutboxDeadLettered", "OutboxPending"} <= names
    # The metric the processing-age alarm watches (payments_infra.constructs.monitoring).
    assert {"PaymentsOldestProcessingAge", "PaymentsProcessing", "PaymentsFailedByJob"} <= names
    assert result["processing"] == 0


def test_a_run_near_its_deadline_commits_what_it_did_and_stops(
    clean: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue(clean, 600)
    for name, value in clean.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler_module, "_service", None)

    class Context:
        """As Lambda's: half a second left beyond the reserve kept for the last commit."""

        def get_remaining_time_in_millis(self) -> int:
            return int((handler_module.DELIVER_RESERVE_S + 0.5) * 1000)

    result = handler_module.reconcile({}, Context())
    assert result["stopped_by_deadline"] is True and result["delivered"] > 0
    state = outbox(clean)
    assert state["delivered"] == result["delivered"], "every put this run made is marked, nothing lost"
    assert state["pending"] == 600 - result["delivered"]


def test_concurrent_deliverer_processes_never_put_one_event_twice(clean: Services) -> None:
    """Four `python -m payment_processor.deliver` processes at once over 400 events."""
    keys = queue(clean, 400)
    env = {**os.environ, **clean.env(), "POWERTOOLS_LOG_LEVEL": "WARNING"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "payment_processor.reconcile"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    reports = []
    for run in runs:
        out, err = run.communicate(timeout=240)
        assert run.returncode == 0, err[-2000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    delivered = [r["delivered"] for r in reports]
    print(f"four deliverers: delivered {delivered}, already present {[r['already_present'] for r in reports]}")
    assert sum(delivered) == 400, "every event delivered exactly once"
    assert all(r["already_present"] == 0 for r in reports), "no event was put twice (a second put would be 412)"
    assert outbox(clean) == {"pending": 0, "delivered": 400, "dead": 0}
    assert set(keys) <= set(objects(clean)) and BUCKET


class BlockingSink(MemorySink):
    """A sink whose first put waits until the test lets it go, as a slow S3 would."""

    def __init__(self) -> None:
        super().__init__()
        self.putting = threading.Event()
        self.go_on = threading.Event()

    def put(self, key: str, body: str) -> bool:
        self.putting.set()
        self.go_on.wait(30)
        return super().put(key, body)


def test_a_slow_delivery_holds_back_no_event_of_the_feed(clean: Services) -> None:
    """While a deliverer waits on S3, a payment made meanwhile is in GET /events at once: no transaction is
    open across the put (an open writing transaction holds back every merchant's feed until it ends)."""
    queue(clean, 3)
    slow, slow_db = build_service(clean.settings())
    sink = BlockingSink()
    store = slow._store
    delivery = OutboxDelivery(store, sink)
    deliverer = threading.Thread(target=lambda: delivery.deliver(limit=100))
    deliverer.start()
    try:
        assert sink.putting.wait(30), "the deliverer reached its first put"
        service, database = build_service(clean.settings())
        from payment_processor.validation import parse_payment_request

        made = service.create_payment(MERCHANT, parse_payment_request(payment_body()), "made-meanwhile")
        payment_id = json.loads(made.response.body)["id"]
        feed = service.list_events(MERCHANT, PageRequest(limit=100))
        assert any(e.event_id.startswith(payment_id + ":") for e in feed.items), (
            "the new payment's events are in the feed"
        )
        assert deliverer.is_alive() and len(sink.objects) == 0, "the first put is still waiting"
        database.close()
    finally:
        sink.go_on.set()
        deliverer.join(30)
    slow_db.close()
    assert len(sink.objects) == 3 and outbox(clean)["pending"] == 0


#: A deliverer that claims the due events for a 2 s lease, says how many, and waits to be killed.
DYING_DELIVERER = """
import time
from payment_processor.config import Settings
from tests.functional.test_postgres_flow import build_service
service, _ = build_service(Settings.from_env())
with service._store.claim_outbox(limit=10, lease_s=2) as batch:
    print(len(batch.events), flush=True)
    time.sleep(120)
"""


def test_a_deliverer_killed_holding_events_holds_them_for_its_lease_only(clean: Services) -> None:
    """A deliverer process killed (SIGKILL) between its claim and its marks gives nothing back: its events
    wait out the lease, then the next run delivers them."""
    queue(clean, 2)
    env = {**os.environ, **clean.env(), "POWERTOOLS_LOG_LEVEL": "WARNING"}
    dying = subprocess.Popen([sys.executable, "-c", DYING_DELIVERER], env=env, stdout=subprocess.PIPE, text=True)
    assert dying.stdout is not None and dying.stdout.readline().strip() == "2"
    dying.kill()
    dying.wait(30)
    up, up_db = build_service(clean.settings())
    assert up.deliver_pending().delivered == 0, "leased to the dead deliverer"
    time.sleep(2.5)
    assert up.deliver_pending().delivered == 2, "due again once the lease is over"
    up_db.close()
    assert outbox(clean) == {"pending": 0, "delivered": 2, "dead": 0}


def test_a_request_leases_its_events_as_it_commits_and_gives_back_those_it_had_no_time_to_put(
    clean: Services,
) -> None:
    """The request's events are claimed in the transaction that applies the answer (no claim of their own);
    past its deadline it puts none of them and gives them back due at once, not held for the lease."""
    from payment_processor.validation import parse_payment_request

    service, database = build_service(clean.settings())
    outcome = service.create_payment(MERCHANT, parse_payment_request(payment_body()), "late", expired=lambda: True)
    assert outcome.response.status == 201 and outcome.delivery is not None
    assert outcome.delivery.stopped_by_deadline and outcome.delivery.delivered == 0
    with clean.admin() as conn:
        due = conn.execute(
            "SELECT count(*) FILTER (WHERE next_attempt_at <= now()), count(*) FROM transaction_log_outbox"
        ).fetchone()
    assert due == (2, 2), "both events are due again at once for the job"
    assert objects(clean) == []
    outcome = service.create_payment(MERCHANT, parse_payment_request(payment_body()), "in-time")
    # Its own two, then (S3 answering again after a request of this process left some) the two given back.
    assert outcome.delivery is not None and outcome.delivery.delivered == 4
    assert len(objects(clean)) == 4 and outbox(clean) == {"pending": 0, "delivered": 4, "dead": 0}
    database.close()
