"""Validation of payment bodies: strict types, bounds, currencies, card numbers."""

from __future__ import annotations

from typing import Any

import pytest

from payment_processor.errors import ValidationFailed
from payment_processor.validation import (
    MAX_AMOUNT,
    contains_card_number,
    luhn_valid,
    parse_payment_request,
)
from tests.support import payment_body


def error_of(body: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_payment_request(body)
    return caught.value


def test_valid_body_normalises_currency() -> None:
    request = parse_payment_request(payment_body(currency="eur"))
    assert request.currency == "EUR" and request.amount == 1999


def test_optional_fields_may_be_absent() -> None:
    request = parse_payment_request(payment_body(description=..., customer_id=..., metadata=...))
    assert request.description is None and request.metadata is None


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        (0, "zero"),
        (-5, "negative"),
        (MAX_AMOUNT + 1, "over bound"),
        (19.99, "float"),
        ("1999", "string"),
        (True, "bool"),
        (None, "null"),
    ],
)
def test_amount_must_be_a_positive_bounded_integer(amount: Any, why: str) -> None:
    error = error_of(payment_body(amount=amount))
    assert error.field == "amount", why
    assert error.status == 422


def test_max_amount_is_accepted() -> None:
    assert parse_payment_request(payment_body(amount=MAX_AMOUNT)).amount == MAX_AMOUNT


@pytest.mark.parametrize("code", ["XYZ", "US", "USDD", "XAU", "XTS", "123"])
def test_currency_must_be_payable_iso4217(code: str) -> None:
    error = error_of(payment_body(currency=code))
    assert error.field == "currency"


def test_unknown_currency_has_its_own_code() -> None:
    assert error_of(payment_body(currency="XYZ")).code == "currency_unsupported"


@pytest.mark.parametrize("pan", ["4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242", "378282246310005"])
def test_raw_card_number_refused_and_never_echoed(pan: str) -> None:
    error = error_of(payment_body(payment_method=pan))
    assert error.code == "card_number_refused" and error.field == "payment_method"
    assert pan not in str(error.body()) and pan.replace(" ", "") not in str(error.body())


def test_card_number_in_metadata_or_description_refused() -> None:
    assert error_of(payment_body(metadata={"note": "card 4111111111111111"})).code == "card_number_refused"
    assert error_of(payment_body(description="4111 1111 1111 1111")).code == "card_number_refused"


def test_non_token_payment_method_refused() -> None:
    error = error_of(payment_body(payment_method="visa please"))
    assert error.code == "payment_method_invalid"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"merchant_id": ""}, "merchant_id"),
        ({"merchant_id": "a b"}, "merchant_id"),
        ({"merchant_id": ...}, "merchant_id"),
        ({"customer_id": "x" * 65}, "customer_id"),
        ({"description": "d" * 1001}, "description"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
        ({"metadata": {"k": "v" * 501}}, "metadata.k"),
        ({"metadata": {"k": 1}}, "metadata.k"),
        ({"metadata": "nope"}, "metadata"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_fields_are_bounded(overrides: dict[str, Any], field: str) -> None:
    assert error_of(payment_body(**overrides)).field == field


def test_body_must_be_an_object() -> None:
    assert error_of([1, 2]).field is None


def test_luhn() -> None:
    assert luhn_valid("4242424242424242") and not luhn_valid("4242424242424241")
    assert contains_card_number("x 5555 5555 5555 4444 y")
    assert not contains_card_number("order 1234567890123")  # 13 digits, fails Luhn
    assert not contains_card_number("tok_visa")
