"""``payments up``: deploy the platform on this machine and serve it (the README's main command)."""

from __future__ import annotations

import argparse
import sys
import time

from payments_cli.commands import EXIT_OK
from payments_cli.commands.common import add_deployment, add_lock_timeout, guarded


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``up``."""
    parser = commands.add_parser(
        "up",
        help="deploy the platform locally (moto + PostgreSQL, no AWS account, no Docker) and serve its API",
        description=(
            "1. build the Lambda package, synthesize ENV/SUFFIX and run preflight (errors stop here);\n"
            "2. start or reuse the moto server and a PostgreSQL server on 127.0.0.1;\n"
            "3. bootstrap the state bucket in the emulator, then terraform init and apply, with progress;\n"
            "4. create the admin login and database as RDS would, then run the deployed admin function's setup:\n"
            "   migrations, the application roles' logins (written only to their secrets), the API-key pepper;\n"
            "5. serve the deployed REST API on 127.0.0.1: the WAF rate limit, the API-key authorizer and the\n"
            "   processor, each function run from the deployed zip under CPython 3.12;\n"
            "6. print the API URL and what is running. The services keep running: `payments down` stops them.\n"
            "Running it again applies only what changed (nothing, if nothing did)."
        ),
        epilog="example: payments up && payments smoke",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_deployment(parser)
    parser.add_argument(
        "--port", type=int, default=0, help="port of the local API (default: the last one, or a free one)"
    )
    add_lock_timeout(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Deploy, serve, report."""
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local import api_process, target
    from payments_cli.local.services import postgres_for, running_emulator

    def body() -> int:
        started = time.monotonic()
        state = StateFolder()
        # In use from the deploy until the API server runs: another deployment's `payments down` in between would
        # otherwise find nothing served and stop the emulator under this one.
        with state.using_services():
            record = target.deploy(state, args.env, args.suffix, lock_timeout=args.lock_timeout)
            print("==> serving the API", file=sys.stderr)
            # A run that changed nothing keeps the server it left running (started from the same code and outputs).
            api = api_process.start_api(
                state, args.env, args.suffix, port=args.port, keep_unchanged=not record["changed"]
            )
        if api.get("kept"):
            print(f"    kept the running API server (pid {api['pid']}): nothing it serves changed", file=sys.stderr)
        emulator = running_emulator(state)
        postgres = postgres_for(state)
        print(f"\n{args.env}/{args.suffix} is up in {time.monotonic() - started:.0f}s.\n")
        print(f"  API          {api['url']}   (routes: openapi.yaml)")
        print(f"  API server   pid {api['pid']}, log {api['log']}")
        print(
            f"  emulator     {emulator.endpoint if emulator else '?'} (moto, pid {emulator.pid if emulator else '?'})"
        )
        print(f"  PostgreSQL   127.0.0.1:{postgres.port}, database {record['database']}")
        print(f"  state        {state.deployment_dir(args.env, args.suffix)}")
        print(
            f"\nTry:  SECRET=$(payments keys create --suffix {args.suffix} --merchant m1 --format json "
            "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"secret\"])')"
        )
        print(
            f'      curl -s -X POST {api["url"]}/payments -H "Authorization: Bearer $SECRET" '
            "-H 'Idempotency-Key: k1' -H 'Content-Type: application/json' \\"
        )
        print('        -d \'{"amount": 1999, "currency": "EUR", "payment_method": "tok_visa"}\'')
        print(f"      payments smoke --suffix {args.suffix}      payments keys --help      payments down")
        return EXIT_OK

    return guarded("up", body)
