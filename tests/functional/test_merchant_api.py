"""Capture, cancel, refunds, listing and the events feed against the real PostgreSQL server, through the
handler: what the schema and the app role allow, refunds raced by 20 processes, pagination walks with
inserts interleaved, and the feed's order under a transaction that commits late."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import psycopg
import pytest

from payment_processor import handler as handler_module
from payment_processor.aws import client
from payment_processor.connectors.simulated import SimulatedAcquirer
from payment_processor.credentials import SecretsManagerCredentials
from payment_processor.payment import STATUSES
from payment_processor.reconcile import main as reconcile_main
from payment_processor.service import PaymentService
from payment_processor.store.database import Database
from payment_processor.store.postgres import PostgresStore
from payment_processor.txlog import OutboxDelivery
from payment_processor.validation import parse_payment_request
from tests.conftest import MERCHANT, Services
from tests.fakes.memory_sink import MemorySink
from tests.functional.test_payment_states import app_connection
from tests.functional.test_postgres_flow import build_service, count
from tests.support import body_of, payment_body, post, post_payment, proxy_event

pytestmark = pytest.mark.functional

CONCURRENT_REFUNDS = 20


def handle(event: dict[str, Any]) -> dict[str, Any]:
    return handler_module.handler(event, None)


def listing(path: str, **query: str) -> dict[str, Any]:
    response = handle(proxy_event("GET", path, query=query or None))
    assert response["statusCode"] == 200, response["body"]
    return body_of(response)  # type: ignore[no-any-return]


def test_every_transition_and_its_events_in_the_database(lambda_env: Services) -> None:
    manual = body_of(handle(post_payment(payment_body(capture_method="manual", amount=900), key="m")))
    assert manual["status"] == "requires_capture"
    captured = handle(post(f"/payments/{manual['id']}/capture", {"amount": 700}, key="c"))
    assert captured["statusCode"] == 200 and body_of(captured)["amount_captured"] == 700
    refund = handle(post(f"/payments/{manual['id']}/refunds", {"amount": 700, "reason": "fraudulent"}, key="r"))
    assert refund["statusCode"] == 201
    other = body_of(handle(post_payment(payment_body(capture_method="manual"), key="m2")))
    assert handle(post(f"/payments/{other['id']}/cancel", key="x"))["statusCode"] == 200
    with lambda_env.admin() as conn:
        rows = conn.execute(
            "SELECT status, amount_captured, amount_refunded FROM payments ORDER BY created_at"
        ).fetchall()
        events = conn.execute(
            "SELECT event_type FROM transaction_log_outbox WHERE payment_id = %s ORDER BY id", (manual["id"],)
        ).fetchall()
        actions = conn.execute("SELECT count(*) FROM payment_actions").fetchone()
    assert rows == [("refunded", 700, 700), ("canceled", 0, 0)]
    assert [e[0] for e in events] == [
        "payment.processing",
        "payment.requires_capture",
        "payment.succeeded",
        "refund.pending",
        "refund.succeeded",
        "payment.refunded",
    ]
    assert actions == (0,), "an answered action is deleted in the transaction that records its answer"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param("amount_captured = amount + 1", id="capture-more-than-authorized"),
        pytest.param("amount_refunded = amount_captured + 1", id="refund-more-than-captured"),
        pytest.param("status = 'refunded'", id="refunded-with-money-left"),
        pytest.param("status = 'canceled'", id="canceled-without-a-reason"),
    ],
)
def test_the_schema_refuses_amounts_that_do_not_add_up(lambda_env: Services, change: str) -> None:
    payment_id = body_of(handle(post_payment(payment_body(amount=500))))["id"]
    handle(post(f"/payments/{payment_id}/refunds", {"amount": 100}, key="r"))
    with lambda_env.admin() as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(f"UPDATE payments SET {change} WHERE id = %s", (payment_id,))


def test_the_app_role_may_not_change_a_refunds_amount_or_delete_it(lambda_env: Services) -> None:
    payment_id = body_of(handle(post_payment(payment_body(amount=500))))["id"]
    refund_id = body_of(handle(post(f"/payments/{payment_id}/refunds", {"amount": 100}, key="r")))["id"]
    with app_connection(lambda_env) as conn:
        for statement in ("UPDATE refunds SET amount = 1 WHERE id = %s", "DELETE FROM refunds WHERE id = %s"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement, (refund_id,))


def _refund_in_a_process(env: dict[str, str], payment_id: str, index: int, barrier: Any, results: Any) -> None:
    """One Lambda container: its own process, its own connection, one refund request."""
    import os

    os.environ.update(env)
    handler_module._service = None
    barrier.wait(timeout=60)
    response = handler_module.handler(post(f"/payments/{payment_id}/refunds", {"amount": 70}, key=f"r{index}"), None)
    results.put((response["statusCode"], body_of(response).get("error", {}).get("code")))


def test_twenty_concurrent_refunds_stop_exactly_at_the_captured_amount(lambda_env: Services) -> None:
    payment_id = body_of(handle(post_payment(payment_body(amount=1000))))["id"]
    handler_module._service = None
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(CONCURRENT_REFUNDS), ctx.Queue()
    processes = [
        ctx.Process(target=_refund_in_a_process, args=(lambda_env.env(), payment_id, i, barrier, results))
        for i in range(CONCURRENT_REFUNDS)
    ]
    for process in processes:
        process.start()
    answers = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    # 14 x 70 = 980 fits in 1000; a 15th would pass it.
    assert sorted(answers) == [(201, None)] * 14 + [(422, "refund_exceeds_captured")] * 6
    with lambda_env.admin() as conn:
        row = conn.execute("SELECT amount_refunded, status FROM payments WHERE id = %s", (payment_id,)).fetchone()
        refunds = conn.execute("SELECT count(*), sum(amount) FROM refunds WHERE status = 'succeeded'").fetchone()
    assert row == (980, "succeeded") and refunds == (14, 980)
    assert count(lambda_env, "idempotency_keys WHERE refund_id IS NOT NULL") == 14, "a refused refund keeps no key"


def test_pagination_walks_payments_with_inserts_interleaved(lambda_env: Services) -> None:
    # Payments made by the service itself (the transaction log kept in memory: S3 is not under test here);
    # the walk goes through the handler, as the API's does.
    settings = lambda_env.settings()
    database = Database(settings, SecretsManagerCredentials(client("secretsmanager", settings), settings.db_secret_arn))
    store = PostgresStore(database)
    service = PaymentService(store, SimulatedAcquirer(), OutboxDelivery(store, MemorySink()))
    request = parse_payment_request(payment_body(amount=100))
    # 300 here, through the service; the HTTP tier walks 1,000 (tests/emulator/test_merchant_api_http.py).
    existing = {service.create_payment(MERCHANT, request, f"k{i}").payment_id for i in range(300)}
    inserted: list[str] = []

    def walk(direction: str, limit: str) -> list[str]:
        seen: list[str] = []
        cursor: str | None = None
        while True:
            query = {"limit": limit, **({direction: cursor} if cursor else {})}
            page = listing("/payments", **query)
            ids = [p["id"] for p in page["data"]]
            seen.extend(ids)
            # A new payment between every two pages: it is newer than the walk's start.
            outcome = service.create_payment(MERCHANT, request, f"new-{direction}-{len(seen)}")
            inserted.append(str(outcome.payment_id))
            if not page["has_more"]:
                return seen
            cursor = ids[-1] if direction == "starting_after" else ids[0]

    older = walk("starting_after", "29")
    assert len(older) == len(set(older)), "no payment repeated"
    assert existing <= set(older), "no payment skipped"
    assert not set(older) - existing - set(inserted)
    # Walking newer from the oldest sees every payment after it, the interleaved inserts included, once each.
    oldest = older[-1]
    handle_ids: list[str] = []
    cursor = oldest
    while True:
        page = listing("/payments", limit="37", ending_before=cursor)
        ids = [p["id"] for p in page["data"]]
        handle_ids.extend(ids)
        if not page["has_more"]:
            break
        cursor = ids[0]
    assert len(handle_ids) == len(set(handle_ids))
    assert set(handle_ids) == (existing | set(inserted)) - {oldest}
    database.close()


def test_listing_by_status_uses_every_status_the_machine_has(lambda_env: Services) -> None:
    body_of(handle(post_payment(payment_body(), key="a")))
    for status in STATUSES:
        page = listing("/payments", status=status)
        assert all(p["status"] == status for p in page["data"])
    assert [p["status"] for p in listing("/payments", status="succeeded")["data"]] == ["succeeded"]


def test_the_feed_never_shows_an_event_behind_one_a_slower_transaction_will_commit(lambda_env: Services) -> None:
    """A transaction that wrote an event and has not committed holds the feed back at its place: an event
    committed after it is not shown yet, so a client that polls with ending_before cannot pass the slow one."""
    first = body_of(handle(post_payment(payment_body(), key="first")))
    shown = listing("/events")["data"]
    assert shown[0]["id"] == f"{first['id']}:0002"
    with lambda_env.admin() as slow:
        slow.autocommit = False
        # A slow writer: it took its transaction id (by writing) before the next payment was made.
        slow.execute("SELECT pg_current_xact_id()")
        second = body_of(handle(post_payment(payment_body(), key="second")))
        held = listing("/events", ending_before=shown[0]["id"])
        assert held["data"] == [], "an event committed after a still-running writer waits for it"
        slow.rollback()
    after = listing("/events", ending_before=shown[0]["id"])
    assert [e["id"] for e in after["data"]] == [f"{second['id']}:0002", f"{second['id']}:0001"]


def test_a_crash_between_the_acquirer_and_the_record_is_settled_by_the_same_key(lambda_env: Services) -> None:
    payment_id = body_of(handle(post_payment(payment_body(capture_method="manual", amount=400))))["id"]
    service, database = build_service(lambda_env.settings())
    barrier = threading.Event()

    acquirer = service.context.connector

    class Crashing:
        def __getattr__(self, name: str) -> Any:
            return getattr(acquirer, name)

        def capture(self, *args: Any, **kwargs: Any) -> None:
            acquirer.capture(*args, **kwargs)
            barrier.set()
            raise SystemExit("...and the process dies before recording it")

    service.context.connector = Crashing()  # type: ignore[assignment]
    with pytest.raises(SystemExit):
        service.capture_payment(MERCHANT, payment_id, 400, "cap")
    assert barrier.is_set() and count(lambda_env, "payment_actions") == 1
    database.close()
    retried = handle(post(f"/payments/{payment_id}/capture", {"amount": 400}, key="cap"))
    assert retried["statusCode"] == 200 and body_of(retried)["status"] == "succeeded"
    assert count(lambda_env, "payment_actions") == 0


def test_the_job_cancels_authorizations_older_than_seven_days(lambda_env: Services) -> None:
    old = body_of(handle(post_payment(payment_body(capture_method="manual"), key="old")))
    young = body_of(handle(post_payment(payment_body(capture_method="manual"), key="young")))
    with lambda_env.admin() as conn:
        conn.execute("UPDATE payments SET updated_at = now() - interval '7 days 1 minute' WHERE id = %s", (old["id"],))
    assert reconcile_main(["--resolve-after-s", "0"]) == 0
    canceled = body_of(handle(proxy_event("GET", f"/payments/{old['id']}")))
    assert (canceled["status"], canceled["cancellation_reason"]) == ("canceled", "automatic")
    assert body_of(handle(proxy_event("GET", f"/payments/{young['id']}")))["status"] == "requires_capture"
    events = [e["type"] for e in listing("/events")["data"] if e["data"]["payment"]["id"] == old["id"]]
    assert events[0] == "payment.canceled"


def test_the_job_purges_answered_keys_only(lambda_env: Services) -> None:
    """A key whose refund still waits for the acquirer outlives the retention: its client's retry must find
    the refund, not make another."""
    body = payment_body(amount=900, payment_method="tok_followUpsUnavailable")
    payment_id = body_of(handle(post_payment(body, key="pay")))["id"]
    waiting = handle(post(f"/payments/{payment_id}/refunds", {"amount": 300}, key="slow"))
    assert waiting["statusCode"] == 503 and body_of(waiting)["error"]["code"] == "refund_processing"
    with lambda_env.admin() as conn:
        conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '2 days'")
    assert reconcile_main(["--resolve-after-s", "0"]) == 0
    with lambda_env.admin() as conn:
        keys = conn.execute("SELECT idempotency_key FROM idempotency_keys").fetchall()
    assert keys == [("slow",)]
    again = handle(post(f"/payments/{payment_id}/refunds", {"amount": 300}, key="slow"))
    assert again["statusCode"] == 503 and count(lambda_env, "refunds") == 1
