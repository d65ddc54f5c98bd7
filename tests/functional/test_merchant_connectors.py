"""Merchants' connectors on the real PostgreSQL and moto's Secrets Manager: set, list and remove through the
admin function; the processor's directory choosing them; failover only after a refusal, never after an
unknown outcome; localstripe behind it, money counted on its side; the secret key in no answer, row or log."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest

from payment_processor import handler as handler_module
from payment_processor.admin import Admin
from payment_processor.deadlines import Deadline
from payment_processor.errors import StillProcessing
from payment_processor.service import PaymentService
from payment_processor.validation import parse_payment_request
from tests.conftest import Services
from tests.fakes.localstripe_server import VISA, LocalStripe
from tests.receivers import forwarding

pytestmark = pytest.mark.functional

#: A Stripe-shaped secret key: localstripe takes any sk_…; the tests look for it everywhere it must not be.
SECRET = "sk_test_NeverShowThis0123456789"
MERCHANT = "merch_conn"


def admin(services: Services, payload: dict[str, Any], **settings: Any) -> dict[str, Any]:
    configured = dataclasses.replace(services.admin_settings(), **settings)
    runner = Admin(configured, secrets_client=services._secrets())
    try:
        from payment_processor.admin import AdminError

        try:
            return {"ok": True, **runner.run(payload)}
        except AdminError as exc:
            return {"ok": False, "error": {"code": exc.code, "message": str(exc)}}
    finally:
        runner.close()


def set_connector(services: Services, connector: str, **fields: Any) -> dict[str, Any]:
    return admin(services, {"action": "set_connector", "merchant_id": MERCHANT, "connector": connector, **fields})


@pytest.fixture
def processor(clean: Services) -> Iterator[PaymentService]:
    """The processor as the handler wires it: its directory reads merchants' connectors."""
    service = handler_module.build_service(clean.settings())
    yield service
    service.context.store.database.close()  # type: ignore[attr-defined]


def pay(service: PaymentService, token: str, key: str, *, settle_s: float | None = None) -> dict[str, Any]:
    body = {"amount": 2500, "currency": "EUR", "payment_method": token}
    settle_by = Deadline(time.monotonic() + settle_s) if settle_s is not None else Deadline(time.monotonic() + 60)
    outcome = service.create_payment(MERCHANT, parse_payment_request(body), key, settle_by=settle_by)
    return dict(json.loads(outcome.response.body))


def attempts(service: PaymentService, payment_id: str) -> list[tuple[str, str]]:
    return [(a["connector"], a["outcome"]) for a in service.payment_with_attempts(MERCHANT, payment_id)["attempts"]]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_set_list_remove_and_the_secret_key_is_in_secrets_manager_only(
    clean: Services, stripe_fake: LocalStripe, caplog: pytest.LogCaptureFixture
) -> None:
    made = set_connector(clean, "stripe", endpoint=stripe_fake.api_base, secret=SECRET)
    assert made == {
        "ok": True,
        "connector": {"merchant_id": MERCHANT, "connector": "stripe", "priority": 1, "endpoint": stripe_fake.api_base},
    }
    assert set_connector(clean, "simulated", priority=2)["ok"]
    listed = admin(clean, {"action": "list_connectors", "merchant_id": MERCHANT})["connectors"]
    assert [(c["connector"], c["priority"]) for c in listed] == [("stripe", 1), ("simulated", 2)]
    secrets = clean._secrets()
    prefix = clean.admin_settings().connector_secrets_prefix
    stored = secrets.get_secret_value(SecretId=f"{prefix}/{MERCHANT}/stripe")
    assert json.loads(stored["SecretString"]) == {"secret_key": SECRET}
    with clean.admin() as conn:
        rows = conn.execute("SELECT * FROM merchant_connectors").fetchall()
    assert rows and SECRET not in repr(rows) and SECRET not in json.dumps(listed) and SECRET not in caplog.text
    # A rolled key replaces the secret's value, the same secret.
    assert set_connector(clean, "stripe", endpoint=stripe_fake.api_base, secret=SECRET + "x")["ok"]
    assert json.loads(secrets.get_secret_value(SecretId=f"{prefix}/{MERCHANT}/stripe")["SecretString"]) == {
        "secret_key": SECRET + "x"
    }
    removed = admin(clean, {"action": "remove_connector", "merchant_id": MERCHANT, "connector": "stripe"})
    assert removed["ok"] and removed["connector"]["connector"] == "stripe"
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.get_secret_value(SecretId=f"{prefix}/{MERCHANT}/stripe")
    again = admin(clean, {"action": "remove_connector", "merchant_id": MERCHANT, "connector": "stripe"})
    assert again["error"]["code"] == "not_found"


