"""What ``plan``, ``deploy``, ``destroy`` and ``bootstrap`` share: the same flags and the same shape of help."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from payments_cli.commands import EXIT_OK
from payments_cli.commands.common import add_deployment, add_target, guarded

if TYPE_CHECKING:
    from payments_cli.deploy.state import StateFolder

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


def run_on_target(name: str, args: argparse.Namespace, local: Callable[[StateFolder], str]) -> int:
    """Run one lifecycle command: on ``--target aws`` the aws target's, printing its summary; else ``local``, which
    does the local target's and returns the line to print. Failures are reported as every command reports them."""

    def body() -> int:
        from payments_cli.aws import target as aws_target
        from payments_cli.deploy.state import StateFolder

        state = StateFolder()
        if args.target != "aws":
            print(local(state))
            return EXIT_OK
        if name == "bootstrap":
            summary = aws_target.bootstrap(state, args.env, args.suffix, profile=args.profile)
        else:
            summary = aws_target.run(
                state, args.env, args.suffix, name, profile=args.profile, lock_timeout=args.lock_timeout
            )
        print(f"{name} {args.env}/{args.suffix} on aws: {summary}")
        return EXIT_OK

    return guarded(name, body)
