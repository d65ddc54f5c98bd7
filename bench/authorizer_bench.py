"""What the API-key authorizer adds to a request on the local target, side by side in one run.

One local API server (the real ``LocalApi`` and HTTP server of ``payments serve``) in front of the
real built zip, run under CPython 3.12 in worker processes, against a real PostgreSQL server and moto,
provisioned as a deployment is (app and authorizer roles, secrets, pepper). The same request
(GET of an unknown payment: authorizer, then the processor's database lookup, 404) is sent over HTTP:

- none:      the route without an authorizer (the processor still gets the merchant's context);
- cached:    the authorizer in front, its answer cached (TTL 300 s, as in prod): the usual case;
- uncached:  the authorizer in front with TTL 0: every request runs it (a key's first request);
- guess:     a new well-shaped unknown key every request, from an address under its bound of failed
             authentications: a lookup and the failure's count (401 invalid_api_key);
- locked:    the same from an address over its bound: refused with no database round trip at all
             (401 too_many_failed_authentications). What key guessing costs once the bound is reached.

Blocks of the five alternate so drift on the machine hits each alike.

Run: .venv/bin/python bench/authorizer_bench.py [--requests 600]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from payments_cli.local.edge.authorizers import Authorizer
from payments_cli.local.edge.responses import GatewayResponse
from payments_cli.local.edge.server import ApiHttpServer, LocalApi, Route, _compile
from payments_cli.local.emulator import EMULATOR_CREDENTIALS, MotoServer
from payments_cli.local.lambda_runtime.interpreter import find_python
from payments_cli.local.lambda_runtime.package import extract
from payments_cli.local.lambda_runtime.workers import FunctionRuntime
from payments_cli.local.ports import free_port
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.standalone import provision
from payments_infra.api_responses import GATEWAY_RESPONSES, gateway_response_template
from payments_infra.lambda_build import build_lambda_package
from payments_infra.synth import default_package_path

BUCKET = "bench-authorizer"
PATH = "/payments/pay_" + "a" * 26


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600, help="requests per configuration (default 600)")
    parser.add_argument("--block", type=int, default=50, help="requests per alternating block (default 50)")
    args = parser.parse_args()

    os.environ.update(EMULATOR_CREDENTIALS)
    package = build_lambda_package(default_package_path(), reuse=True)
    python = find_python("3.12")
    with tempfile.TemporaryDirectory(prefix="payments-bench-") as folder:
        root = Path(folder)
        postgres = LocalPostgres(root / "pg")
        moto = MotoServer()
        postgres.init()
        postgres.start()
        moto.start()
        servers: list[ApiHttpServer] = []
        runtimes: list[FunctionRuntime] = []
        try:
            world = provision(postgres, moto.endpoint, dbname="payments", bucket=BUCKET, name="bench")
            from payment_processor.admin import Admin
            from payment_processor.config import Settings

            admin = Admin(Settings.from_env(world.admin_env))
            secret = admin.run({"action": "create_key", "merchant_id": "merch_bench"})["key"]["secret"]
            key_id = admin.run({"action": "list_keys"})["keys"][0]["id"]
            admin.close()
            task = extract(package.path, root / "task")

            def runtime(name: str, handler: str, env: dict[str, str]) -> FunctionRuntime:
                made = FunctionRuntime(
                    name=name,
                    handler=handler,
                    timeout_s=15,
                    memory_mb=512,
                    python=python,
                    task=task,
                    env={**env, "PATH": "/usr/bin:/bin", "POWERTOOLS_LOG_LEVEL": "WARNING"},
                    log=root / f"{name}.log",
                    concurrency=1,
                )
                runtimes.append(made)
                return made

            processor = runtime("processor", "payment_processor.handler.handler", world.processor_env)
            authorizer = runtime("authorizer", "payment_processor.handler.authorizer", world.authorizer_env)
            # Guessing under the bound (a limit never reached) and over it (reached at warm-up, for the hour).
            under = {**world.authorizer_env, "AUTH_FAILURE_LIMIT": str(10**9)}
            over = {**world.authorizer_env, "AUTH_FAILURE_LIMIT": "5", "AUTH_FAILURE_WINDOW_S": "3600"}
            guessed = runtime("authorizer-guess", "payment_processor.handler.authorizer", under)
            locked = runtime("authorizer-locked", "payment_processor.handler.authorizer", over)

            def serve(authorizer_ttl: int | None, checker: FunctionRuntime = authorizer) -> http.client.HTTPConnection:
                route = Route(
                    "GET",
                    "/payments/{id}",
                    _compile("/payments/{id}"),
                    "processor",
                    "r1",
                    None if authorizer_ttl is None else "auth",
                )
                api = LocalApi(
                    api_id="bench",
                    routes=[route],
                    stages=["v1"],
                    functions={"processor": processor, "authorizer": checker},
                    access_log=root / "access.log",
                    authorizers={"auth": Authorizer("auth", "authorizer", "authorization", authorizer_ttl or 0)},
                    # The stacks' own answers (ACCESS_DENIED's code and message are the Deny's).
                    gateway_responses={
                        kind: GatewayResponse(status, tuple(headers.items()), gateway_response_template(code, message))
                        for kind, (status, code, message, headers) in GATEWAY_RESPONSES.items()
                    },
                )
                if authorizer_ttl is None:
                    # Without an authorizer the processor still needs the caller: give it the key's context,
                    # as the authorizer would, so both sides do the same work after the edge.
                    processor_invoke = processor.invoke

                    def invoke(event: dict[str, object]) -> dict[str, object]:
                        context = event.setdefault("requestContext", {})
                        assert isinstance(context, dict)
                        context.setdefault(
                            "authorizer", {"merchant_id": "merch_bench", "key_id": key_id, "read_only": "false"}
                        )
                        return processor_invoke(event)

                    api.functions = {"processor": _Shim(invoke), "authorizer": checker}  # type: ignore[dict-item]
                port = free_port()
                server = ApiHttpServer(port, api)
                servers.append(server)
                threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
                return http.client.HTTPConnection("127.0.0.1", port, timeout=30)

            clients = {
                "none": serve(None),
                "cached": serve(300),
                "uncached": serve(0),
                "guess": serve(0, guessed),
                "locked": serve(0, locked),
            }
            guesses = (f"sk_test_{n:043d}" for n in itertools.count())  # well-shaped, never issued

            def once(name: str, *, warming: bool = False) -> float:
                client = clients[name]
                token = next(guesses) if name in ("guess", "locked") else secret
                start = time.perf_counter()
                client.request("GET", "/v1" + PATH, headers={"Authorization": f"Bearer {token}"})
                response = client.getresponse()
                body = response.read()
                elapsed = (time.perf_counter() - start) * 1000
                expected = {"guess": b"invalid_api_key", "locked": b"too_many_failed_authentications"}.get(name)
                assert response.status == (404 if expected is None else 401), (name, response.status)
                assert warming or expected is None or expected in body, (name, body)
                return elapsed

            for name in clients:  # warm: connections, caches, the first import in each worker; locks "locked" out
                for _ in range(10):
                    once(name, warming=True)
            timings: dict[str, list[float]] = {name: [] for name in clients}
            done = 0
            while done < args.requests:
                n = min(args.block, args.requests - done)
                for name in clients:
                    timings[name].extend(once(name) for _ in range(n))
                done += n
        finally:
            for server in servers:
                server.shutdown()
                server.server_close()
            for made in runtimes:
                made.close()
            moto.stop()
            postgres.stop()

    base = statistics.median(timings["none"]), percentile(timings["none"], 99)
    print(f"\nAuthorizer on the local target: {args.requests} requests each over HTTP, blocks of {args.block}")
    print(f"{'':10} {'p50 ms':>8} {'p99 ms':>8} {'p50 ratio':>10} {'p99 ratio':>10} {'p50 added':>10}")
    for name, values in timings.items():
        p50, p99 = statistics.median(values), percentile(values, 99)
        print(f"{name:10} {p50:8.2f} {p99:8.2f} {p50 / base[0]:10.2f} {p99 / base[1]:10.2f} {p50 - base[0]:+10.2f}")
    return 0


class _Shim:
    """Stands in for a FunctionRuntime with another invoke (the no-authorizer side)."""

    def __init__(self, invoke: object) -> None:
        self.invoke = invoke

    def close(self) -> None:
        """Nothing of its own to stop."""


if __name__ == "__main__":
    sys.exit(main())
