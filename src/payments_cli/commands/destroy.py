"""``payments destroy``: destroy every resource of the deployment, on the local or the aws target."""

from __future__ import annotations

import argparse

from payments_cli.commands._lifecycle import register_lifecycle, run_on_target

SUMMARY = (
    "destroy every resource of the deployment (local: also its database and state; aws: first its merchants' "
    "connector secrets)"
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``destroy``."""
    register_lifecycle(commands, "destroy", SUMMARY, run)


def run(args: argparse.Namespace) -> int:
    """``payments destroy``."""
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local import target

    def local(state: StateFolder) -> str:
        target.destroy(state, args.env, args.suffix, lock_timeout=args.lock_timeout)
        return f"destroyed {args.env}/{args.suffix}"

    return run_on_target("destroy", args, local)
