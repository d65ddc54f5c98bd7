"""Webhook delivery end to end on the real PostgreSQL server, moto's SQS and KMS over HTTP, and real receivers
on 127.0.0.1 that verify every delivery with the Standard Webhooks reference library (``standardwebhooks``).

The dispatcher runs with a test clock (three days of retries take seconds); the courier is the deployed entry
point ``handler.send_webhooks``, fed the attempt queue's messages as Lambda's SQS event source feeds it, and in
one test a separate process killed mid-delivery.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
import pytest
from standardwebhooks import Webhook

from payment_processor import handler as handler_module
from payment_processor.errors import NotFound, ValidationFailed
from payment_processor.handler import build_service, build_webhooks
from payment_processor.service import PaymentService
from payment_processor.store.interfaces import PageRequest
from payment_processor.store.webhook_deliveries import PostgresWebhookDeliveries
from payment_processor.txlog import feed_resource
from payment_processor.validation import parse_payment_request
from payment_processor.webhooks.dispatcher import PER_FAILING_ENDPOINT, Dispatcher, DispatchReport
from payment_processor.webhooks.endpoints import CreateEndpointRequest, RedeliverRequest, UpdateEndpointRequest
from payment_processor.webhooks.queues import SqsQueue
from payment_processor.webhooks.service import WebhookEndpoints
from tests.conftest import MERCHANT, REGION, Services
from tests.receivers import Answer, Received, receiver
from tests.support import payment_body

pytestmark = pytest.mark.functional

PAGE = PageRequest(limit=100)


class Clock:
    """The dispatcher's time: the real time moved ahead by the test (never by waiting), so rows the database
    stamps with its own now() are never in its future."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    def advance(self, **delta: float) -> None:
        self.ahead += timedelta(**delta)


@dataclass
class World:
    services: Services
    service: PaymentService
    webhooks: WebhookEndpoints
    dispatcher: Dispatcher
    attempts: Any
    clock: Clock
    sqs: Any

    def endpoint(self, url: str, events: list[str], merchant: str = MERCHANT) -> tuple[str, str]:
        """A new endpoint: its id and secret."""
        request = CreateEndpointRequest(url=url, enabled_events=events)
        body = json.loads(self.webhooks.create(merchant, request, str(uuid.uuid4())).response.body)
        return body["id"], body["secret"]

    def pay(self, merchant: str = MERCHANT) -> str:
        outcome = self.service.create_payment(merchant, parse_payment_request(payment_body()), str(uuid.uuid4()))
        return str(outcome.payment_id)

    def courier(self) -> int:
        """What Lambda's event source mapping does: each attempt message to the courier; deleted unless it
        reported the message failed. How many messages it took."""
        taken = 0
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.attempts, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return taken
            for message in messages:
                event = {
                    "Records": [{"messageId": message["MessageId"], "body": message["Body"], "eventSource": "aws:sqs"}]
                }
                answer = handler_module.send_webhooks(event, None)
                if not answer["batchItemFailures"]:
                    self.sqs.delete_message(QueueUrl=self.attempts, ReceiptHandle=message["ReceiptHandle"])
                taken += 1

    def pump(self) -> DispatchReport:
        """One round: results in, due attempts out, the courier makes them, their results in."""
        report = DispatchReport()
        self.dispatcher.collect(report)
        self.dispatcher.dispatch(report)
        self.courier()
        self.dispatcher.collect(report)
        return report

    def attempts_of(self, endpoint_id: str) -> list[dict[str, Any]]:
        return [a.resource() for a in self.webhooks.attempts(MERCHANT, endpoint_id, PAGE).items]


