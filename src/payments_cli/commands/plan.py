"""``payments plan``: show what a deploy would change (nothing is created), on the local or the aws target."""

from __future__ import annotations

import argparse

from payments_cli.commands._lifecycle import register_lifecycle, run_on_target

SUMMARY = "show what a deploy would change (nothing is created)"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``plan``."""
    register_lifecycle(commands, "plan", SUMMARY, run)


def run(args: argparse.Namespace) -> int:
    """``payments plan``."""
    from payments_cli.deploy.state import StateFolder
    from payments_cli.local import target

    def local(state: StateFolder) -> str:
        summary = target.plan(state, args.env, args.suffix, lock_timeout=args.lock_timeout)
        return f"plan {args.env}/{args.suffix}: {summary}"

    return run_on_target("plan", args, local)
