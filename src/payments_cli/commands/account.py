"""``payments account``: apply (or destroy) the account stack, the settings every deployment in an account shares."""

from __future__ import annotations

import argparse

from payments_cli.commands import EXIT_OK
from payments_cli.commands.common import add_target, guarded

SUMMARY = "apply the account stack: settings every deployment in the account shares (once per account and region)"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``account``."""
    from payments_infra.environments import get_environment

    parser = commands.add_parser(
        "account",
        help=SUMMARY,
        description=(
            "Apply the account stack payments-account-REGION: API Gateway's CloudWatch role, an account-wide\n"
            "setting no deployment may own (every stage's access logs need it), and the bucket that keeps this\n"
            "stack's own state. `payments up` and `payments deploy` apply it before a deployment when it is\n"
            "missing or changed; this command does it alone.\n\n"
            "--destroy removes it. Destroying a deployment never does: every deployment in the account shares it,\n"
            "and without it their stages cannot turn access logging on. (With aws provider 5.x API Gateway keeps\n"
            "the account setting itself, naming the deleted role, until the stack is applied again; 6.x resets it.)\n\n"
            "--target local (default): the moto emulator on this machine (its account 123456789012).\n"
            "--target aws: the account your credentials (--profile or the default chain) belong to; every\n"
            "deployment's deploy converges this stack too, so its lock is waited for at least 5 minutes\n"
            "(--lock-timeout, when longer; the local target takes turns on a lock of its own)."
        ),
        epilog="example: payments account --target aws --profile ops --region us-east-1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    region = get_environment("dev").region
    parser.add_argument("--region", default=region, help=f"the region whose account stack to apply (default: {region})")
    parser.add_argument("--destroy", action="store_true", help="destroy the account stack instead of applying it")
    add_target(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """``payments account``."""

    def body() -> int:
        from payments_cli.deploy.state import StateFolder
        from payments_infra.naming import validate_region

        validate_region(args.region)  # a malformed region is refused before anything runs (exit 2)
        state = StateFolder()
        if args.target == "aws":
            from payments_cli.aws import target as aws_target

            summary = aws_target.account_stack(
                state, region=args.region, destroy=args.destroy, profile=args.profile, lock_timeout=args.lock_timeout
            )
        else:
            from payments_cli.local import target

            summary = target.account_stack(state, region=args.region, destroy=args.destroy)
        nothing = "nothing to destroy" if args.destroy else "nothing to change"
        print(
            f"account stack payments-account-{args.region} on {args.target}: {nothing if summary is None else summary}"
        )
        return EXIT_OK

    return guarded("account", body)
