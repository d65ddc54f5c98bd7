"""Webhook delivery on the local target (dev/alpha, the session's one deployment), from the deployed zip: the
reconcile function dispatches over moto's SQS, the courier function (fed by the served process's queue poller,
as Lambda's event source mapping feeds it) pushes to real receivers on 127.0.0.1, which verify every delivery
with the Standard Webhooks reference library; the attempts and redeliveries are read and asked for over HTTP,
and the new routes attacked as a client would."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from standardwebhooks import Webhook

from payments_cli.local.records import DeploymentRecord
from tests.emulator.conftest import Cli
from tests.emulator.test_security_http import Client, new_key
from tests.local_target import LocalDeployment
from tests.receivers import Answer, Received, Receiver, receiver

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(900)]

PAYMENT = {"amount": 1999, "currency": "EUR", "payment_method": "tok_visa"}


@pytest.fixture(scope="module")
def api(alpha: DeploymentRecord) -> Client:
    return Client(str(alpha["api"]["url"]))


def merchant(cli: Cli, name: str, *extra: str) -> tuple[str, str]:
    """A new merchant id and its secret key."""
    merchant_id = f"merch_{name}_{uuid.uuid4().hex[:8]}"
    return merchant_id, str(new_key(cli, merchant_id, *extra)["secret"])


@contextmanager
def verifying_receiver() -> Iterator[tuple[Receiver, dict[str, str]]]:
    """A merchant's receiver: each delivery verified with the reference library against the secret kept under
    its path (400 when it does not verify: the test then sees the failed attempt)."""
    secrets: dict[str, str] = {}

    def answer(request: Received) -> Answer:
        try:
            Webhook(secrets[request.path]).verify(request.body, request.headers)
        except Exception:  # WebhookVerificationError, or an unknown path
            return Answer(400, body=b"does not verify")
        return Answer(200)

    with receiver(answer) as hooks:
        yield hooks, secrets


def dispatch(deployment: LocalDeployment) -> dict[str, Any]:
    """One run of the deployed reconcile function (what the schedule does every minute); its webhook step."""
    runtime = deployment.runtime("reconcile")
    try:
        reply = runtime.invoke({})
    finally:
        runtime.close()
    assert reply.get("error") is None, reply
    return dict(reply["result"]["steps"]["dispatch_webhooks"])


def wait_for(hooks: Receiver, count: int, timeout_s: float = 30) -> list[Received]:
    deadline = time.monotonic() + timeout_s
    while len(hooks.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(hooks.received)


def endpoint(api: Client, secret: str, url: str, events: list[str]) -> dict[str, Any]:
    status, _, made = api.call(
        "POST", "/webhook_endpoints", secret=secret, key=str(uuid.uuid4()), body={"url": url, "enabled_events": events}
    )
    assert status == 201, made
    return dict(made)


def test_a_payment_is_pushed_signed_shown_in_the_attempts_and_redelivered_on_request(
    cli: Cli, api: Client, alpha_deployment: LocalDeployment
) -> None:
    _, secret = merchant(cli, "push")
    with verifying_receiver() as (hooks, secrets):
        made = endpoint(api, secret, hooks.url("/succeeded"), ["payment.succeeded"])
        secrets["/succeeded"] = made["secret"]
        status, _, payment = api.call("POST", "/payments", secret=secret, key=str(uuid.uuid4()), body=PAYMENT)
        assert (status, payment["status"]) == (201, "succeeded")
        step = dispatch(alpha_deployment)
        (delivery,) = wait_for(hooks, 1)

        event = json.loads(delivery.body)
        assert event["type"] == "payment.succeeded" and event["data"]["payment"]["id"] == payment["id"]
        assert delivery.headers["webhook-id"] == event["id"]
        # The body is the event as the API shows it.
        status, _, shown = api.call("GET", f"/events/{event['id']}", secret=secret)
        assert (status, shown) == (200, event)
        # Results come back within the run that dispatched them, or the next one.
        if step["recorded"] < 1:
            dispatch(alpha_deployment)
        status, _, attempts = api.call("GET", f"/webhook_endpoints/{made['id']}/deliveries", secret=secret)
        assert status == 200 and attempts["has_more"] is False
        (attempt,) = attempts["data"]
        assert attempt["event_id"] == event["id"] and attempt["attempt"] == 1 and attempt["status_code"] == 200
        assert attempt["error"] is None and attempt["next_attempt_at"] is None and attempt["latency_ms"] >= 0

        status, _, queued = api.call(
            "POST", f"/events/{event['id']}/redeliver", secret=secret, body={"endpoint": made["id"]}
        )
        assert (status, queued) == (
            202,
            {"object": "redelivery", "event_id": event["id"], "endpoint": made["id"], "status": "queued"},
        )
        dispatch(alpha_deployment)
        received = wait_for(hooks, 2)
    assert [r.headers["webhook-id"] for r in received] == [event["id"]] * 2
    # The secret never reaches a log of the deployment (the courier's included).
    logs = cli.state_dir / "deployments" / "dev-alpha" / "logs"
    for log in logs.rglob("*"):
        if log.is_file():
            assert made["secret"] not in log.read_text(errors="replace"), f"the secret is in {log.name}"


def test_the_delivery_routes_keep_each_merchant_to_its_own_and_a_reader_to_reading(cli: Cli, api: Client) -> None:
    name, secret = merchant(cli, "mine")
    _, other = merchant(cli, "theirs")
    reader = str(new_key(cli, name, "--read-only")["secret"])
    mine = endpoint(api, secret, "http://127.0.0.1:9/hooks", ["*"])
    theirs = endpoint(api, other, "http://127.0.0.1:9/theirs", ["*"])
    api.call("POST", "/payments", secret=secret, key=str(uuid.uuid4()), body=PAYMENT)
    _, _, their_payment = api.call("POST", "/payments", secret=other, key=str(uuid.uuid4()), body=PAYMENT)
    _, _, feed = api.call("GET", "/events", secret=secret)
    my_event = feed["data"][0]["id"]
    their_event = f"{their_payment['id']}:0001"
    unknown_event = "pay_" + "a" * 26 + ":0001"
    unknown_endpoint = "we_" + "a" * 26

    # Another merchant's endpoint and event answer exactly as unknown ones do.
    assert (
        api.call("GET", f"/webhook_endpoints/{theirs['id']}/deliveries", secret=secret)[::2]
        == api.call("GET", f"/webhook_endpoints/{unknown_endpoint}/deliveries", secret=secret)[::2]
    )
    assert (
        api.call("GET", f"/events/{their_event}", secret=secret)[::2]
        == api.call("GET", f"/events/{unknown_event}", secret=secret)[::2]
    )
    status, _, refused = api.call(
        "POST", f"/events/{their_event}/redeliver", secret=secret, body={"endpoint": mine["id"]}
    )
    assert (status, refused["error"]["code"]) == (404, "not_found")
    status, _, refused = api.call(
        "POST", f"/events/{my_event}/redeliver", secret=secret, body={"endpoint": theirs["id"]}
    )
    assert (status, refused["error"]["field"]) == (422, "endpoint")

    # A read-only key reads the attempts and cannot ask for a redelivery; no key gets nothing.
    assert api.call("GET", f"/webhook_endpoints/{mine['id']}/deliveries", secret=reader)[0] == 200
    status, _, refused = api.call("POST", f"/events/{my_event}/redeliver", secret=reader, body={"endpoint": mine["id"]})
    assert status == 403, refused
    assert api.call("GET", f"/webhook_endpoints/{mine['id']}/deliveries")[0] == 401
    assert api.call("POST", f"/events/{my_event}/redeliver", body={"endpoint": mine["id"]})[0] == 401

    # A disabled endpoint is refused with what to do about it.
    api.call(
        "POST", f"/webhook_endpoints/{mine['id']}", secret=secret, key=str(uuid.uuid4()), body={"status": "disabled"}
    )
    status, _, refused = api.call("POST", f"/events/{my_event}/redeliver", secret=secret, body={"endpoint": mine["id"]})
    assert (status, refused["error"]["code"], refused["error"]["field"]) == (
        422,
        "webhook_endpoint_disabled",
        "endpoint",
    )


@pytest.mark.parametrize(
    "body",
    [
        None,
        "",
        "[]",
        "null",
        '{"endpoint": null}',
        '{"endpoint": 5}',
        '{"endpoint": ["we_x"]}',
        "{}",
        '{"endpoint": "we_x", "extra": 1}',
        '{"endpoint": "we_\\u0000"}',
        '{"endpoint": "we_\\u200b"}',
        '{"endpoint": "' + "w" * 5000 + '"}',
        "{",
    ],
)
def test_a_redelivery_body_that_is_not_one_endpoint_id_is_a_clear_4xx_and_queues_nothing(
    cli: Cli, api: Client, body: str | None
) -> None:
    _, secret = merchant(cli, "body")
    mine = endpoint(api, secret, "http://127.0.0.1:9/hooks", ["*"])
    api.call("POST", "/payments", secret=secret, key=str(uuid.uuid4()), body=PAYMENT)
    _, _, feed = api.call("GET", "/events", secret=secret)
    status, _, answer = api.call("POST", f"/events/{feed['data'][0]['id']}/redeliver", secret=secret, body=body)
    assert status in (400, 413, 422), (status, answer)
    assert answer["error"]["message"] and "\x00" not in json.dumps(answer)
    status, _, attempts = api.call("GET", f"/webhook_endpoints/{mine['id']}/deliveries", secret=secret)
    assert (status, attempts["data"]) == (200, [])


@pytest.mark.parametrize(
    "event_id",
    [
        "x",
        "pay_abc:0001",
        "pay_" + "a" * 26,
        "pay_" + "a" * 26 + ":00%0001",
        "pay_" + "a" * 26 + ":0001%E2%80%8B",
        "pay_" + "a" * 26 + "%3A0001",
        "we_" + "a" * 26 + ":zz",
        "4111111111111111",
        "..%2F..%2Fpayments",
    ],
)
def test_an_event_id_of_another_shape_is_404_on_both_event_routes(cli: Cli, api: Client, event_id: str) -> None:
    _, secret = merchant(cli, "shape")
    status, _, answer = api.call("GET", f"/events/{event_id}", secret=secret)
    assert (status, answer["error"]["code"]) == (404, "not_found"), answer
    status, _, answer = api.call(
        "POST", f"/events/{event_id}/redeliver", secret=secret, body={"endpoint": "we_" + "a" * 26}
    )
    assert (status, answer["error"]["code"]) == (404, "not_found"), answer


def test_webhooks_listen_forwards_verifiable_deliveries_and_removes_its_endpoint_on_ctrl_c(
    cli: Cli, api: Client
) -> None:
    merchant_id, secret = merchant(cli, "listen")
    printed: dict[str, str] = {}

    def answer(request: Received) -> Answer:
        Webhook(printed["secret"]).verify(request.body, request.headers)  # raises: the receiver answers 500
        return Answer(204, body=b"")

    with receiver(answer) as hooks:
        listen = cli.start(
            "webhooks",
            "listen",
            "--suffix",
            "alpha",
            "--merchant",
            merchant_id,
            "--forward-to",
            hooks.url("/mine?x=1"),
            "--events",
            "payment.succeeded",
        )
        try:
            assert listen.stdout is not None
            lines = [listen.stdout.readline() for _ in range(2)]
            assert lines[0].startswith("Ready. Endpoint we_"), lines
            endpoint_id = lines[0].split()[2]
            printed["secret"] = lines[1].split()[-1]
            assert printed["secret"].startswith("whsec_")
            status, _, payment = api.call("POST", "/payments", secret=secret, key=str(uuid.uuid4()), body=PAYMENT)
            assert status == 201
            line = listen.stdout.readline()  # once the listener's dispatch runs and the courier delivers
            while line.startswith("  "):
                line = listen.stdout.readline()
            assert line.split() == ["payment.succeeded", f"{payment['id']}:0002", "->", "204"], line
        finally:
            listen.send_signal(signal.SIGINT)
            _, err = listen.communicate(timeout=60)
        (delivery,) = hooks.received
    assert listen.returncode == 0, err
    assert delivery.path == "/mine?x=1" and delivery.headers["webhook-id"] == f"{payment['id']}:0002"
    assert f"removed {endpoint_id}" in err
    status, _, gone = api.call("GET", f"/webhook_endpoints/{endpoint_id}", secret=secret)
    assert status == 404, gone
    status, _, listed = api.call("GET", "/webhook_endpoints", secret=secret)
    assert listed["data"] == []


def test_webhooks_listen_refuses_a_bad_forward_to_with_its_fix(cli: Cli) -> None:
    result = cli.run("webhooks", "listen", "--suffix", "alpha", "--merchant", "m", "--forward-to", "ftp://x/y")
    assert result.returncode == 2 and "give an http:// or https:// URL" in result.stderr, result.stderr
    result = cli.run(
        "webhooks", "listen", "--suffix", "nowhere", "--merchant", "m", "--forward-to", "http://127.0.0.1:1/"
    )
    assert result.returncode == 1 and "not deployed" in result.stderr, result.stderr
