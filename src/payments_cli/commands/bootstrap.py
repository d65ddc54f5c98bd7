"""``payments bootstrap``: create only the deployment's Terraform state bucket, on the local or the aws target."""

from __future__ import annotations

import argparse

from payments_cli.commands._lifecycle import register_lifecycle, run_on_target

SUMMARY = "create only the deployment's Terraform state bucket"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bootstrap``."""
    register_lifecycle(commands, "bootstrap", SUMMARY, run)


def run(args: argparse.Namespace) -> int:
    """``payments bootstrap``."""
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local import target

    def local(state: StateFolder) -> str:
        return f"bootstrapped {args.env}/{args.suffix}: {target.bootstrap_only(state, args.env, args.suffix)}"

    return run_on_target("bootstrap", args, local)
