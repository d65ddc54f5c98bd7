"""The payment state machine against the real PostgreSQL server: what the schema and the app role allow,
an acquirer outage through the handler and the scheduled job, and settlements racing on the row lock."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import psycopg
import pytest

from payment_processor import handler as handler_module
from payment_processor.connectors.outcomes import AuthorizeOutcome
from payment_processor.connectors.simulated import SimulatedAcquirer
from payment_processor.operations.create import MAX_ACQUIRER_ATTEMPTS
from payment_processor.reconcile import main as reconcile_main
from tests.conftest import DB_NAME, DB_USER, MERCHANT, Services
from tests.functional.test_postgres_flow import build_service, count, objects
from tests.support import body_of, payment_body, post_payment, proxy_event

pytestmark = pytest.mark.functional


def app_connection(services: Services) -> psycopg.Connection[tuple[object, ...]]:
    """A connection as the processor's own database role."""
    return psycopg.connect(
        host="127.0.0.1",
        port=services.postgres.port,
        dbname=DB_NAME,
        user=DB_USER,
        password=services.db_password,
        autocommit=True,
    )


def test_the_app_role_may_change_a_payments_state_but_never_its_amount_or_owner(lambda_env: Services) -> None:
    response = handler_module.handler(post_payment(payment_body()), None)
    payment_id = body_of(response)["id"]
    with app_connection(lambda_env) as conn:
        for column, value in (("amount", 1), ("currency", "USD"), ("merchant_id", "merch_other")):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"UPDATE payments SET {column} = %s WHERE id = %s", (value, payment_id))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM payments WHERE id = %s", (payment_id,))


@pytest.mark.parametrize(
    ("status", "codes"),
    [
        pytest.param("processing", "authorization_code = 'ABC123'", id="authorization-code-before-any-answer"),
        pytest.param("succeeded", "authorization_code = NULL", id="success-without-authorization-code"),
        pytest.param("failed", "failure_code = NULL", id="failure-without-its-code"),
        pytest.param("paid", "authorization_code = 'ABC123'", id="a-status-the-machine-does-not-have"),
    ],
)
def test_the_schema_refuses_a_state_without_its_codes(lambda_env: Services, status: str, codes: str) -> None:
    payment_id = body_of(handler_module.handler(post_payment(payment_body()), None))["id"]
    with lambda_env.admin() as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(f"UPDATE payments SET status = %s, {codes} WHERE id = %s", (status, payment_id))


def test_an_acquirer_outage_is_503_then_the_job_retries_and_finally_fails_the_payment(lambda_env: Services) -> None:
    body = payment_body(payment_method="tok_acquirerUnavailable")
    first = handler_module.handler(post_payment(body, key="outage"), None)
    assert first["statusCode"] == 503 and first["headers"]["Retry-After"] == "2"
    error = body_of(first)["error"]
    assert error["code"] == "payment_processing"
    # Recorded before the acquirer was asked, and readable as processing.
    with lambda_env.admin() as conn:
        row = conn.execute("SELECT id, status, acquirer_attempts FROM payments").fetchone()
    assert row is not None and row[1:] == ("processing", 1)
    payment_id = str(row[0])
    got = handler_module.handler(proxy_event("GET", f"/payments/{payment_id}"), None)
    assert body_of(got)["status"] == "processing" and body_of(got)["authorization_code"] is None
    # The same key asks again (still nothing) without a second payment.
    again = handler_module.handler(post_payment(body, key="outage"), None)
    assert again["statusCode"] == 503 and count(lambda_env, "payments") == 1

    for attempt in range(2, MAX_ACQUIRER_ATTEMPTS):
        with lambda_env.admin() as conn:  # the backoff has passed
            conn.execute("UPDATE payments SET next_resolution_at = now() - interval '1 second'")
        assert reconcile_main(["--resolve-after-s", "0"]) == 0
        with lambda_env.admin() as conn:
            attempts = conn.execute("SELECT acquirer_attempts FROM payments").fetchone()
        assert attempts == (attempt + 1,)
    # Ten attempts without an answer: still asked again while the payment is younger than half an hour.
    with lambda_env.admin() as conn:
        conn.execute("UPDATE payments SET next_resolution_at = now() - interval '1 second'")
    assert reconcile_main(["--resolve-after-s", "0"]) == 0
    assert count(lambda_env, "payments WHERE status = 'processing'") == 1
    with lambda_env.admin() as conn:
        conn.execute(
            "UPDATE payments SET next_resolution_at = now() - interval '1 second', "
            "created_at = created_at - interval '31 minutes'"
        )
    assert reconcile_main(["--resolve-after-s", "0"]) == 0

    final = handler_module.handler(post_payment(body, key="outage"), None)
    assert final["statusCode"] == 402 and final["headers"]["Idempotent-Replayed"] == "true"
    assert body_of(final)["status"] == "failed" and body_of(final)["failure_code"] == "acquirer_unavailable"
    assert body_of(final)["error"]["code"] == "payment_failed"
    # By name, not by full key: the key's day is the payment's created_at, which this test moved back
    # 31 minutes (across midnight when the suite runs just after 00:00 UTC).
    assert sorted(key.rsplit("/", 1)[1] for key in objects(lambda_env)) == [
        "0001-payment.processing.json",
        "0002-payment.failed.json",
    ]


def test_a_retry_and_the_job_settling_one_payment_at_once_write_one_final_state(clean: Services) -> None:
    """Two processor instances (two connections) settle the same processing payment at the same moment:
    the row lock lets one write the final state; the other answers what it recorded."""
    from payment_processor.validation import parse_payment_request

    first, first_db = build_service(clean.settings())
    # The first attempt records the payment and dies before the acquirer answers.
    crashed = first.context.connector = _Dying()
    with pytest.raises(_Died):
        first.create_payment(MERCHANT, parse_payment_request(payment_body()), "race")
    assert crashed.asked and count(clean, "payments") == 1
    first_db.close()

    retry, retry_db = build_service(clean.settings())
    job, job_db = build_service(clean.settings())
    barrier = threading.Barrier(2)
    for instance in (retry, job):
        instance.context.connector = _Waiting(barrier)
    results: dict[str, object] = {}

    def by_retry() -> None:
        results["retry"] = retry.create_payment(MERCHANT, parse_payment_request(payment_body()), "race")

    def by_job() -> None:
        results["job"] = job.resolve_processing(older_than_s=0)

    threads = [threading.Thread(target=by_retry), threading.Thread(target=by_job)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    retry_db.close()
    job_db.close()
    outcome = results["retry"]
    assert outcome.response.status == 201  # type: ignore[attr-defined]
    with clean.admin() as conn:
        events = Counter(row[0] for row in conn.execute("SELECT event_type FROM transaction_log_outbox"))
        status = conn.execute("SELECT status FROM payments").fetchone()
    assert status == ("succeeded",)
    assert events == Counter({"payment.processing": 1, "payment.succeeded": 1})


class _Died(BaseException):
    """The process running the handler died here."""


class _Dying(SimulatedAcquirer):
    asked = False

    def authorize(self, *args: Any, **kwargs: Any) -> AuthorizeOutcome:
        self.asked = True
        raise _Died


class _Waiting(SimulatedAcquirer):
    """Answers only once both settlements are inside the acquirer call, so both then race for the row."""

    def __init__(self, barrier: threading.Barrier) -> None:
        super().__init__()
        self._barrier = barrier

    def authorize(self, *args: Any, **kwargs: Any) -> AuthorizeOutcome:
        self._barrier.wait(timeout=30)
        return super().authorize(*args, **kwargs)