@pytest.fixture
def world(clean: Services, monkeypatch: pytest.MonkeyPatch) -> World:
    for key, value in clean.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(handler_module, "_courier", None)
    settings = clean.settings()
    service = build_service(settings)
    webhooks = build_webhooks(settings, service)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=clean.moto.endpoint)
    env = clean.env()
    for url in (env["WEBHOOK_ATTEMPTS_QUEUE_URL"], env["WEBHOOK_RESULTS_QUEUE_URL"]):
        drain(sqs, url)
    clock = Clock()
    dispatcher = Dispatcher(
        PostgresWebhookDeliveries(service.database),
        SqsQueue(sqs, env["WEBHOOK_ATTEMPTS_QUEUE_URL"]),
        SqsQueue(sqs, env["WEBHOOK_RESULTS_QUEUE_URL"]),
        clock=clock,
    )
    return World(clean, service, webhooks, dispatcher, env["WEBHOOK_ATTEMPTS_QUEUE_URL"], clock, sqs)


def drain(sqs: Any, url: str) -> None:
    """Empty a queue (PurgeQueue may be asked once a minute only)."""
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages"):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


Answering = Callable[[Received], Answer]


def verifying(secret: str, answer: Answering = lambda _: Answer(200)) -> Answering:
    """A merchant's receiver: verify with the reference library (a bad signature is a 400), then answer."""

    def receive(request: Received) -> Answer:
        try:
            Webhook(secret).verify(request.body, request.headers)
        except Exception:
            return Answer(400, body=b"bad signature")
        return answer(request)

    return receive


def test_an_event_reaches_each_subscribed_endpoint_signed_and_as_the_events_feed_shows_it(world: World) -> None:
    secrets: dict[str, str] = {}
    with receiver(lambda r: verifying(secrets[r.path])(r)) as hooks:
        succeeded, secrets["/succeeded"] = world.endpoint(hooks.url("/succeeded"), ["payment.succeeded"])
        every, secrets["/every"] = world.endpoint(hooks.url("/every"), ["*"])
        refunds, secrets["/refunds"] = world.endpoint(hooks.url("/refunds"), ["refund.succeeded"])
        payment_id = world.pay()
        report = world.pump()

    feed = {item.event_id: feed_resource(item.body) for item in world.service.list_events(MERCHANT, PAGE).items}
    by_path: dict[str, list[dict[str, Any]]] = {}
    for request in hooks.received:
        by_path.setdefault(request.path, []).append(json.loads(request.body))
        assert request.headers["webhook-id"] == json.loads(request.body)["id"]
    # Each subscribed endpoint got exactly its events, each the feed's object; the refunds' endpoint nothing.
    assert [e["type"] for e in by_path["/succeeded"]] == ["payment.succeeded"]
    assert sorted(e["type"] for e in by_path["/every"]) == ["payment.processing", "payment.succeeded"]
    assert "/refunds" not in by_path
    for events in by_path.values():
        for event in events:
            assert event == feed[event["id"]] and event["data"]["payment"]["id"] == payment_id
    assert report.dispatched == 3 and report.recorded == 3
    (attempt,) = world.attempts_of(succeeded)
    assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["attempt"] == 1
    assert attempt["next_attempt_at"] is None and attempt["latency_ms"] >= 0
    assert len(world.attempts_of(every)) == 2 and world.attempts_of(refunds) == []
    # Nothing more is due: another round sends nothing.
    assert world.pump().dispatched == 0


