"""The console's overview as the admin function reads it from the real database (payments made through the
real handler, one snapshot, counts and times only)."""

from __future__ import annotations

import json
import uuid
from typing import Any, cast

import pytest

from payment_processor import handler as handler_module
from payment_processor.admin import Admin
from tests.conftest import Services
from tests.support import payment_body, post_payment

pytestmark = pytest.mark.functional


def overview(services: Services) -> dict[str, Any]:
    admin = Admin(services.admin_settings(), secrets_client=services._secrets())
    try:
        answer = admin.run({"action": "overview"})
    finally:
        admin.close()
    return answer


def test_the_overview_counts_payments_by_outcome_and_the_work_in_hand(lambda_env: Services) -> None:
    empty = overview(lambda_env)
    assert empty["last_hour"]["totals"] == {"succeeded": 0, "declined": 0, "failed": 0, "open": 0, "canceled": 0}
    assert empty["last_hour"]["authorization_rate"] is None and len(empty["last_hour"]["buckets"]) == 60
    assert len(empty["last_day"]["buckets"]) == 24 and empty["last_day"]["bucket_s"] == 3600

    made = [
        payment_body(),
        payment_body(),
        payment_body(capture_method="manual"),
        payment_body(payment_method="tok_chargeDeclined"),
        payment_body(description="secret-ish text 4242", metadata={"order": "o-1"}),
    ]
    for n, body in enumerate(made):
        answer = handler_module.handler(post_payment(body, key=f"overview-{n}"), None)
        assert answer["statusCode"] in (201, 402), answer["body"]
    with lambda_env.admin() as conn:
        conn.execute("UPDATE transaction_log_outbox SET delivered_at = NULL, dead_lettered_at = NULL")
        conn.execute(
            "UPDATE transaction_log_outbox SET dead_lettered_at = now() WHERE id = (SELECT min(id) FROM "
            "transaction_log_outbox)"
        )
        events = conn.execute("SELECT count(*) FROM transaction_log_outbox").fetchone()
    assert events is not None
    seen = overview(lambda_env)
    hour, day = seen["last_hour"], seen["last_day"]
    assert hour["totals"] == {"succeeded": 4, "declined": 1, "failed": 0, "open": 0, "canceled": 0}
    assert hour["authorization_rate"] == 0.8 and day["totals"] == hour["totals"]
    assert hour["buckets"][-1]["succeeded"] + hour["buckets"][-2]["succeeded"] == 4, "made in the last minute or two"
    assert seen["outbox"]["backlog"] == cast(int, events[0]) - 1 and seen["outbox"]["dead_lettered"] == 1
    assert seen["outbox"]["oldest_undelivered_at"] is not None
    assert seen["processing"] == {"count": 0, "oldest_created_at": None}
    text = json.dumps(seen)
    assert "secret-ish" not in text and "o-1" not in text and "tok_" not in text, "counts and times only"


def test_reading_the_overview_is_not_an_operator_action_in_the_audit_log(lambda_env: Services) -> None:
    with lambda_env.admin() as conn:
        before = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'overview'").fetchone()
    overview(lambda_env)
    with lambda_env.admin() as conn:
        after = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'overview'").fetchone()
    assert before == after == (0,)


def admin_run(services: Services, event: dict[str, Any]) -> dict[str, Any]:
    admin = Admin(services.admin_settings(), secrets_client=services._secrets())
    try:
        return admin.run(event)
    finally:
        admin.close()


def test_payments_are_found_by_each_filter_a_page_at_a_time(lambda_env: Services) -> None:
    def make(n: int, merchant: str, **body: Any) -> str:
        event = post_payment(payment_body(**body), key=f"find-{n}", merchant=merchant)
        answer = handler_module.handler(event, None)
        assert answer["statusCode"] in (201, 402), answer["body"]
        return str(json.loads(answer["body"])["id"])

    ids = [make(n, "merch_a", amount=1000 + n) for n in range(5)]
    other = make(9, "merch_b", amount=50_000, payment_method="tok_chargeDeclined")

    def find(**filters: Any) -> dict[str, Any]:
        return admin_run(lambda_env, {"action": "find_payments", "filters": filters})

    assert [p["id"] for p in find()["payments"]] == [other, *reversed(ids)]
    assert [p["id"] for p in find(merchant_id="merch_b")["payments"]] == [other]
    assert [p["id"] for p in find(status="declined")["payments"]] == [other]
    assert [p["id"] for p in find(payment_id=ids[2])["payments"]] == [ids[2]]
    assert [p["amount"] for p in find(amount_min=1002, amount_max=1003)["payments"]] == [1003, 1002]
    assert find(created_from="2000-01-01T00:00:00Z", created_to="2000-01-02T00:00:00Z")["payments"] == []
    first = find(merchant_id="merch_a", limit=2)
    assert [p["id"] for p in first["payments"]] == [ids[4], ids[3]] and first["has_more"] is True
    rest = find(merchant_id="merch_a", limit=2, starting_after=ids[3])
    assert [p["id"] for p in rest["payments"]] == [ids[2], ids[1]] and rest["has_more"] is True
    last = find(merchant_id="merch_a", limit=2, starting_after=ids[1])
    assert [p["id"] for p in last["payments"]] == [ids[0]] and last["has_more"] is False
    assert set(first["payments"][0]) == {
        "id",
        "merchant_id",
        "amount",
        "currency",
        "status",
        "capture_method",
        "created_at",
    }


