"""Merchants' connectors on the local target, as an operator and a merchant use them: `payments connectors`
against the deployed admin function, then the whole merchant API over HTTP with localstripe behind the Stripe
connector (money counted on localstripe's side); failover; the secret key nowhere but Secrets Manager."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from payments_cli.local.records import DeploymentRecord
from tests.emulator.conftest import Cli
from tests.emulator.test_security_http import SUFFIX, Client, new_key
from tests.fakes.localstripe_server import DECLINED, THREE_D_SECURE, VISA, LocalStripe, localstripe

pytestmark = pytest.mark.emulator
SECRET = "sk_test_LocalTargetNeverShows0123"


@pytest.fixture(scope="module")
def stripe_fake() -> Iterator[LocalStripe]:
    with localstripe() as running:
        yield running


@pytest.fixture(scope="module")
def api(alpha: DeploymentRecord) -> Client:
    return Client(str(alpha["api"]["url"]))


def connectors(cli: Cli, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = cli.run("connectors", *args, "--suffix", SUFFIX, stdin=stdin)
    return result.returncode, result.stdout, result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_merchant_on_stripe_through_the_whole_api(cli: Cli, api: Client, stripe_fake: LocalStripe) -> None:
    merchant = f"merch_stripe_{uuid.uuid4().hex[:8]}"
    code, out, err = connectors(
        cli,
        "set",
        "--merchant",
        merchant,
        "--connector",
        "stripe",
        "--endpoint",
        stripe_fake.api_base,
        "--secret-stdin",
        stdin=SECRET + "\n",
    )
    assert code == 0, err
    assert SECRET not in out + err and "stripe" in out
    code, listed, err = connectors(cli, "list", "--merchant", merchant, "--format", "json")
    assert code == 0 and json.loads(listed) == [
        {"merchant_id": merchant, "connector": "stripe", "priority": 1, "endpoint": stripe_fake.api_base}
    ]
    secret = str(new_key(cli, merchant)["secret"])

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, _, answer = api.call(method, path, secret=secret, body=body, key=str(uuid.uuid4()))
        return status, answer

    token = stripe_fake.card(VISA)
    status, held = call(
        "POST", "/payments", {"amount": 4000, "currency": "EUR", "payment_method": token, "capture_method": "manual"}
    )
    assert (status, held["status"]) == (201, "requires_capture"), held
    status, read = call("GET", f"/payments/{held['id']}")
    assert [(a["connector"], a["outcome"]) for a in read["attempts"]] == [("stripe", "approved")]
    status, increment = call("POST", f"/payments/{held['id']}/increment_authorization", {"amount": 5000})
    # localstripe has no increment_authorization: Stripe's refusal, the payment unchanged.
    assert status == 402 and increment["error"]["code"] == "increment_refused", increment
    status, captured = call("POST", f"/payments/{held['id']}/capture", {"amount": 3000})
    assert (status, captured["status"], captured["amount_captured"]) == (200, "succeeded", 3000)
    status, refund = call("POST", f"/payments/{held['id']}/refunds", {"amount": 1000})
    assert (status, refund["status"]) == (201, "succeeded")
    charge = stripe_fake.intents(held["id"])[0]["latest_charge"]
    assert charge["amount"] - charge["amount_refunded"] == 2000 and len(stripe_fake.charges(held["id"])) == 1

    status, automatic = call("POST", "/payments", {"amount": 700, "currency": "EUR", "payment_method": token})
    assert (status, automatic["status"]) == (201, "succeeded")
    status, canceled_one = call(
        "POST", "/payments", {"amount": 800, "currency": "EUR", "payment_method": token, "capture_method": "manual"}
    )
    status, canceled = call("POST", f"/payments/{canceled_one['id']}/cancel")
    assert (status, canceled["status"]) == (200, "canceled")
    assert stripe_fake.intents(canceled_one["id"])[0]["status"] == "canceled"
    status, declined = call(
        "POST", "/payments", {"amount": 900, "currency": "EUR", "payment_method": stripe_fake.card(DECLINED)}
    )
    assert (status, declined["status"], declined["decline_code"]) == (402, "declined", "generic_decline")
    assert stripe_fake.charges(declined["id"]) == []

    # The secret key is in its Secrets Manager secret and nowhere the platform writes: state, records, logs.
    for path in cli.state_dir.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert SECRET.encode() not in path.read_bytes(), path
    code, _, err = connectors(cli, "remove", "--merchant", merchant, "--connector", "stripe")
    assert code == 0, err
    code, listed, _ = connectors(cli, "list", "--merchant", merchant, "--format", "json")
    assert json.loads(listed) == []


def test_3_d_secure_over_http_and_confirm_attacked(
    cli: Cli, api: Client, alpha: DeploymentRecord, stripe_fake: LocalStripe
) -> None:
    merchant, other = f"merch_3ds_{uuid.uuid4().hex[:8]}", f"merch_3ds_other_{uuid.uuid4().hex[:8]}"
    code, _, err = connectors(
        cli,
        "set",
        "--merchant",
        merchant,
        "--connector",
        "stripe",
        "--endpoint",
        stripe_fake.api_base,
        "--secret-stdin",
        stdin=SECRET,
    )
    assert code == 0, err
    secret, reader = str(new_key(cli, merchant)["secret"]), str(new_key(cli, merchant, "--read-only")["secret"])
    outsider = str(new_key(cli, other)["secret"])

    def post(
        path: str, body: Any = None, *, key: str | None = None, as_: str = secret
    ) -> tuple[int, dict[str, str], Any]:
        return api.call("POST", path, secret=as_, body=body, key=key or str(uuid.uuid4()))

    card = stripe_fake.card(THREE_D_SECURE)
    status, _, waiting = post("/payments", {"amount": 2500, "currency": "EUR", "payment_method": card})
    assert (status, waiting["status"], waiting["next_action"]["type"]) == (202, "requires_action", "use_stripe_sdk")
    assert stripe_fake.charges(waiting["id"]) == []
    confirm = f"/payments/{waiting['id']}/confirm"

    # Attacks first, each refused and changing nothing.
    status, _, body = api.call("POST", confirm, secret=secret)  # no Idempotency-Key
    assert (status, body["error"]["field"]) == (400, "Idempotency-Key"), body
    bad: object
    for bad in ({"amount": 1}, [], "null", {"x\u0000": 1}, {"status": "succeeded"}):
        status, _, body = post(confirm, bad)
        assert status in (400, 422), (bad, status, body)
    assert post(confirm, as_=outsider)[0] == 404, "another merchant's payment is unknown to this key"
    assert post(confirm, as_=reader)[0] == 403, "a read-only key changes nothing"
    assert post(f"/payments/{waiting['id']}/CONFIRM")[0] == 404
    assert post("/payments/pay_" + "a" * 26 + "/confirm")[0] == 404
    status, _, body = api.call("GET", confirm, secret=secret)  # API Gateway's own answer for a method not served
    assert (status, body["error"]["code"]) == (404, "route_not_found"), body
    status, _, early = post(confirm, {})
    assert (status, early["status"]) == (202, "requires_action"), "the cardholder has not authenticated yet"

    # The cardholder authenticates (Stripe.js would, with the intent's client secret); two confirms race.
    (intent,) = stripe_fake.intents(waiting["id"])
    stripe_fake.post(
        f"/v1/payment_intents/{intent['id']}/_authenticate",
        {"client_secret": intent["client_secret"], "success": "true"},
    )
    racing = [Client(str(alpha["api"]["url"])) for _ in range(2)]
    answers: list[tuple[int, Any]] = []
    threads = [
        threading.Thread(
            target=lambda c=client: answers.append(c.call("POST", confirm, secret=secret, key=str(uuid.uuid4()))[::2])
        )
        for client in racing
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each racer settles it or finds it settled (then it is no longer confirmable): never two settlements.
    seen = sorted((status, body.get("status") or body["error"]["payment_status"]) for status, body in answers)
    assert seen in ([(200, "succeeded")] * 2, [(200, "succeeded"), (409, "succeeded")]), answers
    status, _, read = api.call("GET", f"/payments/{waiting['id']}", secret=secret)
    assert (read["status"], read["next_action"], read["amount_captured"]) == ("succeeded", None, 2500)
    assert [(a["connector"], a["outcome"]) for a in read["attempts"]] == [("stripe", "approved")]
    assert len(stripe_fake.charges(waiting["id"])) == 1
    status, _, conflict = post(confirm)
    assert (status, conflict["error"]["payment_status"]) == (409, "succeeded")

    # A failed authentication declines the payment; nothing is charged.
    status, _, failing = post("/payments", {"amount": 900, "currency": "EUR", "payment_method": card})
    (intent,) = stripe_fake.intents(failing["id"])
    stripe_fake.post(
        f"/v1/payment_intents/{intent['id']}/_authenticate",
        {"client_secret": intent["client_secret"], "success": "false"},
    )
    status, _, declined = post(f"/payments/{failing['id']}/confirm")
    assert (status, declined["status"], declined["decline_code"]) == (402, "declined", "authentication_required")
    assert stripe_fake.charges(failing["id"]) == []
    status, _, events = api.call("GET", "/events?limit=10", secret=secret)
    assert "payment.requires_action" in {event["type"] for event in events["data"]}


def test_failover_from_a_refusing_connector_and_the_commands_refusals(cli: Cli, api: Client) -> None:
    merchant = f"merch_failover_{uuid.uuid4().hex[:8]}"
    closed = f"http://127.0.0.1:{_closed_port()}"
    assert (
        connectors(
            cli,
            "set",
            "--merchant",
            merchant,
            "--connector",
            "stripe",
            "--endpoint",
            closed,
            "--secret-stdin",
            stdin=SECRET,
        )[0]
        == 0
    )
    assert connectors(cli, "set", "--merchant", merchant, "--connector", "simulated", "--priority", "2")[0] == 0
    secret = str(new_key(cli, merchant)["secret"])
    status, _, paid = api.call(
        "POST",
        "/payments",
        secret=secret,
        key=str(uuid.uuid4()),
        body={"amount": 600, "currency": "EUR", "payment_method": "tok_visa"},
    )
    assert (status, paid["status"]) == (201, "succeeded"), paid
    status, _, read = api.call("GET", f"/payments/{paid['id']}", secret=secret)
    assert [(a["connector"], a["outcome"]) for a in read["attempts"]] == [
        ("stripe", "refused"),
        ("simulated", "approved"),
    ]

    # Bad usage is exit 2 with the fix in the message, and changes nothing.
    code, _, err = connectors(cli, "set", "--merchant", merchant, "--connector", "stripe")
    assert code == 2 and "--secret-stdin" in err
    code, _, err = connectors(
        cli,
        "set",
        "--merchant",
        merchant,
        "--connector",
        "stripe",
        "--secret-stdin",
        "--priority",
        "3",
        stdin="not-a-key",
    )
    assert code == 2 and "sk_" in err and "not-a-key" not in err
    code, _, err = connectors(cli, "remove", "--merchant", merchant + "x", "--connector", "stripe")
    assert code == 1 and "no stripe connector" in err
    code, listed, _ = connectors(cli, "list", "--merchant", merchant, "--format", "json")
    assert [(c["connector"], c["priority"]) for c in json.loads(listed)] == [("stripe", 1), ("simulated", 2)]
