"""The ``payments`` command: one subcommand per job, each in ``payments_cli.commands``."""

from __future__ import annotations

import argparse
import sys

from payments_cli.commands import build, check, down, keys, lifecycle, serve, smoke, status, synth, up


def _run_demo(args: argparse.Namespace) -> int:
    from payments_cli.demo import run

    return run()


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="payments",
        description="Build, check, deploy and run the payment platform.",
        epilog="Run `payments COMMAND --help` for what each command does, its flags and an example.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo",
        help="take one payment through the real processor on this machine (PostgreSQL + moto, no AWS)",
        description=(
            "Start a throwaway PostgreSQL and moto server on 127.0.0.1, provision the database and "
            "secret as RDS would, and send payments through the Lambda handler: a payment, its "
            "idempotent replay, a decline and a read. Stops everything afterwards. Exit 0 when all "
            "answered as expected."
        ),
    )
    demo.set_defaults(run=_run_demo)
    up.register(commands)
    smoke.register(commands)
    keys.register(commands)
    status.register(commands)
    down.register(commands)
    lifecycle.register(commands)
    serve.register(commands)
    build.register(commands)
    synth.register(commands)
    check.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``payments`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("payments: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
