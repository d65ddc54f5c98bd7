"""A load curve through the local API server: throughput and p50/p99 at 1, 4, 16 and 64 concurrent clients.

One local API server (the real ``LocalApi`` and HTTP server of ``payments serve``, with its four warm
workers per function, the API-key authorizer in front and its answers cached for dev's 10 s) runs the
built zip under CPython 3.12, against a real PostgreSQL server and moto provisioned as a deployment is
(the standalone world of ``payments demo``). Each client is a thread in one of a few client processes,
with its own merchant and API key, sending ``POST /payments`` (a new Idempotency-Key each) one after
another over HTTP for the step's duration. Any answer but 201, and any failed connection, is an error.

Run: .venv/bin/python bench/load_bench.py [--seconds 5] [--clients 1,4,16,64]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from payments_cli.local.edge.authorizers import Authorizer
from payments_cli.local.edge.server import ApiHttpServer, LocalApi, Route, _compile
from payments_cli.local.emulator import EMULATOR_CREDENTIALS, MotoServer
from payments_cli.local.lambda_runtime.interpreter import find_python
from payments_cli.local.lambda_runtime.package import extract
from payments_cli.local.lambda_runtime.workers import FunctionRuntime
from payments_cli.local.ports import free_port
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.standalone import provision
from payments_infra.environments import DEV
from payments_infra.lambda_build import build_lambda_package
from payments_infra.synth import default_package_path

BUCKET = "bench-load"
#: Workers per function, as ``payments serve`` runs each function (functions.function_runtime).
WORKERS = 4
#: Client processes at most: the clients are threads spread over these.
CLIENT_PROCESSES = 4
BODY = b'{"amount": 1999, "currency": "EUR", "payment_method": "tok_visa"}'


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def clients(port: int, secrets: list[str], start_at: float, seconds: float) -> tuple[list[float], list[str]]:
    """Run one thread per secret from ``start_at`` (time.time()) for ``seconds``; latencies (ms) and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(secret: str) -> None:
        mine: list[float] = []
        failed: list[str] = []
        time.sleep(max(0.0, start_at - time.time()))
        end = start_at + seconds
        while time.time() < end:
            began = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request(
                    "POST",
                    "/v1/payments",
                    body=BODY,
                    headers={
                        "Authorization": f"Bearer {secret}",
                        "Idempotency-Key": str(uuid.uuid4()),
                        "Content-Type": "application/json",
                    },
                )
                response = conn.getresponse()
                response.read()
                conn.close()
            except (OSError, http.client.HTTPException) as error:
                failed.append(type(error).__name__)
                continue
            if response.status == 201:
                mine.append((time.perf_counter() - began) * 1000)
            else:
                failed.append(str(response.status))
        with lock:
            latencies.extend(mine)
            errors.extend(failed)

    threads = [threading.Thread(target=client, args=(secret,)) for secret in secrets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def step(pool: ProcessPoolExecutor, port: int, secrets: list[str], seconds: float) -> dict[str, float]:
    """One point of the curve: len(secrets) concurrent clients for ``seconds``."""
    groups = [secrets[i::CLIENT_PROCESSES] for i in range(min(CLIENT_PROCESSES, len(secrets)))]
    start_at = time.time() + 1.0  # every client process is up before the clock starts
    futures = [pool.submit(clients, port, group, start_at, seconds) for group in groups]
    latencies: list[float] = []
    errors: list[str] = []
    for future in futures:
        got, failed = future.result()
        latencies += got
        errors += failed
    elapsed = max(seconds, time.time() - start_at)  # the last requests started before the end finish after it
    return {
        "clients": len(secrets),
        "requests": len(latencies),
        "errors": len(errors),
        "throughput": len(latencies) / elapsed,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": percentile(latencies, 99) if latencies else float("nan"),
    }


def main() -> int:
    """Stand the world up, serve it, run the curve, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per step (default 5)")
    parser.add_argument("--clients", default="1,4,16,64", help="concurrent clients per step (default 1,4,16,64)")
    args = parser.parse_args()
    steps = [int(n) for n in args.clients.split(",")]

    os.environ.update(EMULATOR_CREDENTIALS)
    package = build_lambda_package(default_package_path(), reuse=True)
    python = find_python("3.12")
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="payments-load-bench-") as folder:
        root = Path(folder)
        postgres = LocalPostgres(root / "pg")
        moto = MotoServer()
        postgres.init()
        postgres.start()
        moto.start()
        runtimes: list[FunctionRuntime] = []
        server: ApiHttpServer | None = None
        try:
            world = provision(postgres, moto.endpoint, dbname="payments", bucket=BUCKET, name="bench-load")
            from payment_processor.admin import Admin
            from payment_processor.config import Settings

            admin = Admin(Settings.from_env(world.admin_env))
            secrets = [
                str(admin.run({"action": "create_key", "merchant_id": f"merch_load_{i}"})["key"]["secret"])
                for i in range(max(steps))
            ]
            admin.close()
            task = extract(package.path, root / "task")

            def runtime(name: str, handler: str, env: dict[str, str]) -> FunctionRuntime:
                made = FunctionRuntime(
                    name=name,
                    handler=handler,
                    timeout_s=DEV.lambda_timeout_s,
                    memory_mb=DEV.lambda_memory_mb,
                    python=python,
                    task=task,
                    env={**env, "PATH": "/usr/bin:/bin", "POWERTOOLS_LOG_LEVEL": "WARNING"},
                    log=root / f"{name}.log",
                    concurrency=WORKERS,
                )
                runtimes.append(made)
                return made

            functions = {
                "processor": runtime("processor", "payment_processor.handler.handler", world.processor_env),
                "authorizer": runtime("authorizer", "payment_processor.handler.authorizer", world.authorizer_env),
            }
            routes = [
                Route("POST", "/payments", _compile("/payments"), "processor", "r1", "auth"),
                Route("GET", "/payments/{id}", _compile("/payments/{id}"), "processor", "r2", "auth"),
            ]
            api = LocalApi(
                api_id="bench",
                routes=routes,
                stages=["v1"],
                functions=functions,
                access_log=root / "access.log",
                authorizers={"auth": Authorizer("auth", "authorizer", "authorization", DEV.api_authorizer_cache_s)},
            )
            port = free_port()
            server = ApiHttpServer(port, api)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            with ProcessPoolExecutor(CLIENT_PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
                # Warm: every worker started, every key's first authorizer call made, the client processes up.
                step(pool, port, secrets, 2.0)
                rows = [step(pool, port, secrets[:n], args.seconds) for n in steps]
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
            for made in runtimes:
                made.close()
            moto.stop()
            postgres.stop()

    base = rows[0]["throughput"]
    print(
        f"\nPOST /payments through the local API server ({WORKERS} workers per function, authorizer cached "
        f"{DEV.api_authorizer_cache_s}s), {args.seconds:.0f}s per step, {os.cpu_count()} CPUs"
    )
    print(f"{'clients':>8} {'requests':>9} {'errors':>7} {'req/s':>8} {'vs 1':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for row in rows:
        print(
            f"{row['clients']:8.0f} {row['requests']:9.0f} {row['errors']:7.0f} {row['throughput']:8.1f} "
            f"{row['throughput'] / base:6.2f} {row['p50']:8.1f} {row['p99']:8.1f}"
        )
    return 0 if all(row["errors"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
