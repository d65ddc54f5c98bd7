"""The two SQS queues between the dispatcher and the courier (data access): attempts out, results back.

Standard queues: at-least-once, so both sides tolerate a message twice (a result is applied once per attempt
number; an attempt sent twice is a duplicate delivery the receiver drops by its ``webhook-id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: SQS takes at most 10 messages per send or receive call.
SQS_BATCH = 10


@dataclass(frozen=True)
class Received:
    receipt: str
    body: str


class SqsQueue:
    """One queue by its URL."""

    def __init__(self, sqs: Any, url: str) -> None:
        self._sqs = sqs
        self.url = url

    def send(self, bodies: list[str]) -> int:
        """Send every body (in batches of 10); how many SQS refused (they are sent again after their lease)."""
        refused = 0
        for start in range(0, len(bodies), SQS_BATCH):
            chunk = bodies[start : start + SQS_BATCH]
            answer = self._sqs.send_message_batch(
                QueueUrl=self.url, Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)]
            )
            refused += len(answer.get("Failed", []))
        return refused

    def receive(self, *, wait_s: int = 0) -> list[Received]:
        """Up to 10 messages, waiting up to ``wait_s`` for the first."""
        answer = self._sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=SQS_BATCH, WaitTimeSeconds=wait_s)
        return [Received(m["ReceiptHandle"], m["Body"]) for m in answer.get("Messages", [])]

    def delete(self, receipts: list[str]) -> None:
        for start in range(0, len(receipts), SQS_BATCH):
            chunk = receipts[start : start + SQS_BATCH]
            self._sqs.delete_message_batch(
                QueueUrl=self.url, Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)]
            )
