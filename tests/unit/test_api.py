"""Every status the API answers, through the real Api and service over in-memory fakes."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from payment_processor.api import MAX_BODY_BYTES
from tests.support import body_of, payment_body, post_payment, proxy_event
from tests.unit.conftest import App


def test_201_returns_the_payment_resource(app: App) -> None:
    response = app.api.handle(post_payment(payment_body()))
    assert response["statusCode"] == 201
    body = body_of(response)
    assert body["status"] == "succeeded"
    assert body["amount"] == 1999 and body["currency"] == "USD" and body["merchant_id"] == "merch_123"
    assert body["id"].startswith("pay_") and body["created_at"].endswith("Z")
    assert response["headers"]["Location"] == f"/payments/{body['id']}"
    assert "Idempotent-Replayed" not in response["headers"]
    assert app.store.payment_count() == 1
    # Two state changes, two transaction-log objects: recorded (processing), then succeeded.
    assert sorted(key.rsplit("/", 1)[1] for key in app.sink.objects) == [
        "0001-payment.processing.json",
        "0002-payment.succeeded.json",
    ]
    # Security review, finding 9: behind a stage the Location carries it, so following it works.
    staged = post_payment(payment_body(), key="staged")
    staged["requestContext"]["path"] = "/v1/payments"
    again = app.api.handle(staged)
    assert again["headers"]["Location"] == f"/v1/payments/{body_of(again)['id']}"


@pytest.mark.parametrize(
    ("token", "decline_code"),
    [
        ("tok_chargeDeclined", "generic_decline"),
        ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("tok_chargeDeclinedExpiredCard", "expired_card"),
        ("tok_chargeDeclinedProcessingError", "processing_error"),
    ],
)
def test_402_declines_are_recorded_with_their_code(app: App, token: str, decline_code: str) -> None:
    response = app.api.handle(post_payment(payment_body(payment_method=token)))
    assert response["statusCode"] == 402
    body = body_of(response)
    assert body["status"] == "declined" and body["decline_code"] == decline_code
    assert body["error"]["code"] == "card_declined" and body["error"]["decline_code"] == decline_code
    stored = app.service.get_payment("merch_123", body["id"])
    assert stored.status == "declined" and stored.decline_code == decline_code
    assert sorted(key.rsplit("/", 1)[1] for key in app.sink.objects) == [
        "0001-payment.processing.json",
        "0002-payment.declined.json",
    ]


def test_replay_returns_first_response_with_header(app: App) -> None:
    first = app.api.handle(post_payment(payment_body(), key="k1"))
    second = app.api.handle(post_payment(payment_body(), key="k1"))
    assert second["statusCode"] == 201
    assert body_of(second) == body_of(first)
    assert second["headers"]["Idempotent-Replayed"] == "true"
    assert app.store.payment_count() == 1


def test_replay_of_a_decline_is_a_402(app: App) -> None:
    body = payment_body(payment_method="tok_chargeDeclined")
    app.api.handle(post_payment(body, key="d1"))
    again = app.api.handle(post_payment(body, key="d1"))
    assert again["statusCode"] == 402 and again["headers"]["Idempotent-Replayed"] == "true"


def test_same_key_same_payment_spelled_differently_replays(app: App) -> None:
    app.api.handle(post_payment(payment_body(currency="usd"), key="k"))
    raw = json.dumps(payment_body(), indent=4)
    again = app.api.handle(post_payment(None, key="k", raw_body=raw))
    assert again["headers"].get("Idempotent-Replayed") == "true"


def test_same_key_different_body_is_422(app: App) -> None:
    app.api.handle(post_payment(payment_body(amount=100), key="k1"))
    response = app.api.handle(post_payment(payment_body(amount=200), key="k1"))
    assert response["statusCode"] == 422
    assert body_of(response)["error"]["code"] == "idempotency_key_reused"
    assert app.store.payment_count() == 1


def test_keys_are_scoped_per_merchant(app: App) -> None:
    a = app.api.handle(post_payment(payment_body(), key="same", merchant="m_a"))
    b = app.api.handle(post_payment(payment_body(amount=5), key="same", merchant="m_b"))
    assert a["statusCode"] == b["statusCode"] == 201, "another merchant's key gives nothing away: no 422 reuse"
    assert body_of(a)["id"] != body_of(b)["id"]
    assert body_of(a)["merchant_id"] == "m_a" and body_of(b)["merchant_id"] == "m_b"


def test_get_200_and_404(app: App) -> None:
    created = body_of(app.api.handle(post_payment(payment_body())))
    got = app.api.handle(proxy_event("GET", f"/payments/{created['id']}"))
    shown = body_of(got)
    attempts = shown.pop("attempts")
    assert got["statusCode"] == 200 and shown == created
    assert [(a["connector"], a["outcome"], a["decline_code"]) for a in attempts] == [("simulated", "approved", None)]
    assert attempts[0]["latency_ms"] >= 0 and attempts[0]["created_at"] == created["created_at"]
    missing = app.api.handle(proxy_event("GET", "/payments/pay_" + "a" * 26))
    assert missing["statusCode"] == 404 and body_of(missing)["error"]["code"] == "not_found"
    malformed = app.api.handle(proxy_event("GET", "/payments/nonsense'--"))
    assert malformed["statusCode"] == 404


@pytest.mark.parametrize(
    ("event_kwargs", "code"),
    [
        ({"raw_body": "{not json"}, "malformed_json"),
        ({"raw_body": ""}, "malformed_json"),
        ({"raw_body": '{"amount": NaN}'}, "malformed_json"),
        ({"raw_body": '{"amount": 1, "amount": 2}'}, "malformed_json"),
        ({"raw_body": "%%%", "base64": True}, "malformed_json"),
    ],
)
def test_400_malformed_body(app: App, event_kwargs: dict[str, Any], code: str) -> None:
    response = app.api.handle(post_payment(None, **event_kwargs))
    assert response["statusCode"] == 400 and body_of(response)["error"]["code"] == code
    assert app.store.payment_count() == 0 and app.store.key_count() == 0


def test_400_missing_or_bad_idempotency_key(app: App) -> None:
    missing = app.api.handle(post_payment(payment_body(), key=None))
    assert missing["statusCode"] == 400
    assert body_of(missing)["error"] == {
        "code": "missing_idempotency_key",
        "message": body_of(missing)["error"]["message"],
        "field": "Idempotency-Key",
    }
    too_long = app.api.handle(post_payment(payment_body(), key="k" * 256))
    assert too_long["statusCode"] == 400 and body_of(too_long)["error"]["code"] == "invalid_idempotency_key"
    longest = app.api.handle(post_payment(payment_body(), key="k" * 255))
    assert longest["statusCode"] == 201
    assert app.store.payment_count() == 1


def test_header_names_are_case_insensitive(app: App) -> None:
    event = proxy_event("POST", "/payments", payment_body(), headers={"idempotency-key": "lower"})
    assert app.api.handle(event)["statusCode"] == 201


def test_base64_body_is_decoded(app: App) -> None:
    raw = base64.b64encode(json.dumps(payment_body()).encode()).decode()
    assert app.api.handle(post_payment(None, raw_body=raw, base64=True))["statusCode"] == 201


def test_413_body_too_large(app: App) -> None:
    big = payment_body(description="x" * (MAX_BODY_BYTES + 1))
    response = app.api.handle(post_payment(big))
    assert response["statusCode"] == 413 and body_of(response)["error"]["code"] == "payload_too_large"
    big64 = base64.b64encode(json.dumps(big).encode()).decode()
    assert app.api.handle(post_payment(None, raw_body=big64, base64=True))["statusCode"] == 413
    assert app.store.payment_count() == 0


def test_405_and_unknown_route(app: App) -> None:
    assert app.api.handle(proxy_event("DELETE", "/payments"))["headers"]["Allow"] == "GET, POST"
    assert app.api.handle(proxy_event("GET", f"/payments/pay_{'a' * 26}/capture"))["headers"]["Allow"] == "POST"
    assert app.api.handle(proxy_event("POST", "/payments/pay_x"))["statusCode"] == 405
    unknown = app.api.handle(proxy_event("GET", "/refunds"))
    assert unknown["statusCode"] == 404 and body_of(unknown)["error"]["code"] == "route_not_found"


def test_the_readme_lists_no_answer_the_deployed_api_cannot_give() -> None:
    # Review finding 10: it listed 405, which API Gateway never lets through (a method a path does not serve is
    # its own 404 route_not_found, checked over HTTP in tests/emulator/test_review_findings_http.py).
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert re.search(r"\b405\b", readme) is None
    assert "a method a path does not serve is `404\n  route_not_found`" in readme


def test_503_with_retry_after_when_database_down(app: App) -> None:
    app.store.available = False
    response = app.api.handle(post_payment(payment_body()))
    assert response["statusCode"] == 503
    assert int(response["headers"]["Retry-After"]) > 0
    assert body_of(response)["error"]["code"] == "database_unavailable"
    got = app.api.handle(proxy_event("GET", "/payments/pay_" + "a" * 26))
    assert got["statusCode"] == 503


def test_unknown_token_is_422_and_writes_nothing(app: App) -> None:
    response = app.api.handle(post_payment(payment_body(payment_method="tok_nonexistent")))
    assert response["statusCode"] == 422 and body_of(response)["error"]["code"] == "payment_method_unknown"
    assert app.store.payment_count() == 0 and app.store.key_count() == 0 and not app.sink.objects


def test_unexpected_error_is_500_without_trace(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.service, "payment_with_attempts", boom)
    response = app.api.handle(proxy_event("GET", "/payments/pay_" + "a" * 26))
    assert response["statusCode"] == 500
    assert "secret internals" not in response["body"] and "Traceback" not in response["body"]
    assert body_of(response)["error"]["code"] == "internal_error"
    # The operator gets the type and where it happened, never the text (it may be request data).
    assert '"exception_type":"RuntimeError"' in app.log.getvalue() and "in boom" in app.log.getvalue()
    assert "secret internals" not in app.log.getvalue()


def test_s3_down_keeps_payment_and_delivers_later(app: App) -> None:
    app.sink.available = False
    response = app.api.handle(post_payment(payment_body()))
    assert response["statusCode"] == 201
    assert len(app.store.pending_events()) == 2 and not app.sink.objects
    assert "transaction log delivery deferred" in app.log.getvalue()
    app.sink.available = True
    # The request stopped at its first failed put. Within its backoff that event is not retried (no
    # hammering of a sink that just failed); the one never tried goes with the next request's backlog...
    app.api.handle(post_payment(payment_body(), key="early"))
    assert len(app.sink.objects) == 3 and len(app.store.pending_events()) == 1
    # ...once it is due, the next request drains the backlog after its own events.
    app.store.make_due()
    app.api.handle(post_payment(payment_body(), key="next"))
    assert len(app.sink.objects) == 6 and not app.store.pending_events()
    report = app.service.deliver_pending()
    assert report.delivered == 0 and report.error is None


def test_logs_are_json_with_request_fields_and_no_sensitive_values(app: App) -> None:
    app.api.handle(post_payment(payment_body(payment_method="tok_chargeDeclinedInsufficientFunds")))
    app.api.handle(post_payment(payment_body(payment_method="4242 4242 4242 4242"), key="pan"))
    lines = [json.loads(line) for line in app.log.getvalue().splitlines()]
    assert {line["status"] for line in lines} == {402, 422}
    assert all(line["service"].startswith("payment-processor-test") for line in lines)
    text = app.log.getvalue()
    assert "tok_chargeDeclined" not in text and "4242" not in text
