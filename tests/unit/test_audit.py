"""What the audit log keeps of an admin event: a fixed list of fields, never a secret, whatever the event holds."""

from __future__ import annotations

import json

import pytest

from payment_processor.audit import UNKNOWN_ACTOR, actor_of, entry_for


def test_a_key_creation_keeps_the_request_and_the_key_it_made_never_the_secret() -> None:
    event = {
        "action": "create_key",
        "merchant_id": "acme",
        "read_only": False,
        "expires_in_s": 7776000,
        "actor": "arn:aws:iam::123456789012:user/ops",
    }
    answer = {"key": {"id": "key_" + "a" * 26, "secret": "sk_test_" + "S" * 43}}
    entry = entry_for(event, "ok", answer)
    assert (entry.actor, entry.action, entry.outcome, entry.target) == (
        "arn:aws:iam::123456789012:user/ops",
        "create_key",
        "ok",
        "key_" + "a" * 26,
    )
    assert entry.detail == {
        "merchant_id": "acme",
        "read_only": False,
        "expires_in_s": 7776000,
        "made_key_id": "key_" + "a" * 26,
    }
    assert "S" * 43 not in json.dumps(entry.resource())


def test_a_connectors_secret_and_any_free_text_never_enter_it() -> None:
    secret = "sk_live_" + "x" * 40
    event = {
        "action": "set_connector",
        "merchant_id": "acme",
        "connector": "stripe",
        "priority": 1,
        "endpoint": "https://user:pass@api.stripe.com",
        "secret": secret,
        "note": "anything at all",
    }
    entry = entry_for(event, "ok", {"connector": {"secret": secret}})
    assert entry.detail == {"merchant_id": "acme", "connector": "stripe", "priority": 1}
    assert entry.target == "acme/stripe"
    # A secret pasted into a field meant for an id is not kept either.
    for pasted in (secret, "rk_test_abc", "whsec_abc", "pk_live_abc"):
        assert "merchant_id" not in entry_for({"action": "create_key", "merchant_id": pasted}, "refused").detail
    assert entry_for({"action": "create_key", "merchant_id": "desk_co"}, "ok").detail == {"merchant_id": "desk_co"}


def test_a_refusal_keeps_its_code_and_a_revoke_targets_its_key() -> None:
    entry = entry_for({"action": "revoke_key", "key_id": "key_" + "q" * 26}, "refused", code="not_found")
    assert (entry.target, entry.outcome, entry.detail["code"]) == ("key_" + "q" * 26, "refused", "not_found")


@pytest.mark.parametrize("actor", [None, "", 5, "x" * 513, "ops\u0000", "op\u00e9rateur", "a\nb"])
def test_an_actor_that_is_not_printable_ascii_up_to_512_is_unknown(actor: object) -> None:
    assert actor_of({"actor": actor}) == UNKNOWN_ACTOR
    assert actor_of({"actor": "local:ops@laptop"}) == "local:ops@laptop"