def test_failures_follow_the_schedule_honour_retry_after_and_end_in_one_success(world: World) -> None:
    answers = iter([Answer(500, body=b"boom"), Answer(503, {"Retry-After": "600"}), Answer(204, body=b"")])
    with receiver(lambda r: verifying(secret, lambda _: next(answers))(r)) as hooks:
        endpoint, secret = world.endpoint(hooks.url(), ["payment.succeeded"])
        world.pay()
        assert world.pump().dispatched == 1
        first = world.attempts_of(endpoint)[0]
        assert first["status_code"] == 500 and first["next_attempt_at"] is not None
        wait = datetime.fromisoformat(first["next_attempt_at"]) - datetime.fromisoformat(first["attempted_at"])
        assert 4.5 <= wait.total_seconds() <= 5.5  # 5 s, jittered by a tenth at most
        assert world.pump().dispatched == 0  # not due yet
        world.clock.advance(seconds=6)
        assert world.pump().dispatched == 1
        second = world.attempts_of(endpoint)[0]
        wait = datetime.fromisoformat(second["next_attempt_at"]) - datetime.fromisoformat(second["attempted_at"])
        # The schedule's next step is 5 min (±10 %); the receiver's Retry-After of 10 min is honoured up to the
        # step after it (30 min).
        assert second["status_code"] == 503 and wait.total_seconds() == pytest.approx(600, abs=1)
        world.clock.advance(seconds=601)
        assert world.pump().dispatched == 1
        world.clock.advance(days=1)
        assert world.pump().dispatched == 0
    listed = world.attempts_of(endpoint)
    assert [(a["attempt"], a["status_code"]) for a in listed] == [(3, 204), (2, 503), (1, 500)]
    assert listed[0]["next_attempt_at"] is None
    assert len(hooks.received) == 3 and len({r.headers["webhook-id"] for r in hooks.received}) == 1
    # Each attempt is signed at the moment it is made (the verifier refuses a timestamp 5 min off): the test
    # clock moves the schedule, never the signature's time.
    assert all(abs(int(r.headers["webhook-timestamp"]) - time.time()) < 60 for r in hooks.received)


def test_a_410_disables_the_endpoint_at_once_and_the_merchant_is_told_on_its_other_endpoints(world: World) -> None:
    with receiver(lambda r: Answer(410) if r.path == "/gone" else verifying(other_secret)(r)) as hooks:
        gone, _ = world.endpoint(hooks.url("/gone"), ["payment.succeeded"])
        other, other_secret = world.endpoint(hooks.url("/other"), ["webhook_endpoint.disabled"])
        world.pay()
        world.pump()  # the 410 disables: its event is written with the result, due now
        world.pump()  # the other endpoint gets it
        world.pay()
        world.clock.advance(days=1)
        world.pump()

    assert world.webhooks.get(MERCHANT, gone).status == "disabled"
    assert [r.path for r in hooks.received] == ["/gone", "/other"]  # nothing more to the disabled endpoint
    told = json.loads(hooks.received[1].body)
    assert told["type"] == "webhook_endpoint.disabled"
    assert told["data"]["webhook_endpoint"] == {"id": gone, "status": "disabled", "disabled_reason": "gone"}
    feed = [feed_resource(e.body) for e in world.service.list_events(MERCHANT, PAGE).items]
    assert told in feed and "url" not in json.dumps(told)
    (attempt,) = world.attempts_of(gone)
    assert attempt["status_code"] == 410 and attempt["next_attempt_at"] is None
    assert world.attempts_of(other)[0]["status_code"] == 200


def test_three_days_of_failures_disable_the_endpoint_and_nothing_is_sent_to_it_after(world: World) -> None:
    with receiver(lambda _: Answer(500)) as dead, receiver(lambda r: verifying(secret)(r)) as alive:
        failing, _ = world.endpoint(dead.url(), ["payment.succeeded"])
        told, secret = world.endpoint(alive.url(), ["webhook_endpoint.disabled"])
        world.pay()
        for _ in range(12):  # a day at a time: every retry of the schedule is due each round
            world.pump()
            world.clock.advance(hours=25)
        world.pay()
        world.pump()

    endpoint = world.webhooks.get(MERCHANT, failing)
    assert endpoint.status == "disabled"
    listed = world.attempts_of(failing)
    assert all(a["status_code"] == 500 for a in listed) and listed[0]["next_attempt_at"] is None
    first, last = (datetime.fromisoformat(listed[i]["attempted_at"]) for i in (-1, 0))
    assert (last - first).total_seconds() >= 3 * 24 * 3600 and len(dead.received) == len(listed)
    (event,) = [json.loads(r.body) for r in alive.received]
    assert event["data"]["webhook_endpoint"]["disabled_reason"] == "failing"
    assert world.attempts_of(told)[0]["status_code"] == 200


