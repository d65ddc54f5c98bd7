"""Payment processor benchmark: the handler against a raw baseline, side by side in one run.

Both sides run against the same real PostgreSQL server and the same moto S3 on 127.0.0.1:
- handler:  a full POST /payments through payment_processor (validation, idempotency claim, the payment
            recorded as processing with its first event, commit; the acquirer; the row locked and
            settled with its second event and the stored answer, commit; two conditional S3 puts and
            their outbox updates).
- baseline: the least the same durable steps take with no framework: the row inserted as processing,
            commit, updated to succeeded, commit, and two S3 put_object calls.
Blocks of the two alternate so drift on the machine hits both alike. Also reported: the handler's
import time in a fresh interpreter and the size of the Lambda runtime dependencies.

Run: make bench   (or .venv/bin/python bench/processor_bench.py --requests 400)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from importlib import metadata
from pathlib import Path

import boto3
import psycopg
from aws_lambda_powertools import Logger

from payment_processor.api import Api
from payment_processor.config import Settings
from payment_processor.handler import build_service
from payment_processor.payment import new_payment_id, utc_now
from payments_cli.local.emulator import EMULATOR_CREDENTIALS, MotoServer
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.standalone import provision

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "bench-transaction-log"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def event(key: str) -> dict[str, object]:
    body = {"amount": 1999, "currency": "USD", "payment_method": "tok_visa"}
    return {
        "resource": "/payments",
        "path": "/payments",
        "httpMethod": "POST",
        "headers": {"Idempotency-Key": key, "Content-Type": "application/json"},
        # What the API-key authorizer hands the processor on AWS (bench/authorizer_bench.py measures it).
        "requestContext": {
            "requestId": key,
            "authorizer": {"merchant_id": "merch_bench", "key_id": "key_bench", "read_only": "false"},
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def import_time_ms(runs: int = 5) -> tuple[float, float]:
    """Median wall time of a fresh interpreter importing the handler, and of an empty one."""

    def median_of(code: str) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    return median_of("import payment_processor.handler"), median_of("pass")


def runtime_dependency_size() -> dict[str, int]:
    """Installed bytes of every package pinned in requirements/lambda.txt."""
    sizes = {}
    for line in (ROOT / "requirements" / "lambda.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name = line.split("==")[0].strip()
            dist = metadata.distribution(name)
            sizes[name] = sum(
                (Path(dist.locate_file(f))).stat().st_size for f in (dist.files or []) if dist.locate_file(f).exists()
            )
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="payments per side (default 300)")
    parser.add_argument("--block", type=int, default=50, help="payments per alternating block (default 50)")
    args = parser.parse_args()

    os.environ.update(EMULATOR_CREDENTIALS)
    with tempfile.TemporaryDirectory(prefix="payments-bench-") as folder:
        postgres = LocalPostgres(Path(folder) / "pg")
        moto = MotoServer()
        postgres.init()
        postgres.start()
        moto.start()
        try:
            # As deployed: the processor logs in as the app role the admin setup made (both sides do).
            world = provision(postgres, moto.endpoint, dbname="payments", bucket=BUCKET, name="bench")
            s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.endpoint)
            settings = Settings.from_env(world.processor_env)
            login = json.loads(
                boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto.endpoint).get_secret_value(
                    SecretId=world.app_secret_arn
                )["SecretString"]
            )
            api = Api(build_service(settings), Logger(service="bench", level="WARNING"))
            raw = psycopg.connect(
                host="127.0.0.1",
                port=postgres.port,
                user=login["username"],
                password=login["password"],
                dbname="payments",
            )

            def handler_once() -> None:
                response = api.handle(event(str(uuid.uuid4())))
                assert response["statusCode"] == 201, response

            def baseline_once() -> None:
                # The least a payment needs with a record before the side effect: the row committed as
                # processing, then its final state committed, and one log object per state change.
                payment_id = new_payment_id()
                now = utc_now()
                raw.execute(
                    "INSERT INTO payments (id, merchant_id, amount, currency, status, payment_method, created_at,"
                    " updated_at) VALUES (%s, 'merch_bench', 1999, 'USD', 'processing', 'tok_visa', %s, %s)",
                    (payment_id, now, now),
                )
                raw.commit()
                raw.execute(
                    "UPDATE payments SET status = 'succeeded', authorization_code = 'A1B2C3', updated_at = %s "
                    "WHERE id = %s",
                    (utc_now(), payment_id),
                )
                raw.commit()
                for state in ("processing", "succeeded"):
                    s3.put_object(
                        Bucket=BUCKET,
                        Key=f"baseline/{payment_id}/{state}.json",
                        Body=b'{"id":"%s"}' % payment_id.encode(),
                    )

            for _ in range(10):  # warm both paths (connections, code paths)
                handler_once()
                baseline_once()
            timings: dict[str, list[float]] = {"handler": [], "baseline": []}
            walls = {"handler": 0.0, "baseline": 0.0}
            done = 0
            while done < args.requests:
                n = min(args.block, args.requests - done)
                for name, fn in (("handler", handler_once), ("baseline", baseline_once)):
                    start_block = time.perf_counter()
                    for _ in range(n):
                        start = time.perf_counter()
                        fn()
                        timings[name].append((time.perf_counter() - start) * 1000)
                    walls[name] += time.perf_counter() - start_block
                done += n
            raw.close()
        finally:
            moto.stop()
            postgres.stop()

    handler_import, empty_import = import_time_ms()
    sizes = runtime_dependency_size()
    total = sum(sizes.values())
    sdk = sizes.get("boto3", 0) + sizes.get("botocore", 0) + sizes.get("s3transfer", 0)

    rows = []
    for name in ("handler", "baseline"):
        t = timings[name]
        rows.append((name, len(t) / walls[name], percentile(t, 50), percentile(t, 99)))
    print(f"\nPayment processor vs raw baseline: {args.requests} payments each, alternating blocks of {args.block}")
    print(f"{'':10} {'payments/s':>11} {'p50 ms':>8} {'p99 ms':>8}")
    for name, rate, p50, p99 in rows:
        print(f"{name:10} {rate:11.1f} {p50:8.2f} {p99:8.2f}")
    h, b = rows[0], rows[1]
    print(f"{'ratio':10} {h[1] / b[1]:11.2f} {h[2] / b[2]:8.2f} {h[3] / b[3]:8.2f}   (handler / baseline)")
    print(
        f"\nimport payment_processor.handler, fresh interpreter: {handler_import:.0f} ms "
        f"(empty interpreter {empty_import:.0f} ms, difference {handler_import - empty_import:.0f} ms)"
    )
    print(
        f"runtime dependencies installed: {total / 1e6:.1f} MB (of which boto3/botocore/s3transfer {sdk / 1e6:.1f} MB)"
    )
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:6]:
        print(f"  {name:24} {size / 1e6:6.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
