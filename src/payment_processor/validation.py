"""Validation of a ``POST /payments`` body into a PaymentRequest (logic layer).

Strict by design: an amount must be a JSON integer (not ``"100"``, ``100.0`` or ``true``), unknown
fields are refused, every string is bounded. Before any of that, the whole decoded body is screened
(``payment_processor.screening``): a raw card number anywhere in it, keys and unknown fields
included, is ``422 card_number_refused``; a NUL or an unpaired surrogate is ``422
invalid_character``. Neither is ever stored, logged or echoed.

No error echoes what the caller sent: messages are ours or pydantic's (which never include the
input), and ``field`` names only a field this API publishes, never a caller's key (an error inside
``metadata`` names ``metadata``; an unknown field that we never published is not named at all).

The merchant is not part of the body: it is the owner of the API key that authenticated the
request. A body that still sends ``merchant_id`` is refused with ``field = merchant_id``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from payment_processor import currency
from payment_processor import payment as payments
from payment_processor.errors import CardNumberRefused, InvalidCharacter, ValidationFailed
from payment_processor.screening import Path, find_card_number, find_unstorable_character

#: Largest amount accepted, in minor units (99,999,999: $999,999.99, or 99,999,999 JPY).
MAX_AMOUNT = 99_999_999
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 1000

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]

# A token as issued by a tokenization service: a short prefix, an underscore, then letters/digits.
_TOKEN = re.compile(r"^(tok|pm|card|src)_[A-Za-z0-9_]{1,200}$")

#: Fields the body no longer takes, with what to do instead. Named in errors like published fields.
RETIRED_FIELDS = {
    "merchant_id": "merchant_id is not accepted in the body: the merchant is the owner of the API key",
}


class PaymentRequest(BaseModel):
    """A validated request to take a payment. Amount is integer minor units of ``currency``.

    Build it with :func:`parse_payment_request`, which screens the raw body (card numbers,
    unstorable characters) before this model sees it.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    amount: Annotated[int, Field(gt=0, le=MAX_AMOUNT)]
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)]
    payment_method: Annotated[str, StringConstraints(min_length=1, max_length=255)]
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
    #: ``automatic``: captured with the authorization. ``manual``: authorized only (``requires_capture``),
    #: then captured or canceled with their own requests.
    capture_method: Literal["automatic", "manual"] = "automatic"

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
        if not _TOKEN.match(value):
            raise PydanticCustomError(
                "payment_method_invalid",
                "payment_method must be a payment token such as tok_visa",
            )
        return value

    def fingerprint_material(self) -> dict[str, Any]:
        """The request as canonical data: two requests are 'the same' for idempotency iff these match.

        The default capture method is left out, so a key stored before the field existed still matches
        a retry of the same body.
        """
        material = self.model_dump(mode="json")
        if material["capture_method"] == payments.AUTOMATIC:
            del material["capture_method"]
        return material


Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT)]


def _omitted_not_null(value: Any) -> Any:
    """An optional amount is left out to mean "all"; ``null`` is not a spelling of that.

    A client that sends ``null`` most likely lost a number on the way (an unset variable serialised), and
    reading it as "all" would move the whole amount. The default applies only when the field is absent:
    pydantic does not validate defaults, so this runs for an explicit ``null`` alone.
    """
    if value is None:
        raise PydanticCustomError(
            "amount_null", "must be an integer of minor units; leave amount out to mean all of it, never null"
        )
    return value


class CaptureRequest(BaseModel):
    """``POST /payments/{id}/capture``: ``amount`` to capture (default: all that was authorized)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    amount: Amount | None = None

    _amount_not_null = field_validator("amount", mode="before")(_omitted_not_null)


class IncrementAuthorizationRequest(BaseModel):
    """``POST /payments/{id}/increment_authorization``: the new authorized ``amount`` (above the current one)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    amount: Amount


