"""S3 unreachable, then slow, then back, for the deployment's functions alone.

The deployment's API is served in this process by the local API server's code, its functions (from the
deployed zip) sending their AWS calls to an `AwsFaultProxy` in front of the emulator: Secrets Manager
keeps answering, S3 is reset (unreachable), then black-holed (a connection that is accepted and never
answered), then forwarded again. Every answer arrives within the function's timeout, a deliver run
during the black hole ends within its own, and after recovery every event is delivered exactly once.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.local_target import LocalDeployment
from tests.resilience.clients import Answers, drain, outbox_of, pay, versions_by_key
from tests.resilience.conftest import Report
from tests.resilience.faults import AwsFaultProxy, Mode

# On the emulator tier's deployment (`payments up`): deselected with it by `-m "not emulator"`.
pytestmark = [pytest.mark.emulator, pytest.mark.timeout(300)]
#: Payments per phase, and clients sending them at once: no more than the served API's processor workers
#: (4), so an answer's time is the invocation's, not a wait for a free worker (Lambda would start more).
PAYMENTS = 8
CLIENTS = 4
#: With S3 black-holed each payment waits out its puts: one round of CLIENTS payments.
BLACK_HOLED_PAYMENTS = CLIENTS


def _payments(url: str, secret: str, count: int = PAYMENTS) -> Answers:
    """``count`` payments from CLIENTS clients at once."""
    answers = Answers()

    def one(_: int) -> None:
        mine = Answers()
        pay(url, secret, mine, give_up_after_s=60)
        answers.merge(mine)

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, range(count)))
    return answers


def test_s3_unreachable_then_slow_then_back(alpha_deployment: LocalDeployment, counts: Report) -> None:
    started = time.monotonic()
    deployment = alpha_deployment
    (secret,) = deployment.create_keys([f"merch_s3_{uuid.uuid4().hex[:8]}"])
    phases: dict[str, Answers] = {}
    with AwsFaultProxy(deployment.emulator().port) as proxy:
        answered = _phases(deployment, proxy, secret, phases)
        forwarded_before_drain = proxy.s3.forwarded
        payment_ids = {pid for answers in phases.values() for pid in answers.payments.values()}
        pending = sum(1 for e in outbox_of(deployment, payment_ids).values() if not e["delivered"])
        reports = drain(deployment, payment_ids, aws_endpoint=proxy.endpoint)
    timeout_s, deliver_timeout_s, delivery = answered

    for name, answers in phases.items():
        latencies = answers.latencies
        counts(f"{name}: {answers.summary()}; slowest answer {max(latencies):.2f}s (function timeout {timeout_s:.0f}s)")
    counts(
        f"S3 requests at the proxy: {proxy.s3.reset} reset, {proxy.s3.black_holed} black-holed, "
        f"{forwarded_before_drain} forwarded; other AWS requests forwarded: {proxy.other_requests}"
    )
    reply = delivery.get("reply", {})
    counts(f"deliver run during the black hole: {reply.get('result', reply)} after {delivery.get('elapsed', 0):.1f}s")

    for name, answers in phases.items():
        made = len(answers.payments)
        assert answers.statuses[201] == made == sum(answers.statuses.values()), (name, answers)
        if not name.startswith("before"):
            assert max(answers.latencies) < timeout_s, f"{name}: an answer came after the function's timeout"
    assert proxy.s3.reset >= PAYMENTS, "the reset met every payment's put"
    assert proxy.s3.black_holed >= BLACK_HOLED_PAYMENTS, "the black hole met every payment's put"
    assert min(phases["S3 black-holed"].latencies) > 1.0, "the black hole held the put until its timeout"
    assert "result" in reply and delivery["elapsed"] < deliver_timeout_s, "the deliver run ended within its timeout"
    assert reply["result"]["failed"] >= 1 and reply["result"]["delivered"] == 0

    events = outbox_of(deployment, payment_ids)
    mine = {key: n for key, n in versions_by_key(deployment).items() if key.split("/")[4] in payment_ids}
    puts_200, puts_412 = proxy.s3.puts(200), proxy.s3.puts(412)
    bucket = f"/{deployment.bucket}/"
    failed_once = sum(1 for e in events.values() if e["attempts"] > 1)  # a delivery counts as an attempt too
    counts(
        f"{len(events)} events, {failed_once} failed at least once; {pending} still pending once S3 was back and "
        f"new payments went through, drained by {len(reports)} deliver run(s) "
        f"({sum(r['delivered'] for r in reports)} put); {sum(mine.values())} object versions for {len(mine)} keys"
    )
    counts(f"wall time {time.monotonic() - started:.1f}s")
    assert failed_once >= PAYMENTS + BLACK_HOLED_PAYMENTS, (
        "every payment made during a fault had its event wait in the outbox"
    )
    assert all(e["delivered"] for e in events.values()), "every event delivered after recovery, none dead-lettered"
    assert set(mine) == set(events) and set(mine.values()) == {1}, "each event in S3 exactly once"
    assert all(puts_200.get(bucket + key) == 1 for key in events), "S3 took each event's object exactly once"
    assert not any(puts_412.get(bucket + key) for key in events), "no event was put again after it was marked"


def _phases(
    deployment: LocalDeployment, proxy: AwsFaultProxy, secret: str, phases: dict[str, Answers]
) -> tuple[float, float, dict[str, Any]]:
    """Payments with S3 forwarded, reset, black-holed (a deliver run beside them), forwarded again, through
    the API served with the functions' AWS calls on the proxy; the processor's and the deliver function's
    timeouts, and the deliver run's reply and duration."""
    with deployment.serve(aws_endpoint=proxy.endpoint) as (url, api):
        timeout_s = api.functions[deployment.function_name("processor")].timeout_s
        # Also the warm-up: the workers' cold starts (not part of an invocation's time on Lambda) happen here.
        phases["before (S3 forwarded)"] = _payments(url, secret)
        assert proxy.s3.forwarded >= PAYMENTS, "the functions' S3 calls go through the proxy"

        with proxy.mode_for(Mode.RESET):
            phases["S3 reset"] = _payments(url, secret)

        deliver = deployment.runtime("reconcile", aws_endpoint=proxy.endpoint)
        try:
            delivery: dict[str, Any] = {}

            def deliver_once() -> None:
                began = time.monotonic()
                delivery["reply"] = deliver.invoke({})
                delivery["elapsed"] = time.monotonic() - began

            with proxy.mode_for(Mode.BLACK_HOLE):
                runner = threading.Thread(target=deliver_once)
                runner.start()
                phases["S3 black-holed"] = _payments(url, secret, BLACK_HOLED_PAYMENTS)
                runner.join(timeout=deliver.timeout_s + 10)
        finally:
            deliver.close()

        phases["after (S3 back)"] = _payments(url, secret)
    return timeout_s, deliver.timeout_s, delivery
