"""A merchant's webhook endpoints: what one is, which events it may ask for, and the requests that make and
change one (logic layer: no I/O).

An endpoint is a URL, the events it wants (``["*"]`` for all), a status and a signing secret. The secret is
shown once, in the answer that makes or rolls it; it is kept only encrypted (:mod:`secrets`). A URL is
checked for its form and, where it gives an address or ``localhost``, for the address, when the endpoint is
made or changed (``invalid_url``, ``url_not_allowed``); every address a name resolves to is checked again
at each delivery (:mod:`addresses`), since DNS can change after the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from payment_processor.errors import ValidationFailed
from payment_processor.operations.increment import EVENT as AUTHORIZATION_INCREMENTED
from payment_processor.payment import has_id_shape, isoformat, new_id
from payment_processor.states import PAYMENT_INITIAL, PAYMENT_TRANSITIONS, REFUND_INITIAL, REFUND_TRANSITIONS
from payment_processor.webhooks.addresses import InvalidUrl, Reach, RefusedAddress, parse_url
from payment_processor.webhooks.deliveries import ENDPOINT_DISABLED, EVERY_EVENT

#: At most this many endpoints per merchant (Stripe's figure too).
MAX_ENDPOINTS: Final = 16
MAX_DESCRIPTION_LENGTH: Final = 500
#: Longest time an old secret keeps signing after a roll (a day, as Stripe allows).
MAX_SECRET_OVERLAP_S: Final = 86_400
#: An old secret's time when the roll does not say: an hour, for the merchant's receivers to take the new one.
DEFAULT_SECRET_OVERLAP_S: Final = 3_600
STATUSES: Final = ("enabled", "disabled")

#: Every event an endpoint can ask for: each the transaction log writes, and the endpoint's own.
EVENT_TYPES: Final = tuple(
    sorted(
        {
            f"payment.{PAYMENT_INITIAL}",
            f"refund.{REFUND_INITIAL}",
            *PAYMENT_TRANSITIONS.values(),
            *REFUND_TRANSITIONS.values(),
            AUTHORIZATION_INCREMENTED,
            ENDPOINT_DISABLED,
        }
    )
)


def new_endpoint_id() -> str:
    """A fresh, unguessable endpoint id: ``we_`` and 26 lower-case base32 characters."""
    return new_id("we")


def is_endpoint_id(value: str) -> bool:
    """True if ``value`` has the shape of an endpoint id (checked before touching the database)."""
    return has_id_shape(value, "we")


@dataclass(frozen=True)
class WebhookEndpoint:
    """One endpoint as stored, without its secrets (those are only ever read sealed)."""

    id: str
    merchant_id: str
    url: str
    enabled_events: tuple[str, ...]
    description: str | None
    status: str
    created_at: datetime
    updated_at: datetime

    def resource(self) -> dict[str, Any]:
        """The endpoint as the API shows it (never its secret: only the answer that makes one has it)."""
        return {
            "id": self.id,
            "object": "webhook_endpoint",
            "url": self.url,
            "enabled_events": list(self.enabled_events),
            "description": self.description,
            "status": self.status,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
        }


EventList = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=64)]],
    Field(min_length=1, max_length=len(EVENT_TYPES) + 1),
]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]
Url = Annotated[str, StringConstraints(min_length=1)]


def _known_events(value: list[str]) -> list[str]:
    unknown = [name for name in value if name != EVERY_EVENT and name not in EVENT_TYPES]
    if unknown:
        # Not named back: it is the caller's text.
        raise ValueError('an event type is not one of ours; give "*" or some of ' + ", ".join(EVENT_TYPES))
    if EVERY_EVENT in value and len(value) > 1:
        raise ValueError('"*" already means every event: give it alone')
    if len(set(value)) != len(value):
        raise ValueError("an event type is listed twice")
    return value


class CreateEndpointRequest(BaseModel):
    """``POST /webhook_endpoints``."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    url: Url
    enabled_events: EventList
    description: Description | None = None

    _events = field_validator("enabled_events")(_known_events)


class UpdateEndpointRequest(BaseModel):
    """``POST /webhook_endpoints/{id}``: only the fields given change (``description: null`` clears it)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    url: Url | None = None
    enabled_events: EventList | None = None
    description: Description | None = None
    status: Literal["enabled", "disabled"] | None = None

    _events = field_validator("enabled_events")(lambda value: value if value is None else _known_events(value))

    def changes(self) -> dict[str, Any]:
        """The fields the request gives (``null`` for url, events and status is refused as not given)."""
        given = self.model_dump(exclude_unset=True)
        for name in ("url", "enabled_events", "status"):
            if name in given and given[name] is None:
                raise ValidationFailed(f"{name}: cannot be null; leave it out to keep it", field=name)
        return given


class RollSecretRequest(BaseModel):
    """``POST /webhook_endpoints/{id}/roll_secret``: how long the old secret keeps signing (0: not at all)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    expires_in_s: Annotated[int, Field(ge=0, le=MAX_SECRET_OVERLAP_S)] = DEFAULT_SECRET_OVERLAP_S


class RedeliverRequest(BaseModel):
    """``POST /events/{id}/redeliver``: the endpoint (``we_…``) to send the event to once more."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=64)]


def checked_url(url: str, reach: Reach) -> str:
    """``url`` if the sender may deliver to it as far as can be told without resolving its name: 422
    ``invalid_url`` for its form, ``url_not_allowed`` for an address (or ``localhost``) it may not reach."""
    try:
        parse_url(url, reach)
    except InvalidUrl as exc:
        raise ValidationFailed(str(exc), code="invalid_url", field="url") from None
    except RefusedAddress as exc:
        raise ValidationFailed(
            f"{exc}; deliveries go to public addresses only", code="url_not_allowed", field="url"
        ) from None
    return url
