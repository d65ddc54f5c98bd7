"""The Stripe connector's overhead over calling the same Stripe-compatible server directly with the same library.

localstripe (started here on 127.0.0.1, as the tests start it) answers both sides, interleaved in one run:
- direct: ``stripe.StripeClient.v1.payment_intents.create(confirm=true, capture_method=...)``, one call per
  authorization, what a hand-written integration does;
- connector: ``StripeConnector.authorize`` with a journal in memory: create unconfirmed, remember, confirm (two
  calls: the price of charging once against a server that ignores Idempotency-Key), and the outcome mapping;
- connector + capture / refund against direct capture / refund.

Printed side by side: per-operation p50 and p99 in ms and the ratio connector/direct (1.0 = no overhead). The
journal here is in memory: on the processor it is one UPDATE of the attempt's row (PostgreSQL, ~0.3 ms local).

Run: .venv/bin/python bench/connector_bench.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.localstripe_server import SECRET_KEY, VISA, localstripe

from payment_processor.connectors.base import Authorization, AuthorizeRequest, Forgetful
from payment_processor.connectors.outcomes import Approved
from payment_processor.connectors.stripe import StripeConnector


def timed(samples: list[float], call: Callable[[], object]) -> object:
    started = time.perf_counter()
    result = call()
    samples.append((time.perf_counter() - started) * 1000)
    return result


def quantiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


def run_round(n: int, token: str, client: Any, connector: StripeConnector, times: dict[str, list[float]]) -> None:
    """One authorization, capture and refund each way, direct first."""
    params = {"amount": 1000, "currency": "eur", "payment_method": token, "confirm": True, "capture_method": "manual"}
    direct: Any = timed(
        times["direct authorize"],
        lambda: client.v1.payment_intents.create(params=params, options={"idempotency_key": f"d{n}"}),
    )
    request = AuthorizeRequest(f"c{n}", f"c{n}", 1000, "EUR", token, False)
    approved = timed(times["connector authorize"], lambda: connector.authorize(request, Forgetful(), timeout_s=10))
    assert isinstance(approved, Approved)
    held = Authorization(approved.reference, token, "EUR", 1000)
    timed(
        times["direct capture"],
        lambda: client.v1.payment_intents.capture(
            direct.id, params={"amount_to_capture": 600}, options={"idempotency_key": f"dc{n}"}
        ),
    )
    timed(times["connector capture"], lambda: connector.capture(held, amount=600, key=f"cc{n}", timeout_s=10))
    refund = {"payment_intent": direct.id, "amount": 100}
    timed(times["direct refund"], lambda: client.v1.refunds.create(params=refund, options={"idempotency_key": f"r{n}"}))
    timed(times["connector refund"], lambda: connector.refund(held, amount=100, key=f"cr{n}", timeout_s=10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    import stripe

    with localstripe() as fake:
        token = fake.card(VISA)
        client = stripe.StripeClient(
            SECRET_KEY,
            base_addresses={"api": fake.api_base},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=10),
        )
        connector = StripeConnector(SECRET_KEY, api_base=fake.api_base)
        times: dict[str, list[float]] = {
            name: []
            for name in (
                "direct authorize",
                "connector authorize",
                "direct capture",
                "connector capture",
                "direct refund",
                "connector refund",
            )
        }
        for n in range(5):  # warm both: connections, the library's first request
            warm = {"amount": 100, "currency": "eur", "payment_method": token, "confirm": True}
            client.v1.payment_intents.create(params=warm)  # type: ignore[arg-type]
            connector.authorize(AuthorizeRequest(f"w{n}", f"w{n}", 100, "EUR", token, True), Forgetful(), timeout_s=10)
        for n in range(args.rounds):
            run_round(n, token, client, connector, times)
    print(f"{args.rounds} rounds against localstripe on 127.0.0.1, interleaved (ms)")
    print(
        f"{'operation':<12} {'direct p50':>10} {'p99':>7} {'connector p50':>14} {'p99':>7} {'ratio p50':>10} {'p99':>6}"
    )
    for operation in ("authorize", "capture", "refund"):
        d50, d99 = quantiles(times[f"direct {operation}"])
        c50, c99 = quantiles(times[f"connector {operation}"])
        print(f"{operation:<12} {d50:>10.2f} {d99:>7.2f} {c50:>14.2f} {c99:>7.2f} {c50 / d50:>10.2f} {c99 / d99:>6.2f}")


if __name__ == "__main__":
    main()
