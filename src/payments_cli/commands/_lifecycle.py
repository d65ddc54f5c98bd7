"""What ``plan``, ``deploy``, ``destroy`` and ``bootstrap`` share: the same flags and the same shape of help."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from payments_cli.commands.common import add_deployment, add_target

_TARGETS = (
    "--target local (default): terraform against the moto server on 127.0.0.1, PostgreSQL standing in for RDS; "
    "started if needed.\n"
    "--target aws: terraform against a real account with your credentials (--profile or the default chain) and the "
    "real S3 state backend; preflight still runs first."
)


def register_lifecycle(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    run: Callable[[argparse.Namespace], int],
) -> None:
    """Add one lifecycle command: the deployment's flags, --target and its own ``run``."""
    parser = commands.add_parser(
        name,
        help=summary,
        description=f"{summary[0].upper()}{summary[1:]}.\n\n{_TARGETS}",
        epilog=f"example: payments {name} --env staging --suffix pr42 --target local",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_deployment(parser)
    add_target(parser)
    parser.set_defaults(run=run)
