"""PostgreSQL stopped and started under concurrent clients, through the API `payments up` serves.

Each of CLIENTS clients (its own merchant and API key) makes payments one after another over HTTP,
retrying each with its Idempotency-Key as a client should, while the deployment's PostgreSQL server
is stopped (``pg_ctl stop -m fast``: connections cut mid-request) and started again on its port.
Afterwards every client's payment exists exactly once, every event of those payments is in S3 exactly
once, and no client saw a 5xx other than 503 with Retry-After.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest

from tests.local_target import LocalDeployment
from tests.resilience.clients import Answers, drain, outbox_of, pay, versions_by_key
from tests.resilience.conftest import Report

# On the emulator tier's deployment (`payments up`): deselected with it by `-m "not emulator"`.
pytestmark = [pytest.mark.emulator, pytest.mark.timeout(300)]
CLIENTS = 24
#: How long the server stays down.
OUTAGE_S = 4.0


def test_clients_ride_out_a_database_restart(alpha_deployment: LocalDeployment, counts: Report) -> None:
    started = time.monotonic()
    deployment = alpha_deployment
    run = uuid.uuid4().hex[:8]
    merchants = [f"merch_pg_{run}_{i}" for i in range(CLIENTS)]
    secrets = deployment.create_keys(merchants)
    url = deployment.url
    postgres = deployment.postgres()
    assert postgres.is_running()

    stop = threading.Event()
    made: list[Counter[str]] = [Counter() for _ in range(CLIENTS)]  # payments made per client, by phase
    phase = {"now": "before"}
    per_client = [Answers() for _ in range(CLIENTS)]

    def client(index: int) -> None:
        while not stop.is_set():
            during = phase["now"]
            if pay(url, secrets[index], per_client[index]) is not None:
                made[index][during] += 1
            time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        _wait_until(lambda: all(m["before"] >= 1 for m in made), within_s=60, what="every client's first payment")
        phase["now"] = "outage"
        down_at = time.monotonic()
        postgres.stop()
        assert not postgres.is_running()
        time.sleep(OUTAGE_S)
        postgres.start()
        phase["now"] = "after"
        up_at = time.monotonic()
        _wait_until(lambda: all(m["after"] >= 2 for m in made), within_s=90, what="two payments per client after")
        recovered_s = time.monotonic() - up_at
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=150)
        if not postgres.is_running():  # whatever happened, leave the server running for what comes next
            postgres.start()
    assert not any(thread.is_alive() for thread in threads), "a client never got its payment"

    answers = Answers()
    for one in per_client:
        answers.merge(one)
    phases = Counter[str]()
    for m in made:
        phases.update(m)
    counts(f"{CLIENTS} clients, PostgreSQL down for {up_at - down_at:.1f}s (stop, {OUTAGE_S:.0f}s, start)")
    counts(answers.summary())
    counts(
        f"payments made before {phases['before']}, during the outage {phases['outage']}, after {phases['after']}; "
        f"every client had two payments {recovered_s:.1f}s after the restart"
    )
    assert answers.bad_5xx == [], f"5xx other than 503 with Retry-After: {answers.bad_5xx[:5]}"
    assert answers.refused == [], f"answers a retry cannot fix: {answers.refused[:5]}"
    assert answers.statuses[503] > 0, "the outage was seen by the clients (503 with Retry-After)"
    assert phases["outage"] > 0, "payments started during the outage were made once the server was back"

    # Every payment exactly once: one row per (merchant, key), the id the client got; nothing else.
    with deployment.sql() as conn:
        rows = conn.execute(
            "SELECT merchant_id, idempotency_key, id FROM payments WHERE merchant_id = ANY(%s)", (merchants,)
        ).fetchall()
    by_key = Counter((merchant, key) for merchant, key, _ in rows)
    assert len(rows) == len(answers.payments), "as many payments stored as the clients were given"
    assert max(by_key.values()) == 1, "no key made two payments"
    assert {key: pid for _, key, pid in rows} == answers.payments, "each client's key holds the payment it got"

    # Every event exactly once in S3, after the deliver function took what the outage left pending.
    payment_ids = set(answers.payments.values())
    left_pending = sum(1 for e in outbox_of(deployment, payment_ids).values() if not e["delivered"])
    reports = drain(deployment, payment_ids)
    events = outbox_of(deployment, payment_ids)
    versions = versions_by_key(deployment)
    mine = {key: n for key, n in versions.items() if key.split("/")[4] in payment_ids}
    counts(
        f"{len(events)} events: {left_pending} still pending after the run, delivered by "
        f"{len(reports)} deliver run(s) ({sum(r['delivered'] for r in reports)} put, "
        f"{sum(r['already_present'] for r in reports)} already in S3); "
        f"{sum(mine.values())} object versions in S3 for {len(mine)} keys"
    )
    counts(f"wall time {time.monotonic() - started:.1f}s")
    assert len(events) >= len(payment_ids), "every payment has its event"
    assert all(e["delivered"] for e in events.values()), "every event delivered, none dead-lettered"
    assert set(mine) == set(events), "an object in S3 for every event, and for no other key"
    assert set(mine.values()) == {1}, "each event's object was written once (one version)"


def _wait_until(condition: object, *, within_s: float, what: str) -> None:
    assert callable(condition)
    give_up = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < give_up, f"timed out waiting for {what}"
        time.sleep(0.1)
