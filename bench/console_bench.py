"""The console's overview with 100,000 payments in the database: time to first render against its 1 s goal.

A real PostgreSQL server and moto, provisioned as a deployment is (roles, secrets, migrations); 100,000
payments spread over the last day (a fifth of them in the last hour), in the outcomes a busy deployment has,
written straight into the table. Then, side by side, each several times:

- query:  the overview's read alone (the admin function's ``overview`` action, in process);
- render: a signed-in GET /overview of the console application (the same read, the SVG charts, the page);
- first:  the console's first render in a fresh process: the admin function started from the built zip under
          CPython 3.12 (as ``payments console`` on the local target runs it), asked for the overview, and the
          page rendered. What an operator waits for after opening the address.

Run: .venv/bin/python bench/console_bench.py [--payments 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from werkzeug.test import Client

from payments_cli.console.app import ConsoleApp
from payments_cli.local.emulator import EMULATOR_CREDENTIALS, MotoServer
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.standalone import provision

GOAL_S = 1.0
ORIGIN = "http://127.0.0.1:8700"

FILL = """
INSERT INTO payments (id, merchant_id, amount, currency, status, payment_method, created_at, updated_at,
                      decline_code, failure_code, authorization_code, capture_method, amount_captured)
SELECT 'pay_' || translate(substr(md5(i::text) || md5((i + 1)::text), 1, 26), '0189', 'wxyz'),
       'merch_' || (i %% 50),
       100 + i %% 90000,
       'EUR',
       CASE WHEN i %% 10 < 7 THEN 'succeeded' WHEN i %% 10 < 9 THEN 'declined' ELSE 'failed' END,
       'tok_visa',
       now() - make_interval(secs => CASE WHEN i %% 5 = 0 THEN (i %% 3600) ELSE (i %% 86400) END),
       now(),
       CASE WHEN i %% 10 IN (7, 8) THEN 'insufficient_funds' END,
       CASE WHEN i %% 10 = 9 THEN 'acquirer_error' END,
       CASE WHEN i %% 10 < 7 THEN 'A' || i END,
       'automatic',
       CASE WHEN i %% 10 < 7 THEN 100 + i %% 90000 ELSE 0 END
  FROM generate_series(1, %(n)s) AS i
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=100_000, help="payments in the table (default 100000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5)")
    args = parser.parse_args()
    os.environ.update(EMULATOR_CREDENTIALS)
    with tempfile.TemporaryDirectory(prefix="payments-console-bench-") as folder:
        root = Path(folder)
        postgres, moto = LocalPostgres(root / "pg"), MotoServer()
        postgres.init()
        postgres.start()
        moto.start()
        try:
            return _measure(args, root, postgres, moto)
        finally:
            moto.stop()
            postgres.stop()


def _measure(args: argparse.Namespace, root: Path, postgres: LocalPostgres, moto: MotoServer) -> int:
    import psycopg

    from payment_processor.admin import Admin
    from payment_processor.config import Settings

    world = provision(postgres, moto.endpoint, dbname="payments", bucket="bench-console", name="bench")
    with psycopg.connect(f"host=127.0.0.1 port={postgres.port} user=postgres dbname=payments") as conn:
        started = time.perf_counter()
        conn.execute(FILL, {"n": args.payments})  # type: ignore[arg-type]
        conn.execute("ANALYZE payments")
        conn.commit()
        count = conn.execute("SELECT count(*) FROM payments").fetchone()
    print(f"{count[0] if count else 0} payments written in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    admin = Admin(Settings.from_env(world.admin_env))

    def read(payload: dict[str, Any]) -> dict[str, Any]:
        return admin.run(payload)

    app = ConsoleApp(deployment="dev/bench", port=8700, admin=read)
    client = Client(app)
    assert client.get(f"/?token={app.sessions.token}", base_url=ORIGIN).status_code == 303

    def query() -> float:
        start = time.perf_counter()
        read({"action": "overview"})
        return time.perf_counter() - start

    def render() -> float:
        start = time.perf_counter()
        response = client.get("/overview", base_url=ORIGIN)
        elapsed = time.perf_counter() - start
        assert response.status_code == 200 and "Overview" in response.text
        return elapsed

    timings = {"query": [query() for _ in range(args.runs)], "render": [render() for _ in range(args.runs)]}
    admin.close()
    timings["first"] = [_first_render(world.admin_env, root) for _ in range(max(2, args.runs // 2))]
    print(f"\nConsole overview with {args.payments:,} payments (goal: first render <= {GOAL_S:.1f} s)")
    print(f"{'':8} {'median s':>9} {'max s':>7} {'vs goal':>8}")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"{name:8} {median:9.3f} {max(values):7.3f} {median / GOAL_S:8.2f}")
    return 0 if statistics.median(timings["first"]) <= GOAL_S else 1


def _first_render(admin_env: dict[str, str], root: Path) -> float:
    """A fresh admin-function process from the built zip, asked for the overview, and the page rendered."""
    from payments_cli.local.lambda_runtime.interpreter import find_python
    from payments_cli.local.lambda_runtime.package import extract
    from payments_cli.local.lambda_runtime.workers import FunctionRuntime
    from payments_infra.lambda_build import build_lambda_package
    from payments_infra.synth import default_package_path

    package = build_lambda_package(default_package_path(), reuse=True)
    task = extract(package.path, root / "task")
    runtime = FunctionRuntime(
        name="admin",
        handler="payment_processor.admin.handler",
        timeout_s=60,
        memory_mb=512,
        python=find_python("3.12"),
        task=task,
        env={**admin_env, "PATH": "/usr/bin:/bin", "POWERTOOLS_LOG_LEVEL": "WARNING"},
        log=root / "admin.log",
        concurrency=1,
    )
    try:
        start = time.perf_counter()

        def read(payload: dict[str, Any]) -> dict[str, Any]:
            reply = runtime.invoke({**payload, "actor": "bench"})
            assert "result" in reply and reply["result"].get("ok"), reply
            return dict(reply["result"])

        app = ConsoleApp(deployment="dev/bench", port=8700, admin=read)
        client = Client(app)
        client.get(f"/?token={app.sessions.token}", base_url=ORIGIN)
        response = client.get("/overview", base_url=ORIGIN)
        assert response.status_code == 200
        return time.perf_counter() - start
    finally:
        runtime.close()


if __name__ == "__main__":
    sys.exit(main())
