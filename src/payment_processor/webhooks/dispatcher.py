"""The dispatcher: the half of webhook delivery that reads the database (inside the VPC, in the reconcile job).

Each round it takes the results the courier sent back and records them (:meth:`collect`), then claims the due
deliveries, records each attempt as dispatched, and queues it for the courier (:meth:`dispatch`). Recorded
before queued: if the queue or the courier loses an attempt, its lease ends and it is dispatched again, so a
crash anywhere leads to a retry, never a gap. Rounds repeat while there is work and time, so a burst drains
within one run instead of one round a minute.

The courier (:mod:`courier`) runs outside the VPC: it has the internet and no path to the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from payment_processor.store.webhook_deliveries import PostgresWebhookDeliveries
from payment_processor.txlog import feed_resource
from payment_processor.webhooks.messages import AttemptMessage, BadMessage, ResultMessage
from payment_processor.webhooks.queues import SqsQueue

#: An attempt without a result after this long is presumed lost (its sender killed) and sent again. Above the
#: courier's longest attempt (10 s) plus the queue's own retry of a failed batch (its visibility timeout).
LEASE_S = 300.0
#: Attempts in flight at once to one endpoint, and to one whose every recent attempt failed: a dead receiver
#: holds at most this many senders waiting on its timeouts while the others' deliveries go on.
PER_ENDPOINT = 20
PER_FAILING_ENDPOINT = 2
#: Deliveries claimed per round.
CLAIM_LIMIT = 200
#: The most a run waits for results when it has nothing else to do (SQS long polling, whole seconds).
IDLE_WAIT_S = 1


@dataclass
class DispatchReport:
    dispatched: int = 0
    recorded: int = 0
    duplicates: int = 0
    disabled: list[str] = field(default_factory=list)
    bad_results: int = 0
    error: str | None = None

    def step(self) -> dict[str, Any]:
        return {
            "dispatched": self.dispatched,
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "endpoints_disabled": len(self.disabled),
            "bad_results": self.bad_results,
        }


def webhook_body(event_body: str) -> str:
    """The body a receiver gets: the event as ``GET /events`` shows it (same id, type, data)."""
    import json

    return json.dumps(feed_resource(event_body), separators=(",", ":"))


class Dispatcher:
    def __init__(
        self,
        store: PostgresWebhookDeliveries,
        attempts: SqsQueue,
        results: SqsQueue,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lease_s: float = LEASE_S,
    ) -> None:
        self._store = store
        self._attempts = attempts
        self._results = results
        self._clock = clock
        self._lease_s = lease_s

    def collect(self, report: DispatchReport, *, wait_s: int = 0) -> int:
        """Record the results waiting on the queue (a batch of 10 at a time, until none); how many were read."""
        read = 0
        while True:
            batch = self._results.receive(wait_s=wait_s)
            if not batch:
                return read
            wait_s = 0
            read += len(batch)
            for message in batch:
                try:
                    result = ResultMessage.decode(message.body)
                except BadMessage:
                    report.bad_results += 1  # not ours to retry: dropped (nothing a courier writes looks so)
                    continue
                recorded = self._store.record_result(result.delivery_id, result.attempt_number, result.attempt)
                if recorded.applied:
                    report.recorded += 1
                else:
                    report.duplicates += 1
                if recorded.disabled is not None and recorded.event_id is not None:
                    report.disabled.append(recorded.event_id)
            # Deleted once recorded (committed): a crash before this line records it again, as a duplicate.
            self._results.delete([m.receipt for m in batch])

    def dispatch(self, report: DispatchReport) -> int:
        """Claim due deliveries and queue one attempt each; how many were queued."""
        due = self._store.claim_due(
            now=self._clock(),
            limit=CLAIM_LIMIT,
            lease_s=self._lease_s,
            per_endpoint=PER_ENDPOINT,
            per_failing_endpoint=PER_FAILING_ENDPOINT,
        )
        if not due:
            return 0
        # One endpoint's attempts next to each other: the courier's batches then mostly hold one endpoint, whose
        # secret it opens once a batch, and a dead receiver holds few batches (SQS keeps the order roughly).
        messages = [
            AttemptMessage(
                d.delivery_id, d.attempt, d.event_id, d.endpoint_id, d.url, webhook_body(d.event_body), d.sealed_secrets
            ).encode()
            for d in sorted(due, key=lambda d: d.endpoint_id)
        ]
        self._attempts.send(messages)  # a refused one is dispatched again when its lease ends
        report.dispatched += len(due)
        return len(due)

    def run(self, *, expired: Callable[[], bool], budget_s: float) -> DispatchReport:
        """Rounds of collect-then-dispatch until nothing is due or in flight, ``budget_s`` is spent, or the
        deadline is near."""
        report = DispatchReport()
        ends = time.monotonic() + budget_s
        in_flight = 0
        while not expired() and time.monotonic() < ends:
            waiting = in_flight > 0
            read = self.collect(report, wait_s=IDLE_WAIT_S if waiting else 0)
            in_flight = max(in_flight - read, 0)
            sent = self.dispatch(report)
            in_flight += sent
            if not sent and not read and not waiting:
                break
            if not sent and not read:
                in_flight = 0  # waited a whole poll for nothing: what is left in flight is the lease's to find
        return report
