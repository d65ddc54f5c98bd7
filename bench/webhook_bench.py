"""A webhook burst: 1,000 events to 10 endpoints, one of them dead, and what it costs the request path.

A real PostgreSQL server and moto (SQS, KMS) provisioned as a deployment is (the standalone world of
``payments demo``); 9 live receivers and one dead one (a socket that accepts and never answers: every attempt
to it waits the whole 10 s) on 127.0.0.1. The dispatcher is the reconcile job's (``webhooks.dispatcher``); the
couriers are 10 threads taking attempts from the SQS queue one at a time, as Lambda's event source mapping
feeds the courier function at its reserved concurrency of 10 (``courier.attempt``: KMS, signing, the send).

Printed side by side:
- drain: seconds from the burst's last event until every live endpoint has every event, and attempts per
  second; the dead endpoint's attempts in flight at most (its cap: ``PER_FAILING_ENDPOINT``);
- request path: ``create_payment`` p50/p99 with no endpoint, with 10 endpoints subscribed (the fan-out rows
  the event's statement writes), and with 10 endpoints while the burst drains.

Run: .venv/bin/python bench/webhook_bench.py [--events 1000] [--endpoints 10] [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

from payments_cli.local.emulator import EMULATOR_CREDENTIALS, EMULATOR_REGION, MotoServer
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.standalone import provision

MERCHANT = "merch_bench_hooks"
COURIERS = 10
BODY = {"amount": 1999, "currency": "EUR", "payment_method": "tok_visa"}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


class Live:
    """A receiver answering 200 at once; counts the distinct events it got."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        live = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with live.lock:
                    live.seen.add(self.headers.get("webhook-id", ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


@contextmanager
def dead() -> Any:
    """A port that accepts and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"
    finally:
        sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000, help="events in the burst (default 1000)")
    parser.add_argument("--endpoints", type=int, default=10, help="endpoints subscribed, one dead (default 10)")
    parser.add_argument("--requests", type=int, default=300, help="payments timed per request-path row (default 300)")
    args = parser.parse_args()
    os.environ.update(EMULATOR_CREDENTIALS)
    with tempfile.TemporaryDirectory(prefix="payments-webhook-bench-") as folder, ExitStack() as stack:
        root = Path(folder)
        postgres = LocalPostgres(root / "pg")
        moto = MotoServer()
        postgres.init()
        postgres.start()
        stack.callback(postgres.stop)
        moto.start()
        stack.callback(moto.stop)
        world = provision(postgres, moto.endpoint, dbname="payments", bucket="bench-hooks", name="bench-hooks")
        for key, value in world.processor_env.items():
            os.environ[key] = value
        return run(world.processor_env, args, stack)


def run(env: dict[str, str], args: argparse.Namespace, stack: ExitStack) -> int:
    from payment_processor import handler
    from payment_processor.config import Settings
    from payment_processor.store.webhook_deliveries import PostgresWebhookDeliveries
    from payment_processor.validation import parse_payment_request
    from payment_processor.webhooks.courier import attempt
    from payment_processor.webhooks.dispatcher import Dispatcher, DispatchReport
    from payment_processor.webhooks.endpoints import CreateEndpointRequest
    from payment_processor.webhooks.messages import AttemptMessage
    from payment_processor.webhooks.queues import SqsQueue

    settings = Settings.from_env(env)
    service = handler.build_service(settings)
    webhooks = handler.build_webhooks(settings, service)
    sqs = boto3.client("sqs", region_name=EMULATOR_REGION, endpoint_url=env["AWS_ENDPOINT_URL"])
    attempts_url, results_url = env["WEBHOOK_ATTEMPTS_QUEUE_URL"], env["WEBHOOK_RESULTS_QUEUE_URL"]

    def pay(merchant: str = MERCHANT) -> float:
        started = time.perf_counter()
        service.create_payment(merchant, parse_payment_request(BODY), str(uuid.uuid4()))
        return (time.perf_counter() - started) * 1000

    def timed(merchant: str) -> list[float]:
        return [pay(merchant) for _ in range(args.requests)]

    rows: list[tuple[str, list[float]]] = []
    for _ in range(20):
        pay("merch_warm")
    rows.append(("no endpoint", timed("merch_plain")))
    receivers = [Live() for _ in range(args.endpoints - 1)]
    dead_url = stack.enter_context(dead())
    urls = [r.url for r in receivers] + [dead_url]
    for url in urls:
        webhooks.create(
            MERCHANT, CreateEndpointRequest(url=url, enabled_events=["payment.succeeded"]), str(uuid.uuid4())
        )
    # The subscribed merchant's payments before the burst: their deliveries are in the burst too.
    rows.append((f"{args.endpoints} endpoints subscribed", timed(MERCHANT)))
    burst_from = args.requests
    for _ in range(args.events - burst_from):
        pay()
    burst_written = time.monotonic()

    # The couriers: 10 at once, one attempt each at a time, as the event source mapping feeds the function.
    courier = handler._get_courier()
    stop = threading.Event()
    dead_in_flight = [0, 0]  # now, most
    lock = threading.Lock()

    def courier_loop() -> None:
        while not stop.is_set():
            got = sqs.receive_message(QueueUrl=attempts_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
            for message in got.get("Messages", []):
                decoded = AttemptMessage.decode(message["Body"])
                is_dead = decoded.url == dead_url
                if is_dead:
                    with lock:
                        dead_in_flight[0] += 1
                        dead_in_flight[1] = max(dead_in_flight)
                try:
                    result = attempt(decoded, box=courier["box"], reach=courier["reach"])
                finally:
                    if is_dead:
                        with lock:
                            dead_in_flight[0] -= 1
                courier["results"].send([result.encode()])
                sqs.delete_message(QueueUrl=attempts_url, ReceiptHandle=message["ReceiptHandle"])

    pool = ThreadPoolExecutor(COURIERS + 1)
    for _ in range(COURIERS):
        pool.submit(courier_loop)
    dispatcher = Dispatcher(PostgresWebhookDeliveries(service.database), SqsQueue(sqs, attempts_url),
                            SqsQueue(sqs, results_url))  # fmt: skip
    report = DispatchReport()
    drained: list[float] = []

    def dispatch_loop() -> None:
        while not stop.is_set():
            run_report = dispatcher.run(expired=lambda: stop.is_set(), budget_s=5)
            for name in ("dispatched", "recorded", "duplicates"):
                setattr(report, name, getattr(report, name) + getattr(run_report, name))
            if not drained and all(len(r.seen) >= args.events for r in receivers):
                drained.append(time.monotonic() - burst_written)

    pool.submit(dispatch_loop)
    during = timed("merch_during")
    rows.append((f"{args.endpoints} endpoints, burst draining", during))
    deadline = time.monotonic() + 600
    while not drained and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    pool.shutdown(wait=True)

    live_total = sum(len(r.seen) for r in receivers)
    print(f"webhook burst: {args.events} events x {args.endpoints} endpoints (1 dead: accepts, never answers)")
    if drained:
        print(f"  drained       {drained[0]:7.1f} s until all {len(receivers)} live endpoints had all {args.events} "
              f"events ({live_total / drained[0]:.0f} deliveries/s)")  # fmt: skip
    else:
        print(f"  NOT DRAINED in 600 s: live endpoints have {live_total} of {args.events * len(receivers)}")
    print(f"  dead endpoint at most {dead_in_flight[1]} attempts in flight at once; dispatched {report.dispatched}, "
          f"recorded {report.recorded}, duplicates {report.duplicates}")  # fmt: skip
    print("request path: create_payment latency (ms), in-process on PostgreSQL")
    base = percentile(rows[0][1], 99)
    print(f"  {'':<32} {'p50':>7} {'p99':>7} {'p99 ratio':>10}")
    for name, values in rows:
        p99 = percentile(values, 99)
        print(f"  {name:<32} {statistics.median(values):7.2f} {p99:7.2f} {p99 / base:10.2f}")
    print(json.dumps({"drained_s": drained[0] if drained else None, "dead_max_in_flight": dead_in_flight[1],
                      "p99_ms": {name: percentile(v, 99) for name, v in rows}}))  # fmt: skip
    return 0 if drained else 1


if __name__ == "__main__":
    raise SystemExit(main())
