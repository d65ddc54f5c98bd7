"""Queue event sources on the local target: what Lambda's SQS pollers do on AWS, done by the serving process
(``deviations``, gap 9).

Each SQS event source mapping of the deployment's functions is read back from the emulator; for each, a few
threads (the mapping's maximum concurrency, at most the function's local workers) receive batches of the
mapping's size with long polling and invoke the function from the zip with the event Lambda sends. The
messages the function does not name in ``batchItemFailures`` are deleted; a function error leaves the whole
batch to become visible again after the queue's visibility timeout (and, past the queue's receive limit, to
move to its dead-letter queue), as on AWS.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from payments_cli.local.emulator import EMULATOR_REGION
from payments_cli.local.lambda_runtime.workers import FunctionRuntime

#: Seconds a poll waits for a message (SQS long polling); also how soon a stop is noticed.
WAIT_S = 1
#: Pollers per mapping when the mapping sets no maximum concurrency, and the most run on one machine (each
#: holds a warm worker process of the function).
DEFAULT_POLLERS = 2
MAX_POLLERS = 4


@dataclass(frozen=True)
class QueueSource:
    """One mapping: the queue's ARN and URL, the function, its batch size and how many pollers."""

    uuid: str
    queue_arn: str
    queue_url: str
    function: str
    batch_size: int
    pollers: int


def read_queue_sources(lambda_client: Any, sqs: Any, functions: Iterable[str]) -> list[QueueSource]:
    """The SQS event source mappings of ``functions`` (enabled or not: locally they are created disabled so
    that the emulator does not try to run them itself). Listed whole and matched by the function's ARN:
    moto's FunctionName filter matches no name."""
    wanted = set(functions)
    sources: list[QueueSource] = []
    for page in lambda_client.get_paginator("list_event_source_mappings").paginate():
        for mapping in page.get("EventSourceMappings", []):
            arn = str(mapping.get("EventSourceArn", ""))
            name = str(mapping.get("FunctionArn", "")).rsplit(":function:", 1)[-1]
            if not arn.startswith("arn:aws:sqs:") or name not in wanted:
                continue
            url = str(sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"])
            concurrency = (mapping.get("ScalingConfig") or {}).get("MaximumConcurrency") or DEFAULT_POLLERS
            sources.append(
                QueueSource(
                    str(mapping["UUID"]),
                    arn,
                    url,
                    name,
                    int(mapping.get("BatchSize") or 10),
                    min(int(concurrency), MAX_POLLERS),
                )
            )
    return sorted(sources, key=lambda source: (source.function, source.uuid))


def sqs_event(source: QueueSource, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS poller sends a function."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": source.queue_arn,
                "awsRegion": EMULATOR_REGION,
            }
            for m in messages
        ]
    }


class QueuePoller:
    """Polls each source on threads of its own until ``stop()``; a failed invocation is reported, never fatal."""

    def __init__(
        self,
        sources: Iterable[QueueSource],
        runtimes: dict[str, FunctionRuntime],
        sqs: Any,
        *,
        report: Callable[[QueueSource, dict[str, Any], int], None] = lambda *_: None,
    ) -> None:
        self._sources = list(sources)
        self._runtimes = runtimes
        self._sqs = sqs
        self._report = report
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for source in self._sources:
            for n in range(source.pollers):
                thread = threading.Thread(
                    target=self._loop, args=(source,), name=f"queue-{source.function}-{n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def poll_once(self, source: QueueSource, *, wait_s: int = 0) -> int:
        """Receive one batch and run the function on it; how many messages it took."""
        messages = self._sqs.receive_message(
            QueueUrl=source.queue_url,
            MaxNumberOfMessages=min(source.batch_size, 10),
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        try:
            reply = self._runtimes[source.function].invoke(sqs_event(source, messages))
        except Exception as exc:  # noqa: BLE001 - a poller must never take the server down
            reply = {"error": {"errorType": type(exc).__name__, "errorMessage": str(exc)}}
        self._report(source, reply, len(messages))
        if reply.get("error"):
            return len(messages)  # left to become visible again, as Lambda leaves a failed batch
        result = reply.get("result") or {}
        failed = {str(f.get("itemIdentifier")) for f in result.get("batchItemFailures", []) if isinstance(f, dict)}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(messages)

    def _loop(self, source: QueueSource) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once(source, wait_s=WAIT_S)
            except Exception:  # noqa: BLE001 - the emulator restarting: try again shortly
                self._stopping.wait(WAIT_S)

    def stop(self) -> None:
        """Stop polling (a batch in progress finishes on its own)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=WAIT_S + 1)

    def close(self) -> None:
        for runtime in self._runtimes.values():
            runtime.close()
