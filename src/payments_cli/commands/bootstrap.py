"""``payments bootstrap``: create only the deployment's Terraform state bucket, on the local or the aws target."""

from __future__ import annotations

import argparse

from payments_cli.commands import EXIT_OK
from payments_cli.commands._lifecycle import register_lifecycle
from payments_cli.commands.common import guarded

SUMMARY = "create only the deployment's Terraform state bucket"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bootstrap``."""
    register_lifecycle(commands, "bootstrap", SUMMARY, run)


def run(args: argparse.Namespace) -> int:
    """``payments bootstrap``."""
    from payments_cli.aws import target as aws_target
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local import target

    def body() -> int:
        state = StateFolder()
        if args.target == "aws":
            summary = aws_target.bootstrap(state, args.env, args.suffix, profile=args.profile)
            print(f"bootstrap {args.env}/{args.suffix} on aws: {summary}")
            return EXIT_OK
        summary = target.bootstrap_only(state, args.env, args.suffix)
        print(f"bootstrapped {args.env}/{args.suffix}: {summary}")
        return EXIT_OK

    return guarded("bootstrap", body)
