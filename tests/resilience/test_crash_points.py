"""The process running the handler killed (SIGKILL) in the middle of a payment, against the real PostgreSQL
and S3 emulator: then a retry with the same key, or the scheduled job, leaves exactly one payment in a
final state, its two events in S3 once each, and the acquirer charged once per payment, never for a key
without a record. Once with the simulated acquirer (its ledger counts the charges) and once with a merchant on
Stripe, localstripe behind it (which ignores Idempotency-Key: only our record-first protocol stands between a
retry and a second charge; localstripe's own PaymentIntents count them).

Each payment runs in a child process of its own (the handler as Lambda runs it: one event, then death).
Named points are reached by wrapping one function in the child and killing the process there; random
points by killing the child from outside a random few milliseconds into its request.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from payment_processor.admin import Admin
from tests.conftest import BUCKET, Services
from tests.fakes.localstripe_server import VISA, localstripe
from tests.resilience.conftest import Report
from tests.support import payment_body, post_payment

pytestmark = [pytest.mark.functional, pytest.mark.timeout(600)]

#: The merchant tests.support's events are authorized for.
MERCHANT = "merch_123"

#: Where the child dies. Each wraps the function named, in the child only.
CRASH_POINTS = {
    # The payment is committed as processing; the acquirer has not been asked.
    "before the acquirer": ("payment_processor.connectors.simulated", "SimulatedAcquirer", "authorize", "before"),
    # The acquirer answered (and recorded its charge); nothing of its answer is committed.
    "after the acquirer": ("payment_processor.connectors.simulated", "SimulatedAcquirer", "authorize", "after"),
    # The final state, its event and the stored answer are written but the transaction is not committed.
    "before commit": ("payment_processor.store.postgres", "PostgresTransaction", "complete_idempotency_key", "after"),
    # The final state is committed; the answer never leaves and the events are not yet in S3.
    "after commit": ("payment_processor.txlog", "OutboxDelivery", "deliver", "before"),
}

#: Where a child dies on the Stripe connector: besides the driver's points, the two sides of the journal (the
#: PaymentIntent made, unconfirmed, its id not yet recorded; then recorded, not yet confirmed).
STRIPE_CRASH_POINTS = {
    "before the acquirer": ("payment_processor.connectors.stripe", "StripeConnector", "authorize", "before"),
    "intent made, not recorded": ("payment_processor.operations.create", "AttemptJournal", "remember", "before"),
    "intent recorded, not confirmed": ("payment_processor.operations.create", "AttemptJournal", "remember", "after"),
    "after the acquirer": ("payment_processor.connectors.stripe", "StripeConnector", "authorize", "after"),
    "before commit": CRASH_POINTS["before commit"],
    "after commit": CRASH_POINTS["after commit"],
}

#: The outbox lease of the children and the job (the deployed one is 60 s): the events a child claimed and
#: died holding are due again this soon, and the job runs only after that.
LEASE_S = 1

CHILD = textwrap.dedent(
    """
    import importlib, json, os, signal, sys

    point = json.loads(os.environ["CRASH_AT"]) if os.environ.get("CRASH_AT") else None
    if point:
        module_name, class_name, method_name, when = point
        cls = getattr(importlib.import_module(module_name), class_name)
        original = getattr(cls, method_name)

        def dying(*args, **kwargs):
            if when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = original(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
            return result

        setattr(cls, method_name, dying)

    from payment_processor import handler

    class Context:
        def get_remaining_time_in_millis(self):
            return 15000

    event = json.loads(sys.stdin.readline())
    print("go", flush=True)
    response = handler.handler(event, Context())
    print(json.dumps(response), flush=True)
    """
)


def child(
    services: Services, ledger: Path, key: str, crash_at: tuple[str, ...] | None = None, *, token: str = "tok_visa"
) -> subprocess.Popen[str]:
    """A fresh process about to take one payment with ``key`` (paid with ``token``); it waits for its event on
    stdin."""
    env = {
        **os.environ,
        **services.env(),
        "SIMULATED_ACQUIRER_LEDGER": str(ledger),
        "PYTHONDONTWRITEBYTECODE": "1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "OUTBOX_LEASE_S": str(LEASE_S),
    }
    env.pop("CRASH_AT", None)
    if crash_at is not None:
        env["CRASH_AT"] = json.dumps(crash_at)
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(post_payment(payment_body(payment_method=token), key=key)) + "\n")
    process.stdin.flush()
    return process


def answer(process: subprocess.Popen[str], timeout: float = 60) -> dict[str, object] | None:
    """The child's response, or None if it died first."""
    out, _ = process.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if process.returncode == 0 and lines else None


def run_job(services: Services, ledger: Path) -> dict[str, object]:
    """One run of the scheduled job, settling every processing payment whatever its age."""
    env = {
        **os.environ,
        **services.env(),
        "SIMULATED_ACQUIRER_LEDGER": str(ledger),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "OUTBOX_LEASE_S": str(LEASE_S),
    }
    done = subprocess.run(
        [sys.executable, "-m", "payment_processor.reconcile", "--resolve-after-s", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return dict(json.loads(done.stdout.splitlines()[-1]))


@dataclass
class Acquirer:
    """The acquirer behind the children: where they die in it, what a payment's token is, and what it charged
    (payment id -> charges that went through)."""

    name: str
    points: dict[str, tuple[str, str, str, str]]
    token: Callable[[str], str]
    charged: Callable[[Path, set[str]], Counter[str]]


def _ledger_charges(ledger: Path, _payment_ids: set[str]) -> Counter[str]:
    """The simulated acquirer's ledger has a line per call; asked again under one key it answers as before and
    charges nothing more (idempotent by key, as a real acquirer's authorizations are): one charge per key."""
    lines = [json.loads(line) for line in ledger.read_text().splitlines()] if ledger.exists() else []
    return Counter({line["idempotency_key"]: 1 for line in lines if line["outcome"] == "approved"})


@pytest.fixture(params=["simulated", "stripe"])
def acquirer(request: pytest.FixtureRequest, clean: Services) -> Iterator[Acquirer]:
    if request.param == "simulated":
        yield Acquirer("simulated", CRASH_POINTS, lambda _key: "tok_visa", _ledger_charges)
        return
    # A localstripe of this test's own: every PaymentIntent it holds is this test's, so one listing counts all.
    with localstripe() as fake:
        runner = Admin(clean.admin_settings(), secrets_client=clean._secrets())
        try:
            runner.run(
                {
                    "action": "set_connector",
                    "merchant_id": MERCHANT,
                    "connector": "stripe",
                    "endpoint": fake.api_base,
                    "secret": "sk_test_CrashPoints0123456789",
                }
            )
        finally:
            runner.close()

        def charged(_ledger: Path, payment_ids: set[str]) -> Counter[str]:
            intents = fake.get("/v1/payment_intents?limit=100")["data"]
            assert len(intents) < 100, "the listing holds every intent"
            # An intent made and never confirmed (a child killed before it recorded the intent's id) charges nothing.
            return Counter(
                i["metadata"]["payment_id"]
                for i in intents
                if (i.get("latest_charge") or {}).get("status") == "succeeded"
            )

        yield Acquirer("stripe", STRIPE_CRASH_POINTS, lambda _key: fake.card(VISA), charged)


def test_a_handler_killed_anywhere_in_a_payment_leaves_one_final_payment_and_one_charge(
    clean: Services, tmp_path: Path, counts: Report, acquirer: Acquirer
) -> None:
    ledger = tmp_path / "acquirer-ledger.jsonl"
    rng = random.Random(20261129)
    keys: list[str] = []
    tokens: dict[str, str] = {}
    died: Counter[str] = Counter()

    def start(key: str, crash_at: tuple[str, ...] | None = None) -> subprocess.Popen[str]:
        token = tokens.setdefault(key, acquirer.token(key))  # a retry pays with what its first try did
        return child(clean, ledger, key, crash_at, token=token)

    # Named points: two payments each, one later retried by its client, one left to the scheduled job.
    for name, point in acquirer.points.items():
        for n in range(2):
            key = f"crash-{name.replace(' ', '-').replace(',', '')}-{n}"
            keys.append(key)
            process = start(key, point)
            assert answer(process) is None, f"the child should have died {name}"
            assert process.returncode == -signal.SIGKILL
            died[name] += 1
    # Random points: killed from outside at a random moment of its request, from its start to its answer
    # (timed on an undisturbed child first: most of a cold request is connecting, so that is most kills).
    calibration = start("crash-calibration")
    assert calibration.stdout is not None and calibration.stdout.readline().strip() == "go"
    started = time.monotonic()
    assert answer(calibration) is not None
    request_s = time.monotonic() - started
    keys.append("crash-calibration")
    for n in range(8):
        key = f"crash-random-{n}"
        keys.append(key)
        process = start(key)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "go"
        time.sleep(rng.uniform(0.0, request_s))
        process.send_signal(signal.SIGKILL)
        died["random" if answer(process) is None else "random (finished first)"] += 1

    with clean.admin() as conn:
        before = Counter(row[0] for row in conn.execute("SELECT status FROM payments"))
    # Half the keys are retried by their clients, the rest are left to the scheduled job.
    retried = keys[::2]
    replies = {}
    for key in retried:
        reply = answer(start(key))
        assert reply is not None
        replies[key] = reply
    time.sleep(LEASE_S + 0.5)  # a child killed while it delivered held its events for this long
    job = run_job(clean, ledger)
    drain = run_job(clean, ledger)  # anything the first run's deadline or backoff left

    with clean.admin() as conn:
        rows = conn.execute(
            "SELECT p.id, p.status, k.idempotency_key, k.response_status FROM payments p "
            "JOIN idempotency_keys k ON k.payment_id = p.id AND k.merchant_id = p.merchant_id"
        ).fetchall()
        payments_total = conn.execute("SELECT count(*) FROM payments").fetchone()
        undelivered = conn.execute("SELECT count(*) FROM transaction_log_outbox WHERE delivered_at IS NULL").fetchone()
        connectors = Counter(row[0] for row in conn.execute("SELECT connector FROM payment_attempts"))
    by_key = {row[2]: row for row in rows}
    # Every key that reached the database has exactly one payment, final, with its answer stored.
    assert payments_total == (len(rows),)
    assert set(by_key) <= set(keys)
    assert all(row[1] == "succeeded" and row[3] == 201 for row in rows), rows
    assert set(connectors) == {acquirer.name}, connectors
    for key, reply in replies.items():
        assert reply["statusCode"] == 201
        body = json.loads(str(reply["body"]))
        assert body["id"] == by_key[key][0] and body["status"] == "succeeded"

    # The acquirer's own record: a charge only for a payment id that has a row, one per payment.
    payment_ids = {cast(str, row[0]) for row in rows}  # payments.id is text
    charged = acquirer.charged(ledger, payment_ids)
    assert set(charged) == payment_ids, "every charge has its record and every record was charged"
    assert all(n == 1 for n in charged.values()), f"charged twice: {[p for p, n in charged.items() if n > 1]}"

    # S3: each payment's two state changes, once each; nothing else.
    s3 = clean.s3()
    listed = s3.list_object_versions(Bucket=BUCKET, Prefix="transactions/")  # type: ignore[attr-defined]
    versions = Counter(v["Key"] for v in listed.get("Versions", []))
    assert all(n == 1 for n in versions.values()), "no object written twice"
    names = Counter(key.rsplit("/", 1)[1] for key in versions)
    assert names == Counter({"0001-payment.processing.json": len(rows), "0002-payment.succeeded.json": len(rows)})
    assert undelivered == (0,)

    recorded = sum(before.values())
    counts(f"{acquirer.name}: killed: {dict(died)} (a request takes {request_s * 1000:.0f} ms)")
    counts(
        f"{acquirer.name}: left processing by the kills: {before.get('processing', 0)} of {recorded} recorded; "
        f"{len(keys) - recorded} killed before any record"
    )
    counts(
        f"{acquirer.name}: settled by a retry with the same key: {len(replies)}; by the scheduled job: "
        f"{job['payments_settled']} (+{drain['payments_settled']} on a second run)"
    )
    left = undelivered[0] if undelivered else "?"
    counts(
        f"{acquirer.name}: attempts {sum(connectors.values())}, distinct payments charged {len(charged)} = "
        f"payments {len(rows)}; S3 objects {sum(versions.values())} (versions), each once; "
        f"outbox left {left}"
    )
