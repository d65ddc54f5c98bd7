"""Two, then four, deliver runs at once over thousands of pending events, each with a short deadline.

The events are seeded by the processor's own store (valid payments and their outbox events, in one
transaction, as if S3 had been down while they were made). Then RUNS invocations of the deployment's
deliver function (the deployed zip under its runtime, ``handler.deliver``) run at once, round after
round, each with a Lambda context whose deadline is DEADLINE_S away, until the outbox is drained. Their
S3 calls go through an `AwsFaultProxy` in forward mode, which counts every PUT and moto's answer.
No event is lost, none is put twice (a put after the mark would find its object: 412), every run
that had work delivered some, and every run ended within its deadline.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from payment_processor.aws import client
from payment_processor.config import Settings
from payment_processor.credentials import SecretsManagerCredentials
from payment_processor.payment import Payment, new_payment_id
from payment_processor.states import PaymentStatus
from payment_processor.store.database import Database
from payment_processor.store.postgres import PostgresStore
from payment_processor.txlog import BATCH_SIZE, payment_event
from payments_cli.local.emulator import EMULATOR_CREDENTIALS
from tests.local_target import LocalDeployment
from tests.resilience.clients import outbox_of, versions_by_key
from tests.resilience.conftest import Report
from tests.resilience.faults import AwsFaultProxy

# On the emulator tier's deployment (`payments up`): deselected with it by `-m "not emulator"`.
pytestmark = [pytest.mark.emulator, pytest.mark.timeout(300)]
EVENTS = 2000
#: The function timeout each run gets: handler.DELIVER_RESERVE_S (6 s) of it is kept back, so a run puts
#: for about two seconds and then commits and answers.
DEADLINE_S = 8.0


def seed(deployment: LocalDeployment, merchant: str, count: int, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """``count`` committed payments whose events wait in the outbox, written by the processor's store."""
    for name, value in EMULATOR_CREDENTIALS.items():  # the store reads its login from Secrets Manager on moto
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(deployment.function_env("processor"))
    database = Database(settings, SecretsManagerCredentials(client("secretsmanager", settings), settings.db_secret_arn))
    store = PostgresStore(database, lock_timeout_ms=settings.idempotency_lock_timeout_ms)
    payments = [
        Payment(
            id=new_payment_id(),
            merchant_id=merchant,
            amount=100 + i,
            currency="EUR",
            status=PaymentStatus.SUCCEEDED,
            payment_method="tok_visa",
            created_at=datetime.now(UTC),
            authorization_code=f"A{i}",
            amount_captured=100 + i,
        )
        for i in range(count)
    ]
    try:
        with store.transaction() as tx:
            for payment in payments:
                tx.insert_payment(payment)
                tx.add_event(payment_event(payment))
    finally:
        database.close()
    return {p.id for p in payments}


# Four runs at once only: two was the same contention, half as much of it, for 30 s more of the suite.
@pytest.mark.parametrize("runs", [4])
def test_concurrent_deliver_runs_with_a_deadline_drain_the_outbox_once(
    alpha_deployment: LocalDeployment, counts: Report, runs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    deployment = alpha_deployment
    rounds: list[list[dict[str, Any]]] = []
    with AwsFaultProxy(deployment.emulator().port) as proxy:
        runtime = deployment.runtime("reconcile", aws_endpoint=proxy.endpoint, concurrency=runs, timeout_s=DEADLINE_S)
        try:
            with ThreadPoolExecutor(runs) as pool:
                # Warm: RUNS execution environments started and their first invocation (which builds the
                # service: secret, connection, clients) done, so the deadline is spent on delivery.
                list(pool.map(lambda _: _invoke(runtime), range(runs)))
                seeding = time.monotonic()
                payment_ids = seed(deployment, f"merch_deliver_{uuid.uuid4().hex[:8]}", EVENTS, monkeypatch)
                seeded_s = time.monotonic() - seeding
                events = outbox_of(deployment, payment_ids)
                assert len(events) == EVENTS and not any(e["delivered"] for e in events.values())
                while len(rounds) < 60:
                    pending = sum(1 for e in outbox_of(deployment, payment_ids).values() if not e["delivered"])
                    if pending == 0:
                        break
                    results = list(pool.map(lambda _: _invoke(runtime), range(runs)))
                    rounds.append([{**r, "pending_before": pending} for r in results])
        finally:
            runtime.close()

    bucket = f"/{deployment.bucket}/"
    events = outbox_of(deployment, payment_ids)
    puts_200, puts_412 = proxy.s3.puts(200), proxy.s3.puts(412)
    mine = {key: n for key, n in versions_by_key(deployment).items() if key.split("/")[4] in payment_ids}
    every_run = [run for round_ in rounds for run in round_]
    per_run = [[run.get("delivered", "-") for run in round_] for round_ in rounds]
    counts(f"{runs} runs at once, deadline {DEADLINE_S:.0f}s each; {EVENTS} events seeded in {seeded_s:.1f}s")
    counts(f"{len(rounds)} rounds, delivered per run per round: {per_run}")
    counts(
        f"S3 PUTs of the events: {sum(puts_200.get(bucket + k, 0) for k in events)} answered 200, "
        f"{sum(puts_412.get(bucket + k, 0) for k in events)} answered 412; "
        f"outbox: {sum(e['delivered'] for e in events.values())} delivered, "
        f"{sum(not e['delivered'] for e in events.values())} pending; "
        f"{sum(mine.values())} object versions in S3 for {len(mine)} keys"
    )
    counts(
        f"slowest run {max(r['elapsed'] for r in every_run):.2f}s of its {DEADLINE_S:.0f}s; "
        f"stopped by the deadline: {sum(bool(r.get('stopped_by_deadline')) for r in every_run)}/{len(every_run)} runs; "
        f"wall time {time.monotonic() - started:.1f}s"
    )

    assert all("error_type" not in r for r in every_run), [r for r in every_run if "error_type" in r][:3]
    assert all(r["elapsed"] < DEADLINE_S for r in every_run), "every run answered before its deadline"
    assert all(e["delivered"] for e in events.values()), "no event lost: every one delivered"
    assert set(mine) == set(events) and set(mine.values()) == {1}, "every event's object in S3, once"
    assert all(puts_200.get(bucket + key) == 1 for key in events), "each event put exactly once"
    assert not any(puts_412.get(bucket + key) for key in events), "no event put again after it was marked"
    assert sum(r["already_present"] for r in every_run) == 0
    for round_ in rounds:
        if round_[0]["pending_before"] >= 2 * runs * BATCH_SIZE:
            assert all(r["delivered"] > 0 for r in round_), f"a run with work to share made no progress: {round_}"
    assert len(rounds) >= 2, "the deadline cut the runs short: draining took several rounds"


def _invoke(runtime: Any) -> dict[str, Any]:
    """One deliver invocation: its report, or the runtime's error, and how long it took."""
    began = time.monotonic()
    reply = runtime.invoke({})
    elapsed = time.monotonic() - began
    if "result" in reply:
        return {**reply["result"], "elapsed": elapsed}
    return {"error_type": reply["error"].get("errorType"), "error": reply["error"], "elapsed": elapsed}
