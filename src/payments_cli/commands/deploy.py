"""``payments deploy``: apply the deployment without serving it, on the local or the aws target."""

from __future__ import annotations

import argparse

from payments_cli.commands._lifecycle import register_lifecycle, run_on_target

SUMMARY = "apply the deployment (bootstrap first if needed), without serving it"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``deploy``."""
    register_lifecycle(commands, "deploy", SUMMARY, run)


def run(args: argparse.Namespace) -> int:
    """``payments deploy``."""
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local import target

    def local(state: StateFolder) -> str:
        applied = target.deploy(state, args.env, args.suffix, lock_timeout=args.lock_timeout)["last_apply"]
        return (
            f"deployed {args.env}/{args.suffix}: {applied['add']} added, {applied['change']} changed, "
            f"{applied['destroy']} destroyed (serve it with `payments up` or `payments serve`)"
        )

    return run_on_target("deploy", args, local)
