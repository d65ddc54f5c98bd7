"""WebhookQueues: the two SQS queues between the webhook dispatcher and the courier, each with a dead-letter queue.

The dispatcher (the reconcile job, inside the VPC, with the database) sends one message per attempt to the
attempts queue; the courier (outside the VPC, with the internet and no database) takes them through an event
source mapping and sends what each attempt found to the results queue, which the dispatcher reads. A message the
courier fails on ``MAX_RECEIVES`` times (a KMS refusal, a malformed message) moves to the attempts' dead-letter
queue; the attempt itself is not lost, the dispatcher sends it again when its lease ends. Encrypted at rest by
SQS (SSE-SQS): the attempts carry the endpoints' secrets only sealed by KMS already, never in plain text.
"""

from __future__ import annotations

import json

from cdktn_aws import sqs
from constructs import Construct

from payments_infra.constructs.policy import Grant, Statement
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming

#: Receives before a message moves to its dead-letter queue.
MAX_RECEIVES = 5
#: The courier's timeout: one attempt (10 s), opening its secrets and sending its result.
COURIER_TIMEOUT_S = 30
#: A received attempt is hidden this long: six times the courier's timeout, as AWS advises for a Lambda source.
ATTEMPTS_VISIBILITY_S = 6 * COURIER_TIMEOUT_S
#: Dead letters are kept the longest SQS allows (14 days) for an operator to look at.
DEAD_LETTER_RETENTION_S = 14 * 24 * 3600
#: Results are read within a minute (the reconcile schedule); kept four days in case the job is down.
RETENTION_S = 4 * 24 * 3600

CONSUME_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]


class Queue(Construct):
    """One queue and its dead-letter queue."""

    def __init__(self, scope: Construct, id_: str, *, naming: Naming, purpose: str, visibility_timeout_s: int) -> None:
        super().__init__(scope, id_)
        self.dead_letters = sqs.AwsQueue(
            self,
            "dead-letters",
            name=naming.queue(f"{purpose}-dlq"),
            message_retention_seconds=DEAD_LETTER_RETENTION_S,
            sqs_managed_sse_enabled=True,
        )
        self.queue = sqs.AwsQueue(
            self,
            "queue",
            name=naming.queue(purpose),
            message_retention_seconds=RETENTION_S,
            visibility_timeout_seconds=visibility_timeout_s,
            sqs_managed_sse_enabled=True,
            # Compact, as SQS gives it back: with json.dumps' spaces every plan would show a (whitespace) change.
            redrive_policy=json.dumps(
                {"deadLetterTargetArn": self.dead_letters.arn, "maxReceiveCount": MAX_RECEIVES}, separators=(",", ":")
            ),
        )

    @property
    def arn(self) -> str:
        return self.queue.arn

    @property
    def url(self) -> str:
        return self.queue.url

    def grant_send(self, sid: str) -> Grant:
        """Send messages. SQS encrypts them with its own key (SSE-SQS): nothing of a KMS key to grant."""
        return Grant((Statement(sid=sid, actions=["sqs:SendMessage"], resources=[self.arn]),))

    def grant_consume(self, sid: str) -> Grant:
        """Receive and delete messages, hide one longer, read the queue's attributes: what its consumer calls."""
        return Grant((Statement(sid=sid, actions=list(CONSUME_ACTIONS), resources=[self.arn]),))


class WebhookQueues(Construct):
    """The attempts queue (dispatcher to courier) and the results queue (courier to dispatcher)."""

    def __init__(self, scope: Construct, id_: str, *, config: EnvironmentConfig, naming: Naming) -> None:
        super().__init__(scope, id_)
        del config  # the same queues in every environment
        self.attempts = Queue(
            self, "attempts", naming=naming, purpose="webhook-attempts", visibility_timeout_s=ATTEMPTS_VISIBILITY_S
        )
        self.results = Queue(self, "results", naming=naming, purpose="webhook-results", visibility_timeout_s=60)
