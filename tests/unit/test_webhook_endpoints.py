"""The webhook endpoint requests (validation, URL checks) and the sealing of a secret inside a kept answer."""

from __future__ import annotations

import json

import pytest

from payment_processor.errors import ValidationFailed
from payment_processor.states import PAYMENT_TRANSITIONS, REFUND_TRANSITIONS
from payment_processor.validation import parse_body
from payment_processor.webhooks.addresses import LOCAL, PUBLIC_ONLY
from payment_processor.webhooks.endpoints import (
    EVENT_TYPES,
    CreateEndpointRequest,
    RollSecretRequest,
    UpdateEndpointRequest,
    checked_url,
    is_endpoint_id,
    new_endpoint_id,
)
from payment_processor.webhooks.secrets import opened_answer, sealed_answer
from payment_processor.webhooks.signing import new_secret


def test_every_event_the_log_writes_can_be_asked_for() -> None:
    assert set(PAYMENT_TRANSITIONS.values()) | set(REFUND_TRANSITIONS.values()) < set(EVENT_TYPES)
    assert {
        "payment.processing",
        "refund.pending",
        "payment.authorization_incremented",
        "webhook_endpoint.disabled",
    } <= set(EVENT_TYPES)
    assert is_endpoint_id(new_endpoint_id()) and not is_endpoint_id("we_ABC")


@pytest.mark.parametrize(
    ("url", "reach", "code"),
    [
        ("https://example.com/hooks", PUBLIC_ONLY, None),
        ("http://example.com/hooks", PUBLIC_ONLY, "invalid_url"),
        ("http://example.com/hooks", LOCAL, None),
        ("http://127.0.0.1:8080/hooks", LOCAL, None),
        ("https://127.0.0.1/hooks", PUBLIC_ONLY, "url_not_allowed"),
        ("https://localhost/hooks", PUBLIC_ONLY, "url_not_allowed"),
        ("https://169.254.169.254/latest", LOCAL, "url_not_allowed"),
        ("https://[::ffff:127.0.0.1]/", PUBLIC_ONLY, "url_not_allowed"),
        ("https://u:p@example.com/", PUBLIC_ONLY, "invalid_url"),
        ("https://example.com/#x", PUBLIC_ONLY, "invalid_url"),
    ],
)
def test_a_url_is_checked_for_form_and_address(url: str, reach: object, code: str | None) -> None:
    if code is None:
        assert checked_url(url, reach) == url  # type: ignore[arg-type]
        return
    with pytest.raises(ValidationFailed) as refused:
        checked_url(url, reach)  # type: ignore[arg-type]
    assert (refused.value.code, refused.value.field) == (code, "url")
    assert url not in refused.value.message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://e.com", "enabled_events": ["*", "payment.succeeded"]}, "enabled_events"),
        ({"url": "https://e.com", "enabled_events": ["payment.nope"]}, "enabled_events"),
        ({"url": "https://e.com", "enabled_events": []}, "enabled_events"),
        ({"url": "https://e.com"}, "enabled_events"),
        ({"enabled_events": ["*"]}, "url"),
        ({"url": "https://e.com", "enabled_events": ["*"], "description": "x" * 501}, "description"),
    ],
)
def test_a_bad_create_names_its_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_body(CreateEndpointRequest, body)
    assert refused.value.field == field
    assert "payment.nope" not in refused.value.message


def test_an_update_takes_only_what_is_given_and_null_only_for_description() -> None:
    assert parse_body(UpdateEndpointRequest, {}).changes() == {}
    assert parse_body(UpdateEndpointRequest, {"description": None}).changes() == {"description": None}
    for name in ("url", "enabled_events", "status"):
        with pytest.raises(ValidationFailed) as refused:
            parse_body(UpdateEndpointRequest, {name: None}).changes()
        assert refused.value.field == name
    assert parse_body(RollSecretRequest, {}).expires_in_s == 3600
    for value in (-1, 86_401, 1.0, "5", True, None):
        with pytest.raises(ValidationFailed):
            parse_body(RollSecretRequest, {"expires_in_s": value})


class ReversingBox:
    """A stand-in for KMS in this unit test of the answer's sealing: 'seals' by reversing, bound to the id."""

    def seal(self, endpoint_id: str, secret: str) -> bytes:
        return f"{endpoint_id}|{secret}"[::-1].encode()

    def open(self, endpoint_id: str, sealed: bytes) -> str:
        bound, _, secret = sealed.decode()[::-1].partition("|")
        assert bound == endpoint_id
        return secret


def test_a_kept_answer_holds_the_secret_sealed_and_opens_to_the_same_bytes() -> None:
    box, secret = ReversingBox(), new_secret()
    # A description that imitates a sealed secret is the caller's text: it stays escaped and is not opened.
    answer = json.dumps(
        {"id": "we_x", "description": '","secret":"sealed:QUJD"', "secret": secret}, separators=(",", ":")
    )
    kept = sealed_answer(answer, secret, box.seal("we_x", secret))
    assert secret not in kept and secret[6:] not in kept
    assert opened_answer(kept, "we_x", box) == answer
    assert opened_answer('{"id":"we_x"}', "we_x", box) == '{"id":"we_x"}'
    with pytest.raises(ValueError, match="exactly once"):
        sealed_answer('{"id":"we_x"}', secret, b"x")