@pytest.mark.parametrize(
    "filters",
    [
        {"merchant_id": "merch a"},
        {"merchant_id": "x" * 65},
        {"status": "paid"},
        {"amount_min": "100"},
        {"amount_min": 0},
        {"amount_max": True},
        {"amount_max": 2**63},
        {"created_from": "yesterday"},
        {"created_from": "2026-12-07T09:00:00"},
        {"payment_id": "pay_x"},
        {"starting_after": "pay_\x00"},
        {"limit": 101},
        {"limit": None},
        {"merchant": "merch_a"},
        {"merchant_id": None, "status": None, "sql": "1=1; DROP TABLE payments"},
    ],
)
def test_a_filter_that_cannot_be_used_is_refused_and_says_which(lambda_env: Services, filters: dict[str, Any]) -> None:
    from payment_processor.admin import AdminError

    with pytest.raises(AdminError) as refused:
        admin_run(lambda_env, {"action": "find_payments", "filters": filters})
    assert refused.value.code == "invalid_request"
    assert any(name in str(refused.value) for name in filters) or "unknown filter" in str(refused.value)


def test_a_payments_timeline_holds_its_events_attempts_refunds_and_stored_answers(lambda_env: Services) -> None:
    from payment_processor.admin import AdminError
    from tests.support import post

    created = handler_module.handler(post_payment(payment_body(amount=2000), key="timeline"), None)
    payment_id = json.loads(created["body"])["id"]
    refunded = handler_module.handler(post(f"/payments/{payment_id}/refunds", {"amount": 500}, key="timeline-r"), None)
    assert refunded["statusCode"] == 201, refunded["body"]
    timeline = admin_run(lambda_env, {"action": "payment_timeline", "payment_id": payment_id})
    assert timeline["payment"]["id"] == payment_id and timeline["payment"]["amount_refunded"] == 500
    assert [e["event_type"] for e in timeline["events"]][:2] == ["payment.processing", "payment.succeeded"]
    assert any(e["event_type"].startswith("refund.") for e in timeline["events"])
    assert [a["outcome"] for a in timeline["attempts"]] == ["approved"]
    assert [(r["amount"], r["status"]) for r in timeline["refunds"]] == [(500, "succeeded")]
    # S3's own listing of the payment's folder: every delivered event is there, by its key.
    delivered = {e["object_key"] for e in timeline["events"] if e["delivered_at"]}
    assert timeline["s3_error"] is None and delivered
    assert delivered <= {o["key"] for o in timeline["s3_objects"]}
    assert all(o["size"] > 0 and o["last_modified"] for o in timeline["s3_objects"])
    answers = {a["idempotency_key"]: a for a in timeline["idempotency_answers"]}
    assert set(answers) == {"timeline", "timeline-r"} and answers["timeline"]["response_body"] == created["body"]
    assert answers["timeline-r"]["refund_id"] == timeline["refunds"][0]["id"]
    with pytest.raises(AdminError) as missing:
        admin_run(lambda_env, {"action": "payment_timeline", "payment_id": "pay_" + "a" * 26})
    assert missing.value.code == "not_found"
    with pytest.raises(AdminError) as malformed:
        admin_run(lambda_env, {"action": "payment_timeline", "payment_id": "pay_' OR 1=1"})
    assert malformed.value.code == "invalid_request"


