"""The outcome taxonomy and the Stripe connector's tables: which failures may go elsewhere, which decline is which."""

from __future__ import annotations

import requests
import urllib3.exceptions

from payment_processor.connectors import stripe as stripe_connector
from payment_processor.connectors.outcomes import (
    OUTCOMES,
    Approved,
    AuthorizeOutcome,
    Declined,
    Refused,
    RequiresAction,
    Unknown,
)


def test_every_outcome_has_its_contract_name() -> None:
    made: list[AuthorizeOutcome] = [
        Approved("pi_1"),
        Declined("generic_decline"),
        RequiresAction("pi_1"),
        Refused("x"),
        Unknown("y"),
    ]
    assert tuple(o.outcome for o in made) == OUTCOMES


def test_stripe_decline_codes_map_to_ours_and_anything_else_is_generic() -> None:
    assert stripe_connector.decline_code("insufficient_funds") == "insufficient_funds"
    assert stripe_connector.decline_code("stolen_card") == "lost_or_stolen_card"
    assert stripe_connector.decline_code("card_declined") == "generic_decline"
    assert stripe_connector.decline_code("something_new_from_stripe") == "generic_decline"
    assert stripe_connector.decline_code(None) == "generic_decline"
    # Every code we map to is one of a small documented set.
    assert set(stripe_connector.DECLINE_CODES.values()) <= {
        "generic_decline",
        "insufficient_funds",
        "expired_card",
        "incorrect_cvc",
        "incorrect_number",
        "processing_error",
        "lost_or_stolen_card",
        "fraudulent",
        "card_not_supported",
        "currency_not_supported",
        "authentication_required",
    }


def _wrapped(inner: BaseException) -> BaseException:
    """As the library raises it: its APIConnectionError from requests' exception (from urllib3's)."""
    outer = RuntimeError("Unexpected error communicating with Stripe")
    outer.__cause__ = inner
    return outer


def test_a_connection_never_made_is_told_from_one_that_may_have_carried_the_request() -> None:
    pool = urllib3.HTTPConnectionPool("127.0.0.1", 9)
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    never = [
        requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(pool, "/", refused)),
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.SSLError("certificate verify failed"),
    ]
    maybe = [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.")),
        requests.exceptions.ChunkedEncodingError("connection broken"),
    ]
    assert [stripe_connector._never_sent(_wrapped(e)) for e in never] == [True, True, True]
    assert [stripe_connector._never_sent(_wrapped(e)) for e in maybe] == [False, False, False]


def test_a_next_action_is_kept_whole_unless_it_would_not_fit_its_column() -> None:
    from payment_processor.operations.create import MAX_NEXT_ACTION_CHARS, next_action_of

    given = {"type": "redirect_to_url", "redirect_to_url": {"url": "https://hooks.example/3ds", "return_url": None}}
    assert next_action_of(RequiresAction("pi_1", given)) == given
    huge = {"type": "use_stripe_sdk", "use_stripe_sdk": {"blob": "x" * MAX_NEXT_ACTION_CHARS}}
    assert next_action_of(RequiresAction("pi_1", huge)) == {"type": "use_stripe_sdk"}
    assert next_action_of(RequiresAction("pi_1", {"type": ["odd"], "x": "y" * MAX_NEXT_ACTION_CHARS})) == {
        "type": "unknown"
    }
    assert next_action_of(RequiresAction("pi_1")) == {}
