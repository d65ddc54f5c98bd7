"""``payments demo``: take one payment through the real processor on this machine (no deploy)."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``demo``."""
    parser = commands.add_parser(
        "demo",
        help="take one payment through the real processor on this machine (PostgreSQL + moto, no AWS)",
        description=(
            "Start a throwaway PostgreSQL and moto server on 127.0.0.1, provision the database and "
            "secret as RDS would, and send payments through the Lambda handler: a payment, its "
            "idempotent replay, a decline and a read. Stops everything afterwards. Exit 0 when all "
            "answered as expected."
        ),
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """``payments demo``: the job itself is ``payments_cli.demo``."""
    from payments_cli.demo import run as demo

    return demo()