def test_a_courier_killed_mid_delivery_leads_to_a_retry_and_one_recorded_success(world: World) -> None:
    calls: list[Received] = []

    def first_hangs(request: Received) -> Answer:
        calls.append(request)
        return Answer(200, delay_s=30) if len(calls) == 1 else verifying(secret)(request)

    with receiver(first_hangs) as hooks:
        endpoint, secret = world.endpoint(hooks.url(), ["payment.succeeded"])
        world.pay()
        assert world.dispatcher.dispatch(DispatchReport()) == 1
        message = world.sqs.receive_message(QueueUrl=world.attempts, MaxNumberOfMessages=1)["Messages"][0]
        event = {"Records": [{"messageId": message["MessageId"], "body": message["Body"]}]}
        code = (
            "import json, sys; from payment_processor import handler; handler.send_webhooks(json.load(sys.stdin), None)"
        )
        courier = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, env={**os.environ}, start_new_session=True
        )
        assert courier.stdin is not None
        courier.stdin.write(json.dumps(event).encode())
        courier.stdin.close()
        deadline = time.monotonic() + 20
        while not calls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert calls, "the courier never reached the receiver"
        os.killpg(courier.pid, signal.SIGKILL)  # mid-flight: the receiver has the request, nobody its answer
        courier.wait()

        # No result: the attempt stays dispatched until its lease ends, then goes out again.
        assert world.pump().dispatched == 0 and world.attempts_of(endpoint) == []
        world.clock.advance(minutes=6)
        report = world.pump()
    assert report.dispatched == 1 and report.recorded == 1
    (attempt,) = world.attempts_of(endpoint)
    assert attempt["attempt"] == 1 and attempt["status_code"] == 200
    assert [r.headers["webhook-id"] for r in calls] == [calls[0].headers["webhook-id"]] * 2


