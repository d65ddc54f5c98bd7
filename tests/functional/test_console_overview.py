"""The console's overview as the admin function reads it from the real database (payments made through the
real handler, one snapshot, counts and times only)."""

from __future__ import annotations

import json
from typing import Any

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
    assert seen["outbox"]["backlog"] == events[0] - 1 and seen["outbox"]["dead_lettered"] == 1
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