def test_forget_connectors_deletes_every_secret_and_row_of_the_deployment(
    clean: Services, stripe_fake: LocalStripe
) -> None:
    """What a destroy on AWS runs first: the secrets are the admin function's, so nothing else would delete them."""
    for merchant in ("m_one", "m_two"):
        assert admin(
            clean,
            {
                "action": "set_connector",
                "merchant_id": merchant,
                "connector": "stripe",
                "endpoint": stripe_fake.api_base,
                "secret": SECRET,
            },
        )["ok"]
    assert admin(clean, {"action": "set_connector", "merchant_id": "m_one", "connector": "simulated", "priority": 2})[
        "ok"
    ]
    secrets = clean._secrets()
    prefix = clean.admin_settings().connector_secrets_prefix
    # One secret already gone by other hands: the rest are still deleted (a forced delete of a missing secret is
    # not an error in Secrets Manager: none remains either way).
    secrets.delete_secret(SecretId=f"{prefix}/m_two/stripe", ForceDeleteWithoutRecovery=True)
    assert admin(clean, {"action": "forget_connectors"}) == {"ok": True, "connectors_removed": 3, "secrets_deleted": 2}
    listed = secrets.list_secrets(Filters=[{"Key": "name", "Values": [prefix]}])["SecretList"]
    assert listed == []
    with clean.admin() as conn:
        assert conn.execute("SELECT count(*) FROM merchant_connectors").fetchone() == (0,)
    assert admin(clean, {"action": "forget_connectors"}) == {"ok": True, "connectors_removed": 0, "secrets_deleted": 0}


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"connector": "stripe", "endpoint": "https://api.stripe.com"}, "--secret-stdin"),
        ({"connector": "stripe", "secret": "not-a-key"}, "--secret-stdin"),
        ({"connector": "simulated", "secret": SECRET}, "takes no secret"),
        ({"connector": "simulated", "endpoint": "https://x.example"}, "takes no endpoint"),
        ({"connector": "paypal"}, "connector must be one of"),
        ({"connector": "simulated", "priority": 0}, "priority"),
        ({"connector": "simulated", "priority": True}, "priority"),
        ({"connector": "simulated", "priority": "1"}, "priority"),
        ({"connector": "simulated", "priority": None}, "priority"),
        ({"connector": "simulated", "priority": 2**63}, "priority"),
        ({"connector": "stripe", "secret": SECRET, "endpoint": "http://127.0.0.1:1"}, "https"),
        ({"connector": "stripe", "secret": SECRET, "endpoint": "https://user:pw@h.example"}, "credentials"),
        ({"connector": "stripe", "secret": SECRET, "endpoint": "https://h.example/\u200b"}, "endpoint"),
        ({"connector": "stripe", "secret": SECRET, "endpoint": "ftp://h.example"}, "endpoint"),
        ({"connector": "simulated", "merchant_id": "m\u0000"}, "merchant_id"),
        ({"connector": "simulated", "merchant_id": "m\u00ad"}, "merchant_id"),
    ],
)
def test_a_configuration_that_cannot_be_right_is_refused_and_changes_nothing(
    clean: Services, fields: dict[str, Any], names: str
) -> None:
    payload = {"action": "set_connector", "merchant_id": MERCHANT, **fields}
    answer = admin(clean, payload, connectors_allow_http=False)
    assert answer["ok"] is False and answer["error"]["code"] == "invalid_request", answer
    assert names in answer["error"]["message"] and SECRET not in answer["error"]["message"]
    with clean.admin() as conn:
        assert conn.execute("SELECT count(*) FROM merchant_connectors").fetchone() == (0,)
    listed = clean._secrets().list_secrets()["SecretList"]
    assert not [s for s in listed if "/connectors/" in s["Name"]]


def test_two_connectors_at_one_priority_are_refused(clean: Services) -> None:
    assert set_connector(clean, "simulated", priority=1)["ok"]
    taken = set_connector(clean, "stripe", priority=1, secret=SECRET)
    assert taken["error"]["code"] == "invalid_request" and "priority 1" in taken["error"]["message"]


