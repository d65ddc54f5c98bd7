"""Screening through the real Api: the Idempotency-Key header, raw JSON escapes, and the 500 log line.

A refused request writes nothing, answers without echoing, and logs no request text.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from psycopg import errors as pg_errors
from psycopg.pq import DiagnosticField

from payment_processor.api import idempotency_key, read_json_body
from payment_processor.errors import ApiError
from tests.support import body_of, payment_body, post_payment, proxy_event
from tests.unit.conftest import App

PAN = "4111111111111111"


def refusal(event: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        idempotency_key(event)
    return caught.value


@pytest.mark.parametrize(
    "key",
    [PAN, "4111 1111 1111 1111", "4111.1111.1111.1111", "order-4111-1111-1111-1111", "4111_1111_1111_1111"],
)
def test_a_card_number_in_the_idempotency_key_is_refused(key: str) -> None:
    error = refusal(post_payment(payment_body(), key=key))
    assert (error.status, error.code, error.field) == (422, "card_number_refused", "Idempotency-Key")
    assert "1111" not in json.dumps(error.body())


@pytest.mark.parametrize("key", ["k\u0000", "\ud800", "k\udfffk"])
def test_an_unstorable_idempotency_key_is_refused(key: str) -> None:
    error = refusal(post_payment(payment_body(), key=key))
    assert (error.status, error.code, error.field) == (422, "invalid_character", "Idempotency-Key")


@pytest.mark.parametrize("key", ["550e8400-e29b-41d4-a716-446655440000", "order-2024-01-15-42", "k" * 255])
def test_ordinary_idempotency_keys_pass(key: str) -> None:
    assert idempotency_key(post_payment(payment_body(), key=key)) == key


def test_other_unprintable_keys_stay_a_400() -> None:
    error = refusal(post_payment(payment_body(), key="line\nbreak"))
    assert (error.status, error.code) == (400, "invalid_idempotency_key")


def test_json_escapes_decode_to_what_the_screen_refuses() -> None:
    body = read_json_body(post_payment(None, raw_body='{"a": "\\ud800", "b": "\\u0000"}'))
    assert body == {"a": "\ud800", "b": "\x00"}


def test_a_malformed_body_error_does_not_echo_it() -> None:
    with pytest.raises(ApiError) as caught:
        read_json_body(post_payment(None, raw_body=f'{{"{PAN}": 1, "{PAN}": 2}}'))
    assert caught.value.code == "malformed_json" and PAN not in json.dumps(caught.value.body())


@pytest.mark.parametrize(
    ("event", "code", "field"),
    [
        (post_payment(payment_body(metadata={PAN: "x"})), "card_number_refused", "metadata"),
        (post_payment(payment_body(surprise={"deep": [PAN]})), "card_number_refused", None),
        (post_payment(payment_body(), key=f"retry {PAN}"), "card_number_refused", "Idempotency-Key"),
        (post_payment(payment_body(), key="k\u0000"), "invalid_character", "Idempotency-Key"),
        (
            post_payment(None, raw_body=json.dumps(payment_body()).replace("order 42", "\\ud800 Zq7Mark")),
            "invalid_character",
            "description",
        ),
        (post_payment(None, raw_body='{"amount": ' + PAN + "}"), "card_number_refused", "amount"),
    ],
)
def test_refusals_write_nothing_and_log_no_request_text(
    app: App, event: dict[str, Any], code: str, field: str | None
) -> None:
    response = app.api.handle(event)
    error = body_of(response)["error"]
    assert (response["statusCode"], error["code"], error.get("field")) == (422, code, field)
    assert app.store.payment_count() == 0 and app.store.key_count() == 0 and not app.sink.objects
    for sent in (PAN, "Zq7Mark"):
        assert sent not in response["body"] and sent not in app.log.getvalue()


def test_an_unhandled_database_error_is_logged_without_its_detail(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    info: Any = {
        DiagnosticField.SQLSTATE: b"23505",
        DiagnosticField.MESSAGE_PRIMARY: b'duplicate key value violates unique constraint "payments_pkey"',
        DiagnosticField.MESSAGE_DETAIL: f"Key (id)=({PAN}) already exists.".encode(),
        DiagnosticField.CONSTRAINT_NAME: b"payments_pkey",
    }

    def fail(*args: object, **kwargs: object) -> None:
        raise pg_errors.UniqueViolation(f"DETAIL: Key (id)=({PAN}) already exists.", info=info)

    monkeypatch.setattr(app.service, "payment_with_attempts", fail)
    response = app.api.handle(proxy_event("GET", "/payments/pay_" + "a" * 26))
    assert response["statusCode"] == 500
    [line] = [json.loads(line) for line in app.log.getvalue().splitlines() if "unhandled" in line]
    assert line["level"] == "ERROR" and "exception" not in line
    assert line["error"]["exception_type"] == "psycopg.errors.UniqueViolation"
    assert line["error"]["sqlstate"] == "23505" and line["error"]["constraint"] == "payments_pkey"
    assert line["error"]["traceback"][-1].endswith(" in fail")
    assert PAN not in app.log.getvalue() and "Key (id)" not in app.log.getvalue()