class CancelRequest(BaseModel):
    """``POST /payments/{id}/cancel``: why, from a fixed list (default ``requested_by_customer``)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    cancellation_reason: Literal["requested_by_customer", "duplicate", "fraudulent", "abandoned"] | None = None


class ConfirmRequest(BaseModel):
    """``POST /payments/{id}/confirm``: no fields (the body may be absent or ``{}``; anything in it is refused)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class RefundRequest(BaseModel):
    """``POST /payments/{id}/refunds``: ``amount`` (default: all that is left) and a ``reason`` from a fixed list."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    amount: Amount | None = None
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None

    _amount_not_null = field_validator("amount", mode="before")(_omitted_not_null)


# Codes of our own custom errors pass through to the client; pydantic's built-in ones become
# "validation_error" with pydantic's message (which never contains the input value).
_OWN_CODES = {"currency_unsupported", "payment_method_invalid"}

#: The only names an error's ``field`` may carry for the body: ours, never the caller's.
PUBLISHED_FIELDS = (
    frozenset(PaymentRequest.model_fields)
    | frozenset(CaptureRequest.model_fields)
    | frozenset(CancelRequest.model_fields)
    | frozenset(RefundRequest.model_fields)
    | frozenset(IncrementAuthorizationRequest.model_fields)
    | frozenset(RETIRED_FIELDS)
)
Model = TypeVar("Model", bound=BaseModel)


def field_of(path: Path, model: type[BaseModel] | None = None) -> str | None:
    """The published field ``path`` lies in (one of ours, or of ``model``), or None: a caller's own key is
    never named back.

    ``("metadata", "note")`` is ``metadata``; ``("payment_method",)`` is ``payment_method``; the
    body itself ``()`` and an unknown field ``("surprise",)`` are None.
    """
    if (
        path
        and isinstance(path[0], str)
        and (path[0] in PUBLISHED_FIELDS or (model is not None and path[0] in model.model_fields))
    ):
        return path[0]
    return None


def parse_payment_request(body: Any) -> PaymentRequest:
    """Validate a decoded JSON body; raise ValidationFailed naming the first bad field.

    Order: a card number anywhere (keys and unknown fields included), then a character the database
    cannot store, then the body's shape, then retired fields, then each field.
    """
    return parse_body(PaymentRequest, body)


def parse_body(model: type[Model], body: Any) -> Model:
    """Validate a decoded JSON body as ``model``, screened and ordered as ``parse_payment_request`` says.

    An empty or absent body is ``{}`` for the follow-up requests, whose fields are all optional.
    """
    # Screen before pydantic so that unknown fields and metadata keys are screened too, and before
    # any error that might be logged or answered is built from the body.
    found = find_card_number(body)
    if found is not None:
        raise CardNumberRefused(field=field_of(found, model))
    found = find_unstorable_character(body)
    if found is not None:
        raise InvalidCharacter(field=field_of(found, model))
    if not isinstance(body, dict):
        raise ValidationFailed("the request body must be a JSON object", field=None)
    for name, why in RETIRED_FIELDS.items():
        if name in body:
            # Checked before the model so that this is the error, whatever else the body gets wrong.
            raise ValidationFailed(why, field=name)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _first_error(exc, model) from None


def _first_error(exc: ValidationError, model: type[BaseModel]) -> ValidationFailed:
    # include_input=False: the offending value may be a card number and must never be echoed.
    error = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    loc = error["loc"]
    field = field_of(loc, model)
    kind = error["type"]
    if kind in _OWN_CODES:
        return ValidationFailed(error["msg"], code=kind, field=field)
    if kind == "missing":
        return ValidationFailed(f"{field} is required", field=field)
    if kind == "extra_forbidden":
        # Never a published name (retired ones are answered before the model): do not name it.
        return ValidationFailed(
            "the body has a field that is not recognised; the fields are " + ", ".join(model.model_fields),
            field=None,
        )
    if field == "metadata" and len(loc) > 1:
        # The metadata key is the caller's text: say whether a key or a value is wrong, not which.
        part = "a metadata key" if loc[-1] == "[key]" else "a metadata value"
        return ValidationFailed(f"{part}: {error['msg']}", field=field)
    return ValidationFailed(f"{field}: {error['msg']}", field=field)
