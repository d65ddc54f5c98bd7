"""``payments smoke``: a real payment through the served API, checked end to end."""

from __future__ import annotations

import argparse
import sys

from payments_cli.commands import EXIT_FAILED, EXIT_OK
from payments_cli.commands.common import add_deployment
from payments_cli.commands.terminal import paint, use_color


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``smoke``."""
    parser = commands.add_parser(
        "smoke",
        help="send a real payment through a served deployment and check every step",
        description=(
            "Creates two API keys of its own (two merchants) with the deployment's admin function, then: no key → "
            "401; POST /payments → 201; the same request again → the same payment with Idempotent-Replayed: true; "
            "GET /payments/{id} → 200; the other merchant's GET of it → 404; the payment's two transaction-log "
            "objects (processing, then succeeded) in the deployment's S3 bucket; a declined payment → 402. "
            "Revokes its keys at the end. Exit 0 only if all hold."
        ),
        epilog="example: payments up --suffix pr42 && payments smoke --suffix pr42",
    )
    add_deployment(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the checks, one line each."""
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local.smoke import Check, run_smoke

    color = use_color(sys.stdout)

    def report(check: Check) -> None:
        result = paint("ok  ", "green", color=color) if check.passed else paint("FAIL", "red", color=color)
        print(f"  {result}  {check.name:32} {check.detail}", flush=True)

    checks = run_smoke(StateFolder(), args.env, args.suffix, report=report)
    passed = bool(checks) and all(c.passed for c in checks)
    verdict = paint("passed", "green", color=color) if passed else paint("FAILED", "red", color=color)
    print(f"smoke {args.env}/{args.suffix}: {verdict}")
    return EXIT_OK if passed else EXIT_FAILED
