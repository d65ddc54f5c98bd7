"""Validation of a ``POST /payments`` body into a PaymentRequest (logic layer).

Strict by design: an amount must be a JSON integer (not ``"100"``, ``100.0`` or ``true``), unknown
fields are refused, every string is bounded. A raw card number anywhere in the request is refused
with its own error code and is never stored, logged or echoed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from payment_processor import currency
from payment_processor.errors import ValidationFailed

#: Largest amount accepted, in minor units (99,999,999: $999,999.99, or 99,999,999 JPY).
MAX_AMOUNT = 99_999_999
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 1000

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]

# A token as issued by a tokenization service: a short prefix, an underscore, then letters/digits.
_TOKEN = re.compile(r"^(tok|pm|card|src)_[A-Za-z0-9_]{1,200}$")
# 13 to 19 digits, optionally grouped by spaces or dashes: the shape of a primary account number.
_PAN_CANDIDATE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def luhn_valid(digits: str) -> bool:
    """True if ``digits`` (only 0-9) passes the Luhn checksum that every card number carries."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def contains_card_number(text: str) -> bool:
    """True if ``text`` holds something shaped like a card number (13-19 digits passing Luhn)."""
    for match in _PAN_CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def _refuse_card_number(value: str) -> None:
    if contains_card_number(value):
        raise PydanticCustomError(
            "card_number_refused",
            "raw card numbers are not accepted: tokenize the card with your payment provider "
            "and send the token (for example tok_visa)",
        )


class PaymentRequest(BaseModel):
    """A validated request to take a payment. Amount is integer minor units of ``currency``."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    amount: Annotated[int, Field(gt=0, le=MAX_AMOUNT)]
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)]
    payment_method: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    merchant_id: Identifier
    description: Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)] | None = None
    customer_id: Identifier | None = None
    metadata: (
        Annotated[
            dict[
                Annotated[str, StringConstraints(min_length=1, max_length=MAX_METADATA_KEY_LENGTH)],
                Annotated[str, StringConstraints(max_length=MAX_METADATA_VALUE_LENGTH)],
            ],
            Field(max_length=MAX_METADATA_KEYS),
        ]
        | None
    ) = None

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        code = value.upper()
        if currency.lookup(code) is None:
            raise PydanticCustomError(
                "currency_unsupported",
                "currency must be an active ISO 4217 code with minor units, such as USD, EUR or JPY",
            )
        return code

    @field_validator("payment_method")
    @classmethod
    def _token_only(cls, value: str) -> str:
        _refuse_card_number(value)
        if not _TOKEN.match(value):
            raise PydanticCustomError(
                "payment_method_invalid",
                "payment_method must be a payment token such as tok_visa",
            )
        return value

    @field_validator("description")
    @classmethod
    def _no_card_number_in_description(cls, value: str | None) -> str | None:
        if value is not None:
            _refuse_card_number(value)
        return value

    @field_validator("metadata")
    @classmethod
    def _no_card_number_in_metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, item in (value or {}).items():
            _refuse_card_number(key)
            _refuse_card_number(item)
        return value

    def fingerprint_material(self) -> dict[str, Any]:
        """The request as canonical data: two requests are 'the same' for idempotency iff these match."""
        return self.model_dump(mode="json")


# Codes of our own custom errors pass through to the client; pydantic's built-in ones become
# "validation_error" with pydantic's message (which never contains the input value).
_OWN_CODES = {"card_number_refused", "currency_unsupported", "payment_method_invalid"}


def parse_payment_request(body: Any) -> PaymentRequest:
    """Validate a decoded JSON body; raise ValidationFailed naming the first bad field."""
    if not isinstance(body, dict):
        raise ValidationFailed("the request body must be a JSON object", field=None)
    try:
        return PaymentRequest.model_validate(body)
    except ValidationError as exc:
        raise _first_error(exc) from None


def _first_error(exc: ValidationError) -> ValidationFailed:
    # include_input=False: the offending value may be a card number and must never be echoed.
    error = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    field = ".".join(str(part) for part in error["loc"]) or None
    kind = error["type"]
    if kind in _OWN_CODES:
        return ValidationFailed(error["msg"], code=kind, field=field)
    if kind == "missing":
        return ValidationFailed(f"{field} is required", field=field)
    if kind == "extra_forbidden":
        return ValidationFailed(f"{field} is not a recognised field", field=field)
    return ValidationFailed(f"{field}: {error['msg']}", field=field)
