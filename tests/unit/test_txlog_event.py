"""The transaction-log event holds ids, amounts, currency, status, codes and times: no caller free text."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from payment_processor.payment import Payment
from payment_processor.states import PaymentStatus
from payment_processor.txlog import payment_event


def test_event_body_holds_no_free_text() -> None:
    payment = Payment(
        id="pay_" + "a" * 26,
        merchant_id="merch_123",
        amount=1999,
        currency="EUR",
        status=PaymentStatus.DECLINED,
        payment_method="tok_chargeDeclined",
        created_at=datetime(2025, 3, 4, 5, 6, 7, 89, tzinfo=UTC),
        decline_code="generic_decline",
        authorization_code=None,
        description="Zq7Desc for Jane Doe",
        customer_id="cus_Zq7Cust",
        metadata={"Zq7Key": "Zq7Value"},
        idempotency_key="Zq7Idem",
        updated_at=datetime(2025, 3, 4, 5, 6, 8, 1, tzinfo=UTC),
    )
    event = payment_event(payment, sequence=2)
    body = json.loads(event.body)
    assert body == {
        "event_id": "pay_aaaaaaaaaaaaaaaaaaaaaaaaaa:0002",
        "event_type": "payment.declined",
        # When this state was reached, not when the payment was created.
        "occurred_at": "2025-03-04T05:06:08.000001Z",
        "payment": {
            "id": "pay_aaaaaaaaaaaaaaaaaaaaaaaaaa",
            "object": "payment",
            "status": "declined",
            "amount": 1999,
            "currency": "EUR",
            "merchant_id": "merch_123",
            "decline_code": "generic_decline",
            "failure_code": None,
            "authorization_code": None,
            "capture_method": "automatic",
            "amount_captured": 0,
            "amount_refunded": 0,
            "cancellation_reason": None,
            "created_at": "2025-03-04T05:06:07.000089Z",
        },
    }
    assert "Zq7" not in event.body and "tok_" not in event.body
    assert event.object_key == "transactions/2025/03/04/pay_aaaaaaaaaaaaaaaaaaaaaaaaaa/0002-payment.declined.json"
