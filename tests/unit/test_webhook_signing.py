"""Standard Webhooks signing, checked by the specification's reference verifier (the ``standardwebhooks``
package), not by our own code."""

from __future__ import annotations

import base64
import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from payment_processor.webhooks import signing

BODY = json.dumps({"id": "pay_x:0002", "object": "event", "type": "payment.succeeded"}, separators=(",", ":")).encode()


def test_a_signed_delivery_verifies_with_the_reference_library_and_a_changed_one_does_not() -> None:
    secret = signing.new_secret()
    headers = signing.headers([secret], "pay_x:0002", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"succeeded", b"failed"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "pay_x:0003"})
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers)


def test_while_a_secret_is_rolled_both_verify_and_an_unrelated_one_does_not() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    headers = signing.headers([new, old], "pay_x:0002", int(time.time()), BODY)
    assert headers["webhook-signature"].count("v1,") == 2 and " " in headers["webhook-signature"]
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers)


def test_an_old_timestamp_is_refused_by_receivers_so_a_captured_delivery_cannot_be_replayed_later() -> None:
    secret = signing.new_secret()
    headers = signing.headers([secret], "pay_x:0002", int(time.time()) - 3600, BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)


def test_secrets_are_whsec_and_32_random_bytes_each_different() -> None:
    made = {signing.new_secret() for _ in range(100)}
    assert len(made) == 100
    for secret in made:
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 32


@pytest.mark.parametrize(
    "secret", ["", "whsec_", "sk_live_abc", "whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()]
)
def test_something_that_is_not_a_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        signing.signature(secret, "evt", 1, BODY)


@pytest.mark.parametrize("message_id", ["a.b", "a b", "a\nb"])
def test_an_id_that_would_change_what_is_signed_is_refused(message_id: str) -> None:
    with pytest.raises(ValueError, match="webhook id holds no"):
        signing.headers([signing.new_secret()], message_id, 1, BODY)
    with pytest.raises(ValueError, match="at least one secret"):
        signing.headers([], "evt", 1, BODY)
