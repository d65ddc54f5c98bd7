"""``payments plan``: show what a deploy would change (nothing is created), on the local or the aws target."""

from __future__ import annotations

import argparse

from payments_cli.commands import EXIT_OK
from payments_cli.commands._lifecycle import register_lifecycle
from payments_cli.commands.common import guarded

SUMMARY = "show what a deploy would change (nothing is created)"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``plan``."""
    register_lifecycle(commands, "plan", SUMMARY, run)


def run(args: argparse.Namespace) -> int:
    """``payments plan``."""
    from payments_cli.aws import target as aws_target
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local import target

    def body() -> int:
        state = StateFolder()
        if args.target == "aws":
            summary = aws_target.run(
                state, args.env, args.suffix, "plan", profile=args.profile, lock_timeout=args.lock_timeout
            )
            print(f"plan {args.env}/{args.suffix} on aws: {summary}")
            return EXIT_OK
        summary = target.plan(state, args.env, args.suffix, lock_timeout=args.lock_timeout)
        print(f"plan {args.env}/{args.suffix}: {summary}")
        return EXIT_OK

    return guarded("plan", body)
