"""The local target's SQS poller (deviations gap 9) on moto's SQS over HTTP: what Lambda's event source mapping
does with a batch, the function given as a stand-in that answers as told (the real courier runs through it in
tests/emulator/test_webhook_delivery_http.py)."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from payments_cli.local.lambda_runtime.queues import QueuePoller, QueueSource, read_queue_sources, sqs_event
from tests.conftest import REGION, Services

pytestmark = pytest.mark.functional


class Function:
    """Answers each invocation with ``reply(event)``; keeps the events."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return dict(self.reply(event))

    def close(self) -> None:
        return


def queue(services: Services) -> tuple[Any, QueueSource]:
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=services.moto.endpoint)
    url = sqs.create_queue(QueueName=f"poller-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "0"})[
        "QueueUrl"
    ]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs, QueueSource("uuid-1", arn, url, "courier", batch_size=10, pollers=1)


def remaining(sqs: Any, source: QueueSource) -> list[str]:
    got = sqs.receive_message(QueueUrl=source.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return sorted(m["Body"] for m in got.get("Messages", []))


def test_messages_the_function_does_not_report_failed_are_deleted(services: Services) -> None:
    sqs, source = queue(services)
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=source.queue_url, MessageBody=body)

    def reply(event: dict[str, Any]) -> dict[str, Any]:
        failed = [r["messageId"] for r in event["Records"] if r["body"] == "b"]
        return {"result": {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}}

    function = Function(reply)
    poller = QueuePoller([source], {"courier": function}, sqs)  # type: ignore[dict-item]
    assert poller.poll_once(source) == 3
    (event,) = function.events
    assert sorted(r["body"] for r in event["Records"]) == ["a", "b", "c"]
    assert {r["eventSource"] for r in event["Records"]} == {"aws:sqs"}
    assert {r["eventSourceARN"] for r in event["Records"]} == {source.queue_arn}
    assert remaining(sqs, source) == ["b"]


def test_a_function_error_leaves_the_whole_batch(services: Services) -> None:
    sqs, source = queue(services)
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=source.queue_url, MessageBody=body)
    reports: list[int] = []
    function = Function(lambda _: {"error": {"errorType": "Crash", "errorMessage": "boom"}})
    poller = QueuePoller([source], {"courier": function}, sqs, report=lambda s, r, n: reports.append(n))  # type: ignore[dict-item]
    assert poller.poll_once(source) == 2 and reports == [2]
    assert remaining(sqs, source) == ["a", "b"]


def test_only_the_deployments_functions_mappings_are_polled(services: Services) -> None:
    """Mappings are matched by the function's ARN (moto's FunctionName filter matches no name); another
    deployment's function's mapping on the same emulator is not this one's to poll."""
    sqs, source = queue(services)
    lambda_client = boto3.client("lambda", region_name=REGION, endpoint_url=services.moto.endpoint)
    assert read_queue_sources(lambda_client, sqs, ["no-such-function"]) == []
    assert sqs_event(source, [])["Records"] == []
