"""A webhook burst: 1,000 events to 10 endpoints, one of them dead, and what it costs the request path.

A real PostgreSQL server and moto (SQS, KMS) provisioned as a deployment is (the standalone world of
``payments demo``). Processes, as production runs them: 9 live receivers (the merchants' servers, one process),
one dead endpoint (a socket that accepts and never answers: every attempt to it waits the whole 10 s), the
reconcile job's dispatcher (``webhooks.dispatcher``, its own process and connection), and 10 courier processes
taking batches of up to 10 attempts from the SQS queue, as Lambda's event source mapping feeds the courier
function at its reserved concurrency of 10 (``courier.deliver_batch``: KMS, signing, the sends, the results).
The request path is timed in this process.

Printed side by side:
- drain: seconds from the burst's last event until every live endpoint has every event, deliveries a second,
  and the dead endpoint's attempts in flight at most (sampled; its cap while failing: ``PER_FAILING_ENDPOINT``);
- request path: ``create_payment`` p50/p99 with no endpoint, with 10 endpoints subscribed (the fan-out rows the
  event's statement writes), and with 10 endpoints while the burst drains (every process on the same 2 cores).

Run: .venv/bin/python bench/webhook_bench.py [--events 1000] [--endpoints 10] [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from payments_cli.local.emulator import EMULATOR_CREDENTIALS, EMULATOR_REGION, MotoServer
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.standalone import provision

MERCHANT = "merch_bench_hooks"
COURIERS = 10
BODY = {"amount": 1999, "currency": "EUR", "payment_method": "tok_visa"}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def receivers(count: int, ports: Any, seen: Any, stop: Event) -> None:
    """``count`` receivers answering 200 at once; ``seen[i]``: distinct events receiver ``i`` got."""
    servers = []
    for index in range(count):
        distinct: set[str] = set()

        def handler_for(index: int = index, distinct: set[str] = distinct) -> type[BaseHTTPRequestHandler]:
            class Handler(BaseHTTPRequestHandler):
                def do_POST(self) -> None:
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    distinct.add(self.headers.get("webhook-id", ""))
                    seen[index] = len(distinct)
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

                def log_message(self, format: str, *args: object) -> None:
                    return

            return Handler

        server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for())
        server.daemon_threads = True
        ports[index] = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    stop.wait()


def courier(stop: Event) -> None:
    """One courier execution environment: batches from the attempts queue, as the event source mapping gives them."""
    import boto3

    from payment_processor import handler
    from payment_processor.webhooks.courier import deliver_batch

    sqs = boto3.client("sqs", region_name=EMULATOR_REGION, endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    url = os.environ["WEBHOOK_ATTEMPTS_QUEUE_URL"]
    clients = handler._get_courier()
    while not stop.is_set():
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not messages:
            continue
        records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
        outcome = deliver_batch(
            records, box=clients["box"], reach=clients["reach"], results=clients["results"], has_time=lambda: True
        )
        failed = set(outcome.failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            )


def dispatcher(stop: Event, totals: Any) -> None:
    """The reconcile job's webhook step, run after run, on a connection of its own."""
    from payment_processor import handler
    from payment_processor.config import Settings

    job = handler.build_dispatcher(Settings.from_env(), handler.build_service(Settings.from_env()))
    assert job is not None
    while not stop.is_set():
        report = job.run(expired=stop.is_set, budget_s=5)
        totals[0] += report.dispatched
        totals[1] += report.recorded
        totals[2] += report.duplicates


def dead_watch(stop: Event, dead_url: str, most: Any) -> None:
    """The dead endpoint's attempts dispatched and not answered, sampled every 0.25 s: the most at once."""
    import psycopg

    with psycopg.connect(
        f"host=127.0.0.1 port={os.environ['DB_PORT']} dbname={os.environ['DB_NAME']} user=postgres", autocommit=True
    ) as conn:
        while not stop.is_set():
            row = conn.execute(
                "SELECT count(*) FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id "
                "WHERE e.url = %s AND d.dispatched_attempt IS NOT NULL",
                (dead_url,),
            ).fetchone()
            most.value = max(most.value, int(row[0]) if row else 0)
            stop.wait(0.25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000, help="events in the burst (default 1000)")
    parser.add_argument("--endpoints", type=int, default=10, help="endpoints subscribed, one dead (default 10)")
    parser.add_argument("--requests", type=int, default=300, help="payments timed per request-path row (default 300)")
    args = parser.parse_args()
    os.environ.update(EMULATOR_CREDENTIALS)
    with tempfile.TemporaryDirectory(prefix="payments-webhook-bench-") as folder, ExitStack() as stack:
        postgres = LocalPostgres(Path(folder) / "pg")
        moto = MotoServer()
        postgres.init()
        postgres.start()
        stack.callback(postgres.stop)
        moto.start()
        stack.callback(moto.stop)
        world = provision(postgres, moto.endpoint, dbname="payments", bucket="bench-hooks", name="bench-hooks")
        os.environ.update(world.processor_env)
        return run(args, stack)


