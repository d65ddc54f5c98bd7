"""``payments smoke``: a real payment through the served API, checked end to end."""

from __future__ import annotations

import argparse

from payments_cli.commands import EXIT_FAILED, EXIT_OK
from payments_cli.commands.common import add_deployment


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``smoke``."""
    parser = commands.add_parser(
        "smoke",
        help="send a real payment through a served deployment and check every step",
        description=(
            "Creates two API keys of its own (two merchants) with the deployment's admin function, then: no key → "
            "401; POST /payments → 201; the same request again → the same payment with Idempotent-Replayed: true; "
            "GET /payments/{id} → 200; the other merchant's GET of it → 404; the transaction-log object in the "
            "deployment's S3 bucket; a declined payment → 402. Revokes its keys at the end. Exit 0 only if all hold."
        ),
        epilog="example: payments up --suffix pr42 && payments smoke --suffix pr42",
    )
    add_deployment(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the checks, one line each."""
    from payments_cli.local.smoke import Check, run_smoke
    from payments_cli.local.state import StateFolder

    def report(check: Check) -> None:
        print(f"  {'ok  ' if check.passed else 'FAIL'}  {check.name:32} {check.detail}", flush=True)

    checks = run_smoke(StateFolder(), args.env, args.suffix, report=report)
    passed = bool(checks) and all(c.passed for c in checks)
    print(f"smoke {args.env}/{args.suffix}: {'passed' if passed else 'FAILED'}")
    return EXIT_OK if passed else EXIT_FAILED
