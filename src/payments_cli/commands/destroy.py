"""``payments destroy``: destroy every resource of the deployment, on the local or the aws target."""

from __future__ import annotations

import argparse

from payments_cli.commands import EXIT_OK
from payments_cli.commands._lifecycle import register_lifecycle
from payments_cli.commands.common import guarded

SUMMARY = (
    "destroy every resource of the deployment (local: also its database and state; aws: first its merchants' "
    "connector secrets)"
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``destroy``."""
    register_lifecycle(commands, "destroy", SUMMARY, run)


def run(args: argparse.Namespace) -> int:
    """``payments destroy``."""
    from payments_cli.aws import target as aws_target
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local import target

    def body() -> int:
        state = StateFolder()
        if args.target == "aws":
            summary = aws_target.run(
                state, args.env, args.suffix, "destroy", profile=args.profile, lock_timeout=args.lock_timeout
            )
            print(f"destroy {args.env}/{args.suffix} on aws: {summary}")
            return EXIT_OK
        target.destroy(state, args.env, args.suffix, lock_timeout=args.lock_timeout)
        print(f"destroyed {args.env}/{args.suffix}")
        return EXIT_OK

    return guarded("destroy", body)