def test_webhook_endpoints_show_where_they_send_and_never_a_urls_user_part_or_query(clean: Services) -> None:
    from tests.functional.test_webhook_endpoints import create, endpoints

    webhooks = endpoints(clean)
    made = create(webhooks, url="https://example.com:8443/hooks/in")
    endpoint_id = made.endpoint_id
    with clean.admin() as conn:
        # Whatever a URL may carry (the API refuses some of it today; rows older than a rule are not rewritten).
        conn.execute(
            "UPDATE webhook_endpoints SET url = "
            "'https://hook-user:hook-pass@example.com:8443/hooks/in;tok=semisekrit?token=sekrit' "
            "WHERE id = %s",
            (endpoint_id,),
        )
        conn.execute(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id, merchant_id, status, attempts, next_attempt_at) "
            "VALUES ('evt_1', %s, 'merch_123', 'abandoned', 3, NULL), ('evt_2', %s, 'merch_123', 'retrying', 1, now())",
            (endpoint_id, endpoint_id),
        )
        delivery = conn.execute("SELECT id FROM webhook_deliveries WHERE event_id = 'evt_1'").fetchone()
        assert delivery is not None
        conn.execute(
            "INSERT INTO webhook_attempts (delivery_id, endpoint_id, event_id, attempt, attempted_at, status_code, "
            "latency_ms, excerpt) VALUES (%s, %s, 'evt_1', 1, now(), 500, 12, 'oops')",
            (delivery[0], endpoint_id),
        )
    listed = admin_run(clean, {"action": "webhook_endpoints"})["endpoints"]
    (mine,) = [e for e in listed if e["id"] == endpoint_id]
    assert mine["url"] == "https://example.com:8443/hooks/in"
    assert (mine["succeeded"], mine["waiting"], mine["abandoned"]) == (0, 1, 1)
    text = json.dumps(listed)
    assert "hook-pass" not in text and "sekrit" not in text and "hook-user" not in text  # semisekrit too
    attempts = admin_run(clean, {"action": "endpoint_attempts", "endpoint_id": endpoint_id})["attempts"]
    assert [(a["event_id"], a["status_code"], a["excerpt"]) for a in attempts] == [("evt_1", 500, "oops")]
    from payment_processor.admin import AdminError

    with pytest.raises(AdminError) as refused:
        admin_run(clean, {"action": "endpoint_attempts", "endpoint_id": "we_' OR 1=1 --"})
    assert refused.value.code == "invalid_request"


def test_an_operator_redelivers_an_event_once_and_the_audit_log_says_who(lambda_env: Services) -> None:
    from payment_processor.admin import AdminError
    from tests.functional.test_webhook_endpoints import create, endpoints

    endpoint_id = create(endpoints(lambda_env), url="https://example.com/in").endpoint_id
    made = handler_module.handler(post_payment(payment_body(), key="redeliver", merchant="merch_123"), None)
    event_id = f"{json.loads(made['body'])['id']}:0002"
    actor = f"local:ops-{uuid.uuid4().hex[:8]}@host"
    ask = {"action": "redeliver_event", "event_id": event_id, "endpoint_id": endpoint_id, "actor": actor}
    assert admin_run(lambda_env, ask)["redelivery"]["status"] == "queued"
    admin_run(lambda_env, ask)  # one queued at a time: asking again queues no other
    with lambda_env.admin() as conn:
        queued = conn.execute(
            "SELECT count(*) FROM webhook_deliveries WHERE event_id = %s AND endpoint_id = %s AND manual",
            (event_id, endpoint_id),
        ).fetchone()
        audited = conn.execute(
            "SELECT action, target, outcome, detail->>'event_id' FROM audit_log WHERE actor = %s", (actor,)
        ).fetchall()
    assert queued == (1,)
    assert audited == [("redeliver_event", endpoint_id, "ok", event_id)] * 2
    for event, code in (
        ({**ask, "event_id": "pay_" + "b" * 26 + ":0001"}, "not_found"),
        ({**ask, "endpoint_id": "we_" + "b" * 26}, "not_found"),
        ({**ask, "event_id": "x"}, "invalid_request"),
        ({**ask, "endpoint_id": None}, "invalid_request"),
    ):
        with pytest.raises(AdminError) as refused:
            admin_run(lambda_env, event)
        assert refused.value.code == code, event
    with lambda_env.admin() as conn:
        conn.execute("UPDATE webhook_endpoints SET status = 'disabled' WHERE id = %s", (endpoint_id,))
    with pytest.raises(AdminError) as disabled:
        admin_run(lambda_env, ask)
    assert disabled.value.code == "conflict"
