"""The ``payments`` command."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per job."""
    parser = argparse.ArgumentParser(
        prog="payments",
        description="Build, check, deploy and run the payment platform.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser(
        "demo",
        help="take one payment through the real processor on this machine (PostgreSQL + moto, no AWS)",
        description=(
            "Start a throwaway PostgreSQL and moto server on 127.0.0.1, provision the database and "
            "secret as RDS would, and send payments through the Lambda handler: a payment, its "
            "idempotent replay, a decline and a read. Stops everything afterwards. Exit 0 when all "
            "answered as expected."
        ),
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``payments`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from payments_cli.demo import run

        return run()
    return 2  # pragma: no cover - argparse refuses unknown commands first


if __name__ == "__main__":
    sys.exit(main())
