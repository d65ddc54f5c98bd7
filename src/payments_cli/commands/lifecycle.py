"""``payments plan``, ``deploy``, ``destroy`` and ``bootstrap``, on the local or the aws target."""

from __future__ import annotations

import argparse

from payments_cli.commands import EXIT_OK
from payments_cli.commands.common import add_deployment, add_target, guarded

_HELP = {
    "plan": "show what a deploy would change (nothing is created)",
    "deploy": "apply the deployment (bootstrap first if needed), without serving it",
    "destroy": "destroy every resource of the deployment (local: also its database and state; aws: first its "
    "merchants' connector secrets)",
    "bootstrap": "create only the deployment's Terraform state bucket",
}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the four lifecycle commands."""
    for name, summary in _HELP.items():
        parser = commands.add_parser(
            name,
            help=summary,
            description=(
                f"{summary[0].upper()}{summary[1:]}.\n\n"
                "--target local (default): terraform against the moto server on 127.0.0.1, PostgreSQL standing in "
                "for RDS; started if needed.\n"
                "--target aws: terraform against a real account with your credentials (--profile or the default "
                "chain) and the real S3 state backend; preflight still runs first."
            ),
            epilog=f"example: payments {name} --env staging --suffix pr42 --target local",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_deployment(parser)
        add_target(parser)
        parser.set_defaults(run=_runner(name))


def _runner(name: str) -> object:
    def run(args: argparse.Namespace) -> int:
        from payments_cli import aws_target
        from payments_cli.local import target
        from payments_cli.local.state import StateFolder

        def body() -> int:
            state = StateFolder()
            if args.target == "aws":
                if name == "bootstrap":
                    summary = aws_target.bootstrap(state, args.env, args.suffix, profile=args.profile)
                else:
                    summary = aws_target.run(
                        state, args.env, args.suffix, name, profile=args.profile, lock_timeout=args.lock_timeout
                    )
                print(f"{name} {args.env}/{args.suffix} on aws: {summary}")
                return EXIT_OK
            if name == "plan":
                summary = target.plan(state, args.env, args.suffix, lock_timeout=args.lock_timeout)
                print(f"plan {args.env}/{args.suffix}: {summary}")
            elif name == "deploy":
                record = target.deploy(state, args.env, args.suffix, lock_timeout=args.lock_timeout)
                applied = record["last_apply"]
                print(
                    f"deployed {args.env}/{args.suffix}: {applied['add']} added, {applied['change']} changed, "
                    f"{applied['destroy']} destroyed (serve it with `payments up` or `payments serve`)"
                )
            elif name == "destroy":
                target.destroy(state, args.env, args.suffix, lock_timeout=args.lock_timeout)
                print(f"destroyed {args.env}/{args.suffix}")
            else:
                summary = target.bootstrap_only(state, args.env, args.suffix)
                print(f"bootstrapped {args.env}/{args.suffix}: {summary}")
            return EXIT_OK

        return guarded(name, body)

    run.__doc__ = f"payments {name}"
    return run
