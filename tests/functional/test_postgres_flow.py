"""The processor against the real PostgreSQL server and S3 on the moto server, through the handler."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest

from payment_processor import handler as handler_module
from payment_processor.aws import client
from payment_processor.config import Settings
from payment_processor.connectors.simulated import SimulatedAcquirer
from payment_processor.credentials import SecretsManagerCredentials
from payment_processor.service import PaymentService
from payment_processor.store.database import Database
from payment_processor.store.postgres import ROLE_LOCK_TIMEOUT_MS, PostgresStore
from payment_processor.txlog import LOGGED_PAYMENT_FIELDS, OutboxDelivery, S3Sink
from payments_cli.local.ports import free_port
from tests.conftest import BUCKET, MERCHANT, Services
from tests.support import body_of, payment_body, post_payment, proxy_event

pytestmark = pytest.mark.functional


def objects(services: Services) -> list[str]:
    listed = services.s3().list_objects_v2(Bucket=BUCKET)  # type: ignore[attr-defined]
    return sorted(item["Key"] for item in listed.get("Contents", []))


def count(services: Services, table: str) -> int:
    with services.admin() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return cast(int, row[0])  # count(*) is a bigint, which psycopg reads as an int


def test_payment_is_stored_and_logged_to_s3(lambda_env: Services) -> None:
    response = handler_module.handler(post_payment(payment_body()), None)
    assert response["statusCode"] == 201
    payment = body_of(response)
    keys = objects(lambda_env)
    folder = f"transactions/{payment['created_at'][:10].replace('-', '/')}/{payment['id']}"
    # One object per state change: recorded before the acquirer was asked, then its answer.
    assert keys == [f"{folder}/0001-payment.processing.json", f"{folder}/0002-payment.succeeded.json"]
    recorded = json.loads(lambda_env.s3().get_object(Bucket=BUCKET, Key=keys[0])["Body"].read())  # type: ignore[attr-defined]
    assert recorded["payment"]["status"] == "processing" and recorded["payment"]["authorization_code"] is None
    stored = lambda_env.s3().get_object(Bucket=BUCKET, Key=keys[1])  # type: ignore[attr-defined]
    event = json.loads(stored["Body"].read())
    assert event["event_type"] == "payment.succeeded"
    assert event["payment"] == {name: payment[name] for name in LOGGED_PAYMENT_FIELDS}
    assert not {"description", "metadata", "customer_id", "payment_method"} & set(event["payment"]), "no free text"
    got = handler_module.handler(proxy_event("GET", f"/payments/{payment['id']}"), None)
    shown = body_of(got)
    attempts = shown.pop("attempts")
    assert got["statusCode"] == 200 and shown == payment
    assert [(a["connector"], a["outcome"]) for a in attempts] == [("simulated", "approved")]
    with lambda_env.admin() as conn:
        row = conn.execute("SELECT amount, currency, status FROM payments").fetchone()
        attempt = conn.execute(
            "SELECT id, connector, outcome, answered_at IS NOT NULL FROM payment_attempts"
        ).fetchall()
    assert row == (1999, "USD", "succeeded")
    first = "att_" + payment["id"].removeprefix("pay_")
    assert attempt == [(first, "simulated", "approved", True)], "recorded with the payment, finished with its answer"


def test_decline_is_recorded_replayed_and_logged(lambda_env: Services) -> None:
    body = payment_body(payment_method="tok_chargeDeclinedExpiredCard")
    first = handler_module.handler(post_payment(body, key="dec"), None)
    again = handler_module.handler(post_payment(body, key="dec"), None)
    assert first["statusCode"] == again["statusCode"] == 402
    assert body_of(again) == body_of(first) and again["headers"]["Idempotent-Replayed"] == "true"
    assert count(lambda_env, "payments") == 1
    assert objects(lambda_env)[1].endswith("0002-payment.declined.json")


def test_reuse_with_different_body_is_refused(lambda_env: Services) -> None:
    handler_module.handler(post_payment(payment_body(amount=10), key="r"), None)
    response = handler_module.handler(post_payment(payment_body(amount=11), key="r"), None)
    assert response["statusCode"] == 422 and body_of(response)["error"]["code"] == "idempotency_key_reused"
    assert count(lambda_env, "payments") == 1


def test_bad_input_writes_nothing_anywhere(lambda_env: Services) -> None:
    for event in (
        post_payment(payment_body(amount=-1)),
        post_payment(payment_body(payment_method="4242424242424242")),
        post_payment(payment_body(payment_method="tok_unknown")),
        post_payment(None, raw_body="{"),
        post_payment(payment_body(), key=None),
    ):
        assert handler_module.handler(event, None)["statusCode"] in (400, 422)
    for table in ("payments", "idempotency_keys", "transaction_log_outbox"):
        assert count(lambda_env, table) == 0
    assert objects(lambda_env) == []


def build_service(settings: Settings, *, s3_endpoint: str | None = None) -> tuple[PaymentService, Database]:
    """An independent processor instance (its own connection), like one Lambda container."""
    database = Database(settings, SecretsManagerCredentials(client("secretsmanager", settings), settings.db_secret_arn))
    store = PostgresStore(database, lock_timeout_ms=settings.idempotency_lock_timeout_ms)
    s3_settings = (
        settings if s3_endpoint is None else Settings(**{**settings.__dict__, "aws_endpoint_url": s3_endpoint})
    )
    assert settings.transaction_log_bucket is not None
    sink = S3Sink(client("s3", s3_settings), settings.transaction_log_bucket)
    return PaymentService(store, SimulatedAcquirer(), OutboxDelivery(store, sink)), database


def test_fifty_concurrent_requests_with_one_key_make_one_payment(clean: Services) -> None:
    from aws_lambda_powertools import Logger

    from payment_processor.api import Api

    instances = [build_service(clean.settings()) for _ in range(50)]
    for _, database in instances:
        database.connection()  # connect up front so that all 50 race on the key, not on connecting
    barrier = threading.Barrier(50)
    logger = Logger(service="payment-processor-concurrency")

    def attempt(index: int) -> dict[str, Any]:
        api = Api(instances[index][0], logger)
        barrier.wait()
        return api.handle(post_payment(payment_body(), key="the-one-key"))

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(attempt, range(50)))
    for _, database in instances:
        database.close()
    statuses = Counter(r["statusCode"] for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r["statusCode"] == 201]
    assert len({body_of(r)["id"] for r in created}) == 1
    assert sum(1 for r in created if "Idempotent-Replayed" not in r["headers"]) == 1
    assert count(clean, "payments") == 1
    assert len(objects(clean)) == 2  # processing, succeeded: written once each


def test_second_request_waits_then_gets_409_past_lock_timeout(clean: Services) -> None:
    service, database = build_service(clean.settings(idempotency_lock_timeout_ms=300))
    from payment_processor.errors import IdempotencyKeyInUse
    from payment_processor.validation import parse_payment_request

    # Another request holds the key in an open transaction that outlives our lock timeout.
    with clean.admin() as holder, holder.transaction(force_rollback=True):
        holder.execute(
            "INSERT INTO idempotency_keys (merchant_id, idempotency_key, request_fingerprint) "
            "VALUES ('merch_123', 'held', 'x')"
        )
        with pytest.raises(IdempotencyKeyInUse):
            service.create_payment(MERCHANT, parse_payment_request(payment_body()), "held")
    assert count(clean, "payments") == 0
    database.close()


def test_transactions_take_the_roles_lock_timeout_and_set_another_only_when_configured(clean: Services) -> None:
    """The default costs no statement (migration 0011 sets it on the role); another value is set per transaction."""
    for configured, expected in ((ROLE_LOCK_TIMEOUT_MS, "10s"), (300, "300ms")):
        service, database = build_service(clean.settings(idempotency_lock_timeout_ms=configured))
        with service.context.store.transaction():
            row = database.connection().execute("SHOW lock_timeout").fetchone()
        assert row == (expected,), configured
        database.close()
    required = {"DB_SECRET_ARN": "arn", "DB_HOST": "h", "DB_NAME": "d"}
    assert Settings.from_env(required).idempotency_lock_timeout_ms == ROLE_LOCK_TIMEOUT_MS


def test_s3_down_then_up_payment_kept_and_event_delivered_once(clean: Services) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    down, down_db = build_service(clean.settings(), s3_endpoint=dead)
    from payment_processor.validation import parse_payment_request

    outcome = down.create_payment(MERCHANT, parse_payment_request(payment_body()), "outage")
    assert outcome.response.status == 201 and outcome.delivery is not None and outcome.delivery.failed == 1
    assert count(clean, "payments") == 1 and objects(clean) == []
    with clean.admin() as conn:
        rows = conn.execute(
            "SELECT attempts, last_error IS NOT NULL, delivered_at FROM transaction_log_outbox ORDER BY id"
        ).fetchall()
    # The request stopped at the first failed put: the second event was not even tried (no second wait).
    assert rows == [(1, True, None), (0, False, None)]
    down_db.close()

    with clean.admin() as conn:
        # The failed put's backoff (2 s) is in SQL; stretched here so a slow, loaded machine cannot outlast it
        # before the next line (test_outbox_delivery.py checks the backoff's length itself).
        due = conn.execute(
            "UPDATE transaction_log_outbox SET next_attempt_at = next_attempt_at + interval '1 hour' "
            "WHERE attempts = 1 RETURNING next_attempt_at > now()"
        ).fetchall()
    assert due == [(True,)]
    up, up_db = build_service(clean.settings())
    assert up.deliver_pending().delivered == 1, "the untried event goes; the failed one waits for its backoff"
    with clean.admin() as conn:  # the backoff has passed
        conn.execute("UPDATE transaction_log_outbox SET next_attempt_at = now()")
    first = up.deliver_pending()
    second = up.deliver_pending()
    assert (first.delivered, second.delivered) == (1, 0)
    assert len(objects(clean)) == 2
    # A crash between the S3 put and marking the row delivered, then its lease running out: redelivery finds
    # the object and writes nothing.
    with clean.admin() as conn:
        conn.execute("UPDATE transaction_log_outbox SET delivered_at = NULL, next_attempt_at = now()")
    third = up.deliver_pending()
    assert (third.delivered, third.already_present) == (0, 2)
    versions = clean.s3().list_object_versions(Bucket=BUCKET)  # type: ignore[attr-defined]
    assert len(versions.get("Versions", [])) == 2
    up_db.close()


def test_database_unreachable_is_503_with_retry_after(lambda_env: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PORT", str(free_port()))
    response = handler_module.handler(post_payment(payment_body()), None)
    assert response["statusCode"] == 503 and response["headers"]["Retry-After"]
    assert body_of(response)["error"]["code"] == "database_unavailable"


def test_connection_is_reused_and_recovers_after_being_killed(lambda_env: Services) -> None:
    assert handler_module.handler(post_payment(payment_body(), key="a"), None)["statusCode"] == 201
    with lambda_env.admin() as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'payment-processor'"
        )
    # The first request on the dead connection may answer 503; the next one reconnects.
    statuses = [handler_module.handler(post_payment(payment_body(), key=f"b{i}"), None)["statusCode"] for i in range(2)]
    assert statuses[-1] == 201 and set(statuses) <= {201, 503}


def test_password_never_in_logs(lambda_env: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    # The function's own log handler, redirected to a buffer we can read.
    buffer = io.StringIO()
    monkeypatch.setattr(handler_module.logger.registered_handler, "stream", buffer)
    handler_module.handler(post_payment(payment_body(payment_method="tok_chargeDeclinedInsufficientFunds")), None)
    handler_module.handler(post_payment(payment_body(payment_method="4000 0566 5566 5556"), key="pan"), None)
    text = buffer.getvalue()
    assert '"status":402' in text.replace(" ", "")
    for secret in (lambda_env.db_password, "tok_chargeDeclined", "4000056655665556", "4000 0566"):
        assert secret not in text


def test_refused_input_writes_no_row_in_the_real_database(lambda_env: Services) -> None:
    """Property-based against PostgreSQL: random bodies are never a 500; a refusal leaves no row."""
    from hypothesis import HealthCheck, given, settings

    from tests.unit.test_properties import bodies

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies)
    def check(body: dict[str, object]) -> None:
        before = count(lambda_env, "payments"), count(lambda_env, "idempotency_keys")
        response = handler_module.handler(post_payment(body, key=f"prop-{uuid.uuid4()}"), None)
        after = count(lambda_env, "payments"), count(lambda_env, "idempotency_keys")
        assert response["statusCode"] in {201, 400, 402, 413, 422}, response
        if response["statusCode"] in {400, 413, 422}:
            assert after == before
        else:
            assert after == (before[0] + 1, before[1] + 1)

    check()


@pytest.mark.parametrize("token", ["tok_visa", "tok_chargeDeclined"])
def test_a_replay_is_byte_identical_to_the_first_answer(lambda_env: Services, token: str) -> None:
    """The stored response is the text first sent (migration 0003): jsonb would reorder its keys."""
    body = payment_body(payment_method=token, metadata={"zeta": "1", "alpha": "2"})
    first = handler_module.handler(post_payment(body, key=f"bytes-{token}"), None)
    again = handler_module.handler(post_payment(body, key=f"bytes-{token}"), None)
    assert again["statusCode"] == first["statusCode"] in (201, 402)
    assert again["body"] == first["body"], "the same bytes, key order and spacing included"
    assert list(json.loads(again["body"])) == list(json.loads(first["body"]))
    for header in ("Content-Type", "Location"):
        assert again["headers"][header] == first["headers"][header]
    assert again["headers"]["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first["headers"]
