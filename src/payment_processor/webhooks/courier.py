"""The courier: the half of webhook delivery that reaches the internet (outside the VPC, fed by SQS).

For each attempt the dispatcher queued it opens the endpoint's sealed secrets (KMS, bound to the endpoint's
id), signs the body (Standard Webhooks, this moment's timestamp), makes the attempt (:func:`sender.send`:
addresses checked at send time, no redirects, 10 s in all), and queues what it found for the dispatcher. It
holds no database login and no route into the private subnets: a request it is tricked into making reaches
only what any host on the internet could.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from payment_processor.webhooks import signing
from payment_processor.webhooks.addresses import Reach
from payment_processor.webhooks.messages import AttemptMessage, ResultMessage
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
