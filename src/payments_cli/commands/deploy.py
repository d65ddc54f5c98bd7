"""``payments deploy``: apply the deployment without serving it, on the local or the aws target."""

from __future__ import annotations

import argparse

from payments_cli.commands import EXIT_OK
from payments_cli.commands._lifecycle import register_lifecycle
from payments_cli.commands.common import guarded

SUMMARY = "apply the deployment (bootstrap first if needed), without serving it"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``deploy``."""
    register_lifecycle(commands, "deploy", SUMMARY, run)


def run(args: argparse.Namespace) -> int:
    """``payments deploy``."""
    from payments_cli.aws import target as aws_target
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local import target

    def body() -> int:
        state = StateFolder()
        if args.target == "aws":
            summary = aws_target.run(
                state, args.env, args.suffix, "deploy", profile=args.profile, lock_timeout=args.lock_timeout
            )
            print(f"deploy {args.env}/{args.suffix} on aws: {summary}")
            return EXIT_OK
        record = target.deploy(state, args.env, args.suffix, lock_timeout=args.lock_timeout)
        applied = record["last_apply"]
        print(
            f"deployed {args.env}/{args.suffix}: {applied['add']} added, {applied['change']} changed, "
            f"{applied['destroy']} destroyed (serve it with `payments up` or `payments serve`)"
        )
        return EXIT_OK

    return guarded("deploy", body)