def test_a_result_sent_twice_is_recorded_once(world: World) -> None:
    with receiver(lambda r: verifying(secret)(r)) as hooks:
        endpoint, secret = world.endpoint(hooks.url(), ["payment.succeeded"])
        world.pay()
        world.dispatcher.dispatch(DispatchReport())
        world.courier()
    results = world.services.env()["WEBHOOK_RESULTS_QUEUE_URL"]
    (message,) = world.sqs.receive_message(QueueUrl=results, MaxNumberOfMessages=10)["Messages"]
    world.sqs.send_message(QueueUrl=results, MessageBody=message["Body"])  # SQS delivering it twice
    world.sqs.change_message_visibility(QueueUrl=results, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    report = DispatchReport()
    world.dispatcher.collect(report)
    assert (report.recorded, report.duplicates) == (1, 1)
    assert len(world.attempts_of(endpoint)) == 1


def test_a_redelivery_is_sent_once_now_and_shows_in_the_attempts(world: World) -> None:
    with receiver(lambda r: verifying(secret)(r)) as hooks:
        endpoint, secret = world.endpoint(hooks.url(), ["payment.succeeded"])
        world.pay()
        world.pump()
        (event_id,) = {r.headers["webhook-id"] for r in hooks.received}
        asked = world.webhooks.redeliver(MERCHANT, event_id, RedeliverRequest(endpoint=endpoint))
        again = world.webhooks.redeliver(MERCHANT, event_id, RedeliverRequest(endpoint=endpoint))
        assert (
            asked == again == {"object": "redelivery", "event_id": event_id, "endpoint": endpoint, "status": "queued"}
        )
        assert world.pump().dispatched == 1  # asked twice while queued: sent once
    assert len(hooks.received) == 2 and {r.headers["webhook-id"] for r in hooks.received} == {event_id}
    assert len(world.attempts_of(endpoint)) == 2


def test_a_redelivery_refuses_another_merchants_event_or_endpoint_and_a_disabled_one(world: World) -> None:
    mine, _ = world.endpoint("https://example.com/hooks", ["*"])
    theirs, _ = world.endpoint("https://example.com/theirs", ["*"], merchant="merch_other")
    world.pay()
    their_payment = world.pay("merch_other")
    (event_id, *_) = [e.event_id for e in world.service.list_events(MERCHANT, PAGE).items]
    with pytest.raises(NotFound):
        world.webhooks.redeliver(MERCHANT, f"{their_payment}:0001", RedeliverRequest(endpoint=mine))
    with pytest.raises(ValidationFailed) as refused:
        world.webhooks.redeliver(MERCHANT, event_id, RedeliverRequest(endpoint=theirs))
    assert refused.value.field == "endpoint"
    with pytest.raises(NotFound):
        world.webhooks.attempts(MERCHANT, theirs, PAGE)
    for bad in ("", "pay_x:0001", "evt_1", f"{their_payment}:00\x0001", f"{their_payment}.0001"):
        with pytest.raises(NotFound):
            world.webhooks.redeliver(MERCHANT, bad, RedeliverRequest(endpoint=mine))


def test_a_failing_endpoint_holds_at_most_two_attempts_in_flight_while_the_others_go_on(world: World) -> None:
    with receiver(lambda _: Answer(500)) as dead, receiver(lambda r: verifying(secret)(r)) as alive:
        failing, _ = world.endpoint(dead.url(), ["payment.succeeded"])
        healthy, secret = world.endpoint(alive.url(), ["payment.succeeded"])
        world.pay()
        world.pump()  # the first failure marks the endpoint failing (its first delivery waits 5 s to retry)
        for _ in range(10):
            world.pay()
        world.clock.advance(seconds=10)
        report = DispatchReport()
        world.dispatcher.dispatch(report)
    # Due now: the failing endpoint's 11 and the healthy one's 10; the failing one gets two in flight.
    with world.services.admin() as conn:
        rows = conn.execute(
            "SELECT endpoint_id, count(*) FROM webhook_deliveries WHERE dispatched_attempt IS NOT NULL GROUP BY 1"
        ).fetchall()
        flying = dict(cast("list[tuple[str, int]]", rows))  # pairs of the text id and its count(*)
    assert flying == {failing: PER_FAILING_ENDPOINT, healthy: 10} and report.dispatched == 10 + PER_FAILING_ENDPOINT


def test_a_receiver_that_is_down_gets_the_event_when_it_is_back(world: World) -> None:
    """Nothing listens on the port at first (connection refused: a real stopped server); the same port serves
    later, and the retry on the schedule delivers."""
    with receiver(lambda r: verifying(secret)(r)) as hooks:
        port = hooks.port
        url = hooks.url()
        endpoint, secret = world.endpoint(url, ["payment.succeeded"])
    # The receiver is stopped: its port refuses connections now.
    world.pay()
    assert world.pump().recorded == 1
    (down,) = world.attempts_of(endpoint)
    assert (down["status_code"], down["error"]) == (None, "connection_failed") and down["next_attempt_at"]
    with receiver(lambda r: verifying(secret)(r), port=port) as back:
        world.clock.advance(seconds=6)
        assert world.pump().recorded == 1
    assert len(back.received) == 1
    assert [(a["attempt"], a["status_code"]) for a in world.attempts_of(endpoint)] == [(2, 200), (1, None)]


def test_an_endpoint_enabled_again_starts_its_three_days_afresh(world: World) -> None:
    with receiver(lambda _: Answer(500)) as dead:
        endpoint, _ = world.endpoint(dead.url(), ["payment.succeeded"])
        world.pay()
        world.pump()  # failing from now
        world.webhooks.update(MERCHANT, endpoint, UpdateEndpointRequest(status="disabled"), str(uuid.uuid4()))
        world.clock.advance(days=4)
        world.webhooks.update(MERCHANT, endpoint, UpdateEndpointRequest(status="enabled"), str(uuid.uuid4()))
        world.pay()
        world.pump()  # a failure 4 days after the first: not 3 days of failing, the endpoint was off meanwhile
    assert world.webhooks.get(MERCHANT, endpoint).status == "enabled"
    assert len(dead.received) == 2  # the first event's retry was given up with the disabling; the new one sent


def test_a_receiver_slower_than_the_deadline_is_a_timeout_retried_on_schedule(world: World) -> None:
    """The courier's deadline is the sender's (10 s deployed); here 0.5 s, so the test waits half a second, not
    ten, for the same code path: the socket shut at the deadline, the attempt a timeout, the retry scheduled."""
    from payment_processor.webhooks.courier import attempt
    from payment_processor.webhooks.messages import AttemptMessage

    calls: list[Received] = []

    def slow_then_fast(request: Received) -> Answer:
        calls.append(request)
        return Answer(200, delay_s=2) if len(calls) == 1 else verifying(secret)(request)

    courier = handler_module._get_courier()
    with receiver(slow_then_fast) as hooks:
        endpoint, secret = world.endpoint(hooks.url(), ["payment.succeeded"])
        world.pay()
        world.dispatcher.dispatch(DispatchReport())
        (message,) = world.sqs.receive_message(QueueUrl=world.attempts, MaxNumberOfMessages=10)["Messages"]
        found = attempt(
            AttemptMessage.decode(message["Body"]), box=courier["box"], reach=courier["reach"], timeout_s=0.5
        )
        courier["results"].send([found.encode()])
        world.sqs.delete_message(QueueUrl=world.attempts, ReceiptHandle=message["ReceiptHandle"])
        world.dispatcher.collect(DispatchReport())
        (late,) = world.attempts_of(endpoint)
        assert (late["status_code"], late["error"]) == (None, "timeout") and late["next_attempt_at"]
        assert 400 <= late["latency_ms"] < 2000
        world.clock.advance(seconds=6)
        assert world.pump().recorded == 1
    assert [a["status_code"] for a in world.attempts_of(endpoint)] == [200, None]


def test_deleting_an_endpoint_takes_its_deliveries_and_attempts_and_a_late_result_is_dropped(world: World) -> None:
    """The processor's role deletes the endpoint (the cascade runs as the tables' owner); the courier's result
    for a deleted endpoint's attempt, arriving after, changes nothing."""
    with receiver(lambda r: verifying(secret)(r)) as hooks:
        endpoint, secret = world.endpoint(hooks.url(), ["payment.succeeded"])
        world.pay()
        world.pump()
        world.pay()
        world.dispatcher.dispatch(DispatchReport())
        world.courier()  # its result waits on the queue
    world.webhooks.delete(MERCHANT, endpoint)
    report = DispatchReport()
    world.dispatcher.collect(report)
    assert (report.recorded, report.duplicates) == (0, 1)
    with world.services.admin() as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM webhook_deliveries), (SELECT count(*) FROM webhook_attempts)"
        ).fetchone()
    assert left == (0, 0)


def test_a_cursor_that_is_not_one_of_the_endpoints_attempts_is_404_like_every_lists(world: World) -> None:
    """Found over HTTP: another merchant's event or endpoint id as ``starting_after`` was a 500 (cast to bigint)."""
    endpoint, _ = world.endpoint("https://example.com/hooks", ["*"])
    other = world.pay("merch_other")
    for cursor in (f"{other}:0001", endpoint, "x", "9" * 30, "-1"):
        for page in (PageRequest(limit=10, starting_after=cursor), PageRequest(limit=10, ending_before=cursor)):
            with pytest.raises(NotFound):
                world.webhooks.attempts(MERCHANT, endpoint, page)