def test_a_merchant_on_stripe_pays_captures_and_refunds_through_localstripe(
    clean: Services, stripe_fake: LocalStripe, processor: PaymentService
) -> None:
    assert set_connector(clean, "stripe", endpoint=stripe_fake.api_base, secret=SECRET)["ok"]
    token = stripe_fake.card(VISA)
    body = {"amount": 2500, "currency": "EUR", "payment_method": token, "capture_method": "manual"}
    created = processor.create_payment(MERCHANT, parse_payment_request(body), "k-stripe")
    payment = json.loads(created.response.body)
    assert (payment["status"], attempts(processor, payment["id"])) == ("requires_capture", [("stripe", "approved")])
    captured = processor.capture_payment(MERCHANT, payment["id"], 2000, "k-capture")
    assert json.loads(captured.response.body)["status"] == "succeeded"
    refund = processor.refund_payment(MERCHANT, payment["id"], 500, None, "k-refund")
    assert json.loads(refund.response.body)["status"] == "succeeded"
    charge = stripe_fake.intents(payment["id"])[0]["latest_charge"]
    assert charge["amount"] - charge["amount_refunded"] == 2000 - 500 and len(stripe_fake.charges(payment["id"])) == 1


def test_a_connector_refusing_connections_fails_over_to_the_next_with_one_charge(
    clean: Services, processor: PaymentService
) -> None:
    closed = f"http://127.0.0.1:{_closed_port()}"
    assert set_connector(clean, "stripe", endpoint=closed, secret=SECRET)["ok"]
    assert set_connector(clean, "simulated", priority=2)["ok"]
    payment = pay(processor, "tok_visa", "k-failover")
    assert payment["status"] == "succeeded"
    assert attempts(processor, payment["id"]) == [("stripe", "refused"), ("simulated", "approved")]
    # Its follow-ups go to the acquirer that authorized it.
    refund = processor.refund_payment(MERCHANT, payment["id"], None, None, "k-refund")
    assert json.loads(refund.response.body)["status"] == "succeeded"


def test_a_timeout_after_sending_never_fails_over_and_the_job_settles_it_under_the_same_key(
    clean: Services, stripe_fake: LocalStripe, processor: PaymentService
) -> None:
    holding = {"confirm": 5.0}
    with forwarding(stripe_fake.api_base, lambda method, path: holding["confirm"] if "/confirm" in path else 0) as hold:
        assert set_connector(clean, "stripe", endpoint=hold.url(path=""), secret=SECRET)["ok"]
        assert set_connector(clean, "simulated", priority=2)["ok"]
        token = stripe_fake.card(VISA)
        with pytest.raises(StillProcessing):
            pay(processor, token, "k-timeout", settle_s=1.5)  # the confirm reached Stripe; its answer did not
        with clean.admin() as conn:
            row = conn.execute("SELECT id FROM payments WHERE idempotency_key = 'k-timeout'").fetchone()
            (payment_id,) = cast("tuple[str]", row)  # the one payment's text id (fetchone() is typed Optional)
        assert attempts(processor, payment_id) == [("stripe", "unknown")], "never sent to the simulated acquirer"
        holding["confirm"] = 0.0
        with clean.admin() as conn:
            conn.execute("UPDATE payments SET next_resolution_at = now() - interval '1 second'")
        report = processor.resolve_processing(older_than_s=0)
    assert report.payments.answered == 1
    assert attempts(processor, payment_id) == [("stripe", "unknown"), ("stripe", "approved")]
    assert len(stripe_fake.intents(payment_id)) == 1 and len(stripe_fake.charges(payment_id)) == 1
    confirms = [r for r in hold.received if r.path.endswith("/confirm")]
    assert len(confirms) == 1, "the job found the intent confirmed and did not confirm it again"


def test_a_connector_whose_secret_cannot_be_read_refuses_and_the_next_answers(
    clean: Services, processor: PaymentService
) -> None:
    assert set_connector(clean, "stripe", secret=SECRET)["ok"]
    assert set_connector(clean, "simulated", priority=2)["ok"]
    prefix = clean.admin_settings().connector_secrets_prefix
    clean._secrets().delete_secret(SecretId=f"{prefix}/{MERCHANT}/stripe", ForceDeleteWithoutRecovery=True)
    payment = pay(processor, "tok_visa", "k-nosecret")
    assert attempts(processor, payment["id"]) == [("stripe", "refused"), ("simulated", "approved")]