def run(args: argparse.Namespace, stack: ExitStack) -> int:
    from payment_processor import handler
    from payment_processor.config import Settings
    from payment_processor.validation import parse_payment_request
    from payment_processor.webhooks.endpoints import CreateEndpointRequest

    settings = Settings.from_env()
    service = handler.build_service(settings)
    webhooks = handler.build_webhooks(settings, service)

    def pay(merchant: str = MERCHANT) -> float:
        started = time.perf_counter()
        service.create_payment(merchant, parse_payment_request(BODY), str(uuid.uuid4()))
        return (time.perf_counter() - started) * 1000

    def timed(merchant: str) -> list[float]:
        return [pay(merchant) for _ in range(args.requests)]

    stop = multiprocessing.Event()
    live = args.endpoints - 1
    ports, seen = multiprocessing.Array("i", live), multiprocessing.Array("i", live)
    processes = [multiprocessing.Process(target=receivers, args=(live, ports, seen, stop), daemon=True)]
    processes[0].start()
    dead = stack.enter_context(socket.socket())
    dead.bind(("127.0.0.1", 0))
    dead.listen(1024)
    dead_url = f"http://127.0.0.1:{dead.getsockname()[1]}/hooks"
    while 0 in ports[:]:
        time.sleep(0.05)

    rows: list[tuple[str, list[float]]] = []
    for _ in range(20):
        pay("merch_warm")
    rows.append(("no endpoint", timed("merch_plain")))
    for url in [f"http://127.0.0.1:{port}/hooks" for port in ports[:]] + [dead_url]:
        wanted = CreateEndpointRequest(url=url, enabled_events=["payment.succeeded"])
        webhooks.create(MERCHANT, wanted, str(uuid.uuid4()))
    rows.append((f"{args.endpoints} endpoints subscribed", timed(MERCHANT)))  # in the burst too
    for _ in range(args.events - args.requests):
        pay()
    burst_written = time.monotonic()

    totals = multiprocessing.Array("l", 3)
    most_dead = multiprocessing.Value("i", 0)
    processes += [multiprocessing.Process(target=courier, args=(stop,), daemon=True) for _ in range(COURIERS)]
    processes.append(multiprocessing.Process(target=dispatcher, args=(stop, totals), daemon=True))
    processes.append(multiprocessing.Process(target=dead_watch, args=(stop, dead_url, most_dead), daemon=True))
    for process in processes[1:]:
        process.start()
    drained: list[float] = []

    def watch() -> None:
        while not stop.is_set() and not drained:
            if min(seen[:]) >= args.events:
                drained.append(time.monotonic() - burst_written)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    rows.append((f"{args.endpoints} endpoints, burst draining", timed("merch_during")))
    watcher.join(timeout=600)
    stop.set()
    for process in processes:
        process.join(timeout=30)

    live_total = sum(seen[:])
    print(
        f"webhook burst: {args.events} events x {args.endpoints} endpoints (1 dead: accepts, never answers); "
        f"{COURIERS} courier processes"
    )
    if drained:
        print(
            f"  drained       {drained[0]:7.1f} s until all {live} live endpoints had all {args.events} events "
            f"({live_total / drained[0]:.0f} deliveries/s)"
        )
    else:
        print(f"  NOT DRAINED in 600 s: live endpoints have {live_total} of {args.events * live}")
    print(
        f"  dead endpoint at most {most_dead.value} attempts in flight at once; dispatched {totals[0]}, "
        f"recorded {totals[1]}, duplicate results {totals[2]}"
    )
    print("request path: create_payment latency (ms), in-process on PostgreSQL")
    base = percentile(rows[0][1], 99)
    print(f"  {'':<34} {'p50':>7} {'p99':>7} {'p99 ratio':>10}")
    for name, values in rows:
        p99 = percentile(values, 99)
        print(f"  {name:<34} {statistics.median(values):7.2f} {p99:7.2f} {p99 / base:10.2f}")
    print(
        json.dumps(
            {
                "drained_s": drained[0] if drained else None,
                "dead_max_in_flight": most_dead.value,
                "p99_ms": {name: round(percentile(v, 99), 2) for name, v in rows},
            }
        )
    )
    return 0 if drained else 1


if __name__ == "__main__":
    raise SystemExit(main())
