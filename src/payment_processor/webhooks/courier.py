"""The courier: the half of webhook delivery that reaches the internet (outside the VPC, fed by SQS).

For each attempt the dispatcher queued it opens the endpoint's sealed secrets (KMS, bound to the endpoint's
id), signs the body (Standard Webhooks, this moment's timestamp), makes the attempt (:func:`sender.send`:
addresses checked at send time, no redirects, 10 s in all), and queues what it found for the dispatcher. It
holds no database login and no route into the private subnets: a request it is tricked into making reaches
only what any host on the internet could.

A batch (up to 10 messages) is attempted concurrently, so a slow receiver in it delays no other's delivery,
and its results go back in one SQS call. A secret sealed once is opened once per batch (several of one
endpoint's events in a batch) and forgotten with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from payment_processor.webhooks import signing
from payment_processor.webhooks.addresses import Reach
from payment_processor.webhooks.messages import AttemptMessage, BadMessage, ResultMessage
from payment_processor.webhooks.queues import SqsQueue
from payment_processor.webhooks.secrets import SecretBox
from payment_processor.webhooks.sender import Attempt, send


def attempt(
    message: AttemptMessage,
    *,
    box: SecretBox,
    reach: Reach,
    now: Callable[[], float] = time.time,
    sender: Callable[..., Attempt] = send,
    **send_options: Any,
) -> ResultMessage:
    """Make one attempt; what it found. KMS refusing a secret is raised (the queue retries the message)."""
    secrets = [box.open(message.endpoint_id, sealed) for sealed in message.sealed_secrets]
    body = message.body.encode()
    headers = signing.headers(secrets, message.event_id, int(now()), body)
    found = sender(message.url, body, headers, reach=reach, **send_options)
    return ResultMessage(message.delivery_id, message.attempt, found)


class BatchBox:
    """A SecretBox for one batch: each distinct sealed secret opened once, concurrently, before the attempts (a
    batch mostly holds one endpoint's events), kept only as long as the batch. One KMS refused is None."""

    def __init__(self, box: SecretBox, messages: list[AttemptMessage], pool: ThreadPoolExecutor) -> None:
        self._box = box
        wanted = list(dict.fromkeys((m.endpoint_id, sealed) for m in messages for sealed in m.sealed_secrets))
        self._opened = dict(zip(wanted, pool.map(self._try_open, wanted), strict=True))

    def _try_open(self, key: tuple[str, bytes]) -> str | None:
        try:
            return self._box.open(*key)
        except Exception:  # noqa: BLE001 - KMS refusing or failing: that endpoint's messages go back to the queue
            return None

    def seal(self, endpoint_id: str, secret: str) -> bytes:
        return self._box.seal(endpoint_id, secret)

    def open(self, endpoint_id: str, sealed: bytes) -> str:
        opened = self._opened.get((endpoint_id, sealed))
        if opened is None:
            raise LookupError("KMS did not open this secret for the batch")
        return opened


@dataclass
class BatchOutcome:
    """The messages to retry (their ids), and what each attempt made found (for the log)."""

    failed: list[str] = field(default_factory=list)
    made: list[tuple[AttemptMessage, ResultMessage]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (message id, why), for the log


def deliver_batch(
    records: list[dict[str, Any]], *, box: SecretBox, reach: Reach, results: SqsQueue, has_time: Callable[[], bool]
) -> BatchOutcome:
    """Attempt each SQS record concurrently and send the results back together. A record that is not an attempt,
    whose secret KMS will not open, whose result SQS will not take, or for which no time is left, is failed (the
    queue retries it, then dead-letters it)."""
    outcome = BatchOutcome()
    todo: list[tuple[str, AttemptMessage]] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            todo.append((message_id, AttemptMessage.decode(str(record.get("body", "")))))
        except BadMessage as exc:
            outcome.refused.append((message_id, str(exc)))
            outcome.failed.append(message_id)
    if not todo:
        return outcome
    if not has_time():
        outcome.failed.extend(message_id for message_id, _ in todo)
        return outcome

    def one(message: AttemptMessage) -> ResultMessage | None:
        try:
            return attempt(message, box=opened, reach=reach)
        except LookupError:  # its secret did not open: this message goes back to the queue
            return None

    with ThreadPoolExecutor(max_workers=len(todo)) as pool:
        opened = BatchBox(box, [message for _, message in todo], pool)
        found = list(pool.map(one, [message for _, message in todo]))
    made = [(message_id, message, result) for (message_id, message), result in zip(todo, found, strict=True)]
    outcome.failed.extend(message_id for message_id, _, result in made if result is None)
    done = [(message_id, message, result) for message_id, message, result in made if result is not None]
    if done:
        try:
            refused = results.send([result.encode() for _, _, result in done])
        except Exception:  # noqa: BLE001 - SQS failing: the attempts were made; the queue makes them again
            refused = len(done)
        if refused:  # which of a batch SQS refused is not told apart: send them all again, receivers dedupe
            outcome.failed.extend(message_id for message_id, _, _ in done)
            return outcome
        outcome.made.extend((message, result) for _, message, result in done)
    return outcome
