"""Validation of payment bodies: strict types, bounds, currencies, card numbers, no echo."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payment_processor.errors import ValidationFailed
from payment_processor.validation import MAX_AMOUNT, field_of, parse_payment_request
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


@pytest.mark.parametrize(
    "code", ["XYZ", "US", "USDD", "XAU", "XTS", "123", "BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"]
)
def test_currency_must_be_payable_iso4217(code: str) -> None:
    error = error_of(payment_body(currency=code))
    assert error.field == "currency"


def test_unknown_currency_has_its_own_code() -> None:
    assert error_of(payment_body(currency="XYZ")).code == "currency_unsupported"


@pytest.mark.parametrize("pan", ["4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242", "378282246310005"])
def test_raw_card_number_refused_and_never_echoed(pan: str) -> None:
    error = error_of(payment_body(payment_method=pan))
    assert error.code == "card_number_refused" and error.field == "payment_method"
    assert error.status == 422
    assert pan not in str(error.body()) and pan.replace(" ", "") not in str(error.body())


PAN = "4111 1111 1111 1111"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"payment_method": "tok_4111111111111111"}, "payment_method"),
        ({"description": f"card {PAN}"}, "description"),
        ({"customer_id": "4111111111111111"}, "customer_id"),
        ({"currency": "4111111111111111"}, "currency"),
        ({"amount": 4111111111111111}, "amount"),  # a JSON integer is screened as its digits
        ({"metadata": {"note": PAN}}, "metadata"),
        ({"metadata": {"4111-1111-1111-1111": "v"}}, "metadata"),  # a key: named by its object only
        ({"metadata": {"k": ["nested", {"deeper": PAN}]}}, "metadata"),
        ({"merchant_id": PAN}, "merchant_id"),
        ({"surprise": {"x": [PAN]}}, None),  # unknown fields are screened, and never named
        ({"4111111111111111": 1}, None),
    ],
)
def test_card_number_anywhere_is_refused_before_anything_else(overrides: dict[str, Any], field: str | None) -> None:
    # amount=0 is also wrong: the card number is the error reported, whatever else is.
    error = error_of(payment_body(**{"amount": 0, **overrides}))
    assert (error.code, error.field, error.status) == ("card_number_refused", field, 422)
    assert "1111" not in json.dumps(error.body())


def test_a_card_number_outside_an_object_body_is_still_refused() -> None:
    assert error_of([PAN]).code == "card_number_refused"
    assert error_of(4111111111111111).code == "card_number_refused"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"description": "nul\u0000"}, "description"),
        ({"description": "\ud800"}, "description"),
        ({"customer_id": "cus\u0000"}, "customer_id"),
        ({"payment_method": "tok_visa\u0000"}, "payment_method"),
        ({"metadata": {"k": "\udfff"}}, "metadata"),
        ({"metadata": {"k\u0000": "v"}}, "metadata"),
        ({"surprise": ["\u0000"]}, None),
        ({"\ud800": 1}, None),
    ],
)
def test_text_the_database_cannot_store_is_refused(overrides: dict[str, Any], field: str | None) -> None:
    # Python escapes here; json.loads gives the same strings from the JSON escapes \u0000 and \ud800.
    error = error_of(payment_body(amount=0, **overrides))
    assert (error.code, error.field, error.status) == ("invalid_character", field, 422)


def test_a_card_number_is_reported_before_an_unstorable_character() -> None:
    assert error_of(payment_body(description="\u0000", metadata={"n": PAN})).code == "card_number_refused"


def test_non_token_payment_method_refused() -> None:
    error = error_of(payment_body(payment_method="visa please"))
    assert error.code == "payment_method_invalid"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"customer_id": "x" * 65}, "customer_id"),
        ({"customer_id": "a b"}, "customer_id"),
        ({"description": "d" * 1001}, "description"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
        ({"metadata": {"k": "v" * 501}}, "metadata"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"metadata": {"k" * 41: "v"}}, "metadata"),
        ({"metadata": {"": "v"}}, "metadata"),
        ({"metadata": "nope"}, "metadata"),
        ({"payment_method": ...}, "payment_method"),
        ({"surprise": 1}, None),
    ],
)
def test_fields_are_bounded(overrides: dict[str, Any], field: str | None) -> None:
    error = error_of(payment_body(**overrides))
    assert (error.field, error.status) == (field, 422)


@pytest.mark.parametrize("extra", [{}, {"amount": 0}, {"surprise": 1}, {"currency": "XYZ"}])
def test_merchant_id_in_the_body_is_refused(extra: dict[str, Any]) -> None:
    """The merchant comes from the API key: sending one is a 422 naming merchant_id, whatever else."""
    error = error_of(payment_body(merchant_id="merch_123", **extra))
    assert (error.status, error.code, error.field) == (422, "validation_error", "merchant_id")
    assert "API key" in error.message and "merch_123" not in error.message


def test_request_has_no_merchant_and_fingerprints_its_own_data() -> None:
    request = parse_payment_request(payment_body())
    assert not hasattr(request, "merchant_id")
    assert request.fingerprint_material() == {
        "amount": 1999,
        "currency": "USD",
        "payment_method": "tok_visa",
        "description": "order 42",
        "customer_id": "cus_9",
        "metadata": {"order_id": "42"},
    }


MARK = "Zq7Mark"


@pytest.mark.parametrize(
    "overrides",
    [
        {"amount": MARK},
        {"currency": MARK},
        {"currency": [MARK]},
        {"payment_method": MARK},
        {"payment_method": f"tok_{MARK}!"},
        {"customer_id": f"{MARK} {MARK}"},
        {"description": MARK * 200},
        {"description": {MARK: MARK}},
        {"metadata": MARK},
        {"metadata": {MARK: MARK * 100}},
        {"metadata": {MARK * 10: "v"}},
        {"metadata": {MARK: 1}},
        {"metadata": {MARK: None}},
        {MARK: 1},
        {"merchant_id": MARK},
    ],
)
def test_no_error_echoes_what_was_sent(overrides: dict[str, Any]) -> None:
    error = error_of(payment_body(**overrides))
    assert error.status == 422
    assert MARK not in json.dumps(error.body()) and MARK.lower() not in json.dumps(error.body()).lower()


def test_metadata_errors_say_key_or_value_without_naming_it() -> None:
    assert error_of(payment_body(metadata={"k" * 41: "v"})).message.startswith("a metadata key:")
    assert error_of(payment_body(metadata={"k": "v" * 501})).message.startswith("a metadata value:")


def test_unknown_fields_are_refused_with_the_list_of_fields() -> None:
    error = error_of(payment_body(surprise=1))
    assert error.field is None and "payment_method" in error.message and "surprise" not in error.message


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("metadata", "note"), "metadata"),
        (("payment_method",), "payment_method"),
        (("merchant_id",), "merchant_id"),
        (("surprise", "x"), None),
        ((0,), None),
        ((), None),
    ],
)
def test_field_of_names_only_published_fields(path: tuple[str | int, ...], field: str | None) -> None:
    assert field_of(path) == field


def test_body_must_be_an_object() -> None:
    assert error_of([1, 2]).field is None
