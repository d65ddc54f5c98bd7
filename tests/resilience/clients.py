"""API clients as a merchant's integration should be written, and what the tier checks afterwards.

A client retries a payment with the same Idempotency-Key on a connection failure, any 5xx, 409
(``idempotency_key_in_use``) and 429, after a short backoff, until it has the payment. Every answer it
saw is kept, so a test can say which 5xx a client met.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.local_target import LocalDeployment, call

RETRIED = (409, 429)


@dataclass
class Answers:
    """Everything one client (or a group) saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    retries: int = 0
    #: 5xx answers that were not 503 with Retry-After: (status, body)
    bad_5xx: list[tuple[int, Any]] = field(default_factory=list)
    #: 4xx answers a retry cannot fix (the request is wrong): (status, body)
    refused: list[tuple[int, Any]] = field(default_factory=list)
    #: Idempotency-Key -> the payment id the client finally got
    payments: dict[str, str] = field(default_factory=dict)
    #: seconds per answer (a retried request counts each attempt)
    latencies: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def merge(self, other: Answers) -> None:
        """Add another client's answers to these."""
        with self._lock:
            self.statuses.update(other.statuses)
            self.connection_errors += other.connection_errors
            self.retries += other.retries
            self.bad_5xx += other.bad_5xx
            self.refused += other.refused
            self.payments.update(other.payments)
            self.latencies += other.latencies

    def summary(self) -> str:
        """Counts in one line."""
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return (
            f"{len(self.payments)} payments, {sum(self.statuses.values())} answers ({statuses}), "
            f"{self.connection_errors} connection errors, {self.retries} retries, "
            f"{len(self.bad_5xx)} 5xx other than 503+Retry-After"
        )


def pay(url: str, secret: str, answers: Answers, *, key: str | None = None, give_up_after_s: float = 120) -> str | None:
    """One payment, retried with its key until it is made; its id (None when refused or given up)."""
    key = key or f"resil-{uuid.uuid4()}"
    body = {"amount": random.randint(100, 99_999), "currency": "EUR", "payment_method": "tok_visa"}
    give_up = time.monotonic() + give_up_after_s
    while time.monotonic() < give_up:
        started = time.monotonic()
        try:
            status, headers, answer = call(url, "POST", "/payments", secret=secret, body=body, key=key, timeout_s=30)
        except OSError:
            answers.connection_errors += 1
            answers.retries += 1
            time.sleep(0.1 + random.random() * 0.2)
            continue
        answers.latencies.append(time.monotonic() - started)
        answers.statuses[status] += 1
        if status >= 500 and not (status == 503 and headers.get("retry-after")):
            answers.bad_5xx.append((status, answer))
        if status in (201, 402):
            answers.payments[key] = str(answer["id"])
            return str(answer["id"])
        if status >= 500 or status in RETRIED:
            answers.retries += 1
            time.sleep(0.1 + random.random() * 0.2)
            continue
        answers.refused.append((status, answer))
        return None
    return None


def outbox_of(deployment: LocalDeployment, payment_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The outbox rows of these payments: object key -> payment id, delivered, dead-lettered, attempts."""
    with deployment.sql() as conn:
        rows = conn.execute(
            "SELECT object_key, payment_id, delivered_at IS NOT NULL, dead_lettered_at IS NOT NULL, attempts "
            "FROM transaction_log_outbox WHERE payment_id = ANY(%s)",
            (list(payment_ids),),
        ).fetchall()
    return {r[0]: {"payment_id": r[1], "delivered": r[2], "dead": r[3], "attempts": r[4]} for r in rows}


def versions_by_key(deployment: LocalDeployment, prefix: str = "transactions/") -> Counter[str]:
    """Every object version in the transaction-log bucket under ``prefix``, counted by key."""
    s3 = deployment.s3()
    found: Counter[str] = Counter()
    # Big pages: moto answers each page by scanning the whole bucket (thousands of versions here); S3 would
    # cap a page at 1000 and the paginator would go on.
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=deployment.bucket, Prefix=prefix, PaginationConfig={"PageSize": 20_000}
    )
    for page in pages:
        for version in page.get("Versions", []):
            found[version["Key"]] += 1
    return found


def drain(
    deployment: LocalDeployment, payment_ids: set[str], *, aws_endpoint: str | None = None, within_s: float = 60
) -> list[dict[str, Any]]:
    """Run the deployment's deliver function (from its zip; its AWS calls to ``aws_endpoint``, default the
    emulator) until every event of these payments is delivered or dead-lettered; its reports. Waits for
    events still backing off."""
    runtime = deployment.runtime("reconcile", aws_endpoint=aws_endpoint)
    reports = []
    try:
        give_up = time.monotonic() + within_s
        while True:
            reply = runtime.invoke({})
            assert "result" in reply, reply
            reports.append(reply["result"])
            left = [e for e in outbox_of(deployment, payment_ids).values() if not e["delivered"] and not e["dead"]]
            if not left or time.monotonic() > give_up:
                return reports
            time.sleep(1)
    finally:
        runtime.close()


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]
